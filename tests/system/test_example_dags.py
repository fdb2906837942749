"""Every example DAG parses, and runs end to end against the sandbox."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_credits.sandbox.server import SandboxServer
from tests.support import ROOT
from tests.support.airflow_env import dag_bag, run_dag
from tests.support.smtp import Inbox, body

EXAMPLES = ROOT / "example_dags"


def test_every_example_dag_imports_without_errors() -> None:
    bag = dag_bag(str(EXAMPLES))
    assert not bag.import_errors
    assert set(bag.dag_ids) == {
        "credit_usage_collection",
        "credit_gated_enrichment",
        "credit_reservations",
        "multi_vendor_gate",
        "credit_watchdog",
        "credit_topup_enrichment",
    }


@pytest.mark.e2e
def test_multi_vendor_gate_hands_each_vendors_balance_to_the_job(
    airflow_db: Path, sandbox: SandboxServer
) -> None:
    result = run_dag(EXAMPLES / "multi_vendor_gate.py", "multi_vendor_gate")

    assert result.state == "success", result.task_states
    budget = result.xcom("enrich_everywhere")
    state = sandbox.state()["pools"]
    clay = state["clay"]["credits"]
    assert budget["clay"] == clay["remaining"] - clay["limit"] * 10 / 100
    assert budget["clodura"] == state["clodura"]["credits"]["remaining"] - 100
    api = state["theirstack"]["api_credits"]
    assert budget["theirstack"] == api["remaining"] - max(1000, api["limit"] * 5 / 100)
    assert set(budget) == {"clay", "clodura", "theirstack", "trendtrack"}


@pytest.mark.e2e
def test_make_demo_pauses_tops_up_finishes_and_reports() -> None:
    """The demo (``make demo``): collection, gated enrichment through a pause and a top-up, report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--keep"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "500 of them reserved by 2 batches: the other batches wait" in out  # the pause, then the top-up
    assert "4 of 4 batches enriched" in out
    assert "the enrichment consumed 1,000 theirstack api_credits" in out
    for vendor in ("clay", "clodura", "theirstack", "trendtrack", "hunter", "lusha", "tavily", "apify"):
        assert f"  {vendor} " in out
    assert "Demo finished" in out
    # A budget stops the second run of credit_reservations; the ledger says who spent what; runway per pool.
    assert "run 1 → success: gate success, enrich success" in out
    assert "run 2 → success: gate skipped, enrich skipped" in out
    assert "refused by the budget, not the balance: 600 spent today + 0 held + 600 > budget 1000" in out
    spent = out.split("Spent per DAG on ")[1]
    assert re.search(r"credit_gated_enrichment +1,000 +1,000 +0 +0 +1\n", spent), spent
    assert re.search(r"credit_reservations +600 +600 +0 +0 +1\n", spent), spent
    runway = out.split("Runway per pool")[1]
    assert re.search(
        r"theirstack_default +api_credits +[\d,]+ +[\d.,]+ +\d{4}-\d\d-\d\d \(from usage\)", runway
    )
    assert "unknown (under a day of history, or no burn)" in runway
    # What the gates said and when, around the top-up; where everything is; periods as days.
    assert "── top-up: +2,000 api_credits ──" in out
    assert "needed 250: not enough" in out.split("── top-up")[0]
    assert "Before the top-up, the gates of batches " in out and "after the top-up." in out
    assert "Connections: clay_default, clodura_default, theirstack_default, trendtrack_default" in out
    kept = re.search(r"Kept (\S+): AIRFLOW_HOME=(\S+), usage database (\S+),", out)
    assert kept, out
    try:
        assert Path(kept[2], "airflow.db").is_file() and Path(kept[3]).is_file()
    finally:
        shutil.rmtree(kept[1])
    today = datetime.now(timezone.utc).date()
    usage = out.split("Usage history")[1].split("This run:")[0]
    assert f"{today - timedelta(days=1)} to {today}" in usage  # inclusive days, not an exclusive end
    assert str(today + timedelta(days=1)) not in usage  # (the runway's "runs out" date may be tomorrow)


def test_example_dag_reads_the_event_airflow_stores(airflow_db: Any) -> None:
    """example_dags/credit_topup_enrichment.py: scheduled on the watched asset, and its task reads
    the trigger's event where Airflow puts it (``extra["payload"]``)."""
    from types import SimpleNamespace

    from tests.support.airflow_env import load_dag

    example = ROOT / "example_dags" / "credit_topup_enrichment.py"
    dag = load_dag(example, "credit_topup_enrichment")
    payload = {"crossing": "up", "remaining": 6000, "pool": "api_credits"}
    event = SimpleNamespace(extra={"from_trigger": True, "payload": payload})
    task = dag.get_task("enrich_backlog")
    assert task.python_callable(triggering_asset_events={"asset": [event]}) == payload
    assert task.python_callable(triggering_asset_events={}) == {}


@pytest.mark.e2e
@pytest.mark.integration
def test_example_credit_watchdog_mails_each_change_once(
    airflow_db: Any, sandbox: Any, inbox: Inbox, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """example_dags/credit_watchdog.py with dag.test() on the sandbox: TheirStack runs low (one
    mail), stays low (no mail), is topped up (one "recovered" mail)."""
    pytest.importorskip("airflow.providers.smtp.notifications.smtp")
    import os

    from tests.support.airflow_env import run_dag

    example = ROOT / "example_dags" / "credit_watchdog.py"
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", os.environ["AIRFLOW_CONN_SMTP_TEST"])
    db_file = tmp_path / "usage.db"
    monkeypatch.setenv("AIRFLOW_CONN_USAGE_DB", json.dumps({"conn_type": "sqlite", "host": str(db_file)}))
    sandbox.set_balance("theirstack", "api_credits", 500)
    subjects = []
    for step in ("low", "still low", "topped up"):
        if step == "topped up":
            sandbox.topup("theirstack", 10_000, "api_credits")
        result = run_dag(example, "credit_watchdog")
        assert result.state == "success", result.task_states
        subjects.append([m["Subject"] for m in inbox.messages])
    assert subjects[-1] == [
        "[credits] 1 change(s): theirstack api_credits is low",
        "[credits] 1 change(s): theirstack api_credits is recovered",
    ]
    assert len(subjects[1]) == 1, "no mail while the pool stays low"
    assert "500 of 25000 credits remaining; low: 500 remaining < 2000 needed" in body(inbox.messages[0])
