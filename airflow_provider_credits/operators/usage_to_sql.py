"""Write credit balances and usage history of vendor accounts into any common-sql database."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.sql.operators.sql import BaseSQLOperator
from airflow.sdk import Asset

from airflow_provider_credits._extras import sql_provider_needed
from airflow_provider_credits.hooks import get_credits_hook
from airflow_provider_credits.models import CreditBalance, UsageRecord, utcnow
from airflow_provider_credits.sql import (
    Adapters,
    Column,
    TableName,
    TableSpec,
    as_utc,
    dialect_for,
    ensure_table,
    transaction,
    upsert_rows,
)
from airflow_provider_credits.templating import RejectEmptyTemplates

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

_NAME = 64
_ACCOUNT = 128
_DIMENSION = 191  # keeps the MySQL utf8mb4 primary key under 3072 bytes

BALANCES = TableSpec(
    columns=(
        Column("connection_id", "text", 250),
        Column("pool", "text", _NAME),
        Column("logical_date", "timestamp"),
        Column("vendor", "text", 32),
        Column("account", "text", _ACCOUNT),
        Column("unit", "text", 32),
        Column("remaining", "number", nullable=True),
        Column("credit_limit", "number", nullable=True),
        Column("used", "number", nullable=True),
        Column("period_start", "timestamp", nullable=True),
        Column("period_end", "timestamp", nullable=True),
        Column("fetched_at", "timestamp"),
    ),
    key=("connection_id", "pool", "logical_date"),
)
"""``credit_balances``: one snapshot per connection, pool and run (keyed by the run's logical time)."""

USAGE = TableSpec(
    columns=(
        Column("vendor", "text", 32),
        Column("account", "text", _ACCOUNT),
        Column("pool", "text", _NAME),
        Column("dimension", "text", _DIMENSION),
        Column("period_start", "timestamp"),
        Column("period_end", "timestamp"),
        Column("amount", "number"),
        Column("unit", "text", 32),
        Column("fetched_at", "timestamp"),
    ),
    key=("vendor", "account", "pool", "dimension", "period_start", "period_end"),
)
"""``credit_usage``: one row per vendor, account, pool, dimension and period."""


@dataclass
class _Fetched:
    """What one credits connection returned."""

    conn_id: str
    balance: CreditBalance
    usage: list[UsageRecord]
    fetched_at: datetime
    base_url: str


def _when(value: datetime | str, name: str) -> datetime:
    from airflow.sdk import timezone

    when = timezone.parse(value) if isinstance(value, str) else value
    if not isinstance(when, datetime):
        raise ValueError(f"{name} must be a datetime or an ISO-8601 string, got {value!r}")
    return as_utc(when)


class UsageToSqlOperator(RejectEmptyTemplates, BaseSQLOperator):
    """Store vendors' credit balances and usage history in two SQL tables, idempotently and atomically.

    Every vendor's balance is read first, then its usage in ``[start, end)`` (vendors without a
    usage API, e.g. Clodura and Trendtrack, only get their balance stored). Then all rows are
    upserted on their natural keys in one transaction: re-runs and overlapping windows
    overwrite rows instead of duplicating them, and a failure leaves the tables unchanged.

    :param credits_conn_id: a vendor connection id, or a list of them.
    :param sql_conn_id: any common-sql database connection (SQLite, PostgreSQL, MySQL/MariaDB...);
        also available as ``conn_id``, as in every common-sql operator.
    :param start: start of the usage window (datetime or ISO string, templated); defaults to the
        run's data interval start.
    :param end: end of the usage window, exclusive (templated); defaults to the data interval end.
        A run without a data interval (a manual run) reads the day before its logical date.
    :param balances_table: table of balance snapshots, ``table`` or ``schema.table``.
    :param usage_table: table of usage rows, ``table`` or ``schema.table``.
    :param create_tables: create missing tables (never alters or drops existing ones).
    :param chunk_size: rows per ``executemany`` call.
    :param database: database (or schema) overriding the connection's, as in ``BaseSQLOperator``.
    :param hook_params: extra arguments for the database hook.
    """

    template_fields: Sequence[str] = (
        "credits_conn_id",
        "conn_id",
        "start",
        "end",
        "balances_table",
        "usage_table",
        "database",
        "hook_params",
    )
    ui_color = "#e8f4e8"

    def __init__(
        self,
        *,
        credits_conn_id: str | Sequence[str],
        sql_conn_id: str,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        balances_table: str = "credit_balances",
        usage_table: str = "credit_usage",
        create_tables: bool = True,
        chunk_size: int = 5000,
        database: str | None = None,
        hook_params: dict | None = None,
        **kwargs: Any,
    ) -> None:
        if "conn_id" in kwargs:
            raise TypeError(
                "UsageToSqlOperator takes credits_conn_id (the vendor) and sql_conn_id (the database), not conn_id"
            )
        super().__init__(conn_id=sql_conn_id, database=database, hook_params=hook_params, **kwargs)
        self.credits_conn_id = credits_conn_id
        self.start = start
        self.end = end
        self.balances_table = balances_table
        self.usage_table = usage_table
        self.create_tables = create_tables
        self.chunk_size = chunk_size
        self._lineage: tuple[list[tuple[str, str]], list[TableName]] | None = None
        if not credits_conn_id:
            raise ValueError("credits_conn_id must name at least one vendor connection")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        for name in (balances_table, usage_table):
            if "{{" not in name:
                TableName.parse(name)  # fail at parse time, not at 3 am

    @property
    def sql_conn_id(self) -> str:
        """The database connection (the same as ``conn_id``)."""
        return self.conn_id  # type: ignore[return-value]

    @property
    def credits_conn_ids(self) -> list[str]:
        """The vendor connection ids, without duplicates."""
        ids = [self.credits_conn_id] if isinstance(self.credits_conn_id, str) else self.credits_conn_id
        return list(dict.fromkeys(ids))

    def window(self, context: Context) -> tuple[datetime, datetime]:
        """The usage window: ``start``/``end``, else the data interval, else the day before the logical date.

        :param context: the task context.
        """
        interval_start, interval_end = context.get("data_interval_start"), context.get("data_interval_end")
        if interval_start and interval_end and interval_end > interval_start:
            default_start, default_end = _when(interval_start, "start"), _when(interval_end, "end")
        else:  # manual runs may have no (or an empty) data interval
            default_end = self.logical_time(context)
            default_start = default_end - timedelta(days=1)
        start = _when(self.start, "start") if self.start else default_start
        end = _when(self.end, "end") if self.end else default_end
        if end <= start:
            raise ValueError(
                f"empty usage window: end {end.isoformat()} is not after start {start.isoformat()}"
            )
        return start, end

    @staticmethod
    def logical_time(context: Context) -> datetime:
        """The run's logical date, or when it was due (``run_after``) for runs without one."""
        return _when(context.get("logical_date") or context["dag_run"].run_after, "logical_date")

    def fetch(self, start: datetime, end: datetime) -> list[_Fetched]:
        """Read every vendor's balance and usage (before anything is written)."""
        fetched = []
        for conn_id in self.credits_conn_ids:
            hook = get_credits_hook(conn_id)
            try:
                balance = hook.get_balance()
                usage = hook.get_usage(start, end) if hook.supports_usage else []
                fetched_at = utcnow()
                base_url = hook.settings.base_url
            finally:
                hook.close()
            self.log.info(
                "%s (%s): %d pools, %d usage rows%s",
                conn_id,
                hook.vendor,
                len(balance.pools),
                len(usage),
                "" if hook.supports_usage else " (no usage API: balance only)",
            )
            fetched.append(_Fetched(conn_id, balance, usage, fetched_at, base_url))
        return fetched

    def execute(self, context: Context) -> dict[str, Any]:
        start, end = self.window(context)
        logical = self.logical_time(context)
        balances_table, usage_table = TableName.parse(self.balances_table), TableName.parse(self.usage_table)
        fetched = self.fetch(start, end)

        with sql_provider_needed(self.conn_id):
            hook = self.get_db_hook()
        dialect = dialect_for(hook)
        adapt = dialect.adapters()
        with transaction(hook) as cur:  # DDL first and on its own: MySQL commits DDL implicitly
            ensure_table(cur, dialect, balances_table, BALANCES, self.create_tables)
            ensure_table(cur, dialect, usage_table, USAGE, self.create_tables)
        with transaction(hook) as cur:
            balance_rows = upsert_rows(
                cur,
                hook,
                dialect,
                balances_table,
                BALANCES,
                _balance_rows(fetched, logical, adapt),
                self.chunk_size,
            )
            usage_rows = upsert_rows(
                cur, hook, dialect, usage_table, USAGE, _usage_rows(fetched, adapt), self.chunk_size
            )
        self.log.info(
            "committed %d rows into %s and %d rows into %s",
            balance_rows,
            balances_table,
            usage_rows,
            usage_table,
        )

        summary: dict[str, Any] = {
            str(balances_table): balance_rows,
            str(usage_table): usage_rows,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = summary
        self._lineage = ([(f.base_url, f.balance.account) for f in fetched], [balances_table, usage_table])
        return summary

    def get_openlineage_facets_on_start(self) -> OperatorLineage | None:
        """No SQL is known before the run; lineage comes on completion."""
        return None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        """Vendor accounts (namespace: the API base URL) as inputs, the two tables as outputs."""
        try:
            from airflow.providers.common.compat.openlineage.facet import Dataset
            from airflow.providers.openlineage.extractors import OperatorLineage
            from airflow.providers.openlineage.sqlparser import SQLParser
        except ImportError:
            return None
        if self._lineage is None:
            return OperatorLineage()
        inputs, tables = self._lineage
        hook = self.get_db_hook()
        conn = hook.get_connection(hook.get_conn_id())
        info = hook.get_openlineage_database_info(conn)
        if info is None:  # e.g. SQLite: the database file is the namespace
            namespace, prefix = f"{hook.dialect_name}://{conn.host or ''}", []
        else:
            namespace = SQLParser.create_namespace(info)
            prefix = [info.database] if info.database else []
        default_schema = None if info is None else hook.get_openlineage_default_schema() or conn.schema
        return OperatorLineage(
            inputs=[Dataset(namespace=url, name=account) for url, account in inputs],
            outputs=[
                Dataset(
                    namespace=namespace,
                    name=".".join(p for p in [*prefix, t.schema or default_schema, t.table] if p),
                )
                for t in tables
            ],
        )


def _balance_rows(fetched: list[_Fetched], logical: datetime, adapt: Adapters) -> Iterator[tuple[Any, ...]]:
    ts, num = adapt.timestamp, adapt.number
    for f in fetched:
        b = f.balance
        for p in b.pools:
            yield (
                f.conn_id,
                p.name,
                ts(logical),
                b.vendor,
                b.account,
                p.unit,
                num(p.remaining),
                num(p.limit),
                num(p.used),
                ts(p.period_start),
                ts(p.period_end),
                ts(b.fetched_at),
            )


def _usage_rows(fetched: list[_Fetched], adapt: Adapters) -> Iterator[tuple[Any, ...]]:
    ts, num = adapt.timestamp, adapt.number
    start = end = start_value = end_value = None
    for f in fetched:
        fetched_at = ts(f.fetched_at)
        for r in f.usage:
            if r.period_start != start or r.period_end != end:
                # hooks return rows period by period, periods end to end: comparing datetimes is far
                # cheaper than the adapter's lookup (hashing an aware datetime)
                start_value = end_value if r.period_start == end else ts(r.period_start)
                start, end = r.period_start, r.period_end
                end_value = ts(end)
            yield (
                r.vendor,
                r.account,
                r.pool,
                r.dimension,
                start_value,
                end_value,
                num(r.amount),
                r.unit,
                fetched_at,
            )
