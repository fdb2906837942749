"""Retries through the hooks: what is retried, how often, how long they wait, the extras that bound it."""

from __future__ import annotations

import time
from email.utils import formatdate, parsedate_to_datetime

import httpx
import pytest

from airflow_provider_credits.exceptions import (
    CreditsAuthError,
    CreditsConfigError,
    CreditsExhaustedError,
    CreditsRateLimitError,
    CreditsServerError,
)
from tests.support.vendor_api import VENDORS, invoke, load

PATH = "/api/v1/credits"


def failing(status: int, times: int, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    """``times`` error responses, then a success."""
    errors = [httpx.Response(status, json={"message": "busy"}, headers=headers) for _ in range(times)]
    return [*errors, httpx.Response(200, json=load("clodura", "unified"))]


@pytest.mark.parametrize("vendor", VENDORS, ids=str)
@pytest.mark.parametrize(("status", "error_class"), [(401, CreditsAuthError), (402, CreditsExhaustedError)])
def test_auth_and_exhausted_are_requested_exactly_once(
    mode, api, make_hook, clock, vendor, status, error_class
):
    route = api.get(vendor.balance_path).respond(status, json={"error": {"code": "nope", "message": "no"}})

    with pytest.raises(error_class):
        invoke(mode, make_hook(vendor.conn_type, max_retries=5), "get_balance")

    assert route.call_count == 1
    assert clock.sleeps == []


# status, response headers, expected waits (exact), hook kwargs
HINTED_RETRIES = {
    "429-retry-after-seconds": (429, {"Retry-After": "2"}, [2.0]),
    "429-retry-after-twice": (429, {"Retry-After": "1.5"}, [1.5, 1.5]),
    "429-ratelimit-reset": (429, {"RateLimit-Reset": "3"}, [3.0]),
    "503-retry-after": (503, {"Retry-After": "4"}, [4.0]),
    "429-retry-after-wins-over-ratelimit-reset": (429, {"Retry-After": "2", "RateLimit-Reset": "9"}, [2.0]),
}


@pytest.mark.parametrize(
    ("status", "headers", "waits"), list(HINTED_RETRIES.values()), ids=list(HINTED_RETRIES)
)
def test_retry_honours_the_vendor_hint_then_succeeds(mode, api, make_hook, clock, status, headers, waits):
    route = api.get(PATH).mock(side_effect=failing(status, len(waits), headers))

    balance = invoke(mode, make_hook("clodura"), "get_balance")

    assert balance.primary.remaining == 2500
    assert route.call_count == len(waits) + 1
    assert clock.sleeps == waits


def test_retry_after_http_date(mode, api, make_hook, clock):
    when = formatdate(time.time() + 5, usegmt=True)  # whole seconds: 4 to 5 s from now
    route = api.get(PATH).mock(side_effect=failing(429, 1, {"Retry-After": when}))
    until = parsedate_to_datetime(when).timestamp()

    before = time.time()
    invoke(mode, make_hook("clodura"), "get_balance")
    after = time.time()

    assert route.call_count == 2
    [wait] = clock.sleeps
    # until the date, counted when the 429 arrived (however long the call took to get there)
    assert until - after <= wait <= until - before <= 5.0


def test_exponential_backoff_with_jitter_without_hints(mode, api, make_hook, clock):
    route = api.get(PATH).mock(side_effect=failing(500, 3))

    invoke(mode, make_hook("clodura", backoff=1.0, max_retries=3), "get_balance")

    assert route.call_count == 4
    bounds = [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0)]  # backoff * 2**n, times a jitter in [0.5, 1]
    assert all(low <= wait <= high for (low, high), wait in zip(bounds, clock.sleeps, strict=True))


def test_backoff_is_capped(mode, api, make_hook, clock):
    api.get(PATH).mock(side_effect=failing(500, 1))

    invoke(mode, make_hook("clodura", backoff=1000.0, retry_max_seconds=60), "get_balance")

    [wait] = clock.sleeps
    assert 15.0 <= wait <= 30.0


