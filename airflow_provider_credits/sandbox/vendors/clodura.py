"""Clodura in the sandbox: the credits endpoint, for either plan (unified credits, or prospect
contact views and direct dials)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.state import SandboxState, num
from airflow_provider_credits.sandbox.vendors.base import Call, Reply, SandboxVendor, VendorRoute, matches

if TYPE_CHECKING:
    from starlette.requests import Request


def _auth(request: Request, state: SandboxState) -> str | None:
    key = request.headers.get("x-api-key", "").strip()
    if not key:
        return "missing_key"
    return None if matches(key, keys.CLODURA_API_KEY) else "invalid_key"


def credits(call: Call) -> Reply:
    pools = call.state.account("clodura")
    if "credits" in pools:
        return Reply(body={"remainingCredits": num(pools["credits"].remaining)})
    views, dials = pools["contact_views"], pools["direct_dials"]
    return Reply(
        body={
            "contactsView": num(views.used),
            "maxContacts": str(num(views.limit)),  # a string, as Clodura sends it
            "directDials": num(dials.used),
            "maxDirectDials": num(dials.limit),
        }
    )


CLODURA = SandboxVendor(
    name="clodura",
    routes=(VendorRoute("GET", "/api/v1/credits", credits),),
    auth=_auth,
    auth_hint="X-API-KEY: <api_key>",
    # Clodura's error is the HTTP reason phrase.
    error_body=lambda code, status, message, rid: {"statusCode": status, "error": code, "message": message},
)
