"""The retry policy on its own: no hook, no clock, no I/O (the hooks' use of it: test_retry_hooks.py)."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_credits.exceptions import (
    CreditsAuthError,
    CreditsRateLimitError,
    CreditsServerError,
    CreditsTransportError,
)
from airflow_provider_credits.hooks.responses import ApiResponse
from airflow_provider_credits.hooks.retry import RetryPolicy

RATE_LIMITED = CreditsRateLimitError("rate limited", vendor="x")
SERVER = CreditsServerError("busy", vendor="x")


def answer(status: int, **headers: str) -> ApiResponse:
    return ApiResponse(status, httpx.Headers(headers), b"{}")


def test_only_transient_errors_are_retried() -> None:
    policy = RetryPolicy(max_retries=3, budget=100)

    assert policy.delay(1, CreditsAuthError("no", vendor="x"), answer(401), elapsed=0) is None
    assert policy.delay(1, CreditsTransportError("refused", vendor="x"), None, elapsed=0) is not None


@pytest.mark.parametrize(("attempt", "retried"), [(1, True), (2, True), (3, False)])
def test_max_retries_bounds_the_attempts(attempt: int, retried: bool) -> None:
    policy = RetryPolicy(max_retries=2, budget=100, backoff=0.01)

    assert (policy.delay(attempt, SERVER, answer(503), elapsed=0) is not None) is retried


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, budget=10_000, backoff=1.0, max_backoff=4.0)

    waits = [policy.delay(n, SERVER, None, elapsed=0) for n in (1, 2, 3, 4)]

    bounds = [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (2.0, 4.0)]
    assert all(low <= wait <= high for (low, high), wait in zip(bounds, waits, strict=True))  # type: ignore[operator]


def test_a_longer_hint_wins_over_the_backoff() -> None:
    policy = RetryPolicy(max_retries=3, budget=100, backoff=0.01)

    assert policy.delay(1, SERVER, answer(503, **{"Retry-After": "7"}), elapsed=0) == 7.0
    assert policy.delay(1, SERVER, answer(503, **{"RateLimit-Reset": "7"}), elapsed=0) < 1  # type: ignore[operator]
    assert policy.delay(1, RATE_LIMITED, answer(429, **{"RateLimit-Reset": "7"}), elapsed=0) == 7.0


def test_the_rate_limit_floor_applies_to_a_429_without_a_hint_only() -> None:
    policy = RetryPolicy(max_retries=3, budget=100, backoff=0.01, rate_limit_floor=12.0)

    assert policy.delay(1, RATE_LIMITED, answer(429), elapsed=0) == 12.0
    assert policy.delay(1, RATE_LIMITED, answer(429, **{"Retry-After": "3"}), elapsed=0) == 3.0
    assert policy.delay(1, SERVER, answer(503), elapsed=0) < 1  # type: ignore[operator]


@pytest.mark.parametrize(("elapsed", "retried"), [(0, True), (5, True), (5.5, False)])
def test_no_wait_ends_past_the_budget(elapsed: float, retried: bool) -> None:
    policy = RetryPolicy(max_retries=3, budget=10, rate_limit_floor=5.0, backoff=0.01)

    assert (policy.delay(1, RATE_LIMITED, answer(429), elapsed=elapsed) is not None) is retried
