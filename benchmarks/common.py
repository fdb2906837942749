"""Shared helpers of the benchmarks: statistics, subprocess workers, the sandbox process, machine info."""

from __future__ import annotations

import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
#: a worker prints exactly one line starting with this, followed by its JSON result.
RESULT_MARK = "BENCH-RESULT "


@dataclass(frozen=True)
class Stat:
    """Median, min and max of repeated measurements."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        if not values:
            raise ValueError("no measurements")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def fmt(self, digits: int = 1, unit: str = "") -> str:
        """``median (min-max)``, e.g. ``12.3 ms (11.9-13.0)``."""
        return f"{self.median:.{digits}f}{unit} ({self.low:.{digits}f}-{self.high:.{digits}f})"

    def to_json(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "runs": self.runs}


def ratio(ours: float, baseline: float) -> float:
    """ours / baseline (inf when the baseline is 0)."""
    return ours / baseline if baseline else float("inf")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def rss_bytes() -> int:
    """This process's current resident set size."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_result_fd: int | None = None


def silence_output() -> None:
    """Send this worker's stdout/stderr (e.g. Airflow's log lines) to /dev/null; :func:`emit` still works.

    Log lines are still formatted and written, as a triggerer would, just not into a pipe.
    """
    global _result_fd
    sys.stdout.flush()
    sys.stderr.flush()
    _result_fd = os.dup(1)
    stderr_fd = os.dup(2)

    def report(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        # a worker that dies says why on its real stderr, for run_worker's error message
        os.write(stderr_fd, "".join(traceback.format_exception(kind, error, tb)).encode())

    sys.excepthook = report
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def emit(result: Mapping[str, Any]) -> None:
    """Hand a worker's result to its parent (see :func:`run_worker`)."""
    line = (RESULT_MARK + json.dumps(result) + "\n").encode()
    sys.stdout.flush()
    os.write(_result_fd if _result_fd is not None else 1, line)


@functools.cache
def _airflow_home() -> str:
    """A throwaway AIRFLOW_HOME for the workers of this run (nothing is written to the tree)."""
    return tempfile.mkdtemp(prefix="credits-bench-airflow-home-")


def worker_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a worker subprocess: a throwaway, quiet Airflow configuration."""
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", _airflow_home())
    env.update(
        {
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "PYTHONDONTWRITEBYTECODE": "",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        }
    )
    env.update(extra or {})
    return env


def run_worker(
    args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 600
) -> dict[str, Any]:
    """Run ``python <args>`` in a fresh process and return the JSON it :func:`emit`-ted.

    :raises RuntimeError: the worker failed or printed no result.
    """
    proc = subprocess.run(
        [PYTHON, *args],
        env=worker_env(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            if proc.returncode != 0:
                break
            return json.loads(line[len(RESULT_MARK) :])
    raise RuntimeError(
        f"worker {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


class SandboxProcess:
    """The vendor sandbox in its own process (``python -m airflow_provider_credits.sandbox``),
    so that its CPU is not counted against what is measured."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> SandboxProcess:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "airflow_provider_credits.sandbox", "--port", "0", "--log-level", "warning"],
            env=worker_env(),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if "serving on " in line:
                self.url = line.split("serving on ", 1)[1].split()[0]
                break
        if not self.url:
            self.stop()
            raise RuntimeError("the sandbox process did not start")
        from airflow_provider_credits.sandbox.server import SandboxClient

        self.client = SandboxClient(self.url, timeout=60)
        return self

    def cpu_seconds(self) -> float:
        """CPU time the sandbox process has used so far."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def machine() -> dict[str, str]:
    """Machine, versions and load, for the results header."""
    from importlib.metadata import version

    def ver(name: str) -> str:
        try:
            return version(name)
        except Exception:
            return "-"

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = [
        "airflow-provider-credits",
        "apache-airflow",
        "apache-airflow-task-sdk",
        "apache-airflow-providers-http",
        "apache-airflow-providers-common-sql",
        "apache-airflow-providers-postgres",
        "apache-airflow-providers-mysql",
        "httpx",
        "aiohttp",
        "pydantic",
        "uvicorn",
        "psycopg2-binary",
        "mysqlclient",
    ]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": f"{cpu} x {os.cpu_count()}",
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB",
        "load": load(),
        "versions": ", ".join(f"{p} {ver(p)}" for p in packages),
    }


def load() -> str:
    """1/5/15-minute load averages."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"
