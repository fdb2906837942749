"""CreditThresholdSensor details that the parity matrix does not cover."""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from airflow_provider_credits.exceptions import (
    CreditsAuthError,
    CreditsConfigError,
    CreditsError,
    UnknownCreditPoolError,
)
from airflow_provider_credits.gate import error_payload
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor
from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger
from airflow_provider_credits.version_compat import (
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from tests.support.fake_vendor import BASE_URL, CONN_ID, SECRET, FakeVendor, connection_env, credits, http
from tests.support.fake_vendor import refused as refused_step
from tests.support.sensor_modes import FakeTaskInstance, collect, success_event
from tests.support.vendor_api import load, mock_async_transport


def sensor(**kwargs: Any) -> CreditThresholdSensor:
    return CreditThresholdSensor(
        **{"task_id": "gate", "credits_conn_id": CONN_ID, "min_remaining": 500, **kwargs}
    )


def test_init_does_no_io_and_defaults() -> None:
    with respx.mock(assert_all_mocked=True) as router:  # any request would fail the test
        gate = CreditThresholdSensor(
            task_id="gate", credits_conn_id=CONN_ID, min_remaining="{{ ti.xcom_pull('plan') }}"
        )
    assert not router.calls
    assert gate.credits_conn_id == CONN_ID
    assert gate.credit_pool is None
    assert gate.template_fields == (
        "credits_conn_id",
        "min_remaining",
        "min_remaining_pct",
        "credit_pool",
        "reserve",
        "reservation_conn_id",
        "budget",
        "budget_period",
        "budget_key",
        "min_runway",
        "history_conn_id",
    )
    assert gate.reserve is None
    assert gate.fail_on_transient_errors is False


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_remaining": None}, "give min_remaining, min_remaining_pct or both"),
        ({"min_remaining": -5}, "must not be negative"),
        ({"min_remaining": True}, "got bool"),
        ({"min_remaining_pct": 150}, "at most 100"),
    ],
)
def test_literal_thresholds_are_checked_at_parse_time(kwargs: dict, match: str) -> None:
    with pytest.raises(CreditsConfigError, match=match):
        sensor(**kwargs)


def test_deferrable_defaults_to_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:

    import airflow_provider_credits.sensors.credit_threshold as module

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    try:
        assert (
            importlib.reload(module)
            .CreditThresholdSensor(task_id="g", credits_conn_id="c", min_remaining=1)
            .deferrable
            is True
        )
    finally:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
        importlib.reload(module)


def test_thresholds_render_from_templates(vendor: FakeVendor) -> None:
    """Templates render to strings (e.g. batch size x cost per record from XCom)."""
    vendor.script(credits(700))
    gate = sensor(min_remaining="{{ batch * cost }}", min_remaining_pct="{{ pct }}", credit_pool="{{ pool }}")
    gate.render_template_fields({"batch": 120, "cost": 5, "pct": "65", "pool": "api_credits"})  # type: ignore[typeddict-unknown-key]
    assert (gate.min_remaining, gate.min_remaining_pct) == ("600", "65")
    result = gate.poke({})
    assert result.is_done
    value = result.xcom_value
    assert isinstance(value, dict)
    assert value["decision"]["needed"] == 650


def test_no_pool_means_the_primary_pool(vendor: FakeVendor) -> None:
    vendor.script(credits(700))
    result = sensor(credit_pool=None).poke({})
    assert result.is_done
    assert result.xcom_value["decision"]["pool"] == "api_credits"


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_pool_name_is_refused_at_parse_time(empty: str) -> None:
    """An empty name would silently gate on the primary pool (as a template rendered empty would)."""
    with pytest.raises(CreditsConfigError, match=r"credit_pool is .*name a pool, or leave credit_pool out"):
        sensor(credit_pool=empty)


def test_unknown_pool_error_is_raised_at_the_first_poke(vendor: FakeVendor) -> None:
    vendor.script(credits(700))
    with pytest.raises(UnknownCreditPoolError) as raised:
        sensor(credit_pool="direct_dials").poke({})
    assert raised.value.available == ["api_credits", "ui_credits"]


