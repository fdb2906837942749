"""Fixtures of the hook tests: connections from env vars, a mocked vendor API, a fake clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import respx

from airflow_provider_credits.hooks import base
from airflow_provider_credits.hooks.base import CreditsHook
from tests.support.vendor_api import BASE_URL, MODES, VENDOR_BY_TYPE, conn_json, mock_async_transport


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Run the test once through the sync API and once through the async one."""
    return request.param


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.MockRouter]:
    """The vendor API, mocked at ``BASE_URL`` (sync and async); every route a test adds must be called."""
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as router:
        mock_async_transport(router, monkeypatch)
        yield router


@pytest.fixture
def set_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define connection ``conn_id`` as an ``AIRFLOW_CONN_<ID>`` env var; return the conn id."""

    def define(conn_type: str, conn_id: str | None = None, **kwargs: Any) -> str:
        conn_id = conn_id or f"{conn_type}_test"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json(conn_type, **kwargs))
        return conn_id

    return define


@pytest.fixture
def make_hook(set_conn: Callable[..., str]) -> Callable[..., CreditsHook]:
    """Build a vendor hook on a fresh env-var connection, with near-zero backoff.

    ``make_hook("clodura", password=..., extra={...}, max_retries=2)``: ``extra`` overrides
    the vendor's default extras, other keywords go to the hook.
    """

    def build(
        conn_type: str,
        *,
        password: str | None = None,
        login: str | None = None,
        host: str = BASE_URL,
        extra: dict[str, Any] | None = None,
        **hook_kwargs: Any,
    ) -> CreditsHook:
        vendor = VENDOR_BY_TYPE[conn_type]
        extras = {**vendor.extra, **(extra or {})}
        conn_id = set_conn(conn_type, password=password, login=login, host=host, **extras)
        hook_kwargs.setdefault("backoff", 0.001)
        return vendor.hook(conn_id=conn_id, **hook_kwargs)

    return build


class FakeClock:
    """Stands in for ``time`` and ``asyncio`` in ``hooks.base``: sleeping only advances the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Make the hooks' retry waits instant and record them (in ``clock.sleeps``)."""
    fake = FakeClock()
    monkeypatch.setattr(
        base, "time", SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep, time=time.time)
    )
    monkeypatch.setattr(base, "asyncio", SimpleNamespace(sleep=fake.asleep))
    return fake
