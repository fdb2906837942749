"""Trendtrack: ``GET /v1/usage`` (Bearer auth) and its ``X-Credits-Remaining`` header."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import field_validator

from airflow_provider_credits.hooks.base import ConnectionSettings, CreditsHook, Endpoint, VendorResponse
from airflow_provider_credits.models import CreditBalance, CreditPool, Credits
from airflow_provider_credits.vendors import VENDORS


class TrendtrackWorkspace(VendorResponse):
    id: str
    slug: str | None = None
    name: str | None = None


class TrendtrackCredential(VendorResponse):
    id: str | None = None
    accessLevel: str | None = None
    lastUsedAt: datetime | None = None


class TrendtrackBilling(VendorResponse):
    configured: bool | None = None
    planCode: str | None = None
    currentPeriodStart: datetime | None = None
    currentPeriodEnd: datetime | None = None
    updatedAt: datetime | None = None


class TrendtrackQuota(VendorResponse):
    limit: Credits | None = None
    used: Credits | None = None
    remaining: Credits | None = None


class TrendtrackTopup(VendorResponse):
    balance: Credits | None = None


class TrendtrackCredits(VendorResponse):
    balance: Credits | None = None
    recurring: TrendtrackQuota | None = None
    topup: TrendtrackTopup | None = None
    totalRemaining: Credits | None = None


class TrendtrackUsage(VendorResponse):
    """``GET /v1/usage``; ``header_credits_remaining`` comes from the ``X-Credits-Remaining`` header."""

    requestId: str | None = None
    workspace: TrendtrackWorkspace
    credential: TrendtrackCredential | None = None
    billing: TrendtrackBilling | None = None
    includedQuota: TrendtrackQuota | None = None
    credits: TrendtrackCredits
    header_credits_remaining: Credits | None = None

    @field_validator("header_credits_remaining", mode="before")
    @classmethod
    def _ignore_unusable_header(cls, value: Any) -> Decimal | None:
        """The header is a fallback only: an unparsable one is ignored, not fatal."""
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            return None
        return number if number.is_finite() else None


USAGE = Endpoint(
    "GET", "/v1/usage", TrendtrackUsage, headers_into={"X-Credits-Remaining": "header_credits_remaining"}
)


class TrendtrackHook(CreditsHook, spec=VENDORS["trendtrack"]):
    """Reads Trendtrack credits (the usage call itself costs no credits). No usage history.

    Pools: ``credits`` (primary: total remaining), ``recurring`` (monthly, spent first),
    ``topup`` (never expires) and ``included_quota``.

    :param conn_id: connection of type ``trendtrack`` (``tt_live_...`` key in the password field).
    """

    balance_endpoint = USAGE

    def _auth_headers(self, settings: ConnectionSettings) -> dict[str, str]:
        return {"Authorization": f"Bearer {settings.secret}"}

    def get_usage_snapshot(self) -> TrendtrackUsage:
        """Raw ``GET /v1/usage`` (named so to not clash with :meth:`get_usage`, the history)."""
        return self.call(USAGE)

    async def aget_usage_snapshot(self) -> TrendtrackUsage:
        return await self.acall(USAGE)

    def _to_balance(self, raw: TrendtrackUsage) -> CreditBalance:
        billing = raw.billing or TrendtrackBilling()
        period = {"period_start": billing.currentPeriodStart, "period_end": billing.currentPeriodEnd}
        recurring = raw.credits.recurring or TrendtrackQuota()
        quota = raw.includedQuota or TrendtrackQuota()
        topup = (raw.credits.topup or TrendtrackTopup()).balance
        total = raw.credits.totalRemaining
        if total is None:
            total = raw.header_credits_remaining
        if total is None and recurring.remaining is not None and topup is not None:
            total = recurring.remaining + topup
        pools = (
            CreditPool(name="credits", remaining=total),
            CreditPool(
                name="recurring",
                limit=recurring.limit,
                used=recurring.used,
                remaining=recurring.remaining,
                **period,
            ),
            CreditPool(name="topup", remaining=topup),
            CreditPool(
                name="included_quota", limit=quota.limit, used=quota.used, remaining=quota.remaining, **period
            ),
        )
        return CreditBalance(vendor=self.vendor, account=raw.workspace.id, pools=pools)
