"""Credit reservations: concurrent runs gated on the same credits must not overspend them.

A balance check alone races: five runs each see 1,000 credits, each needs 600, all pass. A
reserving gate instead records, atomically with its decision, how many credits it claims, and
every gate subtracts the active claims of the others from what the vendor reports.

:class:`ReservationStore` keeps the claims in a SQL table on any common-sql connection:

* ``credit_reservations``: one row per gate task (DAG, run, task, map index), the amount,
  ``expires_at`` (a TTL, so a killed run cannot hold credits forever) and ``released_at``
  (NULL while active);
* ``credit_reservations_locks``: one row per credits connection and pool, locked with
  ``SELECT ... FOR UPDATE`` while a gate counts the claims and adds its own (PostgreSQL,
  MySQL/MariaDB). SQLite takes its database write lock instead (``BEGIN IMMEDIATE``).

Reserving is one transaction: lock, sum the active claims of the others, decide with
:meth:`~airflow_provider_credits.gate.Gate.judge`, insert the claim only if the gate
passes, commit. Releasing is one idempotent ``UPDATE ... WHERE released_at IS NULL``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.models import Credits, utcnow
from airflow_provider_credits.sql import (
    MYSQL,
    POSTGRES,
    SQLITE,
    Column,
    TableName,
    TableSchemaError,
    TableSpec,
    as_utc,
    dialect_for,
    ensure_table,
    transaction,
)

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from airflow_provider_credits.gate import Gate, ThresholdDecision
    from airflow_provider_credits.models import CreditBalance
    from airflow_provider_credits.sql import SqlDialect

DEFAULT_TABLE = "credit_reservations"
"""Default reservation table; its lock table is the same name with ``_locks`` appended."""

DEFAULT_TTL = timedelta(hours=2)
"""How long a reservation holds credits unless it is released earlier."""

#: SQLite: how long a writer waits for the database lock before giving up (milliseconds)
SQLITE_BUSY_TIMEOUT_MS = 30_000

_ID_NAMESPACE = uuid.UUID("0f6d2f7e-55c1-4c4e-9a39-4b3b8f2a7c11")
_ID = 250  # Airflow's own limit for dag, run and task ids

RESERVATIONS = TableSpec(
    columns=(
        Column("reservation_id", "text", 36),
        Column("connection_id", "text", _ID),
        Column("pool", "text", 64),
        Column("amount", "number"),
        Column("dag_id", "text", _ID),
        Column("run_id", "text", _ID),
        Column("task_id", "text", _ID),
        Column("map_index", "number"),
        Column("created_at", "timestamp"),
        Column("expires_at", "timestamp"),
        Column("released_at", "timestamp", nullable=True),
    ),
    key=("reservation_id",),
)
"""``credit_reservations``: one row per gate task instance (re-reserving overwrites it)."""

LOCKS = TableSpec(
    columns=(Column("connection_id", "text", _ID), Column("pool", "text", 64)),
    key=("connection_id", "pool"),
)
"""``credit_reservations_locks``: the row a reserving gate locks, one per connection and pool."""


@dataclass(frozen=True)
class Holder:
    """The task instance a reservation belongs to.

    :param dag_id: the DAG.
    :param run_id: the DAG run.
    :param task_id: the gate task.
    :param map_index: the mapped task's index; -1 when not mapped.
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @classmethod
    def of(cls, context: Mapping[str, Any]) -> Holder:
        """The holder for the running task instance (``context["ti"]``).

        :param context: the task context.
        :raises CreditsConfigError: the context has no task instance.
        """
        ti = context.get("ti")
        if ti is None:
            raise CreditsConfigError("a credit reservation needs the task instance (context['ti'])")
        map_index = getattr(ti, "map_index", None)
        return cls(ti.dag_id, ti.run_id, ti.task_id, -1 if map_index is None else int(map_index))

    @property
    def reservation_id(self) -> str:
        """Deterministic id (UUID 5): a retried check of the same task instance reuses its reservation."""
        key = "\x1f".join((self.dag_id, self.run_id, self.task_id, str(self.map_index)))
        return str(uuid.uuid5(_ID_NAMESPACE, key))


