"""Many runs at once, gated on the same credits: each reserves its cost, spends it, releases it.

Used by ``tests/system/production``: ten or more runs of this DAG are triggered together on a real
scheduler, triggerer and Celery workers. Every gate waits in the triggerer until the account
has its cost free of the other runs' reservations, reserves it atomically (in ``usage_db``),
and ``enrich`` spends exactly what was reserved on the vendor sandbox, which refuses (HTTP 402)
to spend credits the account does not have: a run that was granted credits that were not
there fails.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import BaseHook, Param, dag, task

from airflow_provider_credits.operators.release_credits import release_credits
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor

VENDOR_CONN_ID = "theirstack_default"
CREDIT_POOL = "api_credits"
RESERVATION_CONN_ID = "usage_db"

release = release_credits(RESERVATION_CONN_ID, gate_task_ids="reserve_credits")


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=16,
    params={"cost": Param(200, type="integer", minimum=1)},
    tags=["credits", "production-test"],
)
def production_reservation_race() -> None:
    gate = CreditThresholdSensor(
        task_id="reserve_credits",
        credits_conn_id=VENDOR_CONN_ID,
        credit_pool=CREDIT_POOL,
        reserve="{{ params.cost }}",
        reservation_conn_id=RESERVATION_CONN_ID,
        reservation_ttl=timedelta(minutes=30),
        deferrable=True,
        poke_interval=1,
        timeout=600,
    )

    @task(on_success_callback=release, on_failure_callback=release)
    def enrich(granted: dict[str, Any]) -> float:
        """Spend what the gate reserved (the sandbox answers 402 to an overdraft)."""
        from airflow_provider_credits.sandbox.server import SandboxClient

        amount = float(granted["reservation"]["amount"])
        conn = BaseHook.get_connection(VENDOR_CONN_ID)
        SandboxClient(conn.host or "").spend("theirstack", amount, CREDIT_POOL)
        return amount

    enrich(gate.output)


production_reservation_race()
