"""Portable SQL write path: validated table names, per-dialect DDL and upserts, one transaction.

Works with any common-sql :class:`~airflow.providers.common.sql.hooks.sql.DbApiHook`. SQLite,
PostgreSQL and MySQL/MariaDB get hand-written DDL and native upserts; any other database gets
ANSI DDL and the hook dialect's own replace statement (untested: create the tables yourself if
its DDL differs). Values always travel as bound parameters; only validated identifiers are
ever formatted into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from itertools import chain, islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_credits.exceptions import TableSchemaError

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = ["TableSchemaError"]  # re-exported: it was defined here before 0.2

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

ColumnKind = Literal["text", "number", "timestamp"]


@dataclass(frozen=True)
class Column:
    """A column of a table this package writes.

    :param name: column name (never a reserved word).
    :param kind: ``text`` (VARCHAR of ``length``), ``number`` (exact, 4 decimals) or ``timestamp`` (UTC).
    :param length: maximum length of a text column.
    :param nullable: whether NULL is allowed.
    """

    name: str
    kind: ColumnKind
    length: int = 0
    nullable: bool = False


@dataclass(frozen=True)
class TableSpec:
    """Columns and natural key (the primary key) of a table."""

    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class TableName:
    """A validated, optionally schema-qualified table name."""

    table: str
    schema: str | None = None

    @classmethod
    def parse(cls, name: str) -> TableName:
        """Parse ``table`` or ``schema.table``, refusing anything but plain identifiers.

        :param name: the table name as the user wrote it.
        :raises TableSchemaError: a part is not ``[A-Za-z_][A-Za-z0-9_]*`` (at most 63 characters).
        """
        parts = name.split(".") if isinstance(name, str) else [name]
        if len(parts) > 2 or not all(isinstance(p, str) and IDENTIFIER.fullmatch(p) for p in parts):
            raise TableSchemaError(
                f"invalid table name {name!r}: use 'table' or 'schema.table' made of letters, digits "
                "and underscores (not starting with a digit, at most 63 characters each)"
            )
        return cls(parts[-1], parts[0] if len(parts) == 2 else None)

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table


def as_utc(value: datetime) -> datetime:
    """A plain (not pendulum) aware datetime in UTC; naive values are taken as UTC."""
    if type(value) is datetime and value.tzinfo is timezone.utc:
        return value  # already one (datetimes are immutable)
    v = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=timezone.utc)


@dataclass(frozen=True)
class SqlDialect:
    """How to spell DDL, upserts and values for one database family.

    :param name: ``sqlite``, ``postgresql``, ``mysql`` or ``generic``.
    :param quote: identifier quote template.
    :param types: SQL type per column kind (``{n}`` is the text length).
    :param timestamp: converts an aware UTC datetime into what the driver stores (None: as it is).
    :param number: converts a Decimal into what the driver stores (None: as it is).
    """

    name: str
    quote: str
    types: dict[str, str]
    timestamp: Callable[[datetime], Any] | None = None
    number: Callable[[Decimal], Any] | None = None

    def ident(self, name: str | TableName) -> str:
        """Quote a (pre-validated) identifier or table name."""
        if isinstance(name, TableName):
            return ".".join(self.ident(p) for p in (name.schema, name.table) if p)
        if not IDENTIFIER.fullmatch(name):
            raise TableSchemaError(f"invalid identifier {name!r}")
        return self.quote.format(name)

    def create_table_sql(self, table: TableName, spec: TableSpec) -> str:
        """``CREATE TABLE IF NOT EXISTS`` with the natural key as primary key."""
        columns = [
            f"{self.ident(c.name)} {self.types[c.kind].format(n=c.length)}{'' if c.nullable else ' NOT NULL'}"
            for c in spec.columns
        ]
        key = ", ".join(map(self.ident, spec.key))
        return f"CREATE TABLE IF NOT EXISTS {self.ident(table)} ({', '.join(columns)}, PRIMARY KEY ({key}))"

    def rows_per_statement(self, spec: TableSpec) -> int:
        """How many rows one upsert statement carries (multi-row ``VALUES``).

        Bounded by :data:`MAX_PARAMS_PER_STATEMENT`; 1 for untested databases, whose replace
        statement comes from common-sql.
        """
        return 1 if self is GENERIC else max(1, MAX_PARAMS_PER_STATEMENT // len(spec.columns))

    def upsert_sql(self, hook: DbApiHook, table: TableName, spec: TableSpec, rows: int = 1) -> str:
        """``INSERT`` of ``rows`` rows that overwrites the rows with the same key.

        :param hook: the database hook (its placeholder; the fallback dialect).
        :param table: target table.
        :param spec: its columns and key.
        :param rows: rows in the statement (see :meth:`rows_per_statement`).
        """
        names = spec.names
        columns = ", ".join(map(self.ident, names))
        group = f"({', '.join([hook.placeholder] * len(names))})"
        insert = f"INSERT INTO {self.ident(table)} ({columns}) VALUES {', '.join([group] * rows)}"
        updates = [self.ident(n) for n in names if n not in spec.key]
        if self.name == "mysql":
            return f"{insert} ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in updates)
        if self.name in ("postgresql", "sqlite"):
            key = ", ".join(map(self.ident, spec.key))
            return f"{insert} ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(
                f"{c} = excluded.{c}" for c in updates
            )
        if rows != 1:
            raise ValueError(f"the {self.name} dialect writes one row per statement")
        return hook.dialect.generate_replace_sql(str(table), names, names, replace_index=list(spec.key))

    def adapters(self) -> Adapters:
        """Functions turning timestamps and numbers into driver values; apply them while building rows.

        The timestamp adapter remembers its results: periods repeat across rows. Both pass None through.
        """
        timestamp = _same if self.timestamp is None else _Memo(self.timestamp).__getitem__
        return Adapters(timestamp, _optional(self.number))


@dataclass(frozen=True)
class Adapters:
    """Converters from Python values to what a driver binds (see :meth:`SqlDialect.adapters`)."""

    timestamp: Callable[[datetime | None], Any]
    number: Callable[[Decimal | None], Any]


def _same(value: Any) -> Any:
    return value


def _optional(convert: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """``convert`` passing None through (no conversion when ``convert`` is None)."""
    if convert is None:
        return _same

    def optional(value: Any) -> Any:
        return None if value is None else convert(value)

    return optional


class _Memo(dict[Any, Any]):
    """Results of ``convert`` by value, None passed through; emptied when full, so memory stays flat.

    Look values up with ``memo.__getitem__``: a hit runs no Python code (unlike ``lru_cache`` on a lambda).

    :param convert: the conversion of values other than None.
    :param size: results held at most.
    """

    def __init__(self, convert: Callable[[Any], Any], size: int = 4096) -> None:
        super().__init__()
        self.convert, self.size = convert, size

    def __missing__(self, value: Any) -> Any:
        if len(self) >= self.size:
            self.clear()
        out = self[value] = None if value is None else self.convert(value)
        return out


def _utc_text(value: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC: SQLAlchemy's format, sorts, and SQLite's date functions read it."""
    # cut "+00:00" rather than replace(tzinfo=None), which costs about as much as the formatting
    return as_utc(value).isoformat(" ", "microseconds")[:26]


