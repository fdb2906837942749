"""SandboxClient's calls against the app in-process (no server), the connections it hands out, and
SandboxServer before it is started (starting and stopping a real one: tests/integration/sandbox)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.app import create_app
from airflow_provider_credits.sandbox.server import SandboxClient, SandboxClientError, SandboxServer
from airflow_provider_credits.sandbox.state import SandboxError, SandboxState


@pytest.fixture
def client() -> Iterator[SandboxClient]:
    """A client whose HTTP calls reach an app in this process."""
    client = SandboxClient("http://testserver/")
    client._http = TestClient(create_app(SandboxState()))
    yield client
    client.close()


def test_the_client_drives_the_controls(client: SandboxClient) -> None:
    assert client.url == "http://testserver" and client.health()
    assert client.set_balance("clay", "credits", 100)["remaining"] == 100
    assert client.spend("clay", 40, user_id="usr_sbx_alice")["remaining"] == 60
    assert client.topup("clay", 10)["remaining"] == 70
    client.add_fault("clodura", "slow", 1, delay=0)
    assert [(f["vendor"], f["params"]) for f in client.faults()] == [("clodura", {"delay": 0.0})]
    client.clear_faults()
    assert client.faults() == [] and client.request_count() == 0 and client.requests("clay") == []
    assert client.state()["pools"]["clay"]["credits"]["remaining"] == 70
    assert client.reset("prospect")["clodura_plan"] == "prospect"


def test_a_refused_control_is_a_client_error_with_the_status_and_body(client: SandboxClient) -> None:
    with pytest.raises(SandboxClientError, match="HTTP 402") as info:
        client.spend("theirstack", 10**9)
    assert info.value.status == 402
    with pytest.raises(SandboxClientError) as info:
        client.add_fault("clay", "meteor")
    assert (info.value.status, info.value.body["field"]) == (400, "scenario")


def test_a_sandbox_that_does_not_answer_is_not_healthy() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client = SandboxClient("http://testserver", timeout=1)
    client._http = httpx.Client(transport=httpx.MockTransport(refuse))
    assert client.health() is False


def test_the_connections_point_every_vendor_at_the_sandbox_with_its_key() -> None:
    client = SandboxClient("http://127.0.0.1:8900")
    conns = client.connections()
    assert set(conns) == {f"{vendor}_default" for vendor in keys.SECRETS}
    assert conns["theirstack_default"] == {
        "conn_type": "theirstack",
        "host": "http://127.0.0.1:8900",
        "password": keys.THEIRSTACK_API_KEY,
    }
    assert conns["clay_default"]["extra"] == {"workspace_id": keys.CLAY_WORKSPACE_ID}
    clay = json.loads(client.airflow_conn_env(clay_login=True)["AIRFLOW_CONN_CLAY_DEFAULT"])
    assert (clay["login"], clay["extra"]["account_password"]) == (keys.CLAY_EMAIL, keys.CLAY_PASSWORD)


def test_a_server_not_started_has_no_url_but_its_state_and_faults_are_ready() -> None:
    server = SandboxServer(clodura_plan="prospect", faults=["clodura:forbidden:1", "*:slow::delay=0"])
    assert not server.running and server.clodura_plan == "prospect"
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    assert [(f.vendor, f.scenario, f.count) for f in server._state.faults] == [
        ("clodura", "forbidden", 1),
        ("*", "slow", None),
    ]
    server.stop()  # stopping one never started is harmless


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"faults": ["clay:meteor"]}, SandboxError),
        ({"faults": ["clay"]}, ValueError),
        ({"clodura_plan": "gold"}, SandboxError),
    ],
)
def test_bad_options_fail_when_the_server_is_built(kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        SandboxServer(**kwargs)
