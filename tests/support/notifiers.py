"""A notifier that records what it was asked to send (its templates rendered).

``notifier`` (fixture): one rendering alerts; ``gate_notifier(sent)``: one rendering a gate's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from airflow.sdk import BaseNotifier


class RecordingNotifier(BaseNotifier):
    """Renders ``subject`` and ``text`` like any notifier and appends them to ``sent`` (shared by copies)."""

    template_fields: Sequence[str] = ("subject", "text")

    def __init__(self, subject: str, text: str, sent: list[dict[str, Any]], fail: bool = False) -> None:
        super().__init__()
        self.subject = subject
        self.text = text
        self.sent = sent
        self.fail = fail

    def __deepcopy__(self, memo: dict[int, Any]) -> RecordingNotifier:
        return RecordingNotifier(self.subject, self.text, self.sent, self.fail)  # the copy shares `sent`

    def notify(self, context: Any) -> None:
        if self.fail:
            raise RuntimeError("the chat service is down")
        self.sent.append(
            {
                "subject": self.subject,
                "text": self.text,
                "alerts": context.get("alerts"),
                "gate": context.get("credit_gate"),
            }
        )


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier(
        subject="{{ alerts | length }} credit alert(s)",
        text="{% for a in alerts %}{{ a.state }} {{ a.vendor }} {{ a.pool }} {{ a.remaining }}/{{ a.limit }} "
        "[{{ a.threshold }}]\n{% endfor %}",
        sent=[],
    )


def gate_notifier(sent: list[dict[str, Any]]) -> RecordingNotifier:
    """A notifier of a gate's events (``credit_gate``), appending to ``sent``."""
    return RecordingNotifier(
        subject="{{ credit_gate.event }}: {{ credit_gate.reason }}",
        text="{{ credit_gate.pool }} {{ credit_gate.remaining }}/{{ credit_gate.needed }} {{ ti.task_id }}",
        sent=sent,
    )
