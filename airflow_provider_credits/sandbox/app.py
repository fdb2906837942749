"""The sandbox's Starlette app: the four vendors' credit endpoints and the ``/_sandbox`` controls.

Vendor endpoints are declared in one table (:data:`ROUTES`); each handler turns the state
into a :class:`Reply` (status, JSON body, headers). One wrapper around every handler logs
the request, applies faults, checks the vendor's auth, adds the vendor's headers and
renders the reply. Errors use each vendor's own error body (:data:`VENDOR_ERRORS`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_credits._extras import needs_extra

with needs_extra("sandbox", "the vendor sandbox"):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send

from airflow_provider_credits.sandbox import faults, keys
from airflow_provider_credits.sandbox.state import (
    CLAY_INTEGRATIONS,
    CLAY_USERS,
    REQUEST_SERIES,
    Fault,
    OutOfCreditsError,
    SandboxError,
    SandboxState,
    month_period,
    num,
    today,
)

logger = logging.getLogger("airflow_provider_credits.sandbox")

CONTROL_PREFIX = "/_sandbox"
#: TheirStack's advertised rate limit (requests per one-second window); advertised, not enforced.
THEIRSTACK_RATE_LIMIT = 10


@dataclass
class Reply:
    """What a vendor endpoint answers, before faults and rendering."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None


@dataclass(frozen=True)
class Call:
    """What a vendor handler gets: the state, path parameters, query and JSON body."""

    state: SandboxState
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any = None


# ------------------------------------------------------------------ vendor errors

#: error kind -> (HTTP status, message); ``{auth}`` is the vendor's auth header.
ERRORS: dict[str, tuple[int, str]] = {
    "missing_key": (401, "Provide an API key using {auth}."),
    "invalid_key": (401, "The API key is not valid."),
    "revoked": (401, "The API key was revoked."),
    "session_expired": (401, "Your session has expired: sign in again."),
    "bad_login": (401, "Wrong email or password."),
    "insufficient": (402, "Not enough credits left for this request."),
    "forbidden": (403, "This key is not allowed to access this resource."),
    "not_found": (404, "Not found."),
    "invalid": (422, "The request is not valid."),
    "rate_limited": (429, "Too many requests: retry later."),
    "internal": (500, "Internal server error."),
}
#: vendor -> error kind -> the vendor's error code (TheirStack's E-codes are the sandbox's choice:
#: TheirStack lists E-001..E-016 without meanings). Clay and Clodura use the HTTP reason phrase.
VENDOR_CODES: dict[str, dict[str, str]] = {
    "trendtrack": {
        "missing_key": "missing_api_key",
        "invalid_key": "invalid_api_key",
        "revoked": "credential_revoked",
        "insufficient": "insufficient_credits",
        "forbidden": "forbidden",
        "not_found": "not_found",
        "invalid": "validation_error",
        "rate_limited": "rate_limited",
        "internal": "internal_error",
    },
    "theirstack": {
        "invalid": "E-001",
        "missing_key": "E-002",
        "invalid_key": "E-003",
        "revoked": "E-004",
        "insufficient": "E-005",
        "forbidden": "E-006",
        "rate_limited": "E-007",
        "internal": "E-008",
        "not_found": "E-009",
    },
}
AUTH_HINTS = {
    "clay": "Cookie: claysession=<session>",
    "clodura": "X-API-KEY: <api_key>",
    "theirstack": "Authorization: Bearer <api_key>",
    "trendtrack": "Authorization: Bearer <api_key>",
}
#: vendor -> (code, status, message, request id) -> error body.
VENDOR_ERRORS: dict[str, Callable[[str, int, str, int], Any]] = {
    "trendtrack": lambda code, status, message, rid: {
        "error": {"code": code, "message": message, "requestId": str(uuid.UUID(int=rid))}
    },
    "theirstack": lambda code, status, message, rid: {
        "request_id": rid,
        "error": {"code": code, "title": HTTPStatus(status).phrase, "description": message},
    },
    "clodura": lambda code, status, message, rid: {"statusCode": status, "error": code, "message": message},
    "clay": lambda code, status, message, rid: {"type": code.replace(" ", ""), "message": message},
}


