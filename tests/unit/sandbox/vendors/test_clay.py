"""Clay in the sandbox: session cookies (pasted or issued by signing in), the workspace balance, the
credit report of a time range, and 404s for ids it does not know."""

from __future__ import annotations

from datetime import timedelta

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.state import SandboxState, today
from airflow_provider_credits.sandbox.vendors import clay
from airflow_provider_credits.sandbox.vendors.base import Call
from tests.support.sandbox import vendor_request

COOKIE = ("Cookie", f"theme=dark; {keys.CLAY_COOKIE_NAME}={keys.CLAY_COOKIE}")


def test_every_claysession_cookie_of_every_cookie_header_is_read() -> None:
    request = vendor_request(("Cookie", "a=1; claysession=one"), ("Cookie", "claysession=two; claysession="))
    assert clay.clay_cookies(request) == ["one", "two"]


def test_a_known_session_passes_an_unknown_one_has_expired_none_is_missing() -> None:
    state = SandboxState()
    assert clay.CLAY.auth(vendor_request(COOKIE), state) is None
    assert clay.CLAY.auth(vendor_request(("Cookie", "claysession=old")), state) == "session_expired"
    assert clay.CLAY.auth(vendor_request(), state) == "missing_key"


def test_signing_in_issues_a_session_the_auth_then_accepts() -> None:
    state = SandboxState()
    refused = clay.login(Call(state, {}, {}, {"email": keys.CLAY_EMAIL, "password": "wrong"}))
    assert (refused.status, refused.body["type"]) == (401, "Unauthorized")

    reply = clay.login(Call(state, {}, {}, {"email": keys.CLAY_EMAIL, "password": keys.CLAY_PASSWORD}))

    session = reply.headers["Set-Cookie"].split(";")[0].partition("=")[2]
    assert session in state.login_sessions
    assert clay.CLAY.auth(vendor_request(("Cookie", f"claysession={session}")), state) is None


def test_the_workspace_balance_and_a_report_of_the_days_in_the_range() -> None:
    state = SandboxState(history_days=3)
    pool = state.pool("clay", "credits")
    assert clay.workspace_credits(Call(state, {}, {})).body["remainingCredits"] == pool.remaining
    first = today() - timedelta(days=2)
    query = {"timeRange[startTime]": f"{first}T00:00:00Z", "timeRange[endTime]": f"{today()}T00:00:00Z"}

    body = clay.workspace_report(Call(state, {}, query)).body

    days = state.consumption("clay", "credits")
    assert [e["date"][:10] for e in body["entries"]] == [str(first), str(first + timedelta(days=1))]
    assert body["totalCreditsUsed"] == days[first] + days[first + timedelta(days=1)]


def test_an_unreadable_time_range_is_the_validation_error() -> None:
    reply = clay.workspace_report(Call(SandboxState(), {}, {"timeRange[startTime]": "last week"}))
    assert (reply.status, reply.body["message"]) == (422, "timeRange must hold ISO 8601 datetimes")


def test_ids_it_does_not_know_are_404s() -> None:
    state = SandboxState()
    assert clay.CLAY.unknown_id(Call(state, {"workspace_id": keys.CLAY_WORKSPACE_ID}, {})) is None
    reply = clay.CLAY.unknown_id(Call(state, {"integration_type": "zoominfo"}, {}))
    assert reply is not None and reply.body == {
        "type": "NotFound",
        "message": "Integration type 'zoominfo' not found.",
    }
