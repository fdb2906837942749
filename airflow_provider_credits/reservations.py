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
passes, commit. Releasing is one idempotent ``UPDATE ... WHERE released_at IS NULL``. The
tables are defined in :mod:`airflow_provider_credits.storage.tables`; all SQL comes from
SQLAlchemy Core (:mod:`airflow_provider_credits.storage.database`).

From a shell, without SQL (see docs/reservations.md)::

    python -m airflow_provider_credits.reservations list --conn-id credits_db [--table T] [--vendor-conn C]
    python -m airflow_provider_credits.reservations release --conn-id credits_db (--id ID | --dag-id D [--run-id R])
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from airflow_provider_credits.amounts import fmt
from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.models import Credits, _number_to_json, as_utc, utcnow
from airflow_provider_credits.storage.names import TableName

if TYPE_CHECKING:
    import sqlalchemy as sa
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from airflow_provider_credits.gate import Gate, ThresholdDecision
    from airflow_provider_credits.ledger import Budget
    from airflow_provider_credits.models import CreditBalance
    from airflow_provider_credits.storage.database import Database

DEFAULT_TABLE = "credit_reservations"
"""Default reservation table; its lock table is the same name with ``_locks`` appended."""

DEFAULT_TTL = timedelta(hours=2)
"""How long a reservation holds credits unless it is released earlier."""

_ID_NAMESPACE = uuid.UUID("0f6d2f7e-55c1-4c4e-9a39-4b3b8f2a7c11")

#: prefix of the lock-table "connection" under which a budget key is locked (pool ``*``)
_BUDGET_LOCK = "budget:"

MEASURE_WINDOW = timedelta(seconds=60)
"""A grant records the balance it decided on (to measure the spend at release) only when that
balance is at most this old; other reservations ending this long before count as overlapping."""

log = logging.getLogger(__name__)


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
    :ivar spent: credits spent so far (reports, or the final figure at release); None: nothing known.
    :ivar spent_source: ``reported``, ``measured`` or ``unknown``; None while unreported.
    :ivar budget_key: the budget the reservation counts against; None for none.
    :ivar balance_before: the pool's remaining credits the grant was decided on.
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
    spent: Credits | None = None
    spent_source: str | None = None
    budget_key: str | None = None
    balance_before: Credits | None = None

    @property
    def holder(self) -> Holder:
        """The task instance that holds the reservation."""
        return Holder(self.dag_id, self.run_id, self.task_id, self.map_index)

    @property
    def outstanding(self) -> Decimal:
        """``amount - spent`` (never below 0); 0 once released (see :func:`airflow_provider_credits.ledger.outstanding`)."""
        from airflow_provider_credits.ledger import outstanding

        return outstanding(self)


@dataclass(frozen=True)
class Attempt:
    """The outcome of :meth:`ReservationStore.reserve`.

    :param decision: the decision, with the counted reservations in ``reserved``.
    :param counted: the other tasks' active reservations that were subtracted.
    :param reservation: the reservation made; None when the gate did not pass.
    :param refusal: when the balance was enough but a budget or the runway refused.
    """

    decision: ThresholdDecision
    counted: tuple[Reservation, ...] = ()
    reservation: Reservation | None = None
    refusal: Refusal | None = None

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
                {
                    **r.model_dump(
                        mode="json", exclude={"connection_id", "pool", "released_at", "balance_before"}
                    ),
                    "outstanding": _number_to_json(r.outstanding),
                }
                for r in self.counted
            ],
        }


@dataclass(frozen=True)
class Refusal:
    """Why a gate whose balance was enough did not reserve.

    :param by: ``budget`` or ``runway``.
    :param message: one line for the log.
    :param details: JSON-ready numbers (for the XCom).
    :param action: what the refusal means: ``wait``, ``fail`` or ``skip`` (a runway refusal waits).
    """

    by: str
    message: str
    details: dict[str, Any]
    action: str = "wait"

    def as_xcom(self) -> dict[str, Any]:
        return {"blocked_by": self.by, "message": self.message, "action": self.action, **self.details}