def vendor_error(
    vendor: str, kind: str, state: SandboxState, *, status: int | None = None, message: str | None = None
) -> Reply:
    """An error reply with the vendor's own body.

    :param vendor: vendor name.
    :param kind: a key of :data:`ERRORS`.
    :param state: for the request id.
    :param status: override the kind's status (e.g. 503 for ``internal``).
    :param message: override the kind's message.
    """
    default_status, default_message = ERRORS[kind]
    status = status or default_status
    code = VENDOR_CODES.get(vendor, {}).get(kind) or HTTPStatus(status).phrase
    text = message or default_message.format(auth=AUTH_HINTS[vendor])
    return Reply(status, VENDOR_ERRORS[vendor](code, status, text, state.next_id()))


# ------------------------------------------------------------------------ auth


def _matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _bearer_auth(vendor: str) -> Callable[[Request, SandboxState], str | None]:
    def check(request: Request, state: SandboxState) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing_key"
        return None if _matches(token.strip(), keys.SECRETS[vendor]) else "invalid_key"

    return check


def _clodura_auth(request: Request, state: SandboxState) -> str | None:
    key = request.headers.get("x-api-key", "").strip()
    if not key:
        return "missing_key"
    return None if _matches(key, keys.CLODURA_API_KEY) else "invalid_key"


def clay_cookies(request: Request) -> list[str]:
    """Every ``claysession`` value in the request's Cookie headers.

    :param request: the request.
    """
    values = []
    for header in request.headers.getlist("cookie"):
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == keys.CLAY_COOKIE_NAME and value:
                values.append(value)
    return values


def _clay_auth(request: Request, state: SandboxState) -> str | None:
    cookies = clay_cookies(request)
    if not cookies:
        return "missing_key"
    valid = any(_matches(c, s) for c in cookies for s in state.sessions)
    return None if valid else "session_expired"


AUTH: dict[str, Callable[[Request, SandboxState], str | None]] = {
    "clay": _clay_auth,
    "clodura": _clodura_auth,
    "theirstack": _bearer_auth("theirstack"),
    "trendtrack": _bearer_auth("trendtrack"),
}


# --------------------------------------------------------------- vendor headers


class _Window:
    """Requests per one-second window, for TheirStack's RateLimit headers."""

    def __init__(self) -> None:
        self.second, self.count = 0, 0

    def hit(self) -> int:
        now = int(datetime.now(timezone.utc).timestamp())
        if now != self.second:
            self.second, self.count = now, 0
        self.count += 1
        return self.count


def _vendor_headers(
    vendor: str, state: SandboxState, window: _Window, reply: Reply, fault: Fault | None
) -> dict[str, str]:
    """TheirStack's RateLimit-* headers (on every answer), Trendtrack's X-Credits-Remaining."""
    if vendor == "theirstack":
        headers = {
            "RateLimit-Policy": f"{THEIRSTACK_RATE_LIMIT};w=1",
            "RateLimit-Limit": str(THEIRSTACK_RATE_LIMIT),
            "RateLimit-Remaining": str(max(0, THEIRSTACK_RATE_LIMIT - window.hit())),
            "RateLimit-Reset": "1",
        }
        if fault and fault.scenario == "rate_limit_no_retry_after":
            del headers["RateLimit-Reset"]
        elif fault and fault.scenario.startswith("rate_limit"):
            headers.update({"RateLimit-Remaining": "0", "RateLimit-Reset": str(fault.params["retry_after"])})
        return headers
    if vendor == "trendtrack" and reply.status < 300:
        return {"X-Credits-Remaining": str(num(_trendtrack_total(state)))}
    return {}


# ------------------------------------------------------------------------ helpers


def iso(moment: datetime) -> str:
    """``2025-06-01T00:00:00.000Z``.

    :param moment: an aware datetime.
    """
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _midnight(day: date, tz: ZoneInfo | timezone = timezone.utc) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def _parse_moment(value: str, tz: ZoneInfo | timezone = timezone.utc) -> datetime:
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _period() -> dict[str, str]:
    start, end = month_period(today())
    return {"periodStart": iso(start), "periodEnd": iso(end)}


def _in_period(days: dict[date, float]) -> float:
    start = month_period(today())[0].date()
    return sum(amount for day, amount in days.items() if day >= start)


