"""The last state of watched pools (``credit_alert_states``): read and changed exactly once per change.

Used by :class:`~airflow_provider_credits.operators.credit_alerts.CreditAlertOperator` (states
``ok``, ``low``, ``unreadable``) and
:class:`~airflow_provider_credits.triggers.credit_topup.CreditTopupTrigger` (``above``,
``below``). A row is keyed by the watcher (``watch_id``), the credits connection and the pool.

A change goes through :func:`transition`: in one transaction the row is created when missing,
locked (``SELECT ... FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` locks the whole database) and
changed with ``UPDATE ... WHERE state = <the state read>``. Two workers (or a retried task)
deciding the same change at once therefore see it happen once: the second waits for the
first's lock, then reads the new state and has nothing to change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from airflow_provider_credits.storage.tables import ALERT_STATES

if TYPE_CHECKING:
    from airflow_provider_credits.storage.database import Database

__all__ = ["NEW", "StateChange", "StoredState", "database_for", "read_states", "transition"]

#: the state of a pool no check has seen yet (no row)
NEW = "new"


@dataclass(frozen=True)
class StoredState:
    """One row of ``credit_alert_states``.

    :ivar key: ``(watch_id, connection_id, pool)``.
    :ivar state: the last state (``"new"`` when there is no row).
    :ivar changed_at: when the state last changed (None when new).
    """

    key: tuple[str, str, str]
    state: str
    changed_at: datetime | None = None


@dataclass(frozen=True)
class StateChange:
    """What a watcher saw: the new state of one pool and the numbers behind it.

    :ivar key: ``(watch_id, connection_id, pool)``.
    :ivar state: the state now (at most 16 characters).
    :ivar remaining: the pool's remaining credits, when read.
    :ivar limit: the pool's limit, when known.
    :ivar detail: why, in one line (at most 500 characters are stored).
    """

    key: tuple[str, str, str]
    state: str
    remaining: Decimal | None = None
    limit: Decimal | None = None
    detail: str | None = None


def database_for(conn_id: str) -> Database:
    """The credits database behind a common-sql connection (no I/O until used).

    :raises CreditsConfigError: the connection is no SQL database, or its provider is missing
        (the message names the extra to install).
    """
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.providers.common.sql.operators.sql import BaseSQLOperator

    from airflow_provider_credits._extras import sql_provider_needed
    from airflow_provider_credits.exceptions import CreditsConfigError
    from airflow_provider_credits.storage.database import Database

    with sql_provider_needed(conn_id):
        hook = BaseSQLOperator.get_hook(conn_id)
    if not isinstance(hook, DbApiHook):
        raise CreditsConfigError(
            f"connection {conn_id!r} is not a SQL database ({type(hook).__name__} is no common-sql DbApiHook)"
        )
    return Database(hook)


def _where(key: tuple[str, str, str]) -> Any:
    c = ALERT_STATES.c
    return sa.and_(c.watch_id == key[0], c.connection_id == key[1], c.pool == key[2])


@contextmanager
def _locked(db: Database, operation: str) -> Iterator[sa.Connection]:
    with db.errors(operation, ALERT_STATES.name), db.begin(exclusive=True, read_committed=True) as conn:
        yield conn


def read_states(
    db: Database, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], StoredState]:
    """The stored state of each key (``"new"`` for a key without a row); no lock taken.

    :raises CreditsStorageError: the database failed.
    """
    c = ALERT_STATES.c
    found: dict[tuple[str, str, str], StoredState] = {key: StoredState(key, NEW) for key in keys}
    with db.errors("reading alert states", ALERT_STATES.name), db.begin() as conn:
        for key in keys:
            row = conn.execute(sa.select(c.state, c.changed_at).where(_where(key))).first()
            if row is not None:
                found[key] = StoredState(key, row.state, row.changed_at)
    return found


def transition(
    db: Database,
    changes: Sequence[StateChange],
    *,
    now: datetime,
    on_change: Callable[[list[tuple[StoredState, StateChange]]], None] | None = None,
) -> list[tuple[StoredState, StateChange]]:
    """Store the states in ``changes``; return (and hand to ``on_change``) those that changed.

    Everything happens in one transaction, rows locked in key order (so two callers never
    deadlock): missing rows are created in state ``"new"``, each row is locked and read, and a
    row whose state differs is changed with a conditional ``UPDATE``. ``on_change`` (e.g.
    sending the notifications) runs before the commit, while the rows are locked: when it
    raises, nothing is stored and the error propagates, so the next run sees the same change
    again (an alert is retried, never lost nor sent twice by concurrent runs).

    :param db: the credits database.
    :param changes: the states seen now, one per key.
    :param now: the time of the check (aware UTC).
    :param on_change: called with the changed ``(before, after)`` pairs, when there are any.
    :returns: the changed ``(before, after)`` pairs.
    :raises CreditsStorageError: the database failed (nothing stored).
    """
    c = ALERT_STATES.c
    changed: list[tuple[StoredState, StateChange]] = []
    ordered = sorted(changes, key=lambda change: change.key)
    with _locked(db, "changing alert states") as conn:
        for change in ordered:
            conn.execute(
                db.insert_missing_statement(ALERT_STATES).values(
                    watch_id=change.key[0],
                    connection_id=change.key[1],
                    pool=change.key[2],
                    state=NEW,
                    changed_at=now,
                    checked_at=now,
                )
            )
        for change in ordered:
            row = conn.execute(
                sa.select(c.state, c.changed_at).where(_where(change.key)).with_for_update()
            ).one()
            values: dict[str, Any] = {
                "remaining": change.remaining,
                "credit_limit": change.limit,
                "checked_at": now,
            }
            if row.state == change.state:
                conn.execute(sa.update(ALERT_STATES).where(_where(change.key)).values(values))
                continue
            values.update(state=change.state, changed_at=now, detail=(change.detail or "")[:500] or None)
            updated = conn.execute(
                sa.update(ALERT_STATES).where(_where(change.key), c.state == row.state).values(values)
            ).rowcount
            if updated == 1:
                changed.append((StoredState(change.key, row.state, row.changed_at), change))
        if changed and on_change is not None:
            on_change(changed)
    return changed
