"""The eight registry vendors on their example bodies (respx), sync and async.

Each vendor: where the secret goes, the pools and numbers read from its balance answer,
its error bodies (401 and errors inside an HTTP 200) as typed errors that never hold the
secret, and the documented rate limit honoured after a 429.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from airflow_provider_credits.exceptions import (
    CreditsAuthError,
    CreditsConfigError,
    CreditsRateLimitError,
    CreditsRequestError,
    CreditsResponseError,
)
from airflow_provider_credits.gate import decide
from airflow_provider_credits.hooks import get_credits_hook, hook_class_for
from airflow_provider_credits.hooks.registry import RegistryHook
from airflow_provider_credits.models import CreditBalance
from airflow_provider_credits.vendors import VENDORS
from tests.support.vendor_api import BASE_URL, SECRET, invoke, load

UTC = timezone.utc
#: a secret that URL encoding changes: it must not leak in either form
ODD_SECRET = "sk/SECRET+key=1234"


@dataclass(frozen=True)
class Case:
    """One registry vendor: its balance answer and what the hook must read from it."""

    conn_type: str
    path: str
    fixture: str
    #: pool -> (remaining, limit, used)
    pools: dict[str, tuple[Any, Any, Any]]
    error_fixture: str
    error_text: str

    def __str__(self) -> str:
        return self.conn_type


CASES = [
    Case(
        "hunter",
        "/v2/account",
        "account",
        {"credits": ("1842.5", "2000", "157.5"), "searches": (380, 500, 120), "verifications": (963, 1000, 37)},
        "error",
        "No user found for the API key supplied",
    ),
    Case("lusha", "/v3/account/usage", "usage", {"credits": (768, 1000, 232)}, "error", "the API key is not valid"),
    Case("zerobounce", "/v2/getcredits", "credits", {"credits": (2375323, None, None)}, "", ""),
    Case("prospeo", "/account-information", "account", {"credits": (99, None, 1)}, "invalid_key", "INVALID_API_KEY"),
    Case(
        "serpapi",
        "/account.json",
        "account",
        {"searches": (4225, 5000, 875), "extra_credits": (100, None, None)},
        "error",
        "Invalid API key",
    ),
    Case("apify", "/v2/users/me/limits", "limits", {"usage_usd": ("256.25", 300, "43.75")}, "error", "token is not valid"),
    Case("firecrawl", "/v2/team/credit-usage", "credit_usage", {"credits": (1000, 3000, None)}, "error", "Invalid token"),
    Case(
        "tavily",
        "/usage",
        "usage",
        {"plan": (14500, 15000, 500), "key": (850, 1000, 150), "paygo": (75, 100, 25)},
        "error",
        "missing or invalid API key",
    ),
]  # fmt: skip
CASE_BY_TYPE = {c.conn_type: c for c in CASES}


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@pytest.fixture
def registry_hook(set_conn: Callable[..., str]) -> Callable[..., RegistryHook]:
    """Build a registry vendor's hook on an env-var connection to ``BASE_URL``, near-zero backoff."""

    def build(conn_type: str, *, password: str = SECRET, **hook_kwargs: Any) -> RegistryHook:
        conn_id = set_conn(conn_type, password=password, host=BASE_URL)
        hook_kwargs.setdefault("backoff", 0.001)
        hook = get_credits_hook(conn_id, **hook_kwargs)
        assert isinstance(hook, RegistryHook)
        return hook

    return build


def test_every_declarative_vendor_has_a_case() -> None:
    missing = {t for t, s in VENDORS.items() if s.declarative} - {c.conn_type for c in CASES}
    assert not missing, (
        f"add a Case (and fixtures under tests/fixtures/vendor/<type>/) to CASES for {missing}"
    )
    assert {c.conn_type for c in CASES} <= set(VENDORS)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_balance_is_read_from_the_example_body(api, registry_hook, mode, case) -> None:
    route = api.get(case.path).respond(json=load(case.conn_type, case.fixture))

    balance = invoke(mode, registry_hook(case.conn_type), "get_balance")

    assert isinstance(balance, CreditBalance)
    assert (balance.vendor, balance.account) == (case.conn_type, f"{case.conn_type}_test")
    got = {p.name: (p.remaining, p.limit, p.used) for p in balance.pools}
    assert got == {name: tuple(map(_dec, numbers)) for name, numbers in case.pools.items()}
    assert list(got) == list(case.pools)  # primary first, in the contract's order
    assert route.call_count == 1


