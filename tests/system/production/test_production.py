"""The package on a production-shaped Airflow: API server, scheduler, DAG processor, triggerer
and a Celery worker (Redis broker) on a fresh PostgreSQL metadata database, driven through the
REST API (``/api/v2``, JWT from the simple auth manager), with the vendor sandbox as the vendors.

Connections live in the metadata database (created through the REST API), so workers and the
triggerer read them through Airflow's execution API, as in a real deployment. The measured
figures (printed at the end of the module, and written as JSON to ``$CREDITS_PRODUCTION_FIGURES``
when set) are documented in ``docs/deployment.md``; no test asserts on timing.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from tests.system.production.stack import Stack, StackError, parse_time

pytestmark = [pytest.mark.production, pytest.mark.integration, pytest.mark.postgres]

VENDOR, POOL = "theirstack", "api_credits"
BALANCE_PATH = "/v0/billing/credit-balance"
POKE_INTERVAL = 1.0  # of the gates in the DAGs under test

GATED = "credit_gated_enrichment"
GATE = "gated_batch.wait_for_credits"
RACE = "production_reservation_race"
USAGE = "credit_usage_collection"

RUN_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def figures() -> Iterator[dict[str, Any]]:
    """Measured figures, printed (and written to $CREDITS_PRODUCTION_FIGURES) when the module ends."""
    measured: dict[str, Any] = {}
    started = time.monotonic()
    yield measured
    measured["module_seconds"] = round(time.monotonic() - started, 1)
    if len(measured) > 1:
        text = json.dumps(measured, indent=2, default=str)
        print(f"\nproduction figures:\n{text}")
        if path := os.environ.get("CREDITS_PRODUCTION_FIGURES"):
            with open(path, "w") as f:
                f.write(text)


# ----------------------------------------------------------------- helpers


def remaining(stack: Stack) -> Decimal:
    """TheirStack API credits left in the sandbox."""
    return Decimal(str(stack.sandbox.state()["pools"][VENDOR][POOL]["remaining"]))


def balance_reads(stack: Stack) -> int:
    """How many balance requests TheirStack has received."""
    return stack.sandbox.request_count(VENDOR, path=BALANCE_PATH)


def settled_balance_reads(stack: Stack, quiet: float = 1.0, timeout: float = 30.0) -> int:
    """:func:`balance_reads` once it has not changed for ``quiet`` seconds: a request sent just
    before a component died may reach the sandbox's log a little later on a loaded machine."""
    deadline = time.monotonic() + timeout
    reads = balance_reads(stack)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        again = balance_reads(stack)
        if again == reads:
            break
        reads = again
    return reads


def balance_reads_between(stack: Stack, start: float, end: float) -> list[datetime]:
    """When TheirStack balance requests arrived within [start, end] (epoch seconds)."""
    times = [parse_time(r["at"]) for r in stack.sandbox.requests(VENDOR, path=BALANCE_PATH)]
    return sorted(t for t in times if t is not None and start <= t.timestamp() <= end)


def polls_allowed(triggers: int, seconds: float) -> int:
    """The most balance reads ``triggers`` polling every POKE_INTERVAL can make in ``seconds``:
    each sleeps at least the interval between reads, so each makes at most seconds/interval + 1."""
    return triggers * (int(seconds / POKE_INTERVAL) + 1)


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def reservations(stack: Stack, dag_id: str) -> list[dict[str, Any]]:
    """The rows of the reservation table (in ``usage_db``) made by ``dag_id``'s gates."""
    rows = stack.usage_query(
        "SELECT run_id, task_id, map_index, amount, created_at, expires_at, released_at "
        "FROM credit_reservations WHERE dag_id = %s ORDER BY created_at",
        (dag_id,),
    )
    keys = ("run_id", "task_id", "map_index", "amount", "created_at", "expires_at", "released_at")
    out = [dict(zip(keys, row, strict=True)) for row in rows]
    for row in out:
        for key in ("created_at", "expires_at", "released_at"):
            row[key] = as_utc(row[key])
        row["amount"] = Decimal(str(row["amount"]))
    return out


