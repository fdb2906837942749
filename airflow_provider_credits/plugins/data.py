"""What the Credits page shows, read from the package's tables: plain JSON-ready dicts.

Shared by the page's JSON API (:mod:`~airflow_provider_credits.plugins.app`), the
self-contained page ``make demo`` writes, and the benchmark. Every function takes an open
SQLAlchemy connection and a :class:`Tables`, reads with a few indexed queries, and returns
amounts as ``float`` (JSON numbers) and times as ISO 8601 UTC strings (``...Z``).

Missing tables read as empty (nothing stored yet); :func:`status` says which are missing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa

from airflow_provider_credits.forecast import DEFAULT_WINDOW_DAYS, forecast
from airflow_provider_credits.models import as_utc
from airflow_provider_credits.storage.database import Database, iso_utc, utc_text
from airflow_provider_credits.storage.names import TableName
from airflow_provider_credits.storage.tables import BALANCES, LEDGER, RESERVATIONS, USAGE, table

__all__ = [
    "DEFAULT_HISTORY_DAYS",
    "Filters",
    "Tables",
    "balances",
    "forecasts",
    "history",
    "number",
    "reservations",
    "spend",
    "status",
    "usage",
]

DEFAULT_HISTORY_DAYS = 90
"""Days of history and usage returned when the request gives no ``since``."""


def number(value: Decimal | float | int | None) -> float | None:
    """An amount as a JSON number (float), or None."""
    return None if value is None else float(value)


@dataclass(frozen=True)
class Tables:
    """The tables the page reads (default names, optionally in a schema).

    :param balances: the balance snapshots (``credit_balances``).
    :param usage: the usage records (``credit_usage``).
    :param reservations: the reservations (``credit_reservations``).
    :param ledger: the ledger next to them (``credit_ledger``, see
        :func:`~airflow_provider_credits.ledger.ledger_table_name`).
    """

    balances: sa.Table = BALANCES
    usage: sa.Table = USAGE
    reservations: sa.Table = RESERVATIONS
    ledger: sa.Table = LEDGER

    @classmethod
    def named(
        cls,
        schema: str | None = None,
        *,
        balances: str = "credit_balances",
        usage: str = "credit_usage",
        reservations: str = "credit_reservations",
    ) -> Tables:
        """The tables under these names (``schema.name`` when ``schema`` is given).

        :raises InvalidTableNameError: a name is not a valid table name.
        """

        def named(default: sa.Table, name: str) -> sa.Table:
            return table(default, TableName.parse(f"{schema}.{name}" if schema else name))

        from airflow_provider_credits.ledger import ledger_table_name

        return cls(
            named(BALANCES, balances),
            named(USAGE, usage),
            named(RESERVATIONS, reservations),
            named(LEDGER, ledger_table_name(reservations)),
        )

    def all(self) -> dict[str, sa.Table]:
        return {
            "balances": self.balances,
            "usage": self.usage,
            "reservations": self.reservations,
            "ledger": self.ledger,
        }


@dataclass(frozen=True)
class Filters:
    """Which pools and which time range a request asks for (None: all / unbounded).

    :param vendor: vendor name (``theirstack``).
    :param account: the vendor account.
    :param pool: the pool name.
    :param since: start of the time range (inclusive, aware).
    :param until: end of the time range (exclusive, aware).
    """

    vendor: str | None = None
    account: str | None = None
    pool: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self, columns: Any, time_column: str) -> list[Any]:
        """SQL conditions on a table's ``columns`` (``vendor``, ``account``, ``pool`` and the time)."""
        conditions: list[Any] = []
        for name in ("vendor", "account", "pool"):
            value = getattr(self, name)
            if value is not None:
                conditions.append(columns[name] == value)
        if self.since is not None:
            conditions.append(columns[time_column] >= self.since)
        if self.until is not None:
            conditions.append(columns[time_column] < self.until)
        return conditions


#: how long what the database's catalog said (a table exists, its columns) is reused (seconds)
CATALOG_TTL_S = 30.0
_catalog: dict[tuple[str, str, str | None, str], tuple[float, Any]] = {}


def _catalog_lookup(conn: sa.Connection, t: sa.Table, what: str, read: Any) -> Any:
    """``read(inspector)`` for table ``t``, remembered for :data:`CATALOG_TTL_S` per database.

    Catalog queries cost a round trip each on a server database; the page asks on every request.
    """
    key = (conn.engine.url.render_as_string(hide_password=True), t.name, t.schema, what)
    now = time.monotonic()
    hit = _catalog.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = read(sa.inspect(conn))
    if len(_catalog) > 1024:
        _catalog.clear()
    _catalog[key] = (now + CATALOG_TTL_S, value)
    return value


