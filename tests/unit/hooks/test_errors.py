"""Each error class from a realistic vendor response, what its message names, and Retry-After's parsing."""

from __future__ import annotations

import time

import httpx
import pytest

from airflow_provider_credits.exceptions import (
    CreditsApiError,
    CreditsAuthError,
    CreditsExhaustedError,
    CreditsRateLimitError,
    CreditsRequestError,
    CreditsResponseError,
    CreditsServerError,
    CreditsTransportError,
)
from airflow_provider_credits.hooks.base import parse_retry_after
from tests.support.vendor_api import VENDOR_BY_TYPE, invoke, load

MAX_RETRIES = 2
THEIRSTACK_NO_CREDITS = {
    "request_id": 4242,
    "error": {
        "code": "E-005",
        "title": "Not enough credits",
        "description": "Your team has no API credits left.",
    },
}
THEIRSTACK_INVALID = {
    "request_id": 77,
    "error": {"code": "E-003", "title": "Validation error", "description": "start_datetime is not a date"},
}


def trendtrack_error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "requestId": "req-9f2c"}}


HTML = "<html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>"

# vendor, status, response keywords, error class, texts the message must contain (besides vendor/path/status)
HTTP_ERRORS = {
    "trendtrack-401-documented": (
        "trendtrack", 401, {"json": load("trendtrack", "error")}, CreditsAuthError,
        ["code=missing_api_key", "request_id=5d93d8de-0f6d-46a4-bd10-2e519b7e96bc", "Provide an API key",
         "check the API key"],
    ),
    "trendtrack-401-revoked": (
        "trendtrack", 401, {"json": trendtrack_error("credential_revoked", "This API key was revoked.")},
        CreditsAuthError, ["code=credential_revoked", "request_id=req-9f2c", "was revoked"],
    ),
    "trendtrack-403-disabled": (
        "trendtrack", 403, {"json": trendtrack_error("workspace_public_api_disabled", "Public API is disabled.")},
        CreditsAuthError, ["code=workspace_public_api_disabled", "permission denied"],
    ),
    "trendtrack-402": (
        "trendtrack", 402, {"json": trendtrack_error("insufficient_credits", "Not enough credits.")},
        CreditsExhaustedError, ["code=insufficient_credits", "out of credits: Not enough credits."],
    ),
    "trendtrack-429": (
        "trendtrack", 429, {"json": trendtrack_error("rate_limited", "Slow down."), "headers": {"Retry-After": "0"}},
        CreditsRateLimitError, ["code=rate_limited", "rate limited: Slow down."],
    ),
    "trendtrack-500": (
        "trendtrack", 500, {"json": trendtrack_error("internal_error", "Something broke.")},
        CreditsServerError, ["code=internal_error", "request_id=req-9f2c"],
    ),
    "theirstack-402": (
        "theirstack", 402, {"json": THEIRSTACK_NO_CREDITS}, CreditsExhaustedError,
        ["code=E-005", "request_id=4242", "Not enough credits: Your team has no API credits left."],
    ),
    "theirstack-422": ("theirstack", 422, {"json": THEIRSTACK_INVALID}, CreditsRequestError, ["code=E-003", "request_id=77"]),
    "theirstack-400-documented": (
        "theirstack", 400, {"json": load("theirstack", "error")}, CreditsRequestError, ["code=E-001", "...: ..."],
    ),
    "theirstack-500-documented": (
        "theirstack", 500, {"json": load("theirstack", "error")}, CreditsServerError, ["code=E-001"],
    ),
    "theirstack-429-ratelimit-headers": (
        "theirstack", 429, {"json": {"detail": "Too many requests"}, "headers": {"RateLimit-Reset": "0", "X-Request-Id": "hdr-1"}},
        CreditsRateLimitError, ["Too many requests", "request_id=hdr-1"],
    ),
    "clodura-401-empty": ("clodura", 401, {}, CreditsAuthError, ["empty response body"]),
    "clodura-403-html": (
        "clodura", 403, {"text": HTML, "headers": {"Content-Type": "text/html"}}, CreditsAuthError,
        ["HTML page instead of JSON (title: 'Just a moment...')"],
    ),
    "clodura-404-text": ("clodura", 404, {"text": "Not Found"}, CreditsRequestError, ["a non-JSON body: 'Not Found'"]),
    "clodura-502-html": ("clodura", 502, {"text": HTML}, CreditsServerError, ["HTML page"]),
    "clay-401-no-login": ("clay", 401, {"json": {"message": "Unauthorized"}}, CreditsAuthError, ["Unauthorized"]),
    "clay-302-to-login-page": (
        "clay", 302, {"headers": {"Location": "https://app.clay.com/login"}}, CreditsResponseError,
        ["unexpected redirect to 'https://app.clay.com/login'"],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("conn_type", "status", "response", "error_class", "texts"),
    list(HTTP_ERRORS.values()),
    ids=list(HTTP_ERRORS),
)
def test_http_error(mode, api, make_hook, clock, conn_type, status, response, error_class, texts):
    path = VENDOR_BY_TYPE[conn_type].balance_path
    route = api.get(path).respond(status, **response)

    with pytest.raises(error_class) as info:
        invoke(mode, make_hook(conn_type, max_retries=MAX_RETRIES), "get_balance")

    error = info.value
    assert isinstance(error, CreditsApiError)
    assert (error.vendor, error.method, error.path, error.status) == (conn_type, "GET", path, status)
    message = str(error)
    assert message.startswith(f"[{conn_type}, GET {path}, HTTP {status}")
    for text in texts:
        assert text in message
    # transient errors are retried until max_retries runs out; the others are sent once
    assert route.call_count == (1 + MAX_RETRIES if error.transient else 1)
    assert len(clock.sleeps) == route.call_count - 1


# body of a 200 response, error message fragment
BAD_200 = {
    "html-page": (
        {"text": HTML, "headers": {"Content-Type": "text/html"}},
        "expected JSON but got an HTML page",
    ),
    "malformed-json": (
        {"content": b'{"remainingCredits": 12'},
        "a non-JSON body: '{\"remainingCredits\": 12'",
    ),
    "empty-body": ({"content": b""}, "empty response body where JSON was expected"),
    "json-null": ({"content": b"null"}, "fields seen: NoneType"),
}


@pytest.mark.parametrize(("response", "text"), list(BAD_200.values()), ids=list(BAD_200))
def test_unusable_200_is_a_response_error_and_not_retried(mode, api, make_hook, clock, response, text):
    route = api.get("/api/v1/credits").respond(200, **response)

    with pytest.raises(CreditsResponseError, match=r"^\[clodura, GET /api/v1/credits") as info:
        invoke(mode, make_hook("clodura"), "get_balance")

    assert text in str(info.value)
    assert route.call_count == 1
    assert not clock.sleeps


TRANSPORT_ERRORS = {
    "connect-timeout": (
        httpx.ConnectTimeout("timed out connecting"),
        "request timed out: could not connect to http://vendor.test:80 within 30 s",
    ),
    "read-timeout": (httpx.ReadTimeout("read timed out"), "request timed out: ReadTimeout"),
    "connection-refused": (
        httpx.ConnectError("[Errno 111] Connection refused"),
        "request failed: could not connect to http://vendor.test:80: connection refused",
    ),
    "dropped": (httpx.RemoteProtocolError("peer closed connection"), "request failed: RemoteProtocolError"),
}


@pytest.mark.parametrize(("exc", "text"), list(TRANSPORT_ERRORS.values()), ids=list(TRANSPORT_ERRORS))
def test_transport_error_after_retries(mode, api, make_hook, clock, exc, text):
    route = api.get("/v0/billing/credit-balance").mock(side_effect=exc)

    with pytest.raises(CreditsTransportError) as info:
        invoke(mode, make_hook("theirstack", max_retries=MAX_RETRIES), "get_balance")

    assert str(info.value).startswith(f"[theirstack, GET /v0/billing/credit-balance] {text}")
    assert info.value.status is None
    assert route.call_count == 1 + MAX_RETRIES


def test_transport_error_then_success(mode, api, make_hook, clock):
    route = api.get("/v1/usage")
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(200, json=load("trendtrack", "usage"))]

    balance = invoke(mode, make_hook("trendtrack"), "get_balance")

    assert balance.account == "ws_123"
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"Retry-After": " 0.25 "}, 0.25),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past: no wait
        ({"Retry-After": "soon"}, None),
        ({"RateLimit-Reset": "7"}, 7.0),
        ({"RateLimit-Reset": "-1"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers, seconds):
    assert parse_retry_after(httpx.Headers(headers), now=time.time()) == seconds


def test_parse_retry_after_ignores_ratelimit_reset_unless_rate_limited():
    headers = httpx.Headers({"RateLimit-Reset": "7", "Retry-After": ""})
    assert parse_retry_after(headers, rate_limited=False) is None
    assert parse_retry_after(headers, rate_limited=True) == 7.0
