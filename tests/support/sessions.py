"""Every aiohttp session the async path opens, recorded, and a trigger left without the collector's guard.

``sessions`` (fixture): a :class:`Sessions` recording each ``aiohttp.ClientSession`` created while
the test runs (strongly, so none is collected and warns behind the test's back).
``no_collection_guard`` (fixture): ``SharedSession.forget`` does nothing, so a trigger must close its
hook itself rather than leave it to the garbage collector's guard.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from airflow_provider_credits.hooks.transport import SharedSession


class Sessions:
    """Every aiohttp session created while the fixture is active."""

    def __init__(self) -> None:
        self.created: list[aiohttp.ClientSession] = []

    def open(self) -> list[aiohttp.ClientSession]:
        """The sessions (or their connectors) not closed yet."""
        return [
            s for s in self.created if not s.closed or (s.connector is not None and not s.connector.closed)
        ]


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sessions]:
    seen = Sessions()
    real_init = aiohttp.ClientSession.__init__

    def recording_init(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        seen.created.append(self)

    monkeypatch.setattr(aiohttp.ClientSession, "__init__", recording_init)
    yield seen
    for session in seen.open():  # never let one warn in a later test
        session._connector = None


@pytest.fixture
def no_collection_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trigger must close its hook itself, not leave it to the garbage collector's guard."""
    monkeypatch.setattr(SharedSession, "forget", lambda self: None)
