"""Clay: workspace credits and credit reports through Clay's *unofficial* v3 API.

Clay publishes no credit API; these endpoints are the ones its web app uses, documented
by third parties, and may change without notice. Auth is the ``claysession`` cookie of a
signed-in browser (pasted into the connection's password field), or, optionally, an
email and account password with which the hook signs in to get a fresh cookie.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
from pydantic import RootModel

from airflow_provider_credits.exceptions import CreditsConfigError, CreditsResponseError
from airflow_provider_credits.hooks.base import (
    ConnectionSettings,
    CreditsHook,
    Endpoint,
    VendorResponse,
    extra_value,
)
from airflow_provider_credits.hooks.settings import connection_form
from airflow_provider_credits.models import CreditBalance, CreditPool, Credits, UsageRecord, daily_usage
from airflow_provider_credits.vendors import VENDORS

COOKIE_NAME = "claysession"


class ClayWorkspaceCredits(VendorResponse):
    """``GET /v3/workspaces/{id}/credits``."""

    totalCredits: Credits | None = None
    usedCredits: Credits | None = None
    remainingCredits: Credits
    periodStart: datetime | None = None
    periodEnd: datetime | None = None


class ClayReportEntry(VendorResponse):
    """One entry of a credit report. [assumption] Clay documents the report body only as ``{}``;
    entries carry a day (``date`` or ``periodStart``), an amount (``creditsUsed`` or ``credits``)
    and optionally a ``userId`` or ``integration`` breakdown."""

    date: datetime | None = None
    periodStart: datetime | None = None
    periodEnd: datetime | None = None
    creditsUsed: Credits | None = None
    credits: Credits | None = None
    userId: str | None = None
    integration: str | None = None

    @property
    def start(self) -> datetime | None:
        return self.periodStart or self.date

    @property
    def amount(self) -> Decimal:
        value = self.creditsUsed if self.creditsUsed is not None else self.credits
        return value if value is not None else Decimal(0)

    @property
    def dimension(self) -> str:
        if self.userId:
            return f"user:{self.userId}"
        return f"integration:{self.integration}" if self.integration else ""


class ClayCreditReport(VendorResponse):
    """``GET /v3/credit-reporting/{workspace}/creditReportType/workspace`` (shape assumed, see entries)."""

    entries: list[ClayReportEntry] | None = None


class ClayJson(RootModel[Any]):
    """Undocumented responses, passed through as decoded JSON."""


WORKSPACE_CREDITS = Endpoint("GET", "/v3/workspaces/{workspace_id}/credits", ClayWorkspaceCredits)
WORKSPACE_CREDIT_REPORT = Endpoint(
    "GET", "/v3/credit-reporting/{workspace_id}/creditReportType/workspace", ClayCreditReport
)
OWNERS = Endpoint("GET", "/v3/owners", ClayJson)
USER_CREDITS = Endpoint("GET", "/v3/users/{user_id}/credits", ClayJson)
USER_RESOURCES = Endpoint("POST", "/v3/users/{user_id}/resources", ClayJson)
INTEGRATIONS = Endpoint("GET", "/v3/integrations", ClayJson)
INTEGRATION = Endpoint("GET", "/v3/integrations/{integration_type}", ClayJson)
INTEGRATION_CREDITS = Endpoint("GET", "/v3/integrations/{integration_type}/credits", ClayJson)
INTEGRATION_CREDIT_REPORT = Endpoint("GET", "/v3/integrations/{integration_type}/credits/report", ClayJson)
LOGIN_PATH = "/v3/auth/login"


@contextmanager
def _no_header_logging() -> Iterator[None]:
    """Silence httpcore's DEBUG log for a sign-in: it logs the response headers, whose
    ``Set-Cookie`` holds the new session before the hook can register it with the masker."""
    logger = logging.getLogger("httpcore")
    level = logger.level
    logger.setLevel(max(level, logging.INFO))
    try:
        yield
    finally:
        logger.setLevel(level)


def _report_params(start: datetime, end: datetime) -> dict[str, str]:
    def iso(value: datetime) -> str:
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return {"timeRange[startTime]": iso(start), "timeRange[endTime]": iso(end)}


def clean_cookie(pasted: str) -> str:
    """The ``claysession`` value in a pasted cookie: the bare value, or copied with its name
    (``claysession=...``, any case), from a ``Cookie:`` request header (other cookies around it
    are dropped), with a trailing ``;`` or ``Path=/`` attributes, or in double quotes."""
    text = pasted.strip()
    if text[:7].lower() == "cookie:":
        text = text[7:]
    parts = [part.strip() for part in text.split(";") if part.strip()]
    named = [
        value
        for name, sep, value in (part.partition("=") for part in parts)
        if sep and name.strip().lower() == COOKIE_NAME
    ]
    value = named[0] if named else text.strip().rstrip(";")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value.strip()


def _account_password(settings: ConnectionSettings) -> str:
    return str(extra_value(settings.extras, "clay", "account_password") or "")


class ClayHook(CreditsHook, spec=VENDORS["clay"]):
    """Reads Clay workspace credits and credit reports (unofficial API).

    Pool: ``credits``. Connection: the ``claysession`` cookie in the password field (with or
    without the ``claysession=`` prefix, or as a ``Cookie:`` header) and the ``workspace_id`` extra; optionally the
    account email in login and the ``account_password`` extra, to sign in again once when
    Clay answers 401.

    :param conn_id: connection of type ``clay``.
    """

    supports_usage = True

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        self._cookie: str | None = None

    # ---------------------------------------------------------------- auth

    def _validate_settings(self, settings: ConnectionSettings) -> None:
        settings.secret = clean_cookie(settings.secret)
        if not settings.secret and not self._can_login(settings):
            form = connection_form(self.conn_type)
            raise CreditsConfigError(
                f"connection {self.conn_id!r} has neither a session cookie in {form.describe('password')} "
                f"nor an email in {form.describe('login')} with an account password in "
                f"{form.describe('account_password')}",
                vendor=self.vendor,
            )

    @staticmethod
    def _can_login(settings: ConnectionSettings) -> bool:
        return bool(settings.login and _account_password(settings))

    def _secrets(self) -> list[str]:
        secrets = super()._secrets()
        if self._cookie:
            secrets.append(self._cookie)
        if self._settings and _account_password(self._settings):
            secrets.append(_account_password(self._settings))
        return secrets

    def _auth_headers(self, settings: ConnectionSettings) -> dict[str, str]:
        cookie = self._cookie or settings.secret
        return {"Cookie": f"{COOKIE_NAME}={cookie}"} if cookie else {}

    def _login_body(self) -> dict[str, Any]:
        assert self._settings is not None
        return {
            "email": self._settings.login,
            "password": _account_password(self._settings),
            "source": None,
        }

    def _take_cookie(self, status: int, cookies: Any) -> str | None:
        """Keep the ``claysession`` cookie a successful sign-in set; the caller masks it."""
        cookie = cookies.get(COOKIE_NAME) if status < 300 else None
        if cookie:
            self._cookie = cookie
        return cookie or None

    def _refresh_auth(self) -> bool:
        if self._settings is None or not self._can_login(self._settings):
            return False
        self.log.info("Clay session rejected; signing in again as %s", self._settings.login)
        try:
            with _no_header_logging():
                response = self.get_conn().post(LOGIN_PATH, json=self._login_body())
        except httpx.HTTPError as exc:
            self.log.warning("Clay sign-in failed: %s", type(exc).__name__)
            return False
        cookie = self._take_cookie(response.status_code, response.cookies)
        if cookie:
            from airflow_provider_credits.version_compat import mask_secret

            mask_secret(cookie)
        return cookie is not None

    async def _arefresh_auth(self) -> bool:
        if self._settings is None or not self._can_login(self._settings):
            return False
        self.log.info("Clay session rejected; signing in again as %s", self._settings.login)
        try:
            client = await self.aget_conn()
            with _no_header_logging():
                response = await client.post(LOGIN_PATH, json=self._login_body())
        except httpx.HTTPError as exc:
            self.log.warning("Clay sign-in failed: %s", type(exc).__name__)
            return False
        cookie = self._take_cookie(response.status_code, response.cookies)
        if cookie:
            from airflow_provider_credits.version_compat import amask_secret

            await amask_secret(cookie)
        return cookie is not None

    def login(self) -> None:
        """Sign in with the connection's email and ``account_password`` now, replacing the cookie.

        A rejected sign-in raises :class:`CreditsAuthError` and is not retried.
        """
        settings = self.settings
        if not self._can_login(settings):
            form = connection_form(self.conn_type)
            raise CreditsConfigError(
                f"connection {self.conn_id!r}: signing in needs the email in {form.describe('login')} and the "
                f"account password in {form.describe('account_password')}",
                vendor=self.vendor,
            )
        with _no_header_logging():
            self.request("POST", LOGIN_PATH, json_body=self._login_body(), renew_auth=False)
        # httpx keeps Set-Cookie on the client; take the fresh session from there.
        cookie = self._take_cookie(200, self.get_conn().cookies)
        if cookie is None:
            raise CreditsConfigError(
                "Clay accepted the sign-in but sent no claysession cookie", vendor=self.vendor
            )
        from airflow_provider_credits.version_compat import mask_secret

        mask_secret(cookie)

    # ----------------------------------------------------------- endpoints

    @property
    def workspace_id(self) -> str:
        workspace = self.extra("workspace_id")
        if not workspace:
            raise CreditsConfigError(
                f"connection {self.conn_id!r} has no workspace_id extra (the form's "
                f"{connection_form(self.conn_type).label('workspace_id')!r} field): set it to the Clay workspace "
                "whose credits should be read",
                vendor=self.vendor,
            )
        return str(workspace)

    @property
    def account(self) -> str:
        return self.workspace_id

    def get_workspace_credits(self) -> ClayWorkspaceCredits:
        """``GET /v3/workspaces/{workspace_id}/credits``."""
        return self.call(WORKSPACE_CREDITS, workspace_id=self.workspace_id)

    async def aget_workspace_credits(self) -> ClayWorkspaceCredits:
        await self.aget_settings()
        return await self.acall(WORKSPACE_CREDITS, workspace_id=self.workspace_id)

    def get_workspace_credit_report(self, start: datetime, end: datetime) -> ClayCreditReport:
        """Workspace credit report between ``start`` and ``end``.

        :param start: window start (aware datetime).
        :param end: window end (aware datetime).
        """
        return self.call(WORKSPACE_CREDIT_REPORT, _report_params(start, end), workspace_id=self.workspace_id)

    async def aget_workspace_credit_report(self, start: datetime, end: datetime) -> ClayCreditReport:
        await self.aget_settings()
        return await self.acall(
            WORKSPACE_CREDIT_REPORT, _report_params(start, end), workspace_id=self.workspace_id
        )

    def get_owners(self) -> Any:
        """``GET /v3/owners``: owners/admins who can see credit usage."""
        return self.call(OWNERS).root

    async def aget_owners(self) -> Any:
        return (await self.acall(OWNERS)).root

    def get_user_credits(self, user_id: str) -> Any:
        """``GET /v3/users/{user_id}/credits``.

        :param user_id: Clay user id.
        """
        return self.call(USER_CREDITS, user_id=user_id).root

    async def aget_user_credits(self, user_id: str) -> Any:
        return (await self.acall(USER_CREDITS, user_id=user_id)).root

    def get_user_resources(self, user_id: str) -> Any:
        """``POST /v3/users/{user_id}/resources``: workbooks and tables the user created (read-only).

        :param user_id: Clay user id.
        """
        return self.call(USER_RESOURCES, user_id=user_id).root

    async def aget_user_resources(self, user_id: str) -> Any:
        return (await self.acall(USER_RESOURCES, user_id=user_id)).root

    def list_integrations(self) -> Any:
        """``GET /v3/integrations``."""
        return self.call(INTEGRATIONS).root

    async def alist_integrations(self) -> Any:
        return (await self.acall(INTEGRATIONS)).root

    def get_integration(self, integration_type: str) -> Any:
        """``GET /v3/integrations/{integration_type}``.

        :param integration_type: e.g. ``"clearbit"``.
        """
        return self.call(INTEGRATION, integration_type=integration_type).root

    async def aget_integration(self, integration_type: str) -> Any:
        return (await self.acall(INTEGRATION, integration_type=integration_type)).root

    def get_integration_credits(self, integration_type: str) -> Any:
        """``GET /v3/integrations/{integration_type}/credits``.

        :param integration_type: e.g. ``"clearbit"``.
        """
        return self.call(INTEGRATION_CREDITS, integration_type=integration_type).root

    async def aget_integration_credits(self, integration_type: str) -> Any:
        return (await self.acall(INTEGRATION_CREDITS, integration_type=integration_type)).root

    def get_integration_credit_report(self, integration_type: str) -> Any:
        """``GET /v3/integrations/{integration_type}/credits/report``.

        :param integration_type: e.g. ``"clearbit"``.
        """
        return self.call(INTEGRATION_CREDIT_REPORT, integration_type=integration_type).root

    async def aget_integration_credit_report(self, integration_type: str) -> Any:
        return (await self.acall(INTEGRATION_CREDIT_REPORT, integration_type=integration_type)).root

    # ---------------------------------------------------------- normalized

    def _balance_call(self) -> tuple[Endpoint[Any], dict[str, Any]]:
        return WORKSPACE_CREDITS, {"workspace_id": self.workspace_id}

    def _to_balance(self, raw: ClayWorkspaceCredits) -> CreditBalance:
        pool = CreditPool(
            name="credits",
            remaining=raw.remainingCredits,
            limit=raw.totalCredits,
            used=raw.usedCredits,
            period_start=raw.periodStart,
            period_end=raw.periodEnd,
        )
        return CreditBalance(vendor=self.vendor, account=self.account, pools=(pool,))

    def _usage_call(
        self, start: datetime, end: datetime
    ) -> tuple[Endpoint[Any], dict[str, Any], dict[str, Any]]:
        return WORKSPACE_CREDIT_REPORT, _report_params(start, end), {"workspace_id": self.workspace_id}

    def _to_usage(self, raw: ClayCreditReport, start: datetime, end: datetime) -> list[UsageRecord]:
        """Daily rows of the ``credits`` pool; days without entries count as 0.

        A report without ``entries`` but with other fields is a shape we do not know: refuse
        it rather than record zero usage.
        """
        if raw.entries is None and raw.model_extra:
            raise CreditsResponseError(
                "unknown credit report schema: expected an 'entries' list; fields seen: "
                f"{sorted(raw.model_extra)[:20]}",
                vendor=self.vendor,
                method=WORKSPACE_CREDIT_REPORT.method,
                path=WORKSPACE_CREDIT_REPORT.path.format(workspace_id=self.workspace_id),
            )
        entries = (
            (entry.start, "credits", entry.dimension, entry.amount)
            for entry in raw.entries or []
            if entry.start is not None
        )
        return daily_usage(
            entries, vendor=self.vendor, account=self.account, start=start, end=end, zero_pools=["credits"]
        )
