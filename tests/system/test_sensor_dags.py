"""End-to-end: DAG files run with ``dag.test()`` against the vendor sandbox."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from airflow_provider_credits.sandbox.server import SandboxServer
from tests.support.airflow_env import run_dag

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DAGS = Path(__file__).parent / "dags"


def test_each_mode_gates_and_hands_its_balance_downstream(sandbox: SandboxServer) -> None:
    # One vendor error each, which the sensor must ride out: 402 (zero credits), 5xx, 429.
    sandbox.add_fault("clay", "out_of_credits", count=1)
    sandbox.add_fault("theirstack", "server_error", count=1, status=503)
    sandbox.add_fault("trendtrack", "rate_limit", count=1, retry_after=0)

    result = run_dag(DAGS / "credit_sensor_modes.py", "credit_sensor_modes")

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    for vendor in ("clay", "theirstack", "trendtrack"):
        assert sandbox.request_count(vendor) == 2, vendor  # the failed check, then the good one
    clay = result.xcom("clay_poke")
    assert clay["vendor"] == "clay"
    assert clay["decision"]["needed"] == 1000  # rendered from the plan task's XCom
    assert result.xcom("budget") == clay["decision"]["remaining"] - 1000
    assert result.xcom("theirstack_reschedule")["decision"]["pool"] == "ui_credits"
    assert result.xcom("trendtrack_deferrable")["decision"]["remaining"] == 2500


def test_deferred_sensor_resumes_after_a_top_up(sandbox: SandboxServer) -> None:
    sandbox.set_balance("clodura", "credits", 100)

    def top_up_while_deferred() -> None:
        deadline = time.monotonic() + 60
        while sandbox.request_count("clodura") < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        sandbox.topup("clodura", 5000)

    helper = threading.Thread(target=top_up_while_deferred, daemon=True)
    helper.start()
    result = run_dag(DAGS / "credit_sensor_topup.py", "credit_sensor_topup")
    helper.join()

    assert result.task_states == {"wait_for_credits": "success"}
    decision = result.xcom("wait_for_credits")["decision"]
    assert (decision["remaining"], decision["needed"]) == (5100, 4000)
    assert sandbox.request_count("clodura") >= 4  # three low checks, then the one after the top-up


def test_timeouts_skip_with_soft_fail_and_fail_without(sandbox: SandboxServer) -> None:
    result = run_dag(DAGS / "credit_sensor_timeout.py", "credit_sensor_timeout")

    assert result.task_states == {
        "deferrable_soft_fail": "skipped",
        "enrich": "skipped",
        "poke_times_out": "failed",
    }
    assert result.state == "failed"
    assert sandbox.request_count("theirstack") >= 2  # it kept checking until its deadline
