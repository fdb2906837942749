"""Gate one job on several vendors at once: it starts only when every vendor it will call has
credits left, checked by percentage of the plan or by absolute amount, per credit pool.

A percentage needs a pool that reports its limit (Clay, TheirStack); Trendtrack's ``credits``
pool is the total of recurring and top-up credits and has none, so it is gated by amount. The sensors run in parallel
and hand their balances to the job through XCom, so it can budget from what was checked.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["credits", "example"],
)
def multi_vendor_gate() -> None:
    gates = [
        CreditThresholdSensor(
            task_id="clay_has_10_percent",
            credits_conn_id="clay_default",
            min_remaining_pct=10,
            mode="reschedule",
            poke_interval=600,
            timeout=3600,
        ),
        CreditThresholdSensor(
            task_id="clodura_has_credits",
            credits_conn_id="clodura_default",
            min_remaining=100,
            mode="reschedule",
            poke_interval=600,
            timeout=3600,
        ),
        CreditThresholdSensor(
            task_id="theirstack_has_credits",
            credits_conn_id="theirstack_default",
            credit_pool="api_credits",
            min_remaining=1000,
            min_remaining_pct=5,  # both must hold
            mode="reschedule",
            poke_interval=600,
            timeout=3600,
        ),
        CreditThresholdSensor(
            task_id="trendtrack_has_credits",
            credits_conn_id="trendtrack_default",
            credit_pool="credits",  # recurring + top-up; it reports no limit, so no percentage here
            min_remaining=500,
            mode="reschedule",
            poke_interval=600,
            timeout=3600,
        ),
    ]

    @task
    def enrich_everywhere(*gates: dict[str, Any]) -> dict[str, float]:
        """Budget the job from the balances the gates decided on."""
        budget = {
            gate["vendor"]: gate["decision"]["remaining"] - gate["decision"]["needed"] for gate in gates
        }
        print(f"credits to spare per vendor: {budget}")
        return budget

    enrich_everywhere(*(gate.output for gate in gates))


multi_vendor_gate()