AUTH = {
    "hunter": ("query", "api_key"),
    "lusha": ("header", "api_key"),
    "zerobounce": ("query", "api_key"),
    "prospeo": ("header", "X-KEY"),
    "serpapi": ("query", "api_key"),
    "apify": ("bearer", "Authorization"),
    "firecrawl": ("bearer", "Authorization"),
    "tavily": ("bearer", "Authorization"),
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_secret_goes_where_the_vendor_expects_it(api, registry_hook, mode, case) -> None:
    route = api.get(case.path).respond(json=load(case.conn_type, case.fixture))

    invoke(mode, registry_hook(case.conn_type, password=ODD_SECRET), "get_balance")

    request = route.calls.last.request
    style, name = AUTH[case.conn_type]
    if style == "query":
        assert request.url.params[name] == ODD_SECRET
        assert "authorization" not in request.headers
    elif style == "header":
        assert request.headers[name] == ODD_SECRET
        assert not request.url.query
    else:
        assert request.headers["Authorization"] == f"Bearer {ODD_SECRET}"
        assert not request.url.query
    assert request.headers["User-Agent"].startswith("airflow-provider-credits/")


@pytest.mark.parametrize("case", [c for c in CASES if c.error_fixture and c.conn_type != "prospeo"], ids=str)
def test_a_401_is_an_auth_error_with_the_vendors_message(api, registry_hook, mode, case) -> None:
    api.get(case.path).respond(401, json=load(case.conn_type, case.error_fixture))

    with pytest.raises(CreditsAuthError) as info:
        invoke(mode, registry_hook(case.conn_type), "get_balance")

    assert case.error_text in str(info.value)
    assert info.value.status == 401 and info.value.path == case.path
    assert SECRET not in str(info.value)


def test_hunter_error_code_is_the_error_id(api, registry_hook) -> None:
    api.get("/v2/account").respond(401, json=load("hunter", "error"))

    with pytest.raises(CreditsAuthError) as info:
        registry_hook("hunter").get_balance()

    assert info.value.code == "authentication_failed"


@pytest.mark.parametrize("fixture", ["invalid_key", "invalid_key_number"])
def test_zerobounce_credits_minus_one_is_an_auth_error_not_a_balance(
    api, registry_hook, mode, fixture
) -> None:
    api.get("/v2/getcredits").respond(200, json=load("zerobounce", fixture))

    with pytest.raises(CreditsAuthError) as info:
        invoke(mode, registry_hook("zerobounce"), "get_balance")

    assert "Credits = -1" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("status", [200, 401])
def test_prospeo_error_true_with_a_bad_key_is_an_auth_error(api, registry_hook, mode, status) -> None:
    api.get("/account-information").respond(status, json=load("prospeo", "invalid_key"))

    with pytest.raises(CreditsAuthError) as info:
        invoke(mode, registry_hook("prospeo"), "get_balance")

    assert info.value.code == "INVALID_API_KEY"
    assert "INVALID_API_KEY" in str(info.value)


def test_prospeo_other_error_inside_200_is_a_request_error(api, registry_hook, mode) -> None:
    api.get("/account-information").respond(200, json=load("prospeo", "bad_request"))

    with pytest.raises(CreditsRequestError) as info:
        invoke(mode, registry_hook("prospeo"), "get_balance")

    assert "The request is not valid." in str(info.value)
    assert info.value.code == "INVALID_REQUEST"


def test_hunter_lists_only_the_pools_the_account_has(api, registry_hook) -> None:
    api.get("/v2/account").respond(json=load("hunter", "account_free"))

    balance = registry_hook("hunter").get_balance()

    assert balance.pool_names == ["searches", "verifications"]
    assert balance.primary.period_end == datetime(2026, 12, 1, tzinfo=UTC)  # a bare date: midnight UTC


@pytest.mark.parametrize(
    ("conn_type", "pool", "start", "end"),
    [
        ("hunter", "credits", None, datetime(2026, 12, 12, tzinfo=UTC)),
        ("prospeo", "credits", None, datetime(2026, 12, 12, 20, 52, 28, tzinfo=UTC)),
        ("apify", "usage_usd", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 30, 23, 59, 59, 999000, tzinfo=UTC)),
        ("firecrawl", "credits", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_periods_are_read_in_every_date_format(api, registry_hook, conn_type, pool, start, end) -> None:
    case = CASE_BY_TYPE[conn_type]
    api.get(case.path).respond(json=load(conn_type, case.fixture))

    read = registry_hook(conn_type).get_balance().pool(pool)

    assert (read.period_start, read.period_end) == (start, end)


def test_apify_and_serpapi_units(api, registry_hook) -> None:
    api.get("/v2/users/me/limits").respond(json=load("apify", "limits"))
    api.get("/account.json").respond(json=load("serpapi", "account"))

    assert registry_hook("apify").get_balance().primary.unit == "usd"
    assert {p.unit for p in registry_hook("serpapi").get_balance().pools} == {"searches"}


def test_tavily_null_limit_is_unlimited_and_the_gate_says_so(api, registry_hook) -> None:
    api.get("/usage").respond(json=load("tavily", "usage_unlimited"))

    balance = registry_hook("tavily").get_balance()

    plan = balance.primary
    assert (plan.name, plan.remaining, plan.limit, plan.used) == ("plan", None, None, Decimal(500))
    with pytest.raises(CreditsConfigError, match="unlimited") as info:
        decide(balance, min_remaining=1)
    assert "no remaining amount to gate on" in str(info.value)


def test_numbers_as_strings_and_remaining_derived(api, registry_hook) -> None:
    body = {"account": {"plan_usage": "10", "plan_limit": "25.5"}, "key": {"usage": None, "limit": None}}
    api.get("/usage").respond(json=body)

    balance = registry_hook("tavily").get_balance()

    assert balance.primary.remaining == Decimal("15.5")
    assert (balance.pool("key").remaining, balance.pool("paygo").used) == (None, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"credits": {"remaining": True}},
            "pool 'credits' remaining (`credits.remaining`): expected a number",
        ),
        ({"credits": {"remaining": "lots"}}, "expected a number, got the string 'lots'"),
        ({"credits": {"remaining": {"n": 1}}}, "expected a number, got dict"),
        ({"credits": "768"}, "the primary pool 'credits' has no amount"),
        ({"unrelated": 1}, "fields seen: ['unrelated']"),
        ([1, 2], "the answer is a JSON list"),
        ({"credits": {"remaining": "1e400"}}, "values that cannot be used"),
    ],
)
def test_unusable_values_are_response_errors_naming_the_path(api, registry_hook, mode, body, message) -> None:
    api.get("/v3/account/usage").respond(json=body)

    with pytest.raises(CreditsResponseError) as info:
        invoke(mode, registry_hook("lusha"), "get_balance")

    assert message in str(info.value)
    assert info.value.path == "/v3/account/usage"


