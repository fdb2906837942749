"""A DAG whose gates' pool templates render to nothing fails before any vendor call (issue 22), run with dag.test()."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_credits.sandbox.server import SandboxServer
from tests.support.airflow_env import run_dag

DAGS = Path(__file__).parent / "dags"


@pytest.mark.e2e
@pytest.mark.integration
@pytest.mark.usefixtures("airflow_db")
def test_a_gate_on_an_empty_pool_template_fails_instead_of_gating_the_primary_pool(
    sandbox: SandboxServer,
) -> None:
    result = run_dag(DAGS / "empty_template_gate.py", "empty_template_gate")
    assert result.task_states == {
        "gate": "failed",
        "mapped_gate[0]": "failed",
        "mapped_gate[1]": "failed",
    }
    assert result.state == "failed"
    assert sandbox.request_count("theirstack") == 0  # failed before any vendor call
