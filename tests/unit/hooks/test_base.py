"""The API key or cookie never shows in an error, a repr or a log line, even when the vendor echoes it."""

from __future__ import annotations

import logging
import pickle

import httpx
import pytest

from airflow_provider_credits.exceptions import (
    CreditsApiError,
    CreditsAuthError,
    CreditsRateLimitError,
    CreditsResponseError,
    CreditsTransportError,
)
from airflow_provider_credits.version_compat import AIRFLOW_V_3_3_PLUS
from tests.support.vendor_api import ACCOUNT_PASSWORD, COOKIE, SECRET, VENDORS, invoke

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