def released_reservations(stack: Stack, dag_id: str, timeout: float = 120.0) -> list[dict[str, Any]]:
    """``dag_id``'s reservations once none is left unreleased. A release callback runs in the
    task's process just after the task reports its state, so a run can be ``success`` a moment
    before the callback's UPDATE lands; a release that never lands fails with the task logs."""

    def all_released() -> list[dict[str, Any]]:
        rows = reservations(stack, dag_id)
        return rows if all(row["released_at"] is not None for row in rows) else []

    def unreleased() -> str:
        rows = [row for row in reservations(stack, dag_id) if row["released_at"] is None]
        logs = (stack.task_logs(dag_id, run_id) for run_id in sorted({row["run_id"] for row in rows}))
        return "\n".join([str(rows), *logs])

    return stack.wait_for(
        all_released, timeout, f"the reservations of {dag_id} to be released", last=unreleased
    )


def most_held_at_once(rows: list[dict[str, Any]]) -> Decimal:
    """The largest sum of reservations that were active (granted, not yet released) at one moment."""
    events = []
    for row in rows:
        events.append((row["created_at"], 1, row["amount"]))
        if row["released_at"] is not None:
            events.append((row["released_at"], 0, -row["amount"]))  # a release at t comes before a grant at t
    held, peak = Decimal(0), Decimal(0)
    for _, _, change in sorted(events, key=lambda e: (e[0], e[1])):
        held += change
        peak = max(peak, held)
    return peak


def states_or_fail(stack: Stack, dag_id: str, run_id: str) -> dict[str, str | None]:
    """A run's task states; raise at once when the run failed (instead of waiting for a deadline)."""
    if stack.dag_run(dag_id, run_id)["state"] == "failed":
        raise StackError(
            f"run {run_id} of {dag_id} failed: {stack.ti_states(dag_id, run_id)}\n"
            f"{stack.task_logs(dag_id, run_id)}\n{stack.diagnostics()}"
        )
    return stack.ti_states(dag_id, run_id)


def triggerer_memory(stack: Stack) -> dict[str, Any]:
    """RSS and PSS (MiB) of the triggerer's processes (the triggerer and its trigger runner)."""
    processes = stack.components["triggerer"].memory()
    return {
        f"total_{kind}_mib": round(sum(p[f"{kind}_kib"] for p in processes.values()) / 1024, 1)
        for kind in ("rss", "pss")
    } | {"processes": processes}


# ------------------------------------------------------------------- tests


