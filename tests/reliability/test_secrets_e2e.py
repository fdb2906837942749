"""No secret reaches any output of a real DAG run: logs, stdout/stderr, XCom, rendered fields, errors.

One ``dag.test()`` run against the sandbox (see ``dags/credits_secrets.py``). The needles are
the sandbox's keys (accepted, so every success path runs), the Clay cookie and account
password, the fresh Clay session the hook obtains by signing in again mid-run, and a
distinctive wrong key (so a task fails with an auth error). Every output is scanned for them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.server import SandboxServer
from tests.support.airflow_env import AIRFLOW_HOME, run_dag

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DAG_FILE = Path(__file__).parent / "dags" / "credits_secrets.py"
WRONG_KEY = "tsk-RELIABILITY-wrong-key-7f3a9c"


def _rows(model: Any, run_id: str) -> list[str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(model).filter_by(dag_id="credits_secrets", run_id=run_id).all()
        return [
            json.dumps({c.name: getattr(r, c.name) for c in r.__table__.columns}, default=str) for r in rows
        ]


def test_no_secret_in_any_output_of_a_dag_run(
    airflow_db: Path,
    sandbox: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.sdk.log import redact

    for name, value in sandbox.airflow_conn_env(clay_login=True).items():
        monkeypatch.setenv(name, value)
    wrong = {"conn_type": "theirstack", "host": sandbox.url, "password": WRONG_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_THEIRSTACK_WRONG_KEY", json.dumps(wrong))
    monkeypatch.setenv(
        "AIRFLOW_CONN_RELIABILITY_SECRETS_DB",
        json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "usage.db")}),
    )
    sandbox.add_fault("clay", "expired_cookie")  # the pasted cookie is refused: the hook signs in again
    # Airflow's task log level (AIRFLOW__LOGGING__LOGGING_LEVEL); at DEBUG, httpcore itself logs the
    # Set-Cookie of Clay's sign-in before the hook can register the fresh session: docs/reliability.md
    caplog.set_level(logging.INFO)
    logs_before = set(AIRFLOW_HOME.glob("logs/**/*"))

    result = run_dag(DAG_FILE, "credits_secrets")

    fresh_sessions = set(sandbox._state.login_sessions)
    assert fresh_sessions, "the Clay hook never signed in again: the renewed-cookie path did not run"
    needles = {*keys.SECRETS.values(), keys.CLAY_PASSWORD, WRONG_KEY, *fresh_sessions}
    assert result.task_states == {
        "clay_gate": "success",
        "theirstack_gate": "success",
        "store": "success",
        "describe": "success",
        "wrong_key": "failed",
    }
    captured = capfd.readouterr()
    log_files = [p for p in set(AIRFLOW_HOME.glob("logs/**/*")) - logs_before if p.is_file()]
    outputs = {
        "stdout": captured.out,
        "stderr": captured.err,
        "log records": "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records),
        "task log files": "\n".join(p.read_text(errors="replace") for p in log_files),
        "xcom rows": "\n".join(_rows(XComModel, result.run_id)),
        "rendered fields": "\n".join(_rows(RenderedTaskInstanceFields, result.run_id)),
    }
    # the outputs really hold what they should: the run's reprs, the auth failure, the rendered template
    assert "TheirStackHook(conn_id='theirstack_default')" in outputs["xcom rows"]
    assert "clay_default" in outputs["rendered fields"]
    assert "HTTP 401" in captured.out + outputs["log records"]
    for needle in needles:
        leaks = [where for where, text in outputs.items() if needle in text]
        assert leaks == [], f"secret {needle[:6]}... leaked into {leaks}"
        # and the secrets masker of the task logs knows every one of them
        assert redact(f"key {needle} end") == "key *** end"
