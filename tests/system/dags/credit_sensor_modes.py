"""Three credit gates, one per mode, and a task that budgets with the gate's XCom."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["credits"])
def credit_sensor_modes():
    @task
    def plan() -> dict:
        return {"records": 400, "cost_per_record": 2.5}

    # The threshold renders from XCom as a string: "1000.0".
    clay_gate = CreditThresholdSensor(
        task_id="clay_poke",
        credits_conn_id="clay_default",
        min_remaining="{{ ti.xcom_pull('plan')['records'] * ti.xcom_pull('plan')['cost_per_record'] }}",
        mode="poke",
        poke_interval=0.5,
        timeout=60,
    )
    theirstack_gate = CreditThresholdSensor(
        task_id="theirstack_reschedule",
        credits_conn_id="theirstack_default",
        credit_pool="ui_credits",
        min_remaining_pct=10,
        mode="reschedule",
        poke_interval=1,
        timeout=60,
    )
    trendtrack_gate = CreditThresholdSensor(
        task_id="trendtrack_deferrable",
        credits_conn_id="trendtrack_default",
        credit_pool="topup",
        min_remaining=100,
        deferrable=True,
        poke_interval=0.5,
        timeout=60,
    )

    @task
    def budget(balance: dict) -> float:
        decision = balance["decision"]
        return decision["remaining"] - decision["needed"]

    plan() >> clay_gate
    [theirstack_gate, trendtrack_gate] >> budget(clay_gate.output)


credit_sensor_modes()
