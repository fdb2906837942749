"""``make demo``: the whole package at work, on the vendor sandbox and SQLite, without any API key.

1. Starts the vendor sandbox (a local server of the Clay, Clodura, TheirStack, Trendtrack and
   registry vendors' credit APIs) and a throwaway AIRFLOW_HOME with SQLite.
2. Collects every vendor's balances and usage into a SQLite usage database.
3. Runs the credit-gated enrichment with a balance that covers only half of its batches:
   the remaining batches pause until a (simulated) person tops the account up, then finish.
4. Collects again.
5. Runs credit_reservations twice: its daily budget of 1,000 credits lets the first run spend
   600 and skips the second (refused by the budget, not the balance).
6. Prints a report from the usage database: balances, usage, spent per DAG (the ledger) and
   runway per pool (the forecast from the stored history).
7. Writes the Credits page (the Airflow UI plugin's page) with the usage database's data as one
   self-contained HTML file and prints its path; the database gets 60 days of simulated history
   before the demo's own readings first, so the charts have something to show.
   ``--ui`` (``make demo-ui``) then serves the Airflow UI on the same data and prints its URL and login.

Airflow's own output goes to ``<workdir>/airflow-output.log``; the demo prints its steps.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DAGS = ROOT / "example_dags"

VENDOR, POOL, BALANCE_PATH = "theirstack", "api_credits", "/v0/billing/credit-balance"
START_BALANCE = 600  # enough for 2 of the 4 batches of 250 credits
TOP_UP = 2000
GATE = "gated_batch.wait_for_credits"


def airflow_env(workdir: Path, conn_env: dict[str, str]) -> dict[str, str]:
    """Environment for a throwaway Airflow on SQLite, pointed at the sandbox.

    :param workdir: folder for AIRFLOW_HOME and the usage database.
    :param conn_env: the sandbox's ``AIRFLOW_CONN_*`` variables.
    """
    usage_db = json.dumps({"conn_type": "sqlite", "host": str(workdir / "usage.db")})
    return {
        "AIRFLOW_HOME": str(workdir / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{workdir / 'airflow' / 'airflow.db'}",
        "AIRFLOW_CONN_USAGE_DB": usage_db,
        "AIRFLOW_CONN_CREDITS_DB": usage_db,
        **conn_env,
    }


def reserved(usage_db: Path) -> tuple[int, float]:
    """Active reservations in the demo's database: (how many, credits held)."""
    with sqlite3.connect(usage_db) as db:
        count, total = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM credit_reservations WHERE released_at IS NULL"
        ).fetchone()
    return int(count), float(total)


