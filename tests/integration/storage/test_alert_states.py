"""The alert state machine on real databases: each change is seen (and notified) once, also by
concurrent runs (threads with their own connections, racing on the same rows)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_credits.operators.credit_alerts import CreditAlertOperator
from airflow_provider_credits.storage.alert_states import StateChange, database_for, read_states, transition
from airflow_provider_credits.storage.tables import ALERT_STATES
from tests.support.fake_vendor import CONN_ID, credits, http
from tests.support.notifiers import RecordingNotifier

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


@pytest.fixture
def watch_id(database: Any) -> Any:
    """A watch id of its own (the table is shared with other tests); its rows deleted afterwards."""
    key = f"test-{uuid.uuid4().hex[:12]}"
    yield key
    db = database_for(database.conn_id)
    try:
        with db.begin() as conn:
            conn.execute(ALERT_STATES.delete().where(ALERT_STATES.c.watch_id == key))
    finally:
        db.dispose()


def test_transition_changes_each_state_once(database: Any, watch_id: str) -> None:
    db = database_for(database.conn_id)
    db.prepare([ALERT_STATES], create=True)
    key = (watch_id, "conn", "pool")
    seen: list[list[str]] = []

    def record(changed: Any) -> None:
        seen.append([f"{before.state}->{after.state}" for before, after in changed])

    for state in ("ok", "ok", "low", "low", "unreadable", "ok"):
        transition(db, [StateChange(key, state)], now=NOW, on_change=record)
    assert seen == [["new->ok"], ["ok->low"], ["low->unreadable"], ["unreadable->ok"]]
    assert read_states(db, [key])[key].state == "ok"
    db.dispose()


def test_on_change_failure_rolls_the_change_back(database: Any, watch_id: str) -> None:
    db = database_for(database.conn_id)
    db.prepare([ALERT_STATES], create=True)
    key = (watch_id, "conn", "pool")

    def fail(changed: Any) -> None:
        raise RuntimeError("notifier down")

    with pytest.raises(RuntimeError):
        transition(db, [StateChange(key, "low")], now=NOW, on_change=fail)
    assert read_states(db, [key])[key].state == "new"
    assert len(transition(db, [StateChange(key, "low")], now=NOW)) == 1
    db.dispose()


@pytest.mark.postgres
@pytest.mark.integration
def test_concurrent_runs_alert_each_transition_once(
    vendor: Any, postgres_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight runs at once, at each step of ok -> low -> recovered -> unreadable -> recovered:
    exactly one notification per change (the notifier is slow, so the runs overlap)."""
    watch = f"race-{uuid.uuid4().hex[:10]}"
    sent: list[dict[str, Any]] = []

    class Slow(RecordingNotifier):
        def notify(self, context: Any) -> None:
            time.sleep(0.3)
            super().notify(context)

        def __deepcopy__(self, memo: dict[int, Any]) -> Slow:
            return Slow(self.subject, self.text, self.sent)

    notifier = Slow("{{ alert.state }}", "{{ alert.message }}", sent)
    runs = 8
    try:
        for step, expected in (
            (credits(900), []),
            (credits(100), ["low"]),
            (credits(900), ["recovered"]),
            (http(503), ["unreadable"]),
            (credits(950), ["recovered"]),
        ):
            vendor.script(step)
            barrier = threading.Barrier(runs)
            errors: list[BaseException] = []
            before = len(sent)

            def one_run(barrier: threading.Barrier, errors: list[BaseException]) -> None:
                op = CreditAlertOperator(
                    task_id="alerts",
                    notifiers=[notifier],
                    state_conn_id=postgres_db.conn_id,
                    watch_id=watch,
                    credits_conn_id=CONN_ID,
                    min_remaining=500,
                )
                op.retries = 0
                barrier.wait()
                try:
                    op.execute({})  # type: ignore[arg-type]
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=one_run, args=(barrier, errors)) for _ in range(runs)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert not errors, errors
            assert [m["subject"] for m in sent[before:]] == expected
    finally:
        db = database_for(postgres_db.conn_id)
        with db.begin() as conn:
            conn.execute(ALERT_STATES.delete().where(ALERT_STATES.c.watch_id == watch))
        db.dispose()
