"""A local HTTP server emulating the credit APIs of Clay, Clodura, TheirStack and Trendtrack.

Run it with ``python -m airflow_provider_credits.sandbox`` or, in Python, with
:class:`~airflow_provider_credits.sandbox.server.SandboxServer`. Importing this package
starts nothing and imports neither uvicorn nor Starlette; see ``docs/sandbox.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_credits.sandbox.keys import (
    CLAY_COOKIE,
    CLAY_EMAIL,
    CLAY_PASSWORD,
    CLAY_WORKSPACE_ID,
    CLODURA_API_KEY,
    THEIRSTACK_API_KEY,
    TRENDTRACK_API_KEY,
)

if TYPE_CHECKING:
    from airflow_provider_credits.sandbox.server import SandboxClient, SandboxClientError, SandboxServer

__all__ = [
    "CLAY_COOKIE",
    "CLAY_EMAIL",
    "CLAY_PASSWORD",
    "CLAY_WORKSPACE_ID",
    "CLODURA_API_KEY",
    "THEIRSTACK_API_KEY",
    "TRENDTRACK_API_KEY",
    "SandboxClient",
    "SandboxClientError",
    "SandboxServer",
]


def __getattr__(name: str) -> Any:
    if name in ("SandboxClient", "SandboxClientError", "SandboxServer"):
        from airflow_provider_credits.sandbox import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
