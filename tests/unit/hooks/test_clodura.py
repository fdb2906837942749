"""Every documented endpoint of every vendor, sync and async, answered with the vendors' example bodies."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
import respx

from airflow_provider_credits.hooks.base import USER_AGENT
from tests.support.vendor_api import VENDOR_BY_TYPE, WORKSPACE, invoke, load

# The window of Clay's documented curl example.
START = datetime(2025, 6, 30, 19, 0, tzinfo=timezone.utc)
END = datetime(2025, 7, 28, 8, 4, 58, 779000, tzinfo=timezone.utc)
CLAY_WINDOW = {
    "timeRange[startTime]": "2025-06-30T19:00:00.000Z",
    "timeRange[endTime]": "2025-07-28T08:04:58.779Z",
}
THEIRSTACK_WINDOW = {
    "start_datetime": "2025-06-30T19:00:00",
    "end_datetime": "2025-07-28T08:04:58",
    "timezone": "UTC",
}


def raw(result: Any) -> Any:
    """Clay's undocumented endpoints return the decoded JSON as it came."""
    return result


# vendor, hook method, args, HTTP method, path, fixture, expected query, probe(result) -> (got, expected)
ENDPOINTS = [
    ("clay", "get_workspace_credits", (), "GET", f"/v3/workspaces/{WORKSPACE}/credits", "workspace_credits", {},
     lambda r: (r.remainingCredits, r.periodEnd), (Decimal(6500), datetime(2024, 6, 30, 23, 59, 59, tzinfo=timezone.utc))),
    ("clay", "get_workspace_credit_report", (START, END), "GET",
     f"/v3/credit-reporting/{WORKSPACE}/creditReportType/workspace", "workspace_credit_report_entries", CLAY_WINDOW,
     lambda r: [(e.amount, e.dimension) for e in r.entries],
     [(Decimal(120), ""), (Decimal("30.5"), ""), (Decimal(7), "user:u_42"), (Decimal(3), "integration:clearbit")]),
    ("clay", "get_workspace_credit_report", (START, END), "GET",
     f"/v3/credit-reporting/{WORKSPACE}/creditReportType/workspace", "workspace_credit_report", CLAY_WINDOW,
     lambda r: r.entries, None),
    ("clay", "get_owners", (), "GET", "/v3/owners", "owners", {}, raw, load("clay", "owners")),
    ("clay", "get_user_credits", ("u_42",), "GET", "/v3/users/u_42/credits", "user_credits", {},
     raw, load("clay", "user_credits")),
    ("clay", "get_user_resources", ("u_42",), "POST", "/v3/users/u_42/resources", "user_resources", {},
     raw, load("clay", "user_resources")),
    ("clay", "list_integrations", (), "GET", "/v3/integrations", "integrations", {}, raw, load("clay", "integrations")),
    ("clay", "get_integration", ("clearbit",), "GET", "/v3/integrations/clearbit", "integration", {},
     raw, load("clay", "integration")),
    ("clay", "get_integration_credits", ("clearbit",), "GET", "/v3/integrations/clearbit/credits",
     "integration_credits", {}, raw, load("clay", "integration_credits")),
    ("clay", "get_integration_credit_report", ("clearbit",), "GET", "/v3/integrations/clearbit/credits/report",
     "integration_credit_report", {}, raw, load("clay", "integration_credit_report")),
    ("clodura", "get_credits", (), "GET", "/api/v1/credits", "prospect", {},
     lambda r: (r.contactsView, r.maxContacts, r.directDials, r.maxDirectDials), (142, Decimal(1000), 38, 200)),
    ("clodura", "get_credits", (), "GET", "/api/v1/credits", "unified", {},
     lambda r: (r.remainingCredits, r.maxContacts), (Decimal(2500), None)),
    ("theirstack", "get_credit_balance", (), "GET", "/v0/billing/credit-balance", "credit_balance", {},
     lambda r: (r.api_credits, r.used_api_credits, r.ui_credits, r.used_ui_credits), (0, 0, 0, 0)),
    ("theirstack", "get_credits_consumption", (START, END), "GET", "/v0/teams/credits_consumption",
     "credits_consumption", THEIRSTACK_WINDOW,
     lambda r: [(i.period_start, i.api_credits_consumed) for i in r.root],
     [(datetime(2019, 8, 24, 14, 15, 22, tzinfo=timezone.utc), 0)]),
    ("theirstack", "get_request_counts", (START, END), "GET", "/v0/requests/count", "request_counts",
     THEIRSTACK_WINDOW, lambda r: [i.number_of_requests for i in r.root], [0]),
    ("trendtrack", "get_usage_snapshot", (), "GET", "/v1/usage", "usage", {},
     lambda r: (r.workspace.id, r.credential.accessLevel, r.billing.planCode, r.credits.totalRemaining),
     ("ws_123", "full_access", None, 0)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("conn_type", "method", "args", "http_method", "path", "fixture", "query", "probe", "expected"),
    [pytest.param(*row, id=f"{row[0]}-{row[1]}-{row[5]}") for row in ENDPOINTS],
)
def test_endpoint(
    mode, api, make_hook, conn_type, method, args, http_method, path, fixture, query, probe, expected
):
    route = api.route(method=http_method, path=path).respond(json=load(conn_type, fixture))
    hook = make_hook(conn_type)

    result = invoke(mode, hook, method, *args)

    assert probe(result) == expected
    assert route.call_count == 1
    request = route.calls.last.request
    assert dict(request.url.params) == query
    header, value = VENDOR_BY_TYPE[conn_type].auth_header
    assert request.headers[header] == value
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Accept"] == "application/json"


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


DEFAULT_BASE_URLS = {
    "clay": "https://api.clay.com",
    "clodura": "https://api.clodura.ai",
    "theirstack": "https://api.theirstack.com",
    "trendtrack": "https://api.trendtrack.io",
}


@pytest.mark.parametrize(("conn_type", "base_url"), list(DEFAULT_BASE_URLS.items()))
@pytest.mark.parametrize("host", ["", "{base}", "{bare}/"], ids=["empty-host", "full-url", "no-scheme"])
def test_base_url_from_connection_host(make_hook, conn_type, base_url, host):
    """An empty host means the vendor's real API; a host without a scheme gets https."""
    vendor = VENDOR_BY_TYPE[conn_type]
    host = host.format(base=base_url, bare=base_url.removeprefix("https://"))
    with respx.mock(base_url=base_url) as router:
        route = router.get(vendor.balance_path).respond(json=vendor.balance_body)
        make_hook(conn_type, host=host).get_balance()

    assert route.call_count == 1


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("http://127.0.0.1", 8900, "http://127.0.0.1:8900"),
        ("http://proxy.internal/clodura", 8443, "http://proxy.internal:8443/clodura"),
        ("http://127.0.0.1:8900", 1234, "http://127.0.0.1:8900"),
    ],
    ids=["port-added", "port-before-path", "port-in-host-wins"],
)
def test_connection_port_goes_into_the_base_url(monkeypatch, host, port, expected):
    from airflow_provider_credits.hooks.clodura import CloduraHook

    conn = {"conn_type": "clodura", "host": host, "port": port, "password": "port-test-key-123"}
    monkeypatch.setenv("AIRFLOW_CONN_CLODURA_PORT", json.dumps(conn))
    assert CloduraHook(conn_id="clodura_port").settings.base_url == expected
