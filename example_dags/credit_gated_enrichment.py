"""A credit-gated enrichment pipeline: records are enriched in batches, and each batch waits
until the vendor account has the credits that batch will cost.

Each batch's gate *reserves* its cost (in the ``usage_db`` database) when it passes, so the
gates of later batches count what earlier batches are about to spend. When the balance covers
only part of the run, the remaining batches pause in the triggerer (holding no worker slot)
until someone tops the account up, instead of failing half-done. Each batch reports what it
actually spent, page by page, with ``report_spend`` (with a real vendor, what each call was
charged, often less than planned): the reservation then holds only what is still to be spent,
and its release records the batch's actual spend in the ledger (``credit_ledger``), whatever
the outcome.

The enrichment call spends credits on the vendor sandbox (``/_sandbox/spend``): in a real
pipeline, this is where your vendor's enrichment API is called.
"""

from __future__ import annotations

import math
from typing import Any

import pendulum
from airflow.sdk import BaseHook, Param, dag, task, task_group

from airflow_provider_credits.ledger import report_spend
from airflow_provider_credits.operators.release_credits import ReleaseCreditsOperator, release_credits
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor

VENDOR_CONN_ID = "theirstack_default"
CREDIT_POOL = "api_credits"
RESERVATION_CONN_ID = "usage_db"
GATE = "gated_batch.wait_for_credits"

release_batch = release_credits(RESERVATION_CONN_ID, gate_task_ids=GATE)


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["credits", "example"],
    params={
        "records": Param(40, type="integer", minimum=1, description="how many records to enrich"),
        "batch_size": Param(10, type="integer", minimum=1),
        "credits_per_record": Param(25, type="number", minimum=0),
        "page_size": Param(5, type="integer", minimum=1, description="records per vendor call"),
    },
)
def credit_gated_enrichment() -> None:
    @task
    def load_records(params: dict[str, Any]) -> list[dict[str, Any]]:
        """The records to enrich (here: made-up company domains)."""
        return [{"domain": f"company-{n}.example"} for n in range(params["records"])]

    @task
    def plan_batches(records: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """Split the records into batches and price each one."""
        size = params["batch_size"]
        batches = [records[i : i + size] for i in range(0, len(records), size)]
        return [
            {"records": batch, "credits_needed": math.ceil(len(batch) * params["credits_per_record"])}
            for batch in batches
        ]

    @task_group
    def gated_batch(batch: dict[str, Any]) -> None:
        @task
        def credits_needed(batch: dict[str, Any]) -> int:
            return batch["credits_needed"]

        wait_for_credits = CreditThresholdSensor(
            task_id="wait_for_credits",
            credits_conn_id=VENDOR_CONN_ID,
            credit_pool=CREDIT_POOL,
            reserve=credits_needed(batch),  # this batch's cost, rendered from XCom at run time
            reservation_conn_id=RESERVATION_CONN_ID,
            deferrable=True,
            poke_interval=1,
            timeout=600,
        )

        @task(on_success_callback=release_batch, on_failure_callback=release_batch)
        def enrich(batch: dict[str, Any], params: dict[str, Any]) -> int:
            """Enrich one batch page by page, reporting each page's credits; returns the credits spent."""
            from airflow_provider_credits.sandbox.server import SandboxClient

            vendor = SandboxClient(BaseHook.get_connection(VENDOR_CONN_ID).host or "")
            records, size, spent = batch["records"], params["page_size"], 0
            for page in (records[i : i + size] for i in range(0, len(records), size)):
                cost = math.ceil(len(page) * params["credits_per_record"])  # what the vendor charged
                vendor.spend("theirstack", cost, CREDIT_POOL)  # your vendor's enrichment call
                report_spend(cost)  # a ledger row; the gate's reservation now holds less
                spent += cost
            return spent

        wait_for_credits >> enrich(batch)

    batches = gated_batch.expand(batch=plan_batches(load_records()))

    # Safety net: free anything this run still holds (e.g. a batch whose worker died).
    batches >> ReleaseCreditsOperator(
        task_id="release_leftovers", reservation_conn_id=RESERVATION_CONN_ID, gate_task_ids=GATE
    )


credit_gated_enrichment()
