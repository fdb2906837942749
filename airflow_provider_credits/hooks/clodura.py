"""Clodura: ``GET /api/v1/credits`` with the ``X-API-KEY`` header; two plan schemas."""

from __future__ import annotations

from typing import Any

from airflow_provider_credits.exceptions import CreditsResponseError
from airflow_provider_credits.hooks.base import ConnectionSettings, CreditsHook, Endpoint, VendorResponse
from airflow_provider_credits.models import CreditBalance, CreditPool, Credits
from airflow_provider_credits.vendors import VENDORS


class CloduraCredits(VendorResponse):
    """``GET /api/v1/credits``; which fields are present depends on the plan.

    Free Forever, Max and PAYG plans send ``remainingCredits``; Prospect and Prospect Pro
    send ``contactsView``/``maxContacts`` (a string) and ``directDials``/``maxDirectDials``.
    """

    remainingCredits: Credits | None = None
    contactsView: Credits | None = None
    maxContacts: Credits | None = None
    directDials: Credits | None = None
    maxDirectDials: Credits | None = None


CREDITS = Endpoint("GET", "/api/v1/credits", CloduraCredits)


def _used_pool(name: str, used: Any, limit: Any) -> CreditPool:
    remaining = limit - used if limit is not None and used is not None else None
    return CreditPool(name=name, used=used, limit=limit, remaining=remaining)


class CloduraHook(CreditsHook, spec=VENDORS["clodura"]):
    """Reads Clodura credits. Clodura has no usage-history API.

    Pools: ``credits`` on unified plans; ``contact_views`` (primary) and ``direct_dials``
    on Prospect plans, with ``remaining = max - used``.

    :param conn_id: connection of type ``clodura`` (API key in the password field).
    """

    balance_endpoint = CREDITS

    def _auth_headers(self, settings: ConnectionSettings) -> dict[str, str]:
        return {"X-API-KEY": settings.secret}

    def get_credits(self) -> CloduraCredits:
        """Raw ``GET /api/v1/credits``."""
        return self.call(CREDITS)

    async def aget_credits(self) -> CloduraCredits:
        return await self.acall(CREDITS)

    def _to_balance(self, raw: CloduraCredits) -> CreditBalance:
        if raw.remainingCredits is not None:
            pools: tuple[CreditPool, ...] = (CreditPool(name="credits", remaining=raw.remainingCredits),)
        elif raw.maxContacts is not None or raw.maxDirectDials is not None:
            pools = (
                _used_pool("contact_views", raw.contactsView, raw.maxContacts),
                _used_pool("direct_dials", raw.directDials, raw.maxDirectDials),
            )
        else:
            seen = sorted(raw.model_dump(exclude_none=True)) or "none"
            raise CreditsResponseError(
                "unknown credits schema: expected remainingCredits (Free Forever/Max/PAYG plans) or "
                f"maxContacts/maxDirectDials (Prospect plans); fields seen: {seen}",
                vendor=self.vendor,
                method=CREDITS.method,
                path=CREDITS.path,
            )
        return CreditBalance(vendor=self.vendor, account=self.account, pools=pools)
