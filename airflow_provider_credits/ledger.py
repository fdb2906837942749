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

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.models import as_utc, utcnow

if TYPE_CHECKING:
    import sqlalchemy as sa

    from airflow_provider_credits.reservations import Reservation
    from airflow_provider_credits.storage.database import Database

__all__ = [
    "BUDGET_PERIODS",
    "DEFAULT_LEDGER_TABLE",
    "SOURCES",
    "DagSpend",
    "LedgerEntry",
    "entries",
    "ledger_table_name",
    "outstanding",
    "parse_spend",
    "period_bounds",
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
    from airflow_provider_credits.gate import parse_amount

    amount = parse_amount(name, value)
    if amount is None:
        raise CreditsConfigError(f"{name} must be a number of credits, got None")
    return amount


def period_bounds(period: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The UTC calendar period holding ``now``: ``[start, end)``.

    ``day``: midnight to midnight UTC; ``week``: Monday 00:00 UTC to the next Monday (ISO
    weeks); ``month``: the 1st 00:00 UTC to the 1st of the next month.

    :param period: ``day``, ``week`` or ``month``.
    :param now: the moment (aware; naive is UTC); default now.
    :raises CreditsConfigError: another period.
    """
    if period not in BUDGET_PERIODS:
        raise CreditsConfigError(f"budget_period must be one of {', '.join(BUDGET_PERIODS)}, got {period!r}")
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
            "spent": str(self.spent),
            "reported": str(self.reported),
            "measured": str(self.measured),
            "unknown": self.unknown,
            "outstanding": str(self.outstanding),
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
