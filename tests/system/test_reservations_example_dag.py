"""End-to-end: example_dags/credit_reservations.py reserves, enriches and releases (dag.test())."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_credits.reservations import Holder, ReservationStore
from airflow_provider_credits.sandbox.server import SandboxServer
from tests.support import ROOT
from tests.support.airflow_env import run_dag
from tests.support.reservations import hold

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

EXAMPLE = ROOT / "example_dags" / "credit_reservations.py"


@pytest.fixture(autouse=True)
def credits_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's ``credits_db``: a fresh SQLite file per test."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_CREDITS_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "c.db")})
    )


def test_reserve_enrich_release(sandbox: SandboxServer) -> None:
    sandbox.set_balance("theirstack", "api_credits", 1000)
    store = ReservationStore("credits_db")
    hold(store, 300, "reserve_credits", run_id="another_run", connection_id="theirstack_default")

    result = run_dag(EXAMPLE, "credit_reservations")

    assert result.state == "success", result.task_states
    assert result.task_states == {
        "price": "success",
        "reserve_credits": "success",
        "enrich": "success",
        "release": "success",
    }
    gate = result.xcom("reserve_credits")
    assert gate["decision"]["reserved"] == 300  # the other run's reservation was counted
    assert gate["reservation"]["amount"] == 600  # 40 records at 15 credits
    assert [c["run_id"] for c in gate["reservation"]["counted"]] == ["another_run"]
    assert result.xcom("enrich") == 600
    assert sandbox.state()["pools"]["theirstack"]["api_credits"]["remaining"] == 400  # spent what it reserved
    mine = store.get(Holder("credit_reservations", result.run_id, "reserve_credits").reservation_id)
    assert mine is not None and mine.released_at is not None
    assert result.xcom("release") == 0  # enrich's success callback released it; releasing again is harmless
    assert [r.run_id for r in store.active("theirstack_default", "api_credits")] == ["another_run"]


def test_the_daily_budget_skips_the_second_run_and_the_ledger_has_the_first(sandbox: SandboxServer) -> None:
    from datetime import datetime, timezone

    from airflow_provider_credits.ledger import period_bounds, spend_by_dag

    sandbox.set_balance("theirstack", "api_credits", 5000)

    first = run_dag(EXAMPLE, "credit_reservations")
    second = run_dag(EXAMPLE, "credit_reservations")  # 600 spent today + 600 > the budget of 1000

    assert first.task_states["enrich"] == "success"
    assert second.task_states["reserve_credits"] == "skipped" and second.task_states["enrich"] == "skipped"
    refusal = second.xcom("reserve_credits", key="credit_gate_refusal")
    assert refusal["blocked_by"] == "budget" and refusal["spent"] == "600" and refusal["budget"] == "1000"
    assert sandbox.state()["pools"]["theirstack"]["api_credits"]["remaining"] == 4400  # only the first spent
    [today] = spend_by_dag(
        ReservationStore("credits_db").db, since=period_bounds("day", datetime.now(timezone.utc))[0]
    )
    assert (today.key, today.spent, today.reported, today.runs) == ("credit_reservations", 600, 600, 1)
