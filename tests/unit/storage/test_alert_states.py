"""Alert states on an in-memory SQLite database: a change is stored (and reported) once, a repeated
state only refreshes its numbers, a failing notification stores nothing. On every database, and
with concurrent runs: tests/integration/storage/test_alert_states.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from airflow_provider_credits.storage.alert_states import NEW, StateChange, read_states, transition
from airflow_provider_credits.storage.database import Database
from airflow_provider_credits.storage.tables import ALERT_STATES

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
LOW = ("watch", "ts", "api_credits")
UI = ("watch", "ts", "ui_credits")


@pytest.fixture
def db(memory_db: Database) -> Database:
    with memory_db.begin() as conn:
        ALERT_STATES.create(conn)
    return memory_db


def test_a_key_never_seen_reads_as_new(db: Database) -> None:
    assert {k: s.state for k, s in read_states(db, [LOW]).items()} == {LOW: NEW}


def test_changes_are_returned_once_in_key_order_and_a_repeated_state_only_refreshes(db: Database) -> None:
    first = transition(
        db, [StateChange(UI, "ok"), StateChange(LOW, "low", Decimal(5), Decimal(100))], now=NOW
    )
    assert [(before.state, after.key, after.state) for before, after in first] == [
        (NEW, LOW, "low"),
        (NEW, UI, "ok"),
    ]

    later = NOW + timedelta(hours=1)
    assert transition(db, [StateChange(LOW, "low", Decimal(4), Decimal(100))], now=later) == []

    states = read_states(db, [LOW, UI])
    assert (states[LOW].state, states[LOW].changed_at) == ("low", NOW)  # unchanged since the change
    with db.begin() as conn:
        remaining, checked_at = conn.execute(
            sa.select(ALERT_STATES.c.remaining, ALERT_STATES.c.checked_at).where(
                ALERT_STATES.c.pool == "api_credits"
            )
        ).one()
    assert (Decimal(remaining), checked_at) == (Decimal(4), later)


def test_a_failing_notification_stores_nothing_so_the_next_run_sees_the_change_again(db: Database) -> None:
    def fail(changes: object) -> None:
        raise RuntimeError("the mail server is down")

    with pytest.raises(RuntimeError, match="mail server"):
        transition(db, [StateChange(LOW, "low")], now=NOW, on_change=fail)
    assert read_states(db, [LOW])[LOW].state == NEW

    seen: list[object] = []
    transition(db, [StateChange(LOW, "low")], now=NOW, on_change=seen.append)
    assert len(seen) == 1 and read_states(db, [LOW])[LOW].state == "low"


def test_the_detail_is_cut_to_500_characters(db: Database) -> None:
    transition(db, [StateChange(LOW, "low", detail="x" * 600)], now=NOW)
    with db.begin() as conn:
        detail = conn.execute(sa.select(ALERT_STATES.c.detail)).scalar_one()
    assert detail == "x" * 500