def test_gated_enrichment_pauses_on_low_credits_and_survives_a_triggerer_restart(
    stack: Stack, figures: dict[str, Any]
) -> None:
    """credit_gated_enrichment (4 batches of 250 credits, deferrable gates that reserve in
    usage_db) with 600 credits: two batches run, two gates defer into the triggerer. The
    triggerer is killed (SIGKILL) and restarted while they wait; after a top-up they resume and
    the run finishes, each batch enriched exactly once, every reservation released."""
    figures["stack_startup_s"] = round(stack.startup_seconds, 1)
    sandbox = stack.sandbox
    sandbox.set_balance(VENDOR, POOL, 600)
    stack.unpause(GATED)
    run_id = stack.trigger(GATED, "gated-restart")

    def two_waiting() -> dict[str, Any] | None:
        states = states_or_fail(stack, GATED, run_id)
        gates = [s for t, s in states.items() if t.startswith(f"{GATE}[")]
        enriched = [s for t, s in states.items() if t.startswith("gated_batch.enrich[")]
        if (
            sorted(gates, key=str) == ["deferred", "deferred", "success", "success"]
            and enriched.count("success") == 2
        ):
            return states
        return None

    stack.wait_for(
        two_waiting,
        RUN_TIMEOUT,
        "2 batches enriched and 2 gates deferred",
        last=lambda: stack.ti_states(GATED, run_id),
    )
    assert remaining(stack) == 100, "the two granted batches spent 250 credits each"

    # The deferred gates hold no worker slot: the balance is now read by the triggerer only.
    deferred_at = time.time()
    reads_at_deferral = balance_reads(stack)
    stack.wait_for(
        lambda: balance_reads(stack) >= reads_at_deferral + 4,
        60,
        "the triggerer to poll the balance for the 2 deferred gates",
    )
    figures["triggerer_memory_2_deferred"] = triggerer_memory(stack)

    # Kill the triggerer (the whole process group, like an OOM kill or a lost node).
    triggerer = stack.components["triggerer"]
    stack.expected_down.add("triggerer")
    triggerer.kill(signal.SIGKILL)
    killed_at = time.time()
    assert not triggerer.alive
    polled_before_kill = balance_reads_between(stack, deferred_at, killed_at)
    assert len(polled_before_kill) <= polls_allowed(2, killed_at - deferred_at), (
        f"{len(polled_before_kill)} balance reads in {killed_at - deferred_at:.1f}s by 2 triggers polling "
        f"every {POKE_INTERVAL:g}s: some read was duplicated"
    )
    reads_at_kill = settled_balance_reads(stack)  # with a read the triggerer sent as it died
    time.sleep(4)  # nothing reads the balance while no triggerer runs
    assert balance_reads(stack) == reads_at_kill, "something polled the vendor while the triggerer was down"
    states = states_or_fail(stack, GATED, run_id)
    assert [s for t, s in states.items() if t.startswith(f"{GATE}[")].count("deferred") == 2, states

    restarted_at = time.time()
    triggerer.start()
    stack.expected_down.discard("triggerer")
    stack.wait_for(
        lambda: balance_reads(stack) > reads_at_kill,
        120,
        "the restarted triggerer to take over the deferred gates (triggerer_health_check_threshold=10s)",
    )
    first_poll = balance_reads_between(stack, restarted_at, time.time())[0].timestamp()
    figures["triggerer_restart_to_first_poll_s"] = round(first_poll - restarted_at, 1)
    reads_after_restart = balance_reads(stack)
    stack.wait_for(
        lambda: balance_reads(stack) >= reads_after_restart + 8,
        60,
        "the restarted triggerer to keep polling for the 2 gates",
    )
    assert remaining(stack) == 100, "nothing was spent while the gates waited"

    topped_up_at = time.time()
    sandbox.topup(VENDOR, 1000, POOL)
    polled_after_restart = balance_reads_between(stack, first_poll, topped_up_at)
    assert len(polled_after_restart) <= polls_allowed(2, topped_up_at - first_poll), (
        f"{len(polled_after_restart)} balance reads in {topped_up_at - first_poll:.1f}s after the restart by 2 "
        f"triggers polling every {POKE_INTERVAL:g}s: a trigger runs twice"
    )

    stack.wait_for_run(GATED, run_id, RUN_TIMEOUT)
    tis = stack.task_instances(GATED, run_id)
    assert {ti["state"] for ti in tis} == {"success"}, stack.ti_states(GATED, run_id)
    gates = [ti for ti in tis if ti["task_id"] == GATE]
    assert len(gates) == 4
    assert [ti["try_number"] for ti in gates] == [1, 1, 1, 1], "a gate was retried instead of resumed"
    assert len([ti for ti in tis if ti["task_id"] == "gated_batch.enrich"]) == 4

    # Each batch spent its 250 credits exactly once: 600 + 1000 topped up - 4 * 250.
    assert remaining(stack) == 600
    rows = released_reservations(stack, GATED)
    assert len(rows) == 4, rows
    assert {row["run_id"] for row in rows} == {run_id}
    assert sorted(row["map_index"] for row in rows) == [0, 1, 2, 3]
    assert all(row["amount"] == 250 for row in rows), rows
    late = [row for row in rows if row["created_at"].timestamp() > topped_up_at]
    assert len(late) == 2, "the two waiting batches reserved after the top-up"

    resumed = sorted(parse_time(ti["end_date"]).timestamp() - topped_up_at for ti in gates if ti["end_date"])
    seen = balance_reads_between(stack, topped_up_at, time.time())
    figures["topup_to_trigger_read_s"] = round(seen[0].timestamp() - topped_up_at, 2) if seen else None
    figures["topup_to_gates_done_s"] = [round(s, 1) for s in resumed[-2:]]


