"""The real hooks against the real sandbox: balances, spending, top-ups and usage history."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_credits.exceptions import CreditsAuthError
from airflow_provider_credits.hooks.clay import ClayHook
from airflow_provider_credits.models import UsageRecord
from airflow_provider_credits.sandbox import CLAY_WORKSPACE_ID
from airflow_provider_credits.sandbox.server import SandboxClientError, SandboxServer
from tests.support.sandbox import MakeHook, read_balance

#: (vendor, Clodura plan, primary pool the hook reports)
ACCOUNTS = [
    ("clay", None, "credits"),
    ("clodura", "unified", "credits"),
    ("clodura", "prospect", "contact_views"),
    ("theirstack", None, "api_credits"),
    ("trendtrack", None, "credits"),
]


def expected_remaining(sandbox: SandboxServer, vendor: str) -> dict[str, Any]:
    """Remaining credits per pool as the hook should report them, from the sandbox's state."""
    pools = sandbox.state()["pools"][vendor]
    remaining = {name: pool["remaining"] for name, pool in pools.items()}
    if vendor == "trendtrack":
        remaining["credits"] = remaining["recurring"] + remaining["topup"]
    return remaining


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("vendor", "plan", "primary"), ACCOUNTS)
def test_hooks_read_the_sandbox_balance(
    sandbox: SandboxServer, make_hook: MakeHook, vendor: str, plan: str | None, primary: str, mode: str
) -> None:
    if plan:
        sandbox.reset(clodura_plan=plan)
    state_pools = sandbox.state()["pools"][vendor]

    balance = read_balance(make_hook(vendor), mode)

    assert balance.primary.name == primary
    assert {p.name: p.remaining for p in balance.pools} == {
        name: Decimal(value) for name, value in expected_remaining(sandbox, vendor).items()
    }
    for pool in balance.pools:  # limits and used, wherever the vendor reports them
        if pool.limit is not None:
            assert (pool.limit, pool.used) == (
                state_pools[pool.name]["limit"],
                state_pools[pool.name]["used"],
            )
    assert sandbox.request_count(vendor) == 1


def test_accounts_and_periods_are_reported(sandbox: SandboxServer, make_hook: MakeHook) -> None:
    clay = make_hook("clay").get_balance()
    trendtrack = make_hook("trendtrack").get_balance()
    assert clay.account == CLAY_WORKSPACE_ID
    assert trendtrack.account == "ws_sandbox"
    start = clay.primary.period_start
    assert (
        start is not None
        and start.day == 1
        and start <= datetime.now(timezone.utc) <= clay.primary.period_end
    )
    assert trendtrack.pool("recurring").period_start == start


def test_reading_a_balance_spends_nothing(sandbox: SandboxServer, make_hook: MakeHook) -> None:
    before = sandbox.state()["pools"]
    for vendor in ("clay", "clodura", "theirstack", "trendtrack"):
        make_hook(vendor).get_balance()
    assert sandbox.state()["pools"] == before


@pytest.mark.parametrize(("vendor", "plan", "primary"), ACCOUNTS)
def test_spend_and_topup_change_what_the_hook_reads(
    sandbox: SandboxServer, make_hook: MakeHook, vendor: str, plan: str | None, primary: str
) -> None:
    if plan:
        sandbox.reset(clodura_plan=plan)
    hook = make_hook(vendor)
    start = hook.get_balance().primary.remaining
    assert start is not None

    sandbox.spend(vendor, 25)
    assert hook.get_balance().primary.remaining == start - 25

    sandbox.topup(vendor, 100, primary if vendor != "trendtrack" else None)
    assert hook.get_balance().primary.remaining == start + 75


def test_trendtrack_spends_recurring_credits_before_topups(
    sandbox: SandboxServer, make_hook: MakeHook
) -> None:
    sandbox.set_balance("trendtrack", "recurring", 30)
    sandbox.spend("trendtrack", 50)
    balance = make_hook("trendtrack").get_balance()
    assert balance.pool("recurring").remaining == 0
    assert balance.pool("topup").remaining == 2_500 - 20
    assert balance.primary.remaining == 2_480


def test_set_balance_is_what_the_hook_reads(sandbox: SandboxServer, make_hook: MakeHook) -> None:
    sandbox.set_balance("theirstack", "api_credits", 0)
    sandbox.set_balance("clay", "credits", 123_456)  # above the limit: the limit grows
    assert make_hook("theirstack").get_balance().primary.remaining == 0
    clay = make_hook("clay").get_balance().primary
    assert (clay.remaining, clay.limit, clay.used) == (123_456, 123_456, 0)


@pytest.mark.parametrize(
    ("vendor", "code"),
    [("trendtrack", "insufficient_credits"), ("theirstack", "E-005"), ("clay", "PaymentRequired")],
)
def test_spending_more_than_remains_is_a_402_in_the_vendors_style(
    sandbox: SandboxServer, vendor: str, code: str
) -> None:
    before = sandbox.state()["pools"][vendor]
    with pytest.raises(SandboxClientError) as caught:
        sandbox.spend(vendor, 10_000_000)
    assert caught.value.status == 402
    body = caught.value.body
    assert (body["error"]["code"] if vendor != "clay" else body["type"]) == code
    assert sandbox.state()["pools"][vendor] == before


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def history(sandbox: SandboxServer, vendor: str, pool: str) -> dict[datetime, int]:
    days: dict[datetime, int] = {}
    for row in sandbox.state()["history"]:
        if (row["vendor"], row["pool"]) == (vendor, pool):
            day = utc_midnight(date.fromisoformat(row["day"]))
            days[day] = days.get(day, 0) + row["amount"]
    return days


