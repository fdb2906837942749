"""Clay in the sandbox: cookie sign-in, workspace and per-user/per-integration credits, reports.

Only the workspace credits and the report are documented by Clay; the other bodies are
plausible, not authoritative.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.state import (
    CLAY_INTEGRATIONS,
    CLAY_USERS,
    SandboxState,
    month_period,
    num,
    today,
)
from airflow_provider_credits.sandbox.vendors import base
from airflow_provider_credits.sandbox.vendors.base import Call, Reply, SandboxVendor, VendorRoute

if TYPE_CHECKING:
    from starlette.requests import Request


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


def _auth(request: Request, state: SandboxState) -> str | None:
    cookies = clay_cookies(request)
    if not cookies:
        return "missing_key"
    valid = any(base.matches(c, s) for c in cookies for s in state.sessions)
    return None if valid else "session_expired"


def _period() -> dict[str, str]:
    start, end = month_period(today())
    return {"periodStart": base.iso(start), "periodEnd": base.iso(end)}


def _in_period(days: dict[date, float]) -> float:
    start = month_period(today())[0].date()
    return sum(amount for day, amount in days.items() if day >= start)


def _time_range(call: Call) -> tuple[datetime, datetime] | Reply:
    start, end = call.query.get("timeRange[startTime]"), call.query.get("timeRange[endTime]")
    try:
        first = base.parse_moment(start) if start else base.midnight(today() - timedelta(days=30))
        last = base.parse_moment(end) if end else datetime.now(timezone.utc)
    except ValueError:
        return CLAY.error("invalid", call.state, message="timeRange must hold ISO 8601 datetimes")
    return first, last


def _entries(call: Call, extra: dict[str, str], **dimension: str) -> Reply:
    window = _time_range(call)
    if isinstance(window, Reply):
        return window
    first, last = window
    days = call.state.consumption("clay", "credits", **dimension)
    inside = {
        d: a
        for d, a in days.items()
        if base.midnight(d) < last and base.midnight(d + timedelta(days=1)) > first
    }
    entries = [
        {"date": base.iso(base.midnight(d)), "creditsUsed": num(a), **extra} for d, a in inside.items()
    ]
    return Reply(
        body={
            "timeRange": {"startTime": base.iso(first), "endTime": base.iso(last)},
            "totalCreditsUsed": num(sum(inside.values())),
            "entries": entries,
        }
    )


def workspace_credits(call: Call) -> Reply:
    pool = call.state.pool("clay", "credits")
    return Reply(
        body={
            "totalCredits": num(pool.limit),
            "usedCredits": num(pool.used),
            "remainingCredits": num(pool.remaining),
            **_period(),
        }
    )


def workspace_report(call: Call) -> Reply:
    return _entries(call, {})


def owners(call: Call) -> Reply:
    body = [
        {"id": uid, "name": name, "email": f"{name.split()[0].lower()}@example.com", "role": role}
        for (uid, name), role in zip(CLAY_USERS.items(), ("owner", "admin"), strict=True)
    ]
    return Reply(body=body)


def user_credits(call: Call) -> Reply:
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


def user_resources(call: Call) -> Reply:
    user = call.params["user_id"]
    resources = [
        {"id": f"wb_{user}_1", "type": "workbook", "name": "Outbound leads"},
        {"id": f"t_{user}_1", "type": "table", "name": "Companies to enrich", "workbookId": f"wb_{user}_1"},
    ]
    return Reply(body={"resources": resources})


def _integration_info(kind: str) -> dict[str, Any]:
    return {"type": kind, "name": kind.capitalize(), "creditsPerRow": CLAY_INTEGRATIONS[kind]}


def integrations(call: Call) -> Reply:
    return Reply(body=[_integration_info(t) for t in CLAY_INTEGRATIONS])


def integration(call: Call) -> Reply:
    return Reply(body=_integration_info(call.params["integration_type"]))


def integration_credits(call: Call) -> Reply:
    kind = call.params["integration_type"]
    used = _in_period(call.state.consumption("clay", "credits", integration=kind))
    return Reply(body={"integration": kind, "creditsUsed": num(used), **_period()})


def integration_report(call: Call) -> Reply:
    kind = call.params["integration_type"]
    return _entries(call, {"integration": kind}, integration=kind)


def me(call: Call) -> Reply:
    user = next(iter(CLAY_USERS))
    return Reply(
        body={
            "id": user,
            "email": keys.CLAY_EMAIL,
            "name": CLAY_USERS[user],
            "workspaces": [{"id": int(keys.CLAY_WORKSPACE_ID), "name": "Sandbox workspace"}],
        }
    )


def login(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    email, password = str(body.get("email") or ""), str(body.get("password") or "")
    if not (base.matches(email, keys.CLAY_EMAIL) and base.matches(password, keys.CLAY_PASSWORD)):
        return CLAY.error("bad_login", call.state)
    session = f"sandbox-clay-session-{call.state.next_id()}-NOT-REAL"
    call.state.sessions.add(session)
    call.state.login_sessions.add(session)
    cookie = f"{keys.CLAY_COOKIE_NAME}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400"
    return Reply(
        body={"id": next(iter(CLAY_USERS)), "email": keys.CLAY_EMAIL}, headers={"Set-Cookie": cookie}
    )


CLAY = SandboxVendor(
    name="clay",
    routes=(
        VendorRoute("POST", "/v3/auth/login", login, public=True),
        VendorRoute("GET", "/v3/me", me),
        VendorRoute("GET", "/v3/workspaces/{workspace_id}/credits", workspace_credits),
        VendorRoute(
            "GET", "/v3/credit-reporting/{workspace_id}/creditReportType/workspace", workspace_report
        ),
        VendorRoute("GET", "/v3/owners", owners),
        VendorRoute("GET", "/v3/workspaces/{workspace_id}/permissions", owners),
        VendorRoute("GET", "/v3/users/{user_id}/credits", user_credits),
        VendorRoute("POST", "/v3/users/{user_id}/resources", user_resources),
        VendorRoute("GET", "/v3/integrations", integrations),
        VendorRoute("GET", "/v3/integrations/{integration_type}", integration),
        VendorRoute("GET", "/v3/integrations/{integration_type}/credits", integration_credits),
        VendorRoute("GET", "/v3/integrations/{integration_type}/credits/report", integration_report),
    ),
    auth=_auth,
    auth_hint="Cookie: claysession=<session>",
    # Clay's error type is the HTTP reason phrase without spaces.
    error_body=lambda code, status, message, rid: {"type": code.replace(" ", ""), "message": message},
    known_ids={
        "workspace_id": ((keys.CLAY_WORKSPACE_ID,), "Workspace"),
        "user_id": (CLAY_USERS, "User"),
        "integration_type": (CLAY_INTEGRATIONS, "Integration type"),
    },
    sessions=clay_cookies,
)
