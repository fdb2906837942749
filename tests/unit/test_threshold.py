"""The gate is built (and its arguments validated) once, and travels to the trigger as JSON."""

from __future__ import annotations

import importlib
import json
import sys
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_credits import gate as gate_module
from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.gate import GATE_ARGUMENTS, Gate, Thresholds
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor
from tests.support.fake_vendor import CONN_ID, FakeVendor, credits

GATES = [
    Gate(Thresholds(Decimal(500), None)),
    Gate(Thresholds(Decimal("250.5"), Decimal("12.5")), "direct_dials", fail_on_transient_errors=True),
    Gate(Thresholds(None, Decimal(10)), reserve=True, max_unreachable_checks=None),
    Gate(Thresholds(Decimal(600), None), reserve=Decimal("600.25"), max_unreachable_checks=1),
]


@pytest.mark.parametrize("gate", GATES)
def test_to_dict_is_json_and_from_dict_rebuilds_the_same_gate(gate: Gate) -> None:
    data = gate.to_dict()
    assert set(data) == set(GATE_ARGUMENTS)
    assert json.loads(json.dumps(data)) == data
    assert Gate.from_dict(json.loads(json.dumps(data))) == gate


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"min_remaining": "lots"}, "min_remaining must be a number, got 'lots'"),
        ({"min_remaining": "5", "reserve": "-1"}, "reserve must not be negative"),
        ({"min_remaining": "5", "max_unreachable_checks": 0}, "max_unreachable_checks must be a positive"),
        ({}, "give min_remaining, min_remaining_pct or both"),
        ({"min_remaining": "5", "pool": "x"}, "not gate arguments: pool"),
    ],
)
def test_from_dict_validates_what_it_reads(data: dict[str, Any], match: str) -> None:
    with pytest.raises(CreditsConfigError, match=match):
        Gate.from_dict(data)


def test_at_parse_builds_literal_gates_and_waits_for_templates() -> None:
    assert Gate.at_parse(min_remaining=500, credit_pool=None) == GATES[0]
    assert Gate.at_parse(min_remaining="{{ params.need }}") is None
    assert Gate.at_parse(min_remaining=500, credit_pool="api_credits") is None  # strings render
    # a templated threshold counts as given; literal arguments beside it are checked now
    assert Gate.at_parse(min_remaining_pct="{{ params.pct }}") is None
    with pytest.raises(CreditsConfigError, match="min_remaining must not be negative"):
        Gate.at_parse(min_remaining=-5, credit_pool="{{ params.pool }}")
    with pytest.raises(CreditsConfigError, match="max_unreachable_checks"):
        Gate.at_parse(min_remaining="{{ x }}", max_unreachable_checks=0)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """Every threshold validation (``parse_thresholds`` call), in order."""
    calls: list[tuple[Any, Any]] = []
    real = gate_module.parse_thresholds

    def counting(min_remaining: Any, min_remaining_pct: Any) -> Thresholds:
        calls.append((min_remaining, min_remaining_pct))
        return real(min_remaining, min_remaining_pct)

    monkeypatch.setattr(gate_module, "parse_thresholds", counting)
    return calls


def test_a_literal_gate_is_validated_once_at_construction(vendor: FakeVendor, parses: list) -> None:
    vendor.script(credits(100), credits(100), credits(900))
    sensor = CreditThresholdSensor(task_id="gate", credits_conn_id=CONN_ID, min_remaining=500)
    assert parses == [(500, None)]
    assert [bool(sensor.poke({})) for _ in range(3)] == [False, False, True]  # type: ignore[arg-type]
    assert parses == [(500, None)]


def test_a_templated_gate_is_validated_once_rendered_and_again_only_when_it_changes(
    vendor: FakeVendor, parses: list
) -> None:
    vendor.script(credits(700), credits(700), credits(700))
    sensor = CreditThresholdSensor(
        task_id="gate", credits_conn_id=CONN_ID, min_remaining="{{ need }}", min_remaining_pct=10
    )
    assert parses == [("0", 10)]  # the literal percentage is checked at parse time
    sensor.render_template_fields({"need": 600})  # type: ignore[typeddict-unknown-key]
    assert sensor.poke({}).is_done  # type: ignore[arg-type]
    assert sensor.poke({}).is_done  # type: ignore[arg-type]
    assert parses == [("0", 10), ("600", 10)]
    sensor.min_remaining = "800"  # rendered again with other values: a new gate
    assert not sensor.poke({}).is_done  # type: ignore[arg-type]
    assert parses[-1] == ("800", 10)
    assert sensor.gate.thresholds.min_remaining == Decimal(800)


