"""What every emulated vendor is made of: error replies in its own body, unknown ids, Bearer auth,
the request window, and the time helpers."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.state import SandboxState
from airflow_provider_credits.sandbox.vendors.base import (
    ERRORS,
    Call,
    SandboxVendor,
    Window,
    bearer_auth,
    iso,
    matches,
    midnight,
    parse_moment,
)
from tests.support.sandbox import vendor_request

ACME = SandboxVendor(
    name="acme",
    routes=(),
    auth=bearer_auth("theirstack"),
    auth_hint="Authorization: Bearer <key>",
    error_body=lambda code, status, message, rid: {
        "code": code,
        "status": status,
        "message": message,
        "id": rid,
    },
    error_codes={"rate_limited": "SLOW_DOWN"},
    known_ids={"user_id": (("u1",), "User")},
)


def test_an_error_reply_uses_the_vendors_body_code_and_the_kinds_status() -> None:
    state = SandboxState()
    missing = ACME.error("missing_key", state)
    assert (missing.status, missing.body["code"], missing.body["message"]) == (
        401,
        "Unauthorized",  # no code of its own: the reason phrase
        "Provide an API key using Authorization: Bearer <key>.",
    )
    limited = ACME.error("rate_limited", state, status=503, message="busy")
    assert (limited.status, limited.body["code"], limited.body["message"]) == (503, "SLOW_DOWN", "busy")
    assert limited.body["id"] > missing.body["id"]  # request ids come from the state


def test_every_error_kind_has_a_status_and_a_message() -> None:
    assert all(100 <= status < 600 and message for status, message in ERRORS.values())


def test_an_unknown_id_is_a_404_naming_it_and_a_known_one_passes() -> None:
    state = SandboxState()
    assert ACME.unknown_id(Call(state, {"user_id": "u1"}, {})) is None
    reply = ACME.unknown_id(Call(state, {"user_id": "u2"}, {}))
    assert reply is not None and (reply.status, reply.body["message"]) == (404, "User 'u2' not found.")


@pytest.mark.parametrize(
    ("headers", "outcome"),
    [
        ((("Authorization", f"Bearer {keys.THEIRSTACK_API_KEY}"),), None),
        ((("Authorization", f"bearer  {keys.THEIRSTACK_API_KEY} "),), None),
        ((("Authorization", "Bearer wrong"),), "invalid_key"),
        ((("Authorization", f"Token {keys.THEIRSTACK_API_KEY}"),), "missing_key"),
        ((), "missing_key"),
    ],
)
def test_bearer_auth(headers: tuple, outcome: str | None) -> None:
    assert bearer_auth("theirstack")(vendor_request(*headers), SandboxState()) == outcome


def test_credentials_compare_exactly() -> None:
    assert matches("key", "key") and not matches("key", "key ") and not matches("ke", "key")


def test_the_window_counts_requests_per_second() -> None:
    window = Window()
    counts = [window.hit() for _ in range(3)]
    assert counts in ([1, 2, 3], [1, 2, 1], [1, 1, 2])  # a second may turn between two hits


def test_time_helpers() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    assert iso(datetime(2025, 6, 1, 2, tzinfo=madrid)) == "2025-06-01T00:00:00.000Z"
    assert midnight(date(2025, 6, 1), madrid) == datetime(2025, 6, 1, tzinfo=madrid)
    assert parse_moment("2025-06-01T00:00:00Z") == datetime(2025, 6, 1, tzinfo=timezone.utc)
    assert parse_moment("2025-06-01T00:00:00", madrid).utcoffset() == timedelta(hours=2)
    with pytest.raises(ValueError):
        parse_moment("yesterday")
