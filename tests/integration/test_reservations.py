"""ReservationStore on SQLite, PostgreSQL and MariaDB: grant, refuse, expire, release."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from airflow_provider_credits.exceptions import TableSchemaError
from airflow_provider_credits.gate import Gate, Thresholds
from airflow_provider_credits.reservations import Attempt, Holder, ReservationStore
from tests.support.databases import Database
from tests.support.reservations import CONNECTION, POOL, balance, gate, hold, holder

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def try_reserve(
    store: ReservationStore, needed: int, task_id: str, remaining: int = 1000, now: datetime = T0
) -> Attempt:
    """Task ``task_id`` of run ``run_1`` tries to reserve ``needed`` of ``remaining`` credits."""
    return store.reserve(
        gate=gate(needed),
        balance=balance(remaining),
        connection_id=CONNECTION,
        holder=holder(task_id),
        now=now,
    )


def test_grants_until_the_balance_is_reserved_then_refuses(store: ReservationStore) -> None:
    first = try_reserve(store, 600, "a")
    second = try_reserve(store, 600, "b")

    assert first.granted and first.decision.reserved == 0 and first.counted == ()
    assert first.reservation is not None
    assert (first.reservation.amount, first.reservation.pool, first.reservation.task_id) == (600, POOL, "a")
    assert first.reservation.expires_at == T0 + timedelta(hours=2)
    assert not second.granted
    assert second.decision.reserved == 600 and not second.decision.met
    assert "600 reserved" in second.decision.message
    assert [r.task_id for r in second.counted] == ["a"]
    assert [r.task_id for r in store.active(CONNECTION, POOL, now=T0)] == ["a"]


def test_counts_only_the_same_connection_and_pool(store: ReservationStore) -> None:
    hold(store, 900, "other_account", connection_id="another_account", now=T0)
    ui_gate = Gate(Thresholds(Decimal(40), None), credit_pool="ui_credits", reserve=True)
    ui = store.reserve(
        gate=ui_gate, balance=balance(0), connection_id=CONNECTION, holder=holder("ui"), now=T0
    )
    hold(store, 45, "same_pool", now=T0)

    attempt = try_reserve(store, 600, "a")

    assert ui.granted and ui.reservation is not None and ui.reservation.pool == "ui_credits"
    assert attempt.granted
    assert [r.task_id for r in attempt.counted] == ["same_pool"]
    assert attempt.decision.reserved == 45


def test_explicit_amount_is_reserved_and_needed(store: ReservationStore) -> None:
    hold(store, 250, "other", now=T0)

    too_much = store.reserve(
        gate=gate(100, reserve=Decimal(800)),
        balance=balance(1000),
        connection_id=CONNECTION,
        holder=holder("a"),
        now=T0,
    )
    fits = store.reserve(
        gate=gate(100, reserve=Decimal("750.5")),
        balance=balance(1000.5),
        connection_id=CONNECTION,
        holder=holder("a"),
        now=T0,
    )

    assert not too_much.granted and too_much.decision.needed == 800
    assert fits.granted and fits.reservation is not None
    assert fits.reservation.amount == Decimal("750.5")
    stored = store.get(Holder("dag", "run_1", "a").reservation_id)
    assert stored is not None and stored.amount == Decimal("750.5")


def test_a_retried_check_replaces_its_own_reservation(store: ReservationStore) -> None:
    me = holder("gate", map_index=3)
    for needed in (700, 800):  # the second try is not blocked by the first try's 700
        attempt = store.reserve(
            gate=gate(needed), balance=balance(1000), connection_id=CONNECTION, holder=me, now=T0
        )
        assert attempt.granted and attempt.counted == ()

    rows = store.active(CONNECTION, POOL, now=T0)
    assert [(r.reservation_id, r.amount, r.map_index) for r in rows] == [(me.reservation_id, 800, 3)]


def test_expired_reservations_stop_counting(store: ReservationStore) -> None:
    hold(store, 500, "killed_run", ttl=timedelta(minutes=10), now=T0)

    before = try_reserve(store, 600, "a", now=T0 + timedelta(minutes=9))
    after = try_reserve(store, 600, "a", now=T0 + timedelta(minutes=10))

    assert not before.granted and before.decision.reserved == 500
    assert after.granted and after.counted == ()
    assert [r.task_id for r in store.active(CONNECTION, POOL, now=T0 + timedelta(minutes=10))] == ["a"]


def test_release_frees_the_credits_and_twice_is_harmless(store: ReservationStore) -> None:
    hold(store, 600, "gate", now=T0)
    released_at = T0 + timedelta(minutes=5)

    assert store.release(dag_id="dag", run_id="run_1", now=released_at) == 1
    assert store.release(dag_id="dag", run_id="run_1", now=released_at + timedelta(minutes=1)) == 0

    row = store.get(Holder("dag", "run_1", "gate").reservation_id)
    assert row is not None and row.released_at == released_at  # the second release changed nothing
    again = store.reserve(
        gate=gate(600), balance=balance(1000), connection_id=CONNECTION, holder=holder("b"), now=released_at
    )
    assert again.granted and again.counted == ()


def test_release_is_limited_to_the_named_gates_and_map_index(store: ReservationStore) -> None:
    for task_id, map_index, run_id in [
        ("g1", 0, "run_1"),
        ("g1", 1, "run_1"),
        ("g2", -1, "run_1"),
        ("g1", 0, "run_2"),
    ]:
        hold(store, 10, task_id, map_index=map_index, run_id=run_id, now=T0)

    assert store.release(dag_id="dag", run_id="run_1", task_ids=["g1"], map_index=1, now=T0) == 1
    assert store.release(dag_id="dag", run_id="run_1", task_ids=[], now=T0) == 0
    left = {(r.task_id, r.map_index, r.run_id) for r in store.active(CONNECTION, POOL, now=T0)}
    assert left == {("g1", 0, "run_1"), ("g2", -1, "run_1"), ("g1", 0, "run_2")}
    assert store.release(dag_id="dag", run_id="run_1", now=T0) == 2
    assert {r.run_id for r in store.active(CONNECTION, POOL, now=T0)} == {"run_2"}


def test_a_released_gate_can_reserve_again(store: ReservationStore) -> None:
    me = holder("gate")
    store.reserve(gate=gate(600), balance=balance(1000), connection_id=CONNECTION, holder=me, now=T0)
    store.release(dag_id="dag", run_id="run_1", now=T0)

    again = store.reserve(gate=gate(600), balance=balance(1000), connection_id=CONNECTION, holder=me, now=T0)

    assert again.granted
    row = store.get(me.reservation_id)
    assert row is not None and row.released_at is None


def test_missing_tables_are_an_error_without_create_tables(database: Database) -> None:
    store = ReservationStore(database.conn_id, database.table("absent"), create_tables=False)
    with pytest.raises(TableSchemaError, match="cannot read table"):
        store.active(CONNECTION, POOL)


def test_table_with_missing_columns_is_refused(database: Database) -> None:
    name = database.table("res")
    database.run(f"CREATE TABLE {name} (reservation_id VARCHAR(36) PRIMARY KEY)")
    with pytest.raises(TableSchemaError, match="lacks the required columns"):
        ReservationStore(database.conn_id, name).active(CONNECTION, POOL)


def test_a_reservation_released_after_the_balance_was_read_still_counts(store: ReservationStore) -> None:
    """A slow worker reserves with a balance read before another run spent and released: that
    balance does not show the spend, so the released reservation must still be subtracted."""
    hold(store, 600, "spender", now=T0)
    read_at = T0 + timedelta(minutes=1)  # the balance (1000) is read: spender's 600 not spent yet
    assert (
        store.release(dag_id="dag", run_id="run_1", task_ids=["spender"], now=read_at + timedelta(minutes=1))
        == 1
    )
    stale = balance(1000).model_copy(update={"fetched_at": read_at})
    attempt = store.reserve(
        gate=gate(600), balance=stale, connection_id=CONNECTION, holder=holder("late", run_id="run_2"),
        now=read_at + timedelta(minutes=2),
    )  # fmt: skip
    assert not attempt.granted and attempt.decision.reserved == 600
    fresh = balance(400).model_copy(update={"fetched_at": read_at + timedelta(minutes=3)})
    again = store.reserve(
        gate=gate(400), balance=fresh, connection_id=CONNECTION, holder=holder("late", run_id="run_2"),
        now=read_at + timedelta(minutes=3),
    )  # fmt: skip
    assert again.granted and again.counted == ()  # a balance read after the release shows the spend
