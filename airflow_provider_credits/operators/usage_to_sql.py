"""Write credit balances and usage history of vendor accounts into any common-sql database."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import wraps
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow.providers.common.sql.operators.sql import BaseSQLOperator
from airflow.sdk import Asset

from airflow_provider_credits._extras import sql_provider_needed
from airflow_provider_credits.storage.names import TableName
from airflow_provider_credits.templating import RejectEmptyTemplates

if TYPE_CHECKING:  # the models (pydantic) are imported when the task runs, not at DAG parse
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_provider_credits.exceptions import CreditsError
    from airflow_provider_credits.hooks.base import CreditsHook
    from airflow_provider_credits.models import CreditBalance, UsageRecord


def get_credits_hook(conn_id: str) -> CreditsHook:
    """The vendor hook of a credits connection (imported on first use: DAG files stay cheap to parse)."""
    from airflow_provider_credits.hooks import get_credits_hook as get

    return get(conn_id)


def _config_error(message: str) -> Exception:
    from airflow_provider_credits.exceptions import CreditsConfigError

    return CreditsConfigError(message)


#: keys of the operator's summary beside the tables' names
_SUMMARY_KEYS = ("counts", "start", "end")


def _table_names(balances_table: str, usage_table: str) -> tuple[TableName, TableName]:
    """The two tables, parsed; they must differ and not be named like a key of the summary.

    Names that may denote one table are refused too: the same table name ignoring case (one table
    on SQLite, and on MySQL with ``lower_case_table_names``), in the same schema or where either
    name leaves the schema out (it is then the connection's default, which may be the other's:
    ``credits`` and ``public.credits``). ``a.credits`` and ``b.credits`` are two tables.

    :raises TableSchemaError: a name is not ``table`` or ``schema.table`` (see ``TableName.parse``).
    :raises CreditsConfigError: both may be one table, or one is named ``counts``, ``start`` or ``end``.
    """
    balances, usage = TableName.parse(balances_table), TableName.parse(usage_table)
    if balances.table.lower() == usage.table.lower() and (
        balances.schema is None or usage.schema is None or balances.schema.lower() == usage.schema.lower()
    ):
        raise _config_error(
            f"balances_table {str(balances)!r} and usage_table {str(usage)!r} may be one table: "
            "databases may ignore the case of names, and a name without a schema is in the connection's "
            "default schema. Give the tables different names, or name two tables in two named schemas "
            "(a.x and b.x)"
        )
    for argument, name in (("balances_table", balances), ("usage_table", usage)):
        if str(name) in _SUMMARY_KEYS:
            raise _config_error(
                f"{argument} {str(name)!r} is also a key of the operator's summary (its XCom): "
                f"name the table otherwise, or qualify it as schema.{name}"
            )
    return balances, usage


class _Fetched(NamedTuple):
    """What one credits connection returned."""

    conn_id: str
    balance: CreditBalance
    usage: list[UsageRecord]
    fetched_at: datetime
    base_url: str


def _when(value: datetime | str, name: str) -> datetime:
    from airflow.sdk import timezone

    from airflow_provider_credits.models import as_utc

    expected = f"{name} must be a datetime or an ISO-8601 string, got {value!r}"
    try:
        when = timezone.parse(value) if isinstance(value, str) else value
        if isinstance(when, datetime):
            return as_utc(when)
    except (ValueError, OverflowError) as exc:  # pendulum's ParserError is a ValueError
        raise _config_error(f"{expected}: {exc}") from exc
    raise _config_error(expected)


class UsageToSqlOperator(RejectEmptyTemplates, BaseSQLOperator):
    """Store vendors' credit balances and usage history in two SQL tables, idempotently and atomically.

    Every vendor's balance is read first, then its usage in ``[start, end)`` (vendors without a
    usage API, e.g. Clodura and Trendtrack, only get their balance stored). Then all rows are
    upserted on their natural keys in one transaction: re-runs and overlapping windows
    overwrite rows instead of duplicating them, and a failure leaves the tables unchanged.

    :param credits_conn_id: a vendor connection id, or a list of them.
    :param sql_conn_id: any common-sql database connection (SQLite, PostgreSQL, MySQL/MariaDB...),
        templated; required, and not empty (``default_args`` may give it, as ``sql_conn_id``).
        ``conn_id`` reads the same value (common-sql's base class looks it up there); passing
        ``conn_id=`` is refused as ambiguous beside ``credits_conn_id``, and a ``conn_id`` in
        ``default_args`` (meant for common-sql's operators) is not read.
    :param start: start of the usage window (datetime or ISO string, templated); defaults to the
        run's data interval start.
    :param end: end of the usage window, exclusive (templated); defaults to the data interval end.
        A run without a data interval (a manual run) reads the day before its logical date.
    :param balances_table: table of balance snapshots, ``table`` or ``schema.table``.
    :param usage_table: table of usage rows, ``table`` or ``schema.table``.
    :param create_tables: create missing tables and add the indexes an existing one lacks (never
        drops or otherwise alters one; the upgrade of an older version's layout runs either way).
    :param chunk_size: rows per ``executemany`` call.
    :param database: database (or schema) overriding the connection's, as in ``BaseSQLOperator``.
    :param hook_params: extra arguments for the database hook.
    :raises CreditsConfigError: an argument is unusable (``conn_id=``, an empty ``sql_conn_id`` or
        ``credits_conn_id``, ``chunk_size`` below 1, one table for both, a table named like a key
        of the summary); templated values are checked when the task runs.
    """

    template_fields: Sequence[str] = (
        "credits_conn_id",
        "sql_conn_id",
        "start",
        "end",
        "balances_table",
        "usage_table",
        "database",
        "hook_params",
    )
    ui_color = "#e8f4e8"
    conn_id_field = "sql_conn_id"  # where BaseSQLOperator.get_db_hook looks for the connection id

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
        if sql_conn_id is None or (isinstance(sql_conn_id, str) and not sql_conn_id.strip()):
            raise _config_error(
                f"sql_conn_id must name the database connection (a common-sql connection id), got {sql_conn_id!r}"
            )
        super().__init__(conn_id=sql_conn_id, database=database, hook_params=hook_params, **kwargs)
        self.sql_conn_id = sql_conn_id
        self.credits_conn_id = credits_conn_id
        self.start = start
        self.end = end
        self.balances_table = balances_table
        self.usage_table = usage_table
        self.create_tables = create_tables
        self.chunk_size = chunk_size
        self._lineage: tuple[list[tuple[str, str]], list[TableName]] | None = None
        if not credits_conn_id:
            raise _config_error("credits_conn_id must name at least one vendor connection")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise _config_error(f"chunk_size must be at least 1, got {chunk_size}")
        if "{{" not in balances_table + usage_table:
            _table_names(balances_table, usage_table)  # fail at parse time, not at 3 am

    @property
    def conn_id(self) -> str:
        """The database connection: ``sql_conn_id`` under common-sql's name (one value, rendered once)."""
        return self.sql_conn_id

    @conn_id.setter
    def conn_id(self, value: str) -> None:  # BaseSQLOperator.__init__ assigns it
        self.sql_conn_id = value

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
            raise _config_error(
                f"empty usage window: end {end.isoformat()} is not after start {start.isoformat()}"
            )
        return start, end

    @staticmethod
    def logical_time(context: Context) -> datetime:
        """The run's logical date, or when it was due (``run_after``) for runs without one."""
        return _when(context.get("logical_date") or context["dag_run"].run_after, "logical_date")

    def fetch(self, start: datetime, end: datetime) -> list[_Fetched]:
        """Read every vendor's balance and usage (before anything is written).

        :raises CreditsApiError: a vendor call failed; the message names the credits connection.
        """
        from airflow_provider_credits.exceptions import CreditsError
        from airflow_provider_credits.models import utcnow

        fetched = []
        for conn_id in self.credits_conn_ids:
            hook = get_credits_hook(conn_id)
            try:
                balance = hook.get_balance()
                usage = hook.get_usage(start, end) if hook.supports_usage else []
                fetched_at = utcnow()
                base_url = hook.settings.base_url
            except CreditsError as exc:
                raise _naming_connection(exc, conn_id) from exc
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
        """Read the vendors, then upsert balances and usage in one transaction.

        :return: the summary: ``{<balances table>: rows, <usage table>: rows, "counts": {<table>:
            {"inserted": n, "updated": n, "unchanged": n}}, "start": iso, "end": iso}``.
        :raises AirflowNotFoundException: the database connection does not exist (looked up before
            any vendor call).
        :raises CreditsApiError: a vendor call failed (nothing was written).
        :raises TableSchemaError: a table is missing (``create_tables=False``), lacks columns or its key.
        :raises CreditsStorageError: the database failed; the transaction was rolled back.
        """
        start, end = self.window(context)
        run = _run_of(context, self.logical_time(context))
        balances_name, usage_name = _table_names(self.balances_table, self.usage_table)

        from airflow_provider_credits.storage.database import Database
        from airflow_provider_credits.storage.tables import BALANCES, USAGE, table

        with sql_provider_needed(self.sql_conn_id):  # a missing connection fails before any vendor call
            db = Database(self.get_db_hook())  # (no I/O but the connection's lookup)
        fetched = self.fetch(start, end)
        balances, usage = table(BALANCES, balances_name), table(USAGE, usage_name)
        try:
            # DDL first and on its own: MySQL commits DDL implicitly
            db.prepare([balances, usage], create=self.create_tables)
            with (
                db.errors("writing balances and usage", f"{balances_name} and {usage_name}"),
                db.begin(exclusive=True) as conn,
            ):
                counts = {
                    str(balances_name): db.upsert_many(
                        conn, balances, _balance_rows(fetched, run), self.chunk_size
                    ),
                    str(usage_name): db.upsert_many(conn, usage, _usage_rows(fetched), self.chunk_size),
                }
        finally:
            db.dispose()
        for name, c in counts.items():
            self.log.info(
                "%s: %d inserted, %d updated, %d unchanged (committed)",
                name,
                c.inserted,
                c.updated,
                c.unchanged,
            )

        summary: dict[str, Any] = {name: c.rows for name, c in counts.items()}
        summary["counts"] = {name: c.as_dict() for name, c in counts.items()}
        summary.update(start=start.isoformat(), end=end.isoformat())
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = summary
        self._lineage = ([(f.base_url, f.balance.account) for f in fetched], [balances_name, usage_name])
        return summary

    def get_openlineage_facets_on_start(self) -> OperatorLineage | None:
        """Empty lineage: nothing is known before the run (the vendors answer during it); the
        datasets come on completion. None only without the OpenLineage provider."""
        try:
            from airflow.providers.openlineage.extractors import OperatorLineage
        except ImportError:
            return None
        return OperatorLineage()

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
        # MySQL has no schemas: the default is the database written, which ``database=`` sets as the
        # hook's ``schema`` (BaseSQLOperator), else the connection's
        default_schema = (
            None
            if info is None
            else hook.get_openlineage_default_schema() or getattr(hook, "schema", None) or conn.schema
        )
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


def _refusing_conn_id(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` (Airflow's wrapper of ``UsageToSqlOperator.__init__``), refusing ``conn_id=`` first.

    Airflow's wrapper checks the required arguments before ``__init__`` runs: the likely mistake,
    ``conn_id=`` written for ``sql_conn_id=``, would be reported as "missing keyword argument
    'sql_conn_id'". ``default_args`` (the DAG's, the task group's, the task's) fill in only the
    arguments a class's ``__init__`` names: a ``conn_id`` there is not one of this operator's,
    and ``BaseSQLOperator``, whose it is, gets ``conn_id=sql_conn_id``. So it is never used (it
    serves common-sql's operators in the same DAG), and when ``sql_conn_id`` is missing the
    wrapper's ``TypeError`` says that too. The signature stays the wrapped one (``functools.wraps``).
    """

    @wraps(init)
    def __init__(self: UsageToSqlOperator, *args: Any, **kwargs: Any) -> None:
        if "conn_id" in kwargs:
            raise _config_error(
                "UsageToSqlOperator takes credits_conn_id (the vendor) and sql_conn_id (the database), not conn_id"
            )
        try:
            init(self, *args, **kwargs)
        except TypeError as exc:  # "missing keyword argument(s) ... 'sql_conn_id'", from Airflow's wrapper
            if "sql_conn_id" in kwargs or "'sql_conn_id'" not in str(exc):
                raise
            raise TypeError(
                f"{exc} (the database connection; in default_args too it is sql_conn_id: "
                "UsageToSqlOperator does not read conn_id, common-sql's name for it)"
            ) from None

    return __init__


UsageToSqlOperator.__init__ = _refusing_conn_id(UsageToSqlOperator.__init__)  # type: ignore[method-assign]


def _naming_connection(exc: CreditsError, conn_id: str) -> CreditsError:
    """The same error (same class and context) with a message that names the credits connection."""
    from airflow_provider_credits.exceptions import CreditsError

    if conn_id in exc.message:
        return exc
    return CreditsError.from_payload(
        {**exc.to_payload(), "message": f"credits connection {conn_id!r}: {exc.message}"}
    )


class _Run(NamedTuple):
    """The run that reads the balances: recorded with each snapshot."""

    logical_date: datetime
    dag_id: str | None
    run_id: str | None


def _run_of(context: Context, logical: datetime) -> _Run:
    ti = context.get("ti")
    dag = context.get("dag")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None)
    run_id = context.get("run_id") or getattr(ti, "run_id", None)
    return _Run(logical, dag_id, run_id)


def _balance_rows(fetched: list[_Fetched], run: _Run) -> Iterator[dict[str, Any]]:
    """One snapshot per pool, keyed by when the balance was read (a re-run adds one, never overwrites)."""
    for f in fetched:
        b = f.balance
        for p in b.pools:
            yield {
                "connection_id": f.conn_id,
                "pool": p.name,
                "fetched_at": b.fetched_at,
                "logical_date": run.logical_date,
                "dag_id": run.dag_id,
                "run_id": run.run_id,
                "vendor": b.vendor,
                "account": b.account,
                "unit": p.unit,
                "remaining": p.remaining,
                "credit_limit": p.limit,
                "used": p.used,
                "period_start": p.period_start,
                "period_end": p.period_end,
            }


def _usage_rows(fetched: list[_Fetched]) -> Iterator[dict[str, Any]]:
    """One row per usage record: its fields (named like the ``credit_usage`` columns) and ``fetched_at``."""
    for f in fetched:
        fetched_at = f.fetched_at
        for r in f.usage:
            yield {**r.__dict__, "fetched_at": fetched_at}  # a copy of the model's fields, at C speed