@pytest.mark.parametrize(("max_retries", "calls"), [(0, 1), (1, 2), (3, 4)])
def test_retries_bounded_by_max_retries(mode, api, make_hook, clock, max_retries, calls):
    route = api.get(PATH).respond(429, headers={"Retry-After": "1"})

    with pytest.raises(CreditsRateLimitError):
        invoke(mode, make_hook("clodura", max_retries=max_retries), "get_balance")

    assert route.call_count == calls
    assert clock.sleeps == [1.0] * (calls - 1)


@pytest.mark.parametrize(
    ("retry_after", "budget", "waits"),
    [("10", 25, [10.0, 10.0]), ("60", 30, []), ("5", 5, [5.0])],
    ids=["two-waits-fit", "first-wait-too-long", "exactly-the-budget"],
)
def test_retries_bounded_by_retry_max_seconds(mode, api, make_hook, clock, retry_after, budget, waits):
    route = api.get(PATH).respond(503, headers={"Retry-After": retry_after})

    with pytest.raises(CreditsServerError):
        invoke(mode, make_hook("clodura", max_retries=10, retry_max_seconds=budget), "get_balance")

    assert clock.sleeps == waits
    assert route.call_count == len(waits) + 1


# connection extras, hook kwargs, expected (timeout, max_retries, retry_max_seconds)
SETTINGS = {
    "defaults": ({}, {}, (30.0, 4, 120.0)),
    "extras": ({"timeout": 7, "max_retries": 1, "retry_max_seconds": 25}, {}, (7.0, 1, 25.0)),
    "extras-as-strings": ({"timeout": "7.5", "max_retries": "2", "retry_max_seconds": "0"}, {}, (7.5, 2, 0.0)),
    "legacy-prefixed-extras": ({"extra__clodura__timeout": "9", "extra__clodura__max_retries": "0"}, {}, (9.0, 0, 120.0)),
    "empty-strings-mean-default": ({"timeout": "", "max_retries": ""}, {}, (30.0, 4, 120.0)),
    "hook-kwargs-win": ({"timeout": 7, "max_retries": 1}, {"timeout": 3, "max_retries": 0}, (3.0, 0, 120.0)),
}  # fmt: skip


@pytest.mark.parametrize(("extra", "kwargs", "expected"), list(SETTINGS.values()), ids=list(SETTINGS))
def test_connection_extras_control_timeout_and_retries(make_hook, extra, kwargs, expected):
    hook = make_hook("clodura", extra=extra, **kwargs)

    settings = hook.settings
    assert (settings.timeout, settings.max_retries, settings.retry_max_seconds) == expected
    assert hook.get_conn().timeout == httpx.Timeout(expected[0])
    hook.close()


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        ({"timeout": "fast"}, "extra 'timeout' must be a number, got 'fast'"),
        ({"max_retries": -1}, "must not be negative"),
    ],
)
def test_unusable_extras_are_config_errors(mode, api, make_hook, extra, text):
    with pytest.raises(CreditsConfigError, match=text):
        invoke(mode, make_hook("clodura", extra=extra), "get_balance")

    assert not api.calls


def test_extras_bound_retries_end_to_end(mode, api, make_hook, clock):
    route = api.get(PATH).respond(500)

    with pytest.raises(CreditsServerError):
        invoke(mode, make_hook("clodura", extra={"max_retries": "1"}), "get_balance")

    assert route.call_count == 2


def test_ratelimit_reset_is_ignored_on_a_5xx(mode, api, make_hook, clock):
    """TheirStack sends RateLimit-Reset on every response: a 500 must not wait for the rate window."""
    route = api.get(PATH).mock(side_effect=failing(500, 1, {"RateLimit-Reset": "60"}))

    invoke(mode, make_hook("clodura", backoff=0.01), "get_balance")

    assert route.call_count == 2
    [wait] = clock.sleeps
    assert wait <= 0.01
