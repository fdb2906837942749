"""The vendor sandbox as pytest fixtures.

``sandbox_server`` (session): one real sandbox on a free loopback port for the whole session.
``sandbox`` (function): the same server, reset (seeded balances and history, no faults, empty
request log), with ``AIRFLOW_CONN_CLAY_DEFAULT`` ... set so the hooks' default connections
point at it.

``read_balance(hook, mode)`` reads a balance through the sync or the async API; ``MakeHook`` is the
type of the sandbox suites' ``make_hook`` fixture; ``vendor_request(...)`` a request as a vendor's auth
check sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_credits.hooks.base import CreditsHook
from airflow_provider_credits.models import CreditBalance
from airflow_provider_credits.sandbox.server import SandboxServer

MakeHook = Callable[..., CreditsHook]


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
