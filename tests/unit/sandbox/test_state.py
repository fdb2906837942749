"""The sandbox's state: seeded balances and history, spending, top-ups, faults and the request log."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_credits.sandbox.state import (
    OutOfCreditsError,
    SandboxError,
    SandboxState,
    month_period,
    num,
    today,
)


def test_seed_makes_history_deterministic(tmp_path: Path) -> None:
    one, same, other = SandboxState(seed=7), SandboxState(seed=7), SandboxState(seed=8)
    assert one.to_json()["history"] == same.to_json()["history"] != other.to_json()["history"]
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(
        json.dumps({"seed": 8, "pools": {"clay": {"credits": {"remaining": 5}}}, "clodura_plan": "prospect"})
    )
    loaded = SandboxState.from_file(seed_file)
    assert loaded.pool("clay").remaining == 5
    assert loaded.clodura_plan == "prospect"

    def not_clodura(state: SandboxState) -> dict[Any, float]:
        return {key: amount for key, amount in state.history.items() if key[0] != "clodura"}

    assert not_clodura(loaded) == not_clodura(other)  # the file's seed; the plan changes only Clodura
    assert SandboxState.from_file(seed_file, clodura_plan="unified").clodura_plan == "unified"  # options win
    seed_file.write_text(json.dumps(one.to_json()))  # a saved state reloads as it was
    assert SandboxState.from_file(seed_file, seed=99).to_json()["pools"] == one.to_json()["pools"]


def test_spending_draws_on_the_pools_in_order_and_refuses_more_than_remains() -> None:
    state = SandboxState(history_days=0)
    recurring, topup = state.pool("trendtrack", "recurring"), state.pool("trendtrack", "topup")
    before = recurring.remaining + topup.remaining

    spent = state.spend("trendtrack", recurring.remaining + 10)  # recurring first, then the top-up

    assert (recurring.remaining, topup.remaining) == (0, 2_490)
    assert spent == {
        "vendor": "trendtrack",
        "pool": "credits",
        "spent": num(before - 2_490),
        "remaining": 2_490,
    }
    assert state.consumption("trendtrack", "topup") == {today(): 10}
    with pytest.raises(
        OutOfCreditsError, match="trendtrack pool 'credits' has 2490 credits left, 5000 needed"
    ):
        state.spend("trendtrack", 5_000)
    assert topup.remaining == 2_490  # nothing spent
    with pytest.raises(SandboxError, match="amount: must be positive"):
        state.spend("clay", 0)


def test_top_ups_raise_the_limit_and_set_balance_makes_exactly_that_remain() -> None:
    state = SandboxState()
    assert state.topup("trendtrack", 500)["pool"] == "topup"  # Trendtrack's default
    used = num(state.pool("clay").used)
    assert state.topup("clay", 1_000) == {
        "vendor": "clay",
        "pool": "credits",
        "limit": 11_000,
        "used": used,
        "remaining": 11_000 - used,
    }
    assert state.set_balance("theirstack", "api_credits", 10)["remaining"] == 10
    assert state.set_balance("theirstack", "api_credits", 30_000) == {
        "vendor": "theirstack", "pool": "api_credits", "limit": 30_000, "used": 0, "remaining": 30_000
    }  # fmt: skip
    with pytest.raises(SandboxError, match="remaining: must not be negative"):
        state.set_balance("clay", "credits", -1)
    with pytest.raises(SandboxError, match="pool: clay has no pool 'api_credits'; it has: credits"):
        state.set_balance("clay", "api_credits", 1)
    with pytest.raises(SandboxError, match="vendor: unknown vendor 'acme'"):
        state.topup("acme", 1)


def test_faults_match_vendor_and_path_and_run_out_after_their_count() -> None:
    state = SandboxState()
    state.add_fault("clay", "server_error", 1, path="/v3/workspaces")
    state.add_fault("*", "slow", params={"delay": 0})

    assert state.take_fault("clay", "/v3/owners", []).scenario == "slow"  # not the path of the first
    first = state.take_fault("clay", "/v3/workspaces/424242/credits", [])
    assert (first.scenario, first.params) == ("server_error", {"status": 500})
    assert [f.scenario for f in state.faults] == ["slow"]  # its one request used
    state.clear_faults()
    assert state.take_fault("clay", "/v3/owners", []) is None
    with pytest.raises(SandboxError, match="count: must be at least 1"):
        state.add_fault("clay", "slow", 0)
    with pytest.raises(SandboxError, match="scenario: unknown fault scenario 'meteor'") as info:
        state.add_fault("clay", "meteor")
    assert info.value.field == "scenario"


def test_an_expired_cookie_fault_spares_the_sign_in_and_the_sessions_it_issued() -> None:
    state = SandboxState()
    state.add_fault("clay", "expired_cookie")
    state.login_sessions.add("fresh")
    assert state.take_fault("clay", "/v3/auth/login", []) is None
    assert state.take_fault("clay", "/v3/owners", ["fresh"]) is None
    assert state.take_fault("clay", "/v3/owners", ["stale"]).scenario == "expired_cookie"
    assert state.take_fault("clodura", "/api/v1/credits", []) is None


def test_the_request_log_counts_by_vendor_and_path_and_a_reset_clears_it() -> None:
    state = SandboxState()
    for vendor, path in [("clay", "/v3/owners"), ("clay", "/v3/me"), ("clodura", "/api/v1/credits")]:
        state.log_request(vendor, "GET", path)
    assert (state.request_count(), state.request_count("clay"), state.request_count("clay", "/v3/o")) == (
        3,
        2,
        1,
    )
    assert [r.path for r in state.requests("clay")] == ["/v3/owners", "/v3/me"]
    state.spend("clay", 5)
    state.reset()
    assert state.request_count() == 0
    assert state.pool("clay").used == SandboxState().pool("clay").used  # the seeded figure again


def test_rate_wait_counts_requests_in_a_sliding_window() -> None:
    state = SandboxState()
    assert [state.rate_wait("lusha", 2, 60) for _ in range(2)] == [None, None]
    wait = state.rate_wait("lusha", 2, 60)
    assert wait is not None and 59 < wait <= 60
    assert state.rate_wait("hunter", 2, 60) is None  # per vendor


def test_billing_periods_are_calendar_months_and_numbers_are_ints_when_whole() -> None:
    assert month_period(date(2026, 12, 15)) == (
        datetime(2026, 12, 1, tzinfo=timezone.utc),
        datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
    )
    assert (num(3.0), num(2.5), num(1 / 3)) == (3, 2.5, 0.333333)
    assert isinstance(num(3.0), int)
