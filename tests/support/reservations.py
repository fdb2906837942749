"""Balances, gates and reservations for the reservation tests, and the ``store`` fixture.

``store``: a :class:`ReservationStore` on fresh tables of SQLite, PostgreSQL and MariaDB in turn
(the ``database`` fixture of ``tests/support/databases.py``); ``new_store(db)`` builds one on ``db``.
``expiring(store, ids)``: a fake vendor step (``tests/support/fake_vendor.py``) whose first call
lets those reservations expire: another task's reservation that runs out while a gate waits,
at a given check rather than after a short TTL (which a loaded machine could outrun).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from airflow_provider_credits.gate import Gate, Thresholds
from airflow_provider_credits.models import CreditBalance, CreditPool
from airflow_provider_credits.reservations import Attempt, Holder, ReservationStore
from tests.support.databases import Database
from tests.support.fake_vendor import Step, credits

CONNECTION = "credits_test"
POOL = "api_credits"


def balance(remaining: float, limit: float = 100_000, pool: str = POOL) -> CreditBalance:
    """A TheirStack-like balance whose primary pool ``pool`` has ``remaining`` credits."""
    return CreditBalance(
        vendor="theirstack",
        account=CONNECTION,
        pools=(
            CreditPool(name=pool, remaining=remaining, limit=limit),
            CreditPool(name="ui_credits", remaining=50),
        ),
    )


def gate(needed: float, reserve: Decimal | bool = True) -> Gate:
    """A gate needing ``needed`` credits of the primary pool and reserving them."""
    return Gate(Thresholds(Decimal(str(needed)), None), reserve=reserve)


def holder(task_id: str, run_id: str = "run_1", map_index: int = -1, dag_id: str = "dag") -> Holder:
    return Holder(dag_id, run_id, task_id, map_index)


def hold(
    store: ReservationStore,
    amount: float,
    task_id: str,
    *,
    ttl: timedelta = timedelta(hours=1),
    now: datetime | None = None,
    run_id: str = "run_1",
    map_index: int = -1,
    connection_id: str = CONNECTION,
) -> Attempt:
    """Reserve ``amount`` for another task (with plenty of credits, so it is always granted)."""
    attempt = store.reserve(
        gate=gate(amount),
        balance=balance(10**9),
        connection_id=connection_id,
        holder=holder(task_id, run_id, map_index),
        ttl=ttl,
        now=now,
    )
    assert attempt.granted, attempt.decision.message
    return attempt


def new_store(db: Database) -> ReservationStore:
    """A store on unique tables of ``db`` (both dropped when the test ends)."""
    name = db.table("res")
    db._tables.append(f"{name}_locks")  # the lock table, dropped too
    db._tables.append(f"{name}_ledger")  # and the ledger
    return ReservationStore(db.conn_id, name)


@pytest.fixture
def store(database: Database) -> ReservationStore:
    """A reservation store on SQLite, PostgreSQL and MariaDB in turn."""
    return new_store(database)


def expire_now(store: ReservationStore, reservation_id: str) -> None:
    """Let a reservation's TTL run out now, as if it had been granted with a shorter one."""
    import sqlalchemy as sa

    from airflow_provider_credits.models import utcnow
    from airflow_provider_credits.storage.tables import RESERVATIONS, table

    t = table(RESERVATIONS, store.table_name)
    with store.db.begin() as conn:
        done = conn.execute(
            sa.update(t).where(t.c.reservation_id == reservation_id).values(expires_at=utcnow())
        )
    assert done.rowcount == 1, reservation_id


def expiring(store: ReservationStore, reservation_ids: list[str], remaining: int = 1000) -> Step:
    """A balance of ``remaining`` credits (see ``credits``) whose first read lets ``reservation_ids``
    expire first: a gate's check that reads it no longer counts them (nor a later one)."""
    answer, pending = credits(remaining), list(reservation_ids)

    def step() -> httpx.Response:
        while pending:
            expire_now(store, pending.pop())
        return answer()

    return step
