"""Triggers on one connection share its balance reads (issue 17), against the sandbox: a real HTTP server
that counts the requests it receives, real aiohttp sessions; cancellations and 429s."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_credits.sandbox.server import SandboxServer
from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger
from airflow_provider_credits.triggers.shared_reads import AccountReader
from tests.support.sandbox import until_requested
from tests.support.sessions import Sessions
from tests.support.shared_reads import events_of, first_event, trigger

pytestmark = pytest.mark.usefixtures("no_reader_left")


def on_the_sandbox(test: Callable[..., Any]) -> Callable[..., Any]:
    """An integration test whose triggers must close their sessions themselves."""
    return pytest.mark.integration(pytest.mark.usefixtures("no_collection_guard")(test))


async def three_during_a_slow_read(sandbox: SandboxServer, delay: float) -> list[asyncio.Future[Any]]:
    """Three triggers waiting on one GET that the sandbox answers after ``delay`` seconds (long
    enough for the test to act while it is in flight, however slowly it got there)."""
    sandbox.add_fault("theirstack", "slow", count=1, delay=delay)
    tasks = [asyncio.ensure_future(first_event(sandbox_trigger(min_remaining=1))) for _ in range(3)]
    await until_requested(sandbox, "theirstack", 1)
    assert sandbox.request_count("theirstack") == 1  # the shared GET is in flight
    assert not any(task.done() for task in tasks)
    return tasks


SANDBOX_CONN = "theirstack_default"
VENDOR_CONNS = {"theirstack": "theirstack_default", "trendtrack": "trendtrack_default"}


def sandbox_trigger(conn_id: str = SANDBOX_CONN, **kwargs: Any) -> CreditThresholdTrigger:
    return trigger(**{"credits_conn_id": conn_id, "min_remaining": 10**12, **kwargs})


@on_the_sandbox
async def test_n_triggers_on_several_accounts_send_one_read_per_account_and_interval(
    sandbox: SandboxServer, sessions: Sessions
) -> None:
    # long enough for a few reads even when a loaded machine holds the loop up for a second
    # (the first read of a process, with its TLS context and session, can take that long)
    duration = 2.0
    triggers = [
        sandbox_trigger(conn_id, deadline=time.time() + duration)
        for conn_id in VENDOR_CONNS.values()
        for _ in range(50)
    ]
    events = await events_of(*triggers)
    assert [e["status"] for e in events] == ["timeout"] * 100
    for vendor in VENDOR_CONNS:
        count = sandbox.request_count(vendor)
        # 50 triggers polling every 0.2 s for 2 s: 10 reads (one per interval, fewer when the
        # loop falls behind), not 500
        assert 3 <= count <= 12, (vendor, count)
    assert sessions.created and sessions.open() == []


@on_the_sandbox
async def test_a_trigger_cancelled_during_a_shared_read_leaves_it_to_the_others(
    sandbox: SandboxServer, sessions: Sessions
) -> None:
    tasks = await three_during_a_slow_read(sandbox, 3.0)
    tasks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert [(await t)["status"] for t in tasks[1:]] == ["success", "success"]
    assert sandbox.request_count("theirstack") == 1  # the others got the cancelled one's read
    assert sessions.open() == []


@on_the_sandbox
async def test_the_last_trigger_cancelled_during_a_read_cancels_it_and_closes_the_session(
    sandbox: SandboxServer, sessions: Sessions
) -> None:
    tasks = await three_during_a_slow_read(sandbox, 5.0)
    reader = AccountReader.active(SANDBOX_CONN)
    assert reader is not None and reader.users == 3 and reader._task is not None
    read = reader._task
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert read.cancelled()
    assert AccountReader.active(SANDBOX_CONN) is None
    assert sessions.created and sessions.open() == []
    # a trigger of the same loop afterwards starts afresh
    assert (await first_event(sandbox_trigger(min_remaining=1)))["status"] == "success"
    assert sessions.open() == []


@on_the_sandbox
async def test_the_hook_stays_open_until_the_last_trigger_is_done(
    sandbox: SandboxServer, sessions: Sessions
) -> None:
    early = asyncio.ensure_future(first_event(sandbox_trigger(min_remaining=1)))
    # the late one waits until well after the early one's first check, however slow that is
    late = asyncio.ensure_future(first_event(sandbox_trigger(deadline=time.time() + 3.0)))
    assert (await early)["status"] == "success"
    reader = AccountReader.active(SANDBOX_CONN)
    assert reader is not None and reader.users == 1 and reader._hook is not None
    assert sessions.open(), "the remaining trigger still reads through the session"
    assert (await late)["status"] == "timeout"
    assert AccountReader.active(SANDBOX_CONN) is None
    assert sessions.open() == []


@on_the_sandbox
async def test_a_sandbox_429_with_retry_after_pauses_every_trigger(
    sandbox: SandboxServer, sessions: Sessions
) -> None:
    sandbox.add_fault("theirstack", "rate_limit", count=1, retry_after=1)
    started = time.monotonic()
    events = await events_of(*(sandbox_trigger(min_remaining=1, poke_interval=0.05) for _ in range(10)))
    assert [e["status"] for e in events] == ["success"] * 10
    assert time.monotonic() - started >= 1.0
    assert sandbox.request_count("theirstack") == 2
    assert sessions.open() == []


@on_the_sandbox
async def test_triggers_that_wait_on_one_read_keep_their_own_rhythm(
    sandbox: SandboxServer, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started spread over an interval, the triggers stay spread: those that waited on another
    trigger's read count their interval from when they were due to wake, not from the read's
    answer (else each read would gather the triggers waking during it, until all check in one
    burst)."""
    sandbox.add_fault("theirstack", "slow", delay=0.05)  # every read takes 50 ms
    checks: list[float] = []
    real_check = CreditThresholdTrigger._check

    def timed_check(self: CreditThresholdTrigger, *args: Any) -> Any:
        checks.append(asyncio.get_running_loop().time())
        return real_check(self, *args)

    monkeypatch.setattr(CreditThresholdTrigger, "_check", timed_check)

    async def started_after(delay: float) -> dict[str, Any]:
        await asyncio.sleep(delay)
        return await first_event(sandbox_trigger(poke_interval=0.5, deadline=time.time() + 3.0))

    start = asyncio.get_running_loop().time()
    events = await asyncio.gather(*(started_after(n * 0.06) for n in range(8)))
    assert [e["status"] for e in events] == ["timeout"] * 8
    last_round = sorted(t - start for t in checks if 2.0 <= t - start < 2.5)
    bursts = [round(b, 3) for a, b in itertools.pairwise([0.0, *last_round]) if b - a > 0.02]
    assert len(bursts) >= 3, (last_round, bursts)  # not one or two bursts of all eight
    assert sessions.open() == []
