"""ClayHook: balances, every endpoint, usage from the credit report, and the session cookie (pasted
with or without ``claysession=``, or renewed once by signing in on a 401)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from airflow_provider_credits.exceptions import (
    CreditsAuthError,
    CreditsConfigError,
    CreditsResponseError,
)
from tests.support.vendor_api import (
    ACCOUNT_PASSWORD,
    COOKIE,
    END,
    NO_PERIOD,
    START,
    WORKSPACE,
    assert_balance,
    assert_endpoint,
    assert_unusable_balance,
    invoke,
    load,
)

# --------------------------------------------------------------------------- the session cookie


CREDITS = f"/v3/workspaces/{WORKSPACE}/credits"
LOGIN = "/v3/auth/login"
FRESH = "fresh-SECRET-24680246"
EMAIL = "ops@example.com"
CAN_LOGIN = {"account_password": ACCOUNT_PASSWORD}


def ok() -> httpx.Response:
    return httpx.Response(200, json=load("clay", "workspace_credits"))


def unauthorized() -> httpx.Response:
    return httpx.Response(401, json={"message": "Session expired"})


def signed_in() -> httpx.Response:
    return httpx.Response(
        200, json={"id": 1}, headers={"Set-Cookie": f"claysession={FRESH}; Path=/; HttpOnly"}
    )


@pytest.fixture
def clay_hook(make_hook):
    """A Clay hook whose connection can sign in (email in login, account_password extra)."""

    def build(password: str = COOKIE):
        return make_hook("clay", password=password, login=EMAIL, extra=CAN_LOGIN)

    return build


# responses of the credits call, responses of the sign-in, credits calls, sign-ins, outcome
REFRESH = {
    "expired-cookie-renewed": ([unauthorized(), ok()], [signed_in()], 2, 1, None),
    "still-401-after-renewal": ([unauthorized(), unauthorized()], [signed_in()], 2, 1, CreditsAuthError),
    "sign-in-rejected": ([unauthorized()], [httpx.Response(401, json={"message": "bad password"})], 1, 1, CreditsAuthError),
    "sign-in-without-cookie": ([unauthorized()], [httpx.Response(200, json={})], 1, 1, CreditsAuthError),
    "sign-in-unreachable": ([unauthorized()], [httpx.ConnectError("refused")], 1, 1, CreditsAuthError),
}  # fmt: skip


@pytest.mark.parametrize(
    ("credit_responses", "login_responses", "credit_calls", "login_calls", "error"),
    list(REFRESH.values()),
    ids=list(REFRESH),
)
def test_refresh_once_on_401(
    mode, api, clay_hook, clock, credit_responses, login_responses, credit_calls, login_calls, error
):
    credits = api.get(CREDITS).mock(side_effect=credit_responses)
    login = api.post(LOGIN).mock(side_effect=login_responses)
    hook = clay_hook()

    if error is None:
        assert invoke(mode, hook, "get_balance").primary.remaining == 6500
        assert credits.calls.last.request.headers["Cookie"] == f"claysession={FRESH}"
    else:
        with pytest.raises(error):
            invoke(mode, hook, "get_balance")

    assert (credits.call_count, login.call_count) == (credit_calls, login_calls)
    assert credits.calls[0].request.headers["Cookie"] == f"claysession={COOKIE}"
    assert json.loads(login.calls.last.request.content) == {
        "email": EMAIL,
        "password": ACCOUNT_PASSWORD,
        "source": None,
    }
    assert clock.sleeps == []


def test_sign_in_only_with_login_details_configured(mode, api, make_hook):
    credits = api.get(CREDITS).mock(side_effect=[unauthorized()])  # no login route: signing in would fail

    with pytest.raises(CreditsAuthError, match="Session expired"):
        invoke(mode, make_hook("clay"), "get_balance")

    assert credits.call_count == 1
    assert len(api.calls) == 1


def test_login_only_connection_signs_in_on_first_401(mode, api, clay_hook):
    credits = api.get(CREDITS).mock(side_effect=[unauthorized(), ok()])
    api.post(LOGIN).mock(side_effect=[signed_in()])

    invoke(mode, clay_hook(password=""), "get_balance")

    assert "Cookie" not in credits.calls[0].request.headers
    assert credits.calls[1].request.headers["Cookie"] == f"claysession={FRESH}"


def test_explicit_login_replaces_the_cookie(api, clay_hook):
    api.post(LOGIN).mock(side_effect=[signed_in()])
    credits = api.get(CREDITS).mock(side_effect=[ok()])
    hook = clay_hook()

    hook.login()
    hook.get_balance()

    assert credits.calls.last.request.headers["Cookie"] == f"claysession={FRESH}"


def test_explicit_login_needs_login_details(api, make_hook):
    with pytest.raises(CreditsConfigError, match="signing in needs the email"):
        make_hook("clay").login()


PASTED_FORMS = [
    "{}",
    "claysession={}",
    "  claysession={} ",
    "Claysession={}",
    "claysession={};",
    'claysession="{}"',
    "Cookie: claysession={}",
    "cookie: other=1; claysession={}; more=2",
    "claysession={}; Path=/; HttpOnly",
]


@pytest.mark.parametrize("form", PASTED_FORMS)
def test_pasted_cookie_with_or_without_prefix(mode, api, make_hook, form):
    route = api.get(CREDITS).respond(json=load("clay", "workspace_credits"))

    invoke(mode, make_hook("clay", password=form.format(COOKIE)), "get_balance")

    assert route.calls.last.request.headers["Cookie"] == f"claysession={COOKIE}"


@pytest.mark.parametrize("form", PASTED_FORMS)
def test_masked_placeholder_in_any_pasted_form_is_refused(mode, api, make_hook, form):
    with pytest.raises(CreditsConfigError, match="masked placeholder"):
        invoke(mode, make_hook("clay", password=form.format("***")), "get_balance")

    assert not api.calls


def test_no_cookie_and_no_login_is_a_config_error(mode, api, make_hook):
    with pytest.raises(CreditsConfigError, match="neither a session cookie"):
        invoke(mode, make_hook("clay", password=""), "get_balance")

    assert not api.calls


def test_missing_workspace_is_a_config_error(mode, api, make_hook):
    with pytest.raises(CreditsConfigError, match="no workspace_id extra"):
        invoke(mode, make_hook("clay", extra={"workspace_id": None}), "get_balance")

    assert not api.calls


def test_rejected_explicit_login_is_sent_once(api, clay_hook, clock):
    login = api.post(LOGIN).respond(401, json={"message": "Wrong email or password"})

    with pytest.raises(CreditsAuthError, match="Wrong email or password"):
        clay_hook().login()

    assert login.call_count == 1


# -------------------------------------------------------------------- usage (the credit report)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


CLAY_REPORT = f"/v3/credit-reporting/{WORKSPACE}/creditReportType/workspace"


# fixture, rows as (day, dimension, amount)
CLAY_USAGE = {
    "entries-with-breakdown": (
        "workspace_credit_report_entries",
        [(date(2025, 7, 1), "", Decimal("150.5")), (date(2025, 7, 2), "", 0),
         (date(2025, 7, 2), "integration:clearbit", 3), (date(2025, 7, 2), "user:u_42", 7)],
    ),
    "documented-empty-report": ("workspace_credit_report", [(date(2025, 7, 1), "", 0), (date(2025, 7, 2), "", 0)]),
}  # fmt: skip


@pytest.mark.parametrize(("fixture", "rows"), list(CLAY_USAGE.values()), ids=list(CLAY_USAGE))
def test_clay_usage(mode, api, make_hook, fixture, rows):
    route = api.get(CLAY_REPORT).respond(json=load("clay", fixture))

    records = invoke(mode, make_hook("clay"), "get_usage", utc(2025, 7, 1), utc(2025, 7, 3))

    assert dict(route.calls.last.request.url.params) == {
        "timeRange[startTime]": "2025-07-01T00:00:00.000Z",
        "timeRange[endTime]": "2025-07-03T00:00:00.000Z",
    }
    assert [(r.period_start.date(), r.dimension, r.amount) for r in records] == rows
    assert all(r.period_end - r.period_start == timedelta(days=1) for r in records)
    assert {(r.vendor, r.account, r.pool) for r in records} == {("clay", WORKSPACE, "credits")}


def test_clay_unknown_report_shape_is_refused_not_recorded_as_zero(mode, api, make_hook):
    api.get(CLAY_REPORT).respond(json={"data": [{"day": "2025-07-01", "total": 5}], "total": 5})

    with pytest.raises(CreditsResponseError, match=r"unknown credit report schema.*\['data', 'total'\]"):
        invoke(mode, make_hook("clay"), "get_usage", utc(2025, 7, 1), utc(2025, 7, 3))


# ----------------------------------------------------------------------- balances and endpoints


JUNE = (datetime(2024, 6, 1, tzinfo=timezone.utc), datetime(2024, 6, 30, 23, 59, 59, tzinfo=timezone.utc))

CLAY_WINDOW = {
    "timeRange[startTime]": "2025-06-30T19:00:00.000Z",
    "timeRange[endTime]": "2025-07-28T08:04:58.779Z",
}


def raw(result: Any) -> Any:
    """Clay's undocumented endpoints return the decoded JSON as it came."""
    return result


