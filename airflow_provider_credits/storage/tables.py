"""Every table the package writes, defined once as SQLAlchemy Core tables in :data:`metadata`.

Custom names (``balances_table=``, ``reservation_table=`` ...) get a copy of the same
definition under that name (:func:`table`), so there is one definition per kind of table.

Types: text is ``VARCHAR(n)``; numbers are exact decimals with 4 places (``NUMERIC(18,4)``);
timestamps are UTC (:class:`UtcDateTime`: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL,
``DATETIME(6)`` holding UTC on MySQL/MariaDB, text ``YYYY-MM-DD HH:MM:SS.ffffff`` on SQLite).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from airflow_provider_credits.models import as_utc
from airflow_provider_credits.storage.names import TableName

__all__ = [
    "ALERT_STATES",
    "BALANCES",
    "LEDGER",
    "LEDGER_KINDS",
    "LOCKS",
    "RESERVATIONS",
    "USAGE",
    "UtcDateTime",
    "metadata",
    "table",
]

#: ``Table.info`` key: columns an upsert writes only when another column changed (a row differing
#: only there is unchanged and left as it is)
TOUCHED_ONLY = "touched_only"

metadata = sa.MetaData()
"""Every table the package writes, under its default name."""

_ID = 250  # Airflow's own limit for connection, dag, run and task ids
_NAME = 64
_ACCOUNT = 128
_DIMENSION = 191  # keeps the MySQL utf8mb4 primary key under 3072 bytes


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back as an aware UTC ``datetime``.

    Naive values are taken as UTC. PostgreSQL stores ``TIMESTAMP WITH TIME ZONE``; MySQL and
    MariaDB ``DATETIME(6)`` (no session time-zone conversion, no 2038 limit); SQLite text that
    sorts and that its date functions read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=dialect.name == "postgresql"))

    def bind_processor(self, dialect: sa.Dialect) -> Any:
        if dialect.name == "sqlite":  # the text SQLAlchemy's SQLite DATETIME writes, built 10x faster
            return _sqlite_text
        return super().bind_processor(dialect)

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        utc = as_utc(value)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _sqlite_text(value: datetime | None) -> str | None:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC: SQLAlchemy's SQLite format; sorts, and SQLite's date functions read it."""
    # cut "+00:00" rather than replace(tzinfo=None), which costs about as much as the formatting
    return None if value is None else as_utc(value).isoformat(" ", "microseconds")[:26]


def _text(name: str, length: int, **kwargs: Any) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=kwargs.pop("nullable", False), **kwargs)


def _number(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.Numeric(18, 4), nullable=nullable)


def _time(name: str, nullable: bool = False, **kwargs: Any) -> sa.Column[datetime]:
    return sa.Column(name, UtcDateTime(), nullable=nullable, **kwargs)


BALANCES = sa.Table(
    "credit_balances",
    metadata,
    _text("connection_id", _ID, primary_key=True),
    _text("pool", _NAME, primary_key=True),
    _time("fetched_at", primary_key=True),
    _time("logical_date"),
    _text("dag_id", _ID, nullable=True),
    _text("run_id", _ID, nullable=True),
    _text("vendor", 32),
    _text("account", _ACCOUNT),
    _text("unit", 32),
    _number("remaining", nullable=True),
    _number("credit_limit", nullable=True),
    _number("used", nullable=True),
    _time("period_start", nullable=True),
    _time("period_end", nullable=True),
    # the Credits page: the latest snapshot and the history of each vendor, account and pool
    sa.Index(None, "vendor", "account", "pool", "fetched_at"),
    sa.Index(None, "fetched_at"),
    comment="one balance snapshot per credits connection, pool and read time; history only grows",
)
"""``credit_balances``: a snapshot per connection, pool and the time it was read (``fetched_at``);
``logical_date``, ``dag_id`` and ``run_id`` name the run that read it."""

USAGE = sa.Table(
    "credit_usage",
    metadata,
    _text("vendor", 32, primary_key=True),
    _text("account", _ACCOUNT, primary_key=True),
    _text("pool", _NAME, primary_key=True),
    _text("dimension", _DIMENSION, primary_key=True),
    _time("period_start", primary_key=True),
    _time("period_end", primary_key=True),
    _number("amount"),
    _text("unit", 32),
    _time("fetched_at"),
    # the Credits page and the runway: a pool's usage over a time range, and all pools' over one
    sa.Index(None, "vendor", "account", "pool", "period_start"),
    sa.Index(None, "period_start"),
    comment="credits used per vendor, account, pool, dimension and period (upserted)",
    info={TOUCHED_ONLY: ("fetched_at",)},
)
"""``credit_usage``: one row per vendor, account, pool, dimension and period."""

