"""The registry vendors against the real sandbox: balances, spending, auth and errors inside a 200,
rate limits (429 with Retry-After beyond them), faults, and a ``credits_http`` connection."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from airflow_provider_credits.exceptions import CreditsAuthError, CreditsRateLimitError
from airflow_provider_credits.hooks import get_credits_hook
from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.server import SandboxServer
from airflow_provider_credits.vendors import VENDORS
from tests.support.sandbox import MakeHook, read_balance

pytestmark = pytest.mark.integration

REGISTRY = list(keys.REGISTRY_API_KEYS)


def expected_remaining(state: dict[str, Any], vendor: str) -> Decimal:
    """The primary pool's remaining amount as the vendor's answer reports it."""
    pools = state["pools"][vendor]
    if vendor == "serpapi":  # total_searches_left counts the extra credits too
        return Decimal(str(pools["searches"]["remaining"] + pools["extra_credits"]["remaining"]))
    return Decimal(str(next(iter(pools.values()))["remaining"]))


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("vendor", REGISTRY)
def test_the_hook_reads_the_sandbox_account(
    sandbox: SandboxServer, make_hook: MakeHook, vendor: str, mode: str
) -> None:
    balance = read_balance(make_hook(vendor), mode)

    assert balance.pool_names[0] == VENDORS[vendor].pools[0].name
    assert balance.primary.remaining == expected_remaining(sandbox.state(), vendor)
    assert sandbox.request_count(vendor) == 1


@pytest.mark.parametrize("vendor", REGISTRY)
def test_spending_shows_in_the_next_read(sandbox: SandboxServer, make_hook: MakeHook, vendor: str) -> None:
    hook = make_hook(vendor)
    before = hook.get_balance().primary

    sandbox.spend(vendor, 5)

    after = hook.get_balance().primary
    assert after.remaining == before.remaining - 5
    if before.used is not None:
        assert after.used == before.used + 5


def test_tavily_key_pool_has_no_cap(sandbox: SandboxServer, make_hook: MakeHook) -> None:
    key = make_hook("tavily").get_balance().pool("key")

    assert (key.limit, key.remaining) == (None, None) and key.used is not None


def _with_secret(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, vendor: str, secret: str) -> str:
    conn = {**sandbox.connections()[f"{vendor}_default"], "password": secret}
    monkeypatch.setenv(f"AIRFLOW_CONN_{vendor.upper()}_WRONG", json.dumps(conn))
    return f"{vendor}_wrong"


@pytest.mark.parametrize("vendor", REGISTRY)
def test_a_wrong_key_is_an_auth_error_once(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, vendor: str
) -> None:
    hook = get_credits_hook(_with_secret(sandbox, monkeypatch, vendor, "wrong-key-NOT-REAL"), backoff=0.01)

    with pytest.raises(CreditsAuthError) as info:
        hook.get_balance()

    assert "wrong-key-NOT-REAL" not in str(info.value)
    assert sandbox.request_count(vendor) == 1  # never retried
    in_200 = vendor in ("zerobounce", "prospeo")
    assert sandbox.requests(vendor)[-1]["status"] == (200 if in_200 else 401)


@pytest.mark.parametrize(
    ("vendor", "params", "headers"),
    [
        ("zerobounce", {}, {}),
        ("zerobounce", {"api_key": "nope"}, {}),
        ("prospeo", {}, {"X-KEY": "nope"}),
    ],
)
def test_bad_keys_inside_http_200(
    http: httpx.Client, sandbox: SandboxServer, vendor: str, params: dict, headers: dict
) -> None:
    spec = VENDORS[vendor]
    response = http.get(f"{sandbox.url}{spec.balance.path}", params=params, headers=headers)

    assert response.status_code == 200
    body = response.json()
    assert body == {"Credits": "-1"} if vendor == "zerobounce" else body["error"] is True
    if vendor == "prospeo":
        assert body["error_code"] == "INVALID_API_KEY"


def test_lusha_answers_429_with_retry_after_beyond_5_per_minute(
    http: httpx.Client, sandbox: SandboxServer
) -> None:
    url, key = f"{sandbox.url}/v3/account/usage", {"api_key": keys.SECRETS["lusha"]}

    statuses = [http.get(url, headers=key).status_code for _ in range(6)]

    assert statuses == [200] * 5 + [429]
    refused = http.get(url, headers=key)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    sandbox.reset()  # a reset starts a new window
    assert http.get(url, headers=key).status_code == 200


def test_the_hook_gives_up_on_a_rate_limit_longer_than_its_budget(
    sandbox: SandboxServer, make_hook: MakeHook
) -> None:
    hook = make_hook("lusha", retry_max_seconds=2)
    for _ in range(5):
        hook.get_balance()

    with pytest.raises(CreditsRateLimitError):
        hook.get_balance()


@pytest.mark.parametrize("vendor", REGISTRY)
def test_faults_apply_to_registry_vendors(sandbox: SandboxServer, make_hook: MakeHook, vendor: str) -> None:
    sandbox.add_fault(vendor, "server_error", count=1, status=503)

    balance = make_hook(vendor, max_retries=2).get_balance()

    assert balance.primary.remaining is not None
    assert [r["status"] for r in sandbox.requests(vendor)] == [503, 200]


def test_a_credits_http_connection_reads_a_sandbox_vendor(
    sandbox: SandboxServer, make_hook: MakeHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools = [
        {
            "name": "credits",
            "remaining": "credits.remaining",
            "limit": "credits.total",
            "used": "credits.used",
        }
    ]
    conn = {
        "conn_type": "credits_http",
        "host": sandbox.url,
        "password": keys.SECRETS["lusha"],
        "extra": {"balance_path": "/v3/account/usage", "auth": "header:api_key", "pools": json.dumps(pools)},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GENERIC_LUSHA", json.dumps(conn))

    generic = get_credits_hook("generic_lusha").get_balance()

    lusha = make_hook("lusha").get_balance()
    assert [(p.name, p.remaining, p.limit, p.used) for p in generic.pools] == [
        (p.name, p.remaining, p.limit, p.used) for p in lusha.pools
    ]
    assert generic.vendor == "credits_http"
