"""A production-shaped Airflow on loopback: API server, scheduler, DAG processor, triggerer and a
Celery worker (Redis broker), with a fresh PostgreSQL metadata database, for ``tests/system/production``.

Nothing here imports Airflow: the components run as ``airflow`` subprocesses with their own
AIRFLOW_HOME and environment (the pytest process keeps the session's SQLite home). Each
component runs in its own process group (``start_new_session=True``) and writes its output to
``<home>/components/<name>.log``; :meth:`Stack.diagnostics` gathers the tails of those logs
for failure messages. :meth:`Stack.stop` ends every process group it started, drops the
databases it created and removes the Redis keys of its Celery queue.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.services import free_port

AIRFLOW = Path(sys.executable).with_name("airflow")
TEST_DAGS = Path(__file__).resolve().parent / "dags"

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
#: Redis database used as the Celery broker (override with CREDITS_PRODUCTION_REDIS_DB).
REDIS_DB = int(os.environ.get("CREDITS_PRODUCTION_REDIS_DB", "13"))
#: Celery worker processes (override with CREDITS_PRODUCTION_CONCURRENCY).
WORKER_CONCURRENCY = int(os.environ.get("CREDITS_PRODUCTION_CONCURRENCY", "6"))

#: keys kombu keeps in the broker database for every queue (Celery remote control, acks)
KOMBU_SHARED_KEYS = {
    "_kombu.binding_deadlines",
    "_kombu.binding.celery.pidbox",
    "_kombu.binding.reply.celery.pidbox",
    "unacked",
    "unacked_index",
    "unacked_mutex",
}

#: how long a component may take to come up on a busy 2-core machine
STARTUP_TIMEOUT = 180.0

T = TypeVar("T")


class StackError(AssertionError):
    """The stack did not do what the test waited for; the message carries the component logs."""


def _terminate_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the test process dies (even by SIGKILL; Linux)."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks since boot) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, pgrp ...
    return int(fields[1]), int(fields[19])


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def descendants(pid: int) -> set[int]:
    """``pid``'s live descendants (children, grandchildren ...)."""
    parents = {p: stat[0] for p in _all_pids() if (stat := _proc_stat(p)) is not None}
    found, frontier = set(), {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier and p not in found}
        found |= children
        frontier = children
    return found


def rss_kib(pid: int) -> int:
    """Resident set size of one process in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size in KiB (shared pages split between their users; 0 when unknown)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tail(path: Path, chars: int = 3000) -> str:
    """The end of a text file ("" when missing)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - chars))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Component:
    """One ``airflow`` command in its own process group, its output in ``log_path``.

    :param name: short name (``scheduler``, ``triggerer`` ...).
    :param argv: the command.
    :param env: its environment.
    :param log_path: file its stdout and stderr are appended to.
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    #: every process seen in this component's tree (pid -> start time), to end stragglers
    #: that left the process group; the start time tells a reused pid apart
    seen: dict[int, int] = field(default_factory=dict)

    def start(self) -> Component:
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts + 1}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.env["AIRFLOW_HOME"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stopping it ends its children too
                preexec_fn=_terminate_with_parent,
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pids(self) -> list[int]:
        """The live processes of this component: its leader and every descendant."""
        if not self.alive:
            return []
        tree = {self.pid, *descendants(self.pid)}
        for pid in tree:
            if (stat := _proc_stat(pid)) is not None:
                self.seen.setdefault(pid, stat[1])
        return sorted(tree)

    def memory(self) -> dict[str, dict[str, int]]:
        """RSS and PSS (KiB) of each process of the component, keyed ``"<pid> <command>"``."""
        out: dict[str, dict[str, int]] = {}
        for pid in self.pids():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:60]
            except OSError:
                continue
            out[f"{pid} {cmd.strip()}"] = {"rss_kib": rss_kib(pid), "pss_kib": pss_kib(pid)}
        return out

    def kill(self, sig: int = signal.SIGKILL, wait: float = 20.0) -> None:
        """Send ``sig`` to the whole process group and wait for the leader to exit."""
        if self.process is None:
            return
        self.pids()  # remember the tree before it goes
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(wait)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the group, then SIGKILL it and any process of its tree that left the group."""
        if self.process is None:
            return
        if self.alive:
            self.kill(signal.SIGTERM, grace)
        self.kill(signal.SIGKILL, 5)
        for pid, started in self.seen.items():
            stat = _proc_stat(pid)
            if stat is not None and stat[1] == started and pid != os.getpid():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def tail(self, chars: int = 3000) -> str:
        return tail(self.log_path, chars)