#: bound parameters per statement: SQLite's historic limit (PostgreSQL and MySQL allow far more).
MAX_PARAMS_PER_STATEMENT = 999

_TEXT = "VARCHAR({n})"
_NUMBER = "NUMERIC(18,4)"

SQLITE = SqlDialect(
    name="sqlite",
    quote='"{}"',
    types={"text": _TEXT, "number": _NUMBER, "timestamp": "TIMESTAMP"},
    timestamp=_utc_text,
    number=str,  # sqlite3 cannot bind Decimal; NUMERIC affinity stores it as a number
)
POSTGRES = SqlDialect(
    name="postgresql",
    quote='"{}"',
    types={"text": _TEXT, "number": _NUMBER, "timestamp": "TIMESTAMP WITH TIME ZONE"},
)
MYSQL = SqlDialect(
    name="mysql",
    quote="`{}`",
    # DATETIME holds UTC without time-zone conversion (TIMESTAMP would convert and end in 2038)
    types={"text": _TEXT, "number": "DECIMAL(18,4)", "timestamp": "DATETIME(6)"},
    timestamp=lambda v: as_utc(v).replace(tzinfo=None),
)
GENERIC = SqlDialect(
    name="generic",
    quote='"{}"',
    types={"text": _TEXT, "number": _NUMBER, "timestamp": "TIMESTAMP"},
    timestamp=lambda v: as_utc(v).replace(tzinfo=None),
)
_DIALECTS = {"sqlite": SQLITE, "postgresql": POSTGRES, "postgres": POSTGRES, "mysql": MYSQL, "mariadb": MYSQL}


def dialect_for(hook: DbApiHook) -> SqlDialect:
    """Return the dialect of a common-sql hook (:data:`GENERIC` for untested databases).

    :param hook: any common-sql hook.
    """
    return _DIALECTS.get(hook.dialect_name, GENERIC)