# ------------------------------------------------------------------------ Clay


def _clay_time_range(call: Call) -> tuple[datetime, datetime] | Reply:
    start, end = call.query.get("timeRange[startTime]"), call.query.get("timeRange[endTime]")
    try:
        first = _parse_moment(start) if start else _midnight(today() - timedelta(days=30))
        last = _parse_moment(end) if end else datetime.now(timezone.utc)
    except ValueError:
        return vendor_error("clay", "invalid", call.state, message="timeRange must hold ISO 8601 datetimes")
    return first, last


def _clay_entries(call: Call, extra: dict[str, str], **dimension: str) -> Reply:
    window = _clay_time_range(call)
    if isinstance(window, Reply):
        return window
    first, last = window
    days = call.state.consumption("clay", "credits", **dimension)
    inside = {
        d: a for d, a in days.items() if _midnight(d) < last and _midnight(d + timedelta(days=1)) > first
    }
    entries = [{"date": iso(_midnight(d)), "creditsUsed": num(a), **extra} for d, a in inside.items()]
    return Reply(
        body={
            "timeRange": {"startTime": iso(first), "endTime": iso(last)},
            "totalCreditsUsed": num(sum(inside.values())),
            "entries": entries,
        }
    )


def clay_workspace_credits(call: Call) -> Reply:
    pool = call.state.pool("clay", "credits")
    return Reply(
        body={
            "totalCredits": num(pool.limit),
            "usedCredits": num(pool.used),
            "remainingCredits": num(pool.remaining),
            **_period(),
        }
    )


def clay_workspace_report(call: Call) -> Reply:
    return _clay_entries(call, {})


def clay_owners(call: Call) -> Reply:
    owners = [
        {"id": uid, "name": name, "email": f"{name.split()[0].lower()}@example.com", "role": role}
        for (uid, name), role in zip(CLAY_USERS.items(), ("owner", "admin"), strict=True)
    ]
    return Reply(body=owners)


def clay_user_credits(call: Call) -> Reply:
    user = call.params["user_id"]
    used = {
        i: _in_period(call.state.consumption("clay", "credits", user=user, integration=i))
        for i in CLAY_INTEGRATIONS
    }
    return Reply(
        body={
            "userId": user,
            "creditsUsed": num(sum(used.values())),
            "byIntegration": {i: num(v) for i, v in used.items()},
            **_period(),
        }
    )


def clay_user_resources(call: Call) -> Reply:
    user = call.params["user_id"]
    resources = [
        {"id": f"wb_{user}_1", "type": "workbook", "name": "Outbound leads"},
        {"id": f"t_{user}_1", "type": "table", "name": "Companies to enrich", "workbookId": f"wb_{user}_1"},
    ]
    return Reply(body={"resources": resources})


def clay_integrations(call: Call) -> Reply:
    return Reply(body=[_clay_integration_info(t) for t in CLAY_INTEGRATIONS])


def _clay_integration_info(kind: str) -> dict[str, Any]:
    return {"type": kind, "name": kind.capitalize(), "creditsPerRow": CLAY_INTEGRATIONS[kind]}


def clay_integration(call: Call) -> Reply:
    kind = call.params["integration_type"]
    return Reply(body=_clay_integration_info(kind))


def clay_integration_credits(call: Call) -> Reply:
    kind = call.params["integration_type"]
    used = _in_period(call.state.consumption("clay", "credits", integration=kind))
    return Reply(body={"integration": kind, "creditsUsed": num(used), **_period()})


def clay_integration_report(call: Call) -> Reply:
    kind = call.params["integration_type"]
    return _clay_entries(call, {"integration": kind}, integration=kind)


def clay_me(call: Call) -> Reply:
    user = next(iter(CLAY_USERS))
    return Reply(
        body={
            "id": user,
            "email": keys.CLAY_EMAIL,
            "name": CLAY_USERS[user],
            "workspaces": [{"id": int(keys.CLAY_WORKSPACE_ID), "name": "Sandbox workspace"}],
        }
    )


