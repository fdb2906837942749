"""A real ``airflow api-server`` (the Airflow UI) in a subprocess, and headless Chromium.

Nothing here imports Airflow: the screenshot script uses it outside pytest. The server runs
in its own process group, so stopping it also ends the uvicorn worker it forks.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.support.services import free_port

#: flags for Debian's Chromium in containers and CI (Playwright adds its own automation flags).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: overrides the Chromium binary (default: /usr/bin/chromium, then ``chromium`` on PATH).
CHROMIUM_ENV = "CREDITS_CHROMIUM"

#: what the UI tests need from the API server.
SERVER_SETTINGS = {
    "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    # every visitor is an admin: no login page, no generated passwords file
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}

AIRFLOW = Path(sys.executable).with_name("airflow")


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    candidates = [os.environ.get(CHROMIUM_ENV), "/usr/bin/chromium"]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_browser_requirements() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install playwright)"
    if find_chromium() is None:
        return f"Chromium is not installed (apt-get install chromium, or set {CHROMIUM_ENV})"
    return None


def _terminate_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (even by SIGKILL; Linux only)."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def standalone_airflow_env(home: Path) -> dict[str, str]:
    """Environment of a throwaway AIRFLOW_HOME with SQLite, for use outside pytest."""
    (home / "dags").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    return env


def migrate(env: Mapping[str, str]) -> None:
    """``airflow db migrate`` with this environment."""
    result = subprocess.run(
        [str(AIRFLOW), "db", "migrate"], env=dict(env), capture_output=True, text=True, timeout=300
    )
    if result.returncode:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


class AirflowApiServer:
    """``airflow api-server`` on 127.0.0.1 and a free port, for as long as the ``with`` block.

    :param env: the Airflow environment (AIRFLOW_HOME, database ...); the UI test settings
        (:data:`SERVER_SETTINGS`) and a fresh JWT secret are added.
    :param startup_timeout: seconds to wait for ``/api/v2/monitor/health``.
    """

    def __init__(self, env: Mapping[str, str], startup_timeout: float = 90.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW_CONN_")}
        self.env.update(SERVER_SETTINGS)
        self.env["AIRFLOW__API_AUTH__JWT_SECRET"] = secrets.token_hex(64)
        no_proxy = ",".join(filter(None, [self.env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
        self.env["NO_PROXY"] = self.env["no_proxy"] = no_proxy
        self._log = tempfile.NamedTemporaryFile(prefix="credits-api-server-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = Path(self._log.name)
        self._process: subprocess.Popen[bytes] | None = None

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output ("" once the server is stopped: the log is deleted)."""
        if self._log.closed:
            return ""
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def start(self) -> AirflowApiServer:
        """Start the server and return once it answers its health check."""
        command = [str(AIRFLOW), "api-server", "--host", "127.0.0.1", "--port", str(self.port)]
        self._process = subprocess.Popen(
            [*command, "--apps", "core"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() ends the uvicorn worker too
            preexec_fn=_terminate_with_parent,
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"airflow api-server exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/api/v2/monitor/health", timeout=2, trust_env=False).is_success:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"airflow api-server did not answer within {self.startup_timeout} s:\n{tail}")

    def stop(self) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if process is not None:  # end a worker the group leader left behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        atexit.unregister(self.stop)
        self._log.close()
        self.log_path.unlink(missing_ok=True)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the server's REST API (every caller is an admin)."""
        return httpx.request(method, f"{self.url}{path}", timeout=30, trust_env=False, **kwargs)

    def __enter__(self) -> AirflowApiServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
