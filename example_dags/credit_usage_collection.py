"""Collect credit balances and daily usage of every vendor account into SQL, once a day.

Balances are snapshotted for every vendor (the four original ones and the registry vendors,
e.g. Hunter.io, Lusha or Tavily); TheirStack and Clay also have a usage history, which is
written one row per day and pool. Re-running a day adds a new balance snapshot (the
history only grows) and updates that day's usage rows instead of duplicating them.

Connections: ``clay_default``, ``clodura_default``, ``theirstack_default``,
``trendtrack_default``, ``hunter_default`` ... ``tavily_default`` (vendor accounts) and ``usage_db`` (any common-sql database:
SQLite, PostgreSQL, MySQL/MariaDB).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_credits.operators.usage_to_sql import UsageToSqlOperator

VENDOR_CONNECTIONS = [
    *("clay_default", "clodura_default", "theirstack_default", "trendtrack_default"),
    *("hunter_default", "lusha_default", "zerobounce_default", "prospeo_default"),
    *("serpapi_default", "apify_default", "firecrawl_default", "tavily_default"),
]


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["credits", "example"],
)
def credit_usage_collection() -> None:
    # The window defaults to the run's data interval (yesterday for a daily run).
    UsageToSqlOperator(
        task_id="collect_credit_usage",
        credits_conn_id=VENDOR_CONNECTIONS,
        sql_conn_id="usage_db",
    )


credit_usage_collection()
