"""Counting the gate's threshold validations: the ``parses`` fixture (the gate is validated once per change)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_credits import gate as gate_module
from airflow_provider_credits.gate import Thresholds


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