def top_up_when_waiting(
    client: Any,
    *,
    polls: int,
    stop: threading.Event,
    topped_up: threading.Event,
    topped_up_at: list[datetime],
    say: Any,
    usage_db: Path,
) -> threading.Thread:
    """Stand-in for a person watching the pipeline: once the balance has been read ``polls``
    times in a row without any credits being spent, top the account up.

    :param client: a :class:`~airflow_provider_credits.sandbox.server.SandboxClient`.
    :param polls: balance reads without spending that count as "the pipeline is waiting".
    :param stop: set to end the watch.
    :param topped_up: set once the account was topped up.
    :param topped_up_at: gets the moment of the top-up (UTC).
    :param say: prints a progress line.
    :param usage_db: the database holding the reservations (for the progress line).
    """

    def watch() -> None:
        last_remaining, reads_then = None, 0
        while not stop.wait(0.2):
            remaining = client.state()["pools"][VENDOR][POOL]["remaining"]
            reads = client.request_count(VENDOR, path=BALANCE_PATH)
            if remaining != last_remaining:
                last_remaining, reads_then = remaining, reads
            elif reads - reads_then >= polls:
                count, held = reserved(usage_db)
                say(
                    f"   … {remaining:,} credits left, {held:,.0f} of them reserved by {count} batches: "
                    f"the other batches wait. Topping up {TOP_UP:,} credits"
                )
                client.topup(VENDOR, TOP_UP, POOL)
                topped_up_at.append(datetime.now(timezone.utc))
                topped_up.set()
                return

    thread = threading.Thread(target=watch, name="top-up", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def output_to(log: TextIO) -> Iterator[None]:
    """Send this process's stdout/stderr (file descriptors included) to ``log``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


@dataclass
class TaskRun:
    """One task instance of a demo run: state and when it started and ended (UTC)."""

    state: str
    start: datetime | None
    end: datetime | None


def run_dag(dag_id: str, log: TextIO) -> tuple[str, dict[str, TaskRun]]:
    """Run one example DAG with ``dag.test()``; return its state and its task instances.

    :return: the run's state and ``{"task_id" or "task_id[map_index]": TaskRun}``.
    """
    from airflow.dag_processing.dagbag import DagBag

    with output_to(log):
        bag = DagBag(dag_folder=str(EXAMPLE_DAGS / f"{dag_id}.py"))
        if bag.import_errors:
            raise RuntimeError(f"{dag_id} does not import: {bag.import_errors}")
        dag_run = bag.get_dag(dag_id).test()
    tasks = {
        ti.task_id + ("" if ti.map_index < 0 else f"[{ti.map_index}]"): TaskRun(
            str(ti.state), ti.start_date, ti.end_date
        )
        for ti in dag_run.get_task_instances()
    }
    return str(dag_run.state), tasks


#: what a gate logs at each check: "connection 'theirstack_default': theirstack pool ... (the decision)"
GATE_LINE = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\dT[\d:.]+)Z? \[[^\]]*\] (?P<said>connection '[^']+': .*?)\s+\[[\w.]+\]"
)


def gate_lines(log: Path, since: datetime) -> list[tuple[datetime, str]]:
    """What the gates said (their log lines) after ``since``, oldest first, without reservation ids."""
    said = []
    for line in log.read_text(errors="replace").splitlines():
        match = GATE_LINE.match(line)
        if match:
            at = datetime.fromisoformat(match["at"]).replace(tzinfo=timezone.utc)
            if at >= since:
                text = re.sub(r" until \S+ \(reservation [\w-]+\)", "", match["said"])
                said.append((at, text.split(": ", 1)[1]))
    return said


def gate_story(said: list[tuple[datetime, str]], started: datetime, top_up: datetime | None) -> list[str]:
    """The gates' log lines with their time since ``started``, and the top-up where it happened."""
    lines = []
    for moment, text in said:
        if top_up is not None and moment >= top_up:
            lines.append(f"   {(top_up - started).total_seconds():6.1f}  ── top-up: +{TOP_UP:,} {POOL} ──")
            top_up = None
        lines.append(f"   {(moment - started).total_seconds():6.1f}  {text}")
    return lines


def seconds(later: datetime | None, earlier: datetime | None) -> str:
    """``later - earlier`` as "4.3 s" ("?" when either is unknown)."""
    if later is None or earlier is None:
        return "?"
    return f"{(later - earlier).total_seconds():.1f} s"


def batch_story(tasks: dict[str, TaskRun], topped_up_at: datetime | None) -> list[str]:
    """Per batch, from the recorded task instances: how long its gate waited, and whether the gate
    passed and the batch was enriched before or after the top-up."""

    def when(moment: datetime | None) -> str:
        if topped_up_at is None or moment is None:
            return "" if moment is None else "(no top-up)"
        delta = (moment - topped_up_at).total_seconds()
        return f"{abs(delta):.1f} s {'before' if delta < 0 else 'after'} the top-up"

    passed_before, waited, resumed = [], [], []
    index = 0
    while (gate := tasks.get(f"{GATE}[{index}]")) is not None:
        if topped_up_at and gate.end and gate.end < topped_up_at:
            passed_before.append(str(index + 1))
        if gate.start and gate.end and (gate.end - gate.start).total_seconds() >= 1:  # past one poke_interval
            waited.append(str(index + 1))
            resumed.append(seconds(gate.end, topped_up_at))
        index += 1

    def batches(numbers: list[str]) -> str:
        if not numbers:
            return "no batch"
        if len(numbers) == 1:
            return f"batch {numbers[0]}"
        return f"batches {', '.join(numbers[:-1])} and {numbers[-1]}"

    summary = [
        f"   Before the top-up, the gates of {batches(passed_before)} passed and reserved their credits; "
        f"{batches(waited)} waited, and passed {', '.join(resumed) or '-'} after the top-up."
    ]
    lines = [*summary, f"   {'batch':<6} {'gate waited':>11}  {'gate passed':<26} {'enriched':<26}"]
    index = 0
    while (gate := tasks.get(f"{GATE}[{index}]")) is not None:
        enrich = tasks.get(f"gated_batch.enrich[{index}]")
        lines.append(
            f"   {index + 1:<6} {seconds(gate.end, gate.start):>11}  {when(gate.end):<26} "
            f"{when(enrich.end if enrich and enrich.state == 'success' else None) or '-':<26}"
        )
        index += 1
    return lines


def period(start: Any, end: Any) -> str:
    """A usage period as people read it: its days, inclusive ("2026-11-29", or "2026-11-28 to 2026-11-30").

    :param start: the first day's start (inclusive).
    :param end: the end (exclusive, as stored).
    """
    first = datetime.fromisoformat(str(start)).date()
    last_moment = datetime.fromisoformat(str(end)) - timedelta(microseconds=1)
    last = max(first, last_moment.date())
    return str(first) if first == last else f"{first} to {last}"


def report(usage_db: Path, before: float, topped_up: float) -> str:
    """A readable summary of the usage database.

    :param usage_db: the SQLite usage database.
    :param before: TheirStack API credits before the enrichment.
    :param topped_up: credits added during the run.
    """
    with sqlite3.connect(usage_db) as db:
        latest = db.execute(  # each pool's most recent reading
            """SELECT vendor, pool, unit, remaining, credit_limit, used FROM credit_balances b
               WHERE fetched_at = (SELECT MAX(fetched_at) FROM credit_balances o
                                   WHERE o.vendor = b.vendor AND o.pool = b.pool)
               ORDER BY vendor, pool"""
        ).fetchall()
        usage = db.execute(
            """SELECT vendor, pool, COUNT(DISTINCT period_start), MIN(period_start), MAX(period_end), SUM(amount)
               FROM credit_usage GROUP BY vendor, pool ORDER BY vendor, pool"""
        ).fetchall()
        snapshots = db.execute("SELECT COUNT(DISTINCT fetched_at) FROM credit_balances").fetchone()[0]

    def num(value: Any) -> str:
        return "-" if value is None else f"{float(value):,.0f}"

    lines = ["", "Credit balances (latest snapshot)", ""]
    lines.append(f"  {'vendor':<11} {'pool':<15} {'unit':<8} {'remaining':>10} {'limit':>10} {'used':>10}")
    lines += [
        f"  {v:<11} {p:<15} {u:<8} {num(r):>10} {num(lim):>10} {num(used):>10}"
        for v, p, u, r, lim, used in latest
    ]
    lines += ["", "Usage history (credit_usage)", ""]
    lines.append(f"  {'vendor':<11} {'pool':<15} {'days':>5}  {'period (UTC days)':<25} {'consumed':>10}")
    lines += [
        f"  {v:<11} {p:<15} {n:>5}  {period(a, b):<25} {num(total):>10}" for v, p, n, a, b, total in usage
    ]
    after = next(float(r) for v, p, _, r, _, _ in latest if (v, p) == (VENDOR, POOL))
    lines += [
        "",
        f"This run: {snapshots} balance readings (each vendor, at each collection); the enrichment consumed "
        f"{before + topped_up - after:,.0f} {VENDOR} {POOL} "
        f"({before:,.0f} before + {topped_up:,.0f} topped up - {after:,.0f} left).",
    ]
    return "\n".join(lines)


def gate_refusal(dag_id: str, task_id: str) -> dict[str, Any] | None:
    """The refusal the gate of the latest run of ``dag_id`` pushed to XCom (None: not refused)."""
    from airflow.models.xcom import XComModel
    from airflow.sdk.execution_time.xcom import XCom
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, task_id=task_id, key="credit_gate_refusal")
            .order_by(XComModel.timestamp.desc())
            .first()
        )
        return None if row is None else XCom.deserialize_value(row)