# body, response headers, account, pools as (name, remaining, limit, used, (period_start, period_end))
BALANCES = {
    "documented": (
        load("clay", "workspace_credits"), {}, WORKSPACE,
        [("credits", 6500, 10000, 3500, JUNE)],
    ),
    "numbers-as-strings": (
        {"totalCredits": "10000", "usedCredits": "3500.50", "remainingCredits": "6499.50"}, {}, WORKSPACE,
        [("credits", Decimal("6499.5"), 10000, Decimal("3500.5"), NO_PERIOD)],
    ),
    "only-remaining": (
        {"remainingCredits": 12, "totalCredits": None}, {}, WORKSPACE,
        [("credits", 12, None, None, NO_PERIOD)],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("body", "headers", "account", "pools"), list(BALANCES.values()), ids=list(BALANCES))
def test_balance(mode, api, make_hook, body, headers, account, pools):
    assert_balance(mode, api, make_hook("clay"), body, headers, account, pools)


# body, response headers, words the error must contain
BAD_BODIES = {
    "missing-remaining": ({"totalCredits": 10, "balance": 3}, {}, ["remainingCredits", "'balance'"]),
}  # fmt: skip


@pytest.mark.parametrize(("body", "headers", "words"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_unusable_balance_body_is_a_response_error(mode, api, make_hook, body, headers, words):
    assert_unusable_balance(mode, api, make_hook("clay"), body, headers, words)


# hook method, args, HTTP method, path, fixture, expected query, probe(result), expected
ENDPOINTS = [
    ("get_workspace_credits", (), "GET", f"/v3/workspaces/{WORKSPACE}/credits", "workspace_credits", {},
     lambda r: (r.remainingCredits, r.periodEnd), (Decimal(6500), datetime(2024, 6, 30, 23, 59, 59, tzinfo=timezone.utc))),
    ("get_workspace_credit_report", (START, END), "GET",
     f"/v3/credit-reporting/{WORKSPACE}/creditReportType/workspace", "workspace_credit_report_entries", CLAY_WINDOW,
     lambda r: [(e.amount, e.dimension) for e in r.entries],
     [(Decimal(120), ""), (Decimal("30.5"), ""), (Decimal(7), "user:u_42"), (Decimal(3), "integration:clearbit")]),
    ("get_workspace_credit_report", (START, END), "GET",
     f"/v3/credit-reporting/{WORKSPACE}/creditReportType/workspace", "workspace_credit_report", CLAY_WINDOW,
     lambda r: r.entries, None),
    ("get_owners", (), "GET", "/v3/owners", "owners", {}, raw, load("clay", "owners")),
    ("get_user_credits", ("u_42",), "GET", "/v3/users/u_42/credits", "user_credits", {},
     raw, load("clay", "user_credits")),
    ("get_user_resources", ("u_42",), "POST", "/v3/users/u_42/resources", "user_resources", {},
     raw, load("clay", "user_resources")),
    ("list_integrations", (), "GET", "/v3/integrations", "integrations", {}, raw, load("clay", "integrations")),
    ("get_integration", ("clearbit",), "GET", "/v3/integrations/clearbit", "integration", {},
     raw, load("clay", "integration")),
    ("get_integration_credits", ("clearbit",), "GET", "/v3/integrations/clearbit/credits",
     "integration_credits", {}, raw, load("clay", "integration_credits")),
    ("get_integration_credit_report", ("clearbit",), "GET", "/v3/integrations/clearbit/credits/report",
     "integration_credit_report", {}, raw, load("clay", "integration_credit_report")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "args", "http_method", "path", "fixture", "query", "probe", "expected"),
    [pytest.param(*row, id=f"{row[0]}-{row[4]}") for row in ENDPOINTS],
)
def test_endpoint(mode, api, make_hook, method, args, http_method, path, fixture, query, probe, expected):
    hook = make_hook("clay")
    assert_endpoint(mode, api, hook, (method, args), (http_method, path, query), fixture, probe, expected)
