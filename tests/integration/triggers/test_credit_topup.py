"""CreditTopupTrigger: crossings (once each, never on a level), flapping balances, hysteresis,
restarts (a new instance from serialize() reads the stored side), and serialize() stability."""

from __future__ import annotations

import asyncio
import json
import uuid
from importlib import import_module
from typing import Any

import pytest

from airflow_provider_credits.models import CreditBalance, CreditPool
from airflow_provider_credits.triggers.credit_topup import BELOW, CreditTopupTrigger
from tests.support.fake_vendor import CONN_ID, credits, http
from tests.support.sandbox import until_requested


def balance(remaining: float, limit: float = 5000) -> CreditBalance:
    return CreditBalance(
        vendor="theirstack",
        account="acme",
        pools=(CreditPool(name="api_credits", remaining=remaining, limit=limit),),
    )


def rebuild(trigger: CreditTopupTrigger) -> CreditTopupTrigger:
    """A new instance from the JSON of serialize(), as a (re)started triggerer builds it."""
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    return getattr(import_module(module), name)(**json.loads(json.dumps(kwargs)))


@pytest.fixture
def make(sqlite_db: Any) -> Any:
    conn_id = f"acct_{uuid.uuid4().hex[:6]}"

    def build(**kwargs: Any) -> CreditTopupTrigger:
        kwargs.setdefault("threshold", 1000)
        return CreditTopupTrigger(credits_conn_id=conn_id, state_conn_id=sqlite_db.conn_id, **kwargs)

    return build


def feed(trigger: CreditTopupTrigger, amounts: list[float]) -> list[str | None]:
    """The crossing each read yields (None: no event)."""

    async def go() -> list[str | None]:
        out = []
        for amount in amounts:
            event = await trigger.observe(balance(amount))
            out.append(None if event is None else event["crossing"])
        return out

    return asyncio.run(go())


def test_a_level_is_no_crossing_and_a_top_up_fires_once(make: Any) -> None:
    trigger = make()
    assert feed(trigger, [100, 100, 1500, 1500, 2000, 900, 800, 1200, 1200]) == [
        None,
        None,
        "up",
        None,
        None,
        None,
        None,
        "up",
        None,
    ]


def test_a_first_read_above_the_threshold_fires_nothing(make: Any) -> None:
    assert feed(make(), [5000, 5000]) == [None, None]


def test_flapping_balance_fires_at_every_crossing_without_hysteresis(make: Any) -> None:
    assert feed(make(), [999, 1000, 999, 1000, 999, 1000]) == [None, "up", None, "up", None, "up"]


def test_hysteresis_fires_once_while_the_balance_wobbles(make: Any) -> None:
    trigger = make(rearm_below=800)
    assert feed(trigger, [500, 1000, 999, 900, 1001, 850, 1000, 700, 1000]) == [
        None,
        "up",
        None,
        None,
        None,
        None,
        None,
        None,
        "up",
    ]


def test_direction_both_reports_falls_too(make: Any) -> None:
    trigger = make(direction="both")
    assert feed(trigger, [100, 1500, 200, 300]) == [None, "up", "down", None]


def test_restarts_neither_repeat_nor_lose_a_crossing(make: Any) -> None:
    first = make()
    assert feed(first, [100, 1500]) == [None, "up"]
    # the triggerer restarts while the balance stays above: nothing
    assert feed(rebuild(first), [1600, 1700]) == [None, None]
    second = rebuild(first)
    assert feed(second, [300]) == [None]
    # restarted while the balance was low, topped up before the new instance's first read
    assert feed(rebuild(second), [2500]) == ["up"]
    # two instances at once (a hand-over): one of them reports the next top-up
    a, b = rebuild(first), rebuild(first)
    assert feed(a, [100]) + feed(b, [100]) == [None, None]
    assert feed(a, [3000]) + feed(b, [3000]) == ["up", None]


def test_the_payload_names_balance_and_crossing(make: Any) -> None:
    trigger = make()

    async def go() -> Any:
        await trigger.observe(balance(10))
        return await trigger.observe(balance(1234.5))

    event = asyncio.run(go())
    assert event["crossing"] == "up" and event["previous"] == BELOW
    assert event["remaining"] == 1234.5 and event["limit"] == 5000 and event["threshold"] == 1000
    assert (event["vendor"], event["pool"]) == ("theirstack", "api_credits")
    json.dumps(event)