def _pg(dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True)


def pg_query(dbname: str, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query on a PostgreSQL database (a new connection each time)."""
    with _pg(dbname) as conn, conn.cursor() as cur:
        cur.execute(sql, tuple(params))
        return list(cur.fetchall())


class Stack:
    """The whole deployment. Use :meth:`start` (idempotent set-up, any failure stops what was
    started) and :meth:`stop` (safe on every exit path, safe to call twice).

    :param sandbox: a started :class:`~airflow_provider_credits.sandbox.server.SandboxServer`
        (in the test process; the workers and the triggerer reach it over loopback).
    :param dag_files: DAG files copied into the DAGs folder (and nothing else).
    """

    def __init__(self, sandbox: Any, dag_files: Iterable[Path]) -> None:
        self.sandbox = sandbox
        self.dag_files = list(dag_files)
        self.tag = f"credits_prod_{secrets.token_hex(4)}"
        self.home = Path(tempfile.mkdtemp(prefix="credits-production-"))
        self.dags = self.home / "dags"
        self.logs = self.home / "components"
        self.meta_db = self.tag
        self.usage_db = f"{self.tag}_usage"
        self.queue = self.tag
        self.api_port = free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.components: dict[str, Component] = {}
        self._created_dbs: list[str] = []
        self._token: str | None = None
        self._http = httpx.Client(base_url=self.url, timeout=30, trust_env=False)
        #: components the test stopped on purpose (not a failure when found dead)
        self.expected_down: set[str] = set()

    # ------------------------------------------------------------------ set-up

    def env(self) -> dict[str, str]:
        """The components' environment: inherited variables minus any Airflow setting, plus ours."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW", "PYTEST"))}
        meta = f"postgres@{PG_HOST}:{PG_PORT}/{self.meta_db}"
        no_proxy = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "16",
                "AIRFLOW__CORE__FERNET_KEY": self._fernet_key,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{meta}",
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": self._secret_key,
                "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{meta}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
                "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                # a killed triggerer's triggers go to a live one after this many seconds
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "NO_PROXY": no_proxy,
                "no_proxy": no_proxy,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def start(self) -> Stack:
        """Create the databases, migrate, start every component, register the connections and
        wait until the DAGs are parsed. On failure, stop what was started and raise."""
        started = time.monotonic()
        self._fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        self._secret_key = secrets.token_hex(16)
        self._jwt_secret = secrets.token_hex(32)
        try:
            self._start()
        except Exception:
            diagnostics = self.diagnostics()
            self.stop()
            raise StackError(f"the production stack did not start\n{diagnostics}") from None
        except BaseException:  # Ctrl-C: stop everything, let the interruption through
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _start(self) -> None:
        self.dags.mkdir()
        self.logs.mkdir()
        for dag_file in self.dag_files:
            shutil.copyfile(dag_file, self.dags / dag_file.name)
        for name in (self.meta_db, self.usage_db):
            with _pg() as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self._created_dbs.append(name)
        env = self.env()
        migrate_log = self.logs / "db-migrate.log"
        with migrate_log.open("wb") as log:
            result = subprocess.run(
                [str(AIRFLOW), "db", "migrate"],
                env=env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=STARTUP_TIMEOUT,
            )
        if result.returncode:
            raise StackError(f"airflow db migrate failed:\n{tail(migrate_log)}")
        a = str(AIRFLOW)
        commands = {
            "api-server": [a, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port)],
            "scheduler": [a, "scheduler"],
            "dag-processor": [a, "dag-processor"],
            "triggerer": [a, "triggerer", "--skip-serve-logs"],
            "celery-worker": [
                a,
                "celery",
                "worker",
                "--queues",
                self.queue,
                "--concurrency",
                str(WORKER_CONCURRENCY),
                "--celery-hostname",
                f"{self.tag}@%h",
                "--skip-serve-logs",
                "--without-mingle",
                "--without-gossip",
            ],
        }
        for name, argv in commands.items():
            self.components[name] = Component(name, argv, env, self.logs / f"{name}.log").start()
        self.wait_for(self._api_up, STARTUP_TIMEOUT, "the API server's health endpoint")
        self._token = self._http.get("/auth/token").raise_for_status().json()["access_token"]
        for conn_id, conn in self.connections().items():
            self.rest("POST", "/api/v2/connections", json={"connection_id": conn_id, **conn})
        dag_ids = [f.stem for f in self.dag_files]
        self.wait_for(
            lambda: all(
                self.rest("GET", f"/api/v2/dags/{d}", ok=(200, 404)).status_code == 200 for d in dag_ids
            ),
            STARTUP_TIMEOUT,
            f"the DAG processor to parse {dag_ids}",
            last=lambda: self.rest("GET", "/api/v2/importErrors").json(),
        )
        self.wait_for(
            lambda: self.health_of("scheduler") == self.health_of("triggerer") == "healthy",
            STARTUP_TIMEOUT,
            "a healthy scheduler and triggerer",
            last=lambda: self.rest("GET", "/api/v2/monitor/health").json(),
        )
        self.wait_for(
            self._worker_ready, STARTUP_TIMEOUT, "the Celery worker to connect to the broker (log line)"
        )

    def connections(self) -> dict[str, dict[str, Any]]:
        """The Airflow connections, stored in the metadata database (as a UI user would):
        the four vendors on the sandbox and ``usage_db`` on PostgreSQL."""
        conns: dict[str, dict[str, Any]] = {}
        for conn_id, conn in self.sandbox.connections().items():
            body = {k: v for k, v in conn.items() if k != "extra"}
            if "extra" in conn:
                body["extra"] = json.dumps(conn["extra"])
            conns[conn_id] = body
        conns["usage_db"] = {
            "conn_type": "postgres",
            "host": PG_HOST,
            "port": PG_PORT,
            "login": PG_USER,
            "schema": self.usage_db,
        }
        return conns

    def _api_up(self) -> bool:
        try:
            return self._http.get("/api/v2/monitor/health", timeout=3).is_success
        except httpx.HTTPError:
            return False

    def _worker_ready(self) -> bool:
        return " ready." in self.components["celery-worker"].tail(20000)

    # --------------------------------------------------------------- teardown

    def stop(self) -> None:
        """Stop every component (SIGTERM to all groups at once, then SIGKILL), drop the databases,
        delete this run's broker keys and the temporary home. Safe to call twice."""
        components = list(self.components.values())
        for component in components:
            component.pids()
            if component.alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(component.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for component in components:
            if component.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    component.process.wait(max(0.1, deadline - time.monotonic()))
        for component in components:
            component.stop(grace=0)
        self._http.close()
        for name in reversed(self._created_dbs):
            with contextlib.suppress(Exception), _pg() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created_dbs.clear()
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
            keys = list(client.scan_iter(match=f"*{self.queue}*"))
            if keys:
                client.delete(*keys)
            # kombu's shared bookkeeping keys: removed only when no other queue uses this database
            rest = {k.decode() for k in client.scan_iter()}
            if rest <= KOMBU_SHARED_KEYS:
                for key in rest:
                    client.delete(key)
            client.close()
        if os.environ.get("CREDITS_PRODUCTION_KEEP"):
            print(f"kept the production stack's home: {self.home}")
        else:
            shutil.rmtree(self.home, ignore_errors=True)

    # ------------------------------------------------------------ REST and DB

    def rest(
        self, method: str, path: str, *, ok: Iterable[int] = (200, 201, 204), **kwargs: Any
    ) -> httpx.Response:
        """Call the REST API with the JWT; raise :class:`StackError` on an unexpected status."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        response = self._http.request(method, path, headers=headers, **kwargs)
        if response.status_code not in tuple(ok):
            raise StackError(f"{method} {path} answered {response.status_code}: {response.text[:2000]}")
        return response

    def health_of(self, component: str) -> str | None:
        return self.rest("GET", "/api/v2/monitor/health").json().get(component, {}).get("status")

    def unpause(self, dag_id: str, paused: bool = False) -> None:
        self.rest("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None, **body: Any) -> str:
        """Trigger a run through the REST API; returns its run id."""
        payload = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}, **body}
        return str(self.rest("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=payload).json()["dag_run_id"])

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(
            self.rest("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100}).json()["dag_runs"]
        )

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.rest("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json())

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return list(self.rest("GET", path, params={"limit": 100}).json()["task_instances"])

    def ti_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``{"task_id[map_index]": state}`` of one run."""
        return {label(ti): ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def usage_query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows from the ``usage_db`` PostgreSQL database."""
        return pg_query(self.usage_db, sql, params)

    # ----------------------------------------------------------------- waiting

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float,
        what: str,
        *,
        last: Callable[[], Any] | None = None,
        interval: float = 0.5,
    ) -> T:
        """Poll ``predicate`` until it returns something truthy; fail with the component logs
        when ``timeout`` passes or a component died (other than those in :attr:`expected_down`).

        :param predicate: the check.
        :param timeout: seconds.
        :param what: what is awaited, for the message.
        :param last: describes the last observed state, for the message.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            dead = [
                c.name for c in self.components.values() if not c.alive and c.name not in self.expected_down
            ]
            if dead or time.monotonic() >= deadline:
                observed = ""
                if last is not None:
                    with contextlib.suppress(Exception):
                        observed = f"\nlast observed: {last()!r}"[:4000]
                reason = f"{', '.join(dead)} exited" if dead else f"timed out after {timeout:g}s"
                raise StackError(f"{reason} while waiting for {what}{observed}\n{self.diagnostics()}")
            time.sleep(interval)

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float, states: Iterable[str] = ("success",)
    ) -> dict[str, Any]:
        """Wait until a run ends; fail (with its task states and logs) unless it ends in ``states``."""
        run = self.wait_for(
            lambda: (r := self.dag_run(dag_id, run_id))["state"] in ("success", "failed") and r,
            timeout,
            f"run {run_id} of {dag_id} to finish",
            last=lambda: self.ti_states(dag_id, run_id),
        )
        if run["state"] not in tuple(states):
            raise StackError(
                f"run {run_id} of {dag_id} ended {run['state']}: {self.ti_states(dag_id, run_id)}\n"
                f"{self.task_logs(dag_id, run_id)}\n{self.diagnostics()}"
            )
        return run

    # -------------------------------------------------------------- diagnosis

    def task_logs(self, dag_id: str, run_id: str, chars: int = 2500) -> str:
        """Tails of the task log files of a run."""
        parts = []
        for path in sorted((self.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/**/*.log")):
            parts.append(f"--- {path.relative_to(self.home)}\n{tail(path, chars)}")
        return "\n".join(parts) or f"(no task logs for {dag_id}/{run_id})"

    def task_log_text(self, dag_id: str, run_id: str, task_id: str) -> str:
        """The worker-side log files of one task (every attempt and map index), concatenated."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        files = [p for p in sorted(folder.glob("**/attempt=*.log")) if ".trigger." not in p.name]
        return "".join(p.read_text(errors="replace") for p in files)

    def diagnostics(self, chars: int = 3000) -> str:
        """The end of every component's log, for failure messages."""
        parts = [f"AIRFLOW_HOME={self.home} (set CREDITS_PRODUCTION_KEEP=1 to keep it)"]
        for path in sorted(self.logs.glob("*.log")) if self.logs.exists() else []:
            component = self.components.get(path.stem)
            status = "" if component is None else (" (running)" if component.alive else " (not running)")
            parts.append(f"===== {path.name}{status}, last {chars} characters:\n{tail(path, chars)}")
        return "\n".join(parts)


def label(ti: dict[str, Any]) -> str:
    """``task_id`` or ``task_id[map_index]`` of a REST task instance."""
    index = ti.get("map_index", -1)
    return ti["task_id"] if index is None or index < 0 else f"{ti['task_id']}[{index}]"


def parse_time(value: str | None) -> datetime | None:
    """A REST or sandbox timestamp as an aware datetime."""
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))
