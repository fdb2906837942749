"""Triggers that share their balance reads (issue 17): one on a connection, its first event, no reader left.

``no_reader_left`` (fixture, registered in ``tests/conftest.py``): the test fails when an account
reader outlives its triggers; the shared-read test modules use it on every test.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger
from airflow_provider_credits.triggers.shared_reads import AccountReader
from tests.support.fake_vendor import CONN_ID

#: seconds between checks in these tests: long enough for a busy machine to wake every
#: trigger of a batch before the next interval, short enough for quick tests
INTERVAL = 0.2


def trigger(**kwargs: Any) -> CreditThresholdTrigger:
    defaults: dict[str, Any] = {
        "credits_conn_id": CONN_ID,
        "min_remaining": "500",
        "poke_interval": INTERVAL,
        "deadline": time.time() + 30,
    }
    return CreditThresholdTrigger(**{**defaults, **kwargs})


async def first_event(t: CreditThresholdTrigger) -> dict[str, Any]:
    async for event in t.run():
        payload = json.loads(json.dumps(event.payload))
        assert payload == event.payload
        return payload
    raise AssertionError("no event")


async def events_of(*triggers: CreditThresholdTrigger) -> list[dict[str, Any]]:
    return await asyncio.gather(*(first_event(t) for t in triggers))


@pytest.fixture
def no_reader_left() -> Iterator[None]:
    """Fails the test when an account reader outlives its triggers (use it on every shared-read test)."""
    yield
    assert not any(AccountReader._open.values()), "a reader outlived its triggers"
