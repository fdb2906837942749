"""TheirStack in the sandbox: credit balance, daily credit consumption and request counts, with
the RateLimit-* headers on every answer."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from http import HTTPStatus
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_credits.sandbox.state import Fault, SandboxState, num
from airflow_provider_credits.sandbox.vendors import base
from airflow_provider_credits.sandbox.vendors.base import Call, Reply, SandboxVendor, VendorRoute

#: TheirStack's advertised rate limit (requests per one-second window); advertised, not enforced.
THEIRSTACK_RATE_LIMIT = 10


def balance(call: Call) -> Reply:
    api, ui = call.state.pool("theirstack", "api_credits"), call.state.pool("theirstack", "ui_credits")
    return Reply(
        body={
            "ui_credits": num(ui.limit),
            "used_ui_credits": num(ui.used),
            "api_credits": num(api.limit),
            "used_api_credits": num(api.used),
        }
    )


def _days(call: Call) -> tuple[ZoneInfo, list[date]] | Reply:
    """Calendar days of ``start_datetime``..``end_datetime`` (inclusive) in ``timezone``."""
    try:
        tz = ZoneInfo(call.query.get("timezone") or "UTC")
        end_arg, start_arg = call.query.get("end_datetime"), call.query.get("start_datetime")
        end = base.parse_moment(end_arg, tz) if end_arg else datetime.now(tz)
        start = base.parse_moment(start_arg, tz) if start_arg else end - timedelta(days=30)
    except (ValueError, ZoneInfoNotFoundError):
        return THEIRSTACK.error("invalid", call.state, message="Invalid datetime or timezone.")
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    if not 0 <= (last - first).days <= 366:
        return THEIRSTACK.error("invalid", call.state, message="The window must be 0 to 366 days.")
    return tz, [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _series(call: Call, columns: dict[str, str | None]) -> Reply:
    """One item per day; ``columns`` maps a field to the history pool it sums (None: zero)."""
    window = _days(call)
    if isinstance(window, Reply):
        return window
    tz, days = window
    series = {
        name: call.state.consumption("theirstack", pool) if pool else {} for name, pool in columns.items()
    }
    return Reply(
        body=[
            {
                "period_start": base.iso(base.midnight(day, tz)),
                **{n: num(s.get(day, 0)) for n, s in series.items()},
            }
            for day in days
        ]
    )


def consumption(call: Call) -> Reply:
    # The sandbox keeps UTC days; a day is reported as the same calendar day in ``timezone``.
    return _series(call, {"api_credits_consumed": "api_credits", "ui_credits_consumed": "ui_credits"})


def request_counts(call: Call) -> Reply:
    # Every sandbox request is an API request: none come from the web app.
    from_app = call.query.get("is_origin_app", "").lower() == "true"
    return _series(call, {"number_of_requests": None if from_app else "requests"})


def _headers(state: SandboxState, window: base.Window, reply: Reply, fault: Fault | None) -> dict[str, str]:
    """RateLimit-* headers on every answer; a ``rate_limit*`` fault empties the window."""
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


THEIRSTACK = SandboxVendor(
    name="theirstack",
    routes=(
        VendorRoute("GET", "/v0/billing/credit-balance", balance),
        VendorRoute("GET", "/v0/teams/credits_consumption", consumption),
        VendorRoute("GET", "/v0/requests/count", request_counts),
    ),
    auth=base.bearer_auth("theirstack"),
    auth_hint="Authorization: Bearer <api_key>",
    error_body=lambda code, status, message, rid: {
        "request_id": rid,
        "error": {"code": code, "title": HTTPStatus(status).phrase, "description": message},
    },
    # The E-codes are the sandbox's choice: TheirStack lists E-001..E-016 without meanings.
    error_codes={
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
    headers=_headers,
)
