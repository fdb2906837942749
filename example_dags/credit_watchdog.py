"""Hourly low-credit alerts: mail the team when a pool runs low, cannot be read, or recovers.

``CreditAlertOperator`` reads every watched pool once an hour and calls its notifiers only
when a pool's state changes (ok -> low, low -> recovered, ... -> unreadable), so the team
gets one mail per change, not one per hour. The states live in ``usage_db`` (table
``credit_alert_states``); the runway threshold uses the history ``credit_usage_collection``
writes there.

Any ``airflow.sdk.BaseNotifier`` works: swap ``SmtpNotifier`` for the Slack provider's
``SlackNotifier``, the Apprise provider's ``AppriseNotifier`` ... Their templates see
``alerts`` (every change of this run) and ``alert`` (the first one).

Connections: ``clay_default``, ``clodura_default``, ``theirstack_default``,
``trendtrack_default`` (vendor accounts), ``usage_db`` (any common-sql database) and
``smtp_default`` (an SMTP server).
"""

from __future__ import annotations

import pendulum
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import dag

from airflow_provider_credits.operators.credit_alerts import CreditAlertOperator

MAIL = SmtpNotifier(
    smtp_conn_id="smtp_default",
    from_email="airflow@example.com",
    to="data-ops@example.com",
    subject="[credits] {{ alerts | length }} change(s): {{ alert.vendor }} {{ alert.pool }} is {{ alert.state }}",
    html_content=(
        "<ul>{% for a in alerts %}"
        "<li><b>{{ a.state }}</b> (was {{ a.previous }}): {{ a.message }}"
        "{% if a.runway_days is not none %}; runs out around {{ a.runs_out_at }}{% endif %}</li>"
        "{% endfor %}</ul>"
    ),
)


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["credits", "example"],
)
def credit_watchdog() -> None:
    CreditAlertOperator(
        task_id="check_credits",
        checks=[
            # low under 2,000 credits, or when they run out within a week at the recent burn rate
            {
                "credits_conn_id": "theirstack_default",
                "credit_pool": "api_credits",
                "min_remaining": 2000,
                "min_runway_days": 7,
            },
            {"credits_conn_id": "clay_default", "min_remaining_pct": 10},
            {"credits_conn_id": "clodura_default", "min_remaining": 500},
            {"credits_conn_id": "trendtrack_default", "credit_pool": "recurring", "min_remaining_pct": 5},
        ],
        state_conn_id="usage_db",
        notifiers=[MAIL],
    )


credit_watchdog()
