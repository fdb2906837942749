"""The threshold module: a deprecated alias of gate, warning on import and keeping every name it had."""

from __future__ import annotations

import importlib
import sys

import pytest

from airflow_provider_credits import gate as gate_module

#: every name ``airflow_provider_credits.threshold`` had
OLD_NAMES = ["DEFAULT_MAX_UNREACHABLE_CHECKS", "HUNDRED", "Check", "ErrorAction", "Gate", "GateSettings", "Reach", "ThresholdDecision", "Thresholds", "decide", "display_host", "error_action", "error_from_payload", "error_payload", "fmt", "never_reached_error", "never_reached_hint", "parse_amount", "parse_max_unreachable_checks", "parse_reserve", "parse_thresholds", "result_value"]  # fmt: skip


def test_the_threshold_module_is_a_deprecated_alias_of_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "airflow_provider_credits.threshold", raising=False)
    with pytest.warns(DeprecationWarning, match="import from airflow_provider_credits.gate"):
        old = importlib.import_module("airflow_provider_credits.threshold")
    assert [name for name in OLD_NAMES if getattr(old, name) is not getattr(gate_module, name)] == []
    assert set(OLD_NAMES) <= set(old.__all__)
