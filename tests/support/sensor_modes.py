"""Run a CreditThresholdSensor in-process in poke, reschedule or deferrable mode.

Poke: ``execute()`` as a worker would. Reschedule: ``execute()`` of a fresh copy of the sensor
(a new process) per check, honouring each ``AirflowRescheduleException`` with a fake task
instance that remembers the first try and a fake task state store.
Deferrable: ``execute()``, then the deferred trigger rebuilt from ``serialize()`` (as after a
triggerer restart) and run with asyncio, its single event fed to ``resume_execution``; again
while the sensor defers anew (a reserving sensor does when others reserved first).
Every mode gets a context whose ``ti`` names a DAG, run, task and map index (for reservations).

Triggers: ``collect`` runs one to its events, ``only_event`` to its single (JSON) event, ``rebuild``
and ``from_row`` rebuild one as the triggerer does; ``PREVIOUS_ROW`` is a row the previous version
stored. ``success_event`` is a success event as the trigger sends it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from airflow.sdk import timezone
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_credits.gate import decide
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor
from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger
from airflow_provider_credits.version_compat import (
    AirflowRescheduleException,
    TaskDeferred,
)
from tests.support.fake_vendor import CONN_ID
from tests.support.reservations import balance

MODES = ("poke", "reschedule", "deferrable")


@dataclass
class Outcome:
    """What a sensor run ended with: a return value or an exception."""

    value: Any = None
    error: BaseException | None = None
    #: what the sensor pushed to XCom under keys of its own (e.g. ``credit_gate_refusal``)
    xcoms: dict[str, Any] = field(default_factory=dict)

    @property
    def error_type(self) -> type[BaseException] | None:
        return None if self.error is None else type(self.error)


class FakeTaskInstance:
    """Just what reschedule mode and reservations ask of ``context["ti"]``."""

    def __init__(self, task_id: str = "gate", run_id: str = "run_1", map_index: int = -1) -> None:
        self.first_try: datetime | None = None
        self.dag_id = "parity_dag"
        self.run_id = run_id
        self.task_id = task_id
        self.map_index = map_index
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = json.loads(json.dumps(value))

    def get_first_reschedule_date(self, context: Any) -> datetime | None:
        return self.first_try


class FakeStateStore:
    """Airflow 3.3's ``context["task_state_store"]``: survives reschedules (and retries)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.values.get(key, default)))

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = json.loads(json.dumps(value))


def make_sensor(mode: str, **kwargs: Any) -> CreditThresholdSensor:
    if mode == "deferrable":
        kwargs["deferrable"] = True
    else:
        kwargs.update(mode=mode, deferrable=False)
    return CreditThresholdSensor(task_id=f"wait_{mode}", **kwargs)


async def collect(trigger: BaseTrigger) -> list[TriggerEvent]:
    return [event async for event in trigger.run()]


def rebuild(trigger: BaseTrigger) -> BaseTrigger:
    """Rebuild a trigger from its JSON-encoded ``serialize()``, as the triggerer does."""
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    return getattr(import_module(module), name)(**json.loads(json.dumps(kwargs)))


def _poke(sensor: CreditThresholdSensor, ti: FakeTaskInstance) -> Any:
    return sensor.execute({"ti": ti})  # type: ignore[typeddict-item]


def _reschedule(sensor: CreditThresholdSensor, ti: FakeTaskInstance) -> Any:
    store = FakeStateStore()
    while True:
        started = timezone.utcnow()
        try:  # each check in a fresh copy, as in a new worker process
            return copy.deepcopy(sensor).execute({"ti": ti, "task_state_store": store})  # type: ignore[typeddict-item]
        except AirflowRescheduleException as again:
            ti.first_try = ti.first_try or started
            time.sleep(max(0.0, (again.reschedule_date - timezone.utcnow()).total_seconds()))


def _deferrable(sensor: CreditThresholdSensor, ti: FakeTaskInstance) -> Any:
    context: Any = {"ti": ti}
    try:
        return sensor.execute(context)
    except TaskDeferred as first:
        assert first.timeout == timedelta(seconds=sensor.timeout)
        deferred = first
    while True:
        events = asyncio.run(collect(rebuild(deferred.trigger)))
        assert len(events) == 1, events
        try:
            return sensor.resume_execution(deferred.method_name, {"event": events[0].payload}, context)
        except TaskDeferred as again:  # refused at resume: waits again until the same deadline
            assert again.trigger.serialize()[1]["deadline"] == deferred.trigger.serialize()[1]["deadline"]
            deferred = again


DRIVERS = {"poke": _poke, "reschedule": _reschedule, "deferrable": _deferrable}


def run_sensor(mode: str, **kwargs: Any) -> Outcome:
    """Build a sensor for ``mode`` with ``kwargs`` and run it to the end."""
    sensor = make_sensor(mode, **kwargs)
    ti = FakeTaskInstance(sensor.task_id)
    try:
        return Outcome(value=DRIVERS[mode](sensor, ti), xcoms=ti.xcoms)
    except Exception as error:
        return Outcome(error=error, xcoms=ti.xcoms)


def success_event(deadline: float, needed: int = 600) -> dict[str, Any]:
    """A success event as the trigger sends it: a real balance and its (met) decision."""
    read = balance(1000).model_copy(update={"account": CONN_ID})
    return {
        "status": "success",
        "balance": read.model_dump(mode="json"),
        "decision": decide(read, min_remaining=needed).model_dump(mode="json"),
        "deadline": deadline,
    }


async def only_event(t: CreditThresholdTrigger) -> dict[str, Any]:
    events = await collect(t)
    assert len(events) == 1
    payload = json.loads(json.dumps(events[0].payload))  # events must be JSON
    assert payload == events[0].payload
    return payload


#: a trigger row as the previous version's ``serialize()`` wrote it (the triggerer may restart
#: with such rows in its table after an upgrade)
PREVIOUS_ROW: dict[str, Any] = {
    "credits_conn_id": CONN_ID,
    "min_remaining": "500",
    "min_remaining_pct": None,
    "credit_pool": None,
    "poke_interval": 0.01,
    "deadline": 2e9,
    "fail_on_transient_errors": False,
    "max_unreachable_checks": 5,
    "reached": True,
    "unreachable_checks": 0,
}


CLASSPATH = "airflow_provider_credits.triggers.credit_threshold.CreditThresholdTrigger"


def from_row(classpath: str, kwargs: dict[str, Any]) -> CreditThresholdTrigger:
    """Rebuild a trigger from a stored row, as the triggerer does."""
    from importlib import import_module

    module_name, name = classpath.rsplit(".", 1)
    built = getattr(import_module(module_name), name)(**json.loads(json.dumps(kwargs)))
    assert isinstance(built, CreditThresholdTrigger)
    return built