def clay_login(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    email, password = str(body.get("email") or ""), str(body.get("password") or "")
    if not (_matches(email, keys.CLAY_EMAIL) and _matches(password, keys.CLAY_PASSWORD)):
        return vendor_error("clay", "bad_login", call.state)
    session = f"sandbox-clay-session-{call.state.next_id()}-NOT-REAL"
    call.state.sessions.add(session)
    call.state.login_sessions.add(session)
    cookie = f"{keys.CLAY_COOKIE_NAME}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400"
    return Reply(
        body={"id": next(iter(CLAY_USERS)), "email": keys.CLAY_EMAIL}, headers={"Set-Cookie": cookie}
    )


# --------------------------------------------------------------------- Clodura


def clodura_credits(call: Call) -> Reply:
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


# ------------------------------------------------------------------ TheirStack


def theirstack_balance(call: Call) -> Reply:
    api, ui = call.state.pool("theirstack", "api_credits"), call.state.pool("theirstack", "ui_credits")
    return Reply(
        body={
            "ui_credits": num(ui.limit),
            "used_ui_credits": num(ui.used),
            "api_credits": num(api.limit),
            "used_api_credits": num(api.used),
        }
    )


def _theirstack_days(call: Call) -> tuple[ZoneInfo, list[date]] | Reply:
    """Calendar days of ``start_datetime``..``end_datetime`` (inclusive) in ``timezone``."""
    try:
        tz = ZoneInfo(call.query.get("timezone") or "UTC")
        end_arg, start_arg = call.query.get("end_datetime"), call.query.get("start_datetime")
        end = _parse_moment(end_arg, tz) if end_arg else datetime.now(tz)
        start = _parse_moment(start_arg, tz) if start_arg else end - timedelta(days=30)
    except (ValueError, ZoneInfoNotFoundError):
        return vendor_error("theirstack", "invalid", call.state, message="Invalid datetime or timezone.")
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    if not 0 <= (last - first).days <= 366:
        return vendor_error("theirstack", "invalid", call.state, message="The window must be 0 to 366 days.")
    return tz, [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _theirstack_series(call: Call, columns: dict[str, str | None]) -> Reply:
    """One item per day; ``columns`` maps a field to the history pool it sums (None: zero)."""
    window = _theirstack_days(call)
    if isinstance(window, Reply):
        return window
    tz, days = window
    series = {
        name: call.state.consumption("theirstack", pool) if pool else {} for name, pool in columns.items()
    }
    return Reply(
        body=[
            {"period_start": iso(_midnight(day, tz)), **{n: num(s.get(day, 0)) for n, s in series.items()}}
            for day in days
        ]
    )


def theirstack_consumption(call: Call) -> Reply:
    # The sandbox keeps UTC days; a day is reported as the same calendar day in ``timezone``.
    return _theirstack_series(
        call, {"api_credits_consumed": "api_credits", "ui_credits_consumed": "ui_credits"}
    )


def theirstack_request_counts(call: Call) -> Reply:
    # Every sandbox request is an API request: none come from the web app.
    from_app = call.query.get("is_origin_app", "").lower() == "true"
    return _theirstack_series(call, {"number_of_requests": None if from_app else "requests"})


# ------------------------------------------------------------------ Trendtrack


def _trendtrack_total(state: SandboxState) -> float:
    return sum(max(0.0, state.pool("trendtrack", p).remaining) for p in ("recurring", "topup"))


def trendtrack_usage(call: Call) -> Reply:
    state = call.state
    recurring, quota = state.pool("trendtrack", "recurring"), state.pool("trendtrack", "included_quota")
    start, end = month_period(today())
    total = num(_trendtrack_total(state))
    return Reply(
        body={
            "requestId": str(uuid.UUID(int=state.next_id())),
            "workspace": {"id": "ws_sandbox", "slug": "sandbox", "name": "Sandbox workspace"},
            "credential": {
                "id": "cred_sandbox",
                "accessLevel": "full_access",
                "lastUsedAt": iso(datetime.now(timezone.utc)),
            },
            "billing": {
                "configured": True,
                "planCode": "growth",
                "currentPeriodStart": iso(start),
                "currentPeriodEnd": iso(end),
                "updatedAt": iso(start),
            },
            "includedQuota": quota.to_json(),
            "credits": {
                "balance": total,
                "recurring": recurring.to_json(),
                "topup": {"balance": num(state.pool("trendtrack", "topup").remaining)},
                "totalRemaining": total,
            },
        }
    )


# --------------------------------------------------------------------- routing

#: path parameter -> (the ids the sandbox knows, what they name); others answer 404.
KNOWN_IDS: dict[str, tuple[Collection[str], str]] = {
    "workspace_id": ((keys.CLAY_WORKSPACE_ID,), "Workspace"),
    "user_id": (CLAY_USERS, "User"),
    "integration_type": (CLAY_INTEGRATIONS, "Integration type"),
}


def _unknown_id(vendor: str, call: Call) -> Reply | None:
    for name, value in call.params.items():
        known, what = KNOWN_IDS[name]
        if value not in known:
            return vendor_error(vendor, "not_found", call.state, message=f"{what} {value!r} not found.")
    return None


class VendorRoute(NamedTuple):
    vendor: str
    method: str
    path: str
    handler: Callable[[Call], Reply]
    public: bool = False  # no auth (Clay's sign-in)


ROUTES: tuple[VendorRoute, ...] = (
    VendorRoute("clay", "POST", "/v3/auth/login", clay_login, public=True),
    VendorRoute("clay", "GET", "/v3/me", clay_me),
    VendorRoute("clay", "GET", "/v3/workspaces/{workspace_id}/credits", clay_workspace_credits),
    VendorRoute(
        "clay", "GET", "/v3/credit-reporting/{workspace_id}/creditReportType/workspace", clay_workspace_report
    ),
    VendorRoute("clay", "GET", "/v3/owners", clay_owners),
    VendorRoute("clay", "GET", "/v3/workspaces/{workspace_id}/permissions", clay_owners),
    VendorRoute("clay", "GET", "/v3/users/{user_id}/credits", clay_user_credits),
    VendorRoute("clay", "POST", "/v3/users/{user_id}/resources", clay_user_resources),
    VendorRoute("clay", "GET", "/v3/integrations", clay_integrations),
    VendorRoute("clay", "GET", "/v3/integrations/{integration_type}", clay_integration),
    VendorRoute("clay", "GET", "/v3/integrations/{integration_type}/credits", clay_integration_credits),
    VendorRoute("clay", "GET", "/v3/integrations/{integration_type}/credits/report", clay_integration_report),
    VendorRoute("clodura", "GET", "/api/v1/credits", clodura_credits),
    VendorRoute("theirstack", "GET", "/v0/billing/credit-balance", theirstack_balance),
    VendorRoute("theirstack", "GET", "/v0/teams/credits_consumption", theirstack_consumption),
    VendorRoute("theirstack", "GET", "/v0/requests/count", theirstack_request_counts),
    VendorRoute("trendtrack", "GET", "/v1/usage", trendtrack_usage),
)

HTML_PAGE = """<!DOCTYPE html>
<html><head><title>{status} {phrase} | sandbox edge</title></head>
<body><h1>{status} {phrase}</h1><p>The origin web server is unavailable. (sandbox fault)</p></body></html>
"""


#: faults answered with the vendor's error of this kind
FAULT_ERRORS = {
    "expired_cookie": "session_expired",
    "unauthorized": "revoked",
    "out_of_credits": "insufficient",
    "forbidden": "forbidden",
}


async def _fault_reply(fault: Fault | None, vendor: str, state: SandboxState) -> Reply | None:
    """The reply a fault puts in place of the real one (after its delay), or None."""
    if fault is None:
        return None
    name, params = fault.scenario, fault.params
    if name in ("slow", "timeout"):
        await asyncio.sleep(params["delay"])
    elif name.startswith("rate_limit"):
        reply = vendor_error(vendor, "rate_limited", state)
        wait = params.get("retry_after", 0)
        if name == "rate_limit":
            reply.headers["Retry-After"] = str(wait)
        elif name == "rate_limit_http_date":
            when = datetime.now(timezone.utc) + timedelta(seconds=wait)
            reply.headers["Retry-After"] = format_datetime(when, usegmt=True)
        return reply
    elif name == "server_error":
        return vendor_error(vendor, "internal", state, status=params["status"])
    elif name == "html":
        status = params["status"]
        return Reply(status, html=HTML_PAGE.format(status=status, phrase=HTTPStatus(status).phrase))
    elif name in FAULT_ERRORS:
        return vendor_error(vendor, FAULT_ERRORS[name], state)
    return None


class _TruncatedResponse(Response):
    """Declares more bytes than it sends, then ends without completing (the connection closes)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})


def _render(fault: Fault | None, reply: Reply) -> Response:
    """Encode a reply, applying a fault that changes the body or how it is sent."""
    if reply.html is not None:
        return Response(reply.html, reply.status, reply.headers, media_type="text/html")
    name, params = (fault.scenario, fault.params) if fault else ("", {})
    content = json.dumps(faults.transform_body(name, params, reply.body)).encode()
    media = "application/json"
    if name == "malformed_json":
        content = content[: max(1, len(content) // 2)]
    elif name == "huge_body":
        content += b" " * max(0, params["size"] - len(content))
    elif name == "truncated":
        headers = {**reply.headers, "content-length": str(len(content) + params["missing"])}
        return _TruncatedResponse(content, reply.status, headers, media_type=media)
    elif name == "slow_drip":
        size, interval = max(1, params["chunk_size"]), params["interval"]

        async def drip() -> AsyncIterator[bytes]:
            for offset in range(0, len(content), size):
                await asyncio.sleep(interval)
                yield content[offset : offset + size]

        return StreamingResponse(drip(), reply.status, reply.headers, media_type=media)
    return Response(content, reply.status, reply.headers, media_type=media)


def _vendor_endpoint(route: VendorRoute) -> Callable[[Request], Awaitable[Response]]:
    vendor = route.vendor

    async def endpoint(request: Request) -> Response:
        state: SandboxState = request.app.state.sandbox
        path = request.url.path
        entry = state.log_request(vendor, request.method, path)
        fault = state.take_fault(vendor, path, clay_cookies(request) if vendor == "clay" else [])
        entry.fault = fault.scenario if fault else None
        reply = await _fault_reply(fault, vendor, state)
        if reply is None:
            failure = None if route.public else AUTH[vendor](request, state)
            if failure:
                reply = vendor_error(vendor, failure, state)
            else:
                if vendor in REQUEST_SERIES:
                    state.record(vendor, "requests", 1)
                try:
                    body = await _json_body(request) if route.method == "POST" else None
                except SandboxError as exc:
                    reply = vendor_error(vendor, "invalid", state, message=str(exc))
                else:
                    call = Call(state, request.path_params, request.query_params, body)
                    reply = _unknown_id(vendor, call) or route.handler(call)
        extra = _vendor_headers(vendor, state, request.app.state.window, reply, fault)
        reply.headers = {**extra, **reply.headers}
        entry.status = reply.status
        # Paths only: never headers or query strings, so no secret reaches the log.
        logger.info(
            "%s %s %s -> %d%s",
            vendor,
            request.method,
            path,
            reply.status,
            f" [fault {entry.fault}]" if fault else "",
        )
        return _render(fault, reply)

    return endpoint


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise SandboxError("the request body is not JSON") from None


# --------------------------------------------------------------------- controls

Control = Callable[[SandboxState, "Fields", Mapping[str, str]], Any]


class Fields:
    """The JSON object of a control request, read field by field with its type checked.

    Every error is a :class:`SandboxError` naming the field and what is wrong with its value,
    e.g. ``amount: 'ten' is not a number``.

    :param body: the decoded request body.
    """

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def _get(self, name: str, required: bool) -> Any:
        value = self.body.get(name)
        if value is None and required:
            raise SandboxError("missing (required)", field=name)
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        """A string field; None when absent and not required (an empty string counts as absent)."""
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise SandboxError(f"{value!r} is not a string", field=name)
        if not value.strip() and required:
            raise SandboxError("is empty", field=name)
        return value or None

    def number(self, name: str) -> float:
        """A required finite number (a numeric string such as ``"250"`` is accepted)."""
        value = self._get(name, True)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SandboxError(f"{value!r} is not a number", field=name)
        try:
            number = float(value)
        except ValueError:
            raise SandboxError(f"{value!r} is not a number", field=name) from None
        if not math.isfinite(number):
            raise SandboxError(f"{value!r} is not a finite number", field=name)
        return number

    def count(self, name: str) -> int | None:
        """An optional whole number; None when absent."""
        value = self._get(name, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise SandboxError(f"{value!r} is not a whole number", field=name)
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        """An optional JSON object; empty when absent."""
        value = self._get(name, False)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise SandboxError(f"{value!r} is not a JSON object", field=name)
        return value


def _reset(state: SandboxState, body: Fields, query: Mapping[str, str]) -> Any:
    state.reset(body.text("clodura_plan"))
    return state.to_json()


def _requests(state: SandboxState, body: Fields, query: Mapping[str, str]) -> Any:
    vendor, path = query.get("vendor"), query.get("path")
    return {
        "count": state.request_count(vendor, path),
        "by_path": {f"{v} {p}": n for (v, p), n in sorted(state.counts.items()) if vendor in (None, v)},
        "requests": [r.to_json() for r in state.requests(vendor, path)],
    }


def _clear_requests(state: SandboxState, body: Fields, query: Mapping[str, str]) -> Any:
    state.log.clear()
    state.counts.clear()
    return {"count": 0}


def _add_fault(state: SandboxState, body: Fields, query: Mapping[str, str]) -> Any:
    fault = state.add_fault(
        body.text("vendor") or "*",
        str(body.text("scenario", required=True)),
        body.count("count"),
        path=body.text("path"),
        params=body.mapping("params"),
    )
    return fault.to_json()


def _clear_faults(state: SandboxState, body: Fields, query: Mapping[str, str]) -> Any:
    state.clear_faults()
    return {"faults": []}


CONTROLS: dict[tuple[str, str], Control] = {
    ("GET", "/health"): lambda state, body, query: {"ok": True},
    ("GET", "/state"): lambda state, body, query: state.to_json(),
    ("POST", "/reset"): _reset,
    ("POST", "/spend"): lambda state, body, query: state.spend(
        str(body.text("vendor", required=True)),
        body.number("amount"),
        body.text("pool"),
        user=body.text("user_id") or "",
        integration=body.text("integration") or "",
    ),
    ("POST", "/topup"): lambda state, body, query: state.topup(
        str(body.text("vendor", required=True)), body.number("amount"), body.text("pool")
    ),
    ("POST", "/balance"): lambda state, body, query: state.set_balance(
        str(body.text("vendor", required=True)),
        str(body.text("pool", required=True)),
        body.number("remaining"),
    ),
    ("GET", "/faults"): lambda state, body, query: {"faults": [f.to_json() for f in state.faults]},
    ("POST", "/faults"): _add_fault,
    ("DELETE", "/faults"): _clear_faults,
    ("GET", "/requests"): _requests,
    ("DELETE", "/requests"): _clear_requests,
    ("GET", "/scenarios"): lambda state, body, query: {
        name: {"effect": s.effect, "params": s.defaults} for name, s in faults.SCENARIOS.items()
    },
}


async def _control(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    action = CONTROLS[(request.method, request.url.path.removeprefix(CONTROL_PREFIX))]
    try:
        body = await _json_body(request) if request.method == "POST" else None
        if body is not None and not isinstance(body, dict):
            raise SandboxError("the request body must be a JSON object")
        return JSONResponse(action(state, Fields(body or {}), request.query_params))
    except OutOfCreditsError as exc:
        return JSONResponse(vendor_error(exc.vendor, "insufficient", state, message=str(exc)).body, 402)
    except SandboxError as exc:
        return JSONResponse({"error": str(exc), "field": exc.field}, 400)


def create_app(state: SandboxState) -> Starlette:
    """Build the ASGI app serving ``state``.

    :param state: the accounts to serve (kept on ``app.state.sandbox``).
    """
    from airflow_provider_credits.sandbox.registry_vendors import routes as registry_routes

    routes = [Route(r.path, _vendor_endpoint(r), methods=[r.method]) for r in (*ROUTES, *registry_routes())]
    methods: dict[str, list[str]] = {}
    for method, path in CONTROLS:
        methods.setdefault(path, []).append(method)
    routes += [Route(CONTROL_PREFIX + path, _control, methods=m) for path, m in methods.items()]
    app = Starlette(routes=routes)
    app.state.sandbox = state
    app.state.window = _Window()
    return app