def test_clay_usage_is_the_daily_history_and_grows_with_spending(
    sandbox: SandboxServer, make_hook: MakeHook
) -> None:
    today = utc_midnight(datetime.now(timezone.utc).date())
    start, end = today - timedelta(days=7), today + timedelta(days=1)
    hook = make_hook("clay")
    seeded = history(sandbox, "clay", "credits")
    assert len(seeded) == 7 and today not in seeded

    sandbox.spend("clay", 40, user_id="usr_sbx_bob", integration="hunter")
    sandbox.spend("clay", 2)
    rows = hook.get_usage(start, end)

    by_day = {r.period_start: r.amount for r in rows}
    assert by_day == {**{d: Decimal(v) for d, v in seeded.items()}, today: 42}
    assert {(r.vendor, r.account, r.pool, r.dimension) for r in rows} == {
        ("clay", CLAY_WORKSPACE_ID, "credits", "")
    }


def test_theirstack_usage_is_the_daily_history_and_grows_with_spending(
    sandbox: SandboxServer, make_hook: MakeHook
) -> None:
    today = utc_midnight(datetime.now(timezone.utc).date())
    start, end = today - timedelta(days=3), today + timedelta(days=1)
    sandbox.spend("theirstack", 77)
    sandbox.spend("theirstack", 5, "ui_credits")

    async def read() -> list[UsageRecord]:
        async with make_hook("theirstack") as hook:
            return await hook.aget_usage(start, end)

    rows = asyncio.run(read())

    seeded = history(sandbox, "theirstack", "api_credits")
    api = {r.period_start: r.amount for r in rows if r.pool == "api_credits"}
    ui = {r.period_start: r.amount for r in rows if r.pool == "ui_credits"}
    assert api == {d: Decimal(seeded[d]) for d in api if d != today} | {today: 77}
    assert len(api) == 4 and ui[today] == 5


def test_theirstack_request_counts_include_todays_calls(sandbox: SandboxServer, make_hook: MakeHook) -> None:
    hook = make_hook("theirstack")
    today = utc_midnight(datetime.now(timezone.utc).date())
    hook.get_balance()
    hook.get_balance()
    counts = hook.get_request_counts(today, today + timedelta(hours=23))
    assert [(c.period_start, c.number_of_requests) for c in counts.root] == [(today, 3)]  # this call too
    web = hook.get_request_counts(today, today + timedelta(hours=23), is_origin_app=True)
    assert web.root[0].number_of_requests == 0


def test_clay_breakdown_endpoints_follow_spending(sandbox: SandboxServer, make_hook: MakeHook) -> None:
    hook = make_hook("clay")
    assert isinstance(hook, ClayHook)
    owners = hook.get_owners()
    assert [o["id"] for o in owners] == ["usr_sbx_alice", "usr_sbx_bob"]
    assert [i["type"] for i in hook.list_integrations()] == ["clearbit", "hunter", "apollo"]
    user_before = hook.get_user_credits("usr_sbx_bob")["creditsUsed"]
    hunter_before = hook.get_integration_credits("hunter")["creditsUsed"]

    sandbox.spend("clay", 30, user_id="usr_sbx_bob", integration="hunter")

    assert hook.get_user_credits("usr_sbx_bob")["creditsUsed"] == user_before + 30
    assert hook.get_integration_credits("hunter")["creditsUsed"] == hunter_before + 30
    report = hook.get_integration_credit_report("hunter")["entries"]
    assert report[-1]["integration"] == "hunter" and report[-1]["creditsUsed"] >= 30
    assert hook.get_user_resources("usr_sbx_bob")["resources"][0]["type"] == "workbook"


def test_clay_signs_in_again_when_the_cookie_expired(
    sandbox: SandboxServer, make_hook: MakeHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.add_fault("clay", "expired_cookie")
    with pytest.raises(CreditsAuthError) as caught:
        make_hook("clay").get_balance()
    assert caught.value.status == 401

    for name, value in sandbox.airflow_conn_env(clay_login=True).items():
        monkeypatch.setenv(name, value)
    balance = make_hook("clay").get_balance()
    assert balance.primary.remaining == sandbox.state()["pools"]["clay"]["credits"]["remaining"]
    log = [(r["method"], r["path"].rsplit("/", 1)[-1], r["status"]) for r in sandbox.requests("clay")]
    assert log[1:] == [("GET", "credits", 401), ("POST", "login", 200), ("GET", "credits", 200)]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_fresh_clay_session_never_reaches_debug_logs(
    sandbox: SandboxServer,
    make_hook: MakeHook,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    """httpcore (sync path) logs response headers at DEBUG; the sign-in's Set-Cookie must not be
    among them, nor in anything aiohttp (async path) logs."""
    sandbox.add_fault("clay", "expired_cookie")
    for name, value in sandbox.airflow_conn_env(clay_login=True).items():
        monkeypatch.setenv(name, value)
    hook = make_hook("clay")
    with caplog.at_level(logging.DEBUG):
        read_balance(hook, mode)
    assert hook._cookie  # signed in again: a fresh session
    assert any(r.levelno == logging.DEBUG for r in caplog.records)  # DEBUG logging was on
    if mode == "sync":
        assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert all(hook._cookie not in r.getMessage() for r in caplog.records)
