"""Store the credits of the four vendor accounts in SQL once a day (run by tests/system/test_usage_to_sql_dag.py)."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, Asset

from airflow_provider_credits.operators.usage_to_sql import UsageToSqlOperator

with DAG(
    "credits_usage_to_sql",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
):
    UsageToSqlOperator(
        task_id="store_credits",
        credits_conn_id=["clay_default", "clodura_default", "theirstack_default", "trendtrack_default"],
        sql_conn_id="credits_usage_db",
        outlets=[Asset("credits_usage")],
    )
