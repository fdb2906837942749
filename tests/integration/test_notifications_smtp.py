"""A real provider notifier (apache-airflow-providers-smtp's SmtpNotifier) against a local SMTP
debugging server (aiosmtpd on a free loopback port): the mail carries the rendered alerts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest

from airflow_provider_credits.operators.credit_alerts import CreditAlertOperator
from tests.support import ROOT
from tests.support.fake_vendor import CONN_ID, SECRET, credits
from tests.support.sensor_modes import run_sensor

smtp_notifications = pytest.importorskip("airflow.providers.smtp.notifications.smtp")
controller_module = pytest.importorskip("aiosmtpd.controller")


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
    from tests.support.services import free_port

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
    parts = [p for p in message.walk() if p.get_content_type() == "text/html"]
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_alerts_reach_an_smtp_server_rendered(vendor: Any, sqlite_db: Any, inbox: Inbox) -> None:
    vendor.script(credits(120), credits(120), credits(800))
    mail = smtp_notifications.SmtpNotifier(
        smtp_conn_id="smtp_test",
        from_email="airflow@example.com",
        to="ops@example.com",
        subject="[credits] {{ alert.vendor }} {{ alert.pool }} is {{ alert.state }}",
        html_content=(
            "{% for a in alerts %}<p>{{ a.message }} (threshold: {{ a.threshold }}; "
            "account {{ a.account }})</p>{% endfor %}"
        ),
    )
    op = CreditAlertOperator(
        task_id="credit_watchdog",
        notifiers=[mail],
        state_conn_id=sqlite_db.conn_id,
        credits_conn_id=CONN_ID,
        min_remaining=500,
        min_remaining_pct=20,
    )
    for _ in range(3):
        op.execute({})  # type: ignore[arg-type]
    assert [m["Subject"] for m in inbox.messages] == [
        "[credits] theirstack api_credits is low",
        "[credits] theirstack api_credits is recovered",
    ]
    assert inbox.recipients[0] == ["ops@example.com"]
    text = body(inbox.messages[0])
    assert (
        "theirstack pool 'api_credits': 120 of 1000 credits remaining; low: 120 remaining < 500 needed"
    ) in text, text
    assert "threshold: 500 remaining, 20% of the limit" in text
    assert all(SECRET not in m.as_string() for m in inbox.messages)


def test_a_waiting_gate_mails_once(vendor: Any, inbox: Inbox) -> None:
    vendor.script(credits(100), credits(100), credits(900))
    mail = smtp_notifications.SmtpNotifier(
        smtp_conn_id="smtp_test",
        from_email="airflow@example.com",
        to="ops@example.com",
        subject="{{ credit_gate.task_id }} {{ credit_gate.event }} ({{ credit_gate.reason_text }})",
        html_content="{{ credit_gate.message }}",
    )
    outcome = run_sensor(
        "poke", credits_conn_id=CONN_ID, min_remaining=500, poke_interval=0.01, on_wait_notifiers=[mail]
    )
    assert outcome.error is None
    assert [m["Subject"] for m in inbox.messages] == ["wait_poke waiting (the vendor's balance is too low)"]
    assert "100 of 1000 credits remaining, needed 500" in body(inbox.messages[0])


@pytest.mark.e2e
@pytest.mark.integration
def test_example_credit_watchdog_mails_each_change_once(
    airflow_db: Any, sandbox: Any, inbox: Inbox, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """example_dags/credit_watchdog.py with dag.test() on the sandbox: TheirStack runs low (one
    mail), stays low (no mail), is topped up (one "recovered" mail)."""
    import os

    from tests.support.airflow_env import run_dag

    example = ROOT / "example_dags" / "credit_watchdog.py"
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", os.environ["AIRFLOW_CONN_SMTP_TEST"])
    db_file = tmp_path / "usage.db"
    monkeypatch.setenv("AIRFLOW_CONN_USAGE_DB", json.dumps({"conn_type": "sqlite", "host": str(db_file)}))
    sandbox.set_balance("theirstack", "api_credits", 500)
    subjects = []
    for step in ("low", "still low", "topped up"):
        if step == "topped up":
            sandbox.topup("theirstack", 10_000, "api_credits")
        result = run_dag(example, "credit_watchdog")
        assert result.state == "success", result.task_states
        subjects.append([m["Subject"] for m in inbox.messages])
    assert subjects[-1] == [
        "[credits] 1 change(s): theirstack api_credits is low",
        "[credits] 1 change(s): theirstack api_credits is recovered",
    ]
    assert len(subjects[1]) == 1, "no mail while the pool stays low"
    assert "500 of 25000 credits remaining; low: 500 remaining < 2000 needed" in body(inbox.messages[0])
