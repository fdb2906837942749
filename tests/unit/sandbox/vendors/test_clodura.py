"""Clodura in the sandbox: its ``X-API-KEY`` check, and the credits endpoint in each plan's schema."""

from __future__ import annotations

import pytest

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.state import SandboxState
from airflow_provider_credits.sandbox.vendors.base import Call
from airflow_provider_credits.sandbox.vendors.clodura import CLODURA, credits
from tests.support.sandbox import vendor_request


@pytest.mark.parametrize(
    ("headers", "outcome"),
    [
        ((("X-API-KEY", keys.CLODURA_API_KEY),), None),
        ((("X-API-KEY", "nope"),), "invalid_key"),
        ((), "missing_key"),
    ],
)
def test_the_api_key_header(headers: tuple, outcome: str | None) -> None:
    assert CLODURA.auth(vendor_request(*headers), SandboxState()) == outcome


def test_the_unified_plan_sends_remaining_credits() -> None:
    state = SandboxState(clodura_plan="unified")
    assert credits(Call(state, {}, {})).body == {
        "remainingCredits": state.pool("clodura", "credits").remaining
    }


def test_the_prospect_plan_sends_used_counts_and_max_contacts_as_a_string() -> None:
    state = SandboxState(clodura_plan="prospect")
    views, dials = state.pool("clodura", "contact_views"), state.pool("clodura", "direct_dials")
    assert credits(Call(state, {}, {})).body == {
        "contactsView": views.used,
        "maxContacts": "1000",
        "directDials": dials.used,
        "maxDirectDials": 200,
    }


def test_an_error_is_the_reason_phrase_in_clodura_s_body() -> None:
    reply = CLODURA.error("forbidden", SandboxState())
    assert reply.body == {"statusCode": 403, "error": "Forbidden", "message": reply.body["message"]}
