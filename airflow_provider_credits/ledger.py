"""The credit ledger: what gated work actually spent, per DAG, run, task and map index.

A reservation (:mod:`airflow_provider_credits.reservations`) says what a run *planned* to spend.
The ledger records what happened to it, append-only, in a table next to the reservation table
(``credit_ledger`` for ``credit_reservations``, else ``<table>_ledger``; see
:data:`airflow_provider_credits.storage.tables.LEDGER`):

* ``grant``: a gate reserved ``amount`` credits;
* ``report``: the gated work reported ``amount`` credits spent (several times per run, e.g.
  per page of results): :func:`report_spend`;
* ``release``: the reservation was released; ``amount`` is the spend the release recorded
  beyond the reports (the final figure ``spent=`` minus what was reported; a measured figure;
  NULL when unknown), ``source`` says ``reported``, ``measured`` or ``unknown``;
* ``expiry``: the reservation's TTL ran out before a release (``amount``: what was still
  outstanding; recorded by the next gate that reserves on the pool, or the next release).

The reservation row keeps the current state: ``spent`` so far and its ``spent_source``.

Semantics the gates, the Credits page and the alerts share:

* :func:`outstanding`: ``max(amount - spent, 0)``, what a reservation still holds. Gates
  subtract only the outstanding amounts of the other tasks' active reservations, so work that
  reports its spend is no longer counted twice (once in the vendor's balance, once in its
  reservation).
* :func:`spend_by_dag`: spend recorded in ``[since, until)`` (the ``recorded_at`` of report and
  release rows), grouped by DAG or by budget key, with the outstanding amounts of active
  reservations and the count of releases whose spend is unknown.
* :func:`period_bounds`: a budget period (``day``, ``week``, ``month``) in UTC calendar terms.

Read functions take a :class:`~airflow_provider_credits.storage.database.Database` (e.g.
``ReservationStore(conn_id).db``) and raise
:class:`~airflow_provider_credits.exceptions.CreditsStorageError` when the database fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_credits.amounts import parse_amount
from airflow_provider_credits.exceptions import CreditsConfigError

if TYPE_CHECKING:
    import sqlalchemy as sa

    from airflow_provider_credits.reservations import Reservation
    from airflow_provider_credits.storage.database import Database

__all__ = [
    "BUDGET_PERIODS",
    "DEFAULT_LEDGER_TABLE",
    "SOURCES",
    "Budget",
    "DagSpend",
    "LedgerEntry",
    "entries",
    "find_reservation",
    "ledger_table_name",
    "outstanding",
    "parse_min_runway",
    "parse_spend",
    "period_bounds",
    "report_spend",
    "spend_by_dag",
]

DEFAULT_LEDGER_TABLE = "credit_ledger"
"""The ledger next to the default reservation table ``credit_reservations``."""

#: where a spend figure comes from
SOURCES = ("reported", "measured", "unknown")

#: budget periods, in UTC calendar terms (see :func:`period_bounds`)
BUDGET_PERIODS = ("day", "week", "month")

Period = Literal["day", "week", "month"]


def ledger_table_name(reservation_table: str) -> str:
    """The ledger table next to a reservation table.

    :param reservation_table: ``table`` or ``schema.table``.
    :returns: ``credit_ledger`` for ``credit_reservations`` (also in a schema), else
        ``<reservation_table>_ledger``.
    """
    from airflow_provider_credits.reservations import DEFAULT_TABLE

    schema, _, name = reservation_table.rpartition(".")
    if name == DEFAULT_TABLE:
        return f"{schema}.{DEFAULT_LEDGER_TABLE}" if schema else DEFAULT_LEDGER_TABLE
    return f"{reservation_table}_ledger"


def outstanding(reservation: Reservation) -> Decimal:
    """What a reservation still holds: ``amount - spent`` (never below 0); 0 once released.

    :param reservation: a reservation row.
    """
    if reservation.released_at is not None:
        return Decimal(0)
    return max(reservation.amount - (reservation.spent or Decimal(0)), Decimal(0))


def parse_spend(value: Any, *, name: str = "spent") -> Decimal:
    """Validate a spend figure (possibly rendered from a template or pulled from XCom).

    :param value: a number or numeric string, >= 0.
    :param name: the argument's name, for the message.
    :raises CreditsConfigError: None, a bool, not a number, NaN/infinite or negative.
    """
    amount = parse_amount(name, value)
    if amount is None:
        raise CreditsConfigError(f"{name} must be a number of credits, got None")
    return amount


def check_period(period: Any) -> None:
    """Refuse a budget period other than ``day``, ``week`` and ``month``.

    :raises CreditsConfigError: another period.
    """
    if period not in BUDGET_PERIODS:
        raise CreditsConfigError(f"budget_period must be one of {', '.join(BUDGET_PERIODS)}, got {period!r}")


def period_bounds(period: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The UTC calendar period holding ``now``: ``[start, end)``.

    ``day``: midnight to midnight UTC; ``week``: Monday 00:00 UTC to the next Monday (ISO
    weeks); ``month``: the 1st 00:00 UTC to the 1st of the next month.

    :param period: ``day``, ``week`` or ``month``.
    :param now: the moment (aware; naive is UTC); default now.
    :raises CreditsConfigError: another period.
    """
    from airflow_provider_credits.models import as_utc, utcnow

    check_period(period)
    moment = as_utc(now) if now is not None else utcnow()
    assert moment is not None
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