def test_the_trigger_validates_its_gate_once_per_run(vendor: FakeVendor, parses: list) -> None:
    import asyncio
    import time

    from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger, _gate_of
    from tests.support.sensor_modes import collect

    _gate_of.cache_clear()  # equal gate arguments are parsed once per process (gate_of)
    vendor.script(credits(100), credits(100), credits(900))
    trigger = CreditThresholdTrigger(
        credits_conn_id=CONN_ID, min_remaining="500", poke_interval=0.01, deadline=time.time() + 30
    )
    (event,) = asyncio.run(collect(trigger))
    assert event.payload["status"] == "success"
    assert parses == [("500", None)]  # three checks


def test_credits_conn_id_is_required() -> None:
    """No default vendor: a sensor without a connection fails when the DAG file is parsed."""
    with pytest.raises(TypeError, match="missing keyword argument 'credits_conn_id'"):
        CreditThresholdSensor(task_id="gate", min_remaining=500)  # type: ignore[call-arg]


def test_credits_conn_id_may_come_from_default_args() -> None:
    from airflow.sdk import DAG

    with DAG("gated", schedule=None, default_args={"credits_conn_id": "theirstack_default"}):
        sensor = CreditThresholdSensor(task_id="gate", min_remaining=500)  # type: ignore[call-arg]
    assert sensor.credits_conn_id == "theirstack_default"


def test_a_dag_file_without_credits_conn_id_is_an_import_error(tmp_path: Any) -> None:
    from tests.support.airflow_env import dag_bag

    (tmp_path / "no_connection.py").write_text(
        "from airflow.sdk import DAG\n"
        "from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor\n"
        "with DAG('no_connection', schedule=None):\n"
        "    CreditThresholdSensor(task_id='gate', min_remaining=500)\n"
    )
    bag = dag_bag(str(tmp_path))
    assert "no_connection" not in bag.dag_ids
    (error,) = bag.import_errors.values()
    assert "missing keyword argument 'credits_conn_id'" in error


#: every name ``airflow_provider_credits.threshold`` had
OLD_NAMES = ["DEFAULT_MAX_UNREACHABLE_CHECKS", "HUNDRED", "Check", "ErrorAction", "Gate", "GateSettings", "Reach", "ThresholdDecision", "Thresholds", "decide", "display_host", "error_action", "error_from_payload", "error_payload", "fmt", "never_reached_error", "never_reached_hint", "parse_amount", "parse_max_unreachable_checks", "parse_reserve", "parse_thresholds", "result_value"]  # fmt: skip


def test_the_threshold_module_is_a_deprecated_alias_of_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "airflow_provider_credits.threshold", raising=False)
    with pytest.warns(DeprecationWarning, match="import from airflow_provider_credits.gate"):
        old = importlib.import_module("airflow_provider_credits.threshold")
    assert [name for name in OLD_NAMES if getattr(old, name) is not getattr(gate_module, name)] == []
    assert set(OLD_NAMES) <= set(old.__all__)


@pytest.mark.parametrize("amount", [10**14, "1e20", "1e999999999", Decimal("100000000000000.5")])
@pytest.mark.parametrize("argument", ["min_remaining", "reserve"])
def test_amounts_of_ten_to_the_fourteen_or_more_are_refused_at_parse_time(
    argument: str, amount: object
) -> None:
    """Credit amounts are capped below 10^14 everywhere: a larger threshold could never be compared."""
    from airflow_provider_credits.gate import Gate

    kwargs = {"min_remaining": 1, argument: amount}
    with pytest.raises(CreditsConfigError, match="below 10\\^14"):
        Gate.build(**kwargs)
