"""The sandbox's control API as functions on a state: each field read with its type checked, each
endpoint's effect (the same endpoints over HTTP: tests/integration/sandbox/test_server.py)."""

from __future__ import annotations

import pytest

from airflow_provider_credits.sandbox.control import CONTROLS, MAX_AMOUNT, Fields
from airflow_provider_credits.sandbox.faults import SCENARIOS
from airflow_provider_credits.sandbox.state import SandboxError, SandboxState


def control(state: SandboxState, method: str, path: str, body: dict | None = None, **query: str) -> object:
    return CONTROLS[(method, path)](state, Fields(body or {}), query)


def test_fields_are_read_with_their_types() -> None:
    fields = Fields({"vendor": "clay", "amount": "250", "count": 2.0, "params": {"delay": 1}, "empty": ""})
    assert (fields.text("vendor"), fields.text("empty"), fields.text("absent")) == ("clay", None, None)
    assert (fields.number("amount"), fields.count("count"), fields.count("absent")) == (250.0, 2, None)
    assert (fields.mapping("params"), fields.mapping("absent")) == ({"delay": 1}, {})


@pytest.mark.parametrize(
    ("body", "read", "field", "words"),
    [
        ({}, lambda f: f.text("vendor", required=True), "vendor", "missing (required)"),
        ({"vendor": " "}, lambda f: f.text("vendor", required=True), "vendor", "is empty"),
        ({"vendor": 5}, lambda f: f.text("vendor"), "vendor", "5 is not a string"),
        ({"amount": "ten"}, lambda f: f.number("amount"), "amount", "'ten' is not a number"),
        ({"amount": True}, lambda f: f.number("amount"), "amount", "True is not a number"),
        ({"amount": "nan"}, lambda f: f.number("amount"), "amount", "'nan' is not a finite number"),
        ({"amount": 10**400}, lambda f: f.number("amount"), "amount", "... is not a finite number"),
        (
            {"amount": MAX_AMOUNT * 2},
            lambda f: f.number("amount"),
            "amount",
            "is beyond the sandbox's bound of 1e+12",
        ),
        ({"count": 1.5}, lambda f: f.count("count"), "count", "1.5 is not a whole number"),
        ({"params": [1]}, lambda f: f.mapping("params"), "params", "[1] is not a JSON object"),
    ],
)
def test_a_bad_field_is_a_sandbox_error_naming_it(body: dict, read, field: str, words: str) -> None:
    with pytest.raises(SandboxError) as info:
        read(Fields(body))
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ") and words in str(info.value)


def test_spend_top_up_and_balance_change_the_state() -> None:
    state = SandboxState()
    remaining = state.pool("theirstack", "api_credits").remaining
    assert (
        control(state, "POST", "/spend", {"vendor": "theirstack", "amount": 100, "pool": "api_credits"})[
            "remaining"
        ]
        == remaining - 100
    )
    assert control(state, "POST", "/topup", {"vendor": "clodura", "amount": "50"})["pool"] == "credits"
    assert (
        control(state, "POST", "/balance", {"vendor": "clay", "pool": "credits", "remaining": 7})["remaining"]
        == 7
    )
    assert control(state, "GET", "/state")["pools"]["clay"]["credits"]["remaining"] == 7
    control(state, "POST", "/reset", {"clodura_plan": "prospect"})
    assert list(state.account("clodura")) == ["contact_views", "direct_dials"]


def test_faults_are_added_listed_and_cleared() -> None:
    state = SandboxState()
    added = control(
        state, "POST", "/faults", {"scenario": "rate_limit", "count": 2, "params": {"retry_after": 3}}
    )
    assert (added["vendor"], added["count"], added["params"]) == ("*", 2, {"retry_after": 3})
    assert [f["scenario"] for f in control(state, "GET", "/faults")["faults"]] == ["rate_limit"]
    assert control(state, "DELETE", "/faults") == {"faults": []} and state.faults == []
    with pytest.raises(SandboxError, match="scenario: missing"):
        control(state, "POST", "/faults", {"vendor": "clay"})


def test_the_request_log_is_reported_by_vendor_and_path_and_cleared() -> None:
    state = SandboxState()
    state.log_request("clay", "GET", "/v3/owners")
    state.log_request("clodura", "GET", "/api/v1/credits")
    seen = control(state, "GET", "/requests", vendor="clay")
    assert (seen["count"], seen["by_path"], [r["path"] for r in seen["requests"]]) == (
        1,
        {"clay /v3/owners": 1},
        ["/v3/owners"],
    )
    assert control(state, "DELETE", "/requests") == {"count": 0} and state.request_count() == 0


def test_health_and_the_list_of_scenarios() -> None:
    state = SandboxState()
    assert control(state, "GET", "/health") == {"ok": True}
    scenarios = control(state, "GET", "/scenarios")
    assert list(scenarios) == list(SCENARIOS)
    assert scenarios["slow"] == {"effect": SCENARIOS["slow"].effect, "params": {"delay": 2.0}}
