"""Every example DAG parses, and runs end to end against the sandbox."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_credits.sandbox.server import SandboxServer
from tests.support import ROOT
from tests.support.airflow_env import dag_bag, run_dag

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
