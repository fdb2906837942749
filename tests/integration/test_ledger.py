"""The ledger on SQLite, PostgreSQL and MariaDB: reports, outstanding amounts, releases with spend,
expiries, budgets and the runway gate."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from airflow_provider_credits import ledger
from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.ledger import Budget, outstanding, spend_by_dag
from airflow_provider_credits.models import CreditBalance
from airflow_provider_credits.reservations import Attempt, Holder, ReservationStore, RunwayNeed
from tests.support.databases import Database
from tests.support.reservations import CONNECTION, POOL, balance, gate, holder

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def read_at(remaining: float, when: datetime) -> CreditBalance:
    return balance(remaining).model_copy(update={"fetched_at": when})


def reserve(
    store: ReservationStore,
    amount: float,
    task_id: str,
    *,
    remaining: float = 1000,
    now: datetime = T0,
    dag_id: str = "dag",
    run_id: str = "run_1",
    budget: Budget | None = None,
    runway: RunwayNeed | None = None,
) -> Attempt:
    return store.reserve(
        gate=gate(amount, reserve=Decimal(str(amount))),
        balance=read_at(remaining, now),
        connection_id=CONNECTION,
        holder=Holder(dag_id, run_id, task_id),
        now=now,
        budget=budget,
        runway=runway,
    )


def worker(task_id: str = "enrich", dag_id: str = "dag", run_id: str = "run_1") -> Holder:
    return Holder(dag_id, run_id, task_id)


def test_reports_lower_what_a_reservation_holds_for_other_gates(store: ReservationStore) -> None:
    first = reserve(store, 600, "a")
    assert first.reservation is not None
    assert not reserve(store, 600, "b", now=T0 + timedelta(seconds=1)).granted  # 1000 - 600 held

    # the work spends 300 at the vendor (the balance falls to 700) and reports it
    store.report(first.reservation.reservation_id, 100, reporter=worker(), now=T0 + timedelta(seconds=2))
    mine = store.report(
        first.reservation.reservation_id, "200", reporter=worker(), now=T0 + timedelta(seconds=3)
    )
    assert (mine.spent, mine.outstanding) == (300, 300)

    # a balance read after the reports: 700 - 300 outstanding = 400 < 600; with 1000: granted
    later = T0 + timedelta(seconds=4)
    refused = reserve(store, 600, "b", remaining=700, now=later)
    assert not refused.granted and refused.decision.reserved == 300
    granted = reserve(store, 400, "c", remaining=700, now=later)
    assert granted.granted and granted.decision.reserved == 300


def test_reports_after_the_balance_was_read_still_count_as_held(store: ReservationStore) -> None:
    first = reserve(store, 600, "a")
    assert first.reservation is not None
    read = T0 + timedelta(seconds=5)
    # reported after the balance was read: that balance does not show the spend yet
    store.report(first.reservation.reservation_id, 500, reporter=worker(), now=read + timedelta(seconds=1))
    attempt = store.reserve(
        gate=gate(500, reserve=Decimal(500)),
        balance=read_at(1000, read),
        connection_id=CONNECTION,
        holder=holder("b"),
        now=read + timedelta(seconds=2),
    )
    assert not attempt.granted and attempt.decision.reserved == 600


def test_overspend_is_recorded_and_warned(store: ReservationStore, caplog: pytest.LogCaptureFixture) -> None:
    first = reserve(store, 100, "a")
    assert first.reservation is not None
    with caplog.at_level(logging.WARNING):
        mine = store.report(first.reservation.reservation_id, 130, reporter=worker(), now=T0)
    assert mine.spent == 130 and mine.outstanding == 0
    assert "overspent: 130 spent of 100 reserved" in caplog.text
    rows = ledger.entries(store.db, reservation_table=store.table, kinds=["report"])
    assert rows[-1].note is not None and "overspent" in rows[-1].note


def test_release_records_the_final_figure_and_the_ledger_tells_where_credits_went(
    store: ReservationStore,
) -> None:
    first = reserve(store, 600, "a")
    assert first.reservation is not None
    rid = first.reservation.reservation_id
    store.report(rid, 200, reporter=worker(), now=T0 + timedelta(minutes=1))
    released = store.release(
        dag_id="dag", run_id="run_1", spent="450", releaser=worker("release"), now=T0 + timedelta(minutes=2)
    )
    assert released == 1
    got = store.get(rid)
    assert got is not None and (got.spent, got.spent_source, got.outstanding) == (450, "reported", 0)
    rows = ledger.entries(store.db, reservation_table=store.table, reservation_id=rid)
    assert [(r.kind, r.amount, r.source, r.task_id) for r in rows] == [
        ("grant", 600, None, "a"),
        ("report", 200, "reported", "enrich"),
        ("release", 250, "reported", "release"),
    ]
    spend = spend_by_dag(store.db, since=T0, reservation_table=store.table, now=T0 + timedelta(minutes=3))
    assert [(s.key, s.spent, s.outstanding, s.unknown, s.runs) for s in spend] == [("dag", 450, 0, 0, 1)]
    # released: further reports are refused, and releasing again changes nothing
    with pytest.raises(CreditsConfigError, match="released reservation"):
        store.report(rid, 1, reporter=worker())
    assert store.release(dag_id="dag", run_id="run_1", spent=999) == 0


def test_release_without_reports_measures_or_says_unknown(store: ReservationStore) -> None:
    measured = reserve(store, 100, "a", run_id="run_m")
    unknown = reserve(store, 100, "b", run_id="run_u")
    assert measured.reservation is not None and unknown.reservation is not None
    assert measured.reservation.balance_before == 1000
    later = T0 + timedelta(minutes=5)
    store.release(dag_id="dag", run_id="run_m", now=later, measure=lambda r: Decimal(80))
    store.release(dag_id="dag", run_id="run_u", now=later, measure=lambda r: None)
    assert store.get(measured.reservation.reservation_id).spent_source == "measured"  # type: ignore[union-attr]
    assert store.get(unknown.reservation.reservation_id).spent_source == "unknown"  # type: ignore[union-attr]
    [spend] = spend_by_dag(store.db, since=T0, reservation_table=store.table, now=later)
    assert (spend.spent, spend.measured, spend.reported, spend.unknown) == (80, 80, 0, 1)


def test_overlap_makes_a_measurement_doubtful(store: ReservationStore) -> None:
    a = reserve(store, 100, "a", run_id="run_1")
    assert a.reservation is not None
    assert not store.overlapping(a.reservation, now=T0 + timedelta(minutes=1))
    reserve(store, 100, "b", run_id="run_2", now=T0 + timedelta(seconds=30))
    assert store.overlapping(a.reservation, now=T0 + timedelta(minutes=1))


def test_bad_spend_is_a_config_error(store: ReservationStore) -> None:
    a = reserve(store, 100, "a")
    assert a.reservation is not None
    for bad in (-1, "lots", None, True, float("nan")):
        with pytest.raises(CreditsConfigError):
            store.report(a.reservation.reservation_id, bad, reporter=worker())
    with pytest.raises(CreditsConfigError, match="no credit reservation"):
        store.report("nope", 1, reporter=worker())
    reserve(store, 100, "b")
    with pytest.raises(CreditsConfigError, match="one figure"):
        store.release(dag_id="dag", run_id="run_1", spent=10)
    assert len(store.active(CONNECTION, POOL, now=T0)) == 2  # nothing was released


def test_expiry_is_recorded_once(store: ReservationStore) -> None:
    a = store.reserve(
        gate=gate(100, reserve=Decimal(100)),
        balance=read_at(1000, T0),
        connection_id=CONNECTION,
        holder=holder("a"),
        ttl=timedelta(minutes=1),
        now=T0,
    )
    assert a.reservation is not None
    reserve(store, 10, "b", now=T0 + timedelta(minutes=2))
    reserve(store, 10, "c", now=T0 + timedelta(minutes=3))
    expiries = ledger.entries(store.db, reservation_table=store.table, kinds=["expiry"])
    assert [(e.reservation_id, e.amount, e.recorded_at) for e in expiries] == [
        (a.reservation.reservation_id, 100, T0 + timedelta(minutes=1))
    ]


def test_budget_shared_by_dags_refuses_and_says_so(store: ReservationStore) -> None:
    marketing = Budget(Decimal(1000), "month", "marketing", "fail")
    a = reserve(store, 600, "gate", dag_id="leads", budget=marketing)
    assert a.reservation is not None and a.reservation.budget_key == "marketing"
    store.report(a.reservation.reservation_id, 500, reporter=worker(dag_id="leads"), now=T0)
    store.release(dag_id="leads", run_id="run_1", now=T0)  # 500 spent, nothing outstanding
    b = reserve(store, 400, "gate", dag_id="accounts", budget=marketing)  # 500 + 400 <= 1000
    assert b.granted
    c = reserve(store, 200, "gate", dag_id="contacts", budget=marketing)  # 500 + 400 + 200 > 1000
    assert not c.granted and c.refusal is not None and c.decision.met
    assert c.refusal.by == "budget" and c.refusal.action == "fail"
    assert "refused by the budget, not the balance" in c.refusal.message
    assert c.refusal.as_xcom()["spent"] == "500" and c.refusal.as_xcom()["outstanding"] == "400"
    by_key = spend_by_dag(
        store.db,
        since=T0,
        until=T0 + timedelta(days=1),
        reservation_table=store.table,
        by="budget_key",
        now=T0,
    )
    assert [(s.key, s.spent, s.outstanding) for s in by_key] == [("marketing", 500, 400)]
    # next month: last month's spend does not count
    d = reserve(
        store, 550, "gate", dag_id="contacts", budget=marketing, now=datetime(2026, 4, 1, tzinfo=timezone.utc)
    )
    assert d.granted


def test_budget_below_the_reserve_is_a_config_error(store: ReservationStore) -> None:
    with pytest.raises(CreditsConfigError, match="could never pass"):
        reserve(store, 600, "gate", budget=Budget(Decimal(500)))
    assert store.active(CONNECTION, POOL, now=T0) == []


def test_runway_gate_keeps_days_of_burn_for_everyone_else(store: ReservationStore) -> None:
    need = RunwayNeed(Decimal(7), Decimal(50))  # 350 credits must stay
    assert reserve(store, 600, "a", runway=need).granted  # 1000 - 600 = 400 >= 350
    refused = reserve(store, 100, "b", runway=need)  # 1000 - 600 - 100 = 300 < 350
    assert not refused.granted and refused.refusal is not None and refused.refusal.by == "runway"
    assert refused.refusal.action == "wait"
    assert reserve(store, 100, "c", runway=RunwayNeed(Decimal(7), None)).granted  # unknown burn: passes


def test_outstanding_is_never_negative_and_zero_once_released(store: ReservationStore) -> None:
    a = reserve(store, 100, "a")
    assert a.reservation is not None
    assert outstanding(a.reservation.model_copy(update={"spent": Decimal(150)})) == 0
    assert outstanding(a.reservation.model_copy(update={"released_at": T0})) == 0


def test_old_reservation_tables_are_upgraded(database: Database) -> None:
    name = database.table("old_res")
    database._tables.extend([f"{name}_locks", f"{name}_ledger"])
    database.run(
        f"CREATE TABLE {name} (reservation_id VARCHAR(36) PRIMARY KEY, connection_id VARCHAR(250) NOT NULL, "
        "pool VARCHAR(64) NOT NULL, amount NUMERIC(18,4) NOT NULL, dag_id VARCHAR(250) NOT NULL, "
        "run_id VARCHAR(250) NOT NULL, task_id VARCHAR(250) NOT NULL, map_index NUMERIC(18,4) NOT NULL, "
        "created_at VARCHAR(40) NOT NULL, expires_at VARCHAR(40) NOT NULL, released_at VARCHAR(40))"
        if database.kind == "sqlite"
        else f"CREATE TABLE {name} (reservation_id VARCHAR(36) PRIMARY KEY, connection_id VARCHAR(250) NOT NULL, "
        "pool VARCHAR(64) NOT NULL, amount NUMERIC(18,4) NOT NULL, dag_id VARCHAR(250) NOT NULL, "
        "run_id VARCHAR(250) NOT NULL, task_id VARCHAR(250) NOT NULL, map_index NUMERIC(18,4) NOT NULL, "
        + ("created_at TIMESTAMP(6) WITH TIME ZONE NOT NULL, expires_at TIMESTAMP(6) WITH TIME ZONE NOT NULL, "
           "released_at TIMESTAMP(6) WITH TIME ZONE)" if database.kind == "postgres" else
           "created_at DATETIME(6) NOT NULL, expires_at DATETIME(6) NOT NULL, released_at DATETIME(6))")
    )  # fmt: skip
    store = ReservationStore(database.conn_id, name)
    a = reserve(store, 100, "a")
    assert a.reservation is not None
    assert store.report(a.reservation.reservation_id, 40, reporter=worker()).spent == 40