RESERVATIONS = sa.Table(
    "credit_reservations",
    metadata,
    _text("reservation_id", 36, primary_key=True),
    _text("connection_id", _ID),
    _text("pool", _NAME),
    _number("amount"),
    _text("dag_id", _ID),
    _text("run_id", _ID),
    _text("task_id", _ID),
    _number("map_index"),
    _time("created_at"),
    _time("expires_at"),
    _time("released_at", nullable=True),
    _number("spent", nullable=True),
    _text("spent_source", 16, nullable=True),
    _text("budget_key", _ID, nullable=True),
    _number("balance_before", nullable=True),
    sa.Index(None, "released_at", "expires_at"),  # the active ones (the Credits page)
    comment="credit reservations of gate tasks (one row per task instance)",
)
"""``credit_reservations``: one row per gate task instance (re-reserving overwrites it).

The current state of a reservation; its history is in the ledger (:data:`LEDGER`).
``spent``: credits spent so far (reported during the run, or the final figure at release;
NULL or 0 while nothing is known); ``spent_source``: ``reported``, ``measured`` or
``unknown`` (NULL while active and unreported); ``budget_key``: the budget the reservation
counts against (NULL: none); ``balance_before``: the pool's remaining credits the grant was
decided on (to measure the spend at release). Outstanding = ``max(amount - spent, 0)``.
"""

#: the kinds of ledger rows
LEDGER_KINDS = ("grant", "report", "release", "expiry")

LEDGER = sa.Table(
    "credit_ledger",
    metadata,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    _text("reservation_id", 36),
    _text("kind", 16),
    _text("dag_id", _ID),
    _text("run_id", _ID),
    _text("task_id", _ID),
    _number("map_index"),
    _text("connection_id", _ID),
    _text("pool", _NAME),
    _text("budget_key", _ID, nullable=True),
    _number("amount", nullable=True),
    _text("source", 16, nullable=True),
    _time("recorded_at"),
    _text("note", 500, nullable=True),
    sa.Index(None, "dag_id", "recorded_at"),
    sa.Index(None, "budget_key", "recorded_at"),
    sa.Index(None, "reservation_id"),
    comment="append-only ledger of credit reservations: grants, spend reports, releases, expiries",
)
"""``credit_ledger``: append-only, one row per grant, report, release and expiry of a reservation.

Next to a reservation table ``T`` it is ``credit_ledger`` when ``T`` is ``credit_reservations``,
else ``T_ledger`` (see :func:`airflow_provider_credits.ledger.ledger_table_name`).

* ``kind``: ``grant`` (``amount`` = credits reserved), ``report`` (``amount`` = credits spent
  since the previous report, ``source`` ``reported``), ``release`` (``amount`` = spend recorded
  by the release beyond the reports, possibly negative when a final figure corrects them; NULL
  when unknown; ``source`` ``reported``, ``measured`` or ``unknown``), ``expiry`` (the TTL ran
  out before a release; ``amount`` = what was still outstanding, ``source`` ``unknown``).
* ``dag_id``, ``run_id``, ``task_id``, ``map_index``: the task that wrote the row (the gate for
  grants and expiries, the reporting or releasing task otherwise).
* Spend in a period = the sum of ``amount`` of ``report`` and ``release`` rows recorded in it.
"""

LOCKS = sa.Table(
    "credit_reservations_locks",
    metadata,
    _text("connection_id", _ID, primary_key=True),
    _text("pool", _NAME, primary_key=True),
    comment="one row per credits connection and pool, locked while a gate reserves",
)
"""``credit_reservations_locks``: the row a reserving gate locks, one per connection and pool."""


@lru_cache(maxsize=256)
def table(default: sa.Table, name: TableName) -> sa.Table:
    """The table ``default`` under another name (its own ``MetaData``, the same columns and key).

    :param default: one of :data:`BALANCES`, :data:`USAGE`, :data:`RESERVATIONS`, :data:`LOCKS`,
        :data:`LEDGER`, :data:`ALERT_STATES`.
    :param name: the validated name to give it.
    """
    if name.table == default.name and name.schema is None:
        return default
    schema: Any = name.schema  # None: the connection's default schema
    copy = default.to_metadata(sa.MetaData(), schema=schema, name=name.table)
    for index in copy.indexes:  # copies keep the default's index names: unique per schema, so rename
        suffix = str(index.name).removeprefix(f"ix_{default.name}_")
        index.name = sa.sql.elements.conv(index_name(name.table, suffix))
    return copy


def index_name(table_name: str, suffix: str) -> str:
    """``ix_<table>_<suffix>``, shortened with a hash to PostgreSQL's 63 characters."""
    full = f"ix_{table_name}_{suffix}"
    if len(full) <= 63:
        return full
    import hashlib

    return f"{full[:54]}_{hashlib.sha1(full.encode()).hexdigest()[:8]}"


ALERT_STATES = sa.Table(
    "credit_alert_states",
    metadata,
    _text("watch_id", _ID, primary_key=True),
    _text("connection_id", _ID, primary_key=True),
    _text("pool", _NAME, primary_key=True),
    _text("state", 16),
    _number("remaining", nullable=True),
    _number("credit_limit", nullable=True),
    _text("detail", 500, nullable=True),
    _time("changed_at"),
    _time("checked_at"),
    comment="the last alert state of each watched pool (low-credit alerts, top-up watchers)",
)
"""``credit_alert_states``: one row per watcher (an alert check or a top-up trigger), credits
connection and pool, holding its last state; changed only by a conditional ``UPDATE``, so a
state change is seen (and notified) once."""
