"""The Credits page's FastAPI app: the page, its static files and a read-only JSON API.

Mounted by the plugin at ``/credits`` on Airflow's API server. Airflow adds no authentication
to a plugin's app, so every route here declares it: the caller must be a user of the Airflow
UI (``requires_access_view(AccessView.WEBSITE)``), by the UI's ``_token`` cookie or a
``Authorization: Bearer`` token. Without one the API answers 401, with an invalid one 403;
the page itself redirects to the login page.

Routes (all ``GET``; amounts are JSON numbers, times ISO 8601 UTC):

* ``/credits/``: the page; ``/credits/static/<file>``: its script, styles and chart library.
* ``/credits/api/status``: the data source: connection, database, which tables exist.
* ``/credits/api/balances``: the latest balance per vendor, account and pool.
* ``/credits/api/history``: balance snapshots over time (``vendor``, ``account``, ``pool``,
  ``since``, ``until``; default the last 90 days).
* ``/credits/api/usage``: daily usage, same filters.
* ``/credits/api/forecast``: burn rate, days left and run-out date per pool.
* ``/credits/api/reservations``: the active reservations, with what is still outstanding.
* ``/credits/api/spend``: spend per DAG and period against its budget (the ledger).

The data source is the common-sql connection ``[credits] dashboard_conn_id`` (default
``credits_db``), tables in ``[credits] dashboard_schema`` (default: the connection's).
When the connection is missing the API answers 503 with ``{"detail": {"state":
"missing_connection", "message": ...}}`` and the page shows the message.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from airflow_provider_credits.exceptions import CreditsStorageError
from airflow_provider_credits.plugins import data
from airflow_provider_credits.storage.database import Database, iso_utc

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["DEFAULT_CONN_ID", "STATIC", "DataSource", "collect", "create_app", "render_page", "write_page"]

DEFAULT_CONN_ID = "credits_db"
STATIC = Path(__file__).with_name("static")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", "": "text/plain"}
#: how long a resolved connection (its engine) is reused before it is looked up again (seconds)
CONNECTION_TTL_S = 30.0


class DataUnavailable(Exception):
    """The data source cannot be read; ``state`` is ``missing_connection``, ``not_sql`` or ``error``."""

    def __init__(self, state: str, message: str) -> None:
        super().__init__(message)
        self.state, self.message = state, message


class DataSource:
    """The common-sql connection the page reads, looked up when first needed and re-read every 30 s.

    :param conn_id: the connection id (default: ``[credits] dashboard_conn_id`` or ``credits_db``).
    :param tables: the tables (default: the package's names in ``[credits] dashboard_schema``).
    """

    def __init__(self, conn_id: str | None = None, tables: data.Tables | None = None) -> None:
        self._conn_id, self._tables = conn_id, tables
        self._lock = threading.Lock()
        self._cached: tuple[float, Database] | None = None

    @property
    def conn_id(self) -> str:
        if self._conn_id is None:
            from airflow.configuration import conf

            self._conn_id = (
                conf.get("credits", "dashboard_conn_id", fallback=DEFAULT_CONN_ID) or DEFAULT_CONN_ID
            )
        return self._conn_id

    @property
    def tables(self) -> data.Tables:
        if self._tables is None:
            from airflow.configuration import conf

            self._tables = data.Tables.named(conf.get("credits", "dashboard_schema", fallback=None) or None)
        return self._tables

    def budgets(self) -> dict[str, Any]:
        """Budgets per DAG id or budget key, from ``[credits] dashboard_budgets`` (a JSON object).

        :raises DataUnavailable: the option is not a JSON object of numbers.
        """
        from airflow.configuration import conf

        raw = conf.get("credits", "dashboard_budgets", fallback="") or "{}"
        try:
            budgets = json.loads(raw)
            if not isinstance(budgets, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in budgets.values()
            ):
                raise ValueError
        except ValueError:
            raise DataUnavailable(
                "bad_config",
                '[credits] dashboard_budgets must be a JSON object of numbers, e.g. {"my_dag": 5000}',
            ) from None
        return budgets

    def database(self) -> Database:
        """The connection's :class:`Database`.

        :raises DataUnavailable: the connection does not exist or is not a SQL connection.
        """
        with self._lock:
            if self._cached is not None and time.monotonic() < self._cached[0]:
                return self._cached[1]
            db = self._resolve()
            if self._cached is not None:
                self._cached[1].dispose()
            self._cached = (time.monotonic() + CONNECTION_TTL_S, db)
            return db

    def _resolve(self) -> Database:
        from airflow.exceptions import AirflowNotFoundException
        from airflow.models.connection import Connection
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        conn_id = self.conn_id
        try:
            conn = Connection.get_connection_from_secrets(conn_id)
        except AirflowNotFoundException:
            raise DataUnavailable(
                "missing_connection",
                f"The connection {conn_id!r} does not exist. Create a SQL connection (SQLite, PostgreSQL, "
                "MySQL ...) to the database your UsageToSqlOperator writes, named "
                f"{conn_id!r}, or set [credits] dashboard_conn_id to another one.",
            ) from None
        try:
            hook = conn.get_hook()
        except Exception as exc:  # an unknown type, a missing provider package
            raise DataUnavailable(
                "not_sql", f"The connection {conn_id!r} cannot be used: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(hook, DbApiHook):
            raise DataUnavailable(
                "not_sql",
                f"The connection {conn_id!r} (type {conn.conn_type!r}) is not a SQL connection: "
                "the Credits page needs a common-sql one (SQLite, PostgreSQL, MySQL ...).",
            )
        return _PooledDatabase(hook)

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read transaction on the data source.

        :raises DataUnavailable: the connection is missing or the database failed.
        """
        db = self.database()
        try:
            with db.errors("reading", "the Credits page's tables"), db.begin() as conn:
                yield conn
        except CreditsStorageError as exc:
            raise DataUnavailable("error", str(exc)) from None


class _PooledDatabase(Database):
    """A :class:`Database` whose engine keeps a few connections open between requests.

    Tasks use one connection per transaction (``NullPool``); the page answers many small
    requests, where a new PostgreSQL connection per request would cost more than the queries.
    """

    @cached_property
    def engine(self) -> sa.Engine:
        engine: sa.Engine = self.hook.get_sqlalchemy_engine({"pool_pre_ping": True, "pool_recycle": 300})
        return engine


def _auth() -> Callable[..., Any]:
    """The dependency every route declares: a user of the Airflow UI (401 / 403 otherwise)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import requires_access_view

    return requires_access_view(AccessView.WEBSITE)


def render_page(initial: dict[str, Any] | None = None, *, inline: bool = False) -> str:
    """The page's HTML.

    :param initial: data sets to embed instead of fetching them (``{"balances": [...], ...}``:
        what :func:`collect` returns); None: the page fetches ``api/...``.
    :param inline: embed the script, styles and chart library too (a self-contained file).
    """
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    payload = "null" if initial is None else json.dumps(initial, separators=(",", ":"))
    html = html.replace("/*CREDITS_DATA*/null", payload.replace("</", "<\\/"))
    if inline:
        for name in ("uPlot.min.css", "credits.css"):
            css = (STATIC / name).read_text(encoding="utf-8")
            html = html.replace(f'<link rel="stylesheet" href="static/{name}">', f"<style>\n{css}\n</style>")
        for name in ("uPlot.iife.min.js", "credits.js"):
            js = (STATIC / name).read_text(encoding="utf-8").replace("</script", "<\\/script")
            html = html.replace(f'<script src="static/{name}"></script>', f"<script>\n{js}\n</script>")
    return html


def collect(
    db: Database, tables: data.Tables, *, now: datetime, budgets: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every data set of the page at once, as the API returns them (what ``make demo`` embeds).

    :raises CreditsStorageError: the database failed.
    """
    window = data.Filters(since=now - timedelta(days=data.DEFAULT_HISTORY_DAYS))
    with db.begin() as conn:
        out = {
            "generated_at": iso_utc(now),
            "conn_id": db.hook.get_conn_id(),
            "status": data.status(conn, tables),
            "balances": data.balances(conn, tables),
            "history": data.history(conn, tables, window),
            "usage": data.usage(conn, tables, window),
            "forecast": data.forecasts(conn, tables, now=now),
            "reservations": data.reservations(conn, tables, now=now),
        }
    spend = data.spend(db, tables, now=now, budgets=budgets)
    out["spend"] = spend.pop("rows")
    out["spend_period"] = spend
    return out


def write_page(
    db: Database, tables: data.Tables, path: Path, *, now: datetime, budgets: dict[str, Any] | None = None
) -> Path:
    """Write the page with its data, script, styles and chart library in one HTML file (``make demo``).

    :return: ``path``.
    :raises CreditsStorageError: the database failed.
    """
    path.write_text(render_page(collect(db, tables, now=now, budgets=budgets), inline=True), encoding="utf-8")
    return path


def create_app(
    source: DataSource | None = None,
    *,
    clock: Callable[[], datetime] = data.utc_now,
    auth: Callable[..., Any] | None = None,
) -> FastAPI:
    """The Credits app (mount it at ``/credits``).

    :param source: where the data comes from (default: ``[credits] dashboard_conn_id``).
    :param clock: the current time (tests pin it).
    :param auth: the dependency every route declares (default: a user of the Airflow UI,
        ``requires_access_view(AccessView.WEBSITE)``); the benchmark replaces it.
    """
    source = source or DataSource()
    auth_dependency = [Depends(auth or _auth())]
    app = FastAPI(
        title="Credits",
        description="Credit balances, runway, reservations and spend (airflow-provider-credits)",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(DataUnavailable)
    async def unavailable(request: Request, exc: DataUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": {"state": exc.state, "conn_id": source.conn_id, "message": exc.message}}, 503
        )

    @app.exception_handler(HTTPException)
    async def login_first(request: Request, exc: HTTPException) -> Response:
        """The page (not the API) sends a visitor without a session to the login page."""
        if exc.status_code in (401, 403) and request.url.path.endswith("/"):  # the page, not the API
            from airflow.api_fastapi.app import get_auth_manager

            from airflow_provider_credits.plugins import base_url_path

            login = get_auth_manager().get_url_login(next_url=str(request.url))
            return RedirectResponse(base_url_path(login) if login.startswith("/") else login, 303)
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    def bad_request(exc: ValueError) -> HTTPException:
        return HTTPException(400, str(exc))

    def filters(
        vendor: str | None,
        account: str | None,
        pool: str | None,
        since: str | None,
        until: str | None,
        default_days: int | None = None,
    ) -> data.Filters:
        try:
            start, end = data.parse_time(since, "since"), data.parse_time(until, "until")
        except ValueError as exc:
            raise bad_request(exc) from None
        if start is None and default_days is not None:
            start = (end or clock()) - timedelta(days=default_days)
        if start is not None and end is not None and end <= start:
            raise HTTPException(400, "until must be later than since")
        return data.Filters(vendor or None, account or None, pool or None, start, end)

    def envelope(rows: Any, **extra: Any) -> dict[str, Any]:
        return {"generated_at": iso_utc(clock()), "conn_id": source.conn_id, **extra, "data": rows}

    @app.get(
        "/", name="page", response_class=HTMLResponse, dependencies=auth_dependency, include_in_schema=False
    )
    def page() -> HTMLResponse:
        return HTMLResponse(render_page(), headers={"Cache-Control": "no-store"})

    @app.get("/static/{name}", dependencies=auth_dependency, include_in_schema=False)
    def static(name: str) -> Response:
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        if name not in files:
            raise HTTPException(404, "no such file")
        path = files[name]
        return Response(
            path.read_bytes(),
            media_type=_TYPES.get(path.suffix, "application/octet-stream"),
            headers={"Cache-Control": "private, max-age=3600"},
        )

    @app.get("/api/status", dependencies=auth_dependency)
    def status() -> dict[str, Any]:
        """The data source: its connection, database and which tables exist."""
        with source.read() as conn:
            return envelope(None, **data.status(conn, source.tables))

    @app.get("/api/balances", dependencies=auth_dependency)
    def balances(
        vendor: str | None = None, account: str | None = None, pool: str | None = None
    ) -> dict[str, Any]:
        """The latest balance per vendor, account and pool."""
        with source.read() as conn:
            return envelope(data.balances(conn, source.tables, data.Filters(vendor, account, pool)))

    def time_range(
        vendor: str | None = None,
        account: str | None = None,
        pool: str | None = None,
        since: str | None = Query(None, description="ISO 8601; default: 90 days before until"),
        until: str | None = Query(None, description="ISO 8601, exclusive; default: now"),
    ) -> data.Filters:
        return filters(vendor, account, pool, since, until, data.DEFAULT_HISTORY_DAYS)

    @app.get("/api/history", dependencies=auth_dependency)
    def history(window: data.Filters = Depends(time_range)) -> dict[str, Any]:  # noqa: B008 (a local dependency)
        """Balance snapshots over time, one series per vendor, account and pool."""
        with source.read() as conn:
            return envelope(data.history(conn, source.tables, window), since=iso_utc(window.since))

    @app.get("/api/usage", dependencies=auth_dependency)
    def usage(window: data.Filters = Depends(time_range)) -> dict[str, Any]:  # noqa: B008 (a local dependency)
        """Daily usage (dimensions summed), one series per vendor, account and pool."""
        with source.read() as conn:
            return envelope(data.usage(conn, source.tables, window), since=iso_utc(window.since))

    @app.get("/api/forecast", dependencies=auth_dependency)
    def forecast(
        vendor: str | None = None,
        account: str | None = None,
        pool: str | None = None,
        window_days: int = Query(28, ge=1, le=366),
    ) -> dict[str, Any]:
        """Burn rate, days left and run-out date of each pool."""
        with source.read() as conn:
            rows = data.forecasts(
                conn,
                source.tables,
                now=clock(),
                filters=data.Filters(vendor, account, pool),
                window_days=window_days,
            )
            return envelope(rows, window_days=window_days)

    @app.get("/api/reservations", dependencies=auth_dependency)
    def reservations() -> dict[str, Any]:
        """The active reservations (not released, not expired), soonest expiry first."""
        with source.read() as conn:
            return envelope(data.reservations(conn, source.tables, now=clock()))

    @app.get("/api/spend", dependencies=auth_dependency)
    def spend(
        period: str = Query(
            "month", pattern="^(day|week|month)$", description="UTC calendar period holding now"
        ),
        since: str | None = Query(None, description="ISO 8601; overrides period"),
        until: str | None = Query(None, description="ISO 8601, exclusive"),
        by: str = Query("dag_id", pattern="^(dag_id|budget_key)$"),
    ) -> dict[str, Any]:
        """Spend per DAG (or budget key) in a period, with outstanding reservations, against its budget."""
        window = filters(None, None, None, since, until)
        db = source.database()
        try:
            result = data.spend(
                db,
                source.tables,
                now=clock(),
                period=period,
                since=window.since,
                until=window.until,
                by=by,
                budgets=source.budgets(),
            )
        except CreditsStorageError as exc:
            raise DataUnavailable("error", str(exc)) from None
        rows = result.pop("rows")
        return envelope(rows, **result)

    return app
