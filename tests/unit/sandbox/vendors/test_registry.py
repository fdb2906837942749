"""The registry vendors in the sandbox: auth where each spec puts the key (errors inside a 200 for
ZeroBounce and Prospeo), balance answers the provider's own mapping reads back, and rate limits."""

from __future__ import annotations

import pytest

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.state import SandboxState
from airflow_provider_credits.sandbox.vendors.base import Call
from airflow_provider_credits.sandbox.vendors.registry import DEFAULT_RATE_LIMIT, IN_200, REGISTRY_VENDORS
from airflow_provider_credits.vendors import VENDORS
from airflow_provider_credits.vendors.mapping import map_pools
from tests.support.sandbox import vendor_request


def with_key(vendor: str, key: str) -> object:
    """A request carrying ``key`` where the vendor's spec says the key goes."""
    auth = VENDORS[vendor].auth
    assert auth is not None
    if auth.style == "query":
        return vendor_request(query=f"{auth.name}={key}")
    return vendor_request((auth.name, f"{auth.prefix}{key}"))


@pytest.mark.parametrize("vendor", list(REGISTRY_VENDORS))
def test_the_key_is_accepted_where_the_spec_puts_it(vendor: str) -> None:
    check = REGISTRY_VENDORS[vendor].auth
    state = SandboxState()
    assert check(with_key(vendor, keys.SECRETS[vendor]), state) is None
    wrong = check(with_key(vendor, "wrong-key"), state)
    missing = check(vendor_request(), state)
    assert wrong == (IN_200 if vendor in ("zerobounce", "prospeo") else "invalid_key")
    assert missing == (IN_200 if vendor == "zerobounce" else "missing_key")


@pytest.mark.parametrize("vendor", list(REGISTRY_VENDORS))
def test_the_balance_answer_reads_back_as_the_sandbox_s_pools(vendor: str) -> None:
    state = SandboxState()
    (route,) = REGISTRY_VENDORS[vendor].routes

    reply = route.handler(Call(state, {}, {}))

    read = {
        p.name: float(p.remaining)
        for p in map_pools(VENDORS[vendor].pools, reply.body)
        if p.remaining is not None
    }
    held = {name: pool.remaining for name, pool in state.account(vendor).items()}
    if vendor == "serpapi":  # its total_searches_left counts the extra credits too
        held["searches"] += held["extra_credits"]
    assert reply.status == 200
    assert read == pytest.approx({name: held[name] for name in read})
    assert VENDORS[vendor].pools[0].name in read


def test_beyond_the_rate_limit_the_balance_is_a_429_with_retry_after() -> None:
    state = SandboxState()
    (route,) = REGISTRY_VENDORS["tavily"].routes
    count = (VENDORS["tavily"].balance_rate_limit or DEFAULT_RATE_LIMIT)[0]
    assert [route.handler(Call(state, {}, {})).status for _ in range(count)] == [200] * count

    limited = route.handler(Call(state, {}, {}))

    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1


def test_errors_inside_a_200_are_the_vendors_own() -> None:
    state = SandboxState()
    assert REGISTRY_VENDORS["zerobounce"].error(IN_200, state).body == {"Credits": "-1"}
    prospeo = REGISTRY_VENDORS["prospeo"].error(IN_200, state)
    assert (prospeo.status, prospeo.body["error"], prospeo.body["error_code"]) == (
        200,
        True,
        "INVALID_API_KEY",
    )
