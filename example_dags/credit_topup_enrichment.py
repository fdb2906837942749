"""Start enrichment when credits are topped up: an asset fed by ``CreditTopupTrigger``.

No schedule and no sensor: the triggerer watches TheirStack's ``api_credits`` pool (one read
a minute) and records an asset event each time the balance rises from below 5,000 to 5,000 or
more. The event starts this DAG; the event's extra holds the balance and the crossing
(under ``"payload"``). A
balance that merely stays above 5,000 starts nothing; after a top-up the balance must fall
below 4,000 (``rearm_below``) before the next top-up counts, so a balance wobbling around the
threshold does not start run after run. The last side seen lives in ``usage_db`` (table
``credit_alert_states``), so a triggerer restart neither repeats nor loses a top-up.

Connections: ``theirstack_default`` (the vendor account) and ``usage_db`` (any common-sql database).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_credits.triggers.credit_topup import CreditTopupTrigger

THRESHOLD = 5000

theirstack_topped_up = Asset(
    "theirstack_api_credits_topped_up",
    watchers=[
        AssetWatcher(
            name="theirstack_api_credits_topup",
            trigger=CreditTopupTrigger(
                credits_conn_id="theirstack_default",
                credit_pool="api_credits",
                threshold=THRESHOLD,
                rearm_below=4000,
                state_conn_id="usage_db",
                poke_interval=60,
            ),
        )
    ],
)


@dag(
    schedule=[theirstack_topped_up],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["credits", "example"],
)
def credit_topup_enrichment() -> None:
    @task
    def enrich_backlog(triggering_asset_events: Any = None) -> dict[str, Any]:
        """Spend the new credits on the backlog (here: report what the top-up event said)."""
        events = [e for evs in (triggering_asset_events or {}).values() for e in evs]
        # Airflow stores a trigger's event as {"from_trigger": True, "payload": <the event>}
        topup = dict(events[-1].extra.get("payload", {})) if events else {}
        print(f"credits topped up: {topup.get('remaining')} {topup.get('pool')} ({topup.get('crossing')})")
        return topup

    enrich_backlog()


credit_topup_enrichment()
