"""``python -m airflow_provider_credits.sandbox`` in a subprocess: starts, prints, serves, stops."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from airflow_provider_credits.sandbox import keys
from tests.support import ROOT


def start_cli(*args: str) -> tuple[subprocess.Popen[str], dict[str, dict], queue.Queue[str]]:
    """Start the CLI on a free port; return the process, the connections it printed and its
    further output lines."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_credits.sandbox",
            "--port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    conns: dict[str, dict] = {}
    deadline = time.monotonic() + 60  # a bound against hangs: a loaded machine starts Python slowly
    while len(conns) < len(keys.VENDORS):
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            proc.kill()
            pytest.fail(
                f"the CLI printed no connections in time: {proc.stderr.read() if proc.stderr else ''}"
            )
        if line.startswith("export AIRFLOW_CONN_"):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            conns[name] = json.loads(value.strip("'"))
    return proc, conns, lines


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_connections_serves_and_stops_on_signal(
    http: httpx.Client, tmp_path: Path, sig: signal.Signals
) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"pools": {"clodura": {"contact_views": {"limit": 2000, "used": 10}}}}))
    proc, conns, lines = start_cli(
        "--seed-file",
        str(seed),
        "--clodura-plan",
        "prospect",
        "--fault",
        "theirstack:rate_limit:1:retry_after=0",
    )
    try:
        assert set(conns) == {f"AIRFLOW_CONN_{v.upper()}_DEFAULT" for v in keys.VENDORS}
        clay, clodura = conns["AIRFLOW_CONN_CLAY_DEFAULT"], conns["AIRFLOW_CONN_CLODURA_DEFAULT"]
        assert clay["conn_type"] == "clay" and clay["extra"] == {"workspace_id": keys.CLAY_WORKSPACE_ID}
        url = clodura["host"]
        assert url.startswith("http://127.0.0.1:")

        body = http.get(f"{url}/api/v1/credits", headers={"X-API-KEY": clodura["password"]}).json()
        assert (body["maxContacts"], body["contactsView"]) == ("2000", 10)
        ts_auth = {"Authorization": f"Bearer {conns['AIRFLOW_CONN_THEIRSTACK_DEFAULT']['password']}"}
        statuses = [
            http.get(f"{url}/v0/billing/credit-balance", headers=ts_auth).status_code for _ in range(2)
        ]
        assert statuses == [429, 200]
    finally:
        proc.send_signal(sig)
        proc.wait(timeout=30)
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, err
    assert lines.get(timeout=5).strip() == "Vendor sandbox stopped."
    assert "theirstack GET /v0/billing/credit-balance -> 429 [fault rate_limit]" in err  # the request log
    assert not any(secret in err for secret in keys.SECRETS.values())


def test_cli_refuses_a_bad_fault() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_credits.sandbox", "--port", "0", "--fault", "clay:meteor"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown fault scenario 'meteor'" in result.stderr
