"""TrendtrackHook: the usage snapshot as a balance (from the body's parts or the header), and its endpoint."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.support.vendor_api import (
    NO_PERIOD,
    assert_balance,
    assert_endpoint,
    assert_unusable_balance,
    load,
)


def trendtrack(**changes: Any) -> dict[str, Any]:
    """The documented Trendtrack body with top-level keys or ``credits`` keys replaced."""
    body = copy.deepcopy(load("trendtrack", "usage"))
    for key, value in changes.items():
        target = body["credits"] if key in body["credits"] else body
        target[key] = value
    return body


TRENDTRACK_BILLED = trendtrack(
    billing={
        "configured": True,
        "planCode": "growth",
        "currentPeriodStart": "2026-04-01T00:00:00Z",
        "currentPeriodEnd": "2026-05-01T00:00:00Z",
        "updatedAt": "2026-04-01T00:00:05Z",
    },
    includedQuota={"limit": 500, "used": 120, "remaining": 380},
    balance=12500,
    recurring={"limit": 10000, "used": 2500, "remaining": 7500},
    topup={"balance": 5000},
    totalRemaining=12500,
)
APRIL = (datetime(2026, 4, 1, tzinfo=timezone.utc), datetime(2026, 5, 1, tzinfo=timezone.utc))
TRENDTRACK_NULLS = trendtrack(
    includedQuota=None, recurring=None, topup=None, balance=None, totalRemaining=None
)


@pytest.mark.parametrize("header", ["n/a", "NaN", ""])
def test_trendtrack_unusable_header_is_ignored_in_favour_of_the_parts(api, make_hook, header: str) -> None:
    body = trendtrack(totalRemaining=None)
    body["credits"]["recurring"]["remaining"] = 700
    body["credits"]["topup"]["balance"] = 50
    api.get("/v1/usage").respond(200, json=body, headers={"X-Credits-Remaining": header})
    balance = make_hook("trendtrack").get_balance()
    assert balance.pool("credits").remaining == 750


# ----------------------------------------------------------------------- balances and endpoints


# body, response headers, account, pools as (name, remaining, limit, used, (period_start, period_end))
BALANCES = {
    "documented": (
        load("trendtrack", "usage"), {"X-Credits-Remaining": "0"}, "ws_123",
        [("credits", 0, None, None, NO_PERIOD), ("recurring", 0, 0, 0, NO_PERIOD), ("topup", 0, None, None, NO_PERIOD),
         ("included_quota", 0, 0, 0, NO_PERIOD)],
    ),
    "billed": (
        TRENDTRACK_BILLED, {}, "ws_123",
        [("credits", 12500, None, None, NO_PERIOD), ("recurring", 7500, 10000, 2500, APRIL),
         ("topup", 5000, None, None, NO_PERIOD), ("included_quota", 380, 500, 120, APRIL)],
    ),
    "nulls-header-fallback": (
        TRENDTRACK_NULLS, {"X-Credits-Remaining": "4200"}, "ws_123",
        [("credits", 4200, None, None, NO_PERIOD), ("recurring", None, None, None, NO_PERIOD),
         ("topup", None, None, None, NO_PERIOD), ("included_quota", None, None, None, NO_PERIOD)],
    ),
    "nulls-no-header": (
        TRENDTRACK_NULLS, {}, "ws_123",
        [("credits", None, None, None, NO_PERIOD), ("recurring", None, None, None, NO_PERIOD),
         ("topup", None, None, None, NO_PERIOD), ("included_quota", None, None, None, NO_PERIOD)],
    ),
    "body-wins-over-header": (
        trendtrack(totalRemaining=77), {"X-Credits-Remaining": "4200"}, "ws_123",
        [("credits", 77, None, None, NO_PERIOD), ("recurring", 0, 0, 0, NO_PERIOD), ("topup", 0, None, None, NO_PERIOD),
         ("included_quota", 0, 0, 0, NO_PERIOD)],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("body", "headers", "account", "pools"), list(BALANCES.values()), ids=list(BALANCES))
def test_balance(mode, api, make_hook, body, headers, account, pools):
    assert_balance(mode, api, make_hook("trendtrack"), body, headers, account, pools)


# body, response headers, words the error must contain
BAD_BODIES = {
    "no-workspace": (trendtrack(workspace=None), {}, ["workspace"]),
}  # fmt: skip


@pytest.mark.parametrize(("body", "headers", "words"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_unusable_balance_body_is_a_response_error(mode, api, make_hook, body, headers, words):
    assert_unusable_balance(mode, api, make_hook("trendtrack"), body, headers, words)


# hook method, args, HTTP method, path, fixture, expected query, probe(result), expected
ENDPOINTS = [
    ("get_usage_snapshot", (), "GET", "/v1/usage", "usage", {},
     lambda r: (r.workspace.id, r.credential.accessLevel, r.billing.planCode, r.credits.totalRemaining),
     ("ws_123", "full_access", None, 0)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "args", "http_method", "path", "fixture", "query", "probe", "expected"),
    [pytest.param(*row, id=f"{row[0]}-{row[4]}") for row in ENDPOINTS],
)
def test_endpoint(mode, api, make_hook, method, args, http_method, path, fixture, query, probe, expected):
    hook = make_hook("trendtrack")
    assert_endpoint(mode, api, hook, (method, args), (http_method, path, query), fixture, probe, expected)
