"""TheirStackHook: balances, endpoints (windows in the connection's time zone), daily usage as UsageRecords."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_credits.exceptions import (
    CreditsConfigError,
)
from tests.support.vendor_api import (
    END,
    NO_PERIOD,
    START,
    assert_balance,
    assert_endpoint,
    assert_unusable_balance,
    invoke,
    load,
)

UTC = timezone.utc
MADRID = ZoneInfo("Europe/Madrid")
CONSUMPTION = "/v0/teams/credits_consumption"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def day(moment: datetime, hours: int = 24) -> tuple[datetime, datetime]:
    return moment, moment + timedelta(hours=hours)


# ---------------------------------------------------------------------------------------- usage


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


def test_theirstack_invalid_time_zone_is_a_config_error(mode, api, make_hook):
    hook = make_hook("theirstack", extra={"timezone": "Mars/Olympus"})

    with pytest.raises(CreditsConfigError, match="'Mars/Olympus' is not an IANA time zone"):
        invoke(mode, hook, "get_usage", utc(2025, 7, 1), utc(2025, 7, 2))

    assert not api.calls


THEIRSTACK_WINDOW = {
    "start_datetime": "2025-06-30T19:00:00",
    "end_datetime": "2025-07-28T08:04:58",
    "timezone": "UTC",
}


@pytest.mark.parametrize(
    ("kwargs", "extra_query"),
    [
        ({"api_key_id": "key_1"}, {"api_key_id": "key_1"}),
        ({"is_origin_app": False}, {"is_origin_app": "false"}),
    ],
)
def test_theirstack_request_count_filters(mode, api, make_hook, kwargs, extra_query):
    route = api.get("/v0/requests/count").respond(json=load("theirstack", "request_counts"))

    invoke(mode, make_hook("theirstack"), "get_request_counts", START, END, **kwargs)

    assert dict(route.calls.last.request.url.params) == {**THEIRSTACK_WINDOW, **extra_query}


def test_theirstack_window_is_sent_in_the_connection_time_zone(mode, api, make_hook):
    """TheirStack reads start/end as local times of ``timezone``: send them converted, not in UTC."""
    route = api.get("/v0/teams/credits_consumption").respond(json=[])
    hook = make_hook("theirstack", extra={"timezone": "Europe/Madrid"})

    invoke(mode, hook, "get_credits_consumption", START, END)

    assert dict(route.calls.last.request.url.params) == {
        "start_datetime": "2025-06-30T21:00:00",
        "end_datetime": "2025-07-28T10:04:58",
        "timezone": "Europe/Madrid",
    }


# ----------------------------------------------------------------------- balances and endpoints


# body, response headers, account, pools as (name, remaining, limit, used, (period_start, period_end))
BALANCES = {
    "documented": (
        load("theirstack", "credit_balance"), {}, "theirstack_test",
        [("api_credits", 0, 0, 0, NO_PERIOD), ("ui_credits", 0, 0, 0, NO_PERIOD)],
    ),
    "numbers-as-strings": (
        {"ui_credits": "500", "used_ui_credits": 20, "api_credits": "25000.00", "used_api_credits": "1250"},
        {}, "theirstack_test",
        [("api_credits", 23750, 25000, 1250, NO_PERIOD), ("ui_credits", 480, 500, 20, NO_PERIOD)],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("body", "headers", "account", "pools"), list(BALANCES.values()), ids=list(BALANCES))
def test_balance(mode, api, make_hook, body, headers, account, pools):
    assert_balance(mode, api, make_hook("theirstack"), body, headers, account, pools)


# body, response headers, words the error must contain
BAD_BODIES = {
    "null-grant": ({**load("theirstack", "credit_balance"), "api_credits": None}, {}, ["api_credits"]),
    "renamed-field": ({"credits": 1}, {}, ["used_api_credits", "fields seen: ['credits']"]),
}  # fmt: skip


@pytest.mark.parametrize(("body", "headers", "words"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_unusable_balance_body_is_a_response_error(mode, api, make_hook, body, headers, words):
    assert_unusable_balance(mode, api, make_hook("theirstack"), body, headers, words)


# hook method, args, HTTP method, path, fixture, expected query, probe(result), expected
ENDPOINTS = [
    ("get_credit_balance", (), "GET", "/v0/billing/credit-balance", "credit_balance", {},
     lambda r: (r.api_credits, r.used_api_credits, r.ui_credits, r.used_ui_credits), (0, 0, 0, 0)),
    ("get_credits_consumption", (START, END), "GET", "/v0/teams/credits_consumption",
     "credits_consumption", THEIRSTACK_WINDOW,
     lambda r: [(i.period_start, i.api_credits_consumed) for i in r.root],
     [(datetime(2019, 8, 24, 14, 15, 22, tzinfo=timezone.utc), 0)]),
    ("get_request_counts", (START, END), "GET", "/v0/requests/count", "request_counts",
     THEIRSTACK_WINDOW, lambda r: [i.number_of_requests for i in r.root], [0]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "args", "http_method", "path", "fixture", "query", "probe", "expected"),
    [pytest.param(*row, id=f"{row[0]}-{row[4]}") for row in ENDPOINTS],
)
def test_endpoint(mode, api, make_hook, method, args, http_method, path, fixture, query, probe, expected):
    hook = make_hook("theirstack")
    assert_endpoint(mode, api, hook, (method, args), (http_method, path, query), fixture, probe, expected)
