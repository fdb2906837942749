"""get_balance() / aget_balance(): every documented response shape onto CreditBalance and its pools."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_credits.exceptions import CreditsResponseError
from airflow_provider_credits.models import CreditBalance
from tests.support.vendor_api import VENDOR_BY_TYPE, WORKSPACE, invoke, load

JUNE = (datetime(2024, 6, 1, tzinfo=timezone.utc), datetime(2024, 6, 30, 23, 59, 59, tzinfo=timezone.utc))
NO_PERIOD = (None, None)


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

# vendor, body, response headers, account, pools as (name, remaining, limit, used, (period_start, period_end))
BALANCES = {
    "clay-documented": (
        "clay", load("clay", "workspace_credits"), {}, WORKSPACE,
        [("credits", 6500, 10000, 3500, JUNE)],
    ),
    "clay-numbers-as-strings": (
        "clay", {"totalCredits": "10000", "usedCredits": "3500.50", "remainingCredits": "6499.50"}, {}, WORKSPACE,
        [("credits", Decimal("6499.5"), 10000, Decimal("3500.5"), NO_PERIOD)],
    ),
    "clay-only-remaining": (
        "clay", {"remainingCredits": 12, "totalCredits": None}, {}, WORKSPACE,
        [("credits", 12, None, None, NO_PERIOD)],
    ),
    "clodura-prospect-documented": (
        "clodura", load("clodura", "prospect"), {}, "clodura_test",
        [("contact_views", 858, 1000, 142, NO_PERIOD), ("direct_dials", 162, 200, 38, NO_PERIOD)],
    ),
    "clodura-prospect-pro-all-strings": (
        "clodura", {"contactsView": "0", "maxContacts": "2000", "directDials": "5", "maxDirectDials": "100"}, {},
        "clodura_test",
        [("contact_views", 2000, 2000, 0, NO_PERIOD), ("direct_dials", 95, 100, 5, NO_PERIOD)],
    ),
    "clodura-prospect-without-dials": (
        "clodura", {"contactsView": 10, "maxContacts": "1000", "directDials": None, "maxDirectDials": None}, {},
        "clodura_test",
        [("contact_views", 990, 1000, 10, NO_PERIOD), ("direct_dials", None, None, None, NO_PERIOD)],
    ),
    "clodura-unified": (
        "clodura", load("clodura", "unified"), {}, "clodura_test", [("credits", 2500, None, None, NO_PERIOD)],
    ),
    "clodura-unified-string": (
        "clodura", {"remainingCredits": "2500.00"}, {}, "clodura_test", [("credits", 2500, None, None, NO_PERIOD)],
    ),
    "theirstack-documented": (
        "theirstack", load("theirstack", "credit_balance"), {}, "theirstack_test",
        [("api_credits", 0, 0, 0, NO_PERIOD), ("ui_credits", 0, 0, 0, NO_PERIOD)],
    ),
    "theirstack-numbers-as-strings": (
        "theirstack", {"ui_credits": "500", "used_ui_credits": 20, "api_credits": "25000.00", "used_api_credits": "1250"},
        {}, "theirstack_test",
        [("api_credits", 23750, 25000, 1250, NO_PERIOD), ("ui_credits", 480, 500, 20, NO_PERIOD)],
    ),
    "trendtrack-documented": (
        "trendtrack", load("trendtrack", "usage"), {"X-Credits-Remaining": "0"}, "ws_123",
        [("credits", 0, None, None, NO_PERIOD), ("recurring", 0, 0, 0, NO_PERIOD), ("topup", 0, None, None, NO_PERIOD),
         ("included_quota", 0, 0, 0, NO_PERIOD)],
    ),
    "trendtrack-billed": (
        "trendtrack", TRENDTRACK_BILLED, {}, "ws_123",
        [("credits", 12500, None, None, NO_PERIOD), ("recurring", 7500, 10000, 2500, APRIL),
         ("topup", 5000, None, None, NO_PERIOD), ("included_quota", 380, 500, 120, APRIL)],
    ),
    "trendtrack-nulls-header-fallback": (
        "trendtrack", TRENDTRACK_NULLS, {"X-Credits-Remaining": "4200"}, "ws_123",
        [("credits", 4200, None, None, NO_PERIOD), ("recurring", None, None, None, NO_PERIOD),
         ("topup", None, None, None, NO_PERIOD), ("included_quota", None, None, None, NO_PERIOD)],
    ),
    "trendtrack-nulls-no-header": (
        "trendtrack", TRENDTRACK_NULLS, {}, "ws_123",
        [("credits", None, None, None, NO_PERIOD), ("recurring", None, None, None, NO_PERIOD),
         ("topup", None, None, None, NO_PERIOD), ("included_quota", None, None, None, NO_PERIOD)],
    ),
    "trendtrack-body-wins-over-header": (
        "trendtrack", trendtrack(totalRemaining=77), {"X-Credits-Remaining": "4200"}, "ws_123",
        [("credits", 77, None, None, NO_PERIOD), ("recurring", 0, 0, 0, NO_PERIOD), ("topup", 0, None, None, NO_PERIOD),
         ("included_quota", 0, 0, 0, NO_PERIOD)],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("conn_type", "body", "headers", "account", "pools"), list(BALANCES.values()), ids=list(BALANCES)
)
def test_balance(mode, api, make_hook, conn_type, body, headers, account, pools):
    api.get(VENDOR_BY_TYPE[conn_type].balance_path).respond(json=body, headers=headers)

    balance = invoke(mode, make_hook(conn_type), "get_balance")

    assert isinstance(balance, CreditBalance)
    assert (balance.vendor, balance.account) == (conn_type, account)
    assert [
        (p.name, p.remaining, p.limit, p.used, (p.period_start, p.period_end)) for p in balance.pools
    ] == pools
    assert balance.primary.name == pools[0][0]
    assert all(
        isinstance(v, Decimal) for p in balance.pools for v in (p.remaining, p.limit, p.used) if v is not None
    )


# vendor, body, response headers, words the error must contain
BAD_BODIES = {
    "clodura-unknown-plan": ("clodura", {"credits": 5, "plan": "enterprise"}, {}, ["unknown credits schema", "'credits'", "'plan'"]),
    "clodura-empty-object": ("clodura", {}, {}, ["unknown credits schema", "fields seen: none"]),
    "clodura-max-contacts-not-a-number": ("clodura", {"contactsView": 1, "maxContacts": "lots"}, {}, ["maxContacts"]),
    "clodura-list": ("clodura", [{"remainingCredits": 1}], {}, ["CloduraCredits", "fields seen: list"]),
    "clay-missing-remaining": ("clay", {"totalCredits": 10, "balance": 3}, {}, ["remainingCredits", "'balance'"]),
    "theirstack-null-grant": ("theirstack", {**load("theirstack", "credit_balance"), "api_credits": None}, {}, ["api_credits"]),
    "theirstack-renamed-field": ("theirstack", {"credits": 1}, {}, ["used_api_credits", "fields seen: ['credits']"]),
    "trendtrack-no-workspace": ("trendtrack", trendtrack(workspace=None), {}, ["workspace"]),
}  # fmt: skip


@pytest.mark.parametrize(
    ("conn_type", "body", "headers", "words"), list(BAD_BODIES.values()), ids=list(BAD_BODIES)
)
def test_unusable_balance_body_is_a_response_error(mode, api, make_hook, conn_type, body, headers, words):
    path = VENDOR_BY_TYPE[conn_type].balance_path
    api.get(path).respond(json=body, headers=headers)

    with pytest.raises(CreditsResponseError) as info:
        invoke(mode, make_hook(conn_type), "get_balance")

    message = str(info.value)
    assert f"[{conn_type}, GET {path}" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("header", ["n/a", "NaN", ""])
def test_trendtrack_unusable_header_is_ignored_in_favour_of_the_parts(api, make_hook, header: str) -> None:
    body = trendtrack(totalRemaining=None)
    body["credits"]["recurring"]["remaining"] = 700
    body["credits"]["topup"]["balance"] = 50
    api.get("/v1/usage").respond(200, json=body, headers={"X-Credits-Remaining": header})
    balance = make_hook("trendtrack").get_balance()
    assert balance.pool("credits").remaining == 750
