"""Credit gates that time out: skipped with soft_fail, failed without."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor

TOO_MANY = 10**9


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["credits"])
def credit_sensor_timeout():
    optional_gate = CreditThresholdSensor(
        task_id="deferrable_soft_fail",
        credits_conn_id="theirstack_default",
        min_remaining=TOO_MANY,
        deferrable=True,
        soft_fail=True,
        poke_interval=0.5,
        timeout=2,
    )
    CreditThresholdSensor(
        task_id="poke_times_out",
        credits_conn_id="clay_default",
        min_remaining=TOO_MANY,
        poke_interval=0.5,
        timeout=1,
    )

    @task
    def enrich() -> str:
        return "enriched"

    optional_gate >> enrich()


credit_sensor_timeout()
