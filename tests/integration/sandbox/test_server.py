"""The sandbox's HTTP surface: vendor auth and bodies, control endpoints, state, logs, binding."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import httpx
import pytest

from airflow_provider_credits.exceptions import CreditsAuthError
from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.server import SandboxClient, SandboxServer
from tests.support.sandbox import MakeHook

#: vendor -> (balance path, auth header for a given key)
VENDOR_CALLS: dict[str, tuple[str, Any]] = {
    "clay": (f"/v3/workspaces/{keys.CLAY_WORKSPACE_ID}/credits", lambda k: {"Cookie": f"claysession={k}"}),
    "clodura": ("/api/v1/credits", lambda k: {"X-API-KEY": k}),
    "theirstack": ("/v0/billing/credit-balance", lambda k: {"Authorization": f"Bearer {k}"}),
    "trendtrack": ("/v1/usage", lambda k: {"Authorization": f"Bearer {k}"}),
}


def get(
    http: httpx.Client, sandbox: SandboxServer, vendor: str, key: str | None, path: str | None = None
) -> httpx.Response:
    default_path, auth = VENDOR_CALLS[vendor]
    return http.get(sandbox.url + (path or default_path), headers=auth(key) if key else {})


@pytest.mark.parametrize(
    ("vendor", "missing", "wrong"),
    [
        ("trendtrack", "missing_api_key", "invalid_api_key"),
        ("theirstack", "E-002", "E-003"),
        ("clodura", "Unauthorized", "Unauthorized"),
        ("clay", "Unauthorized", "Unauthorized"),
    ],
)
def test_missing_or_wrong_key_is_the_vendors_401(
    http: httpx.Client, sandbox: SandboxServer, vendor: str, missing: str, wrong: str
) -> None:
    def code(body: dict[str, Any]) -> str:
        if vendor == "clay":
            return body["type"]
        return body["error"] if vendor == "clodura" else body["error"]["code"]

    no_key, bad_key = get(http, sandbox, vendor, None), get(http, sandbox, vendor, "not-the-key")
    assert (no_key.status_code, bad_key.status_code) == (401, 401)
    assert (code(no_key.json()), code(bad_key.json())) == (missing, wrong)
    assert get(http, sandbox, vendor, keys.SECRETS[vendor]).status_code == 200
    if vendor == "trendtrack":
        assert set(bad_key.json()["error"]) == {"code", "message", "requestId"}
    if vendor == "theirstack":
        assert isinstance(bad_key.json()["request_id"], int)
        assert set(bad_key.json()["error"]) == {"code", "title", "description"}


@pytest.mark.parametrize("vendor", list(VENDOR_CALLS))
def test_hooks_with_a_wrong_key_fail_once_without_retrying(
    sandbox: SandboxServer, make_hook: MakeHook, monkeypatch: pytest.MonkeyPatch, vendor: str
) -> None:
    conn = sandbox.connections()[f"{vendor}_default"]
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{vendor.upper()}_DEFAULT", json.dumps({**conn, "password": "wrong-key-123"})
    )
    with pytest.raises(CreditsAuthError) as caught:
        make_hook(vendor).get_balance()
    assert caught.value.status == 401
    assert "wrong-key-123" not in str(caught.value)
    assert sandbox.request_count(vendor) == 1


def test_trendtrack_sends_its_credits_header(http: httpx.Client, sandbox: SandboxServer) -> None:
    response = get(http, sandbox, "trendtrack", keys.TRENDTRACK_API_KEY)
    assert response.headers["X-Credits-Remaining"] == str(response.json()["credits"]["totalRemaining"])


def test_clodura_prospect_sends_max_contacts_as_a_string(http: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.reset(clodura_plan="prospect")
    pools = sandbox.state()["pools"]["clodura"]
    assert get(http, sandbox, "clodura", keys.CLODURA_API_KEY).json() == {
        "contactsView": pools["contact_views"]["used"],
        "maxContacts": "1000",
        "directDials": pools["direct_dials"]["used"],
        "maxDirectDials": 200,
    }


def test_clay_report_and_unknown_resources(http: httpx.Client, sandbox: SandboxServer) -> None:
    def clay(path: str) -> httpx.Response:
        return get(http, sandbox, "clay", keys.CLAY_COOKIE, path)

    report_path = f"/v3/credit-reporting/{keys.CLAY_WORKSPACE_ID}/creditReportType/workspace"
    report = clay(report_path + "?timeRange[startTime]=2000-01-01T00:00:00.000Z").json()
    assert len(report["entries"]) == 7 and set(report["entries"][0]) == {"date", "creditsUsed"}
    assert report["totalCreditsUsed"] == sum(e["creditsUsed"] for e in report["entries"])
    assert clay(report_path + "?timeRange[startTime]=soon").status_code == 422
    for unknown in ("/v3/workspaces/1/credits", "/v3/integrations/nope", "/v3/users/nobody/credits"):
        response = clay(unknown)
        assert (response.status_code, response.json()["type"]) == (404, "NotFound")
    assert clay("/v3/me").json()["email"] == keys.CLAY_EMAIL


def test_clay_login_sets_a_session_cookie(http: httpx.Client, sandbox: SandboxServer) -> None:
    login = f"{sandbox.url}/v3/auth/login"
    refused = http.post(login, json={"email": keys.CLAY_EMAIL, "password": "guess", "source": None})
    assert refused.status_code == 401 and "set-cookie" not in refused.headers
    assert http.post(login, content=b"email=me").status_code == 422
    sandbox.add_fault("clay", "expired_cookie")
    assert get(http, sandbox, "clay", keys.CLAY_COOKIE, "/v3/me").status_code == 401

    ok = http.post(login, json={"email": keys.CLAY_EMAIL, "password": keys.CLAY_PASSWORD, "source": None})

    cookie = ok.cookies["claysession"]
    assert ok.status_code == 200 and cookie != keys.CLAY_COOKIE
    assert get(http, sandbox, "clay", cookie, "/v3/me").status_code == 200
    assert (
        get(http, sandbox, "clay", keys.CLAY_COOKIE, "/v3/me").status_code == 401
    )  # the old one stays expired


def test_request_log_counts_per_vendor_and_path(sandbox: SandboxServer, make_hook: MakeHook) -> None:
    make_hook("clodura").get_balance()
    make_hook("clodura").get_balance()
    make_hook("trendtrack").get_balance()
    sandbox.state()  # control calls are not counted
    assert sandbox.request_count() == 3
    assert sandbox.request_count("clodura", "/api/v1/credits") == 2
    assert [(r["vendor"], r["method"], r["path"], r["status"]) for r in sandbox.requests("trendtrack")] == [
        ("trendtrack", "GET", "/v1/usage", 200)
    ]
    sandbox.clear_requests()
    assert sandbox.requests() == [] and sandbox.request_count() == 0


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        (lambda s: s.spend("clay", -5), 400, "positive"),
        (lambda s: s.spend("acme", 5), 400, "unknown vendor"),
        (lambda s: s.topup("theirstack", 5, "gold"), 400, "no pool 'gold'"),
        (lambda s: s.set_balance("clay", "credits", -1), 400, "negative"),
        (lambda s: s.reset(clodura_plan="platinum"), 400, "clodura_plan"),
    ],
)
def test_control_errors(
    http: httpx.Client, sandbox: SandboxServer, call: Any, status: int, message: str
) -> None:
    with pytest.raises(Exception, match=message) as caught:
        call(sandbox)
    assert getattr(caught.value, "status", None) == status
    assert http.post(f"{sandbox.url}/_sandbox/spend", content=b"[1]").status_code == 400


@pytest.mark.parametrize(
    ("endpoint", "body", "field", "problem"),
    [
        ("spend", {"vendor": "theirstack", "amount": "ten"}, "amount", "'ten' is not a number"),
        ("spend", {"vendor": "theirstack", "amount": [250]}, "amount", "[250] is not a number"),
        ("spend", {"vendor": "theirstack", "amount": True}, "amount", "True is not a number"),
        ("spend", {"vendor": "theirstack"}, "amount", "missing"),
        ("spend", {"vendor": "theirstack", "amount": -5}, "amount", "must be positive, got -5"),
        ("spend", {"amount": 5}, "vendor", "missing"),
        ("spend", {"vendor": 7, "amount": 5}, "vendor", "7 is not a string"),
        ("spend", {"vendor": "acme", "amount": 5}, "vendor", "unknown vendor 'acme'"),
        ("spend", {"vendor": "clay", "amount": 5, "pool": "gold"}, "pool", "clay has no pool 'gold'"),
        ("topup", {"vendor": "theirstack", "amount": "1e999"}, "amount", "is not a finite number"),
        ("topup", {"vendor": "theirstack", "amount": 5, "pool": 3}, "pool", "3 is not a string"),
        ("balance", {"vendor": "clay", "pool": "credits", "remaining": "lots"}, "remaining", "'lots'"),
        ("balance", {"vendor": "clay", "pool": "credits", "remaining": -1}, "remaining", "negative"),
        ("balance", {"vendor": "clay", "remaining": 1}, "pool", "missing"),
        ("reset", {"clodura_plan": "platinum"}, "clodura_plan", "'platinum' is not a Clodura plan"),
        ("faults", {"vendor": "clay"}, "scenario", "missing"),
        ("faults", {"vendor": "clay", "scenario": "boom"}, "scenario", "unknown fault scenario 'boom'"),
        ("faults", {"vendor": "clay", "scenario": "slow", "count": "two"}, "count", "'two' is not a whole"),
        ("faults", {"vendor": "clay", "scenario": "slow", "count": 0}, "count", "at least 1"),
        ("faults", {"vendor": "clay", "scenario": "slow", "params": [1]}, "params", "not a JSON object"),
        ("faults", {"vendor": "clay", "scenario": "slow", "params": {"delay": "x"}}, "params", "'delay'"),
        ("spend", {"vendor": "theirstack", "amount": 10**400}, "amount", "is not a finite number"),
        ("topup", {"vendor": "theirstack", "amount": 1e13}, "amount", "beyond the sandbox's bound of 1e+12"),
        ("balance", {"vendor": "clay", "pool": "credits", "remaining": 1e300}, "remaining", "beyond"),
        *(
            (
                "faults",
                {"vendor": "clay", "scenario": scenario, "params": {name: value}},
                "params",
                f"'{name}' must be between",
            )
            for scenario, name, value in [
                ("slow", "delay", math.nan),
                ("slow", "delay", -1),
                ("slow", "delay", 601),
                ("huge_body", "size", 3e9),
                ("huge_body", "size", -5),
                ("truncated", "missing", -10),
                ("rate_limit", "retry_after", -3),
                ("rate_limit", "retry_after", 1e300),
                ("rate_limit_http_date", "retry_after", 1e300),
                ("slow_drip", "chunk_size", 0),
                ("slow_drip", "chunk_size", -4),
                ("slow_drip", "interval", -1),
            ]
        ),
        (
            "faults",
            {"vendor": "clay", "scenario": "html", "params": {"status": 204}},
            "params",
            "out of range",
        ),
        (
            "faults",
            {"vendor": "clay", "scenario": "html", "params": {"status": 304}},
            "params",
            "out of range",
        ),
    ],
)
def test_every_control_error_names_the_field_and_the_problem(
    http: httpx.Client, sandbox: SandboxServer, endpoint: str, body: dict[str, Any], field: str, problem: str
) -> None:
    before = sandbox.state()
    content = json.dumps(body)  # not json=: httpx refuses NaN, which a client may still send
    response = http.post(f"{sandbox.url}/_sandbox/{endpoint}", content=content)
    assert response.status_code == 400
    error = response.json()
    assert error["field"] == field
    assert error["error"].startswith(f"{field}: ")
    assert problem in error["error"]
    assert "could not convert" not in error["error"]
    assert sandbox.state() == before  # a refused call changes nothing


def test_reset_restores_the_seeded_state(sandbox: SandboxServer) -> None:
    seeded = sandbox.state()
    sandbox.spend("theirstack", 10)
    sandbox.add_fault("clay", "slow")
    assert sandbox.state() != seeded
    sandbox.reset(clodura_plan="prospect")
    assert sandbox.state()["clodura_plan"] == "prospect"
    sandbox.reset()  # back to the start-up plan
    assert sandbox.state() == seeded


def test_secrets_never_reach_the_sandbox_logs(
    http: httpx.Client, sandbox: SandboxServer, make_hook: MakeHook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for vendor in VENDOR_CALLS:
        make_hook(vendor).get_balance()
        get(http, sandbox, vendor, "wrong-secret-xyz")
    http.post(f"{sandbox.url}/v3/auth/login", json={"email": keys.CLAY_EMAIL, "password": keys.CLAY_PASSWORD})
    sandbox_lines = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("airflow_provider_credits.sandbox", "uvicorn"))
    ]
    assert any("GET /v1/usage -> 200" in line for line in sandbox_lines)
    for secret in [*keys.SECRETS.values(), keys.CLAY_PASSWORD, "wrong-secret-xyz", "sandbox-clay-session-"]:
        assert secret not in "\n".join(sandbox_lines)


def test_binds_to_loopback_by_default(sandbox_server: SandboxServer) -> None:
    assert sandbox_server.url.startswith("http://127.0.0.1:")
    assert SandboxServer().host == "127.0.0.1"


def test_server_lifecycle_and_remote_client() -> None:
    with SandboxServer(clodura_plan="prospect", faults=["clodura:forbidden:1"]) as server:
        client = SandboxClient(server.url)  # as from another process
        assert client.health() and client.state()["clodura_plan"] == "prospect"
        assert [f["scenario"] for f in client.faults()] == ["forbidden"]
        url = server.url
    assert not server.running
    assert not SandboxClient(url, timeout=1).health()
    with pytest.raises(RuntimeError, match="not started"):
        _ = SandboxServer().url
