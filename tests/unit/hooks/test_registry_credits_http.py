"""The generic ``credits_http`` connection: the registry's fields from the connection's extras."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_credits.exceptions import CreditsAuthError, CreditsConfigError, CreditsResponseError
from airflow_provider_credits.hooks import get_credits_hook
from airflow_provider_credits.hooks.registry import CreditsHttpHook
from tests.support.vendor_api import BASE_URL, CREDITS_HTTP_EXTRA, SECRET, invoke, load

LUSHA_POOLS = json.loads(CREDITS_HTTP_EXTRA["pools"])


@pytest.fixture
def http_hook(set_conn: Callable[..., str]) -> Callable[..., CreditsHttpHook]:
    """A ``credits_http`` hook on an env-var connection whose extras are ``CREDITS_HTTP_EXTRA`` updated by ``extra``."""

    def build(*, host: str = BASE_URL, login: str | None = None, **extra: Any) -> CreditsHttpHook:
        extras = {k: v for k, v in {**CREDITS_HTTP_EXTRA, **extra}.items() if v is not None}
        conn_id = set_conn("credits_http", conn_id="generic", host=host, login=login, **extras)
        hook = get_credits_hook(conn_id, backoff=0.001)
        assert isinstance(hook, CreditsHttpHook)
        return hook

    return build


def test_reads_any_vendor_by_its_extras(api, http_hook, mode) -> None:
    route = api.get("/v3/account/usage").respond(json=load("lusha", "usage"))

    balance = invoke(mode, http_hook(), "get_balance")

    assert (balance.vendor, balance.account) == ("credits_http", "generic")
    assert (balance.primary.name, balance.primary.remaining, balance.primary.limit) == ("credits", 768, 1000)
    assert route.calls.last.request.headers["api_key"] == SECRET


@pytest.mark.parametrize(
    ("auth", "check"),
    [
        (None, lambda r: r.headers["Authorization"] == f"Bearer {SECRET}"),
        ("bearer", lambda r: r.headers["Authorization"] == f"Bearer {SECRET}"),
        ("header:X-Access-Token", lambda r: r.headers["X-Access-Token"] == SECRET),
        ("query:apikey", lambda r: r.url.params["apikey"] == SECRET),
        (
            "basic",
            lambda r: (
                r.headers["Authorization"] == "Basic " + base64.b64encode(f"me:{SECRET}".encode()).decode()
            ),
        ),
    ],
)
def test_auth_styles(api, http_hook, auth, check) -> None:
    route = api.get("/v3/account/usage").respond(json=load("lusha", "usage"))

    http_hook(auth=auth, login="me").get_balance()

    assert check(route.calls.last.request)


def test_post_with_a_static_body_and_a_filtered_list(api, http_hook, mode) -> None:
    """RocketReach-like: a list of credit types filtered by type, read with a POST."""
    body = {
        "credit_usage": [
            {"credit_type": "export", "remaining": "12"},
            {"credit_type": "lookup", "remaining": 40, "allocated": 50},
        ]
    }
    route = api.post("/api/v2/account").respond(json=body)
    pools = [
        {"name": "lookups", "remaining": "credit_usage[?credit_type=='lookup'] | [0].remaining", "limit": "credit_usage[?credit_type=='lookup'] | [0].allocated", "unit": "lookups"},
        {"name": "exports", "remaining": "credit_usage[?credit_type=='export'] | [0].remaining"},
    ]  # fmt: skip

    balance = invoke(
        mode,
        http_hook(
            balance_path="api/v2/account", method="post", body='{"scope": "all"}', pools=json.dumps(pools)
        ),
        "get_balance",
    )

    assert [(p.name, p.remaining, p.limit, p.unit) for p in balance.pools] == [
        ("lookups", 40, 50, "lookups"),
        ("exports", 12, None, "credits"),
    ]
    assert json.loads(route.calls.last.request.content) == {"scope": "all"}


def test_pools_may_be_a_json_list_not_a_string(api, http_hook) -> None:
    api.get("/v3/account/usage").respond(json=load("lusha", "usage"))

    assert http_hook(pools=LUSHA_POOLS).get_balance().primary.remaining == Decimal(768)


def test_ok_when_false_is_a_response_error_naming_the_extra(api, http_hook, mode) -> None:
    api.get("/v3/account/usage").respond(
        json={"result": "error", "message": "bad key", "credits": {"remaining": 1}}
    )

    with pytest.raises(CreditsResponseError) as info:
        invoke(mode, http_hook(ok_when="result != 'error'"), "get_balance")

    message = str(info.value)
    assert "connection 'generic', extra 'ok_when'" in message
    assert "`result != 'error'`" in message
    assert message.endswith(": bad key")  # the vendor's message, as docs/connections/credits_http.md shows


def test_ok_when_that_cannot_be_evaluated_names_ok_when_not_pools(api, http_hook, mode) -> None:
    api.get("/v3/account/usage").respond(json={"result": "x", "credits": {"remaining": 1}})

    with pytest.raises(CreditsResponseError) as info:
        invoke(mode, http_hook(ok_when="abs(result)"), "get_balance")

    message = str(info.value)
    assert (
        "connection 'generic', extra 'ok_when'" in message and "`abs(result)` cannot be evaluated" in message
    )
    assert "'pools'" not in message


def test_a_path_that_finds_nothing_names_the_connection_extra_and_path(api, http_hook) -> None:
    api.get("/v3/account/usage").respond(json={"balance": 5})

    with pytest.raises(CreditsResponseError) as info:
        http_hook().get_balance()

    message = str(info.value)
    assert "connection 'generic', extra 'pools'" in message
    assert "`credits.remaining`" in message and "fields seen: ['balance']" in message


def test_a_401_is_an_auth_error(api, http_hook) -> None:
    api.get("/v3/account/usage").respond(401, json={"message": "nope"})

    with pytest.raises(CreditsAuthError, match="nope"):
        http_hook().get_balance()


BAD_EXTRAS = {
    "no path": ({"balance_path": None}, "extra 'balance_path' is missing"),
    "a URL as path": ({"balance_path": "https://x.test/v1"}, "extra 'balance_path' must be a path"),
    "bad method": ({"method": "DELETE"}, "extra 'method' must be GET or POST, got 'DELETE'"),
    "body with GET": ({"body": "{}"}, "extra 'body' is only sent with POST"),
    "body not JSON": ({"method": "POST", "body": "{oops"}, "extra 'body' is not valid JSON"),
    "bad auth": ({"auth": "cookie"}, "extra 'auth' must be bearer, header:<Name>, query:<name> or basic"),
    "bad header name": ({"auth": "header:Bad Name"}, "extra 'auth' must be"),
    "basic without login": ({"auth": "basic"}, "uses HTTP basic auth but has no login"),
    "no pools": ({"pools": None}, "extra 'pools' must be a JSON list"),
    "pools not JSON": ({"pools": "[{"}, "extra 'pools' is not valid JSON"),
    "pools empty": ({"pools": "[]"}, "extra 'pools' must be a JSON list"),
    "pool not an object": ({"pools": '["credits"]'}, "pool 1 must be an object"),
    "pool without name": ({"pools": '[{"remaining": "a"}]'}, "pool 1 needs a 'name'"),
    "pool unknown key": ({"pools": '[{"name": "c", "remaning": "a"}]'}, "pool 1 has unknown keys ['remaning']"),
    "pool without amount": ({"pools": '[{"name": "c", "limit": "a"}]'}, "pool 'c' needs 'remaining', or both 'limit' and 'used'"),
    "pool twice": ({"pools": '[{"name": "c", "remaining": "a"}, {"name": "c", "remaining": "b"}]'}, "pool 'c' is listed twice"),
    "bad expression": ({"pools": '[{"name": "c", "remaining": "data.[oops"}]'}, "pool 'c' remaining: `data.[oops` is not a valid JMESPath expression"),
    "expression not a string": ({"pools": '[{"name": "c", "remaining": 5}]'}, "pool 'c' remaining: expected a JMESPath expression, got 5"),
    "expression a list": ({"pools": '[{"name": "c", "remaining": ["a"]}]'}, "extra 'pools' pool 'c' remaining: expected a JMESPath expression, got ['a']"),
    "expression an object": ({"pools": '[{"name": "c", "remaining": "a", "used": {"a": 1}}]'}, "extra 'pools' pool 'c' used: expected a JMESPath expression"),
    "ok_when a list": ({"ok_when": ["a"]}, "extra 'ok_when' expected a JMESPath expression, got ['a']"),
    "bad ok_when": ({"ok_when": "a =="}, "extra 'ok_when' `a ==` is not a valid JMESPath expression"),
    "unit expression": ({"pools": '[{"name": "c", "remaining": "a", "unit": 3}]'}, "'unit' must be a string"),
}  # fmt: skip


@pytest.mark.parametrize(("extra", "message"), list(BAD_EXTRAS.values()), ids=list(BAD_EXTRAS))
def test_bad_extras_are_config_errors_naming_connection_and_extra(
    api, http_hook, mode, extra, message
) -> None:
    with pytest.raises(CreditsConfigError) as info:
        invoke(mode, http_hook(**extra), "get_balance")

    assert "connection 'generic'" in str(info.value)
    assert message in str(info.value)
    assert SECRET not in str(info.value)
    assert not api.calls


def test_no_host_is_a_config_error(api, http_hook) -> None:
    with pytest.raises(CreditsConfigError, match="'generic' has no Base URL"):
        http_hook(host="").get_balance()


def test_a_credits_http_connection_gates_a_decision(api, http_hook) -> None:
    from airflow_provider_credits.gate import decide

    api.get("/v3/account/usage").respond(json=load("lusha", "usage"))

    decision = decide(http_hook().get_balance(), min_remaining=500)

    assert decision.met and decision.pool == "credits"
