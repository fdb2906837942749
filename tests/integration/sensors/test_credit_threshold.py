"""CreditThresholdSensor reserving on a real database (SQLite): resumed from the trigger, granted or refused."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_credits.reservations import Holder, ReservationStore
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor
from airflow_provider_credits.version_compat import (
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from tests.support.databases import Database
from tests.support.fake_vendor import CONN_ID, FakeVendor, credits
from tests.support.reservations import hold
from tests.support.sensor_modes import FakeTaskInstance, success_event


def sensor(**kwargs: Any) -> CreditThresholdSensor:
    return CreditThresholdSensor(
        **{"task_id": "gate", "credits_conn_id": CONN_ID, "min_remaining": 500, **kwargs}
    )


def reserving(db_conn_id: str, **kwargs: Any) -> CreditThresholdSensor:
    return sensor(reservation_conn_id=db_conn_id, min_remaining=600, **kwargs)


def test_refused_at_resume_defers_again_until_the_same_deadline(
    vendor: FakeVendor, sqlite_db: Database
) -> None:
    script = vendor.script(credits(1000))
    hold(ReservationStore(sqlite_db.conn_id), 500, "got_there_first", connection_id=CONN_ID)
    gate = reserving(sqlite_db.conn_id, deferrable=True)
    deadline = time.time() + 60
    context: Any = {"ti": FakeTaskInstance("gate")}

    with pytest.raises(TaskDeferred) as deferred:
        gate.execute_complete(context, success_event(deadline))

    kwargs = deferred.value.trigger.serialize()[1]
    assert kwargs["deadline"] == deadline
    assert kwargs["reservation"]["reservation_id"] == Holder("parity_dag", "run_1", "gate").reservation_id
    assert deferred.value.timeout is not None and deferred.value.timeout <= timedelta(seconds=60)
    assert script.calls == 0  # the worker reserves with the trigger's balance, it does not read it again


def test_granted_at_resume_returns_the_reservation(vendor: FakeVendor, sqlite_db: Database) -> None:
    script = vendor.script(credits(1000))
    hold(ReservationStore(sqlite_db.conn_id), 300, "other", connection_id=CONN_ID)
    context: Any = {"ti": FakeTaskInstance("gate")}

    value = reserving(sqlite_db.conn_id, deferrable=True).execute_complete(
        context, success_event(time.time() + 60)
    )

    assert (value["decision"]["reserved"], value["reservation"]["amount"]) == (300, 600)
    assert script.calls == 0


@pytest.mark.parametrize(
    ("soft_fail", "error"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_refused_at_resume_after_the_deadline_times_out(
    vendor: FakeVendor, sqlite_db: Database, soft_fail: bool, error: type[Exception]
) -> None:
    hold(ReservationStore(sqlite_db.conn_id), 500, "other", connection_id=CONN_ID)
    gate = reserving(sqlite_db.conn_id, deferrable=True, soft_fail=soft_fail)
    with pytest.raises(error, match="other tasks hold the credits"):
        gate.execute_complete({"ti": FakeTaskInstance("gate")}, success_event(time.time() - 1))  # type: ignore[typeddict-item]
