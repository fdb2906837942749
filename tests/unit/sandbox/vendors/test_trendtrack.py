"""Trendtrack in the sandbox: the usage snapshot (recurring and top-up credits, the included quota),
``X-Credits-Remaining`` on successful answers only, and its error codes."""

from __future__ import annotations

from airflow_provider_credits.sandbox.state import SandboxState
from airflow_provider_credits.sandbox.vendors.base import Call, Reply
from airflow_provider_credits.sandbox.vendors.trendtrack import TRENDTRACK, usage


def test_the_snapshot_totals_recurring_and_top_up_credits() -> None:
    state = SandboxState()
    state.set_balance("trendtrack", "recurring", 700)
    state.set_balance("trendtrack", "topup", 300)

    body = usage(Call(state, {}, {})).body

    assert (body["credits"]["totalRemaining"], body["credits"]["balance"]) == (1000, 1000)
    assert body["credits"]["recurring"]["remaining"] == 700 and body["credits"]["topup"] == {"balance": 300}
    assert body["includedQuota"] == state.pool("trendtrack", "included_quota").to_json()
    assert body["billing"]["currentPeriodStart"] < body["billing"]["currentPeriodEnd"]


def test_the_remaining_credits_header_is_on_successful_answers_only() -> None:
    state = SandboxState()
    state.set_balance("trendtrack", "recurring", 0)
    state.set_balance("trendtrack", "topup", 42)
    assert TRENDTRACK.headers(state, None, Reply(200), None) == {"X-Credits-Remaining": "42"}  # type: ignore[arg-type]
    assert TRENDTRACK.headers(state, None, Reply(401), None) == {}  # type: ignore[arg-type]


def test_errors_carry_trendtrack_s_codes() -> None:
    assert TRENDTRACK.error("revoked", SandboxState()).body["error"]["code"] == "credential_revoked"
    assert TRENDTRACK.error("insufficient", SandboxState()).body["error"]["code"] == "insufficient_credits"