def existing(conn: sa.Connection, tables: Tables) -> dict[str, bool]:
    """Whether each table exists (by role: ``balances``, ``usage`` ...); remembered for 30 s."""
    return {
        role: _catalog_lookup(conn, t, "exists", lambda i, t=t: i.has_table(t.name, schema=t.schema))
        for role, t in tables.all().items()
    }


def status(conn: sa.Connection, tables: Tables) -> dict[str, Any]:
    """What the data source holds.

    :return: ``{"state": "ok" | "no_tables", "database", "tables": {role: {"name", "exists"}},
        "message"}``: ``no_tables`` when there are no balances yet; the message says which tables
        are missing and what creates them ("" when all exist).
    """
    found = existing(conn, tables)
    names = {role: t.fullname for role, t in tables.all().items()}
    messages = []
    if not found["balances"] or not found["usage"]:
        missing = [names[r] for r in ("balances", "usage") if not found[r]]
        messages.append(
            f"No credit data yet: {' and '.join(missing)} do not exist in this database. "
            "UsageToSqlOperator creates them on its first run (create_tables=True)."
        )
    if not found["reservations"] or not found["ledger"]:
        missing = [names[r] for r in ("reservations", "ledger") if not found[r]]
        messages.append(
            f"No reservations yet: {' and '.join(missing)} do not exist; a CreditThresholdSensor "
            "with reserve= creates them."
        )
    return {
        "state": "ok" if found["balances"] else "no_tables",
        "database": conn.dialect.name,
        "tables": {role: {"name": names[role], "exists": ok} for role, ok in found.items()},
        "message": " ".join(messages),
    }


def _latest(conn: sa.Connection, t: sa.Table, filters: Filters) -> list[Any]:
    """The latest snapshot of each (vendor, account, pool), newest connection first on a tie."""
    b = t.c
    newest = (
        sa.select(b.vendor, b.account, b.pool, sa.func.max(b.fetched_at).label("at"))
        .where(*Filters(filters.vendor, filters.account, filters.pool).where(b, "fetched_at"))
        .group_by(b.vendor, b.account, b.pool)
        .subquery()
    )
    rows = conn.execute(
        sa.select(t)
        .join(
            newest,
            sa.and_(
                b.vendor == newest.c.vendor,
                b.account == newest.c.account,
                b.pool == newest.c.pool,
                b.fetched_at == newest.c.at,
            ),
        )
        .order_by(b.vendor, b.account, b.pool, b.connection_id)
    ).all()
    seen: dict[tuple[str, str, str], Any] = {}
    for row in rows:  # two connections read the same account at the same instant: keep one
        seen.setdefault((row.vendor, row.account, row.pool), row)
    return list(seen.values())


def _pool(row: Any) -> dict[str, Any]:
    return {"vendor": row.vendor, "account": row.account, "pool": row.pool}


def balances(conn: sa.Connection, tables: Tables, filters: Filters = Filters()) -> list[dict[str, Any]]:
    """The latest balance of each vendor, account and pool.

    :return: ``[{"vendor", "account", "pool", "connection_id", "unit", "remaining", "limit",
        "used", "fetched_at", "period_start", "period_end"}]`` sorted by vendor, account, pool;
        ``remaining``, ``limit`` and ``used`` are numbers or null.
    """
    if not existing(conn, tables)["balances"]:
        return []
    return [
        {
            **_pool(row),
            "connection_id": row.connection_id,
            "unit": row.unit,
            "remaining": number(row.remaining),
            "limit": number(row.credit_limit),
            "used": number(row.used),
            "fetched_at": iso_utc(row.fetched_at),
            "period_start": iso_utc(row.period_start),
            "period_end": iso_utc(row.period_end),
        }
        for row in _latest(conn, tables.balances, filters)
    ]


def _usage_by_day(
    conn: sa.Connection, t: sa.Table, filters: Filters
) -> list[tuple[str, str, str, str, str, Decimal]]:
    """Usage summed per vendor, account, pool, unit and UTC day of ``period_start``.

    :return: ``(vendor, account, pool, unit, YYYY-MM-DD, amount)`` in no particular order.
    """
    u = t.c
    start, to_text = utc_text(conn, u.period_start)
    rows = conn.execute(
        sa.select(u.vendor, u.account, u.pool, u.unit, start, sa.func.sum(u.amount).label("amount"))
        .where(*filters.where(u, "period_start"))
        # unit first: SQLite (no statistics) would otherwise read the whole table through the
        # (vendor, account, pool, period_start) index to save a sort, instead of the time range
        .group_by(u.unit, u.vendor, u.account, u.pool, u.period_start)
    )
    out: dict[tuple[str, str, str, str, str], Decimal] = defaultdict(Decimal)
    for vendor, account, pool, unit, at, amount in rows:
        day = cast(str, to_text(at))[:10]  # period_start is NOT NULL
        out[(vendor, account, pool, unit, day)] += Decimal(amount)
    return [(*key, amount) for key, amount in out.items()]


