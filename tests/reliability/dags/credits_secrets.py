"""Every path a secret could leak through, in one DAG: gates in two modes, the SQL operator,
reprs pushed to XCom, a Clay session renewed mid-run, and a task failing on a wrong key."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_credits.operators.usage_to_sql import UsageToSqlOperator
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor

VENDORS = ("clay", "clodura", "theirstack", "trendtrack")


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["credits", "reliability"])
def credits_secrets():
    clay_gate = CreditThresholdSensor(
        task_id="clay_gate",
        credits_conn_id="{{ params.clay_conn }}",
        min_remaining="{{ 1 }}",
        poke_interval=0.2,
        timeout=60,
        params={"clay_conn": "clay_default"},
    )
    theirstack_gate = CreditThresholdSensor(
        task_id="theirstack_gate",
        credits_conn_id="theirstack_default",
        min_remaining=1,
        deferrable=True,
        poke_interval=0.2,
        timeout=60,
    )
    store = UsageToSqlOperator(
        task_id="store",
        credits_conn_id=[f"{v}_default" for v in VENDORS],
        sql_conn_id="reliability_secrets_db",
        start="{{ (logical_date - macros.timedelta(days=2)).isoformat() }}",
        end="{{ logical_date.isoformat() }}",
    )

    @task
    def describe() -> dict:
        """What a curious user might log or return: hook and settings reprs, balances."""
        from airflow_provider_credits.hooks import get_credits_hook

        described = {}
        for vendor in VENDORS:
            hook = get_credits_hook(f"{vendor}_default", backoff=0.01)
            balance = hook.get_balance()
            described[vendor] = {"hook": repr(hook), "settings": repr(hook.settings), "balance": str(balance)}
            print(f"{vendor}: {described[vendor]}")
            hook.close()
        return described

    wrong_key = CreditThresholdSensor(
        task_id="wrong_key",
        credits_conn_id="theirstack_wrong_key",
        min_remaining=1,
        poke_interval=0.2,
        timeout=60,
    )

    [clay_gate, theirstack_gate] >> store >> describe() >> wrong_key


credits_secrets()
