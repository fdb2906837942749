"""CreditThresholdSensor(on_wait_notifiers=..., on_pass_notifiers=...): once when the gate starts
waiting (with why) and once when it passes, in every mode, rendered on the worker."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from airflow.sdk import timezone

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor
from airflow_provider_credits.version_compat import AirflowRescheduleException
from tests.support.fake_vendor import CONN_ID, credits, http
from tests.support.notifiers import RecordingNotifier, gate_notifier
from tests.support.sensor_modes import MODES, FakeTaskInstance, run_sensor


@pytest.mark.parametrize("mode", MODES)
def test_wait_and_pass_are_notified_once_in_every_mode(vendor: Any, mode: str) -> None:
    vendor.script(credits(100), credits(200), http(503), credits(300), credits(900))
    sent: list[dict[str, Any]] = []
    one = gate_notifier(sent)
    outcome = run_sensor(
        mode,
        credits_conn_id=CONN_ID,
        min_remaining=500,
        poke_interval=0.01,
        timeout=60,
        on_wait_notifiers=[one],
        on_pass_notifiers=one,  # the same notifier object for both: each message rendered afresh
    )
    assert outcome.error is None, outcome.error
    assert [m["subject"] for m in sent] == ["waiting: balance", "passed: None"]
    assert sent[0]["text"] == f"api_credits 100/500 wait_{mode}"
    assert sent[1]["text"] == f"api_credits 900/500 wait_{mode}"
    assert sent[0]["gate"]["reason_text"] == "the vendor's balance is too low"


@pytest.mark.parametrize("mode", MODES)
def test_a_gate_that_passes_at_once_notifies_nothing(vendor: Any, mode: str) -> None:
    vendor.script(credits(900))
    sent: list[dict[str, Any]] = []
    outcome = run_sensor(
        mode,
        credits_conn_id=CONN_ID,
        min_remaining=500,
        poke_interval=0.01,
        on_wait_notifiers=[gate_notifier(sent)],
        on_pass_notifiers=[gate_notifier(sent)],
    )
    assert outcome.error is None and sent == []


def test_transient_errors_are_their_own_reason(vendor: Any) -> None:
    vendor.script(http(503), credits(900))
    sent: list[dict[str, Any]] = []
    outcome = run_sensor(
        "poke",
        credits_conn_id=CONN_ID,
        min_remaining=500,
        poke_interval=0.01,
        on_wait_notifiers=gate_notifier(sent),
    )
    assert outcome.error is None
    assert [m["subject"] for m in sent] == ["waiting: unavailable"]


def test_reschedule_mode_without_a_task_state_store(vendor: Any) -> None:
    """Airflow 3.1/3.2: no store; a check after the try's first reschedule has waited."""
    vendor.script(credits(100), credits(100), credits(900))
    sent: list[dict[str, Any]] = []
    sensor = CreditThresholdSensor(
        task_id="gate",
        credits_conn_id=CONN_ID,
        min_remaining=500,
        mode="reschedule",
        poke_interval=0.01,
        on_wait_notifiers=gate_notifier(sent),
        on_pass_notifiers=gate_notifier(sent),
    )
    ti = FakeTaskInstance("gate")
    for _ in range(5):
        started = timezone.utcnow()
        try:
            copy.deepcopy(sensor).execute({"ti": ti})  # type: ignore[typeddict-item]
            break
        except AirflowRescheduleException:
            ti.first_try = ti.first_try or started
            time.sleep(0.02)
    assert [m["subject"] for m in sent] == ["waiting: balance", "passed: None"]


def test_a_failing_notifier_does_not_fail_the_gate(vendor: Any) -> None:
    vendor.script(credits(100), credits(900))
    outcome = run_sensor(
        "poke",
        credits_conn_id=CONN_ID,
        min_remaining=500,
        poke_interval=0.01,
        on_wait_notifiers=RecordingNotifier("s", "t", [], fail=True),
    )
    assert outcome.error is None and outcome.value["decision"]["met"]


def test_notifiers_must_be_notifiers() -> None:
    with pytest.raises(CreditsConfigError, match="on_wait_notifiers"):
        CreditThresholdSensor(task_id="g", credits_conn_id="c", min_remaining=1, on_wait_notifiers=[print])
