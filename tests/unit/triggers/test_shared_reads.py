"""Triggers on one connection share its balance reads (issue 17), against the fake vendor: respx,
scripted answers, exact request counts (the sandbox's real HTTP server: tests/integration/triggers)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from airflow_provider_credits.exceptions import CreditsAuthError, CreditsTransportError
from airflow_provider_credits.triggers import shared_reads
from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger
from airflow_provider_credits.triggers.shared_reads import AccountReader, Turns, rate_spacing
from airflow_provider_credits.vendors import VENDORS
from tests.support.fake_vendor import CONN_ID, FakeVendor, Step, credits, http, read_timeout
from tests.support.shared_reads import INTERVAL, events_of, first_event, trigger

pytestmark = pytest.mark.usefixtures("no_reader_left")


class Timed:
    """A script step that also records when each request arrived (monotonic seconds)."""

    def __init__(self, *steps: Step) -> None:
        self.steps = steps
        self.at: list[float] = []

    def __call__(self) -> Step:
        def step() -> httpx.Response:
            self.at.append(time.monotonic())
            return self.steps[min(len(self.at), len(self.steps)) - 1]()

        return step


def checks_at(monkeypatch: pytest.MonkeyPatch, clock: Callable[[], float] | None = None) -> list[float]:
    """When the triggers check from now on, by ``clock`` (default: the loop's)."""
    checks: list[float] = []
    real_check = CreditThresholdTrigger._check

    def timed_check(self: CreditThresholdTrigger, *args: Any) -> Any:
        checks.append(clock() if clock is not None else asyncio.get_running_loop().time())
        return real_check(self, *args)

    monkeypatch.setattr(CreditThresholdTrigger, "_check", timed_check)
    return checks


def too_many(retry_after: str | None) -> Step:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return lambda: httpx.Response(429, headers=headers, json={"error": {"message": "slow down"}})


# ------------------------------------------------------------------------ the fake vendor


async def test_n_triggers_on_one_account_share_each_read(vendor: FakeVendor) -> None:
    script = vendor.script(credits(100), credits(200), credits(900))
    events = await events_of(*(trigger() for _ in range(20)))
    assert [e["status"] for e in events] == ["success"] * 20
    assert {e["balance"]["pools"][0]["remaining"] for e in events} == {900}
    assert script.calls == 3  # one read per interval, not one per trigger (60)


async def test_without_sharing_each_trigger_reads_for_itself(
    vendor: FakeVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The behaviour before issue 17, kept behind a flag for the benchmark's comparison."""
    monkeypatch.setattr(CreditThresholdTrigger, "share_reads", False)
    script = vendor.script(credits(900))
    await events_of(*(trigger() for _ in range(5)))
    assert script.calls == 5


async def test_each_trigger_judges_the_shared_balance_by_its_own_gate(vendor: FakeVendor) -> None:
    script = vendor.script(credits(300), credits(600), credits(700))
    low, mid, pct, pool, late = await events_of(
        trigger(min_remaining="250"),
        trigger(min_remaining="550"),
        trigger(min_remaining=None, min_remaining_pct="65"),
        trigger(credit_pool="ui_credits", min_remaining="40"),
        trigger(min_remaining="5000", deadline=time.time() + 3 * INTERVAL),
    )
    assert (low["status"], low["decision"]["remaining"]) == ("success", 300)
    assert (mid["status"], mid["decision"]["remaining"]) == ("success", 600)
    assert (pct["status"], pct["decision"]["remaining"]) == ("success", 700)
    assert (pool["status"], pool["decision"]["pool"], pool["decision"]["remaining"]) == (
        "success",
        "ui_credits",
        50,
    )
    assert late["status"] == "timeout"  # its own deadline
    assert script.calls <= 4


async def test_mixed_intervals_read_at_the_shortest_and_slow_down_when_it_leaves(vendor: FakeVendor) -> None:
    timed = Timed(credits(100))
    vendor.script(timed())
    start = time.monotonic()
    fast = trigger(poke_interval=0.1, deadline=time.time() + 1.0)
    slow = [trigger(poke_interval=0.5, deadline=time.time() + 3.0) for _ in range(5)]
    events = await events_of(fast, *slow)
    assert [e["status"] for e in events] == ["timeout"] * 6
    first_second = [t for t in timed.at if t - start <= 1.05]
    after = [t for t in timed.at if t - start > 1.15]
    # the fast trigger sets the pace while it waits: at most one read per 0.1 s, not 1 + 5 * 0.2
    assert 4 <= len(first_second) <= 11
    # then the slow ones alone: one read per 0.5 s for all five (not five)
    assert 2 <= len(after) <= 5
    gaps = [round(b - a, 3) for a, b in zip(timed.at, timed.at[1:], strict=False)]
    # 0.1 s apart or more, but for the fast trigger's last check, at its deadline (as alone)
    assert len([gap for gap in gaps if gap < 0.09]) <= 1, ([round(t - start, 3) for t in timed.at], gaps)


@pytest.mark.parametrize(
    ("step", "error_type"),
    [(http(401), CreditsAuthError.__name__), (http(403), CreditsAuthError.__name__)],
    ids=["401", "403"],
)
async def test_an_auth_error_fails_every_trigger_that_waited_on_the_read(
    vendor: FakeVendor, step: Step, error_type: str
) -> None:
    script = vendor.script(step)
    events = await events_of(*(trigger() for _ in range(5)))
    assert [(e["status"], e["error_type"]) for e in events] == [("error", error_type)] * 5
    assert script.calls == 1


@pytest.mark.parametrize(
    "failure",
    [http(402), http(500), http(503), read_timeout(), too_many(None)],
    ids=["402", "500", "503", "timeout", "429-without-retry-after"],
)
async def test_a_402_or_a_transient_error_keeps_every_trigger_waiting(
    vendor: FakeVendor, failure: Step
) -> None:
    script = vendor.script(failure, credits(900))
    events = await events_of(*(trigger() for _ in range(5)))
    assert [e["status"] for e in events] == ["success"] * 5
    assert script.calls == 2


async def test_a_429s_retry_after_pauses_the_read_for_every_trigger(vendor: FakeVendor) -> None:
    timed = Timed(too_many("0.8"), credits(900))
    vendor.script(timed())
    events = await events_of(*(trigger(poke_interval=0.05) for _ in range(5)))
    assert [e["status"] for e in events] == ["success"] * 5
    assert len(timed.at) == 2  # not one per 0.05 s while the vendor asked to wait
    assert timed.at[1] - timed.at[0] >= 0.75


async def test_a_deadline_during_a_pause_ends_with_a_timeout_without_a_read(vendor: FakeVendor) -> None:
    script = vendor.script(too_many("30"), credits(900))
    started = time.monotonic()
    events = await events_of(*(trigger(poke_interval=0.05, deadline=time.time() + 0.6) for _ in range(3)))
    assert time.monotonic() - started < 5
    assert [e["status"] for e in events] == ["timeout"] * 3
    assert all("last check: theirstack primary pool: balance unavailable" in e["message"] for e in events)
    assert "rate limited: slow down" in events[0]["message"]
    assert script.calls == 1


async def test_reads_keep_the_vendors_documented_spacing(
    vendor: FakeVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(VENDORS, "theirstack", replace(VENDORS["theirstack"], balance_rate_limit=(2, 1.0)))
    timed = Timed(credits(100), credits(100), credits(900))
    vendor.script(timed())
    events = await events_of(*(trigger(poke_interval=0.05) for _ in range(3)))
    assert [e["status"] for e in events] == ["success"] * 3
    assert len(timed.at) == 3
    assert all(b - a >= 0.49 for a, b in zip(timed.at, timed.at[1:], strict=False))  # 2 per second


def test_the_spacing_comes_from_the_vendor_registry() -> None:
    from airflow_provider_credits.hooks import hook_class_for

    assert rate_spacing(hook_class_for("lusha")(conn_id="x")) == 12.0  # 5 per 60 s
    assert rate_spacing(hook_class_for("theirstack")(conn_id="x")) == 0.0


async def test_unreachable_checks_count_per_trigger(vendor: FakeVendor) -> None:
    """A shared read that got no response counts once for each trigger that judged it, from its own count."""
    script = vendor.script(read_timeout())
    worker_counted_one, fresh = await events_of(
        trigger(max_unreachable_checks=3, unreachable_checks=2), trigger(max_unreachable_checks=3)
    )
    assert (worker_counted_one["status"], worker_counted_one["error_type"]) == (
        "error",
        CreditsTransportError.__name__,
    )
    assert "none of 3 checks since the task started" in worker_counted_one["message"]
    assert (fresh["status"], fresh["error_type"]) == ("error", CreditsTransportError.__name__)
    assert script.calls == 3


async def test_a_trigger_that_joins_later_waits_for_a_read_of_its_own_sleep(vendor: FakeVendor) -> None:
    """A read made before a trigger went to sleep is not its check: it never judges an old answer."""
    script = vendor.script(credits(900))
    first = asyncio.ensure_future(first_event(trigger()))
    await asyncio.sleep(INTERVAL * 1.5)  # the first trigger has read 900 and ended
    assert (await first)["status"] == "success"
    assert (await first_event(trigger()))["status"] == "success"
    assert script.calls == 2


async def test_a_connection_that_does_not_exist_fails_every_trigger(vendor: FakeVendor) -> None:
    results = await asyncio.gather(
        *(first_event(trigger(credits_conn_id="missing")) for _ in range(3)), return_exceptions=True
    )
    # airflow.sdk.exceptions' on Airflow 3.2+, airflow.exceptions' on 3.1
    assert [type(r).__name__ for r in results] == ["AirflowNotFoundException"] * 3
    assert isinstance(results[0], Exception)
    with pytest.raises(type(results[0])) as alone:
        await first_event(trigger(credits_conn_id="missing"))
    assert [str(r) for r in results] == [str(alone.value)] * 3  # each as a trigger alone


async def test_n_triggers_on_one_connection_look_it_up_once(
    vendor: FakeVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader builds the hook (the Airflow connection lookup) on its first read: the
    triggers that join it look nothing up, however many start."""
    from airflow.sdk import BaseHook

    lookups: list[str] = []
    lookup = BaseHook.aget_connection

    async def counted(cls: type[BaseHook], conn_id: str) -> Any:
        lookups.append(conn_id)
        return await lookup(conn_id)

    monkeypatch.setattr(BaseHook, "aget_connection", classmethod(counted))
    script = vendor.script(credits(100), credits(900))
    events = await events_of(*(trigger() for _ in range(50)))
    assert [e["status"] for e in events] == ["success"] * 50
    assert (lookups, script.calls) == ([CONN_ID], 2)


async def test_a_read_starts_when_a_trigger_asks_for_it(vendor: FakeVendor) -> None:
    """A trigger that wakes after another one asked for a read, in the same loop iteration
    (before the read's task first ran), waited on another trigger's read: it keeps its own
    rhythm instead of counting its next interval from the read's answer."""
    vendor.script(credits(900))
    loop = asyncio.get_running_loop()
    reader = AccountReader.join(CONN_ID, INTERVAL, trigger()._open_hook)
    try:
        asking = asyncio.ensure_future(reader.read(loop.time()))
        await asyncio.sleep(0)  # the first trigger asks; the read's task is yet to run
        woke_at = loop.time()  # a second trigger wakes, in the same loop iteration
        reading = await reader.read(woke_at)
        assert reading is await asking
        assert reading is not None and reading.started < woke_at
    finally:
        await reader.leave(INTERVAL)


async def test_triggers_the_loop_delayed_keep_their_own_rhythm(
    vendor: FakeVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Triggers checking at different moments that the loop held up together (a long garbage
    collection, a busy second) go back to their own moments: they count their intervals from
    when they were due, not from when the loop got to them, and skip the checks they missed."""
    vendor.script(credits(100))
    checks = checks_at(monkeypatch)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def started_after(delay: float) -> dict[str, Any]:
        await asyncio.sleep(delay)
        return await first_event(trigger(poke_interval=0.4, deadline=time.time() + 2.4 - delay))

    async def hold_the_loop() -> None:
        await asyncio.sleep(0.9)
        time.sleep(0.55)  # every trigger is due meanwhile, and wakes with the others after it

    hold = asyncio.ensure_future(hold_the_loop())
    events = await asyncio.gather(*(started_after(n * 0.1) for n in range(4)))
    await hold
    assert [e["status"] for e in events] == ["timeout"] * 4
    held_up = [t - start for t in checks if 1.4 <= t - start < 1.55]
    assert len(held_up) >= 3, checks  # checked together right after the hold-up
    # then again 0.1 s apart, at about 1.7, 1.8, 1.85 (the one that sends the reads) and 1.9 s;
    # before: all four at 1.85 s, and every 0.4 s from then on
    later = sorted(t - start for t in checks if 1.6 <= t - start < 2.0)
    moments = [round(b, 3) for a, b in itertools.pairwise([0.0, *later]) if b - a > 0.03]
    assert len(moments) >= 3, (later, moments)


async def test_checks_released_together_take_turns_of_the_loop(
    vendor: FakeVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Triggers that one read releases together check over several loop iterations, not all
    in one: the loop runs its I/O and timers (the other triggers') in between."""
    monkeypatch.setattr(shared_reads, "TURN_SECONDS", 1e-9)  # one check per loop iteration
    vendor.script(credits(100), credits(900))
    iteration = [0]
    counting = [True]

    def count() -> None:  # runs once per loop iteration
        iteration[0] += 1
        if counting[0]:
            asyncio.get_running_loop().call_soon(count)

    count()
    checked: list[tuple[Any, int]] = []  # (the read judged, kept alive for its id; the iteration)
    real_check = CreditThresholdTrigger._check

    def counted_check(self: CreditThresholdTrigger, gate: Any, reading: Any) -> Any:
        checked.append((reading, iteration[0]))
        return real_check(self, gate, reading)

    monkeypatch.setattr(CreditThresholdTrigger, "_check", counted_check)
    events = await events_of(*(trigger() for _ in range(10)))
    counting[0] = False
    assert [e["status"] for e in events] == ["success"] * 10
    released: dict[int, list[int]] = {}
    for reading, n in checked:
        released.setdefault(id(reading), []).append(n)
    assert [len(iterations) for iterations in released.values()] == [10, 10]  # two reads, ten checks each
    # each check in a loop iteration of its own: those one read released, and a next read's
    # first one too, however late a loaded machine lets the two rounds come
    assert len({n for _, n in checked}) == 20, released


async def test_a_check_arriving_where_released_turns_ran_waits_for_the_next_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trigger whose sleep ends in the loop iteration where released turns already ran counts
    them: it waits for a later iteration instead of adding its check to a spent turn."""
    monkeypatch.setattr(shared_reads, "TURN_SECONDS", 1e-9)  # one check per loop iteration
    loop = asyncio.get_running_loop()
    turns = Turns.of_running_loop()
    iteration = [0]
    counting = [True]

    def count() -> None:  # runs once per loop iteration
        iteration[0] += 1
        if counting[0]:
            loop.call_soon(count)

    checked: dict[str, int] = {}

    async def check(name: str) -> None:
        await turns.take()
        checked[name] = iteration[0]

    count()
    tasks = [asyncio.create_task(check("first")), asyncio.create_task(check("released"))]
    await asyncio.sleep(0)  # "first" checks at once, "released" waits for the next _tick
    # runs after that _tick: the arrival's first step lands in the iteration "released" resumes in
    loop.call_soon(lambda: tasks.append(asyncio.create_task(check("arrival"))))
    while len(checked) < 3:
        await asyncio.sleep(0)
    counting[0] = False
    await asyncio.gather(*tasks)
    assert checked["first"] < checked["released"] < checked["arrival"], checked


async def test_a_trigger_cancelled_while_it_waits_for_its_turn_passes_it_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shared_reads, "TURN_SECONDS", 1e-9)
    turns = Turns.of_running_loop()
    took: list[int] = []

    async def check(n: int) -> None:
        await turns.take()
        took.append(n)

    tasks = [asyncio.ensure_future(check(n)) for n in range(4)]
    await asyncio.sleep(0)  # the first takes its turn, the others wait
    tasks[1].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert took == [0, 2, 3]
    assert tasks[1].cancelled()
    assert not turns._waiting


async def test_a_trigger_alone_checks_without_waiting_for_a_turn() -> None:
    turns = Turns.of_running_loop()
    assert Turns.of_running_loop() is turns  # one per event loop
    for _ in range(3):
        await asyncio.sleep(0.01)
        waiting = asyncio.ensure_future(turns.take())
        await asyncio.sleep(0)
        assert waiting.done()  # its turn at once


# ------------------------------------------------------------------------ reads and checks


def test_a_read_judges_each_distinct_gate_once() -> None:
    from airflow_provider_credits.exceptions import UnknownCreditPoolError
    from airflow_provider_credits.gate import Gate
    from airflow_provider_credits.models import CreditBalance, CreditPool
    from airflow_provider_credits.triggers.shared_reads import Reading

    balance = CreditBalance(
        vendor="theirstack",
        account="acct",
        pools=(CreditPool(name="api_credits", remaining=300, limit=1000),),
    )
    reading = Reading(0.0, balance, None, None)
    five_hundred, again = Gate.build(min_remaining="500"), Gate.build(min_remaining=500)
    assert reading.judge(five_hundred) is reading.judge(again)  # equal gates: one decision
    assert not reading.judge(five_hundred).met
    assert reading.judge(Gate.build(min_remaining="250")).met
    with pytest.raises(UnknownCreditPoolError):
        reading.judge(Gate.build(min_remaining="1", credit_pool="nope"))
    with pytest.raises(ValueError, match="no balance"):
        Reading(0.0, None, CreditsAuthError("no"), None).judge(five_hundred)


async def test_a_last_check_takes_the_newest_read_while_others_read_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each trigger's last check, at its own deadline, takes a read made within the shortest
    interval when other triggers read too: the deadlines of many triggers add no reads. A
    trigger alone reads for its last check, as before sharing."""
    from airflow_provider_credits.triggers.shared_reads import Reading

    reads: list[float] = []

    async def counted_read(self: AccountReader, requested: float) -> Reading:
        reads.append(asyncio.get_running_loop().time())
        self._last = Reading(reads[-1], None, None, None)
        self._task = None
        return self._last

    monkeypatch.setattr(AccountReader, "_read", counted_read)
    loop = asyncio.get_running_loop()

    async def no_hook() -> Any:
        raise AssertionError("not called")

    reader = AccountReader.join("c", 1.0, no_hook)
    AccountReader.join("c", 5.0, no_hook)
    newest = await reader.read(loop.time())
    assert len(reads) == 1
    since = loop.time()  # a trigger that judged `newest`, asleep since
    assert await reader.read(since, last=True) is newest  # made within 1 s (the shortest interval)
    assert len(reads) == 1
    assert await reader.read(since) is not newest  # a regular check needs a read of its own sleep
    assert len(reads) == 2
    await reader.leave(5.0)
    assert await reader.read(loop.time(), last=True) is not None  # alone: a read of its own
    assert len(reads) == 3
    await reader.leave(1.0)


async def test_a_read_judged_twice_counts_once_toward_max_unreachable_checks(vendor: FakeVendor) -> None:
    from airflow_provider_credits.exceptions import CreditsTransportError as Unreachable
    from airflow_provider_credits.gate import Gate
    from airflow_provider_credits.triggers.shared_reads import Reading

    t = trigger(max_unreachable_checks=3)
    reading = Reading(0.0, None, Unreachable("request timed out: ReadTimeout", vendor="theirstack"), None)
    gate = Gate.from_dict(t.gate_arguments)
    assert await t._check(gate, reading) is None
    assert await t._check(gate, reading) is None  # a last check may judge the newest read again
    assert t._reach.unreachable == 1
    assert await t._check(gate, replace(reading)) is None  # another read counts
    assert t._reach.unreachable == 2