def test_concurrent_runs_never_reserve_more_than_the_balance(stack: Stack, figures: dict[str, Any]) -> None:
    """Ten runs at once, each reserving 200 credits of the same account in usage_db: with 1,000
    credits, five are granted and five wait (some re-deferred after losing the reservation race
    on the worker); after a second top-up of 1,000 the other five run. The sandbox refuses any
    overdraft (enrich would fail), and the reservation table never holds more than the balance."""
    runs, cost, balance = 10, 200, 1000
    sandbox = stack.sandbox
    sandbox.set_balance(VENDOR, POOL, 0)
    stack.unpause(RACE)
    run_ids = [stack.trigger(RACE, f"race-{n:02d}", conf={"cost": cost}) for n in range(runs)]

    def gate_states() -> list[str | None]:
        return [states_or_fail(stack, RACE, r).get("reserve_credits") for r in run_ids]

    stack.wait_for(
        lambda: gate_states().count("deferred") == runs,
        RUN_TIMEOUT,
        f"all {runs} gates deferred",
        last=gate_states,
    )
    running = [r for r in stack.dag_runs(RACE) if r["dag_run_id"] in run_ids and r["state"] == "running"]
    assert len(running) == runs, "all runs are active at once"
    reads = balance_reads(stack)
    stack.wait_for(lambda: balance_reads(stack) >= reads + runs, 60, "the triggerer to poll for every gate")
    figures["triggerer_memory_10_deferred"] = triggerer_memory(stack)

    sandbox.topup(VENDOR, balance, POOL)

    def first_round() -> list[str | None] | None:
        states = gate_states()
        enriched = [states_or_fail(stack, RACE, r).get("enrich") for r in run_ids]
        done = states.count("success") == runs // 2 and states.count("deferred") == runs // 2
        return states if done and enriched.count("success") == runs // 2 and remaining(stack) == 0 else None

    stack.wait_for(first_round, RUN_TIMEOUT, "5 runs granted and finished, 5 gates waiting", last=gate_states)
    second_topup_at = time.time()
    granted = reservations(stack, RACE)
    assert len(granted) == runs // 2, granted
    assert sum(row["amount"] for row in granted) == balance

    sandbox.topup(VENDOR, balance, POOL)
    for run_id in run_ids:
        stack.wait_for_run(RACE, run_id, RUN_TIMEOUT)

    assert remaining(stack) == 0, "2,000 credits topped up, 10 x 200 spent, no overdraft"
    rows = released_reservations(stack, RACE)
    assert len(rows) == runs
    assert {row["run_id"] for row in rows} == set(run_ids)
    assert all(row["amount"] == cost for row in rows)
    assert len([row for row in rows if row["created_at"].timestamp() < second_topup_at]) == runs // 2
    assert most_held_at_once(rows) <= balance, "reservations held at once exceeded the balance"
    # How often a gate whose trigger fired lost the reservation race on the worker and deferred again.
    deferrals = [
        stack.task_log_text(RACE, r, "reserve_credits").count("Pausing task as DEFERRED") for r in run_ids
    ]
    figures["race_gate_deferrals"] = {
        "total": sum(deferrals),
        "redeferred_after_losing": sum(deferrals) - runs,
    }


def test_usage_collection_writes_balances_and_usage_to_postgres(stack: Stack) -> None:
    """credit_usage_collection on a Celery worker writes every vendor's balance and the usage
    history into the usage_db PostgreSQL database."""
    stack.sandbox.set_balance(VENDOR, POOL, 4321)
    run_id = stack.trigger(USAGE, "usage-manual")
    stack.unpause(USAGE)
    try:
        stack.wait_for_run(USAGE, run_id, RUN_TIMEOUT)
    finally:
        stack.unpause(USAGE, paused=True)  # no scheduled runs later on

    vendors = {row[0] for row in stack.usage_query("SELECT DISTINCT vendor FROM credit_balances")}
    from airflow_provider_credits.vendors import VENDORS

    assert vendors == set(VENDORS) - {"credits_http"}  # every vendor of the example's connections
    theirstack = stack.usage_query(
        "SELECT remaining FROM credit_balances WHERE vendor = %s AND pool = %s", (VENDOR, POOL)
    )
    assert Decimal(4321) in {Decimal(str(r[0])) for r in theirstack}, theirstack
    usage = {
        row[0]: row[1]
        for row in stack.usage_query("SELECT vendor, COUNT(*) FROM credit_usage GROUP BY vendor")
    }
    assert usage.get("theirstack", 0) > 0 and usage.get("clay", 0) > 0, usage


TOPUP = "credit_topup_enrichment"
TOPUP_TASK = "enrich_backlog"


def topup_side(stack: Stack) -> str | None:
    """The side of the threshold the top-up watcher last stored in usage_db (None: none yet)."""
    try:
        rows = stack.usage_query(
            "SELECT state FROM credit_alert_states WHERE watch_id LIKE 'topup:%%' AND connection_id = %s",
            ("theirstack_default",),
        )
    except Exception:  # the table does not exist until the watcher's first read
        return None
    return str(rows[0][0]) if rows else None


def topup_runs(stack: Stack) -> list[dict[str, Any]]:
    return sorted(stack.dag_runs(TOPUP), key=lambda r: r["queued_at"] or "")