@contextmanager
def transaction(hook: DbApiHook) -> Iterator[Any]:
    """Yield a cursor of a fresh connection with autocommit off; commit at the end, roll back on error.

    :param hook: the database hook.
    """
    with closing(hook.get_conn()) as conn:
        if hook.supports_autocommit:
            hook.set_autocommit(conn, False)
        try:
            with closing(conn.cursor()) as cur:
                yield cur
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


def ensure_table(cur: Any, dialect: SqlDialect, table: TableName, spec: TableSpec, create: bool) -> None:
    """Create ``table`` when absent (if ``create``), then check it can hold ``spec``'s rows.

    Never alters or drops an existing table.

    :param cur: a cursor.
    :param dialect: the database's dialect.
    :param table: the table.
    :param spec: the columns and key the rows need.
    :param create: whether to create the table when it does not exist.
    :raises TableSchemaError: the table is missing, lacks columns, or (MySQL) lacks the unique key.
    """
    if create:
        if dialect is POSTGRES:
            # Concurrent CREATE TABLE IF NOT EXISTS of one new table can fail on PostgreSQL with a
            # unique violation in pg_type; serialize the creators until the DDL transaction ends.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"airflow_provider_credits:{table}",))
        cur.execute(dialect.create_table_sql(table, spec))
    try:
        cur.execute(f"SELECT * FROM {dialect.ident(table)} WHERE 1 = 0")
        existing = {d[0].lower() for d in cur.description}
        cur.fetchall()
    except Exception as exc:
        raise TableSchemaError(
            f"cannot read table {table}: {exc}. Create it, or let the task create it (create_tables=True)."
        ) from exc
    missing = [n for n in spec.names if n not in existing]
    if missing:
        raise TableSchemaError(
            f"table {table} exists but lacks the required columns {', '.join(missing)}; "
            "add them (see docs/operator.md for the schema) or write to another table"
        )
    if dialect is MYSQL and not _mysql_has_unique_key(cur, dialect, table, spec.key):
        # ON DUPLICATE KEY UPDATE without a matching key would silently insert duplicates
        raise TableSchemaError(
            f"table {table} has no PRIMARY KEY or UNIQUE index on ({', '.join(spec.key)}); "
            "the upsert needs one to avoid duplicate rows"
        )


def _mysql_has_unique_key(cur: Any, dialect: SqlDialect, table: TableName, key: Sequence[str]) -> bool:
    cur.execute(f"SHOW INDEX FROM {dialect.ident(table)}")
    names = [d[0].lower() for d in cur.description]
    keys: dict[str, set[str]] = {}
    for raw in cur.fetchall():
        row = dict(zip(names, raw, strict=True))
        if not int(row["non_unique"]):
            keys.setdefault(row["key_name"], set()).add(row["column_name"].lower())
    return set(key) in keys.values()


def upsert_rows(
    cur: Any,
    hook: DbApiHook,
    dialect: SqlDialect,
    table: TableName,
    spec: TableSpec,
    rows: Iterable[Sequence[Any]],
    chunk_size: int = 5000,
) -> int:
    """Upsert ``rows`` in chunks of multi-row statements; nothing is committed here.

    Rows hold values in ``spec`` column order, timestamps and numbers already passed through
    ``dialect.adapters()``. Only ``chunk_size`` rows are held at once. Within a chunk only the
    last row of each key is written (what row-by-row upserts would leave): one statement must
    not touch a row twice, which PostgreSQL refuses.

    :param cur: a cursor inside :func:`transaction`.
    :param hook: the database hook (placeholder, fallback dialect).
    :param dialect: the database's dialect.
    :param table: target table.
    :param spec: its columns and key.
    :param rows: the rows.
    :param chunk_size: rows held and sent at once.
    :return: the number of rows written.
    """
    per_statement = dialect.rows_per_statement(spec)
    full_sql = dialect.upsert_sql(hook, table, spec, rows=per_statement)
    width = len(spec.columns)
    step = per_statement * width  # values per full statement
    key = itemgetter(*(spec.names.index(k) for k in spec.key))
    rows = iter(rows)
    written = 0
    while chunk := list(islice(rows, chunk_size)):
        unique = dict(zip(map(key, chunk), chunk, strict=True))  # a repeated key keeps its last row
        if {*map(len, unique.values())} != {width}:  # a short row would shift the values of the next ones
            raise ValueError(f"every row must hold {width} values ({', '.join(spec.names)})")
        values = list(chain.from_iterable(unique.values()))  # flattened once, sliced per statement
        full = len(values) - len(values) % step
        if full:
            cur.executemany(full_sql, [values[i : i + step] for i in range(0, full, step)])
        if full < len(values):
            rest = values[full:]
            cur.execute(dialect.upsert_sql(hook, table, spec, rows=len(rest) // width), rest)
        written += len(unique)
    return written
