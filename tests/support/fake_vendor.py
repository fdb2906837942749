"""A scripted fake vendor (respx) for sensor and trigger unit tests.

``vendor.script(credits(100), http(500), credits(800))`` makes the TheirStack balance
endpoint answer with those steps in order, repeating the last one; ``script.calls`` counts
the requests. The connection ``CONN_ID`` (type theirstack) points at it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
import respx

from tests.support.vendor_api import mock_async_transport

CONN_ID = "credits_test"
BASE_URL = "http://vendor.test"
BALANCE_URL = f"{BASE_URL}/v0/billing/credit-balance"
SECRET = "sk-test-secret-42424242"

Step = Callable[[], httpx.Response]


def credits(remaining: int, limit: int = 1000) -> Step:
    """A 200 balance whose primary pool ``api_credits`` has ``remaining`` of ``limit``."""
    body = {
        "api_credits": limit,
        "used_api_credits": limit - remaining,
        "ui_credits": 50,
        "used_ui_credits": 0,
    }
    return lambda: httpx.Response(200, json=body)


def http(status: int) -> Step:
    """An error response with a JSON error body."""
    return lambda: httpx.Response(status, json={"error": {"message": f"status {status}"}})


def read_timeout() -> Step:
    """No response: the read times out."""

    def step() -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    return step


def refused() -> Step:
    """No response: the connection is refused (a wrong host or port)."""

    def step() -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    return step


class Script:
    """Plays ``steps`` in order, one per request, then keeps repeating the last one."""

    def __init__(self, steps: tuple[Step, ...]) -> None:
        self.steps = steps
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        return step()


class FakeVendor:
    def __init__(self, router: respx.MockRouter) -> None:
        self.router = router

    def script(self, *steps: Step) -> Script:
        script = Script(steps)
        self.router.get(BALANCE_URL).mock(side_effect=script)
        return script


def connection_env(conn_type: str = "theirstack", **fields: object) -> str:
    """JSON for an ``AIRFLOW_CONN_<ID>`` variable pointing at the fake vendor."""
    return json.dumps({"conn_type": conn_type, "host": BASE_URL, "password": SECRET, **fields})


@pytest.fixture
def vendor(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVendor]:
    """The fake vendor, with connection ``CONN_ID`` pointing at it."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_env())
    with respx.mock(assert_all_called=False) as router:
        mock_async_transport(router, monkeypatch)
        yield FakeVendor(router)