@dataclass(frozen=True)
class RunwayNeed:
    """The runway gate's input, read from the stored history before reserving.

    :param days: the runway the pool must keep after the reservation (days).
    :param burn_per_day: the pool's burn rate (:func:`~airflow_provider_credits.forecast.forecast`);
        None when unknown (too little history) or nothing burns: the gate then passes.
    """

    days: Decimal
    burn_per_day: Decimal | None


def total(reservations: Sequence[Reservation]) -> Decimal:
    """The credits held by ``reservations``: the sum of their outstanding amounts (``amount - spent``)."""
    return sum((r.outstanding for r in reservations), Decimal(0))


@dataclass
class ReservationStore:
    """Reservations in two tables of a common-sql database (SQLite, PostgreSQL, MySQL/MariaDB).

    No I/O until a method is called. Methods open a connection per transaction. Database
    errors are raised as :class:`~airflow_provider_credits.exceptions.CreditsStorageError`
    (naming the table and the operation) after the transaction was rolled back.

    :param conn_id: the common-sql connection holding the tables.
    :param table: reservation table (``table`` or ``schema.table``); the lock table is
        ``<table>_locks`` next to it.
    :param create_tables: create missing tables and add the indexes an existing one lacks (never
        drops or otherwise alters one; the upgrade of an older version's layout runs either way).
    """

    conn_id: str
    table: str = DEFAULT_TABLE
    create_tables: bool = True
    _ready: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)
    _tables_ready: set[str] = field(default_factory=set, init=False, repr=False)

    @cached_property
    def table_name(self) -> TableName:
        return TableName.parse(self.table)

    @cached_property
    def lock_table_name(self) -> TableName:
        return TableName.parse(f"{self.table}_locks")

    @cached_property
    def ledger_table_name(self) -> TableName:
        """The ledger next to the reservation table (see :func:`airflow_provider_credits.ledger.ledger_table_name`)."""
        from airflow_provider_credits.ledger import ledger_table_name

        return TableName.parse(ledger_table_name(self.table))

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
    def db(self) -> Database:
        from airflow_provider_credits.storage.database import Database

        return Database(self.hook)

    @cached_property
    def _table(self) -> sa.Table:
        from airflow_provider_credits.storage.tables import RESERVATIONS, table

        return table(RESERVATIONS, self.table_name)

    @cached_property
    def _ledger(self) -> sa.Table:
        from airflow_provider_credits.storage.tables import LEDGER, table

        return table(LEDGER, self.ledger_table_name)

    @cached_property
    def _locks(self) -> sa.Table:
        from airflow_provider_credits.storage.tables import LOCKS, table

        return table(LOCKS, self.lock_table_name)

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
        budget: Budget | None = None,
        runway: RunwayNeed | None = None,
    ) -> Attempt:
        """Decide on ``balance`` minus the others' outstanding reservations, and reserve if the gate passes.

        Atomic: concurrent callers for the same connection and pool are serialized (and for the
        same budget key, when ``budget`` is given), so the reservations granted never exceed
        what the balance they decided on allowed, nor the budget. The others' outstanding
        amounts count their spend reports up to ``balance.fetched_at`` only: a report that
        arrived after the balance was read is not yet in that balance; for the same reason a
        reservation released or expired after that read still counts, with what it held then. Reservations of the pool
        that expired unreleased get their ``expiry`` ledger row here; the grant gets a
        ``grant`` row.

        :param gate: the gate (thresholds, pool, amount to reserve).
        :param balance: the balance just read from the vendor.
        :param connection_id: the credits connection the balance was read through.
        :param holder: the task instance reserving; its own earlier reservation is replaced.
        :param ttl: how long the reservation counts unless released.
        :param now: the current time (tests); default now.
        :param budget: a budget the reservation must fit in (with the key's spend in the period
            and its other outstanding reservations).
        :param runway: the runway the pool must keep after the reservation.
        :raises CreditsConfigError: the budget is below the amount to reserve (it could never pass).
        :raises CreditsStorageError: the database failed (nothing was reserved).
        """
        import sqlalchemy as sa

        from airflow_provider_credits.ledger import period_bounds

        pool = balance.pool(gate.credit_pool).name
        now = as_utc(now or utcnow())
        key = budget.key_for(holder.dag_id) if budget is not None else None
        self._prepare(connection_id, pool)
        budget_lock = (f"{_BUDGET_LOCK}{key}"[:250], "*") if key is not None else None
        if budget_lock is not None:
            self._prepare(*budget_lock)
        with self._errors("reserving credits"), self._transaction(exclusive=True) as conn:
            if budget_lock is not None:  # budget first, then pool: one order for every gate, no deadlock
                self._lock(conn, *budget_lock)
            self._lock(conn, connection_id, pool)
            self._record_expiries(conn, now, connection_id, pool)
            read_at = min(as_utc(balance.fetched_at), now)
            counted = tuple(
                self._active(conn, now, connection_id, pool, exclude=holder.reservation_id, as_of=read_at)
            )
            late = self._reported_since(conn, counted, read_at)
            held = sum(
                (max(r.amount - ((r.spent or Decimal(0)) - late.get(r.reservation_id, 0)), Decimal(0))
                 for r in counted),
                Decimal(0),
            )  # fmt: skip
            decision = gate.judge(balance, reserved=held)
            if not decision.met:
                return Attempt(decision, counted)
            amount = gate.amount(decision)
            refusal = None
            if budget is not None and key is not None:
                refusal = self._over_budget(
                    conn, now, budget, key, amount, holder, period_bounds(budget.period, now)
                )
            if refusal is None and runway is not None:
                refusal = _short_runway(decision.remaining - held - amount, runway, decision.unit)
            if refusal is not None:
                return Attempt(decision, counted, refusal=refusal)
            fresh = now - as_utc(balance.fetched_at) <= MEASURE_WINDOW
            reservation = Reservation(
                reservation_id=holder.reservation_id,
                connection_id=connection_id,
                pool=pool,
                amount=amount,
                **asdict(holder),
                created_at=now,
                expires_at=now + ttl,
                budget_key=key,
                balance_before=decision.remaining if fresh else None,
            )
            conn.execute(
                self.db.upsert_statement(self._table, reservation.model_dump(exclude={"outstanding"}))
            )
            conn.execute(
                sa.insert(self._ledger).values(
                    _entry(reservation, "grant", holder, amount, None, now, f"ttl {ttl}")
                )
            )
        return Attempt(decision, counted, reservation)

    def report(
        self, reservation_id: str, amount: Any, *, reporter: Holder, now: datetime | None = None
    ) -> Reservation:
        """Add ``amount`` credits to a reservation's spend (a ``report`` ledger row), atomically.

        Reports add up: call it per page of results, or once at the end. Spending more than
        was reserved is recorded and logged as a warning (the ledger row's note says so).
        A reservation whose TTL ran out unreleased still takes reports (the spend happened).

        :param reservation_id: the gate's reservation.
        :param amount: credits spent since the last report (a number >= 0 or numeric string).
        :param reporter: the task reporting (the ledger row names it).
        :param now: the report time (tests); default now.
        :returns: the reservation after the report.
        :raises CreditsConfigError: a negative or non-numeric amount, an unknown reservation, or
            a released one.
        :raises CreditsStorageError: the database failed (nothing was recorded).
        """
        import sqlalchemy as sa

        from airflow_provider_credits.ledger import parse_spend

        spent = parse_spend(amount, name="spend")
        now = as_utc(now or utcnow())
        self._ensure_tables()
        t = self._table
        with self._errors("reporting spend"), self._transaction() as conn:
            changed = conn.execute(
                sa.update(t)
                .where(t.c.reservation_id == reservation_id, t.c.released_at.is_(None))
                .values(spent=sa.func.coalesce(t.c.spent, 0) + spent, spent_source="reported")
            ).rowcount
            row = conn.execute(sa.select(t).where(t.c.reservation_id == reservation_id)).mappings().first()
            if row is None:
                raise CreditsConfigError(f"no credit reservation {reservation_id!r} in {self.table_name}")
            mine = _reservation(row)
            if not changed:
                raise CreditsConfigError(
                    f"spend reported on a released reservation ({reservation_id}, released at "
                    f"{mine.released_at}); report before the release, or give the final figure "
                    "to the release (spent=...)"
                )
            note = _overspend_note(mine)
            if mine.expires_at <= now:
                note = "; ".join(filter(None, [note, "reported after the reservation expired"]))
            conn.execute(
                sa.insert(self._ledger).values(_entry(mine, "report", reporter, spent, "reported", now, note))
            )
        return mine

    def overlapping(self, reservation: Reservation, *, now: datetime | None = None) -> bool:
        """Whether another reservation of the same pool overlapped ``reservation`` in time (so a
        balance difference cannot be attributed to it alone).

        :raises CreditsStorageError: the database failed.
        """
        import sqlalchemy as sa

        t = self._table
        end = as_utc(now or utcnow())
        query = (
            sa.select(sa.func.count())
            .select_from(t)
            .where(
                t.c.connection_id == reservation.connection_id,
                t.c.pool == reservation.pool,
                t.c.reservation_id != reservation.reservation_id,
                t.c.created_at < end,
                sa.func.coalesce(t.c.released_at, t.c.expires_at) > reservation.created_at - MEASURE_WINDOW,
            )
        )
        with self._errors("reading reservations"), self._transaction() as conn:
            return bool(conn.execute(query).scalar_one())

    def active(
        self, connection_id: str, pool: str, *, exclude: str | None = None, now: datetime | None = None
    ) -> list[Reservation]:
        """The active (unreleased, unexpired) reservations of a connection's pool; a plain read, no lock.

        :param connection_id: the credits connection.
        :param pool: the pool's name.
        :param exclude: a reservation id not to return (the caller's own).
        :param now: the current time (tests); default now.
        :raises CreditsStorageError: the database failed.
        """
        self._prepare(connection_id, pool)
        with self._errors("reading reservations"), self._transaction() as conn:
            return self._active(conn, as_utc(now or utcnow()), connection_id, pool, exclude=exclude)

    def list_active(
        self, connection_id: str | None = None, *, now: datetime | None = None
    ) -> list[Reservation]:
        """Every active reservation, oldest first; of one credits connection when it is given.

        :param connection_id: only this credits connection's reservations; None for all.
        :param now: the current time (tests); default now.
        :raises CreditsStorageError: the database failed.
        """
        self._ensure_tables()
        with self._errors("reading reservations"), self._transaction() as conn:
            return self._active(conn, as_utc(now or utcnow()), connection_id)

    def release(
        self,
        *,
        dag_id: str,
        run_id: str | None,
        task_ids: Sequence[str] | None = None,
        map_index: int | None = None,
        now: datetime | None = None,
        spent: Any = None,
        releaser: Holder | None = None,
        measure: Callable[[Reservation], Decimal | None] | None = None,
    ) -> int:
        """Release a run's active reservations; releasing again changes nothing.

        :param dag_id: the DAG.
        :param run_id: the DAG run; None for every run of the DAG.
        :param task_ids: only the reservations of these gate tasks; None for all of the run.
        :param map_index: only this map index; None for all.
        :param now: the release time (tests); default now.
        :param spent: the final figure of what the work spent (see :meth:`settle`).
        :param releaser: the task releasing (named by the ledger rows).
        :param measure: see :meth:`settle`.
        :return: how many reservations were released by this call.
        :raises CreditsConfigError: see :meth:`settle`.
        :raises CreditsStorageError: the database failed (nothing was released).
        """
        if task_ids is not None and not task_ids:
            return 0
        t = self._table
        where = [t.c.dag_id == dag_id]
        if run_id is not None:
            where.append(t.c.run_id == run_id)
        if task_ids is not None:
            where.append(t.c.task_id.in_(list(task_ids)))
        if map_index is not None:
            where.append(t.c.map_index == map_index)
        return len(self.settle(where, now=now, spent=spent, releaser=releaser, measure=measure))

    def release_id(
        self,
        reservation_id: str,
        *,
        now: datetime | None = None,
        spent: Any = None,
        releaser: Holder | None = None,
    ) -> int:
        """Release one reservation by id (1 if it was active, else 0).

        :raises CreditsStorageError: the database failed.
        """
        where = [self._table.c.reservation_id == reservation_id]
        return len(self.settle(where, now=now, spent=spent, releaser=releaser))

    def settle(
        self,
        where: list[Any],
        *,
        now: datetime | None = None,
        spent: Any = None,
        releaser: Holder | None = None,
        measure: Callable[[Reservation], Decimal | None] | None = None,
    ) -> list[Reservation]:
        """Release the unreleased reservations matching ``where``, recording their spend.

        The spend of each: ``spent`` when given (the final total, ``reported``); else what the
        work reported (``reported``); else ``measure(reservation)`` when it gives a figure
        (``measured``); else ``unknown``. Each release is a ``release`` ledger row whose amount
        is what it adds to the reports (a final figure below them is recorded as a negative
        correction, with a warning). More spent than reserved is recorded and warned about.

        :param where: SQLAlchemy conditions on the reservation table.
        :param now: the release time (tests); default now.
        :param spent: the final figure (number >= 0 or numeric string); only for one reservation.
        :param releaser: the task releasing; default the reservation's gate.
        :param measure: reads the spend of a reservation that reported nothing (None: unknown).
        :returns: the reservations this call released, as released.
        :raises CreditsConfigError: ``spent`` is unusable, or given while several reservations match.
        :raises CreditsStorageError: the database failed.
        """
        import sqlalchemy as sa

        from airflow_provider_credits.ledger import parse_spend

        final = None if spent is None else parse_spend(spent)
        now = as_utc(now or utcnow())
        self._ensure_tables()
        t = self._table
        with self._errors("reading reservations"), self._transaction() as conn:
            pending = [
                _reservation(row)
                for row in conn.execute(sa.select(t).where(*where, t.c.released_at.is_(None))).mappings()
            ]
        if final is not None and len(pending) > 1:
            raise CreditsConfigError(
                f"spent={spent!r} is one figure, but {len(pending)} reservations would be released "
                f"({', '.join(sorted(f'{r.task_id}[{r.map_index}]' for r in pending))}); name one gate "
                "with gate_task_ids"
            )
        released = []
        for r in pending:
            reported = r.spent if r.spent_source == "reported" and r.spent is not None else None
            note = None
            if final is not None:
                total_spent, source, added = final, "reported", final - (reported or Decimal(0))
                if added < 0:
                    note = f"final figure {final} is below the {reported} reported: corrected"
                    log.warning("reservation %s: %s", r.reservation_id, note)
            elif reported is not None:
                total_spent, source, added = reported, "reported", Decimal(0)
            else:
                measured = measure(r) if measure is not None else None
                if measured is not None:
                    total_spent, source, added = measured, "measured", measured
                else:
                    total_spent, source, added = None, "unknown", None
            done = r.model_copy(update={"released_at": now, "spent": total_spent, "spent_source": source})
            note = "; ".join(filter(None, [note, _overspend_note(done)])) or None
            with self._errors("releasing reservations"), self._transaction() as conn:
                changed = conn.execute(
                    sa.update(t)
                    .where(t.c.reservation_id == r.reservation_id, t.c.released_at.is_(None))
                    .values(released_at=now, spent=total_spent, spent_source=source)
                ).rowcount
                if changed:
                    who = releaser or r.holder
                    conn.execute(
                        sa.insert(self._ledger).values(_entry(done, "release", who, added, source, now, note))
                    )
            if changed:
                released.append(done)
        return released

    def get(self, reservation_id: str) -> Reservation | None:
        """One reservation by id, active or not.

        :param reservation_id: the id.
        :raises CreditsStorageError: the database failed.
        """
        import sqlalchemy as sa

        self._ensure_tables()
        t = self._table
        with self._errors("reading reservations"), self._transaction() as conn:
            row = conn.execute(sa.select(t).where(t.c.reservation_id == reservation_id)).mappings().first()
        return None if row is None else _reservation(row)

    # ---------------------------------------------------------------- internal

    @contextmanager
    def _transaction(self, *, exclusive: bool = False) -> Iterator[sa.Connection]:
        """A transaction that reads committed data; ``exclusive`` takes SQLite's write lock at once."""
        with self.db.begin(exclusive=exclusive, read_committed=True) as conn:
            yield conn

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        with self.db.errors(operation, self.table_name):
            yield

    def _ensure_tables(self, *, locks: bool = False) -> None:
        """Create (if allowed) and check the reservation table and its ledger, and the lock table when ``locks``."""
        tables = [
            t
            for t in ([self._table, self._ledger, self._locks] if locks else [self._table, self._ledger])
            if t.name not in self._tables_ready
        ]
        if tables:
            self.db.prepare(tables, create=self.create_tables)
            self._tables_ready.update(t.name for t in tables)

    def _prepare(self, connection_id: str, pool: str) -> None:
        """Ensure the tables and the lock row exist, in a transaction of their own.

        Inserting the lock row inside the reserving transaction would deadlock MySQL (two
        shared locks from the insert both upgraded by FOR UPDATE), hence a separate commit.
        """
        self._ensure_tables(locks=True)
        if (connection_id, pool) in self._ready:
            return
        stmt = self.db.insert_missing_statement(self._locks).values(connection_id=connection_id, pool=pool)
        with self._errors("preparing the lock row"), self._transaction() as conn:
            conn.execute(stmt)
        self._ready.add((connection_id, pool))

    def _lock(self, conn: sa.Connection, connection_id: str, pool: str) -> None:
        """Lock the pool's row until the transaction ends (SQLite: locked already by BEGIN IMMEDIATE)."""
        import sqlalchemy as sa

        locks = self._locks
        query = sa.select(locks.c.pool).where(locks.c.connection_id == connection_id, locks.c.pool == pool)
        if not conn.execute(query.with_for_update()).all():
            self._ready.discard((connection_id, pool))
            raise CreditsConfigError(
                f"lock row ({connection_id!r}, {pool!r}) vanished from {self.lock_table_name}; try again"
            )

    def _record_expiries(self, conn: sa.Connection, now: datetime, connection_id: str, pool: str) -> None:
        """Append an ``expiry`` row for each reservation of the pool that expired unreleased (once)."""
        import sqlalchemy as sa

        t, led = self._table, self._ledger
        already = (
            sa.select(led.c.entry_id)
            .where(
                led.c.reservation_id == t.c.reservation_id,
                led.c.kind == "expiry",
                led.c.recorded_at == t.c.expires_at,
            )
            .exists()
        )
        query = sa.select(t).where(
            t.c.connection_id == connection_id,
            t.c.pool == pool,
            t.c.released_at.is_(None),
            t.c.expires_at <= now,
            ~already,
        )
        for row in conn.execute(query).mappings().all():
            r = _reservation(row)
            left = max(r.amount - (r.spent or Decimal(0)), Decimal(0))
            note = "expired unreleased: the TTL ran out before a release"
            conn.execute(
                sa.insert(led).values(_entry(r, "expiry", r.holder, left, "unknown", r.expires_at, note))
            )

    def _reported_since(
        self, conn: sa.Connection, reservations: Sequence[Reservation], since: datetime
    ) -> dict[str, Decimal]:
        """Credits each of ``reservations`` reported (or set at release) after ``since``: not in a balance read then."""
        import sqlalchemy as sa

        ids = [r.reservation_id for r in reservations if r.spent]
        if not ids:
            return {}
        led = self._ledger
        query = (
            sa.select(led.c.reservation_id, sa.func.sum(led.c.amount))
            .where(
                led.c.reservation_id.in_(ids),
                led.c.kind.in_(("report", "release")),
                led.c.recorded_at > since,
                led.c.amount.is_not(None),
            )
            .group_by(led.c.reservation_id)
        )
        return {rid: Decimal(str(amount or 0)) for rid, amount in conn.execute(query).all()}

    def _over_budget(
        self,
        conn: sa.Connection,
        now: datetime,
        budget: Budget,
        key: str,
        amount: Decimal,
        holder: Holder,
        period: tuple[datetime, datetime],
    ) -> Refusal | None:
        """The budget refusal, or None when the key's spend + outstanding + ``amount`` fits."""
        import sqlalchemy as sa

        if amount > budget.amount:
            raise CreditsConfigError(
                f"budget {budget.amount} per {budget.period} of {key!r} is below the {amount} credits this "
                "gate reserves: it could never pass; raise the budget or reserve less"
            )
        t, led = self._table, self._ledger
        spent = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(led.c.amount), 0)).where(
                led.c.budget_key == key,
                led.c.kind.in_(("report", "release")),
                led.c.amount.is_not(None),
                led.c.recorded_at >= period[0],
                led.c.recorded_at < period[1],
            )
        ).scalar_one()
        spent = Decimal(str(spent))
        rows = conn.execute(
            sa.select(t.c.amount, t.c.spent).where(
                t.c.budget_key == key,
                t.c.released_at.is_(None),
                t.c.expires_at > now,
                t.c.reservation_id != holder.reservation_id,
            )
        ).all()
        held = sum((max(Decimal(str(a)) - Decimal(str(s or 0)), Decimal(0)) for a, s in rows), Decimal(0))
        if spent + held + amount <= budget.amount:
            return None
        left = max(budget.amount - spent - held, Decimal(0))
        message = (
            f"budget {key!r}: {fmt(spent)} spent this {budget.period} (since {period[0]:%Y-%m-%d} UTC) and "
            f"{fmt(held)} held by other reservations of {fmt(budget.amount)}; {fmt(left)} left, "
            f"{fmt(amount)} needed: refused by the budget, not the balance ({budget.refusal}; the period "
            f"ends {period[1]:%Y-%m-%d %H:%M} UTC)"
        )
        details = {
            "budget_key": key,
            "budget": fmt(budget.amount),
            "budget_period": budget.period,
            "period_start": period[0].isoformat(),
            "period_end": period[1].isoformat(),
            "spent": fmt(spent),
            "outstanding": fmt(held),
            "needed": fmt(amount),
        }
        return Refusal("budget", message, details, budget.refusal)

    def _active(
        self,
        conn: sa.Connection,
        now: datetime,
        connection_id: str | None = None,
        pool: str | None = None,
        *,
        exclude: str | None = None,
        as_of: datetime | None = None,
    ) -> list[Reservation]:
        """The reservations holding credits at ``now``; with ``as_of`` (when a balance was read),
        also those released or expired after it: that balance does not show what they spent."""
        import sqlalchemy as sa

        t = self._table
        if as_of is None:
            where = [t.c.released_at.is_(None), t.c.expires_at > now]
        else:  # held when the balance was read: released or expired since, its spend is not in it
            where = [sa.or_(t.c.released_at.is_(None), t.c.released_at > as_of), t.c.expires_at > as_of]
        if connection_id is not None:
            where.append(t.c.connection_id == connection_id)
        if pool is not None:
            where.append(t.c.pool == pool)
        if exclude:
            where.append(t.c.reservation_id != exclude)
        rows = conn.execute(sa.select(t).where(*where).order_by(t.c.created_at)).mappings()
        return [_reservation(row) for row in rows]


