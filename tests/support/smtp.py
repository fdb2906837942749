"""A local SMTP server (aiosmtpd on a free loopback port) that keeps what it receives.

``inbox`` (fixture, registered in ``tests/conftest.py``): the server's :class:`Inbox`, with connection
``smtp_test`` pointing at it (skips without aiosmtpd); ``body(message)`` is a message's HTML part.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest

from tests.support.services import free_port


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """An SMTP server on a free loopback port, stopped after the test; connection ``smtp_test``."""
    controller_module = pytest.importorskip("aiosmtpd.controller")
    handler = Inbox()
    port = free_port()
    controller = controller_module.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_TEST",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 10, "retry_limit": 1},
            }
        ),
    )
    try:
        yield handler
    finally:
        controller.stop()


def body(message: Message) -> str:
    """The HTML part of ``message``, decoded."""
    parts = [p for p in message.walk() if p.get_content_type() == "text/html"]
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()
