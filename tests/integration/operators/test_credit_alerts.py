"""CreditAlertOperator: the alert state machine, rendered notifications, storage and configuration."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.operators.credit_alerts import CreditAlertOperator
from tests.support.fake_vendor import CONN_ID, SECRET, credits, http
from tests.support.notifiers import RecordingNotifier


def run(op: CreditAlertOperator) -> dict[str, Any]:
    return op.execute({"ti": None})  # type: ignore[typeddict-item]


def alert_op(db: Any, notifier: RecordingNotifier, watch_id: str = "w", **kwargs: Any) -> CreditAlertOperator:
    kwargs.setdefault("credits_conn_id", CONN_ID)
    kwargs.setdefault("min_remaining", 500)
    return CreditAlertOperator(
        task_id="alerts", notifiers=[notifier], state_conn_id=db.conn_id, watch_id=watch_id, **kwargs
    )


def test_alerts_fire_on_changes_of_state_only(
    vendor: Any, sqlite_db: Any, notifier: RecordingNotifier
) -> None:
    """ok (silent first check) -> low -> low (silent) -> recovered -> unreadable -> recovered."""
    vendor.script(credits(900), credits(400), credits(300), credits(800), http(401), credits(700))
    op = alert_op(sqlite_db, notifier)
    states = [run(op) for _ in range(6)]
    assert [s["states"][f"{CONN_ID}/(primary)"] for s in states] == [
        "ok",
        "low",
        "low",
        "ok",
        "unreadable",
        "ok",
    ]
    assert [[a["state"] for a in s["alerts"]] for s in states] == [
        [],
        ["low"],
        [],
        ["recovered"],
        ["unreadable"],
        ["recovered"],
    ]
    assert [m["subject"] for m in notifier.sent] == ["1 credit alert(s)"] * 4
    assert notifier.sent[0]["text"] == "low theirstack api_credits 400/1000 [500 remaining]\n"
    assert notifier.sent[1]["text"] == "recovered theirstack api_credits 800/1000 [500 remaining]\n"
    unreadable = notifier.sent[2]["alerts"][0]
    assert unreadable["previous"] == "ok" and "401" in unreadable["error"]
    assert SECRET not in json.dumps(notifier.sent)


def test_a_first_check_that_is_low_alerts(vendor: Any, sqlite_db: Any, notifier: RecordingNotifier) -> None:
    vendor.script(credits(10))
    result = run(alert_op(sqlite_db, notifier))
    assert [a["previous"] for a in result["alerts"]] == ["new"]
    assert len(notifier.sent) == 1


def test_percent_and_several_pools_in_one_notification(
    vendor: Any, sqlite_db: Any, notifier: RecordingNotifier
) -> None:
    vendor.script(credits(50, limit=1000))
    op = alert_op(
        sqlite_db,
        notifier,
        credits_conn_id=None,
        min_remaining=None,
        checks=[
            {"credits_conn_id": CONN_ID, "credit_pool": "api_credits", "min_remaining_pct": 10},
            {"credits_conn_id": CONN_ID, "credit_pool": "ui_credits", "min_remaining": 100},
        ],
    )
    result = run(op)
    assert sorted(a["pool"] for a in result["alerts"]) == ["api_credits", "ui_credits"]
    assert len(notifier.sent) == 1, "one notification per run, listing every change"
    assert {a["breached"] for a in result["alerts"]} == {"50 remaining < 100 needed"}
    assert vendor.router.calls.call_count == 1, "each connection is read once per run"


def test_a_failing_notifier_stores_nothing_and_the_next_run_alerts_again(
    vendor: Any, sqlite_db: Any, notifier: RecordingNotifier
) -> None:
    vendor.script(credits(100))
    failing = RecordingNotifier("s", "t", [], fail=True)
    with pytest.raises(RuntimeError, match="chat service"):
        run(alert_op(sqlite_db, failing))
    result = run(alert_op(sqlite_db, notifier))
    assert [a["state"] for a in result["alerts"]] == ["low"]
    assert run(alert_op(sqlite_db, notifier))["alerts"] == []


def test_watch_ids_keep_separate_states(vendor: Any, sqlite_db: Any, notifier: RecordingNotifier) -> None:
    vendor.script(credits(100))
    assert run(alert_op(sqlite_db, notifier, watch_id="a"))["alerts"]
    assert run(alert_op(sqlite_db, notifier, watch_id="b"))["alerts"]
    assert not run(alert_op(sqlite_db, notifier, watch_id="a"))["alerts"]


def test_configuration_errors_at_parse_time(sqlite_db: Any, notifier: RecordingNotifier) -> None:
    with pytest.raises(CreditsConfigError, match="no threshold"):
        CreditAlertOperator(task_id="a", notifiers=[notifier], state_conn_id="x", credits_conn_id="c")
    with pytest.raises(CreditsConfigError, match="BaseNotifier"):
        CreditAlertOperator(
            task_id="b", notifiers=[print], state_conn_id="x", credits_conn_id="c", min_remaining=1
        )
    with pytest.raises(CreditsConfigError, match="unknown keys"):
        CreditAlertOperator(
            task_id="c", notifiers=notifier, state_conn_id="x", checks=[{"credits_conn_id": "c", "min": 1}]
        )
    with pytest.raises(CreditsConfigError, match="watched twice"):
        CreditAlertOperator(
            task_id="d",
            notifiers=notifier,
            state_conn_id="x",
            credits_conn_id=["c", "c"],
            min_remaining=1,
        )
    with pytest.raises(CreditsConfigError, match="at most 100"):
        CreditAlertOperator(
            task_id="e", notifiers=notifier, state_conn_id="x", credits_conn_id="c", min_remaining_pct=150
        )


def test_runway_from_the_stored_history(vendor: Any, sqlite_db: Any, notifier: RecordingNotifier) -> None:
    """Snapshots in credit_balances falling 100 a day: 400 left is 4 days, under a 7-day runway."""
    from datetime import timedelta

    from airflow_provider_credits.models import utcnow
    from airflow_provider_credits.storage.alert_states import database_for
    from airflow_provider_credits.storage.tables import BALANCES, USAGE

    db = database_for(sqlite_db.conn_id)
    db.prepare([BALANCES, USAGE], create=True)
    now = utcnow()
    with db.begin() as conn:
        conn.execute(
            BALANCES.insert(),
            [
                {
                    "connection_id": CONN_ID,
                    "pool": "api_credits",
                    "fetched_at": now - timedelta(days=10 - day),
                    "logical_date": now,
                    "vendor": "theirstack",
                    "account": "acme",
                    "unit": "credits",
                    "remaining": 1400 - 100 * day,
                }
                for day in range(10)
            ],
        )
    db.dispose()
    vendor.script(credits(400))
    op = alert_op(sqlite_db, notifier, min_remaining=None, min_runway_days=7)
    [alert] = run(op)["alerts"]
    assert alert["state"] == "low" and alert["breached"] == "runway 4.0 days < 7"
    assert alert["runway_days"] == 4.0 and alert["runs_out_at"]


def test_runway_without_history_is_unknown_not_low(
    vendor: Any, sqlite_db: Any, notifier: RecordingNotifier
) -> None:
    vendor.script(credits(400))
    result = run(alert_op(sqlite_db, notifier, min_remaining=None, min_runway_days=7))
    assert result["states"] == {f"{CONN_ID}/(primary)": "ok"} and result["alerts"] == []


def test_fail_on_unreadable_fails_after_notifying(
    vendor: Any, sqlite_db: Any, notifier: RecordingNotifier
) -> None:
    from airflow_provider_credits.exceptions import CreditsError

    vendor.script(http(403))
    with pytest.raises(CreditsError, match="unreadable"):
        run(alert_op(sqlite_db, notifier, fail_on_unreadable=True))
    assert [m["alerts"][0]["state"] for m in notifier.sent] == ["unreadable"]


def test_out_of_credits_402_is_low_not_unreadable(
    vendor: Any, sqlite_db: Any, notifier: RecordingNotifier
) -> None:
    vendor.script(http(402))
    [alert] = run(alert_op(sqlite_db, notifier))["alerts"]
    assert (alert["state"], alert["remaining"], alert["vendor"]) == ("low", 0, "theirstack")
    assert "out of credits" in alert["breached"]