def history(conn: sa.Connection, tables: Tables, filters: Filters) -> list[dict[str, Any]]:
    """Balance snapshots over time, one series per vendor, account and pool.

    :return: ``[{"vendor", "account", "pool", "unit", "points": [[time, remaining], ...]}]``,
        sorted by vendor, account and pool, points oldest first (``remaining`` a number or null).
    """
    if not existing(conn, tables)["balances"]:
        return []
    b = tables.balances.c
    fetched_at, to_iso = utc_text(conn, b.fetched_at)
    rows = conn.execute(
        sa.select(b.vendor, b.account, b.pool, b.unit, fetched_at, b.remaining)
        .where(*filters.where(b, "fetched_at"))
        .order_by(b.fetched_at)
    )
    series: dict[tuple[str, str, str], dict[str, Any]] = {}
    for vendor, account, pool, unit, at, remaining in rows:
        key = (vendor, account, pool)
        if key not in series:
            series[key] = {"vendor": vendor, "account": account, "pool": pool, "unit": unit, "points": []}
        series[key]["points"].append([to_iso(at), None if remaining is None else float(remaining)])
    return [series[key] for key in sorted(series)]


def usage(conn: sa.Connection, tables: Tables, filters: Filters) -> list[dict[str, Any]]:
    """Daily usage (all dimensions summed), one series per vendor, account and pool.

    A record counts on the UTC day its period starts.

    :return: ``[{"vendor", "account", "pool", "unit", "days": [[YYYY-MM-DD, amount], ...]}]``,
        days oldest first; days without a record are absent (unknown, not zero).
    """
    if not existing(conn, tables)["usage"]:
        return []
    days: dict[tuple[str, str, str], dict[str, Decimal]] = defaultdict(dict)
    units: dict[tuple[str, str, str], str] = {}
    for vendor, account, pool, unit, day, amount in _usage_by_day(conn, tables.usage, filters):
        key = (vendor, account, pool)
        units.setdefault(key, unit)
        days[key][day] = days[key].get(day, Decimal(0)) + amount
    return [
        {
            "vendor": key[0],
            "account": key[1],
            "pool": key[2],
            "unit": units[key],
            "days": [[day, float(amount)] for day, amount in sorted(per_day.items())],
        }
        for key, per_day in sorted(days.items())
    ]


