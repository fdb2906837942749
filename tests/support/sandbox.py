"""The vendor sandbox as pytest fixtures.

``sandbox_server`` (session): one real sandbox on a free loopback port for the whole session.
``sandbox`` (function): the same server, reset (seeded balances and history, no faults, empty
request log), with ``AIRFLOW_CONN_CLAY_DEFAULT`` ... set so the hooks' default connections
point at it.

``read_balance(hook, mode)`` reads a balance through the sync or the async API; ``MakeHook`` is the
type of the sandbox suites' ``make_hook`` fixture; ``vendor_request(...)`` a request as a vendor's auth
check sees it. ``until_requested(sandbox, vendor, n)`` waits in an event loop until the sandbox has
received ``n`` requests of a vendor (e.g. a GET is in flight), instead of sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_credits.hooks.base import CreditsHook
from airflow_provider_credits.models import CreditBalance
from airflow_provider_credits.sandbox.server import SandboxServer

MakeHook = Callable[..., CreditsHook]

#: seconds a test waits for something the sandbox will see soon: a bound against hangs, generous
#: enough for a loaded machine (not a timing target: the wait ends as soon as it happened)
PATIENCE = 60.0


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """A sandbox started once per test session and stopped at its end."""
    server = SandboxServer(host="127.0.0.1", port=0)
    with server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The session's sandbox, reset, with the four ``AIRFLOW_CONN_<VENDOR>_DEFAULT`` variables set."""
    sandbox_server.reset()
    for name, value in sandbox_server.airflow_conn_env().items():
        monkeypatch.setenv(name, value)
    return sandbox_server


async def until_requested(
    sandbox: SandboxServer, vendor: str, count: int, *, timeout: float = PATIENCE
) -> None:
    """Wait, letting the event loop run, until ``sandbox`` has received ``count`` requests of ``vendor``.

    :param sandbox: the sandbox.
    :param vendor: the vendor whose requests count.
    :param count: how many requests (since the sandbox's last reset).
    :param timeout: seconds before giving up.
    :raises AssertionError: fewer requests after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while (seen := sandbox.request_count(vendor)) < count:
        assert time.monotonic() < deadline, f"{seen} {vendor} requests after {timeout:g}s, expected {count}"
        await asyncio.sleep(0.02)


def read_balance(hook: CreditsHook, mode: str) -> CreditBalance:
    """``hook.get_balance()`` (``mode="sync"``) or ``hook.aget_balance()`` in a fresh event loop."""
    if mode == "sync":
        return hook.get_balance()

    async def read() -> CreditBalance:
        try:
            return await hook.aget_balance()
        finally:
            await hook.aclose()

    return asyncio.run(read())


def vendor_request(*headers: tuple[str, str], query: str = "") -> Any:
    """A Starlette request carrying ``headers`` (repeatable) and ``query``, for a vendor's auth check."""
    from starlette.requests import Request

    raw = [(name.lower().encode(), value.encode()) for name, value in headers]
    return Request(
        {"type": "http", "method": "GET", "path": "/", "query_string": query.encode(), "headers": raw}
    )