def _short_runway(after: Decimal, runway: RunwayNeed, unit: str) -> Refusal | None:
    """The runway refusal, or None when ``after`` (credits left after reserving) lasts ``runway.days``."""
    if runway.burn_per_day is None:
        return None  # unknown or not burning: nothing to protect (the sensor logs it)
    needed = runway.burn_per_day * runway.days
    if after >= needed:
        return None
    message = (
        f"runway: {fmt(after)} {unit} would be left after this reservation, less than "
        f"{fmt(runway.days)} days of burn at {fmt(round(runway.burn_per_day, 4))} {unit}/day "
        f"({fmt(round(needed, 4))} {unit}): refused by the runway, not the balance"
    )
    details = {
        "min_runway_days": fmt(runway.days),
        "burn_per_day": fmt(runway.burn_per_day),
        "left_after": fmt(after),
        "runway_needed": fmt(needed),
    }
    return Refusal("runway", message, details)


def _overspend_note(r: Reservation) -> str | None:
    """A note (and a warning in the log) when ``r`` spent more than it reserved."""
    if r.spent is None or r.spent <= r.amount:
        return None
    note = f"overspent: {fmt(r.spent)} spent of {fmt(r.amount)} reserved"
    log.warning("reservation %s (%s/%s/%s): %s", r.reservation_id, r.dag_id, r.run_id, r.task_id, note)
    return note


