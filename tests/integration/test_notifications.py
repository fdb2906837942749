"""Gate notifications whose reason is a reservation or a budget held in a real database (SQLite), in every mode."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fake_vendor import CONN_ID, credits
from tests.support.notifiers import gate_notifier
from tests.support.sensor_modes import MODES, run_sensor


@pytest.mark.parametrize("mode", MODES)
def test_reservations_of_others_are_the_reason(vendor: Any, sqlite_db: Any, mode: str) -> None:
    """1,000 credits, 500 held by another task until the gate's second check, 600 needed: the
    gate waits because of the reservation (not the balance) and passes once it expired."""
    from airflow_provider_credits.reservations import ReservationStore
    from tests.support.reservations import expiring, hold

    store = ReservationStore(sqlite_db.conn_id)
    other = hold(store, 500, "other", connection_id=CONN_ID).reservation
    assert other is not None
    vendor.script(credits(1000), expiring(store, [other.reservation_id]))
    sent: list[dict[str, Any]] = []
    outcome = run_sensor(
        mode,
        credits_conn_id=CONN_ID,
        min_remaining=600,
        reservation_conn_id=sqlite_db.conn_id,
        poke_interval=0.2,
        timeout=60,
        on_wait_notifiers=gate_notifier(sent),
        on_pass_notifiers=gate_notifier(sent),
    )
    assert outcome.error is None, outcome.error
    assert [m["subject"] for m in sent] == ["waiting: reservations", "passed: None"]


def test_a_budget_refusal_is_the_reason(vendor: Any, sqlite_db: Any) -> None:
    """Plenty of credits, but another DAG holds 400 of the shared 500 budget: the gate (reserving
    200) waits because of the budget, and says so once."""
    from decimal import Decimal

    from airflow_provider_credits.ledger import Budget
    from airflow_provider_credits.reservations import ReservationStore
    from tests.support.reservations import balance, gate, holder

    team = Budget(Decimal(500), "month", "team", "wait")
    other = ReservationStore(sqlite_db.conn_id).reserve(
        gate=gate(400, reserve=Decimal(400)),
        balance=balance(10_000),
        connection_id=CONN_ID,
        holder=holder("other", dag_id="other_dag"),
        budget=team,
    )
    assert other.granted
    vendor.script(credits(900))
    sent: list[dict[str, Any]] = []
    outcome = run_sensor(
        "poke",
        credits_conn_id=CONN_ID,
        reserve=200,
        reservation_conn_id=sqlite_db.conn_id,
        budget=500,
        budget_key="team",
        poke_interval=0.2,
        timeout=1,
        soft_fail=True,
        on_wait_notifiers=gate_notifier(sent),
    )
    assert outcome.error_type is not None and "Skip" in outcome.error_type.__name__
    assert [m["subject"] for m in sent] == ["waiting: budget"]
