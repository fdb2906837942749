"""End to end: a DAG file run with ``dag.test()`` reads the vendor sandbox and writes SQLite."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.airflow_env import run_dag
from tests.support.databases import Database, as_decimal

DAG_FILE = Path(__file__).parent / "dags" / "credits_usage_to_sql.py"


@pytest.mark.e2e
@pytest.mark.integration
def test_daily_dag_stores_the_sandbox_credits(airflow_db, sandbox, tmp_path, monkeypatch):
    usage_db = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "usage.db")})
    monkeypatch.setenv("AIRFLOW_CONN_CREDITS_USAGE_DB", usage_db)
    db = Database("sqlite", "credits_usage_db")
    sandbox.spend("theirstack", 7, pool="api_credits")
    state = sandbox.state()
    today = datetime.combine(datetime.fromisoformat(state["today"]), time(0), timezone.utc)
    # a manual-style run: Airflow 3 cron schedules have no data interval, so the day before is read
    logical_date = today + timedelta(days=1)

    first = run_dag(DAG_FILE, "credits_usage_to_sql", logical_date=logical_date)
    second = run_dag(DAG_FILE, "credits_usage_to_sql", logical_date=logical_date)

    assert first.task_states == second.task_states == {"store_credits": "success"}
    summary = second.xcom("store_credits")
    assert (summary["start"], summary["end"]) == (today.isoformat(), logical_date.isoformat())
    # the re-run added a balance snapshot per pool (read later) and no usage row
    assert 2 * summary["credit_balances"] == db.count("credit_balances")
    assert summary["credit_usage"] == db.count("credit_usage")
    assert summary["counts"]["credit_usage"]["inserted"] == 0
    vendors = db.query("SELECT DISTINCT vendor FROM credit_balances")
    assert sorted(v for (v,) in vendors) == ["clay", "clodura", "theirstack", "trendtrack"]
    remaining = db.query(
        "SELECT remaining FROM credit_balances WHERE vendor = 'theirstack' AND pool = 'api_credits' "
        "ORDER BY fetched_at DESC"
    )
    assert as_decimal(remaining[0][0]) == as_decimal(state["pools"]["theirstack"]["api_credits"]["remaining"])
    spent_today = sum(
        h["amount"]
        for h in state["history"]
        if (h["vendor"], h["pool"], h["day"]) == ("theirstack", "api_credits", state["today"])
    )
    used = db.query("SELECT amount FROM credit_usage WHERE vendor = 'theirstack' AND pool = 'api_credits'")
    assert [as_decimal(a) for (a,) in used] == [as_decimal(spent_today)]