class Reservation(BaseModel):
    """One row of the reservation table.

    :ivar reservation_id: see :attr:`Holder.reservation_id`.
    :ivar connection_id: the credits connection whose credits are reserved.
    :ivar pool: the credit pool's name (the resolved name, also for the primary pool).
    :ivar amount: credits reserved.
    :ivar dag_id: DAG of the gate task.
    :ivar run_id: run of the gate task.
    :ivar task_id: the gate task.
    :ivar map_index: its map index (-1 when not mapped).
    :ivar created_at: when the reservation was (last) made.
    :ivar expires_at: when it stops counting, released or not.
    :ivar released_at: when it was released; None while active.
    """

    model_config = ConfigDict(frozen=True)

    reservation_id: str
    connection_id: str
    pool: str
    amount: Credits
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    created_at: datetime
    expires_at: datetime
    released_at: datetime | None = None


@dataclass(frozen=True)
class Attempt:
    """The outcome of :meth:`ReservationStore.reserve`.

    :param decision: the decision, with the counted reservations in ``reserved``.
    :param counted: the other tasks' active reservations that were subtracted.
    :param reservation: the reservation made; None when the gate did not pass.
    """

    decision: ThresholdDecision
    counted: tuple[Reservation, ...] = ()
    reservation: Reservation | None = None

    @property
    def granted(self) -> bool:
        return self.reservation is not None

    def as_xcom(self, reservation_conn_id: str, table: str) -> dict[str, Any]:
        """The ``"reservation"`` part of the sensor's XCom (JSON).

        :param reservation_conn_id: the SQL connection holding the table.
        :param table: the reservation table.
        """
        mine = self.reservation.model_dump(mode="json") if self.reservation is not None else {}
        return {
            **mine,
            "reservation_conn_id": reservation_conn_id,
            "table": table,
            "counted": [
                r.model_dump(mode="json", exclude={"connection_id", "pool", "released_at"})
                for r in self.counted
            ],
        }


def total(reservations: Sequence[Reservation]) -> Decimal:
    """The credits held by ``reservations``."""
    return sum((r.amount for r in reservations), Decimal(0))


