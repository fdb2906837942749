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
from tests.support.notifiers import RecordingNotifier
from tests.support.sensor_modes import MODES, FakeTaskInstance, run_sensor


def notifier(sent: list[dict[str, Any]]) -> RecordingNotifier:
    return RecordingNotifier(
        subject="{{ credit_gate.event }}: {{ credit_gate.reason }}",
        text="{{ credit_gate.pool }} {{ credit_gate.remaining }}/{{ credit_gate.needed }} {{ ti.task_id }}",
        sent=sent,
    )


@pytest.mark.parametrize("mode", MODES)
def test_wait_and_pass_are_notified_once_in_every_mode(vendor: Any, mode: str) -> None:
    vendor.script(credits(100), credits(200), http(503), credits(300), credits(900))
    sent: list[dict[str, Any]] = []
    one = notifier(sent)
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
        on_wait_notifiers=[notifier(sent)],
        on_pass_notifiers=[notifier(sent)],
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
        on_wait_notifiers=notifier(sent),
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
        on_wait_notifiers=notifier(sent),
        on_pass_notifiers=notifier(sent),
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


@pytest.mark.parametrize("mode", MODES)
def test_reservations_of_others_are_the_reason(vendor: Any, sqlite_db: Any, mode: str) -> None:
    """1,000 credits, 500 held by another task for 1 s, 600 needed: the gate waits because of
    the reservation (not the balance) and passes once it expires."""
    from datetime import timedelta

    from airflow_provider_credits.reservations import ReservationStore
    from tests.support.reservations import hold

    hold(ReservationStore(sqlite_db.conn_id), 500, "other", ttl=timedelta(seconds=1), connection_id=CONN_ID)
    vendor.script(credits(1000))
    sent: list[dict[str, Any]] = []
    outcome = run_sensor(
        mode,
        credits_conn_id=CONN_ID,
        min_remaining=600,
        reservation_conn_id=sqlite_db.conn_id,
        poke_interval=0.2,
        timeout=60,
        on_wait_notifiers=notifier(sent),
        on_pass_notifiers=notifier(sent),
    )
    assert outcome.error is None, outcome.error
    assert [m["subject"] for m in sent] == ["waiting: reservations", "passed: None"]


def test_a_budget_refusal_is_the_reason(vendor: Any, sqlite_db: Any) -> None:
    """Plenty of credits, but another DAG holds 400 of the shared 500 budget: the gate (reserving
    200) waits because of the budget, and says so once."""
    from decimal import Decimal

    from airflow_provider_credits.ledger import Budget
    from airflow_provider_credits.reservations import ReservationStore
    from tests.support.reservations import balance, gate, holder

    team = Budget(Decimal(500), "month", "team", "wait")
    other = ReservationStore(sqlite_db.conn_id).reserve(
        gate=gate(400, reserve=Decimal(400)),
        balance=balance(10_000),
        connection_id=CONN_ID,
        holder=holder("other", dag_id="other_dag"),
        budget=team,
    )
    assert other.granted
    vendor.script(credits(900))
    sent: list[dict[str, Any]] = []
    outcome = run_sensor(
        "poke",
        credits_conn_id=CONN_ID,
        reserve=200,
        reservation_conn_id=sqlite_db.conn_id,
        budget=500,
        budget_key="team",
        poke_interval=0.2,
        timeout=1,
        soft_fail=True,
        on_wait_notifiers=notifier(sent),
    )
    assert outcome.error_type is not None and "Skip" in outcome.error_type.__name__
    assert [m["subject"] for m in sent] == ["waiting: budget"]
