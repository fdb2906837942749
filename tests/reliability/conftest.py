"""Fixtures of the reliability suite: the fault matrix's connections."""

from __future__ import annotations

import pytest

from airflow_provider_credits.sandbox.server import SandboxServer
from tests.reliability.matrix import closed_port_url, connection_env


@pytest.fixture
def matrix_sandbox(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The session's sandbox with the matrix's ``<vendor>_reliability`` and ``<vendor>_refused`` connections."""
    for name, value in connection_env(sandbox, closed_port_url()).items():
        monkeypatch.setenv(name, value)
    return sandbox
