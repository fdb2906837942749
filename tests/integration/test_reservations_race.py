"""Many processes race for the same credits: the reservations granted never exceed the balance.

20 worker processes (separate processes, each with its own database connections; started from a
``forkserver`` that imported Airflow once, so no test-process state leaks into them) wait at a barrier,
then each runs one check of a reserving ``CreditThresholdSensor``: one balance read from the
vendor sandbox, one reservation attempt. Run on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from decimal import Decimal
from multiprocessing.pool import Pool
from typing import Any

import pytest

from airflow_provider_credits.reservations import ReservationStore
from airflow_provider_credits.sandbox.server import SandboxServer
from tests.integration.race_worker import PRELOAD, contend, report
from tests.support.databases import Database
from tests.support.reservations import new_store

pytestmark = pytest.mark.integration

PROCESSES = 20
AVAILABLE = 1000
AMOUNT = 90  # 11 fit into 1000, 9 must keep waiting


@pytest.fixture(scope="module")
def pool() -> Iterator[tuple[Pool, Any]]:
    """PROCESSES worker processes and a barrier for them."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    with ctx.Manager() as manager, ctx.Pool(PROCESSES) as workers:
        yield workers, manager.Barrier(PROCESSES)


def race(
    pool: tuple[Pool, Any], db: Database, store: ReservationStore, run_ids: list[str]
) -> list[dict[str, Any]]:
    """One check per run id, all in separate processes released together by the barrier."""
    workers, barrier = pool
    assert len(run_ids) <= PROCESSES
    env = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_")}
    jobs = [
        {
            "env": env,
            "barrier": barrier,
            "run_id": run_id,
            "amount": AMOUNT,
            "reservation_conn_id": db.conn_id,
            "table": store.table,
        }
        for run_id in run_ids
    ]
    barrier.reset()
    if len(run_ids) < PROCESSES:  # the barrier counts PROCESSES parties: fill it with idle ones
        jobs += [{**jobs[0], "run_id": None} for _ in range(PROCESSES - len(run_ids))]
    results = workers.map(_contend_or_idle, jobs, chunksize=1)
    return [r for r in results if r is not None]


def _contend_or_idle(job: dict[str, Any]) -> dict[str, Any] | None:
    if job["run_id"] is None:
        job["barrier"].wait(timeout=120)
        return None
    return report(job) if "reports" in job else contend(job)


def test_concurrent_gates_never_reserve_more_than_available(
    pool: tuple[Pool, Any], database: Database, sandbox: SandboxServer
) -> None:
    sandbox.set_balance("theirstack", "api_credits", AVAILABLE)
    store = new_store(database)
    store.active("theirstack_default", "api_credits")  # create the tables, as a first run would

    results = race(pool, database, store, [f"run_{n:02d}" for n in range(PROCESSES)])

    granted = [r for r in results if r["granted"]]
    waiting = [r for r in results if not r["granted"]]
    assert len(results) == PROCESSES
    assert len(granted) == AVAILABLE // AMOUNT == 11
    assert all(r["value"] is None for r in waiting)  # no error: they keep waiting
    active = store.active("theirstack_default", "api_credits")
    assert sum(r.amount for r in active) == len(granted) * AMOUNT <= AVAILABLE
    assert {r.run_id for r in active} == {r["run_id"] for r in granted}
    for r in granted:  # each saw what the others had reserved before it
        decision, reservation = r["value"]["decision"], r["value"]["reservation"]
        assert decision["remaining"] == AVAILABLE and decision["met"] is True
        assert decision["reserved"] == sum(c["amount"] for c in reservation["counted"])
        assert decision["reserved"] + AMOUNT <= AVAILABLE
        assert reservation["amount"] == AMOUNT and reservation["run_id"] == r["run_id"]
    # one order of the grants: the k-th grant counted k-1 earlier reservations
    assert sorted(len(r["value"]["reservation"]["counted"]) for r in granted) == list(range(len(granted)))
    assert sandbox.request_count("theirstack") == PROCESSES  # one vendor read per check

    # Three runs finish and release; the waiting ones check again, still all at once.
    finished = sorted(r["run_id"] for r in granted)[:3]
    for run_id in finished:
        assert store.release(dag_id="race", run_id=run_id) == 1
    again = race(pool, database, store, [r["run_id"] for r in waiting])

    regranted = [r for r in again if r["granted"]]
    assert len(regranted) == 3
    active = store.active("theirstack_default", "api_credits")
    assert len(active) == 11
    assert sum((r.amount for r in active), Decimal(0)) <= AVAILABLE


REPORTS = 3
EACH = 20


def test_concurrent_spend_reports_are_never_lost_and_never_overspend(
    pool: tuple[Pool, Any], database: Database, sandbox: SandboxServer
) -> None:
    """Granted runs report spend concurrently (each report its own transaction) while the others race
    for the credits the reports free: every report is in the ledger and the reservation, and what is
    outstanding plus what was spent never exceeds what the vendor had."""
    from airflow_provider_credits import ledger

    sandbox.set_balance("theirstack", "api_credits", AVAILABLE)
    store = new_store(database)
    store.active("theirstack_default", "api_credits")
    granted = [
        r for r in race(pool, database, store, [f"run_{n:02d}" for n in range(PROCESSES)]) if r["granted"]
    ]
    assert len(granted) == 11

    workers, barrier = pool
    env = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_")}
    jobs = [
        {"env": env, "barrier": barrier, "run_id": r["run_id"], "reservation_id": r["value"]["reservation"]["reservation_id"],
         "reservation_conn_id": database.conn_id, "table": store.table, "reports": REPORTS, "each": EACH}
        for r in granted
    ]  # fmt: skip
    jobs += [{"env": env, "barrier": barrier, "run_id": None} for _ in range(PROCESSES - len(jobs))]
    barrier.reset()
    workers.map(_contend_or_idle, jobs, chunksize=1)

    active = store.active("theirstack_default", "api_credits")
    assert [r.spent for r in active] == [REPORTS * EACH] * 11  # no lost report
    reports = ledger.entries(store.db, reservation_table=store.table, kinds=["report"])
    assert len(reports) == 11 * REPORTS and sum(r.amount or 0 for r in reports) == 11 * REPORTS * EACH

    # the vendor's balance now shows the spend; the waiting runs race for what the reports freed
    spent = 11 * REPORTS * EACH
    sandbox.set_balance("theirstack", "api_credits", AVAILABLE - spent)
    waiting = sorted({f"run_{n:02d}" for n in range(PROCESSES)} - {r["run_id"] for r in granted})
    again = [r for r in race(pool, database, store, waiting) if r["granted"]]
    active = store.active("theirstack_default", "api_credits")
    held = sum((r.outstanding for r in active), Decimal(0))
    assert held + spent <= AVAILABLE  # no overspend
    assert len(again) == (AVAILABLE - spent - 11 * (AMOUNT - REPORTS * EACH)) // AMOUNT
