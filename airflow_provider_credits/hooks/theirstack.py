"""TheirStack: credit balance, daily credit consumption and request counts (Bearer auth)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import RootModel

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.hooks.base import ConnectionSettings, CreditsHook, Endpoint, VendorResponse
from airflow_provider_credits.hooks.settings import connection_form
from airflow_provider_credits.models import CreditBalance, CreditPool, Credits, UsageRecord, daily_usage
from airflow_provider_credits.vendors import VENDORS

if TYPE_CHECKING:
    from typing_extensions import Unpack


class RequestCountFilters(TypedDict, total=False):
    """Filters of :meth:`TheirStackHook.get_request_counts` (both optional)."""

    #: only requests made with this API key.
    api_key_id: str | None
    #: only requests from the web app (True) or the API (False).
    is_origin_app: bool | None


class TheirStackCreditBalance(VendorResponse):
    """``GET /v0/billing/credit-balance``."""

    ui_credits: Credits
    used_ui_credits: Credits
    api_credits: Credits
    used_api_credits: Credits


class TheirStackConsumptionDay(VendorResponse):
    period_start: datetime
    api_credits_consumed: Credits = Decimal(0)
    ui_credits_consumed: Credits = Decimal(0)


class TheirStackConsumption(RootModel[list[TheirStackConsumptionDay]]):
    """``GET /v0/teams/credits_consumption``: one item per day."""


class TheirStackRequestCount(VendorResponse):
    period_start: datetime
    number_of_requests: int


class TheirStackRequestCounts(RootModel[list[TheirStackRequestCount]]):
    """``GET /v0/requests/count``: one item per day."""


CREDIT_BALANCE = Endpoint("GET", "/v0/billing/credit-balance", TheirStackCreditBalance)
CREDITS_CONSUMPTION = Endpoint("GET", "/v0/teams/credits_consumption", TheirStackConsumption)
REQUEST_COUNTS = Endpoint("GET", "/v0/requests/count", TheirStackRequestCounts)

_POOLS = {"api_credits": "api_credits_consumed", "ui_credits": "ui_credits_consumed"}


def _window_params(start: datetime, end: datetime, zone: ZoneInfo) -> dict[str, str]:
    """Query parameters of a window: TheirStack reads naive datetimes in the ``timezone`` given."""
    fmt = "%Y-%m-%dT%H:%M:%S"
    return {
        "start_datetime": start.astimezone(zone).strftime(fmt),
        "end_datetime": end.astimezone(zone).strftime(fmt),
        "timezone": zone.key,
    }


class TheirStackHook(CreditsHook, spec=VENDORS["theirstack"]):
    """Reads TheirStack credits.

    Pools: ``api_credits`` (primary) and ``ui_credits``. TheirStack reports a grant and the
    amount used; we assume ``remaining = api_credits - used_api_credits`` (likewise for UI
    credits), which TheirStack does not state explicitly.

    :param conn_id: connection of type ``theirstack`` (API key in the password field).
    """

    balance_endpoint = CREDIT_BALANCE
    supports_usage = True

    def _auth_headers(self, settings: ConnectionSettings) -> dict[str, str]:
        return {"Authorization": f"Bearer {settings.secret}"}

    @property
    def timezone(self) -> str:
        return str(self.extra("timezone") or "UTC")

    def get_credit_balance(self) -> TheirStackCreditBalance:
        """Raw ``GET /v0/billing/credit-balance``."""
        return self.call(CREDIT_BALANCE)

    async def aget_credit_balance(self) -> TheirStackCreditBalance:
        return await self.acall(CREDIT_BALANCE)

    def get_credits_consumption(self, start: datetime, end: datetime) -> TheirStackConsumption:
        """Raw daily consumption between ``start`` and ``end``.

        :param start: window start (aware datetime).
        :param end: window end (aware datetime).
        """
        return self.call(CREDITS_CONSUMPTION, _window_params(start, end, self._zone()))

    async def aget_credits_consumption(self, start: datetime, end: datetime) -> TheirStackConsumption:
        await self.aget_settings()
        return await self.acall(CREDITS_CONSUMPTION, _window_params(start, end, self._zone()))

    def get_request_counts(
        self, start: datetime, end: datetime, **filters: Unpack[RequestCountFilters]
    ) -> TheirStackRequestCounts:
        """Raw daily request counts.

        :param start: window start.
        :param end: window end.
        :param filters: :class:`RequestCountFilters` (``api_key_id``, ``is_origin_app``).
        """
        return self.call(REQUEST_COUNTS, self._count_params(start, end, filters))

    async def aget_request_counts(
        self, start: datetime, end: datetime, **filters: Unpack[RequestCountFilters]
    ) -> TheirStackRequestCounts:
        await self.aget_settings()
        return await self.acall(REQUEST_COUNTS, self._count_params(start, end, filters))

    def _count_params(self, start: datetime, end: datetime, filters: RequestCountFilters) -> dict[str, str]:
        params = _window_params(start, end, self._zone())
        if (api_key_id := filters.get("api_key_id")) is not None:
            params["api_key_id"] = api_key_id
        if (is_origin_app := filters.get("is_origin_app")) is not None:
            params["is_origin_app"] = str(is_origin_app).lower()
        return params

    def _to_balance(self, raw: TheirStackCreditBalance) -> CreditBalance:
        return CreditBalance(
            vendor=self.vendor,
            account=self.account,
            pools=(
                CreditPool(
                    name="api_credits",
                    limit=raw.api_credits,
                    used=raw.used_api_credits,
                    remaining=raw.api_credits - raw.used_api_credits,
                ),
                CreditPool(
                    name="ui_credits",
                    limit=raw.ui_credits,
                    used=raw.used_ui_credits,
                    remaining=raw.ui_credits - raw.used_ui_credits,
                ),
            ),
        )

    def _usage_call(
        self, start: datetime, end: datetime
    ) -> tuple[Endpoint[Any], dict[str, Any], dict[str, Any]]:
        # TheirStack's end is inclusive: stop one second before our exclusive end.
        return CREDITS_CONSUMPTION, _window_params(start, end - timedelta(seconds=1), self._zone()), {}

    def _to_usage(self, raw: TheirStackConsumption, start: datetime, end: datetime) -> list[UsageRecord]:
        """One row per local day and pool; days inside the window that TheirStack omits count as 0.

        Each item is counted in the day (in the connection's time zone) its ``period_start``
        falls in, so the documented example's ``14:15:22`` start still lands on its day.
        """
        entries = (
            (item.period_start, pool, "", getattr(item, attr))
            for item in raw.root
            for pool, attr in _POOLS.items()
        )
        return daily_usage(
            entries,
            vendor=self.vendor,
            account=self.account,
            start=start,
            end=end,
            zone=self._zone(),
            zero_pools=list(_POOLS),
        )

    def _zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CreditsConfigError(
                f"connection {self.conn_id!r}: timezone {self.timezone!r} is not an IANA time zone "
                f"(e.g. UTC, Europe/Madrid); fix {connection_form(self.conn_type).describe('timezone')}",
                vendor=self.vendor,
            ) from None
