"""Every fault scenario, seen through the real hooks (and raw HTTP where headers matter)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from airflow_provider_credits.exceptions import (
    CreditsApiError,
    CreditsAuthError,
    CreditsExhaustedError,
    CreditsResponseError,
    CreditsServerError,
    CreditsTransportError,
)
from airflow_provider_credits.sandbox import CLODURA_API_KEY, THEIRSTACK_API_KEY, TRENDTRACK_API_KEY
from airflow_provider_credits.sandbox.faults import SCENARIOS
from airflow_provider_credits.sandbox.server import SandboxClientError, SandboxServer
from tests.support.sandbox import MakeHook

#: (vendor, scenario, count, params): the hook retries through them and reads the real balance.
RECOVERED = [
    ("theirstack", "rate_limit", 2, {"retry_after": 0}),
    ("trendtrack", "rate_limit_http_date", 2, {"retry_after": 0}),
    ("clodura", "rate_limit_no_retry_after", 2, {}),
    ("clay", "server_error", 2, {"status": 503}),
    ("clodura", "html", 1, {"status": 502}),
    ("clodura", "truncated", 1, {}),
    ("trendtrack", "slow_drip", 1, {"interval": 0.005}),
    ("clay", "slow", 1, {"delay": 0.3}),
    ("theirstack", "numbers_as_strings", 1, {}),
]


@pytest.mark.parametrize(("vendor", "scenario", "count", "params"), RECOVERED)
def test_the_hook_gets_through_transient_faults(
    sandbox: SandboxServer,
    make_hook: MakeHook,
    vendor: str,
    scenario: str,
    count: int,
    params: dict[str, Any],
) -> None:
    clean = make_hook(vendor).get_balance()
    sandbox.clear_requests()
    sandbox.add_fault(vendor, scenario, count, **params)

    started = time.monotonic()
    balance = make_hook(vendor).get_balance()

    assert balance.pools == clean.pools
    retried = count if scenario not in ("slow_drip", "slow", "numbers_as_strings") else 0
    assert sandbox.request_count(vendor) == 1 + retried
    assert [r["fault"] for r in sandbox.requests(vendor)] == [scenario] * count + [None] * (
        retried + 1 - count
    )
    assert time.monotonic() - started >= params.get("delay", 0)
    assert sandbox.faults() == []  # used up


#: (vendor, scenario, params, error class, requests made with max_retries=2)
FAILING = [
    ("clodura", "html", {}, CreditsResponseError, 1),
    ("trendtrack", "malformed_json", {}, CreditsResponseError, 1),
    ("theirstack", "schema_drift", {}, CreditsResponseError, 1),
    ("clodura", "schema_drift", {}, CreditsResponseError, 1),
    ("clay", "nulls", {}, CreditsResponseError, 1),
    ("theirstack", "huge_body", {}, CreditsResponseError, 1),
    ("clay", "unauthorized", {}, CreditsAuthError, 1),
    ("clay", "expired_cookie", {}, CreditsAuthError, 1),
    ("trendtrack", "out_of_credits", {}, CreditsExhaustedError, 1),
    ("theirstack", "forbidden", {}, CreditsAuthError, 1),
    ("clodura", "server_error", {}, CreditsServerError, 3),
    ("clodura", "timeout", {"delay": 3.0}, CreditsTransportError, 1),
]


@pytest.mark.parametrize(("vendor", "scenario", "params", "error", "requests"), FAILING)
def test_persistent_faults_raise_the_documented_error(
    sandbox: SandboxServer,
    make_hook: MakeHook,
    vendor: str,
    scenario: str,
    params: dict[str, Any],
    error: type[CreditsApiError],
    requests: int,
) -> None:
    sandbox.add_fault(vendor, scenario, **params)
    # Only the timeout row times out (0.5 s, the sandbox answers after 3 s); the others keep the
    # generous default of ``make_hook``, so that a slow answer on a loaded machine is no timeout.
    kwargs = {"max_retries": 0, "timeout": 0.5} if scenario == "timeout" else {"max_retries": 2}
    with pytest.raises(error) as caught:
        make_hook(vendor, **kwargs).get_balance()
    assert caught.value.vendor == vendor
    assert sandbox.request_count(vendor) == requests
    assert sandbox.faults()[0]["hits"] == requests  # still on until cleared


def test_every_scenario_is_covered_by_a_test() -> None:
    tested = {s for _, s, *_ in RECOVERED} | {s for _, s, *_ in FAILING}
    assert tested == set(SCENARIOS)


def test_html_page_error_says_html(sandbox: SandboxServer, make_hook: MakeHook) -> None:
    sandbox.add_fault("clodura", "html")
    with pytest.raises(CreditsResponseError, match="HTML page"):
        make_hook("clodura").get_balance()


def test_trendtrack_nulls_fall_back_to_the_credits_header(
    sandbox: SandboxServer, make_hook: MakeHook
) -> None:
    total = make_hook("trendtrack").get_balance().primary.remaining
    sandbox.add_fault("trendtrack", "nulls", 1)
    balance = make_hook("trendtrack").get_balance()
    assert balance.primary.remaining == total  # from X-Credits-Remaining
    assert balance.pool("recurring").remaining is None


def test_nulls_can_target_named_fields(http: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.add_fault("clodura", "nulls", 1, fields="remainingCredits")
    body = http.get(f"{sandbox.url}/api/v1/credits", headers={"X-API-KEY": CLODURA_API_KEY}).json()
    assert body == {"remainingCredits": None}


def test_out_of_credits_uses_the_vendors_code(sandbox: SandboxServer, make_hook: MakeHook) -> None:
    sandbox.add_fault("trendtrack", "out_of_credits", 1)
    with pytest.raises(CreditsExhaustedError) as caught:
        make_hook("trendtrack").get_balance()
    assert (caught.value.status, caught.value.code) == (402, "insufficient_credits")


def test_rate_limit_headers(http: httpx.Client, sandbox: SandboxServer) -> None:
    url, auth = f"{sandbox.url}/v0/billing/credit-balance", {"Authorization": f"Bearer {THEIRSTACK_API_KEY}"}
    sandbox.add_fault("theirstack", "rate_limit", 1, retry_after=7)
    sandbox.add_fault("theirstack", "rate_limit_http_date", 1, retry_after=30)
    sandbox.add_fault("theirstack", "rate_limit_no_retry_after", 1)

    seconds, dated, bare, fine = (http.get(url, headers=auth) for _ in range(4))

    assert (seconds.status_code, seconds.headers["Retry-After"], seconds.headers["RateLimit-Reset"]) == (
        429,
        "7",
        "7",
    )
    assert seconds.json()["error"]["code"] == "E-007"
    ahead = parsedate_to_datetime(dated.headers["Retry-After"]).timestamp() - time.time()
    assert 25 < ahead <= 31
    assert (
        bare.status_code == 429
        and "Retry-After" not in bare.headers
        and "RateLimit-Reset" not in bare.headers
    )
    assert fine.status_code == 200 and int(fine.headers["RateLimit-Remaining"]) < int(
        fine.headers["RateLimit-Limit"]
    )


def test_truncated_body_declares_more_than_it_sends(http: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.add_fault("trendtrack", "truncated", 1, missing=10)
    with pytest.raises(httpx.RemoteProtocolError, match="expected"):
        http.get(f"{sandbox.url}/v1/usage", headers={"Authorization": f"Bearer {TRENDTRACK_API_KEY}"})


def test_fault_targeting(sandbox: SandboxServer, make_hook: MakeHook) -> None:
    sandbox.add_fault("*", "forbidden", 2)
    sandbox.add_fault("theirstack", "forbidden", path="/v0/teams")
    for vendor in ("clodura", "trendtrack"):
        with pytest.raises(CreditsAuthError):
            make_hook(vendor).get_balance()
    make_hook("clay").get_balance()  # the "*" fault is used up
    make_hook("theirstack").get_balance()  # another path
    assert len(sandbox.faults()) == 1
    sandbox.clear_faults()
    assert sandbox.faults() == []


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"vendor": "clay", "scenario": "meteor"}, "unknown fault scenario"),
        ({"vendor": "clay", "scenario": "slow", "params": {"speed": 1}}, "no parameter speed"),
        ({"vendor": "clay", "scenario": "slow", "params": {"delay": "soon"}}, "must be a float"),
        ({"vendor": "clay", "scenario": "server_error", "params": {"status": 404}}, "out of range"),
        ({"vendor": "acme", "scenario": "slow"}, "unknown vendor"),
        ({"vendor": "clay", "scenario": "slow", "count": 0}, "at least 1"),
    ],
)
def test_bad_faults_are_refused(sandbox: SandboxServer, fault: dict[str, Any], message: str) -> None:
    params = fault.pop("params", {})
    with pytest.raises(SandboxClientError, match=message) as caught:
        sandbox.add_fault(**fault, **params)
    assert caught.value.status == 400
    assert sandbox.faults() == []
