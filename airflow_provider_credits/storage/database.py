"""The one place that knows databases apart: engines, transactions, locks, upserts, errors, and
reading timestamps as text.

Everything goes through SQLAlchemy Core on the engine of a common-sql hook
(``DbApiHook.get_sqlalchemy_engine()``): ``create()`` with ``checkfirst``, ``inspect()`` for
the column and key checks, the PostgreSQL/SQLite ``on_conflict_do_update`` and MySQL
``on_duplicate_key_update`` upserts, ``with_for_update()`` for locks, and SQLAlchemy's
documented pysqlite recipe to start SQLite transactions with ``BEGIN IMMEDIATE``. Other
databases get the generic insert/update path where it exists and a clear error where not.

Bulk upserts are compiled once by SQLAlchemy and then sent with
``Connection.exec_driver_sql`` in multi-row statements, with SQLAlchemy's own bind
processors applied a column at a time: the write stays within reach of the raw driver.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from itertools import chain, islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from airflow_provider_credits.exceptions import CreditsError, CreditsStorageError, TableSchemaError
from airflow_provider_credits.models import as_utc

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

#: bound parameters per statement: SQLite's historic limit (PostgreSQL and MySQL allow far more)
MAX_PARAMS_PER_STATEMENT = 999

#: SQLite: how long a writer waits for the database lock before giving up (seconds)
SQLITE_BUSY_TIMEOUT_S = 30.0

#: how long creating or upgrading a table waits for a lock (seconds): for any session's lock on the
#: table (PostgreSQL: ``lock_timeout``; MySQL/MariaDB: ``lock_wait_timeout``, whole seconds, for its
#: metadata lock) and, on MySQL/MariaDB, for another run doing the same (``GET_LOCK``); then it
#: fails with a CreditsStorageError naming the table
DDL_LOCK_TIMEOUT_S = 600

#: PostgreSQL: how long a write waits for another writer's lock on its table (seconds); then it
#: fails with a CreditsStorageError instead of hanging until the task's own timeout
WRITE_LOCK_TIMEOUT_S = 600

#: MySQL/MariaDB's error "Lock wait timeout exceeded" (ER_LOCK_WAIT_TIMEOUT)
MYSQL_LOCK_WAIT_TIMEOUT = 1205

_SERVER_DIALECTS = ("postgresql", "mysql", "mariadb")
_IMMEDIATE = "credits_immediate"  # execution option read by the SQLite "begin" listener


@dataclass(frozen=True)
class Counts:
    """What an upsert did to the rows it was given.

    :param inserted: rows that did not exist.
    :param updated: rows that existed with other values (now overwritten).
    :param unchanged: rows that existed with the same values (left as they were).
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def rows(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


def send(conn: sa.Connection, sql: str, params: Any) -> int:
    """Send one compiled statement (``params`` a list: executemany) and return the rows it affected.

    The single seam through which bulk writes reach the driver (tests wrap it to inject faults).
    """
    return int(conn.exec_driver_sql(sql, params).rowcount)


class _Memo(dict[Any, Any]):
    """Results of ``convert`` by value; emptied when full, so memory stays flat.

    Look values up with ``memo.__getitem__``: a hit runs no Python code.
    """

    def __init__(self, convert: Callable[[Any], Any], size: int = 4096) -> None:
        super().__init__()
        self.convert, self.size = convert, size

    def __missing__(self, value: Any) -> Any:
        if len(self) >= self.size:
            self.clear()
        out = self[value] = None if value is None else self.convert(value)
        return out


def _redact(text: str, secrets: Sequence[str | None]) -> str:
    """``text`` with each of ``secrets`` replaced by ``***``, as Airflow masks secrets in task logs.

    Like Airflow's secrets masker, secrets shorter than ``[logging] min_length_masked_secret``
    (default 5) are left alone: a short password such as ``lock`` occurs inside ordinary words
    ("canceling statement due to *** timeout"), which garbles the message and, since the driver's
    text is well known, tells which word the password is. Airflow leaves such a password unmasked
    in the task's logs anyway.
    """
    min_length = _min_masked_length()
    for secret in secrets:
        if secret and len(secret) >= min_length:
            text = text.replace(secret, "***")
    return text


def _min_masked_length() -> int:
    """Airflow's ``[logging] min_length_masked_secret``, or its default 5 when unset or unreadable."""
    from airflow_provider_credits.version_compat import conf

    try:
        return max(1, conf.getint("logging", "min_length_masked_secret", fallback=5))
    except Exception:  # a malformed setting: Airflow's default
        return 5


class Database:
    """A common-sql connection seen through SQLAlchemy Core. No I/O until a method runs.

    :param hook: any common-sql ``DbApiHook``.
    """

    def __init__(self, hook: DbApiHook) -> None:
        self.hook = hook

    @cached_property
    def engine(self) -> sa.Engine:
        """The hook's engine; one connection per transaction (no pool kept open between tasks)."""
        from sqlalchemy.pool import NullPool

        engine = self.hook.get_sqlalchemy_engine({"poolclass": NullPool})
        if engine.dialect.name == "sqlite":
            engine.dispose()
            engine = self.hook.get_sqlalchemy_engine(
                {"poolclass": NullPool, "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
            )
            _sqlite_transactions(engine)
        return engine

    @property
    def name(self) -> str:
        """SQLAlchemy's name of the database (``sqlite``, ``postgresql``, ``mysql`` ...)."""
        return self.engine.dialect.name

    def dispose(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()

    # ---------------------------------------------------------------- transactions

    @contextmanager
    def begin(self, *, exclusive: bool = False, read_committed: bool = False) -> Iterator[sa.Connection]:
        """A transaction on a fresh connection: committed at the end, rolled back on any error.

        :param exclusive: SQLite: take the database's write lock at once (``BEGIN IMMEDIATE``),
            so what is read before writing cannot change until the commit.
        :param read_committed: PostgreSQL/MySQL: every statement sees what was committed before it
            (MySQL's default REPEATABLE READ would keep reading an older snapshot after a lock).
        """
        options: dict[str, Any] = {_IMMEDIATE: exclusive}
        if read_committed and self.name in _SERVER_DIALECTS:
            options["isolation_level"] = "READ COMMITTED"
        with self.engine.connect() as conn:
            conn.execution_options(**options)
            with conn.begin():
                yield conn

    @contextmanager
    def errors(self, operation: str, table: object) -> Iterator[None]:
        """Turn a database error into :class:`CreditsStorageError` naming ``operation`` and ``table``.

        Use it around a :meth:`begin` block: the transaction is rolled back before the error
        arrives here. The message never holds the connection's password or the statement's values.
        """
        try:
            yield
        except CreditsError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None) or exc
            detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
            if not isinstance(orig, sa.exc.DBAPIError) and "[SQL:" in detail:
                detail = detail.split("[SQL:")[0].strip()
            url = self.engine.url
            detail = _redact(detail, [url.password if isinstance(url.password, str) else None])
            raise CreditsStorageError(
                f"{operation} failed on table {table} ({self.name}, connection "
                f"{self.hook.get_conn_id()!r}): {type(orig).__name__}: {detail}"
            ) from orig

    # ---------------------------------------------------------------- tables

    def prepare(self, tables: Sequence[sa.Table], *, create: bool) -> None:
        """Create the missing ``tables`` (if ``create``), upgrade old layouts, check columns and keys.

        Never drops a table or a column. Safe when several workers run it at once: a
        concurrent creation or upgrade is caught and the table checked again.

        :raises TableSchemaError: a table is missing (and ``create`` is False), lacks columns
            or its unique key.
        :raises CreditsStorageError: the database failed.
        """
        from airflow_provider_credits.storage.migrations import needs_upgrade, upgrade

        for t in tables:
            with self.errors("checking", t.fullname), self.begin() as conn:  # the usual case: all is well
                inspector = sa.inspect(conn)
                exists = inspector.has_table(t.name, schema=t.schema)
                if exists and not needs_upgrade(inspector, t):
                    self._check(inspector, t, exists)
                    if not (create and _missing_indexes(inspector, t)):
                        continue
            if not exists and not create:
                self._check(inspector, t, exists)
            for attempt in range(3):
                try:
                    with (
                        self.errors("creating or upgrading", t.fullname),
                        self.begin(exclusive=True) as conn,
                        self.ddl_lock(conn, t),
                    ):
                        inspector = sa.inspect(conn)  # (after the lock: sees what another run did)
                        if not inspector.has_table(t.name, schema=t.schema):
                            t.create(conn, checkfirst=True)
                        elif needs_upgrade(inspector, t):
                            upgrade(conn, inspector, t)
                        if create:  # tables made by older versions, or upgraded: add the indexes
                            for index in _missing_indexes(sa.inspect(conn), t):
                                index.create(conn, checkfirst=True)
                    break
                except CreditsStorageError as exc:
                    if isinstance(exc, TableSchemaError) or _lock_wait_ran_out(exc) or attempt == 2:
                        raise
                    # another worker created or upgraded it meanwhile: look again
            with self.errors("checking", t.fullname), self.begin() as conn:
                inspector = sa.inspect(conn)
                self._check(inspector, t, inspector.has_table(t.name, schema=t.schema))

    @contextmanager
    def ddl_lock(self, conn: sa.Connection, t: sa.Table) -> Iterator[None]:
        """Bound the lock waits of creating or upgrading ``t``, and keep concurrent runs apart.

        MySQL/MariaDB: hold a named lock (``GET_LOCK``) on ``t`` meanwhile. MySQL commits each DDL
        statement on its own, so without it a concurrent run could see the table halfway through
        an upgrade (e.g. between DROP and ADD PRIMARY KEY) and start the upgrade again, or find no
        key. PostgreSQL and SQLite run the DDL in one transaction, holding the table's lock until
        the commit. On PostgreSQL and MySQL/MariaDB the DDL waits for other sessions' locks on the
        table (an open transaction that read or wrote it) at most ``DDL_LOCK_TIMEOUT_S``
        (PostgreSQL: ``lock_timeout`` for the transaction; MySQL/MariaDB: the session's
        ``lock_wait_timeout`` for the metadata lock, set back afterwards): an ``ALTER TABLE`` or
        ``CREATE INDEX`` waiting for its exclusive lock makes every new reader of the table queue
        behind it, so it must not wait without end (the servers' defaults: none on PostgreSQL, a day
        on MariaDB, a year on MySQL).

        :raises CreditsStorageError: a lock was not granted within ``DDL_LOCK_TIMEOUT_S``.
        """
        if self.name == "postgresql":
            _set_lock_timeout(conn, DDL_LOCK_TIMEOUT_S)
            with self._ddl_waits(t):
                yield
            return
        if self.name not in ("mysql", "mariadb"):
            yield
            return
        import hashlib

        where = f"{self.engine.url.database}.{t.fullname}"
        name = "credits_ddl:" + hashlib.sha256(where.encode()).hexdigest()[:48]  # at most 64 characters
        got = conn.execute(
            sa.text("SELECT GET_LOCK(:name, :timeout)"), {"name": name, "timeout": DDL_LOCK_TIMEOUT_S}
        )
        if got.scalar() != 1:
            raise CreditsStorageError(
                f"creating or upgrading table {t.fullname} ({self.name}): another run held its lock "
                f"for more than {DDL_LOCK_TIMEOUT_S:g} s"
            ) from TimeoutError(f"GET_LOCK waited {DDL_LOCK_TIMEOUT_S:g} s")
        try:
            before = int(conn.exec_driver_sql("SELECT @@SESSION.lock_wait_timeout").scalar_one())
            conn.exec_driver_sql(f"SET SESSION lock_wait_timeout = {max(1, math.ceil(DDL_LOCK_TIMEOUT_S))}")
            try:
                with self._ddl_waits(t):
                    yield
            finally:
                # a lost connection (invalidated: using it would raise "Can't reconnect until
                # invalid transaction is rolled back" over the real error) is not reused
                if not conn.invalidated:
                    with suppress(sa.exc.DBAPIError):
                        conn.exec_driver_sql(f"SET SESSION lock_wait_timeout = {before}")
        finally:
            if not conn.invalidated:  # else the server released the lock with the session
                with suppress(sa.exc.DBAPIError):
                    conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": name})

    @contextmanager
    def _ddl_waits(self, t: sa.Table) -> Iterator[None]:
        """Turn a DDL statement's lock wait that ran out (see :meth:`ddl_lock`) into a
        :class:`CreditsStorageError` naming ``t``.

        :raises CreditsStorageError: a statement waited more than ``DDL_LOCK_TIMEOUT_S``.
        """
        try:
            yield
        except sa.exc.DBAPIError as exc:
            if not _lock_wait_ran_out(exc):
                raise
            statement = " ".join(str(exc.statement or "DDL").split()[:2]).upper()
            outcome = (
                "nothing was changed"
                if self.name == "postgresql"
                else "it was not run (MySQL commits each DDL statement: the next run goes on from there)"
            )
            raise CreditsStorageError(
                f"creating or upgrading table {t.fullname} ({self.name}, connection "
                f"{self.hook.get_conn_id()!r}): {statement} waited more than {DDL_LOCK_TIMEOUT_S:g} s "
                f"for a lock that another session holds on the table (e.g. a transaction left open); {outcome}"
            ) from exc.orig

    @staticmethod
    def _check(inspector: sa.Inspector, t: sa.Table, exists: bool) -> None:
        if not exists:
            raise TableSchemaError(
                f"cannot read table {t.fullname}: it does not exist. Create it, or let the task create it "
                "(create_tables=True)."
            )
        existing = {c["name"].lower() for c in inspector.get_columns(t.name, schema=t.schema)}
        missing = [c.name for c in t.columns if c.name not in existing]
        if missing:
            raise TableSchemaError(
                f"table {t.fullname} exists but lacks the required columns {', '.join(missing)}; "
                "add them (see docs/storage.md for the schema) or write to another table"
            )
        key = {c.name for c in t.primary_key.columns}
        if key not in _unique_keys(inspector, t):
            # an upsert without a matching key would fail, or silently insert duplicates (MySQL)
            raise TableSchemaError(
                f"table {t.fullname} has no PRIMARY KEY or UNIQUE index on ({', '.join(sorted(key))}); "
                "the upsert needs one to avoid duplicate rows"
            )

    # ---------------------------------------------------------------- writes

    def insert_statement(self, t: sa.Table) -> Any:
        """The dialect's ``INSERT`` construct (with its upsert clauses), or the generic one."""
        from sqlalchemy.dialects import mysql, postgresql, sqlite

        inserts: dict[str, Callable[[sa.Table], Any]] = {
            "postgresql": postgresql.insert,
            "sqlite": sqlite.insert,
            "mysql": mysql.insert,
            "mariadb": mysql.insert,
        }
        insert = inserts.get(self.name)
        if insert is None:
            raise CreditsStorageError(
                f"upserts into {t.fullname} are supported on SQLite, PostgreSQL and MySQL/MariaDB, "
                f"not {self.name}"
            )
        return insert(t)

    def upsert_statement(self, t: sa.Table, values: Any = None) -> Any:
        """``INSERT`` of ``values`` that overwrites the row with the same key only if it differs.

        Columns in ``t.info["touched_only"]`` (e.g. ``fetched_at``) are written only with a change
        elsewhere, so an unchanged row is left exactly as it was.
        """
        from airflow_provider_credits.storage.tables import TOUCHED_ONLY

        ins = self.insert_statement(t)
        if values is not None:
            ins = ins.values(values)
        key = {c.name for c in t.primary_key.columns}
        touched = [n for n in t.info.get(TOUCHED_ONLY, ()) if n not in key]
        compared = [c.name for c in t.columns if c.name not in key and c.name not in touched]
        if not compared:
            return self.insert_missing_statement(t, ins)
        if self.name in ("mysql", "mariadb"):
            new = ins.inserted
            changed = sa.or_(*(t.c[n].is_distinct_from(new[n]) for n in compared))
            # MySQL assigns left to right, later terms seeing earlier results: decide the touched
            # columns first, while the compared ones still hold their old values
            assignments = [(n, sa.case((changed, new[n]), else_=t.c[n])) for n in touched]
            assignments += [(n, new[n]) for n in compared]
            return ins.on_duplicate_key_update(assignments)
        new = ins.excluded
        return ins.on_conflict_do_update(
            index_elements=list(t.primary_key.columns),
            set_={n: new[n] for n in (*compared, *touched)},
            where=sa.or_(*(t.c[n].is_distinct_from(new[n]) for n in compared)),
        )

    def insert_missing_statement(self, t: sa.Table, ins: Any = None) -> Any:
        """``INSERT`` that leaves an existing row with the same key untouched."""
        ins = self.insert_statement(t) if ins is None else ins
        if self.name in ("mysql", "mariadb"):
            first = next(iter(t.primary_key.columns))
            return ins.on_duplicate_key_update({first.name: t.c[first.name]})
        return ins.on_conflict_do_nothing(index_elements=list(t.primary_key.columns))

    def upsert_many(
        self, conn: sa.Connection, t: sa.Table, rows: Iterable[Mapping[str, Any]], chunk_size: int = 5000
    ) -> Counts:
        """Upsert ``rows`` (mappings of column name to value) in chunks of multi-row statements.

        Nothing is committed here. Only ``chunk_size`` rows are held at once. A key repeated within
        the rows ends with its last row's values, as row-by-row upserts would leave it (on
        PostgreSQL, which refuses a statement touching a row twice, only that last row is sent;
        elsewhere the repeats count as updates).

        :param conn: a connection inside :meth:`begin` (``exclusive=True`` on SQLite, so the counts
            are exact).
        :param t: the table.
        :param rows: the rows, each holding every column of ``t``.
        :param chunk_size: rows held and sent at once.
        :return: how many rows were inserted, updated and left unchanged.
        :raises ValueError: a row lacks a column or holds others.
        """
        return _BulkUpsert(self, conn, t).run(rows, chunk_size)

    def lock_writers(self, conn: sa.Connection, t: sa.Table) -> None:
        """Keep other writers of ``t`` out until the transaction ends (readers are not blocked).

        The counts of :meth:`upsert_many` compare the table's size before and after the write: on
        PostgreSQL (READ COMMITTED) the second count would include rows that another transaction
        committed meanwhile, so the table is locked ``IN SHARE ROW EXCLUSIVE MODE``. SQLite's
        exclusive transaction and MySQL's snapshot (REPEATABLE READ) already keep them out. The
        wait is bounded by ``WRITE_LOCK_TIMEOUT_S`` (``lock_timeout`` for this transaction), as
        SQLite's by its busy timeout and InnoDB's by ``innodb_lock_wait_timeout``.
        """
        if self.name == "postgresql":
            table = conn.dialect.identifier_preparer.format_table(t)
            _set_lock_timeout(conn, WRITE_LOCK_TIMEOUT_S)
            conn.exec_driver_sql(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")

    def count(self, conn: sa.Connection, t: sa.Table) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())

    @property
    def found_rows(self) -> bool:
        """MySQL: whether the driver counts a matched but unchanged row as affected (FOUND_ROWS)."""
        flag = getattr(self.engine.dialect, "_found_rows_client_flag", None)
        return bool(flag and flag() is not None)


# ---------------------------------------------------------------- reading timestamps as text


def iso_utc(moment: datetime | None) -> str | None:
    """``2026-11-30T12:00:00Z``: an instant as ISO 8601 UTC text (seconds; microseconds only when
    present), or None. A naive ``moment`` is taken as UTC."""
    if moment is None:
        return None
    return as_utc(moment).isoformat().removesuffix("+00:00") + "Z"


def utc_text(
    conn: sa.Connection, column: sa.Column[Any]
) -> tuple[sa.ColumnElement[Any], Callable[[Any], str | None]]:
    """How to read a timestamp column (:class:`~airflow_provider_credits.storage.tables.UtcDateTime`)
    as ISO 8601 UTC text, the fastest way the database allows.

    :param conn: the connection the query runs on.
    :param column: the column, of one of the package's tables.
    :return: ``(expression, to_text)``: the expression to select (named as the column) and the
        function that turns each value it returns into :func:`iso_utc`'s text (None stays None).
        SQLite stores ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC: that text is reshaped, skipping the
        conversion to ``datetime`` and back that costs most of a large answer. Elsewhere the
        value is a ``datetime``, formatted by :func:`iso_utc`.
    """
    if conn.dialect.name == "sqlite":
        return sa.type_coerce(column, sa.String()).label(column.name), _sqlite_iso
    return column, iso_utc


def _sqlite_iso(text: str | None) -> str | None:
    if text is None:
        return None
    micro = text[20:26]
    return f"{text[:10]}T{text[11:19]}{'.' + micro if micro.strip('0') else ''}Z"


def _set_lock_timeout(conn: sa.Connection, seconds: float) -> None:
    """PostgreSQL: a statement of this transaction waits at most ``seconds`` for a lock, then fails."""
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{max(1, round(seconds * 1000))}ms'")


def _lock_wait_ran_out(exc: BaseException) -> bool:
    """Whether ``exc``, or the error it was raised from, is a bounded lock wait that ran out.

    PostgreSQL's ``lock_not_available`` (SQLSTATE 55P03, from ``lock_timeout``; psycopg 3 names it
    ``sqlstate``, psycopg2 ``pgcode``), MySQL/MariaDB's "Lock wait timeout exceeded" (error 1205,
    from ``lock_wait_timeout`` or ``innodb_lock_wait_timeout``; mysqlclient and PyMySQL give it as
    the first argument, mysql-connector as ``errno``), or ``GET_LOCK``'s timeout. Such a wait is
    not tried again: the bound would multiply.
    """
    for error in (exc, getattr(exc, "orig", None), exc.__cause__):
        if error is None:
            continue
        if isinstance(error, TimeoutError):
            return True
        if "55P03" in (getattr(error, "sqlstate", None), getattr(error, "pgcode", None)):
            return True
        args = getattr(error, "args", ())
        if getattr(error, "errno", None) == MYSQL_LOCK_WAIT_TIMEOUT or args[:1] == (MYSQL_LOCK_WAIT_TIMEOUT,):
            return True
    return False


def _missing_indexes(inspector: sa.Inspector, t: sa.Table) -> list[sa.Index]:
    """The indexes of ``t`` (by name) that the existing table lacks."""
    if not t.indexes:
        return []
    existing = {str(i["name"]).lower() for i in inspector.get_indexes(t.name, schema=t.schema)}
    return [i for i in t.indexes if str(i.name).lower() not in existing]


class _BulkUpsert:
    """One bulk upsert: statements compiled once per size, values converted a column at a time."""

    def __init__(self, db: Database, conn: sa.Connection, t: sa.Table) -> None:
        self.db, self.conn, self.t = db, conn, t
        self.names = [c.name for c in t.columns]
        self.width = len(self.names)
        # multi-row statements save a round trip per row on a server, and SQLite runs one of 111
        # rows in about 0.7 of the time of 111 one-row statements (benchmarks/NOTES.md, round 9)
        self.per_statement = max(1, MAX_PARAMS_PER_STATEMENT // self.width)
        dialect = conn.dialect
        self.processors: list[tuple[int, Callable[[list[Any]], Iterable[Any]]]] = []
        memos: dict[Any, Callable[[Any], Any]] = {}
        for i, c in enumerate(t.columns):
            proc: Callable[[Any], Any] | None = c.type.dialect_impl(dialect).bind_processor(dialect)
            # (SQLAlchemy's processors pass None through)
            if proc is not None and isinstance(c.type, sa.types.TypeDecorator):
                # timestamps repeat across rows and columns: remember their conversion, and convert
                # only when the value differs from the row before (periods come in runs)
                self.processors.append((i, _by_runs(memos.setdefault(proc, _Memo(proc).__getitem__))))
            elif proc is not None:
                self.processors.append((i, partial(map, proc)))
        self._compiled: dict[int, tuple[str, list[str] | None]] = {}

    def statement(self, rows: int) -> tuple[str, list[str] | None]:
        """SQL for ``rows`` rows and, for named parameter styles, the parameter names in value order."""
        if rows not in self._compiled:
            values = [
                {n: sa.bindparam(f"p{r}_{j}", type_=self.t.c[n].type) for j, n in enumerate(self.names)}
                for r in range(rows)
            ]
            stmt = self.db.upsert_statement(self.t, values)
            compiled = stmt.compile(dialect=self.conn.dialect)
            order = [f"p{r}_{j}" for r in range(rows) for j in range(self.width)]
            if compiled.positional:
                if list(compiled.positiontup or ()) != order:
                    raise CreditsStorageError(
                        f"unexpected parameter order compiling the upsert into {self.t}"
                    )
                self._compiled[rows] = (compiled.string, None)
            else:
                self._compiled[rows] = (compiled.string, order)
        return self._compiled[rows]

    def params(self, names: list[str] | None, values: list[Any]) -> Any:
        return tuple(values) if names is None else dict(zip(names, values, strict=True))

    def run(self, rows: Iterable[Mapping[str, Any]], chunk_size: int) -> Counts:
        get = itemgetter(*self.names)
        key = itemgetter(*(c.name for c in self.t.primary_key.columns))
        width, step = self.width, self.per_statement * self.width
        self.db.lock_writers(self.conn, self.t)
        before = self.db.count(self.conn, self.t)
        affected = written = 0
        rows = iter(rows)
        # PostgreSQL refuses a statement touching one row twice: keep the last row of a repeated key
        # (what row-by-row upserts leave). SQLite and MySQL apply a statement's rows in order, so the
        # last row wins there anyway, and the rows are not hashed (the costliest step of a write).
        dedupe = self.db.name == "postgresql"
        while chunk := list(islice(rows, chunk_size)):
            try:
                if {*map(len, chunk)} != {width}:
                    raise KeyError
                tuples: Iterable[tuple[Any, ...]] = map(get, chunk)
                if dedupe:
                    tuples = dict(zip(map(key, chunk), tuples, strict=True)).values()
                values = list(chain.from_iterable(tuples))  # flattened once, sliced per statement
            except KeyError:
                raise ValueError(f"every row must hold exactly the columns {', '.join(self.names)}") from None
            for i, convert in self.processors:
                values[i::width] = convert(values[i::width])
            full = len(values) - len(values) % step
            if full:
                sql, names = self.statement(self.per_statement)
                groups = [self.params(names, values[i : i + step]) for i in range(0, full, step)]
                affected += send(self.conn, sql, groups)
            if full < len(values):
                sql, names = self.statement((len(values) - full) // width)
                affected += send(self.conn, sql, self.params(names, values[full:]))
            written += len(values) // width
        inserted = self.db.count(self.conn, self.t) - before
        if self.db.name in ("mysql", "mariadb"):
            # affected rows: 1 per insert, 2 per update, 1 (FOUND_ROWS) or 0 per unchanged row
            updated = affected - written if self.db.found_rows else (affected - inserted) // 2
        else:
            updated = affected - inserted  # unchanged rows are skipped by the upsert's WHERE
        return Counts(inserted, updated, written - inserted - updated)


def _by_runs(convert: Callable[[Any], Any]) -> Callable[[list[Any]], list[Any]]:
    """Convert a column's values, calling ``convert`` only where a value differs from the one before."""

    def column(values: list[Any]) -> list[Any]:
        out: list[Any] = []
        append = out.append
        last: Any = _NOTHING
        converted = None
        for value in values:
            if value is not last and value != last:
                last, converted = value, convert(value)
            append(converted)
        return out

    return column


_NOTHING = object()


def _unique_keys(inspector: sa.Inspector, t: sa.Table) -> list[set[str]]:
    """Column sets of the primary key, unique constraints and unique indexes of ``t``."""
    keys = [{c.lower() for c in inspector.get_pk_constraint(t.name, schema=t.schema)["constrained_columns"]}]
    keys += [
        {c.lower() for c in u["column_names"]}
        for u in inspector.get_unique_constraints(t.name, schema=t.schema)
    ]
    keys += [
        {str(c).lower() for c in i["column_names"]}
        for i in inspector.get_indexes(t.name, schema=t.schema)
        if i.get("unique")
    ]
    return keys


def _sqlite_transactions(engine: sa.Engine) -> None:
    """SQLAlchemy's pysqlite recipe ("Serializable isolation / Savepoints / Transactional DDL").

    pysqlite's own transaction handling is turned off; SQLAlchemy emits ``BEGIN`` itself, or
    ``BEGIN IMMEDIATE`` for an exclusive transaction (:meth:`Database.begin`), which takes the
    database's write lock before anything is read.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_IMMEDIATE) else "BEGIN")