def ledger_report(now: datetime) -> str:
    """Spent per DAG today (from the ledger) and the runway of every pool (from the stored history)."""
    from airflow_provider_credits.ledger import period_bounds, spend_by_dag
    from airflow_provider_credits.reservations import ReservationStore
    from airflow_provider_credits.storage.history import runway

    db = ReservationStore("credits_db").db
    since, until = period_bounds("day", now)
    lines = ["", f"Spent per DAG on {since.date()} (UTC; credit_ledger)", ""]
    lines.append(f"  {'dag':<25} {'spent':>8} {'reported':>9} {'measured':>9} {'unknown':>8} {'runs':>5}")
    lines += [
        f"  {s.key:<25} {s.spent:>8,.0f} {s.reported:>9,.0f} {s.measured:>9,.0f} {s.unknown:>8} {s.runs:>5}"
        for s in spend_by_dag(db, since=since, until=until)
    ]
    with sqlite3.connect(db.engine.url.database or "") as conn:
        pools = conn.execute(
            "SELECT DISTINCT connection_id, pool FROM credit_balances ORDER BY connection_id, pool"
        ).fetchall()
    lines += ["", "Runway per pool (mean burn over the last 28 days of stored history)", ""]
    lines.append(f"  {'connection':<20} {'pool':<15} {'burn/day':>9} {'days left':>10}  runs out")
    for connection_id, pool in pools:
        _, forecast = runway(db, connection_id=connection_id, pool=pool, now=now)
        if forecast is None:
            lines.append(
                f"  {connection_id:<20} {pool:<15} {'unknown (under a day of history, or no burn)':>9}"
            )
        else:
            lines.append(
                f"  {connection_id:<20} {pool:<15} {forecast.burn_per_day:>9,.0f} {forecast.days_left:>10,.1f}  "
                f"{forecast.runs_out_at.date()} (from {forecast.method})"
            )
    return "\n".join(lines)


