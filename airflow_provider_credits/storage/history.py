"""Read a pool's stored history (balance snapshots and daily usage) and forecast its runway.

The one reader of history shared by the runway gate, the Credits page and the alerts: the
tables are those :class:`~airflow_provider_credits.operators.usage_to_sql.UsageToSqlOperator`
writes (``credit_balances``, ``credit_usage`` or custom names).

Balance snapshots are keyed by credits connection; usage records by vendor and account. A
connection's usage is found through the vendor and account of its latest snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa

from airflow_provider_credits.forecast import DEFAULT_WINDOW_DAYS, Forecast, forecast
from airflow_provider_credits.models import as_utc
from airflow_provider_credits.storage.tables import BALANCES, USAGE

if TYPE_CHECKING:
    from airflow_provider_credits.storage.database import Database

__all__ = ["PoolHistory", "pool_history", "runway"]


@dataclass(frozen=True)
class PoolHistory:
    """What is stored about one pool of one credits connection.

    :ivar connection_id: the credits connection.
    :ivar pool: the pool name.
    :ivar vendor: vendor of the latest snapshot (None when there is none).
    :ivar account: account of the latest snapshot (None when there is none).
    :ivar latest_at: ``fetched_at`` of the latest snapshot (aware UTC), or None.
    :ivar remaining: ``remaining`` of the latest snapshot, or None.
    :ivar snapshots: ``(fetched_at, remaining)`` since the start of the window, oldest first.
    :ivar usage: ``(period_start, amount)`` daily usage since the start of the window, oldest first.
    """

    connection_id: str
    pool: str
    vendor: str | None
    account: str | None
    latest_at: datetime | None
    remaining: Decimal | None
    snapshots: tuple[tuple[datetime, Decimal], ...]
    usage: tuple[tuple[datetime, Decimal], ...]

    def forecast(self, now: datetime, window_days: int = DEFAULT_WINDOW_DAYS) -> Forecast | None:
        """:func:`~airflow_provider_credits.forecast.forecast` on this history, from the latest remaining."""
        return forecast(
            self.remaining, now=now, usage=self.usage, snapshots=self.snapshots, window_days=window_days
        )


def pool_history(
    conn: sa.Connection,
    *,
    connection_id: str,
    pool: str,
    since: datetime,
    balances: sa.Table = BALANCES,
    usage: sa.Table = USAGE,
) -> PoolHistory:
    """Read one pool's snapshots and usage since ``since`` (one query each, using the tables' keys).

    :param conn: an open SQLAlchemy connection (e.g. ``Database.begin()``).
    :param connection_id: the credits connection whose pool is read.
    :param pool: the pool name.
    :param since: start of the history (aware; naive is UTC).
    :param balances: the balances table (a custom name: ``storage.tables.table(BALANCES, name)``).
    :param usage: the usage table.
    """
    since = as_utc(since) or since
    b = balances.c
    latest = conn.execute(
        sa.select(b.vendor, b.account, b.fetched_at, b.remaining)
        .where(b.connection_id == connection_id, b.pool == pool)
        .order_by(b.fetched_at.desc())
        .limit(1)
    ).first()
    snapshots = tuple(
        (row.fetched_at, Decimal(row.remaining))
        for row in conn.execute(
            sa.select(b.fetched_at, b.remaining)
            .where(
                b.connection_id == connection_id,
                b.pool == pool,
                b.fetched_at >= since,
                b.remaining.is_not(None),
            )
            .order_by(b.fetched_at)
        )
    )
    daily: tuple[tuple[datetime, Decimal], ...] = ()
    if latest is not None:
        u = usage.c
        daily = tuple(
            (row.period_start, Decimal(row.amount))
            for row in conn.execute(
                sa.select(u.period_start, sa.func.sum(u.amount).label("amount"))
                .where(
                    u.vendor == latest.vendor,
                    u.account == latest.account,
                    u.pool == pool,
                    u.period_start >= since,
                )
                .group_by(u.period_start)
                .order_by(u.period_start)
            )
        )
    return PoolHistory(
        connection_id=connection_id,
        pool=pool,
        vendor=None if latest is None else latest.vendor,
        account=None if latest is None else latest.account,
        latest_at=None if latest is None else latest.fetched_at,
        remaining=None if latest is None or latest.remaining is None else Decimal(latest.remaining),
        snapshots=snapshots,
        usage=daily,
    )


def runway(
    db: Database,
    *,
    connection_id: str,
    pool: str,
    now: datetime,
    window_days: int = DEFAULT_WINDOW_DAYS,
    balances: sa.Table = BALANCES,
    usage: sa.Table = USAGE,
) -> tuple[PoolHistory, Forecast | None]:
    """The stored history of a pool and its forecast, read in one transaction.

    :raises CreditsStorageError: the database failed.
    """
    since = now - timedelta(days=window_days + 1)
    with db.errors("reading the history of a pool", balances), db.begin() as conn:
        history = pool_history(
            conn, connection_id=connection_id, pool=pool, since=since, balances=balances, usage=usage
        )
    return history, history.forecast(now, window_days)
