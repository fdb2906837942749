"""The Airflow CLI on the session's metadata database: lists the provider, accepts its connection types."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _airflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIRFLOW, *args], capture_output=True, text=True, timeout=180, env=os.environ.copy()
    )


def _json_rows(stdout: str) -> list[dict]:
    """The JSON array the CLI printed, skipping any log lines before it."""
    line = next(line for line in stdout.splitlines() if line.startswith("[{"))
    return json.loads(line)


@pytest.mark.integration
def test_airflow_cli_lists_provider_and_accepts_connection_types(airflow_db: Path) -> None:
    listed = _airflow("providers", "list", "--output", "json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    packages = {p["package_name"]: p for p in _json_rows(listed.stdout)}
    assert "airflow-provider-credits" in packages

    added = _airflow(
        "connections",
        "add",
        "clodura_cli_check",
        "--conn-type",
        "clodura",
        "--conn-password",
        "cli-key-0123456789",
    )
    assert added.returncode == 0, added.stderr[-2000:]
    shown = _airflow("connections", "get", "clodura_cli_check", "--output", "json")
    assert shown.returncode == 0, shown.stderr[-2000:]
    (conn,) = _json_rows(shown.stdout)
    assert conn["conn_type"] == "clodura"

    hooks = _airflow("providers", "hooks", "--output", "json")
    assert hooks.returncode == 0, hooks.stderr[-2000:]
    by_type = {h["connection_type"]: h for h in _json_rows(hooks.stdout)}
    for conn_type, class_name in {
        "clay": "ClayHook",
        "clodura": "CloduraHook",
        "theirstack": "TheirStackHook",
        "trendtrack": "TrendtrackHook",
    }.items():
        assert by_type[conn_type]["class"].endswith(class_name)