HISTORY_DAYS = 60
PAGE = Path(tempfile.gettempdir()) / "credits-demo.html"


def simulate_history(usage_db: Path, days: int = HISTORY_DAYS) -> int:
    """Add ``days`` days of made-up daily readings and usage before the demo's own, for the charts.

    Each pool burns about 2 % of its limit (or of its balance) a day, more on weekdays; usage
    records are added for the pools that report usage. Marked: ``dag_id`` is ``simulated_history``
    and the usage dimension ``simulated``. Returns the rows added.
    """
    import json as _json

    os.environ["AIRFLOW_CONN_CREDITS_DEMO_HISTORY"] = _json.dumps(
        {"conn_type": "sqlite", "host": str(usage_db)}
    )
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    from airflow_provider_credits.storage.database import Database
    from airflow_provider_credits.storage.tables import BALANCES, USAGE

    db = Database(SqliteHook(sqlite_conn_id="credits_demo_history"))
    added = 0
    try:
        with db.begin() as conn:
            b, u = BALANCES.c, USAGE.c
            first = conn.execute(BALANCES.select().order_by(b.fetched_at)).mappings().all()
            oldest: dict[tuple[str, str], Any] = {}
            for row in first:
                oldest.setdefault((row["connection_id"], row["pool"]), row)
            reporting = {tuple(r) for r in conn.execute(sa_select_distinct(u.vendor, u.account, u.pool))}
            snapshots, usage = [], []
            for row in oldest.values():
                if row["remaining"] is None:
                    continue
                scale = float(row["credit_limit"] or row["remaining"] or 100)
                remaining = float(row["remaining"])
                day0 = row["fetched_at"].replace(hour=0, minute=0, second=0, microsecond=0)
                for d in range(1, days + 1):
                    day = day0 - timedelta(days=d)
                    burn = round(scale * 0.02 * (1.3 if day.weekday() < 5 else 0.4))
                    remaining += burn
                    snapshots.append(
                        {
                            **row,
                            "fetched_at": day.replace(hour=6),
                            "logical_date": day.replace(hour=6),
                            "dag_id": "simulated_history",
                            "run_id": f"simulated__{day.date()}",
                            "remaining": remaining,
                            "used": None
                            if row["credit_limit"] is None
                            else float(row["credit_limit"]) - remaining,
                        }
                    )
                    if (row["vendor"], row["account"], row["pool"]) in reporting:
                        usage.append(
                            {
                                "vendor": row["vendor"],
                                "account": row["account"],
                                "pool": row["pool"],
                                "dimension": "simulated",
                                "period_start": day,
                                "period_end": day + timedelta(days=1),
                                "amount": burn,
                                "unit": row["unit"],
                                "fetched_at": row["fetched_at"],
                            }
                        )
            if snapshots:
                conn.execute(BALANCES.insert(), snapshots)
            if usage:
                conn.execute(USAGE.insert(), usage)
            added = len(snapshots) + len(usage)
    finally:
        db.dispose()
        del os.environ["AIRFLOW_CONN_CREDITS_DEMO_HISTORY"]
    return added