def forecasts(
    conn: sa.Connection,
    tables: Tables,
    *,
    now: datetime,
    filters: Filters = Filters(),
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> list[dict[str, Any]]:
    """Burn rate, days left and run-out date of each pool's latest balance (:func:`~airflow_provider_credits.forecast.forecast`).

    Reads what :func:`~airflow_provider_credits.storage.history.pool_history` reads for one
    pool (its connection's snapshots, and the usage of its vendor and account, since the start
    of the window), for every pool in two queries.

    :return: ``[{"vendor", "account", "pool", "connection_id", "unit", "remaining",
        "burn_per_day", "days_left", "runs_out_at", "method", "history_days"}]``; the last
        five are null when the rate is unknown or nothing is burning.
    """
    found = existing(conn, tables)
    if not found["balances"]:
        return []
    since = now - timedelta(days=window_days + 1)
    latest = _latest(conn, tables.balances, filters)
    b = tables.balances.c
    wanted = Filters(filters.vendor, filters.account, filters.pool, since=since)
    snapshots: dict[tuple[str, str], list[tuple[datetime, Decimal]]] = defaultdict(list)
    for row in conn.execute(
        sa.select(b.connection_id, b.pool, b.fetched_at, b.remaining)
        .where(*wanted.where(b, "fetched_at"), b.remaining.is_not(None))
        .order_by(b.fetched_at)
    ):
        snapshots[(row.connection_id, row.pool)].append((row.fetched_at, Decimal(row.remaining)))
    usage: dict[tuple[str, str, str], list[tuple[date, Decimal]]] = defaultdict(list)
    if found["usage"]:
        for vendor, account, pool, _, day, amount in _usage_by_day(conn, tables.usage, wanted):
            usage[(vendor, account, pool)].append((date.fromisoformat(day), amount))
    out = []
    for row in latest:
        remaining = None if row.remaining is None else Decimal(row.remaining)
        result = forecast(
            remaining,
            now=now,
            usage=usage.get((row.vendor, row.account, row.pool), ()),
            snapshots=snapshots.get((row.connection_id, row.pool), ()),
            window_days=window_days,
        )
        out.append(
            {
                **_pool(row),
                "connection_id": row.connection_id,
                "unit": row.unit,
                "remaining": number(remaining),
                "burn_per_day": None if result is None else float(result.burn_per_day),
                "days_left": None if result is None else float(result.days_left),
                "runs_out_at": None if result is None else iso_utc(result.runs_out_at),
                "method": None if result is None else result.method,
                "history_days": None if result is None else float(result.history_days),
            }
        )
    return out


def reservations(conn: sa.Connection, tables: Tables, *, now: datetime) -> list[dict[str, Any]]:
    """The active reservations (not released, not expired), soonest expiry first.

    ``outstanding`` is what a reservation still holds, ``max(amount - spent, 0)``
    (:func:`airflow_provider_credits.ledger.outstanding`); ``spent`` is null until the work
    reports. A table written before the ledger existed has no ``spent``: outstanding is the amount.

    :return: ``[{"reservation_id", "connection_id", "pool", "dag_id", "run_id", "task_id",
        "map_index", "amount", "spent", "outstanding", "budget_key", "created_at", "expires_at"}]``.
    """
    if not existing(conn, tables)["reservations"]:
        return []
    t = tables.reservations
    present = _catalog_lookup(
        conn, t, "columns", lambda i: {c["name"].lower() for c in i.get_columns(t.name, schema=t.schema)}
    )
    r = t.c
    rows = conn.execute(
        sa.select(*(c for c in t.columns if c.name in present))
        .where(r.released_at.is_(None), r.expires_at > now)
        .order_by(r.expires_at, r.reservation_id)
    ).all()
    out = []
    for row in rows:
        amount = Decimal(row.amount)
        spent = getattr(row, "spent", None)
        out.append(
            {
                "reservation_id": row.reservation_id,
                "connection_id": row.connection_id,
                "pool": row.pool,
                "dag_id": row.dag_id,
                "run_id": row.run_id,
                "task_id": row.task_id,
                "map_index": int(row.map_index),
                "amount": float(amount),
                "spent": number(spent),
                "outstanding": float(max(amount - Decimal(spent or 0), Decimal(0))),
                "budget_key": getattr(row, "budget_key", None),
                "created_at": iso_utc(row.created_at),
                "expires_at": iso_utc(row.expires_at),
            }
        )
    return out


def spend(
    db: Database,
    tables: Tables,
    *,
    now: datetime,
    period: str = "month",
    since: datetime | None = None,
    until: datetime | None = None,
    by: str = "dag_id",
    budgets: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Spend per DAG (or budget key) in a period, from the ledger (:func:`~airflow_provider_credits.ledger.spend_by_dag`).

    :param period: ``day``, ``week`` or ``month``: the UTC calendar period holding ``now``
        (:func:`~airflow_provider_credits.ledger.period_bounds`), unless ``since`` is given.
    :param by: ``dag_id`` or ``budget_key``.
    :param budgets: budget per DAG id or budget key for the period (``[credits] dashboard_budgets``).
    :return: ``{"since", "until", "by", "rows": [{"key", "spent", "reported", "measured",
        "outstanding", "unknown", "runs", "budget", "share"}]}``; ``share`` is
        ``(spent + outstanding) / budget`` (null without a budget).
    :raises CreditsConfigError: an unknown period or ``by``.
    :raises CreditsStorageError: the database failed.
    """
    from airflow_provider_credits.ledger import period_bounds, spend_by_dag

    if since is None:
        since, default_until = period_bounds(period, now)
        until = until or default_until
    with db.begin() as conn:
        found = existing(conn, tables)
    rows = []
    if found["ledger"] and found["reservations"]:
        name = (
            tables.reservations.name if tables.reservations.schema is None else tables.reservations.fullname
        )
        for item in spend_by_dag(db, since=since, until=until, reservation_table=name, by=by, now=now):  # type: ignore[arg-type]
            budget = (
                None if budgets is None or budgets.get(item.key) is None else Decimal(str(budgets[item.key]))
            )
            used = item.spent + item.outstanding
            rows.append(
                {
                    "key": item.key,
                    "spent": float(item.spent),
                    "reported": float(item.reported),
                    "measured": float(item.measured),
                    "outstanding": float(item.outstanding),
                    "unknown": item.unknown,
                    "runs": item.runs,
                    "budget": number(budget),
                    "share": None if not budget else float(used / budget),
                }
            )
    return {"since": iso_utc(since), "until": iso_utc(until), "by": by, "rows": rows}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 query parameter as an aware UTC datetime (naive: UTC), or None.

    :raises ValueError: not ISO 8601 (the message names the parameter).
    """
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise ValueError(
            f"{name} must be an ISO 8601 date or time, e.g. 2026-11-30T00:00:00Z; got {value!r}"
        ) from None
    return as_utc(moment)
