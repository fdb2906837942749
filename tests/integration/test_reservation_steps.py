"""The reservation steps of a reserving gate, on ReservationStore's public methods."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from airflow_provider_credits.reservation_steps import GateReservations, ReservationTicket, check_minus_others
from airflow_provider_credits.reservations import ReservationStore
from tests.support.reservations import CONNECTION, POOL, balance, gate, hold, holder


def context(task_id: str) -> dict[str, Any]:
    h = holder(task_id)
    return {"ti": SimpleNamespace(dag_id=h.dag_id, run_id=h.run_id, task_id=h.task_id, map_index=-1)}


def test_reserve_grants_with_the_sensors_xcom_then_refuses(store: ReservationStore) -> None:
    steps = GateReservations(store, CONNECTION, timedelta(minutes=5))

    granted = steps.reserve(gate(600), balance(1000), context("a"))
    refused = steps.reserve(gate(600), balance(1000), context("b"))

    assert granted.value is not None
    assert (granted.value["decision"]["met"], granted.value["reservation"]["amount"]) == (True, 600)
    assert granted.value["reservation"]["task_id"] == "a"
    assert (granted.value["reservation"]["reservation_conn_id"], granted.value["reservation"]["table"]) == (
        store.conn_id,
        store.table,
    )
    assert granted.value["pools"][0]["remaining"] == 1000  # the balance it decided on
    assert "reserved 600 credits until " in granted.message
    assert f"(reservation {holder('a').reservation_id})" in granted.message
    assert refused.value is None
    assert refused.message.endswith("600 reserved, needed 600: not enough (1 active reservation)")


def test_ticket_round_trips_and_excludes_its_own_reservation(store: ReservationStore) -> None:
    steps = GateReservations(store, CONNECTION)
    hold(store, 300, "other")
    hold(store, 900, "mine")
    ticket = steps.ticket(context("mine"))

    assert ReservationTicket.from_dict(ticket.to_dict()) == ticket
    assert ticket.to_dict() == {
        "conn_id": store.conn_id,
        "table": store.table,
        "reservation_id": holder("mine").reservation_id,
    }
    assert [r.task_id for r in ticket.held_by_others(CONNECTION, POOL)] == ["other"]
    check = check_minus_others(gate(600), balance(1000), POOL, credits_conn_id=CONNECTION, ticket=ticket)
    assert check.met and check.decision is not None and check.decision.reserved == 300
    assert check.message.endswith("(1 active reservation)")
