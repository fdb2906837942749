"""get_usage() / aget_usage(): TheirStack's daily consumption and Clay's credit report as UsageRecords."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_credits.exceptions import (
    CreditsConfigError,
    CreditsResponseError,
    UsageNotSupportedError,
)
from tests.support.vendor_api import WORKSPACE, invoke, load

UTC = timezone.utc
MADRID = ZoneInfo("Europe/Madrid")
CONSUMPTION = "/v0/teams/credits_consumption"
CLAY_REPORT = f"/v3/credit-reporting/{WORKSPACE}/creditReportType/workspace"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def day(moment: datetime, hours: int = 24) -> tuple[datetime, datetime]:
    return moment, moment + timedelta(hours=hours)


# extra, start, end, response body, expected query, rows as (pool, (period_start, period_end), amount)
THEIRSTACK_USAGE = {
    "utc-missing-day-zero-filled": (
        {}, utc(2025, 7, 1), utc(2025, 7, 4),
        [{"period_start": "2025-07-01T00:00:00Z", "api_credits_consumed": 120, "ui_credits_consumed": 3},
         {"period_start": "2025-07-03T00:00:00Z", "api_credits_consumed": "7.5", "ui_credits_consumed": 0}],
        {"start_datetime": "2025-07-01T00:00:00", "end_datetime": "2025-07-03T23:59:59", "timezone": "UTC"},
        [("api_credits", day(utc(2025, 7, 1)), 120), ("ui_credits", day(utc(2025, 7, 1)), 3),
         ("api_credits", day(utc(2025, 7, 2)), 0), ("ui_credits", day(utc(2025, 7, 2)), 0),
         ("api_credits", day(utc(2025, 7, 3)), Decimal("7.5")), ("ui_credits", day(utc(2025, 7, 3)), 0)],
    ),
    "documented-example-mid-day-start": (
        {}, utc(2019, 8, 24), utc(2019, 8, 25), load("theirstack", "credits_consumption"),
        {"start_datetime": "2019-08-24T00:00:00", "end_datetime": "2019-08-24T23:59:59", "timezone": "UTC"},
        [("api_credits", day(utc(2019, 8, 24)), 0), ("ui_credits", day(utc(2019, 8, 24)), 0)],
    ),
    "empty-response": (
        {}, utc(2025, 7, 1, 12), utc(2025, 7, 2, 12), [],
        {"start_datetime": "2025-07-01T12:00:00", "end_datetime": "2025-07-02T11:59:59", "timezone": "UTC"},
        [("api_credits", day(utc(2025, 7, 1)), 0), ("ui_credits", day(utc(2025, 7, 1)), 0),
         ("api_credits", day(utc(2025, 7, 2)), 0), ("ui_credits", day(utc(2025, 7, 2)), 0)],
    ),
    "madrid-offset-and-naive-starts": (
        {"timezone": "Europe/Madrid"}, datetime(2025, 7, 1, tzinfo=MADRID), datetime(2025, 7, 3, tzinfo=MADRID),
        [{"period_start": "2025-07-01T00:00:00+02:00", "api_credits_consumed": 5, "ui_credits_consumed": 1},
         {"period_start": "2025-07-02T00:00:00", "api_credits_consumed": 9, "ui_credits_consumed": 2}],
        {"start_datetime": "2025-07-01T00:00:00", "end_datetime": "2025-07-02T23:59:59", "timezone": "Europe/Madrid"},
        [("api_credits", day(utc(2025, 6, 30, 22)), 5), ("ui_credits", day(utc(2025, 6, 30, 22)), 1),
         ("api_credits", day(utc(2025, 7, 1, 22)), 9), ("ui_credits", day(utc(2025, 7, 1, 22)), 2)],
    ),
    "madrid-dst-day-has-23-hours": (
        {"timezone": "Europe/Madrid"}, datetime(2025, 3, 30, tzinfo=MADRID), datetime(2025, 3, 31, tzinfo=MADRID),
        [{"period_start": "2025-03-30T00:00:00+01:00", "api_credits_consumed": 4, "ui_credits_consumed": 0}],
        {"start_datetime": "2025-03-30T00:00:00", "end_datetime": "2025-03-30T23:59:59", "timezone": "Europe/Madrid"},
        [("api_credits", day(utc(2025, 3, 29, 23), 23), 4), ("ui_credits", day(utc(2025, 3, 29, 23), 23), 0)],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "start", "end", "body", "query", "rows"),
    list(THEIRSTACK_USAGE.values()),
    ids=list(THEIRSTACK_USAGE),
)
def test_theirstack_usage(mode, api, make_hook, extra, start, end, body, query, rows):
    route = api.get(CONSUMPTION).respond(json=body)

    records = invoke(mode, make_hook("theirstack", extra=extra), "get_usage", start, end)

    assert dict(route.calls.last.request.url.params) == query
    assert [(r.pool, (r.period_start, r.period_end), r.amount) for r in records] == rows
    assert {(r.vendor, r.account, r.dimension, r.unit) for r in records} == {
        ("theirstack", "theirstack_test", "", "credits")
    }


# fixture, rows as (day, dimension, amount)
CLAY_USAGE = {
    "entries-with-breakdown": (
        "workspace_credit_report_entries",
        [(date(2025, 7, 1), "", Decimal("150.5")), (date(2025, 7, 2), "", 0),
         (date(2025, 7, 2), "integration:clearbit", 3), (date(2025, 7, 2), "user:u_42", 7)],
    ),
    "documented-empty-report": ("workspace_credit_report", [(date(2025, 7, 1), "", 0), (date(2025, 7, 2), "", 0)]),
}  # fmt: skip


@pytest.mark.parametrize(("fixture", "rows"), list(CLAY_USAGE.values()), ids=list(CLAY_USAGE))
def test_clay_usage(mode, api, make_hook, fixture, rows):
    route = api.get(CLAY_REPORT).respond(json=load("clay", fixture))

    records = invoke(mode, make_hook("clay"), "get_usage", utc(2025, 7, 1), utc(2025, 7, 3))

    assert dict(route.calls.last.request.url.params) == {
        "timeRange[startTime]": "2025-07-01T00:00:00.000Z",
        "timeRange[endTime]": "2025-07-03T00:00:00.000Z",
    }
    assert [(r.period_start.date(), r.dimension, r.amount) for r in records] == rows
    assert all(r.period_end - r.period_start == timedelta(days=1) for r in records)
    assert {(r.vendor, r.account, r.pool) for r in records} == {("clay", WORKSPACE, "credits")}


def test_clay_unknown_report_shape_is_refused_not_recorded_as_zero(mode, api, make_hook):
    api.get(CLAY_REPORT).respond(json={"data": [{"day": "2025-07-01", "total": 5}], "total": 5})

    with pytest.raises(CreditsResponseError, match=r"unknown credit report schema.*\['data', 'total'\]"):
        invoke(mode, make_hook("clay"), "get_usage", utc(2025, 7, 1), utc(2025, 7, 3))


@pytest.mark.parametrize("conn_type", ["clodura", "trendtrack"])
def test_usage_not_supported(mode, api, make_hook, conn_type):
    with pytest.raises(UsageNotSupportedError, match=f"{conn_type} has no usage-history API") as info:
        invoke(mode, make_hook(conn_type), "get_usage", utc(2025, 7, 1), utc(2025, 7, 2))

    assert isinstance(info.value, NotImplementedError)
    assert not api.calls


BAD_WINDOWS = {
    "naive-start": (datetime(2025, 7, 1), utc(2025, 7, 2), "start=2025-07-01T00:00:00 is naive"),
    "naive-end": (utc(2025, 7, 1), datetime(2025, 7, 2), "end=2025-07-02T00:00:00 is naive"),
    "end-equals-start": (utc(2025, 7, 1), utc(2025, 7, 1), "usage window is empty"),
    "end-before-start": (utc(2025, 7, 2), utc(2025, 7, 1), "usage window is empty"),
    "date-not-datetime": (date(2025, 7, 1), utc(2025, 7, 2), "start must be a datetime, got date"),
}


@pytest.mark.parametrize("conn_type", ["theirstack", "clay"])
@pytest.mark.parametrize(("start", "end", "message"), list(BAD_WINDOWS.values()), ids=list(BAD_WINDOWS))
def test_bad_usage_window_is_a_config_error(mode, api, make_hook, conn_type, start, end, message):
    with pytest.raises(CreditsConfigError, match=message):
        invoke(mode, make_hook(conn_type), "get_usage", start, end)

    assert not api.calls


def test_theirstack_invalid_time_zone_is_a_config_error(mode, api, make_hook):
    hook = make_hook("theirstack", extra={"timezone": "Mars/Olympus"})

    with pytest.raises(CreditsConfigError, match="'Mars/Olympus' is not an IANA time zone"):
        invoke(mode, hook, "get_usage", utc(2025, 7, 1), utc(2025, 7, 2))

    assert not api.calls
