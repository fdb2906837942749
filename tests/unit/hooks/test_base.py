"""CreditsHook: no secret in an error, repr or log line (even echoed by the vendor), test_connection,
construction without I/O, and the usage window's checks."""

from __future__ import annotations

import logging
import os
import pickle
from datetime import date, datetime, timezone

import httpx
import pytest
from airflow.sdk import BaseHook

from airflow_provider_credits.exceptions import (
    CreditsApiError,
    CreditsAuthError,
    CreditsConfigError,
    CreditsRateLimitError,
    CreditsResponseError,
    CreditsTransportError,
    UsageNotSupportedError,
)
from airflow_provider_credits.version_compat import AIRFLOW_V_3_3_PLUS
from tests.support.vendor_api import ACCOUNT_PASSWORD, COOKIE, SECRET, VENDORS, invoke, load

SECRETS = (SECRET, COOKIE, ACCOUNT_PASSWORD)


def echo(secret: str) -> dict:
    """A vendor error body that repeats the key everywhere it could."""
    return {
        "error": {"code": f"bad_key_{secret}", "message": f"API key {secret} is invalid", "requestId": secret}
    }


@pytest.fixture
def output(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
    """Everything logged so far: stdlib records and structlog's console lines."""
    caplog.set_level(logging.DEBUG)

    def read() -> str:
        captured = capsys.readouterr()
        return caplog.text + captured.out + captured.err

    return read


def assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def secret_of(vendor) -> str:
    return COOKIE if vendor.conn_type == "clay" else SECRET


# status, body builder, error class, max_retries
ECHOES = {
    "401-json": (401, lambda s: {"json": echo(s)}, CreditsAuthError),
    "429-json-retried-and-logged": (429, lambda s: {"json": echo(s), "headers": {"Retry-After": "0"}}, CreditsRateLimitError),
    "403-html": (403, lambda s: {"text": f"<html><title>Denied {s}</title><p>key={s}</p></html>"}, CreditsAuthError),
    "200-text": (200, lambda s: {"text": f"not json, your key is {s}"}, CreditsResponseError),
    "200-wrong-type": (200, lambda s: {"json": {"remainingCredits": s, "totalCredits": s, "api_credits": s, "workspace": s}}, CreditsResponseError),
}  # fmt: skip


@pytest.mark.parametrize("vendor", VENDORS, ids=str)
@pytest.mark.parametrize(("status", "body", "error_class"), list(ECHOES.values()), ids=list(ECHOES))
def test_echoed_secret_is_redacted(mode, api, make_hook, clock, output, vendor, status, body, error_class):
    secret = secret_of(vendor)
    api.get(vendor.balance_path).respond(status, **body(secret))
    hook = make_hook(vendor.conn_type, max_retries=1)

    with pytest.raises(error_class) as info:
        invoke(mode, hook, "get_balance")

    error = info.value
    logged = output()
    assert_clean(
        str(error), repr(error), repr(hook), str(hook), repr(hook.settings), logged, repr(vars(error))
    )
    if status == 429:
        assert "retry 1/1" in logged  # the retry warning was captured, and it is clean
    if status != 200:
        assert "***" in str(error)


def test_secret_in_a_transport_error_is_redacted(mode, api, make_hook, clock, output):
    api.get("/v0/billing/credit-balance").mock(side_effect=httpx.ConnectError(f"proxy refused {SECRET}"))

    with pytest.raises(CreditsTransportError) as info:
        invoke(mode, make_hook("theirstack", max_retries=1), "get_balance")

    assert "proxy refused ***" in str(info.value)
    assert_clean(str(info.value), output())


def test_clay_fresh_cookie_and_account_password_are_redacted(mode, api, make_hook, clock, output):
    fresh = "fresh-SECRET-13579135"
    api.get("/v3/workspaces/ws-777/credits").mock(
        side_effect=[
            httpx.Response(401),
            httpx.Response(403, json=echo(f"{fresh} {ACCOUNT_PASSWORD} {COOKIE}")),
        ]
    )
    api.post("/v3/auth/login").respond(200, headers={"Set-Cookie": f"claysession={fresh}"})
    hook = make_hook("clay", login="ops@example.com", extra={"account_password": ACCOUNT_PASSWORD})

    with pytest.raises(CreditsAuthError) as info:
        invoke(mode, hook, "get_balance")

    text = str(info.value) + repr(info.value) + output()
    assert fresh not in text
    assert_clean(text)


@pytest.mark.parametrize("vendor", VENDORS, ids=str)
def test_failed_test_connection_message_has_no_secret(api, make_hook, vendor):
    api.get(vendor.balance_path).respond(401, json=echo(secret_of(vendor)))

    ok, message = make_hook(vendor.conn_type).test_connection()

    assert ok is False
    assert message.startswith(f"[{vendor.conn_type}, GET {vendor.balance_path}, HTTP 401")
    assert_clean(message)


def test_errors_survive_pickling_without_gaining_secrets(api, make_hook):
    api.get("/v1/usage").respond(401, json=echo(SECRET))

    with pytest.raises(CreditsApiError) as info:
        make_hook("trendtrack").get_balance()

    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is CreditsAuthError
    assert (str(copy), copy.status, copy.code, copy.request_id) == (
        str(info.value),
        401,
        "bad_key_***",
        "***",
    )


def test_secrets_are_registered_with_airflows_masker(mode, api, make_hook, monkeypatch):
    """The key and a fresh Clay cookie are masked in task logs, via amask_secret in async code.

    Before Airflow 3.3 there is no ``amask_secret``; async code calls ``mask_secret`` there
    (documented safe in async code on those versions).
    """
    from airflow.sdk import log

    pasted, fresh = f"cookie-MASK-{mode}-1234", f"fresh-MASK-{mode}-5678"
    calls: list[tuple[str, str]] = []
    sync_mask, async_mask = log.mask_secret, getattr(log, "amask_secret", None)

    def mask_secret(secret, name=None):
        calls.append(("sync", secret))
        sync_mask(secret, name)

    async def amask_secret(secret, name=None):
        calls.append(("async", secret))
        await async_mask(secret, name)

    monkeypatch.setattr(log, "mask_secret", mask_secret)
    if async_mask is not None:
        monkeypatch.setattr(log, "amask_secret", amask_secret)
    api.get("/v3/workspaces/ws-777/credits").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json={"remainingCredits": 1})]
    )
    api.post("/v3/auth/login").respond(200, headers={"Set-Cookie": f"claysession={fresh}"})
    hook = make_hook(
        "clay", password=pasted, login="ops@example.com", extra={"account_password": ACCOUNT_PASSWORD}
    )

    invoke(mode, hook, "get_balance")

    # (Airflow itself also masks the connection's extras, a dict)
    kind = mode if AIRFLOW_V_3_3_PLUS else "sync"
    assert [call for call in calls if isinstance(call[1], str)] == [(kind, pasted), (kind, fresh)]
    assert {k for k, _ in calls} == {kind}  # on 3.3+ async code never calls the blocking mask_secret
    assert log.redact(f"cookie {pasted} then {fresh}") == "cookie *** then ***"