def test_a_bad_date_names_the_pool_and_the_path(api, registry_hook) -> None:
    body = load("firecrawl", "credit_usage")
    body["data"]["billingPeriodEnd"] = "next tuesday"
    api.get("/v2/team/credit-usage").respond(json=body)

    with pytest.raises(
        CreditsResponseError, match=r"period_end \(`data.billingPeriodEnd`\): expected a date"
    ):
        registry_hook("firecrawl").get_balance()


@pytest.mark.parametrize("conn_type", ["hunter", "zerobounce", "serpapi"])
def test_a_query_string_secret_never_reaches_an_error(api, registry_hook, mode, conn_type) -> None:
    """Transport errors may quote the URL: the key in its query string (in any encoding) is redacted."""
    case = CASE_BY_TYPE[conn_type]

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    api.get(case.path).mock(side_effect=refuse)

    with pytest.raises(Exception) as info:
        invoke(mode, registry_hook(conn_type, password=ODD_SECRET, max_retries=0), "get_balance")

    text = str(info.value)
    assert "cannot reach" in text
    for form in (ODD_SECRET, "sk%2FSECRET%2Bkey%3D1234", "sk/SECRET%2Bkey%3D1234"):
        assert form not in text
    assert "***" in text


def test_lusha_429_without_a_hint_waits_for_the_documented_rate(api, registry_hook, clock, mode) -> None:
    route = api.get("/v3/account/usage")
    route.side_effect = [
        httpx.Response(429, json={"message": "Too many requests"}),
        httpx.Response(200, json=load("lusha", "usage")),
    ]

    balance = invoke(mode, registry_hook("lusha", retry_max_seconds=60), "get_balance")

    assert balance.primary.remaining == 768
    assert clock.sleeps == [12.0]  # 5 requests per minute: one every 12 s


def test_lusha_429_with_retry_after_follows_the_hint(api, registry_hook, clock) -> None:
    route = api.get("/v3/account/usage")
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "30"}, json={}),
        httpx.Response(200, json=load("lusha", "usage")),
    ]

    registry_hook("lusha", retry_max_seconds=60).get_balance()

    assert clock.sleeps == [30.0]


def test_lusha_rate_wait_beyond_the_retry_budget_gives_up(api, registry_hook, clock) -> None:
    api.get("/v3/account/usage").respond(429, json={"message": "Too many requests"})

    with pytest.raises(CreditsRateLimitError):
        registry_hook("lusha", retry_max_seconds=5).get_balance()

    assert clock.sleeps == []


def test_registry_hook_classes_are_importable_by_their_path() -> None:
    from airflow_provider_credits.hooks import registry

    for conn_type, spec in VENDORS.items():
        cls = hook_class_for(conn_type)
        assert cls.conn_type == conn_type and cls.hook_name == spec.hook_name
        assert f"{cls.__module__}.{cls.__qualname__}" == spec.hook_class_path
    assert registry.HunterHook is hook_class_for("hunter")
    with pytest.raises(AttributeError):
        registry.NoSuchHook  # noqa: B018


def test_test_connection_reports_the_pools(api, registry_hook) -> None:
    api.get("/usage").respond(json=load("tavily", "usage"))

    assert registry_hook("tavily").test_connection() == (
        True,
        "Connected to tavily: plan=14500, key=850, paygo=75",
    )


def test_test_connection_reports_zerobounce_bad_key(api, registry_hook) -> None:
    api.get("/v2/getcredits").respond(json=load("zerobounce", "invalid_key"))

    ok, message = registry_hook("zerobounce").test_connection()

    assert ok is False
    assert "not valid" in message


def test_example_bodies_are_json() -> None:
    for case in CASES:
        assert isinstance(load(case.conn_type, case.fixture), dict)
    json.dumps([load("tavily", "usage_unlimited")])
