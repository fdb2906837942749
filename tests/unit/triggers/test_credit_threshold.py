"""CreditThresholdTrigger driven directly with asyncio."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
from structlog.testing import capture_logs

from airflow_provider_credits.exceptions import (
    CreditsAuthError,
    CreditsConfigError,
    CreditsServerError,
)
from airflow_provider_credits.gate import error_from_payload
from airflow_provider_credits.reservations import Holder
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor
from airflow_provider_credits.triggers import credit_threshold as module
from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger
from tests.support.fake_vendor import CONN_ID, SECRET, FakeVendor, credits, http, read_timeout
from tests.support.sensor_modes import CLASSPATH, PREVIOUS_ROW, collect, from_row, only_event, rebuild


def trigger(**kwargs: Any) -> CreditThresholdTrigger:
    defaults: dict[str, Any] = {
        "credits_conn_id": CONN_ID,
        "min_remaining": "500",
        "poke_interval": 0.01,
        "deadline": time.time() + 30,
    }
    return CreditThresholdTrigger(**{**defaults, **kwargs})


def test_serialize_round_trips() -> None:
    original = trigger(min_remaining_pct="12.5", credit_pool="ui_credits", fail_on_transient_errors=True)
    again = rebuild(original)
    assert again.serialize() == original.serialize()
    assert original.serialize()[1]["credit_pool"] == "ui_credits"


async def test_success_event_carries_balance_and_decision(vendor: FakeVendor) -> None:
    script = vendor.script(credits(100), credits(600))
    event = await only_event(trigger())
    assert event["status"] == "success"
    assert event["balance"]["vendor"] == "theirstack"
    assert event["balance"]["pools"][0]["remaining"] == 600
    assert {k: event["decision"][k] for k in ("met", "pool", "remaining", "needed")} == {
        "met": True,
        "pool": "api_credits",
        "remaining": 600,
        "needed": 500,
    }
    assert script.calls == 2
    assert SECRET not in json.dumps(event)


async def test_keeps_waiting_through_402_and_transient_errors(vendor: FakeVendor) -> None:
    script = vendor.script(http(402), http(429), read_timeout(), http(500), credits(500))
    assert (await only_event(trigger()))["status"] == "success"
    assert script.calls == 5


@pytest.mark.parametrize(
    ("steps", "kwargs", "error_type", "http_status"),
    [
        ((http(401),), {}, CreditsAuthError, 401),
        ((http(403),), {}, CreditsAuthError, 403),
        ((credits(0), http(503)), {"fail_on_transient_errors": True}, CreditsServerError, 503),
    ],
)
async def test_error_event_rebuilds_the_same_error(
    vendor: FakeVendor, steps: tuple, kwargs: dict, error_type: type, http_status: int
) -> None:
    vendor.script(*steps)
    event = await only_event(trigger(**kwargs))
    assert (event["status"], event["error_type"], event["http_status"]) == (
        "error",
        error_type.__name__,
        http_status,
    )
    error = error_from_payload(event)
    assert type(error) is error_type
    assert str(error).startswith(f"[theirstack, GET /v0/billing/credit-balance, HTTP {http_status}]")


async def test_unknown_pool_and_bad_threshold_are_error_events(vendor: FakeVendor) -> None:
    script = vendor.script(credits(800))
    event = await only_event(trigger(credit_pool="nope"))
    assert (event["error_type"], event["pool"], event["available"]) == (
        "UnknownCreditPoolError",
        "nope",
        ["api_credits", "ui_credits"],
    )
    event = await only_event(trigger(min_remaining="many"))
    assert (event["error_type"], event["message"]) == (
        "CreditsConfigError",
        "min_remaining must be a number, got 'many'",
    )
    assert script.calls == 1  # the bad threshold never reached the vendor


async def test_wrong_connection_type_is_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NOT_CREDITS", json.dumps({"conn_type": "http", "host": "http://x"}))
    event = await only_event(trigger(credits_conn_id="not_credits"))
    assert event["error_type"] == "CreditsConfigError"
    assert "must have one of the types" in event["message"]


async def test_deadline_yields_a_timeout_event_after_a_last_check(vendor: FakeVendor) -> None:
    script = vendor.script(credits(100))
    event = await only_event(trigger(deadline=time.time() - 1))
    assert event["status"] == "timeout"
    assert "deadline passed; last check: theirstack pool 'api_credits': 100 of 1000" in event["message"]
    assert script.calls == 1


async def test_sleeps_poke_interval_between_checks_and_closes_the_client(
    vendor: FakeVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    vendor.script(credits(100), credits(100), credits(900))
    sleeps: list[float] = []
    hooks: list[Any] = []
    real_sleep, real_hook = asyncio.sleep, module.aget_credits_hook

    test_loop = asyncio.get_running_loop()

    async def fake_sleep(seconds: float, *args: Any) -> Any:
        if asyncio.get_running_loop() is not test_loop:  # e.g. the sandbox server's thread
            return await real_sleep(seconds, *args)
        sleeps.append(seconds)
        return await real_sleep(0)

    async def spy_hook(conn_id: str, **kwargs: Any) -> Any:
        hooks.append(await real_hook(conn_id, **kwargs))
        return hooks[-1]

    monkeypatch.setattr(module.asyncio, "sleep", fake_sleep)
    monkeypatch.setattr(module, "aget_credits_hook", spy_hook)
    assert (await only_event(trigger(poke_interval=42, deadline=time.time() + 3600)))["status"] == "success"
    assert sleeps == [42.0, 42.0, 42.0]
    assert len(hooks) == 1
    assert hooks[0]._atransport is None


@pytest.mark.parametrize(("poke_interval", "closes_between_polls"), [(0.01, False), (42, True)])
async def test_keeps_its_client_between_close_polls_and_always_closes_at_the_end(
    vendor: FakeVendor, monkeypatch: pytest.MonkeyPatch, poke_interval: float, closes_between_polls: bool
) -> None:
    """Polls within httpx's keep-alive reuse one client; longer waits hold no socket; the end closes it."""
    vendor.script(credits(100), credits(100), credits(900))
    closes: list[bool] = []
    hooks: list[Any] = []
    real_hook, real_sleep = module.aget_credits_hook, asyncio.sleep

    async def spy_hook(conn_id: str, **kwargs: Any) -> Any:
        hook = await real_hook(conn_id, **kwargs)
        real_aclose = hook.aclose

        async def aclose() -> None:
            closes.append(hook._atransport is not None)
            await real_aclose()

        hook.aclose = aclose
        hooks.append(hook)
        return hook

    async def no_wait(seconds: float, *args: Any) -> Any:
        return await real_sleep(0)

    monkeypatch.setattr(module, "aget_credits_hook", spy_hook)
    if poke_interval > module.KEEPALIVE_SECONDS:
        monkeypatch.setattr(module.asyncio, "sleep", no_wait)
    assert (await only_event(trigger(poke_interval=poke_interval)))["status"] == "success"
    assert len(hooks) == 1
    assert hooks[0]._atransport is None  # closed at the end either way
    # one real close per poll when polls are far apart; otherwise only the final one
    assert closes.count(True) == (3 if closes_between_polls else 1)


