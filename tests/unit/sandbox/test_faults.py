"""The sandbox's fault scenarios as data: parameters checked and defaulted, bodies rewritten, and the
command line's ``vendor:scenario[:count][:name=value,...]`` parsed (served faults: tests/integration/sandbox)."""

from __future__ import annotations

import math

import pytest

from airflow_provider_credits.sandbox.faults import (
    BOUNDS,
    SCENARIOS,
    parse_cli_fault,
    resolve_params,
    transform_body,
)


def test_every_parameter_with_a_bound_is_a_parameter_of_some_scenario() -> None:
    parameters = {name for scenario in SCENARIOS.values() for name in scenario.defaults}
    assert set(BOUNDS) <= parameters


def test_defaults_fill_in_and_strings_are_converted_as_from_the_command_line() -> None:
    assert resolve_params("slow_drip", {}) == {"chunk_size": 16, "interval": 0.05}
    assert resolve_params("slow_drip", {"chunk_size": "4", "interval": "0.5"}) == {
        "chunk_size": 4,
        "interval": 0.5,
    }
    assert resolve_params("nulls", {"fields": "remainingCredits,totalCredits"}) == {
        "fields": ["remainingCredits", "totalCredits"]
    }
    assert resolve_params("server_error", {"status": 503}) == {"status": 503}


@pytest.mark.parametrize(
    ("scenario", "params", "words"),
    [
        ("meteor", {}, "unknown fault scenario 'meteor'"),
        ("slow", {"speed": 1}, "fault 'slow' has no parameter speed; parameters: delay"),
        ("malformed_json", {"x": 1}, "parameters: none"),
        ("slow_drip", {"chunk_size": 1.5}, "parameter 'chunk_size' must be a int"),
        ("slow", {"delay": "soon"}, "parameter 'delay' must be a float"),
        ("slow", {"delay": 601}, "parameter 'delay' must be between 0 and 600"),
        ("slow", {"delay": math.nan}, "must be between"),
        ("server_error", {"status": 404}, "status 404 is out of range"),
        ("html", {"status": 204}, "status 204 is out of range"),
    ],
)
def test_unusable_scenarios_and_parameters_are_refused_saying_why(
    scenario: str, params: dict, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        resolve_params(scenario, params)


BODY = {"total": 1000, "used": 2.5, "name": "acct", "pools": [{"remaining": 7, "on": True}]}


def test_bodies_are_rewritten_by_the_scenarios_that_change_them() -> None:
    assert transform_body("schema_drift", {}, BODY) == {"data": BODY, "apiVersion": "2"}
    assert transform_body("numbers_as_strings", {}, BODY) == {
        "total": "1000",
        "used": "2.50",
        "name": "acct",
        "pools": [{"remaining": "7", "on": True}],  # booleans are not numbers
    }
    assert transform_body("nulls", {"fields": []}, BODY)["pools"] == [{"remaining": None, "on": True}]
    assert transform_body("nulls", {"fields": ["used"]}, BODY) == {**BODY, "used": None}
    assert transform_body("slow", {"delay": 1.0}, BODY) is BODY


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("clay:rate_limit", ("clay", "rate_limit", None, {})),
        ("theirstack:rate_limit:2:retry_after=0", ("theirstack", "rate_limit", 2, {"retry_after": "0"})),
        (
            "*:slow_drip:*:chunk_size=4, interval=0.1",
            ("*", "slow_drip", None, {"chunk_size": "4", "interval": "0.1"}),
        ),
        ("clodura:html::status=502", ("clodura", "html", None, {"status": "502"})),
    ],
)
def test_command_line_faults(spec: str, parsed: tuple) -> None:
    assert parse_cli_fault(spec) == parsed


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("clay", "expected vendor:scenario"),
        ("clay:slow:1:delay=1:extra", "expected vendor:scenario"),
        ("clay:slow:soon", "count must be a positive whole number"),
        ("clay:slow:1:delay=1,oops", "'oops' is not name=value"),
    ],
)
def test_unusable_command_line_faults(spec: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_cli_fault(spec)