def test_serialize_is_stable_and_normalized(sqlite_db: Any) -> None:
    a = CreditTopupTrigger(credits_conn_id="c", threshold=1000, state_conn_id="db")
    b = CreditTopupTrigger(credits_conn_id="c", threshold="1000.00", state_conn_id="db", poke_interval=60)
    assert a.serialize() == b.serialize() == rebuild(a).serialize()
    assert a.serialize()[1]["threshold"] == "1000"
    assert a.serialize()[0] == "airflow_provider_credits.triggers.credit_topup.CreditTopupTrigger"


def test_run_polls_the_vendor_and_yields_top_ups(vendor: Any, sqlite_db: Any) -> None:
    """run() against the scripted vendor: errors are waited out, one event per top-up."""
    script = vendor.script(
        credits(100), http(503), credits(200), credits(900), credits(950), credits(100), credits(990)
    )
    trigger = CreditTopupTrigger(
        credits_conn_id=CONN_ID, threshold=900, state_conn_id=sqlite_db.conn_id, poke_interval=0.01
    )

    async def two_events() -> list[dict[str, Any]]:
        events = []
        async for event in trigger.run():
            events.append(event.payload)
            if len(events) == 2:
                break
        return events

    events = asyncio.run(asyncio.wait_for(two_events(), 60))
    assert [(e["crossing"], e["remaining"]) for e in events] == [("up", 900), ("up", 990)]
    assert script.calls >= 7


def test_a_database_that_fails_loses_no_crossing(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the state cannot be stored, nothing fires; the crossing fires once it can."""
    from airflow_provider_credits.exceptions import CreditsStorageError

    trigger = make()
    assert feed(trigger, [100]) == [None]
    real = trigger._store

    def broken(*args: Any) -> Any:
        raise CreditsStorageError("database down")

    monkeypatch.setattr(trigger, "_store", broken)
    assert feed(trigger, [2000, 2000]) == [None, None]
    monkeypatch.setattr(trigger, "_store", real)
    assert feed(trigger, [2000, 2000]) == ["up", None]


@pytest.mark.integration
def test_killed_and_rebuilt_watchers_on_the_sandbox(sandbox: Any, sqlite_db: Any) -> None:
    """run() against the vendor sandbox over HTTP, cancelled (a killed triggerer) and rebuilt from
    serialize() in between: one event per top-up, none after a restart above, a top-up made while
    no watcher runs is reported by the next one."""

    def watcher() -> CreditTopupTrigger:
        return CreditTopupTrigger(
            credits_conn_id="theirstack_default",
            credit_pool="api_credits",
            threshold=5000,
            rearm_below=4000,
            state_conn_id=sqlite_db.conn_id,
            poke_interval=0.05,
        )

    async def events_within(trigger: CreditTopupTrigger, reads: int, action: Any = None) -> list[Any]:
        """Run the trigger until it has judged ``reads`` balance reads made after ``action`` (counted
        by the sandbox, not timed: as many on a loaded machine), then cancel it as a killed
        triggerer would."""
        got: list[Any] = []

        async def consume() -> None:
            async for event in trigger.run():
                got.append(event.payload)

        task = asyncio.ensure_future(consume())
        for _ in range(400):  # until the first read has been judged (the side read or stored)
            if trigger._side is not None:
                break
            await asyncio.sleep(0.05)
        assert trigger._side is not None, "the watcher never read the balance"
        if action is not None:
            await asyncio.to_thread(action)
        # the trigger reads one at a time: once the sandbox has the read after the last one
        # counted, every event of those reads has been yielded
        await until_requested(sandbox, "theirstack", sandbox.request_count("theirstack") + reads + 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return got

    sandbox.set_balance("theirstack", "api_credits", 1000)
    first = watcher()
    events = asyncio.run(events_within(first, 10, lambda: sandbox.topup("theirstack", 5000, "api_credits")))
    assert [(e["crossing"], e["remaining"]) for e in events] == [("up", 6000)]
    assert asyncio.run(events_within(rebuild(first), 10)) == [], "restarted while above: nothing"
    sandbox.spend("theirstack", 3000, "api_credits")
    assert asyncio.run(events_within(rebuild(first), 10)) == [], "a fall is no top-up"
    sandbox.topup("theirstack", 4000, "api_credits")  # while no watcher runs
    events = asyncio.run(events_within(rebuild(first), 10))
    assert [(e["crossing"], e["remaining"]) for e in events] == [("up", 7000)]
