"""The sandbox's ASGI app in-process (Starlette's test client, no server): a vendor call is logged,
authenticated, faulted and rendered; the controls answer 400 and 402 in the documented shapes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.app import create_app
from airflow_provider_credits.sandbox.state import SandboxState

THEIRSTACK = {"Authorization": f"Bearer {keys.THEIRSTACK_API_KEY}"}
BALANCE = "/v0/billing/credit-balance"
CLAY = {"Cookie": f"{keys.CLAY_COOKIE_NAME}={keys.CLAY_COOKIE}"}


@pytest.fixture
def state() -> SandboxState:
    return SandboxState()


@pytest.fixture
def client(state: SandboxState) -> Iterator[TestClient]:
    with TestClient(create_app(state)) as test_client:
        yield test_client


def test_a_vendor_call_is_answered_logged_and_given_the_vendors_headers(
    client: TestClient, state: SandboxState
) -> None:
    answer = client.get(BALANCE, headers=THEIRSTACK)

    assert answer.status_code == 200
    assert answer.json()["api_credits"] == 25_000
    assert answer.headers["RateLimit-Limit"] == "10"
    (logged,) = state.requests("theirstack")
    assert (logged.method, logged.path, logged.status, logged.fault) == ("GET", BALANCE, 200, None)


def test_a_missing_or_wrong_key_is_the_vendors_own_401(client: TestClient) -> None:
    missing = client.get(BALANCE)
    wrong = client.get(BALANCE, headers={"Authorization": "Bearer nope"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "E-002")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "E-003")


@pytest.mark.parametrize(
    ("scenario", "params", "status", "check"),
    [
        ("rate_limit", {"retry_after": 7}, 429, lambda r: r.headers["Retry-After"] == "7"),
        ("server_error", {"status": 503}, 503, lambda r: r.json()["error"]["code"] == "E-008"),
        ("html", {"status": 502}, 502, lambda r: "<title>502 Bad Gateway" in r.text),
        ("schema_drift", {}, 200, lambda r: r.json()["apiVersion"] == "2"),
        ("numbers_as_strings", {}, 200, lambda r: r.json()["api_credits"] == "25000"),
        ("malformed_json", {}, 200, lambda r: r.text.startswith("{") and not r.text.endswith("}")),
        ("huge_body", {"size": 5000}, 200, lambda r: len(r.content) == 5000),
        ("out_of_credits", {}, 402, lambda r: r.json()["error"]["code"] == "E-005"),
    ],
)
def test_a_fault_replaces_or_rewrites_the_answer_once(
    client: TestClient, state: SandboxState, scenario, params, status, check
) -> None:
    state.add_fault("theirstack", scenario, 1, params=params)

    faulted = client.get(BALANCE, headers=THEIRSTACK)

    assert faulted.status_code == status and check(faulted)
    assert state.requests("theirstack")[-1].fault == scenario
    assert client.get(BALANCE, headers=THEIRSTACK).json()["api_credits"] == 25_000  # its one request used


def test_an_unknown_id_in_the_path_is_a_404_in_the_vendors_words(client: TestClient) -> None:
    answer = client.get("/v3/users/nobody/credits", headers=CLAY)
    assert answer.status_code == 404 and answer.json()["message"] == "User 'nobody' not found."


def test_controls_answer_400_naming_the_field_and_402_in_the_vendors_shape(client: TestClient) -> None:
    bad = client.post("/_sandbox/spend", json={"vendor": "clay", "amount": "lots"})
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": "amount: 'lots' is not a number", "field": "amount"},
    )
    not_an_object = client.post("/_sandbox/spend", json=[1])
    assert not_an_object.status_code == 400 and "must be a JSON object" in not_an_object.json()["error"]
    broke = client.post("/_sandbox/spend", json={"vendor": "theirstack", "amount": 10**9})
    assert broke.status_code == 402 and broke.json()["error"]["code"] == "E-005"


def test_a_post_body_that_is_not_json_is_the_vendors_validation_error(client: TestClient) -> None:
    answer = client.post(
        "/v3/users/usr_sbx_alice/resources",
        content=b"{not json",
        headers=CLAY,
    )
    assert answer.status_code == 422 and answer.json()["message"] == "the request body is not JSON"
