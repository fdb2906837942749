"""Clay's session cookie: pasted with or without ``claysession=``, or renewed once by signing in on a 401."""

from __future__ import annotations

import json

import httpx
import pytest

from airflow_provider_credits.exceptions import CreditsAuthError, CreditsConfigError
from tests.support.vendor_api import ACCOUNT_PASSWORD, COOKIE, WORKSPACE, invoke, load

CREDITS = f"/v3/workspaces/{WORKSPACE}/credits"
LOGIN = "/v3/auth/login"
FRESH = "fresh-SECRET-24680246"
EMAIL = "ops@example.com"
CAN_LOGIN = {"account_password": ACCOUNT_PASSWORD}


def ok() -> httpx.Response:
    return httpx.Response(200, json=load("clay", "workspace_credits"))


def unauthorized() -> httpx.Response:
    return httpx.Response(401, json={"message": "Session expired"})


def signed_in() -> httpx.Response:
    return httpx.Response(
        200, json={"id": 1}, headers={"Set-Cookie": f"claysession={FRESH}; Path=/; HttpOnly"}
    )


@pytest.fixture
def clay_hook(make_hook):
    """A Clay hook whose connection can sign in (email in login, account_password extra)."""

    def build(password: str = COOKIE):
        return make_hook("clay", password=password, login=EMAIL, extra=CAN_LOGIN)

    return build


# responses of the credits call, responses of the sign-in, credits calls, sign-ins, outcome
REFRESH = {
    "expired-cookie-renewed": ([unauthorized(), ok()], [signed_in()], 2, 1, None),
    "still-401-after-renewal": ([unauthorized(), unauthorized()], [signed_in()], 2, 1, CreditsAuthError),
    "sign-in-rejected": ([unauthorized()], [httpx.Response(401, json={"message": "bad password"})], 1, 1, CreditsAuthError),
    "sign-in-without-cookie": ([unauthorized()], [httpx.Response(200, json={})], 1, 1, CreditsAuthError),
    "sign-in-unreachable": ([unauthorized()], [httpx.ConnectError("refused")], 1, 1, CreditsAuthError),
}  # fmt: skip


@pytest.mark.parametrize(
    ("credit_responses", "login_responses", "credit_calls", "login_calls", "error"),
    list(REFRESH.values()),
    ids=list(REFRESH),
)
def test_refresh_once_on_401(
    mode, api, clay_hook, clock, credit_responses, login_responses, credit_calls, login_calls, error
):
    credits = api.get(CREDITS).mock(side_effect=credit_responses)
    login = api.post(LOGIN).mock(side_effect=login_responses)
    hook = clay_hook()

    if error is None:
        assert invoke(mode, hook, "get_balance").primary.remaining == 6500
        assert credits.calls.last.request.headers["Cookie"] == f"claysession={FRESH}"
    else:
        with pytest.raises(error):
            invoke(mode, hook, "get_balance")

    assert (credits.call_count, login.call_count) == (credit_calls, login_calls)
    assert credits.calls[0].request.headers["Cookie"] == f"claysession={COOKIE}"
    assert json.loads(login.calls.last.request.content) == {
        "email": EMAIL,
        "password": ACCOUNT_PASSWORD,
        "source": None,
    }
    assert clock.sleeps == []


def test_sign_in_only_with_login_details_configured(mode, api, make_hook):
    credits = api.get(CREDITS).mock(side_effect=[unauthorized()])  # no login route: signing in would fail

    with pytest.raises(CreditsAuthError, match="Session expired"):
        invoke(mode, make_hook("clay"), "get_balance")

    assert credits.call_count == 1
    assert len(api.calls) == 1


def test_login_only_connection_signs_in_on_first_401(mode, api, clay_hook):
    credits = api.get(CREDITS).mock(side_effect=[unauthorized(), ok()])
    api.post(LOGIN).mock(side_effect=[signed_in()])

    invoke(mode, clay_hook(password=""), "get_balance")

    assert "Cookie" not in credits.calls[0].request.headers
    assert credits.calls[1].request.headers["Cookie"] == f"claysession={FRESH}"


def test_explicit_login_replaces_the_cookie(api, clay_hook):
    api.post(LOGIN).mock(side_effect=[signed_in()])
    credits = api.get(CREDITS).mock(side_effect=[ok()])
    hook = clay_hook()

    hook.login()
    hook.get_balance()

    assert credits.calls.last.request.headers["Cookie"] == f"claysession={FRESH}"


def test_explicit_login_needs_login_details(api, make_hook):
    with pytest.raises(CreditsConfigError, match="signing in needs the email"):
        make_hook("clay").login()


PASTED_FORMS = [
    "{}",
    "claysession={}",
    "  claysession={} ",
    "Claysession={}",
    "claysession={};",
    'claysession="{}"',
    "Cookie: claysession={}",
    "cookie: other=1; claysession={}; more=2",
    "claysession={}; Path=/; HttpOnly",
]


@pytest.mark.parametrize("form", PASTED_FORMS)
def test_pasted_cookie_with_or_without_prefix(mode, api, make_hook, form):
    route = api.get(CREDITS).respond(json=load("clay", "workspace_credits"))

    invoke(mode, make_hook("clay", password=form.format(COOKIE)), "get_balance")

    assert route.calls.last.request.headers["Cookie"] == f"claysession={COOKIE}"


@pytest.mark.parametrize("form", PASTED_FORMS)
def test_masked_placeholder_in_any_pasted_form_is_refused(mode, api, make_hook, form):
    with pytest.raises(CreditsConfigError, match="masked placeholder"):
        invoke(mode, make_hook("clay", password=form.format("***")), "get_balance")

    assert not api.calls


def test_no_cookie_and_no_login_is_a_config_error(mode, api, make_hook):
    with pytest.raises(CreditsConfigError, match="neither a session cookie"):
        invoke(mode, make_hook("clay", password=""), "get_balance")

    assert not api.calls


def test_missing_workspace_is_a_config_error(mode, api, make_hook):
    with pytest.raises(CreditsConfigError, match="no workspace_id extra"):
        invoke(mode, make_hook("clay", extra={"workspace_id": None}), "get_balance")

    assert not api.calls


def test_rejected_explicit_login_is_sent_once(api, clay_hook, clock):
    login = api.post(LOGIN).respond(401, json={"message": "Wrong email or password"})

    with pytest.raises(CreditsAuthError, match="Wrong email or password"):
        clay_hook().login()

    assert login.call_count == 1