def finished_topup_runs(stack: Stack, count: int) -> list[dict[str, Any]] | None:
    runs = topup_runs(stack)
    failed = [r for r in runs if r["state"] == "failed"]
    if failed:
        raise StackError(f"{TOPUP} run failed: {failed}\n{stack.task_logs(TOPUP, failed[0]['dag_run_id'])}")
    done = [r for r in runs if r["state"] == "success"]
    return runs if len(runs) == count and len(done) == count else None


def event_of(stack: Stack, run_id: str) -> dict[str, Any]:
    """What enrich_backlog returned: the top-up event's extra."""
    path = f"/api/v2/dags/{TOPUP}/dagRuns/{run_id}/taskInstances/{TOPUP_TASK}/xcomEntries/return_value"
    value = stack.rest("GET", path, params={"deserialize": True}).json()["value"]
    return value if isinstance(value, dict) else json.loads(value)


def test_topup_starts_enrichment_once_per_top_up_across_triggerer_restarts(
    stack: Stack, figures: dict[str, Any]
) -> None:
    """credit_topup_enrichment (AssetWatcher on CreditTopupTrigger: threshold 5,000, rearm below
    4,000; polling every second here): a top-up through the sandbox starts exactly one run,
    whose event carries the balance. The triggerer is killed and restarted while the balance
    stays above (no duplicate run), and killed again while low, topped up while it is down,
    and restarted (the top-up is not lost: one more run)."""
    sandbox, triggerer = stack.sandbox, stack.components["triggerer"]
    sandbox.set_balance(VENDOR, POOL, 1000)
    stack.unpause(TOPUP)  # the watcher is registered at the DAG file's next parse (up to a minute)
    stack.wait_for(lambda: topup_side(stack) == "below", RUN_TIMEOUT, "the watcher to record 'below'")
    assert topup_runs(stack) == [], "a level is no crossing: no run before a top-up"

    topped_up_at = time.time()
    sandbox.topup(VENDOR, 5000, POOL)  # 6,000: crosses 5,000
    [first] = stack.wait_for(lambda: finished_topup_runs(stack, 1), RUN_TIMEOUT, "one run after the top-up")
    figures["topup_to_dag_run_done_s"] = round(parse_time(first["end_date"]).timestamp() - topped_up_at, 1)
    event = event_of(stack, first["dag_run_id"])
    assert (event["crossing"], event["previous"], event["remaining"]) == ("up", "below", 6000), event
    assert (event["threshold"], event["pool"], event["vendor"]) == (5000, POOL, VENDOR)
    assert topup_side(stack) == "above"

    # 1. restart while the balance stays above: the stored side says "above", nothing fires
    stack.expected_down.add("triggerer")
    triggerer.kill(signal.SIGKILL)
    triggerer.start()
    stack.expected_down.discard("triggerer")
    restarted_at = time.time()
    reads = balance_reads(stack)
    stack.wait_for(lambda: balance_reads(stack) >= reads + 5, 120, "the restarted triggerer to poll again")
    figures["topup_watcher_restart_to_first_poll_s"] = round(
        balance_reads_between(stack, restarted_at, time.time())[0].timestamp() - restarted_at, 1
    )
    time.sleep(3)
    assert len(topup_runs(stack)) == 1, "a restart while the balance stays above started a run"

    # 2. spent down (recorded as below), then topped up while no triggerer runs
    sandbox.spend(VENDOR, 3000, POOL)  # 3,000: below the rearm level
    stack.wait_for(lambda: topup_side(stack) == "below", 60, "the watcher to record 'below' again")
    assert len(topup_runs(stack)) == 1, "a fall is no top-up (direction='up')"
    stack.expected_down.add("triggerer")
    triggerer.kill(signal.SIGKILL)
    sandbox.topup(VENDOR, 4000, POOL)  # 7,000, while nothing watches
    time.sleep(2)
    triggerer.start()
    stack.expected_down.discard("triggerer")
    runs = stack.wait_for(
        lambda: finished_topup_runs(stack, 2), RUN_TIMEOUT, "a run for the top-up made while down"
    )
    event = event_of(stack, runs[1]["dag_run_id"])
    assert (event["crossing"], event["remaining"]) == ("up", 7000), event
    reads = balance_reads(stack)
    stack.wait_for(lambda: balance_reads(stack) >= reads + 5, 60, "the watcher to keep polling")
    time.sleep(3)
    assert len(topup_runs(stack)) == 2, "one run per top-up, none while the balance stays above"
    stack.unpause(TOPUP, paused=True)
