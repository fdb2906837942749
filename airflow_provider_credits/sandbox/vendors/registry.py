"""The sandbox's emulation of the registry vendors (Hunter.io, Lusha, ZeroBounce, Prospeo, SerpApi,
Apify, Firecrawl, Tavily), mirroring :mod:`airflow_provider_credits.hooks.registry`.

Driven by the registry (:mod:`airflow_provider_credits.vendors`): each vendor's balance path,
method and auth style come from its :class:`~airflow_provider_credits.vendors.VendorSpec`; this
module adds what the vendor answers (a payload built from the sandbox account), its error body,
and its rate limit on the balance call (the documented one, else :data:`DEFAULT_RATE_LIMIT`):
beyond it the answer is a 429 with ``Retry-After``. Errors the vendor sends inside an HTTP 200
are emulated too: ZeroBounce answers a bad key with ``Credits: "-1"``, Prospeo with
``{"error": true, "error_code": "INVALID_API_KEY"}``.

:data:`REGISTRY_VENDORS` holds one :class:`~airflow_provider_credits.sandbox.vendors.base.SandboxVendor`
per vendor; the app applies faults and logging to them like to the four original vendors.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.state import SandboxState, month_period, num, today
from airflow_provider_credits.sandbox.vendors import base
from airflow_provider_credits.sandbox.vendors.base import Call, Reply, SandboxVendor, VendorRoute
from airflow_provider_credits.vendors import VENDORS, VendorSpec

if TYPE_CHECKING:
    from starlette.requests import Request

#: the rate limit of a balance call whose vendor documents none: the sandbox's choice.
DEFAULT_RATE_LIMIT = (20, 1.0)
#: an error kind answered with HTTP 200 (ZeroBounce, Prospeo: a bad key inside a 200 body).
IN_200 = "invalid_key_in_200"  # a kind of base.ERRORS


def _spec(vendor: str) -> VendorSpec:
    return VENDORS[vendor]


def _period() -> tuple[datetime, datetime]:
    return month_period(today())


def _next_period_start() -> datetime:
    return _period()[1] + timedelta(seconds=1)


# --------------------------------------------------------------------- payloads


def _hunter(call: Call) -> Any:
    pools = call.state.account("hunter")
    return {
        "data": {
            "first_name": "Sandbox",
            "last_name": "User",
            "email": "sandbox@example.com",
            "plan_name": "Growth",
            "plan_level": 2,
            "reset_date": _next_period_start().date().isoformat(),
            "team_id": 4242,
            "requests": {name: {"used": num(p.used), "available": num(p.limit)} for name, p in pools.items()},
        }
    }


def _lusha(call: Call) -> Any:
    pool = call.state.pool("lusha", "credits")
    return {"credits": {"total": num(pool.limit), "used": num(pool.used), "remaining": num(pool.remaining)}}


def _zerobounce(call: Call) -> Any:
    return {"Credits": str(num(call.state.pool("zerobounce", "credits").remaining))}  # a string, as sent


def _prospeo(call: Call) -> Any:
    pool = call.state.pool("prospeo", "credits")
    renewal = _next_period_start()
    return {
        "error": False,
        "response": {
            "current_plan": "STARTER",
            "remaining_credits": num(pool.remaining),
            "used_credits": num(pool.used),
            "next_quota_renewal_days": (renewal.date() - today()).days,
            "next_quota_renewal_date": renewal.strftime("%Y-%m-%d %H:%M:%S+00:00"),
        },
    }


def _serpapi(call: Call) -> Any:
    searches, extra = call.state.pool("serpapi", "searches"), call.state.pool("serpapi", "extra_credits")
    return {
        "account_id": "sandbox-account",
        "account_email": "sandbox@example.com",
        "plan_id": "developer",
        "plan_name": "Developer",
        "searches_per_month": num(searches.limit),
        "plan_searches_left": num(searches.remaining),
        "extra_credits": num(extra.remaining),
        "total_searches_left": num(searches.remaining + extra.remaining),
        "this_month_usage": num(searches.used),
        "account_rate_limit_per_hour": 1000,
    }


def _apify(call: Call) -> Any:
    pool = call.state.pool("apify", "usage_usd")
    start, end = _period()
    return {
        "data": {
            "monthlyUsageCycle": {"startAt": base.iso(start), "endAt": base.iso(end)},
            "limits": {"maxMonthlyUsageUsd": num(pool.limit), "maxMonthlyActorComputeUnits": 1000},
            "current": {"monthlyUsageUsd": num(pool.used), "monthlyActorComputeUnits": 12.5},
        }
    }


def _firecrawl(call: Call) -> Any:
    pool = call.state.pool("firecrawl", "credits")
    start, _ = _period()
    return {
        "success": True,
        "data": {
            "remainingCredits": num(pool.remaining),
            "planCredits": num(pool.limit),
            "billingPeriodStart": base.iso(start),
            "billingPeriodEnd": base.iso(_next_period_start()),
        },
    }


def _tavily(call: Call) -> Any:
    plan, paygo = call.state.pool("tavily", "plan"), call.state.pool("tavily", "paygo")
    return {
        "key": {"usage": num(plan.used + paygo.used), "limit": None},  # a key without its own cap
        "account": {
            "current_plan": "Bootstrap",
            "plan_usage": num(plan.used),
            "plan_limit": num(plan.limit),
            "paygo_usage": num(paygo.used),
            "paygo_limit": num(paygo.limit),
        },
    }


PAYLOADS: dict[str, Callable[[Call], Any]] = {
    "hunter": _hunter,
    "lusha": _lusha,
    "zerobounce": _zerobounce,
    "prospeo": _prospeo,
    "serpapi": _serpapi,
    "apify": _apify,
    "firecrawl": _firecrawl,
    "tavily": _tavily,
}

# ----------------------------------------------------------------------- errors

#: vendor -> (code, status, message, request id) -> the vendor's error body.
ERROR_BODIES: dict[str, Callable[[str, int, str, int], Any]] = {
    "hunter": lambda code, status, message, rid: {
        "errors": [{"id": code, "code": status, "details": message}]
    },
    "lusha": lambda code, status, message, rid: {"statusCode": status, "message": message},
    "zerobounce": lambda code, status, message, rid: (
        {"Credits": "-1"} if status == 200 else {"error": message}
    ),
    "prospeo": lambda code, status, message, rid: {"error": True, "error_code": code, "message": message},
    "serpapi": lambda code, status, message, rid: {"error": message},
    "apify": lambda code, status, message, rid: {"error": {"type": code, "message": message}},
    "firecrawl": lambda code, status, message, rid: {"success": False, "error": message},
    "tavily": lambda code, status, message, rid: {
        "detail": {"error": message, "request_id": str(uuid.UUID(int=rid))}
    },
}
#: vendor -> error kind -> code (Hunter's ids, Prospeo's codes, Apify's types; others the phrase).
ERROR_CODES: dict[str, dict[str, str]] = {
    "hunter": {
        "missing_key": "authentication_failed",
        "invalid_key": "authentication_failed",
        "revoked": "authentication_failed",
        "insufficient": "usage_limit_reached",
        "forbidden": "restricted_account",
        "rate_limited": "too_many_requests",
        "internal": "internal_error",
    },
    "prospeo": {
        "missing_key": "MISSING_API_KEY",
        "invalid_key": "INVALID_API_KEY",
        IN_200: "INVALID_API_KEY",
        "revoked": "INVALID_API_KEY",
        "insufficient": "INSUFFICIENT_CREDITS",
        "rate_limited": "RATE_LIMITED",
        "internal": "INTERNAL_ERROR",
        "invalid": "INVALID_REQUEST",
        "not_found": "NOT_FOUND",
        "forbidden": "FORBIDDEN",
    },
    "apify": {
        "missing_key": "token-not-provided",
        "invalid_key": "token-not-valid",
        "revoked": "token-not-valid",
        "insufficient": "platform-feature-disabled",
        "forbidden": "insufficient-permissions",
        "rate_limited": "rate-limit-exceeded",
        "internal": "internal-server-error",
        "not_found": "record-not-found",
    },
}


# ------------------------------------------------------------------------- auth


def _auth_check(vendor: str) -> base.AuthCheck:
    """The vendor's auth as its spec declares it; a bad key is a 200 error for ZeroBounce and Prospeo."""
    auth = _spec(vendor).auth
    assert auth is not None
    secret = keys.SECRETS[vendor]

    def check(request: Request, state: SandboxState) -> str | None:
        if auth.style == "query":
            given = request.query_params.get(auth.name, "")
        else:
            given = request.headers.get(auth.name, "")
            if auth.prefix:
                scheme, _, given = given.partition(" ")
                given = given if scheme.lower() == auth.prefix.strip().lower() else ""
        given = given.strip()
        if given and base.matches(given, secret):
            return None
        if vendor == "zerobounce" or (vendor == "prospeo" and given):
            return IN_200
        return "missing_key" if not given else "invalid_key"

    return check


def _balance(vendor: str) -> Callable[[Call], Reply]:
    documented = _spec(vendor).balance_rate_limit
    count, seconds = documented or DEFAULT_RATE_LIMIT

    def handler(call: Call) -> Reply:
        wait = call.state.rate_wait(vendor, count, seconds)
        if wait is not None:
            reply = REGISTRY_VENDORS[vendor].error("rate_limited", call.state)
            reply.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return reply
        return Reply(body=PAYLOADS[vendor](call))

    return handler


def _vendor(name: str) -> SandboxVendor:
    spec = _spec(name)
    assert spec.auth is not None
    balance = spec.balance
    return SandboxVendor(
        name=name,
        routes=(VendorRoute(balance.method, balance.path, _balance(name)),) if balance is not None else (),
        auth=_auth_check(name),
        auth_hint=spec.auth.describe().replace("`", ""),
        error_body=ERROR_BODIES[name],
        error_codes=ERROR_CODES.get(name, {}),
    )


#: vendor name -> its emulation.
REGISTRY_VENDORS: dict[str, SandboxVendor] = {name: _vendor(name) for name in PAYLOADS}

__all__ = ["DEFAULT_RATE_LIMIT", "PAYLOADS", "REGISTRY_VENDORS"]