@dataclass
class ReservationStore:
    """Reservations in two tables of a common-sql database (SQLite, PostgreSQL, MySQL/MariaDB).

    No I/O until a method is called. Methods open a connection per transaction.

    :param conn_id: the common-sql connection holding the tables.
    :param table: reservation table (``table`` or ``schema.table``); the lock table is
        ``<table>_locks`` next to it.
    :param create_tables: create missing tables (never alters existing ones).
    """

    conn_id: str
    table: str = DEFAULT_TABLE
    create_tables: bool = True
    _ready: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)
    _tables_ready: bool = field(default=False, init=False, repr=False)

    @cached_property
    def table_name(self) -> TableName:
        return TableName.parse(self.table)

    @cached_property
    def lock_table_name(self) -> TableName:
        return TableName.parse(f"{self.table}_locks")

    @cached_property
    def hook(self) -> DbApiHook:
        """The connection's common-sql hook.

        :raises CreditsConfigError: the connection's hook is not a common-sql DbApiHook, or its provider
            is not installed (the message names the extra to install).
        """
        from airflow.providers.common.sql.hooks.sql import DbApiHook
        from airflow.providers.common.sql.operators.sql import BaseSQLOperator

        from airflow_provider_credits._extras import sql_provider_needed

        with sql_provider_needed(self.conn_id):
            hook = BaseSQLOperator.get_hook(self.conn_id)
        if not isinstance(hook, DbApiHook):
            raise CreditsConfigError(
                f"reservation connection {self.conn_id!r} is not a SQL database "
                f"({type(hook).__name__} is no common-sql DbApiHook)"
            )
        return hook

    @cached_property
    def dialect(self) -> SqlDialect:
        return dialect_for(self.hook)

    # ------------------------------------------------------------------ public

    def reserve(
        self,
        *,
        gate: Gate,
        balance: CreditBalance,
        connection_id: str,
        holder: Holder,
        ttl: timedelta = DEFAULT_TTL,
        now: datetime | None = None,
    ) -> Attempt:
        """Decide on ``balance`` minus the others' active reservations, and reserve if the gate passes.

        Atomic: concurrent callers for the same connection and pool are serialized, so the
        reservations granted never exceed what the balance they decided on allowed.

        :param gate: the gate (thresholds, pool, amount to reserve).
        :param balance: the balance just read from the vendor.
        :param connection_id: the credits connection the balance was read through.
        :param holder: the task instance reserving; its own earlier reservation is replaced.
        :param ttl: how long the reservation counts unless released.
        :param now: the current time (tests); default now.
        """
        pool = balance.pool(gate.credit_pool).name
        now = as_utc(now or utcnow())
        self._prepare(connection_id, pool)
        with self._transaction(exclusive=True) as cur:
            self._lock(cur, connection_id, pool)
            counted = tuple(self._active(cur, connection_id, pool, now, holder.reservation_id))
            decision = gate.judge(balance, reserved=total(counted))
            if not decision.met:
                return Attempt(decision, counted)
            reservation = Reservation(
                reservation_id=holder.reservation_id,
                connection_id=connection_id,
                pool=pool,
                amount=gate.amount(decision),
                dag_id=holder.dag_id,
                run_id=holder.run_id,
                task_id=holder.task_id,
                map_index=holder.map_index,
                created_at=now,
                expires_at=now + ttl,
            )
            cur.execute(
                self.dialect.upsert_sql(self.hook, self.table_name, RESERVATIONS), self._row(reservation)
            )
        return Attempt(decision, counted, reservation)

    def active(
        self, connection_id: str, pool: str, *, exclude: str | None = None, now: datetime | None = None
    ) -> list[Reservation]:
        """The active (unreleased, unexpired) reservations of a connection's pool; a plain read, no lock.

        :param connection_id: the credits connection.
        :param pool: the pool's name.
        :param exclude: a reservation id not to return (the caller's own).
        :param now: the current time (tests); default now.
        """
        self._prepare(connection_id, pool)
        with self._transaction() as cur:
            return self._active(cur, connection_id, pool, as_utc(now or utcnow()), exclude or "")

    def release(
        self,
        *,
        dag_id: str,
        run_id: str,
        task_ids: Sequence[str] | None = None,
        map_index: int | None = None,
        now: datetime | None = None,
    ) -> int:
        """Release a run's active reservations; releasing again changes nothing.

        :param dag_id: the DAG.
        :param run_id: the DAG run.
        :param task_ids: only the reservations of these gate tasks; None for all of the run.
        :param map_index: only this map index; None for all.
        :param now: the release time (tests); default now.
        :return: how many reservations were released by this call.
        """
        self._ensure_tables()
        d, p = self.dialect, self.hook.placeholder
        where = [f"{d.ident('dag_id')} = {p}", f"{d.ident('run_id')} = {p}"]
        params: list[Any] = [dag_id, run_id]
        if task_ids is not None:
            if not task_ids:
                return 0
            where.append(f"{d.ident('task_id')} IN ({', '.join([p] * len(task_ids))})")
            params.extend(task_ids)
        if map_index is not None:
            where.append(f"{d.ident('map_index')} = {p}")
            params.append(map_index)
        sql = (
            f"UPDATE {d.ident(self.table_name)} SET {d.ident('released_at')} = {p} "
            f"WHERE {' AND '.join(where)} AND {d.ident('released_at')} IS NULL"
        )
        with self._transaction() as cur:
            cur.execute(sql, [d.adapters().timestamp(as_utc(now or utcnow())), *params])
            return max(int(cur.rowcount), 0)

    def get(self, reservation_id: str) -> Reservation | None:
        """One reservation by id, active or not.

        :param reservation_id: the id.
        """
        self._ensure_tables()
        with self._transaction() as cur:
            cur.execute(
                f"{self._select()} WHERE {self.dialect.ident('reservation_id')} = {self.hook.placeholder}",
                (reservation_id,),
            )
            rows = cur.fetchall()
        return self._reservation(rows[0]) if rows else None

    # ---------------------------------------------------------------- internal

    @contextmanager
    def _transaction(self, *, exclusive: bool = False) -> Iterator[Any]:
        """A transaction that reads committed data; ``exclusive`` takes SQLite's write lock at once."""
        with transaction(self.hook) as cur:
            if self.dialect is SQLITE:
                cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                if exclusive:
                    cur.execute("BEGIN IMMEDIATE")
            elif self.dialect is POSTGRES:
                # the sum read after taking the lock must see every reservation committed before
                cur.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            elif self.dialect is MYSQL:
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            yield cur

    def _ensure_tables(self) -> None:
        if self._tables_ready:
            return
        # Concurrent first runs may race to create the tables (PostgreSQL then fails one
        # CREATE TABLE IF NOT EXISTS with a duplicate key): try again, the table exists then.
        for attempt in range(3):
            try:
                with self._transaction() as cur:
                    ensure_table(cur, self.dialect, self.table_name, RESERVATIONS, self.create_tables)
                    if self.dialect is not SQLITE:
                        ensure_table(cur, self.dialect, self.lock_table_name, LOCKS, self.create_tables)
                break
            except TableSchemaError:
                raise
            except Exception:
                if attempt == 2:
                    raise
        self._tables_ready = True

    def _prepare(self, connection_id: str, pool: str) -> None:
        """Ensure the tables and the lock row exist, in a transaction of their own.

        Inserting the lock row inside the reserving transaction would deadlock MySQL (two
        shared locks from INSERT IGNORE both upgraded by FOR UPDATE), hence a separate commit.
        """
        self._ensure_tables()
        if self.dialect is SQLITE or (connection_id, pool) in self._ready:
            return
        d, p = self.dialect, self.hook.placeholder
        table = d.ident(self.lock_table_name)
        columns = f"{d.ident('connection_id')}, {d.ident('pool')}"
        if d is MYSQL:
            sql, params = f"INSERT IGNORE INTO {table} ({columns}) VALUES ({p}, {p})", [connection_id, pool]
        elif d is POSTGRES:
            sql, params = (
                f"INSERT INTO {table} ({columns}) VALUES ({p}, {p}) ON CONFLICT DO NOTHING",
                [
                    connection_id,
                    pool,
                ],
            )
        else:
            sql = (
                f"INSERT INTO {table} ({columns}) SELECT {p}, {p} WHERE NOT EXISTS "
                f"(SELECT 1 FROM {table} WHERE {d.ident('connection_id')} = {p} AND {d.ident('pool')} = {p})"
            )
            params = [connection_id, pool, connection_id, pool]
        with self._transaction() as cur:
            cur.execute(sql, params)
        self._ready.add((connection_id, pool))

    def _lock(self, cur: Any, connection_id: str, pool: str) -> None:
        """Lock the pool's row until the transaction ends (SQLite: already locked by BEGIN IMMEDIATE)."""
        if self.dialect is SQLITE:
            return
        d, p = self.dialect, self.hook.placeholder
        cur.execute(
            f"SELECT {d.ident('pool')} FROM {d.ident(self.lock_table_name)} "
            f"WHERE {d.ident('connection_id')} = {p} AND {d.ident('pool')} = {p} FOR UPDATE",
            (connection_id, pool),
        )
        if not cur.fetchall():
            self._ready.discard((connection_id, pool))
            raise CreditsConfigError(
                f"lock row ({connection_id!r}, {pool!r}) vanished from {self.lock_table_name}; try again"
            )

    def _select(self) -> str:
        columns = ", ".join(self.dialect.ident(n) for n in RESERVATIONS.names)
        return f"SELECT {columns} FROM {self.dialect.ident(self.table_name)}"

    def _active(
        self, cur: Any, connection_id: str, pool: str, now: datetime, exclude: str
    ) -> list[Reservation]:
        d, p = self.dialect, self.hook.placeholder
        cur.execute(
            f"{self._select()} WHERE {d.ident('connection_id')} = {p} AND {d.ident('pool')} = {p} "
            f"AND {d.ident('released_at')} IS NULL AND {d.ident('expires_at')} > {p} "
            f"AND {d.ident('reservation_id')} <> {p} ORDER BY {d.ident('created_at')}",
            (connection_id, pool, d.adapters().timestamp(now), exclude),
        )
        return [self._reservation(row) for row in cur.fetchall()]

    def _row(self, r: Reservation) -> list[Any]:
        adapt = self.dialect.adapters()
        return [
            r.reservation_id,
            r.connection_id,
            r.pool,
            adapt.number(r.amount),
            r.dag_id,
            r.run_id,
            r.task_id,
            adapt.number(Decimal(r.map_index)),
            adapt.timestamp(r.created_at),
            adapt.timestamp(r.expires_at),
            adapt.timestamp(r.released_at),
        ]

    @staticmethod
    def _reservation(row: Sequence[Any]) -> Reservation:
        values = dict(zip(RESERVATIONS.names, row, strict=True))
        for name in ("created_at", "expires_at", "released_at"):
            values[name] = _read_time(values[name])
        values["amount"] = Decimal(str(values["amount"]))
        values["map_index"] = int(values["map_index"])
        return Reservation(**values)


def _read_time(value: datetime | str | None) -> datetime | None:
    """A timestamp column as an aware UTC datetime (SQLite returns ISO text, MySQL naive UTC)."""
    if value is None:
        return None
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
