"""The Credits page's JSON API on seeded SQLite, PostgreSQL and MariaDB: figures computed by hand (seed.py)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("auth_manager")


def get(client: Any, path: str, **params: Any) -> Any:
    response = client.get(f"/api/{path}", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["generated_at"] == "2026-11-30T12:00:00Z"
    return body["data"]


def test_balances_are_the_latest_per_vendor_account_and_pool(client: Any) -> None:
    rows = get(client, "balances")
    assert [(r["vendor"], r["pool"]) for r in rows] == [("clay", "credits"), ("theirstack", "api_credits")]
    clay, ts = rows
    assert ts == {
        "vendor": "theirstack",
        "account": "acc1",
        "pool": "api_credits",
        "connection_id": "ts",  # not ts_old, read an hour earlier
        "unit": "credits",
        "remaining": 1000.0,
        "limit": 5000.0,
        "used": 4000.0,
        "fetched_at": "2026-11-30T12:00:00Z",
        "period_start": None,
        "period_end": None,
    }
    assert clay["remaining"] == 800 and clay["limit"] is None
    assert get(client, "balances", vendor="clay")[0]["pool"] == "credits"
    assert get(client, "balances", pool="nope") == []


def test_history_filters_by_vendor_pool_and_time_range(client: Any) -> None:
    series = get(client, "history", vendor="theirstack", since="2026-11-28T12:00:00Z")
    assert len(series) == 1
    assert series[0]["pool"] == "api_credits" and series[0]["unit"] == "credits"
    assert series[0]["points"] == [
        ["2026-11-28T12:00:00Z", 1200.0],
        ["2026-11-29T12:00:00Z", 1100.0],
        ["2026-11-30T11:00:00Z", 1005.0],  # ts_old: the same account, another connection
        ["2026-11-30T12:00:00Z", 1000.0],
    ]
    until = get(client, "history", pool="credits", since="2026-11-27T00:00:00Z", until="2026-11-29T12:00:00Z")
    assert until[0]["points"] == [["2026-11-27T12:00:00Z", 500.0], ["2026-11-28T12:00:00Z", 300.0]]
    everything = get(client, "history")  # default: the last 90 days
    assert sum(len(s["points"]) for s in everything) == 11 + 1 + 4


def test_usage_is_summed_per_day_over_dimensions(client: Any) -> None:
    series = get(client, "usage", since="2026-11-28")
    assert series == [
        {
            "vendor": "theirstack",
            "account": "acc1",
            "pool": "api_credits",
            "unit": "credits",
            "days": [["2026-11-28", 80.0], ["2026-11-29", 80.0]],
        }
    ]
    assert len(get(client, "usage")[0]["days"]) == 4
    assert get(client, "usage", vendor="clay") == []


def test_forecast_matches_the_hand_computed_runway(client: Any) -> None:
    clay, ts = get(client, "forecast")
    assert ts["method"] == "usage"
    assert ts["burn_per_day"] == 80.0 and ts["days_left"] == 12.5
    assert ts["runs_out_at"] == "2026-12-13T00:00:00Z"
    assert clay["method"] == "snapshots"  # the top-up interval is left out
    assert clay["burn_per_day"] == 150.0
    assert clay["days_left"] == pytest.approx(16 / 3)
    assert clay["runs_out_at"] == "2026-12-05T20:00:00Z"


def test_reservations_are_the_active_ones(client: Any) -> None:
    rows = get(client, "reservations")
    assert [r["reservation_id"] for r in rows] == ["r-active"]
    assert rows[0]["amount"] == 250.0 and rows[0]["spent"] == 100.0 and rows[0]["outstanding"] == 150.0
    assert rows[0]["budget_key"] == "marketing"
    assert rows[0]["map_index"] == 2
    assert rows[0]["expires_at"] == "2026-12-01T12:00:00Z"


def test_status_names_the_tables(client: Any, seeded: Any) -> None:
    body = client.get("/api/status").json()
    assert body["state"] == "ok" and body["message"] == ""
    assert body["tables"]["balances"] == {"name": seeded.tables.balances.fullname, "exists": True}


def test_bad_times_are_a_400_naming_the_parameter(client: Any) -> None:
    response = client.get("/api/history", params={"since": "yesterday"})
    assert response.status_code == 400 and "since" in response.json()["detail"]
    response = client.get("/api/usage", params={"since": "2026-11-30", "until": "2026-11-01"})
    assert response.status_code == 400


def test_spend_per_dag_in_the_month_against_its_budget(client: Any) -> None:
    body = client.get("/api/spend").json()
    assert (body["since"], body["until"], body["by"]) == (
        "2026-11-01T00:00:00Z",
        "2026-12-01T00:00:00Z",
        "dag_id",
    )
    enrich, scoring = body["data"]
    assert enrich == {
        "key": "credit_gated_enrichment",
        "spent": 150.0,
        "reported": 120.0,
        "measured": 30.0,
        "outstanding": 150.0,  # r-active: 250 reserved, 100 spent
        "unknown": 0,
        "runs": 2,
        "budget": 600.0,  # [credits] dashboard_budgets
        "share": 0.5,  # (150 spent + 150 outstanding) / 600
    }
    assert scoring["key"] == "lead_scoring" and scoring["spent"] == 40.0  # October's 999 left out
    assert scoring["unknown"] == 1 and scoring["budget"] is None and scoring["share"] is None


def test_spend_by_budget_key_and_period(client: Any) -> None:
    body = client.get("/api/spend", params={"by": "budget_key", "period": "week"}).json()
    assert body["since"] == "2026-11-30T00:00:00Z"  # a Monday
    assert body["data"][0]["key"] == "marketing" and body["data"][0]["spent"] == 0.0
    assert body["data"][0]["outstanding"] == 150.0
    assert client.get("/api/spend", params={"period": "year"}).status_code == 422
