"""A real provider notifier (apache-airflow-providers-smtp's SmtpNotifier) against a local SMTP
debugging server (aiosmtpd on a free loopback port): the mail carries the rendered alerts."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_credits.operators.credit_alerts import CreditAlertOperator
from tests.support.fake_vendor import CONN_ID, SECRET, credits
from tests.support.sensor_modes import run_sensor
from tests.support.smtp import Inbox, body

smtp_notifications = pytest.importorskip("airflow.providers.smtp.notifications.smtp")
controller_module = pytest.importorskip("aiosmtpd.controller")


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