def sa_select_distinct(*columns: Any) -> Any:
    import sqlalchemy as sa

    return sa.select(*columns).distinct()


def write_page(usage_db: Path, path: Path = PAGE) -> Path:
    """The Credits page with the usage database's data, as one self-contained HTML file."""
    import json as _json

    os.environ["AIRFLOW_CONN_CREDITS_DB"] = _json.dumps({"conn_type": "sqlite", "host": str(usage_db)})
    from airflow_provider_credits.plugins.app import DataSource
    from airflow_provider_credits.plugins.app import write_page as write
    from airflow_provider_credits.plugins.data import Tables

    db = DataSource("credits_db").database()
    try:
        return write(db, Tables(), path, now=datetime.now(timezone.utc))
    finally:
        db.dispose()


def serve_ui(workdir: Path, say: Any, port: int) -> int:
    """``airflow api-server`` (SQLite, simple auth manager) on the demo's data until Ctrl-C."""
    import secrets
    import socket

    if port == 0 or not _port_free(port):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    password = secrets.token_urlsafe(12)
    passwords = workdir / "airflow" / "passwords.json"
    passwords.write_text(json.dumps({"admin": password}))
    env = {
        **os.environ,
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
    }
    plugins = workdir / "airflow" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    from importlib import metadata

    if not any(ep.name == "credits" for ep in metadata.entry_points(group="airflow.plugins")):
        (plugins / "credits_plugin.py").write_text(
            "from airflow_provider_credits.plugins import CreditsPlugin\n"
        )
    env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(plugins)
    log = open(workdir / "api-server.log", "w")  # noqa: SIM115 (open while the server runs)
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("airflow")),
            "api-server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    import urllib.request

    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2):
                break
        except OSError:
            time.sleep(0.5)
    if server.poll() is not None:
        say(f"airflow api-server exited; see {log.name}")
        return 1
    say(
        f"\nAirflow UI: {url}/  (log in as admin, password {password}); the Credits page: {url}/plugin/credits"
    )
    say("Press Ctrl-C to stop.")
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # a `kill` stops the server too
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(10)
        log.close()
    return 0


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the work folder (Airflow home, usage.db)")
    parser.add_argument("--ui", action="store_true", help="then serve the Airflow UI on the demo's data")
    parser.add_argument("--port", type=int, default=8080, help="--ui: the port (taken: any free one)")
    args = parser.parse_args(argv)

    console = os.fdopen(
        os.dup(1), "w", buffering=1
    )  # stays on the terminal while Airflow's output is diverted

    def say(line: str) -> None:
        print(line, file=console, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="credits-demo-"))
    usage_db = workdir / "usage.db"
    started = time.monotonic()
    from airflow_provider_credits.sandbox.server import SandboxServer

    try:
        with SandboxServer(port=0) as sandbox, open(workdir / "airflow-output.log", "w") as log:
            conn_env = sandbox.airflow_conn_env()
            say(f"1. Vendor sandbox serving the twelve vendor APIs at {sandbox.url}")
            say(f"   Work folder {workdir}: Airflow home airflow/, usage database usage.db (SQLite),")
            say("   Airflow's own output airflow-output.log")
            vendors = ", ".join(name.removeprefix("AIRFLOW_CONN_").lower() for name in conn_env)
            say(f"   Connections: {vendors} (the sandbox); usage_db and credits_db (usage.db)")
            os.environ.update(airflow_env(workdir, conn_env))
            migrate = subprocess.run(
                [str(Path(sys.executable).with_name("airflow")), "db", "migrate"], stdout=log, stderr=log
            )
            if migrate.returncode:
                say(f"airflow db migrate failed; see {log.name}")
                return 1
            sandbox.set_balance(VENDOR, POOL, START_BALANCE)

            say("2. DAG credit_usage_collection: balances and usage of all twelve vendors into usage.db")
            state, _ = run_dag("credit_usage_collection", log)
            say(f"   → {state}")

            say(
                f"3. DAG credit_gated_enrichment: 40 records in 4 batches of 250 {VENDOR} {POOL}, "
                f"with {START_BALANCE} available; each batch's deferrable gate reserves its 250 credits"
            )
            stop, topped_up = threading.Event(), threading.Event()
            topped_up_at: list[datetime] = []
            enrich_started = datetime.now(timezone.utc)
            watcher = top_up_when_waiting(
                sandbox,
                polls=6,
                stop=stop,
                topped_up=topped_up,
                topped_up_at=topped_up_at,
                say=say,
                usage_db=usage_db,
            )
            state_enrich, tasks = run_dag("credit_gated_enrichment", log)
            stop.set()
            watcher.join()
            log.flush()
            enriched = sum(
                1 for t, run in tasks.items() if t.startswith("gated_batch.enrich") and run.state == "success"
            )
            say(f"   → {state_enrich}: {enriched} of 4 batches enriched")
            top_up = topped_up_at[0] if topped_up_at else None
            say("   What the gates said (seconds since the run started):")
            for line in gate_story(gate_lines(Path(log.name), enrich_started), enrich_started, top_up):
                say(line)
            say("   Per batch, from the recorded task instances:")
            for line in batch_story(tasks, top_up):
                say(line)

            say("4. DAG credit_usage_collection again")
            state_collect, _ = run_dag("credit_usage_collection", log)
            say(f"   → {state_collect}")

            say(
                "5. DAG credit_reservations twice: 600 credits a run, a daily budget of 1,000 (skip when over)"
            )
            skipped = []
            for n in (1, 2):
                state_run, tasks_run = run_dag("credit_reservations", log)
                gate, enrich = tasks_run["reserve_credits"].state, tasks_run["enrich"].state
                say(f"   run {n} → {state_run}: gate {gate}, enrich {enrich}")
                refusal = (
                    gate_refusal("credit_reservations", "reserve_credits") if gate == "skipped" else None
                )
                if refusal is not None:
                    skipped.append(n)
                    say(
                        f"     refused by the {refusal['blocked_by']}, not the balance: {refusal['spent']} spent "
                        f"today + {refusal['outstanding']} held + {refusal['needed']} > budget {refusal['budget']}"
                    )
            say(report(usage_db, START_BALANCE, TOP_UP if topped_up.is_set() else 0))
            say(ledger_report(datetime.now(timezone.utc)))
            ok = state == state_collect == state_enrich == "success" and enriched == 4 and skipped == [2]
            added = simulate_history(usage_db)
            page = write_page(usage_db)
            say(
                f"\n7. The Credits page with this data ({added} simulated rows of history before the demo's own): {page}"
            )
            say(f"\n{'Demo finished' if ok else 'Demo FAILED'} in {time.monotonic() - started:.0f} s.")
            if args.ui:
                serve_ui(workdir, say, args.port)
            if args.keep:
                say(
                    f"Kept {workdir}: AIRFLOW_HOME={workdir / 'airflow'}, usage database {usage_db}, "
                    f"Airflow's output {log.name}"
                )
            else:
                say("Its work folder is removed; `make demo KEEP=1` keeps it (Airflow home, usage.db, logs).")
            return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
