"""The vendor sandbox as pytest fixtures.

``sandbox_server`` (session): one real sandbox on a free loopback port for the whole session.
``sandbox`` (function): the same server, reset (seeded balances and history, no faults, empty
request log), with ``AIRFLOW_CONN_CLAY_DEFAULT`` ... set so the hooks' default connections
point at it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_credits.sandbox.server import SandboxServer


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