def test_waiting_logs_one_line_per_check(vendor: FakeVendor) -> None:
    vendor.script(credits(120), http(503))
    gate = sensor(poke_interval=45)
    with capture_logs() as logs:
        assert not gate.poke({})
        assert not gate.poke({})
    assert [(line["log_level"], line["event"]) for line in logs] == [
        (
            "info",
            f"connection '{CONN_ID}': theirstack pool 'api_credits': 120 of 1000 credits remaining, "
            "needed 500: not enough; next check in 45s",
        ),
        (
            "warning",
            f"connection '{CONN_ID}': theirstack pool 'api_credits': balance unavailable, transient error: [theirstack, GET "
            "/v0/billing/credit-balance, HTTP 503] status 503; next check in 45s",
        ),
    ]
    assert SECRET not in json.dumps(logs)


@pytest.mark.parametrize(
    ("conn_type", "extra", "path", "body", "pool"),
    [
        (
            "clay",
            {"workspace_id": "42"},
            "/v3/workspaces/42/credits",
            {"remainingCredits": 800, "totalCredits": 1000},
            "credits",
        ),
        ("clodura", {}, "/api/v1/credits", {"remainingCredits": 800}, "credits"),
        (
            "theirstack",
            {},
            "/v0/billing/credit-balance",
            {"api_credits": 900, "used_api_credits": 100, "ui_credits": 0, "used_ui_credits": 0},
            "api_credits",
        ),
        (
            "trendtrack",
            {},
            "/v1/usage",
            {"workspace": {"id": "w1"}, "credits": {"totalRemaining": 800}},
            "credits",
        ),
    ],
)
def test_hook_is_chosen_from_the_connection_type(
    monkeypatch: pytest.MonkeyPatch, conn_type: str, extra: dict, path: str, body: dict, pool: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ANY_VENDOR", connection_env(conn_type, extra=extra))
    with respx.mock as router:
        route = router.get(f"{BASE_URL}{path}").mock(return_value=httpx.Response(200, json=body))
        result = sensor(credits_conn_id="any_vendor").poke({})
    assert route.call_count == 1
    assert result.is_done
    value = result.xcom_value
    assert isinstance(value, dict)
    assert (value["vendor"], value["decision"]["pool"]) == (conn_type, pool)
    assert value["decision"]["remaining"] == 800
    assert SECRET not in json.dumps(value)


def test_wrong_connection_type_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NOT_CREDITS", json.dumps({"conn_type": "http", "host": BASE_URL}))
    with pytest.raises(CreditsConfigError, match="must have one of the types"):
        sensor(credits_conn_id="not_credits").poke({})


def test_deferral_hands_the_trigger_json_primitives(vendor: FakeVendor) -> None:
    vendor.script(credits(100))
    gate = sensor(
        deferrable=True,
        min_remaining="250.5",
        min_remaining_pct=10,
        credit_pool="api_credits",
        poke_interval=30,
        timeout=600,
        fail_on_transient_errors=True,
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        gate.execute({})
    assert deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert isinstance(trigger, CreditThresholdTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_credits.triggers.credit_threshold.CreditThresholdTrigger"
    deadline = kwargs.pop("deadline")
    assert before + 600 <= deadline <= time.time() + 600
    assert kwargs == {
        "credits_conn_id": CONN_ID,
        "min_remaining": "250.5",
        "min_remaining_pct": "10",
        "credit_pool": "api_credits",
        "poke_interval": 30.0,
        "fail_on_transient_errors": True,
        "max_unreachable_checks": 5,
        "reached": True,  # the worker's check got an answer
        "unreachable_checks": 0,
    }


def test_deferrable_sensor_returns_at_once_when_enough(vendor: FakeVendor) -> None:
    script = vendor.script(credits(800))
    value = sensor(deferrable=True).execute({})
    assert value["decision"]["met"] is True
    assert script.calls == 1


def test_execute_complete_uses_the_event_without_fetching(vendor: FakeVendor) -> None:
    script = vendor.script(credits(0))
    event = success_event(time.time() + 60)
    assert sensor().execute_complete({}, event) == {**event["balance"], "decision": event["decision"]}
    assert script.calls == 0


@pytest.mark.parametrize(
    ("soft_fail", "raised"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_execute_complete_timeout(soft_fail: bool, raised: type[Exception]) -> None:
    with pytest.raises(raised, match="last check: pool"):
        sensor(soft_fail=soft_fail).execute_complete({}, {"status": "timeout", "message": "last check: pool"})


def test_execute_complete_reraises_the_vendor_error() -> None:
    error = CreditsAuthError(
        "bad key (check the API key)", vendor="clay", method="GET", path="/v3/x", status=401
    )
    with pytest.raises(CreditsAuthError) as raised:
        sensor().execute_complete({}, {"status": "error", **error_payload(error)})
    assert str(raised.value) == str(error)


GOOD = success_event(2e9)

MALFORMED_EVENTS = {
    "none": (None, "not an event of CreditThresholdTrigger"),
    "string": ("success", "not an event of CreditThresholdTrigger"),
    "bogus_status": ({"status": "bogus"}, "not an event of CreditThresholdTrigger"),
    "no_status": ({"balance": GOOD["balance"]}, "not an event of CreditThresholdTrigger"),
    "success_without_balance": ({"status": "success", "decision": GOOD["decision"]}, "without balance"),
    "success_without_decision": (
        {"status": "success", "balance": GOOD["balance"], "deadline": 1.0},
        "without decision",
    ),
    "success_with_bad_balance": ({**GOOD, "balance": {"vendor": "clay"}}, "unusable balance or decision"),
    "success_with_bad_decision": ({**GOOD, "decision": {"message": "ok"}}, "unusable balance or decision"),
    "success_not_met": ({**GOOD, "decision": {**GOOD["decision"], "met": False}}, "decision is not met"),
    "success_bad_deadline": ({**GOOD, "deadline": "soon"}, "deadline is not a number"),
    "success_nan_deadline": ({**GOOD, "deadline": math.nan}, "deadline is not a number"),
    "success_infinite_deadline": ({**GOOD, "deadline": math.inf}, "deadline is not a number"),
    "success_decision_extra_key": (
        {**GOOD, "decision": {**GOOD["decision"], "secret": "x"}},
        "decision has unknown keys ['secret']",
    ),
    "success_met_below_needed": (
        {**GOOD, "decision": {**GOOD["decision"], "remaining": 0, "reserved": 0, "needed": 5}},
        "decision is met with remaining - reserved below needed",
    ),
    "success_decision_pool_not_in_balance": (
        {**GOOD, "decision": {**GOOD["decision"], "pool": "other"}},
        "decision's pool 'other' is not in its balance",
    ),
    "timeout_without_message": ({"status": "timeout"}, "timeout event without message"),
    "error_without_type": ({"status": "error", "message": "x"}, "error event without error_type"),
    "error_with_bad_message": (
        {"status": "error", "error_type": "X", "message": None},
        "message is not text",
    ),
}


@pytest.mark.parametrize("soft_fail", [False, True])
@pytest.mark.parametrize("name", list(MALFORMED_EVENTS))
def test_malformed_trigger_events_fail_naming_the_event_even_with_soft_fail(
    name: str, soft_fail: bool
) -> None:
    """Not one of the trigger's events: a named CreditsError, never a skip (soft_fail is for credits)."""
    event, problem = MALFORMED_EVENTS[name]
    with pytest.raises(CreditsError) as raised:
        sensor(soft_fail=soft_fail).resume_execution("execute_complete", {"event": event}, {})  # type: ignore[arg-type]
    message = str(raised.value)
    assert message.startswith("gate: malformed trigger event (")
    assert problem in message
    assert repr(event)[:40] in message


def test_a_missing_event_fails_naming_it() -> None:
    with pytest.raises(CreditsError, match=r"malformed trigger event .*: None"):
        sensor(soft_fail=True).resume_execution("execute_complete", {}, {})  # type: ignore[arg-type]


def test_an_auth_error_event_fails_under_soft_fail_too() -> None:
    error = CreditsAuthError("bad key", vendor="clay", status=401)
    with pytest.raises(CreditsAuthError):
        sensor(soft_fail=True).resume_execution(
            "execute_complete",
            {"event": {"status": "error", **error_payload(error)}},
            {},  # type: ignore[arg-type]
        )


# --------------------------------------------------------------------------- a limit of 0


async def _trigger_event(**kwargs: Any) -> dict[str, Any]:
    (event,) = await collect(CreditThresholdTrigger(poke_interval=0.01, **kwargs))
    return event.payload


def test_a_pool_whose_limit_is_0_is_not_enough_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trendtrack's documented all-zero answer: keep waiting (poke and trigger), no CreditsConfigError."""
    monkeypatch.setenv("AIRFLOW_CONN_TT", connection_env("trendtrack"))
    gate_args = {"credits_conn_id": "tt", "credit_pool": "recurring", "min_remaining_pct": 10}
    with respx.mock as router:
        mock_async_transport(router, monkeypatch)
        route = router.get(f"{BASE_URL}/v1/usage").mock(
            return_value=httpx.Response(200, json=load("trendtrack", "usage"))
        )
        with capture_logs() as logs:
            result = sensor(min_remaining=None, **gate_args).poke({})
        event = asyncio.run(
            _trigger_event(
                min_remaining_pct="10",
                deadline=time.time() - 1,
                **{k: v for k, v in gate_args.items() if k != "min_remaining_pct"},
            )
        )
    assert not result.is_done
    assert "trendtrack pool 'recurring': 0 of 0 credits remaining" in logs[0]["event"]
    assert (event["status"], route.call_count) == ("timeout", 2)
    assert "no percentage of it can be met" in event["message"]


# --------------------------------------------------------------------------- timeout clock per try


def test_deferrable_timeout_clock_restarts_at_each_try(
    vendor: FakeVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each try (``retries``) defers with a deadline of its own start plus ``timeout``."""
    import airflow_provider_credits.sensors.credit_threshold as module

    vendor.script(credits(100))
    clock = [1_000_000.0]
    monkeypatch.setattr(module, "time", SimpleNamespace(time=lambda: clock[0]))
    gate = sensor(deferrable=True, timeout=600, retries=2)
    deadlines = []
    for try_number in (1, 2):
        ti = FakeTaskInstance("gate")
        ti.try_number = try_number  # type: ignore[attr-defined]
        with pytest.raises(TaskDeferred) as deferred:
            gate.execute({"ti": ti})  # type: ignore[typeddict-item]
        assert deferred.value.timeout == timedelta(seconds=600)
        deadlines.append(deferred.value.trigger.serialize()[1]["deadline"])
        clock[0] += 900  # try 1 timed out after its 600 s; the retry starts 300 s later
    assert deadlines == [1_000_600.0, 1_001_500.0]


def test_reschedule_timeout_clock_restarts_at_each_try(vendor: FakeVendor) -> None:
    """Reschedule mode measures from the try's first check: Airflow deletes a try's reschedules
    when the next try starts, so ``get_first_reschedule_date`` is None again on a retry."""
    vendor.script(credits(100))
    gate = sensor(mode="reschedule", timeout=600, retries=1)
    first_try = FakeTaskInstance("gate")
    first_try.first_try = datetime.now(timezone.utc) - timedelta(seconds=601)
    with pytest.raises(AirflowSensorTimeout):
        gate.execute({"ti": first_try})  # type: ignore[typeddict-item]
    with pytest.raises(AirflowRescheduleException):  # the retry checks and waits again
        gate.execute({"ti": FakeTaskInstance("gate")})  # type: ignore[typeddict-item]


# --------------------------------------------------------------------------- reservations


def test_reservation_arguments() -> None:
    assert sensor(reservation_conn_id="db").reserve is True  # a connection alone reserves what is needed
    alone = CreditThresholdSensor(task_id="g", credits_conn_id="c", reserve=600, reservation_conn_id="db")
    assert (alone.min_remaining, alone.reserve) == (600, 600)
    assert sensor(reservation_conn_id="db", reservation_ttl=90).reservation_ttl == timedelta(seconds=90)
    with pytest.raises(CreditsConfigError, match="reservation_conn_id"):
        sensor(reserve=True)
    with pytest.raises(CreditsConfigError, match="must not be negative"):
        sensor(reserve=-1, reservation_conn_id="db")
    with pytest.raises(CreditsConfigError, match="reservation_ttl must be positive"):
        sensor(reservation_conn_id="db", reservation_ttl=0)


def test_reschedule_without_a_state_store_never_fails_a_gate_that_may_have_reached_the_vendor(
    vendor: FakeVendor,
) -> None:
    """Before Airflow 3.3 (no task state store) only the try's first check knows its history."""
    vendor.script(refused_step())
    refused = sensor(mode="reschedule", max_unreachable_checks=1, timeout=600)
    later = FakeTaskInstance("gate")
    later.first_try = datetime.now(timezone.utc)  # not the try's first check: history unknown
    with pytest.raises(AirflowRescheduleException):
        refused.execute({"ti": later})  # type: ignore[typeddict-item]
    with pytest.raises(CreditsError, match="none of 1 checks"):
        refused.execute({"ti": FakeTaskInstance("gate")})  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget": 100}, "need reservation_conn_id"),
        ({"min_runway": 7}, "need reservation_conn_id"),
        ({"budget": 100, "reserve": 600, "reservation_conn_id": "db"}, "could never pass"),
        ({"budget": 1000, "budget_period": "quarter", "reservation_conn_id": "db"}, "budget_period"),
        ({"budget": -5, "reservation_conn_id": "db"}, "budget"),
        ({"budget": 10, "budget_refusal": "panic", "reservation_conn_id": "db"}, "budget_refusal"),
        ({"min_runway": "soon", "reservation_conn_id": "db"}, "min_runway"),
    ],
)
def test_bad_budget_and_runway_arguments_fail_at_parse(kwargs: dict[str, Any], match: str) -> None:
    from airflow_provider_credits.exceptions import CreditsConfigError

    with pytest.raises(CreditsConfigError, match=match):
        sensor(**kwargs)


def test_templated_budget_is_checked_once_rendered() -> None:
    gate = sensor(budget="{{ params.budget }}", budget_period="week", reservation_conn_id="db")
    assert gate.reserve is True and gate.budget == "{{ params.budget }}"


def test_a_literal_gate_is_validated_once_at_construction(vendor: FakeVendor, parses: list) -> None:
    vendor.script(credits(100), credits(100), credits(900))
    sensor = CreditThresholdSensor(task_id="gate", credits_conn_id=CONN_ID, min_remaining=500)
    assert parses == [(500, None)]
    assert [bool(sensor.poke({})) for _ in range(3)] == [False, False, True]  # type: ignore[arg-type]
    assert parses == [(500, None)]


def test_a_templated_gate_is_validated_once_rendered_and_again_only_when_it_changes(
    vendor: FakeVendor, parses: list
) -> None:
    vendor.script(credits(700), credits(700), credits(700))
    sensor = CreditThresholdSensor(
        task_id="gate", credits_conn_id=CONN_ID, min_remaining="{{ need }}", min_remaining_pct=10
    )
    assert parses == [("0", 10)]  # the literal percentage is checked at parse time
    sensor.render_template_fields({"need": 600})  # type: ignore[typeddict-unknown-key]
    assert sensor.poke({}).is_done  # type: ignore[arg-type]
    assert sensor.poke({}).is_done  # type: ignore[arg-type]
    assert parses == [("0", 10), ("600", 10)]
    sensor.min_remaining = "800"  # rendered again with other values: a new gate
    assert not sensor.poke({}).is_done  # type: ignore[arg-type]
    assert parses[-1] == ("800", 10)
    assert sensor.gate.thresholds.min_remaining == Decimal(800)


def test_credits_conn_id_is_required() -> None:
    """No default vendor: a sensor without a connection fails when the DAG file is parsed."""
    with pytest.raises(TypeError, match="missing keyword argument 'credits_conn_id'"):
        CreditThresholdSensor(task_id="gate", min_remaining=500)  # type: ignore[call-arg]


def test_credits_conn_id_may_come_from_default_args() -> None:
    from airflow.sdk import DAG

    with DAG("gated", schedule=None, default_args={"credits_conn_id": "theirstack_default"}):
        sensor = CreditThresholdSensor(task_id="gate", min_remaining=500)  # type: ignore[call-arg]
    assert sensor.credits_conn_id == "theirstack_default"


def test_a_dag_file_without_credits_conn_id_is_an_import_error(tmp_path: Any) -> None:
    from tests.support.airflow_env import dag_bag

    (tmp_path / "no_connection.py").write_text(
        "from airflow.sdk import DAG\n"
        "from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor\n"
        "with DAG('no_connection', schedule=None):\n"
        "    CreditThresholdSensor(task_id='gate', min_remaining=500)\n"
    )
    bag = dag_bag(str(tmp_path))
    assert "no_connection" not in bag.dag_ids
    (error,) = bag.import_errors.values()
    assert "missing keyword argument 'credits_conn_id'" in error


def test_a_deferrable_gate_needs_a_poke_interval_above_zero() -> None:
    from airflow_provider_credits.exceptions import CreditsConfigError

    with pytest.raises(CreditsConfigError, match=r"deferrable gate needs poke_interval > 0"):
        sensor(deferrable=True, poke_interval=0)
    assert sensor(deferrable=False, poke_interval=0).poke_interval == 0  # poke mode: Airflow's choice
