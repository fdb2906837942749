"""CreditThresholdTrigger on real databases: reservations of others held in SQLite (and its previous versions' rows)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_credits.reservations import ReservationStore
from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger
from tests.support.databases import Database
from tests.support.fake_vendor import (
    CONN_ID,
    FakeVendor,
    credits,
)
from tests.support.reservations import hold
from tests.support.sensor_modes import CLASSPATH, PREVIOUS_ROW, collect, from_row, only_event


def test_trigger_waits_while_others_hold_the_credits(vendor: FakeVendor, sqlite_db: Database) -> None:
    hold(ReservationStore(sqlite_db.conn_id), 500, "other", connection_id=CONN_ID)
    vendor.script(credits(1000))
    trigger = CreditThresholdTrigger(
        credits_conn_id=CONN_ID,
        min_remaining="600",
        poke_interval=0.05,
        deadline=time.time() + 0.3,
        reservation={
            "conn_id": sqlite_db.conn_id,
            "table": "credit_reservations",
            "reserve": True,
            "reservation_id": "me",
        },
    )
    assert trigger.serialize()[1]["reservation"]["conn_id"] == sqlite_db.conn_id

    events = asyncio.run(collect(trigger))

    assert [e.payload["status"] for e in events] == ["timeout"]
    assert "500 reserved" in events[0].payload["message"]


def test_trigger_does_not_count_its_own_reservation(vendor: FakeVendor, sqlite_db: Database) -> None:
    mine = hold(ReservationStore(sqlite_db.conn_id), 900, "gate", connection_id=CONN_ID)
    assert mine.reservation is not None
    vendor.script(credits(1000))
    deadline = time.time() + 30
    trigger = CreditThresholdTrigger(
        credits_conn_id=CONN_ID,
        min_remaining="600",
        poke_interval=0.01,
        deadline=deadline,
        reservation={
            "conn_id": sqlite_db.conn_id,
            "table": "credit_reservations",
            "reserve": True,
            "reservation_id": mine.reservation.reservation_id,
        },
    )

    (event,) = asyncio.run(collect(trigger))

    assert event.payload["status"] == "success"
    assert (event.payload["decision"]["reserved"], event.payload["deadline"]) == (0, deadline)


@pytest.mark.parametrize("reserve", [True, "600"])
async def test_a_reserving_row_of_the_previous_version_subtracts_the_others(
    vendor: FakeVendor, sqlite_db: Database, reserve: Any
) -> None:
    hold(ReservationStore(sqlite_db.conn_id), 500, "other", connection_id=CONN_ID)
    vendor.script(credits(1000))
    row = {
        **PREVIOUS_ROW,
        "min_remaining": "600",
        "deadline": time.time() + 0.2,
        "reservation": {
            "conn_id": sqlite_db.conn_id,
            "table": "credit_reservations",
            "reserve": reserve,
            "reservation_id": "mine",
        },
    }
    old = from_row(CLASSPATH, row)
    assert old.serialize()[1] == row
    event = await only_event(old)
    assert event["status"] == "timeout"
    assert "500 reserved, needed 600" in event["message"]
    assert "(1 active reservation)" in event["message"]
