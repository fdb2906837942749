"""``make demo``: the whole package at work, on the vendor sandbox and SQLite, without any API key.

1. Starts the vendor sandbox (a local server of the Clay, Clodura, TheirStack, Trendtrack and
   registry vendors' credit APIs) and a throwaway AIRFLOW_HOME with SQLite.
2. Collects every vendor's balances and usage into a SQLite usage database.
3. Runs the credit-gated enrichment with a balance that covers only half of its batches:
   the remaining batches pause until a (simulated) person tops the account up, then finish.
4. Collects again, and prints a report from the usage database.

Airflow's own output goes to ``<workdir>/airflow-output.log``; the demo prints its steps.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DAGS = ROOT / "example_dags"

VENDOR, POOL, BALANCE_PATH = "theirstack", "api_credits", "/v0/billing/credit-balance"
START_BALANCE = 600  # enough for 2 of the 4 batches of 250 credits
TOP_UP = 2000


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
    client: Any, *, polls: int, stop: threading.Event, topped_up: threading.Event, say: Any, usage_db: Path
) -> threading.Thread:
    """Stand-in for a person watching the pipeline: once the balance has been read ``polls``
    times in a row without any credits being spent, top the account up.

    :param client: a :class:`~airflow_provider_credits.sandbox.server.SandboxClient`.
    :param polls: balance reads without spending that count as "the pipeline is waiting".
    :param stop: set to end the watch.
    :param topped_up: set once the account was topped up.
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


def run_dag(dag_id: str, log: TextIO) -> tuple[str, dict[str, str]]:
    """Run one example DAG with ``dag.test()``; return its state and its task states."""
    from airflow.dag_processing.dagbag import DagBag

    with output_to(log):
        bag = DagBag(dag_folder=str(EXAMPLE_DAGS / f"{dag_id}.py"))
        if bag.import_errors:
            raise RuntimeError(f"{dag_id} does not import: {bag.import_errors}")
        dag_run = bag.get_dag(dag_id).test()
    states = {
        ti.task_id + ("" if ti.map_index < 0 else f"[{ti.map_index}]"): str(ti.state)
        for ti in dag_run.get_task_instances()
    }
    return str(dag_run.state), states


def report(usage_db: Path, before: float, topped_up: float) -> str:
    """A readable summary of the usage database.

    :param usage_db: the SQLite usage database.
    :param before: TheirStack API credits before the enrichment.
    :param topped_up: credits added during the run.
    """
    with sqlite3.connect(usage_db) as db:
        latest = db.execute(
            """SELECT vendor, pool, unit, remaining, credit_limit, used FROM credit_balances b
               WHERE logical_date = (SELECT MAX(logical_date) FROM credit_balances)
               ORDER BY vendor, pool"""
        ).fetchall()
        usage = db.execute(
            """SELECT vendor, pool, COUNT(*), MIN(period_start), MAX(period_end), SUM(amount)
               FROM credit_usage GROUP BY vendor, pool ORDER BY vendor, pool"""
        ).fetchall()
        snapshots = db.execute("SELECT COUNT(DISTINCT logical_date) FROM credit_balances").fetchone()[0]

    def num(value: Any) -> str:
        return "-" if value is None else f"{float(value):,.0f}"

    lines = ["", "Credit balances (latest snapshot)", ""]
    lines.append(f"  {'vendor':<11} {'pool':<15} {'unit':<8} {'remaining':>10} {'limit':>10} {'used':>10}")
    lines += [
        f"  {v:<11} {p:<15} {u:<8} {num(r):>10} {num(lim):>10} {num(used):>10}"
        for v, p, u, r, lim, used in latest
    ]
    lines += ["", "Usage history (credit_usage)", ""]
    lines.append(f"  {'vendor':<11} {'pool':<15} {'days':>5}  {'from':<10}  {'to':<10} {'consumed':>10}")
    lines += [
        f"  {v:<11} {p:<15} {n:>5}  {str(a)[:10]:<10}  {str(b)[:10]:<10} {num(total):>10}"
        for v, p, n, a, b, total in usage
    ]
    after = next(float(r) for v, p, _, r, _, _ in latest if (v, p) == (VENDOR, POOL))
    lines += [
        "",
        f"This run: {snapshots} balance snapshots; the enrichment consumed "
        f"{before + topped_up - after:,.0f} {VENDOR} {POOL} "
        f"({before:,.0f} before + {topped_up:,.0f} topped up - {after:,.0f} left).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the work folder (Airflow home, usage.db)")
    args = parser.parse_args(argv)

    console = os.fdopen(
        os.dup(1), "w", buffering=1
    )  # stays on the terminal while Airflow's output is diverted

    def say(line: str) -> None:
        print(line, file=console, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="credits-demo-"))
    started = time.monotonic()
    from airflow_provider_credits.sandbox.server import SandboxServer

    try:
        with SandboxServer(port=0) as sandbox, open(workdir / "airflow-output.log", "w") as log:
            say(
                f"1. Vendor sandbox serving Clay, Clodura, TheirStack, Trendtrack and 8 registry vendors at {sandbox.url}"
            )
            os.environ.update(airflow_env(workdir, sandbox.airflow_conn_env()))
            migrate = subprocess.run(
                [str(Path(sys.executable).with_name("airflow")), "db", "migrate"], stdout=log, stderr=log
            )
            if migrate.returncode:
                say(f"airflow db migrate failed; see {log.name}")
                return 1
            sandbox.set_balance(VENDOR, POOL, START_BALANCE)

            say(
                "2. Collecting balances and usage of all twelve vendors into SQLite (credit_usage_collection)"
            )
            state, _ = run_dag("credit_usage_collection", log)
            say(f"   → {state}")

            say(
                f"3. Enriching 40 records in 4 batches of 250 credits with {START_BALANCE} credits "
                "available (credit_gated_enrichment)"
            )
            stop, topped_up = threading.Event(), threading.Event()
            watcher = top_up_when_waiting(
                sandbox, polls=6, stop=stop, topped_up=topped_up, say=say, usage_db=workdir / "usage.db"
            )
            state_enrich, tasks = run_dag("credit_gated_enrichment", log)
            stop.set()
            watcher.join()
            enriched = sum(
                1 for t, s in tasks.items() if t.startswith("gated_batch.enrich") and s == "success"
            )
            say(f"   → {state_enrich}: {enriched} of 4 batches enriched")

            say("4. Collecting again")
            state_collect, _ = run_dag("credit_usage_collection", log)
            say(f"   → {state_collect}")
            say(report(workdir / "usage.db", START_BALANCE, TOP_UP if topped_up.is_set() else 0))
            ok = state == state_collect == state_enrich == "success" and enriched == 4
            say(
                f"\n{'Demo finished' if ok else 'Demo FAILED'} in {time.monotonic() - started:.0f} s; "
                f"Airflow's output: {log.name if args.keep else '(removed; use --keep)'}"
            )
            return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