# bodies that echo the key right where the hook shortens the vendor's text (200 characters of a
# non-JSON body, 500 of a vendor message, 100 of an HTML title): only the key's start is left
CUT_ECHOES = {
    "text-cut-at-200": (200, lambda s: {"text": "x" * 180 + " key " + s + " rejected"}, CreditsResponseError),
    "message-cut-at-500": (401, lambda s: {"json": {"message": "y" * 480 + " key " + s}}, CreditsAuthError),
    "title-cut-at-100": (502, lambda s: {"text": f"<html><title>{'z' * 80} key {s}</title></html>"}, CreditsApiError),
}  # fmt: skip


@pytest.mark.parametrize(("status", "body", "error_class"), list(CUT_ECHOES.values()), ids=list(CUT_ECHOES))
def test_a_secret_cut_off_by_the_length_limit_leaves_no_fragment(
    mode, api, make_hook, clock, status, body, error_class
):
    api.get("/v0/billing/credit-balance").respond(status, **body(SECRET))
    hook = make_hook("theirstack", max_retries=0)

    with pytest.raises(error_class) as info:
        invoke(mode, hook, "get_balance")

    text = str(info.value)
    fragments = [SECRET[:n] for n in range(6, len(SECRET) + 1)]
    assert not [f for f in fragments if f in text], text


# vendor, balance body, expected success message
TEST_CONNECTION = {
    "clay": ("workspace_credits", "Connected to clay account 'ws-777': credits=6500"),
    "clodura": ("prospect", "Connected to clodura: contact_views=858, direct_dials=162"),
    "theirstack": ("credit_balance", "Connected to theirstack: api_credits=0, ui_credits=0"),
    "trendtrack": ("usage", "Connected to trendtrack account 'ws_123': credits=0, recurring=0, topup=0, included_quota=0"),
}  # fmt: skip


@pytest.mark.parametrize("vendor", VENDORS, ids=str)
def test_test_connection_succeeds(api, make_hook, vendor):
    fixture, message = TEST_CONNECTION[vendor.conn_type]
    api.get(vendor.balance_path).respond(json=load(vendor.conn_type, fixture))
    hook = make_hook(vendor.conn_type)

    assert hook.test_connection() == (True, message)
    assert hook._client is None  # closed afterwards


def test_test_connection_without_api_key(api, make_hook):
    ok, message = make_hook("clodura", password="").test_connection()

    assert ok is False
    assert "has no API key" in message
    assert not api.calls


@pytest.mark.parametrize("vendor", VENDORS, ids=str)
def test_constructing_a_hook_reads_nothing(monkeypatch, api, vendor):
    def no_lookup(*args, **kwargs):
        raise AssertionError("the connection was read in __init__")

    monkeypatch.setattr(BaseHook, "get_connection", no_lookup)
    monkeypatch.setattr(BaseHook, "aget_connection", no_lookup)
    monkeypatch.setattr(os, "getenv", no_lookup)

    hook = vendor.hook(conn_id="does_not_exist", timeout=5)

    assert hook.conn_id == "does_not_exist"
    assert (hook._settings, hook._client, hook._aclient, hook._atransport) == (None, None, None, None)
    assert repr(hook) == f"{vendor.hook.__name__}(conn_id='does_not_exist')"
    assert vendor.hook().conn_id == f"{vendor.conn_type}_default"
    assert not api.calls


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


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