@dataclass(frozen=True)
class DagSpend:
    """Spend of one DAG (or budget key) in a period.

    :ivar key: the DAG id, or the budget key (see :func:`spend_by_dag`'s ``by``).
    :ivar spent: credits spent (reported plus measured).
    :ivar reported: of which reported by the work or given at release.
    :ivar measured: of which measured at release (balance before and after).
    :ivar unknown: releases and expiries in the period whose spend is unknown.
    :ivar outstanding: credits still held by active reservations (see :func:`outstanding`).
    :ivar runs: distinct runs with a ledger row in the period.
    """

    key: str
    spent: Decimal
    reported: Decimal
    measured: Decimal
    unknown: int
    outstanding: Decimal
    runs: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts as strings."""
        return {
            "key": self.key,
            "spent": format(self.spent.normalize(), "f"),
            "reported": format(self.reported.normalize(), "f"),
            "measured": format(self.measured.normalize(), "f"),
            "unknown": self.unknown,
            "outstanding": format(self.outstanding.normalize(), "f"),
            "runs": self.runs,
        }


def _tables(reservation_table: str) -> tuple[sa.Table, sa.Table]:
    from airflow_provider_credits.storage.names import TableName
    from airflow_provider_credits.storage.tables import LEDGER, RESERVATIONS, table

    return (
        table(RESERVATIONS, TableName.parse(reservation_table)),
        table(LEDGER, TableName.parse(ledger_table_name(reservation_table))),
    )


def spend_by_dag(
    db: Database,
    *,
    since: datetime,
    until: datetime | None = None,
    reservation_table: str | None = None,
    by: Literal["dag_id", "budget_key"] = "dag_id",
    connection_id: str | None = None,
    pool: str | None = None,
    now: datetime | None = None,
) -> list[DagSpend]:
    """Spend per DAG (or per budget key) recorded in ``[since, until)``, sorted by key.

    ``spent`` sums the ``amount`` of ``report`` and ``release`` rows recorded in the period (a
    release's amount is what it adds to the reports, so nothing is counted twice); ``unknown``
    counts the releases and expiries without a figure. ``outstanding`` is what the active
    reservations (unreleased, unexpired at ``now``) of the key still hold, whenever granted.
    Reservations without a budget key are left out when ``by="budget_key"``.

    :param db: the database holding the reservation table and its ledger.
    :param since: start of the period (inclusive; aware, naive is UTC).
    :param until: end of the period (exclusive); None for open-ended.
    :param reservation_table: the reservation table (default ``credit_reservations``); the
        ledger is :func:`ledger_table_name` of it.
    :param by: group by ``dag_id`` or ``budget_key``.
    :param connection_id: only this credits connection.
    :param pool: only this pool.
    :param now: the current time, for which reservations are active (tests); default now.
    :raises CreditsStorageError: the database failed (a missing table included).
    :raises CreditsConfigError: ``by`` is neither ``dag_id`` nor ``budget_key``.
    """
    import sqlalchemy as sa

    from airflow_provider_credits.models import as_utc, utcnow
    from airflow_provider_credits.reservations import DEFAULT_TABLE

    if by not in ("dag_id", "budget_key"):
        raise CreditsConfigError(f"by must be 'dag_id' or 'budget_key', got {by!r}")
    reservations, ledger = _tables(reservation_table or DEFAULT_TABLE)
    lc, r = ledger.c, reservations.c
    where: list[Any] = [lc.kind.in_(("report", "release", "expiry")), lc.recorded_at >= as_utc(since)]
    if until is not None:
        where.append(lc.recorded_at < as_utc(until))
    active: list[Any] = [r.released_at.is_(None), r.expires_at > as_utc(now or utcnow())]
    for column, value in (("connection_id", connection_id), ("pool", pool)):
        if value is not None:
            where.append(lc[column] == value)
            active.append(r[column] == value)
    if by == "budget_key":
        where.append(lc.budget_key.is_not(None))
        active.append(r.budget_key.is_not(None))
    key = lc[by]
    counted = sa.and_(lc.kind != "expiry", lc.amount.is_not(None))
    spend_query = (
        sa.select(
            key.label("key"),
            sa.func.sum(sa.case((sa.and_(counted, lc.source == "reported"), lc.amount), else_=0)).label(
                "reported"
            ),
            sa.func.sum(sa.case((sa.and_(counted, lc.source == "measured"), lc.amount), else_=0)).label(
                "measured"
            ),
            sa.func.sum(
                sa.case((sa.and_(lc.kind.in_(("release", "expiry")), lc.source == "unknown"), 1), else_=0)
            ).label("unknown"),
            sa.func.count(sa.distinct(lc.run_id)).label("runs"),
        )
        .where(*where)
        .group_by(key)
    )
    outstanding_query = sa.select(r[by].label("key"), r.amount, r.spent).where(*active)
    with db.errors("reading the credit ledger", ledger.fullname), db.begin() as conn:
        rows = conn.execute(spend_query).all()
        held = conn.execute(outstanding_query).all()
    result: dict[str, dict[str, Any]] = {}
    for row in rows:
        reported, measured = Decimal(str(row.reported or 0)), Decimal(str(row.measured or 0))
        result[row.key] = {
            "reported": reported,
            "measured": measured,
            "spent": reported + measured,
            "unknown": int(row.unknown or 0),
            "runs": int(row.runs or 0),
            "outstanding": Decimal(0),
        }
    empty = {"reported": Decimal(0), "measured": Decimal(0), "spent": Decimal(0), "unknown": 0, "runs": 0}
    for row in held:
        entry = result.setdefault(row.key, {**empty, "outstanding": Decimal(0)})
        entry["outstanding"] += max(Decimal(str(row.amount)) - Decimal(str(row.spent or 0)), Decimal(0))
    return [DagSpend(key=k, **v) for k, v in sorted(result.items())]


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row (see :data:`airflow_provider_credits.storage.tables.LEDGER`)."""

    entry_id: int
    reservation_id: str
    kind: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    connection_id: str
    pool: str
    budget_key: str | None
    amount: Decimal | None
    source: str | None
    recorded_at: datetime
    note: str | None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> LedgerEntry:
        values = dict(row)
        values["map_index"] = int(values["map_index"])
        values["amount"] = None if values["amount"] is None else Decimal(str(values["amount"]))
        return cls(**values)


def entries(
    db: Database,
    *,
    reservation_table: str | None = None,
    reservation_id: str | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: Sequence[str] | None = None,
) -> list[LedgerEntry]:
    """Ledger rows matching every filter given, oldest first.

    :raises CreditsStorageError: the database failed.
    """
    import sqlalchemy as sa

    from airflow_provider_credits.models import as_utc
    from airflow_provider_credits.reservations import DEFAULT_TABLE

    _, ledger = _tables(reservation_table or DEFAULT_TABLE)
    lc = ledger.c
    where: list[Any] = []
    for column, value in (("reservation_id", reservation_id), ("dag_id", dag_id), ("run_id", run_id)):
        if value is not None:
            where.append(lc[column] == value)
    if since is not None:
        where.append(lc.recorded_at >= as_utc(since))
    if until is not None:
        where.append(lc.recorded_at < as_utc(until))
    if kinds is not None:
        where.append(lc.kind.in_(list(kinds)))
    query = sa.select(ledger).where(*where).order_by(lc.recorded_at, lc.entry_id)
    with db.errors("reading the credit ledger", ledger.fullname), db.begin() as conn:
        return [LedgerEntry.of(row) for row in conn.execute(query).mappings()]


# --------------------------------------------------------------------------- gate policies

#: what a budget refusal means for the gate
BUDGET_REFUSALS = ("wait", "fail", "skip")


@dataclass(frozen=True)
class Budget:
    """A spending budget a reserving gate enforces (validated; see :meth:`build`).

    :param amount: credits the key may spend per period.
    :param period: ``day``, ``week`` or ``month`` (UTC calendar, see :func:`period_bounds`).
    :param key: the budget's name, shared by every DAG that names it; None: the DAG's own
        (its ``dag_id``).
    :param refusal: ``wait`` (keep waiting until the next period or a release), ``fail`` or ``skip``.
    """

    amount: Decimal
    period: str = "month"
    key: str | None = None
    refusal: str = "wait"

    @classmethod
    def build(
        cls, budget: Any, budget_period: Any = "month", budget_key: Any = None, budget_refusal: Any = "wait"
    ) -> Budget | None:
        """Validate the sensor's budget arguments (literal or rendered from templates).

        :returns: None when ``budget`` is None (no budget).
        :raises CreditsConfigError: a budget that is not a number >= 0, an unknown period or
            refusal, a key that is not a string.
        """
        if budget is None:
            return None
        amount = parse_spend(budget, name="budget")
        period = budget_period.strip().lower() if isinstance(budget_period, str) else budget_period
        check_period(period)
        if budget_key is not None and not isinstance(budget_key, str):
            raise CreditsConfigError(f"budget_key must be a string, got {budget_key!r}")
        if budget_refusal not in BUDGET_REFUSALS:
            raise CreditsConfigError(
                f"budget_refusal must be one of {', '.join(BUDGET_REFUSALS)}, got {budget_refusal!r}"
            )
        return cls(amount, period, budget_key or None, budget_refusal)

    def key_for(self, dag_id: str) -> str:
        """The budget key of a DAG: :attr:`key`, or the ``dag_id``."""
        return self.key or dag_id


def parse_min_runway(value: Any) -> Decimal | None:
    """Validate ``min_runway``: a ``timedelta``, or days as a number or numeric string.

    :returns: days (None: no runway gate).
    :raises CreditsConfigError: negative, not a number, or not a timedelta.
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise CreditsConfigError(f"min_runway must not be negative, got {value!r}")
        return Decimal(str(value.total_seconds())) / Decimal(86400)
    return parse_spend(value, name="min_runway (days)")


# --------------------------------------------------------------------------- reporting spend


def _gate_tasks(task: Any) -> list[Any]:
    """The reserving ``CreditThresholdSensor`` tasks upstream of ``task`` (any distance), nearest first."""
    from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor

    found, seen, frontier = [], set(), list(getattr(task, "upstream_list", []))
    while frontier:
        nxt: list[Any] = []
        for t in frontier:
            if t.task_id in seen:
                continue
            seen.add(t.task_id)
            if isinstance(t, CreditThresholdSensor) and t.reservation_conn_id:
                found.append(t)
            nxt.extend(getattr(t, "upstream_list", []))
        frontier = nxt
    return found


def find_reservation(
    context: Mapping[str, Any],
    *,
    gate_task_id: str | None = None,
    reservation_conn_id: str | None = None,
    reservation_table: str | None = None,
) -> tuple[Any, Reservation]:
    """The reservation of the current task's gate, and its store.

    The gate is ``gate_task_id``, else the one reserving ``CreditThresholdSensor`` upstream of
    the task. Its reservation is the gate task instance's of this run, with this task's map
    index when the gate has one there (a mapped task group), else the unmapped one.

    :raises CreditsConfigError: no gate upstream, several (name one), a templated connection
        that cannot be read from the DAG (pass ``reservation_conn_id``), or no reservation.
    """
    from airflow_provider_credits.reservations import DEFAULT_TABLE, Holder, ReservationStore

    me = Holder.of(context)
    task = context.get("task")
    gate = None
    if gate_task_id is None:
        gates = _gate_tasks(task)
        if not gates:
            raise CreditsConfigError(
                f"{me.task_id}: no reserving CreditThresholdSensor upstream; pass gate_task_id (and "
                "reservation_conn_id)"
            )
        if len(gates) > 1:
            names = ", ".join(sorted(g.task_id for g in gates))
            raise CreditsConfigError(
                f"{me.task_id}: several reserving gates upstream ({names}); pass gate_task_id"
            )
        gate = gates[0]
        gate_task_id = gate.task_id
    elif task is not None and getattr(task, "dag", None) is not None and task.dag.has_task(gate_task_id):
        gate = task.dag.get_task(gate_task_id)
    conn_id = reservation_conn_id or getattr(gate, "reservation_conn_id", None)
    table = reservation_table or getattr(gate, "reservation_table", None) or DEFAULT_TABLE
    for value, name in ((conn_id, "reservation_conn_id"), (table, "reservation_table")):
        if not value or "{{" in str(value) or "{%" in str(value):
            raise CreditsConfigError(
                f"{me.task_id}: cannot tell the gate {gate_task_id!r}'s {name} ({value!r}); pass {name}="
            )
    store = ReservationStore(str(conn_id), str(table))
    indexes = [me.map_index, -1] if me.map_index >= 0 else [-1]
    for index in indexes:
        reservation = store.get(Holder(me.dag_id, me.run_id, gate_task_id, index).reservation_id)
        if reservation is not None and reservation.created_at is not None:
            return store, reservation
    raise CreditsConfigError(
        f"{me.task_id}: the gate {gate_task_id!r} holds no reservation in run {me.run_id!r} "
        f"(table {store.table_name})"
    )


def report_spend(
    amount: Any,
    context: Mapping[str, Any] | None = None,
    *,
    gate_task_id: str | None = None,
    reservation_conn_id: str | None = None,
    reservation_table: str | None = None,
) -> Reservation:
    """Report credits the current task has spent against its gate's reservation.

    Reports add up (call it per page of results, or once); each is a ``report`` ledger row and
    lowers what the reservation holds for other gates (:func:`outstanding`). Inside a ``@task``
    the context is found with ``get_current_context()``; a classic operator passes its own::

        @task
        def enrich() -> None:
            for page in pages():
                report_spend(page.credits_used)

    :param amount: credits spent since the last report (number >= 0 or numeric string).
    :param context: the task context; default the running task's.
    :param gate_task_id: the gate whose reservation was spent; default the one reserving gate upstream.
    :param reservation_conn_id: default the gate's.
    :param reservation_table: default the gate's.
    :returns: the reservation after the report (``spent`` so far, ``outstanding``).
    :raises CreditsConfigError: a negative or non-numeric amount (checked first: nothing is
        read), no gate or reservation to report to, or a released reservation.
    :raises CreditsStorageError: the database failed (nothing was recorded).
    """
    from airflow_provider_credits.reservations import Holder

    parse_spend(amount, name="spend")
    if context is None:
        from airflow.sdk import get_current_context

        context = get_current_context()
    store, reservation = find_reservation(
        context,
        gate_task_id=gate_task_id,
        reservation_conn_id=reservation_conn_id,
        reservation_table=reservation_table,
    )
    return store.report(reservation.reservation_id, amount, reporter=Holder.of(context))
