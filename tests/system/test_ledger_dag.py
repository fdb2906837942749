"""End-to-end (dag.test()): a gate reserves, the work reports spend, the release records it; and
the spend measured, or unknown, when the work reports nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from airflow_provider_credits import ledger
from airflow_provider_credits.reservations import Holder, Reservation, ReservationStore
from airflow_provider_credits.sandbox.server import SandboxServer
from tests.support.airflow_env import DagRunResult, run_dag
from tests.support.reservations import hold

_SECOND = timedelta(seconds=1)

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DAG_FILE = Path(__file__).parent / "dags" / "ledger_run.py"


@pytest.fixture
def store(sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReservationStore:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CREDITS_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "c.db")})
    )
    sandbox.set_balance("theirstack", "api_credits", 1000)
    return ReservationStore("credits_db")


def run(
    store: ReservationStore, dag_id: str, **conf: object
) -> tuple[DagRunResult, Reservation, list[ledger.LedgerEntry]]:
    result = run_dag(DAG_FILE, dag_id, run_conf=conf)
    assert result.task_states == {"gate": "success", "work": "success", "release": "success"}, result
    mine = store.get(Holder(dag_id, result.run_id, "gate").reservation_id)
    assert mine is not None and mine.released_at is not None
    rows = ledger.entries(store.db, reservation_id=mine.reservation_id)
    return result, mine, rows


def remaining(sandbox: SandboxServer) -> int:
    return sandbox.state()["pools"]["theirstack"]["api_credits"]["remaining"]


def test_reports_and_the_final_figure_from_xcom(store: ReservationStore, sandbox: SandboxServer) -> None:
    result, mine, rows = run(store, "ledger_run", spends=[200, 150])

    assert result.xcom("work") == 350 and remaining(sandbox) == 650
    assert [(r.kind, r.amount, r.source, r.task_id) for r in rows] == [
        ("grant", 600, None, "gate"),
        ("report", 200, "reported", "work"),
        ("report", 150, "reported", "work"),
        ("release", 0, "reported", "release"),  # the final figure adds nothing to the reports
    ]
    assert (mine.spent, mine.spent_source, mine.balance_before) == (350, "reported", 1000)
    assert ledger.outstanding(mine) == 0
    [spend] = ledger.spend_by_dag(store.db, since=rows[0].recorded_at, until=mine.released_at + _SECOND)
    assert (spend.key, spend.spent, spend.outstanding, spend.unknown) == ("ledger_run", 350, 0, 0)


def test_spend_is_measured_when_nothing_was_reported(store: ReservationStore, sandbox: SandboxServer) -> None:
    _, mine, rows = run(store, "ledger_run_silent", spends=[250])

    assert remaining(sandbox) == 750
    assert [(r.kind, r.amount, r.source) for r in rows] == [
        ("grant", 600, None),
        ("release", 250, "measured"),
    ]
    assert (mine.spent, mine.spent_source, mine.balance_before) == (250, "measured", 1000)


def test_spend_is_unknown_when_another_reservation_overlapped(
    store: ReservationStore, sandbox: SandboxServer
) -> None:
    hold(store, 300, "gate", run_id="another_run", connection_id="theirstack_default")

    _, mine, rows = run(store, "ledger_run_silent", spends=[250])

    assert [(r.kind, r.source) for r in rows] == [("grant", None), ("release", "unknown")]
    assert mine.spent_source == "unknown" and mine.spent in (None, Decimal(0))
