"""TheirStack in the sandbox: the balance, daily consumption and request counts in a time zone, the
window's limits, and the RateLimit-* headers (faulted ones too)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_credits.sandbox.state import Fault, SandboxState, today
from airflow_provider_credits.sandbox.vendors.base import Call, Reply, Window
from airflow_provider_credits.sandbox.vendors.theirstack import (
    THEIRSTACK,
    balance,
    consumption,
    request_counts,
)


def call(state: SandboxState, **query: str) -> Call:
    return Call(state, {}, query)


def test_the_balance_sends_grants_and_used_amounts() -> None:
    state = SandboxState()
    api = state.pool("theirstack", "api_credits")
    body = balance(call(state)).body
    assert (body["api_credits"], body["used_api_credits"], body["ui_credits"]) == (25_000, api.used, 500)


def test_consumption_is_one_item_per_day_of_the_window_zero_filled() -> None:
    state = SandboxState(history_days=3)
    day = today() - timedelta(days=2)
    body = consumption(call(state, start_datetime=f"{day}T00:00:00", end_datetime=f"{today()}T00:00:00")).body
    assert [item["period_start"][:10] for item in body] == [str(day + timedelta(days=n)) for n in range(3)]
    assert body[0]["api_credits_consumed"] == state.consumption("theirstack", "api_credits")[day]
    assert body[-1] == {
        "period_start": f"{today()}T00:00:00.000Z",
        "api_credits_consumed": 0,
        "ui_credits_consumed": 0,
    }


def test_a_day_is_reported_at_midnight_of_the_time_zone() -> None:
    body = consumption(call(SandboxState(), start_datetime="2026-01-01T00:00:00", end_datetime="2026-01-01T23:00:00", timezone="Europe/Madrid")).body  # fmt: skip
    assert [item["period_start"] for item in body] == ["2025-12-31T23:00:00.000Z"]


def test_request_counts_from_the_web_app_are_zero() -> None:
    state = SandboxState(history_days=2)
    day = str(today() - timedelta(days=1))
    api = request_counts(call(state, start_datetime=day, end_datetime=day)).body
    web = request_counts(call(state, start_datetime=day, end_datetime=day, is_origin_app="true")).body
    assert api[0]["number_of_requests"] > 0 and web[0]["number_of_requests"] == 0


@pytest.mark.parametrize(
    "query",
    [
        {"timezone": "Mars/Olympus"},
        {"start_datetime": "soon"},
        {"start_datetime": "2025-01-01", "end_datetime": "2026-06-01"},
    ],
)
def test_an_unusable_window_is_the_validation_error(query: dict[str, str]) -> None:
    reply = consumption(call(SandboxState(), **query))
    assert (reply.status, reply.body["error"]["code"]) == (422, "E-001")


def test_rate_limit_headers_on_every_answer_and_emptied_by_a_rate_limit_fault() -> None:
    state, window = SandboxState(), Window()
    plain = THEIRSTACK.headers(state, window, Reply(), None)
    assert (plain["RateLimit-Limit"], plain["RateLimit-Remaining"], plain["RateLimit-Reset"]) == (
        "10",
        "9",
        "1",
    )
    limited = THEIRSTACK.headers(
        state, window, Reply(429), Fault(1, "theirstack", "rate_limit", 1, {"retry_after": 5})
    )
    assert (limited["RateLimit-Remaining"], limited["RateLimit-Reset"]) == ("0", "5")
    bare = THEIRSTACK.headers(
        state, window, Reply(429), Fault(2, "theirstack", "rate_limit_no_retry_after", 1, {})
    )
    assert "RateLimit-Reset" not in bare