async def test_logs_a_changed_check_at_once_and_an_unchanged_one_once_a_minute(
    vendor: FakeVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting on an unchanged balance (or error) logs one line a minute, not one per poll."""
    vendor.script(*[credits(100)] * 4, credits(200), http(503), http(503), credits(900))
    clock = [0.0]
    monkeypatch.setattr(module, "time", SimpleNamespace(time=time.time, monotonic=lambda: clock[0]))
    real_check = CreditThresholdTrigger._check

    async def check_then_tick(self: CreditThresholdTrigger, *args: Any) -> Any:
        result = await real_check(self, *args)
        clock[0] += 25  # 25 s between checks
        return result

    monkeypatch.setattr(CreditThresholdTrigger, "_check", check_then_tick)
    with capture_logs() as logs:
        assert (await only_event(trigger()))["status"] == "success"
    lines = [(line["log_level"], line["event"].split(": ", 2)[-1].split(";")[0]) for line in logs]
    assert lines == [
        ("info", "100 of 1000 credits remaining, needed 500: not enough"),  # t=0 (25, 50: unchanged)
        ("info", "100 of 1000 credits remaining, needed 500: not enough"),  # t=75: a minute later
        ("info", "200 of 1000 credits remaining, needed 500: not enough"),  # t=100: changed
        (
            "warning",
            "balance unavailable, transient error: [theirstack, GET /v0/billing/credit-balance, HTTP 503] status 503",
        ),
    ]  # t=150: the same error again, unlogged; t=175: enough


def test_the_triggers_of_a_class_share_one_logger() -> None:
    """Not one built per trigger on its first line: at thousands of triggers starting together
    that cost more than the lines themselves. A subclass logs under its own name."""

    class Subclass(CreditThresholdTrigger):
        pass

    log = trigger().log
    assert trigger().log is log
    sub = Subclass(credits_conn_id=CONN_ID, deadline=time.time() + 30).log
    assert sub is not log
    assert Subclass(credits_conn_id=CONN_ID, deadline=time.time() + 30).log is sub
    assert trigger().log is log


# --------------------------------------------------------------------------- rows of earlier versions


async def test_a_row_of_the_previous_version_runs_and_serializes_unchanged(vendor: FakeVendor) -> None:
    vendor.script(credits(100), credits(600))
    old = from_row(CLASSPATH, PREVIOUS_ROW)
    assert old.serialize() == (CLASSPATH, PREVIOUS_ROW)
    event = await only_event(old)
    assert (event["status"], event["decision"]["needed"], event["deadline"]) == ("success", 500, 2e9)


async def test_a_row_from_before_max_unreachable_checks_still_runs(vendor: FakeVendor) -> None:
    vendor.script(credits(600))
    older = {
        k: v
        for k, v in PREVIOUS_ROW.items()
        if k not in ("max_unreachable_checks", "reached", "unreachable_checks")
    }
    assert (await only_event(from_row(CLASSPATH, older)))["status"] == "success"


def test_the_sensor_hands_the_trigger_the_previous_versions_shape(vendor: FakeVendor) -> None:
    """New rows keep the old keys and shapes: an old triggerer reads them too (rolling upgrade)."""
    from airflow_provider_credits.version_compat import TaskDeferred
    from tests.support.sensor_modes import FakeTaskInstance

    vendor.script(credits(100))
    sensor = CreditThresholdSensor(
        task_id="gate",
        credits_conn_id=CONN_ID,
        reserve="600.5",
        reservation_conn_id="db",
        deferrable=True,
        poke_interval=0.01,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": FakeTaskInstance("gate")})  # type: ignore[typeddict-item]
    kwargs = deferred.value.trigger.serialize()[1]
    assert set(kwargs) == {*PREVIOUS_ROW, "reservation"}
    assert (kwargs["min_remaining"], kwargs["min_remaining_pct"]) == ("600.5", None)
    assert kwargs["reservation"] == {
        "conn_id": "db",
        "table": "credit_reservations",
        "reserve": "600.5",
        "reservation_id": Holder("parity_dag", "run_1", "gate").reservation_id,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert from_row(CLASSPATH, kwargs).serialize()[1] == kwargs  # stable through a restart


def test_a_reservation_without_its_keys_is_refused_naming_them() -> None:

    with pytest.raises(CreditsConfigError, match=r"unusable reservation ticket \(conn_id, reservation_id\)"):
        trigger(reservation={"table": "t", "reserve": True})


def test_the_trigger_validates_its_gate_once_per_run(vendor: FakeVendor, parses: list) -> None:
    import asyncio
    import time

    from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger, _gate_of

    _gate_of.cache_clear()  # equal gate arguments are parsed once per process (gate_of)
    vendor.script(credits(100), credits(100), credits(900))
    trigger = CreditThresholdTrigger(
        credits_conn_id=CONN_ID, min_remaining="500", poke_interval=0.01, deadline=time.time() + 30
    )
    (event,) = asyncio.run(collect(trigger))
    assert event.payload["status"] == "success"
    assert parses == [("500", None)]  # three checks


def test_equal_gate_arguments_are_parsed_once() -> None:
    from airflow_provider_credits.exceptions import CreditsConfigError
    from airflow_provider_credits.triggers.credit_threshold import gate_of

    first, second = trigger(min_remaining="500"), trigger(min_remaining="500")
    assert gate_of(first.gate_arguments) is gate_of(second.gate_arguments)
    assert gate_of(trigger(min_remaining=1).gate_arguments).thresholds.min_remaining == 1
    with pytest.raises(CreditsConfigError):  # True is not the number 1, cached or not
        gate_of(trigger(min_remaining=True).gate_arguments)
    with pytest.raises(CreditsConfigError):  # an error is raised again, not kept
        gate_of(trigger(min_remaining=True).gate_arguments)
    with pytest.raises(CreditsConfigError):  # a value that cannot be a key is parsed without the cache
        gate_of({**first.gate_arguments, "min_remaining": ["500"]})


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf")])
def test_a_poke_interval_that_would_read_without_pause_is_refused(interval: float) -> None:
    """With 0 (or a negative or NaN interval) a trigger sent balance reads back to back."""
    from airflow_provider_credits.exceptions import CreditsConfigError

    with pytest.raises(CreditsConfigError, match="poke_interval must be a positive number"):
        trigger(poke_interval=interval)