def _entry(
    r: Reservation,
    kind: str,
    who: Holder,
    amount: Decimal | None,
    source: str | None,
    when: datetime,
    note: str | None,
) -> dict[str, Any]:
    """A ledger row about ``r`` written by the task ``who``."""
    return {
        "reservation_id": r.reservation_id,
        "kind": kind,
        **asdict(who),
        "connection_id": r.connection_id,
        "pool": r.pool,
        "budget_key": r.budget_key,
        "amount": amount,
        "source": source,
        "recorded_at": when,
        "note": None if note is None else note[:500],
    }


def _reservation(row: Mapping[Any, Any]) -> Reservation:
    values = dict(row)
    values["amount"] = Decimal(str(values["amount"]))
    for name in ("spent", "balance_before"):
        if values.get(name) is not None:
            values[name] = Decimal(str(values[name]))
    values["map_index"] = int(values["map_index"])
    return Reservation(**values)


# --------------------------------------------------------------------------- command line

_COLUMNS = ("reservation_id", "connection_id", "pool", "amount", "dag_id", "run_id", "task_id", "map_index",
            "created_at", "expires_at")  # fmt: skip


def format_table(reservations: Sequence[Reservation]) -> str:
    """Reservations as an aligned text table (times in UTC, to the second)."""

    def cell(r: Reservation, name: str) -> str:
        value = getattr(r, name)
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)

    rows = [list(_COLUMNS)] + [[cell(r, n) for n in _COLUMNS] for r in reservations]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m airflow_provider_credits.reservations list|release ...``: see docs/reservations.md.

    :return: 0 done (``list`` printed, ``release`` released at least one); 1 nothing was released,
        or an error (connection, database, table); 2 wrong usage.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_credits.reservations",
        description="List active credit reservations, or release them, through an Airflow SQL connection.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="print the active reservations (unreleased and unexpired)")
    release = commands.add_parser("release", help="release active reservations (they stop holding credits)")
    for sub in (listing, release):
        sub.add_argument(
            "--conn-id", required=True, help="Airflow connection of the database holding the table"
        )
        sub.add_argument(
            "--table", default=DEFAULT_TABLE, help=f"reservation table (default {DEFAULT_TABLE})"
        )
    listing.add_argument("--vendor-conn", help="only the reservations of this credits connection")
    which = release.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", dest="reservation_id", help="the reservation id (see list)")
    which.add_argument("--dag-id", help="every active reservation of this DAG")
    release.add_argument("--run-id", help="with --dag-id: only this run's")
    args = parser.parse_args(argv)
    if args.command == "release" and args.run_id and not args.dag_id:
        parser.error("--run-id needs --dag-id")

    store = ReservationStore(args.conn_id, args.table, create_tables=False)
    try:
        if args.command == "list":
            active = store.list_active(args.vendor_conn)
            if not active:
                print(f"no active reservations in {store.table_name}")
                return 0
            print(format_table(active))
            print(
                f"\n{len(active)} active reservation(s), {format(total(active).normalize(), 'f')} credits held"
            )
            return 0
        if args.reservation_id:
            released = store.release_id(args.reservation_id)
        else:
            released = store.release(dag_id=args.dag_id, run_id=args.run_id)
    except Exception as exc:  # any failure: say what, exit 1 (no traceback for a command)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"released {released} reservation(s)")
    if not released:
        print("nothing matched an active reservation (see: list)", file=sys.stderr)
    return 0 if released else 1


if __name__ == "__main__":
    raise SystemExit(main())
