"""The same scenarios through poke, reschedule and deferrable mode must end the same way."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_credits import exceptions as exc
from airflow_provider_credits.version_compat import AirflowSensorTimeout, AirflowSkipException
from tests.support.fake_vendor import (
    CONN_ID,
    FakeVendor,
    Step,
    connection_env,
    credits,
    http,
    read_timeout,
    refused,
)
from tests.support.sensor_modes import MODES, run_sensor


@dataclass
class Scenario:
    steps: tuple[Step, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: on success: the decision's (pool, remaining, needed); else None
    decided: tuple[str, int, int] | None = None
    error: type[BaseException] | None = None
    match: str = ""
    #: vendor requests expected (None: depends on timing)
    requests: int | None = None


FAST = {"poke_interval": 0.05, "timeout": 10}
#: a sensor that waits until its timeout: long enough for its first check to end well before it
#: on a loaded machine (a check takes milliseconds), so that a second check always comes
TIMING_OUT = {"poke_interval": 0.05, "timeout": 1}

SCENARIOS = {
    "enough": Scenario((credits(800),), decided=("api_credits", 800, 500), requests=1),
    "too_few_then_enough": Scenario(
        (credits(100), credits(499), credits(800)), decided=("api_credits", 800, 500), requests=3
    ),
    "pct": Scenario(
        (credits(200), credits(300)),
        {"min_remaining": None, "min_remaining_pct": "25"},
        decided=("api_credits", 300, 250),
        requests=2,
    ),
    "both_thresholds": Scenario(
        (credits(500), credits(600)),
        {"min_remaining": "100", "min_remaining_pct": 60},
        decided=("api_credits", 600, 600),
        requests=2,
    ),
    "named_pool": Scenario(
        (credits(0),),
        {"credit_pool": "ui_credits", "min_remaining": 50},
        decided=("ui_credits", 50, 50),
        requests=1,
    ),
    "missing_pool": Scenario(
        (credits(800),),
        {"credit_pool": "credits"},
        error=exc.UnknownCreditPoolError,
        match="api_credits, ui_credits",
        requests=1,
    ),
    "bad_templated_threshold": Scenario(
        (credits(800),), {"min_remaining": "lots"}, error=exc.CreditsConfigError, match="'lots'", requests=0
    ),
    "auth_error": Scenario(
        (http(401), credits(800)), error=exc.CreditsAuthError, match="HTTP 401", requests=1
    ),
    "permission_error": Scenario(
        (http(403), credits(800)), error=exc.CreditsAuthError, match="HTTP 403", requests=1
    ),
    "auth_error_while_waiting": Scenario(
        (credits(100), http(401)), error=exc.CreditsAuthError, match="HTTP 401", requests=2
    ),
    "fail_fast_while_waiting": Scenario(
        (credits(100), http(502)),
        {"fail_on_transient_errors": True},
        error=exc.CreditsServerError,
        match="HTTP 502",
        requests=2,
    ),
    "out_of_credits_then_topped_up": Scenario(
        (http(402), credits(800)), decided=("api_credits", 800, 500), requests=2
    ),
    "transient_errors": Scenario(
        (http(429), http(503), read_timeout(), credits(800)), decided=("api_credits", 800, 500), requests=4
    ),
    "transient_fail_fast": Scenario(
        (http(503), credits(800)),
        {"fail_on_transient_errors": True},
        error=exc.CreditsServerError,
        match="HTTP 503",
        requests=1,
    ),
    "timeout": Scenario((credits(100),), TIMING_OUT, error=AirflowSensorTimeout, match="timed out"),
    "timeout_soft_fail": Scenario(
        (credits(100),), {**TIMING_OUT, "soft_fail": True}, error=AirflowSkipException
    ),
    "timeout_on_transient_errors": Scenario((http(500),), TIMING_OUT, error=AirflowSensorTimeout),
    "never_reached": Scenario(
        (refused(),),
        {"max_unreachable_checks": 3},
        error=exc.CreditsTransportError,
        match="none of 3 checks since the task started reached the vendor",
        requests=3,
    ),
    "never_reached_soft_fail_still_fails": Scenario(
        (refused(),),
        {"max_unreachable_checks": 1, "soft_fail": True},
        error=exc.CreditsTransportError,
        match="(host http://vendor.test)",
        requests=1,
    ),
    "never_reached_then_answered": Scenario(
        (refused(), refused(), read_timeout(), credits(800)),
        {"max_unreachable_checks": 4},
        decided=("api_credits", 800, 500),
        requests=4,
    ),
    "reached_once_then_unreachable_waits": Scenario(
        (http(503), refused()), {**TIMING_OUT, "max_unreachable_checks": 1}, error=AirflowSensorTimeout
    ),
    "unreachable_without_bound_waits": Scenario(
        (refused(),), {**TIMING_OUT, "max_unreachable_checks": None}, error=AirflowSensorTimeout
    ),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_outcome_in_every_mode(vendor: FakeVendor, name: str, mode: str) -> None:
    scenario = SCENARIOS[name]
    script = vendor.script(*scenario.steps)
    outcome = run_sensor(
        mode, **{"credits_conn_id": CONN_ID, "min_remaining": 500, **FAST, **scenario.kwargs}
    )

    if scenario.error is not None:
        assert outcome.error_type is scenario.error, outcome.error
        assert scenario.match in str(outcome.error)
    else:
        assert outcome.error is None, outcome.error
        decision = outcome.value["decision"]
        assert (decision["pool"], decision["remaining"], decision["needed"], decision["met"]) == (
            *(scenario.decided or ()),
            True,
        )
        assert outcome.value["vendor"] == "theirstack"
        assert [p["name"] for p in outcome.value["pools"]] == ["api_credits", "ui_credits"]
    if scenario.requests is not None:
        assert script.calls == scenario.requests
    else:
        assert script.calls >= 2  # it kept checking until the timeout


def test_a_host_that_refuses_connections_fails_with_the_same_words_in_every_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real refused port: httpx on the worker, aiohttp in the trigger, one error text."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOWHERE", connection_env(host=f"http://127.0.0.1:{port}", extra={"timeout": 5})
    )
    errors = {}
    for mode in MODES:
        outcome = run_sensor(
            mode, credits_conn_id="nowhere", min_remaining=1, max_unreachable_checks=2, **FAST
        )
        assert type(outcome.error) is exc.CreditsTransportError, (mode, outcome.error)
        errors[mode] = str(outcome.error)
    assert len(set(errors.values())) == 1, errors
    message = errors["poke"]
    for words in (
        "'nowhere'",
        f"(host http://127.0.0.1:{port})",
        "none of 2 checks",
        "configuration mistake",
        "max_unreachable_checks=2",
        "fail_on_transient_errors",
    ):
        assert words in message
    assert "ssl:default" not in message


@pytest.mark.parametrize("mode", MODES)
def test_xcom_value_is_identical_across_modes(vendor: FakeVendor, mode: str) -> None:
    vendor.script(credits(100), credits(900))
    outcome = run_sensor(mode, credits_conn_id=CONN_ID, min_remaining=500, **FAST)
    value = dict(outcome.value)
    assert value.pop("fetched_at")
    assert value == {
        "vendor": "theirstack",
        "account": CONN_ID,
        "pools": [
            {
                "name": "api_credits",
                "unit": "credits",
                "remaining": 900,
                "limit": 1000,
                "used": 100,
                "period_start": None,
                "period_end": None,
            },
            {
                "name": "ui_credits",
                "unit": "credits",
                "remaining": 50,
                "limit": 50,
                "used": 0,
                "period_start": None,
                "period_end": None,
            },
        ],
        "decision": {
            "met": True,
            "pool": "api_credits",
            "unit": "credits",
            "remaining": 900,
            "limit": 1000,
            "reserved": 0,
            "needed": 500,
            "message": "theirstack pool 'api_credits': 900 of 1000 credits remaining, needed 500: enough",
        },
    }


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_exponential_backoff_with_max_wait(vendor: FakeVendor, mode: str) -> None:
    script = vendor.script(credits(100), credits(100), credits(800))
    outcome = run_sensor(
        mode,
        credits_conn_id=CONN_ID,
        min_remaining=500,
        poke_interval=0.05,
        timeout=10,
        exponential_backoff=True,
        max_wait=0.05,
    )
    assert outcome.error is None, outcome.error
    assert script.calls == 3
