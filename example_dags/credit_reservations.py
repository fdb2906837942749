"""Reserve credits, enrich, release: concurrent runs of this DAG never overspend the account.

A balance check alone races: five runs each see 1,000 credits, each needs 600, all pass, and
the account runs dry half-way. Here the gate *reserves* what the run will spend, atomically,
in a SQL table; every other run's gate subtracts the active reservations from the vendor's
balance, so the second run waits until the first has released (or its reservation expired).

``release_credits`` frees the reservation at the end of ``enrich`` whatever its outcome (as a
callback), and ``release`` does it again as a task with ``trigger_rule="all_done"`` (e.g. when
``enrich`` was skipped or its worker died); releasing twice is harmless, and a run killed before
either expires after ``reservation_ttl``.

Connections: ``theirstack_default`` (the vendor account) and ``credits_db`` (any common-sql
database: SQLite on one machine, PostgreSQL or MySQL/MariaDB for several workers).

The work reports what it spent (``report_spend``), so the ledger (``credit_ledger``) knows each
run's actual spend, and a daily budget caps what this DAG may spend per UTC day: a run whose
reservation would take the day's spend past ``daily_budget`` is skipped
(``budget_refusal="skip"``; ``"wait"`` would wait for tomorrow, ``"fail"`` fail the run).

The enrichment call here spends credits on the vendor sandbox (``/_sandbox/spend``): in a
real pipeline, this is where your vendor's enrichment API is called.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import BaseHook, Param, dag, task

from airflow_provider_credits.ledger import report_spend
from airflow_provider_credits.operators.release_credits import ReleaseCreditsOperator, release_credits
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor

VENDOR_CONN_ID = "theirstack_default"
RESERVATION_CONN_ID = "credits_db"
CREDIT_POOL = "api_credits"

release_reservation = release_credits(RESERVATION_CONN_ID, gate_task_ids="reserve_credits")


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["credits", "example"],
    params={
        "records": Param(40, type="integer", minimum=1, description="how many records to enrich"),
        "credits_per_record": Param(15, type="number", minimum=0),
        "daily_budget": Param(1000, type="number", minimum=0, description="credits this DAG may spend a day"),
    },
    max_active_runs=5,  # runs may overlap: the reservations keep them within the balance
)
def credit_reservations() -> None:
    @task
    def price(params: dict[str, Any]) -> int:
        """What this run will spend."""
        return math.ceil(params["records"] * params["credits_per_record"])

    cost = price()

    reserve = CreditThresholdSensor(
        task_id="reserve_credits",
        credits_conn_id=VENDOR_CONN_ID,
        credit_pool=CREDIT_POOL,
        reserve=cost,  # wait until this much is free of other runs' reservations, then reserve it
        reservation_conn_id=RESERVATION_CONN_ID,
        reservation_ttl=timedelta(hours=1),  # longer than enrich can take
        budget="{{ params.daily_budget }}",  # spent today + held + this reservation must fit
        budget_period="day",
        budget_refusal="skip",  # over budget: the gate and enrich skip (release runs, frees nothing)
        deferrable=True,
        poke_interval=30,
        timeout=6 * 3600,
    )

    @task(on_success_callback=release_reservation, on_failure_callback=release_reservation)
    def enrich(gate: dict[str, Any]) -> int:
        """Spend at most what the gate reserved."""
        from airflow_provider_credits.sandbox.server import SandboxClient

        reserved = gate["reservation"]["amount"]
        conn = BaseHook.get_connection(VENDOR_CONN_ID)
        SandboxClient(conn.host or "").spend("theirstack", reserved, CREDIT_POOL)
        report_spend(reserved)  # what the vendor charged: a ledger row for this run
        return reserved

    release = ReleaseCreditsOperator(
        task_id="release",
        reservation_conn_id=RESERVATION_CONN_ID,
        gate_task_ids="reserve_credits",
    )

    enrich(reserve.output) >> release


credit_reservations()
