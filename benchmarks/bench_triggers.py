"""Triggerer scale: N triggers over A vendor accounts polling the sandbox once a second in one event loop.

The sandbox runs in its own process; each (implementation, N, accounts, repeat) runs in a
fresh worker process with the connections in ``AIRFLOW_CONN_*`` variables, as in a triggerer.
The A accounts are A connection ids (``theirstack_default``, ``theirstack_acct_1``, ...) to
the sandbox's TheirStack account, the triggers spread round-robin over them. Triggers are
started spread over the first second (a triggerer picks them up over time, not all at once)
and check for ``duration`` seconds. Measured in the worker: peak RSS growth over the RSS
after imports, CPU time, event-loop lag (a 10 ms ticker's lateness); in the sandbox: requests
received.

* ``credits``: :class:`CreditThresholdTrigger` on TheirStack's balance with an unreachable
  threshold (every check judges a balance), deadline at the end; the triggers of one
  connection share its balance reads (issue 17).
* ``per_trigger``: the same with ``CreditThresholdTrigger.share_reads = False``: each trigger
  reads the balance itself at every check, as before issue 17.
* ``http`` (baseline, one account and N <= 1,000 only): the http provider's ``HttpSensorTrigger``
  polling the same URL, which the sandbox answers with 404 (its ``html`` fault) so that it
  keeps polling.

Run alone: ``python -m benchmarks.bench_triggers [--quick]``, or one scenario:
``python -m benchmarks.bench_triggers --only 10000 --accounts 10 --impl credits --impl per_trigger``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import os
import random
import statistics
import time
from typing import Any

from benchmarks.common import (
    SandboxProcess,
    Stat,
    cpu_seconds,
    emit,
    peak_rss_bytes,
    percentile,
    ratio,
    rss_bytes,
    run_worker,
    silence_output,
)

CONN_ID = "theirstack_default"
HTTP_CONN_ID = "http_bench"
PATH = "/v0/billing/credit-balance"
IMPLS = ("credits", "per_trigger", "http")
#: what each implementation is called in the tables.
NAMES = {
    "credits": "CreditThresholdTrigger, shared reads",
    "per_trigger": "CreditThresholdTrigger, a read per trigger (before issue 17)",
    "http": "HttpSensorTrigger (baseline)",
}
TICK = 0.01


def account(index: int) -> str:
    """The connection id of the ``index``-th account (0: ``theirstack_default``)."""
    return CONN_ID if index == 0 else f"theirstack_acct_{index}"


def _make_trigger(impl: str, interval: float, deadline: float, conn_id: str = CONN_ID) -> Any:
    if impl in ("credits", "per_trigger"):
        from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger

        return CreditThresholdTrigger(
            credits_conn_id=conn_id, min_remaining=10**12, poke_interval=interval, deadline=deadline
        )
    from airflow.providers.http.triggers.http import HttpSensorTrigger

    return HttpSensorTrigger(endpoint=PATH, http_conn_id=HTTP_CONN_ID, poke_interval=interval)


async def _drive(impl: str, n: int, duration: float, interval: float, accounts: int = 1) -> dict[str, Any]:
    lags: list[tuple[float, float]] = []  # (when, lateness)
    stop = asyncio.Event()
    pauses = _gc_pauses()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            t0 = loop.time()
            await asyncio.sleep(TICK)
            lags.append((t0, loop.time() - t0 - TICK))

    events: list[Any] = []

    async def one(delay: float, deadline: float, conn_id: str) -> None:
        await asyncio.sleep(delay)
        trigger = _make_trigger(impl, interval, deadline, conn_id)
        if impl == "http":
            # polls at 0, 1, ... and never ends by itself: stop it just before `deadline`, where
            # its next poll comes at the earliest (its sleeps only start after each poll); so a
            # poll the loop made late (a first connection lookup, a busy machine) still counts
            try:
                async with asyncio.timeout(deadline - time.time() - interval / 20):
                    async for event in trigger.run():
                        events.append(event)
                        break
            except TimeoutError:
                pass
            return
        async for event in trigger.run():  # polls at 1, 2, ... and ends at its deadline
            events.append(event)
            break

    rng = random.Random(7)
    start = time.time()
    # every trigger polls for `duration` seconds after its own (staggered) start
    tasks = []
    for i in range(n):
        delay = rng.uniform(0, interval)
        tasks.append(asyncio.create_task(one(delay, start + delay + duration, account(i % accounts))))
    tick = asyncio.create_task(ticker())
    steady_from = asyncio.get_running_loop().time() + 2 * interval  # every trigger has polled once
    cpu0 = cpu_seconds()
    done, pending = await asyncio.wait(tasks, timeout=duration + interval + 5)
    cpu = cpu_seconds() - cpu0
    wall = time.time() - start
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    stop.set()
    await tick
    gc.callbacks.remove(pauses.record)
    errors = [repr(t.exception()) for t in done if t.exception() is not None]
    steady = [lag for when, lag in lags if when >= steady_from]
    everything = [lag for _, lag in lags]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "events": len(events),
        "timeouts": sum(
            1 for e in events if isinstance(e.payload, dict) and e.payload.get("status") == "timeout"
        ),
        "errors": errors[:3],
        "error_count": len(errors),
        "lag_p50_ms": percentile(everything, 50) * 1000,
        "lag_p99_ms": percentile(everything, 99) * 1000,
        "lag_max_ms": max(everything, default=0.0) * 1000,
        "steady_lag_p99_ms": percentile(steady, 99) * 1000,
        "gc_full_collections": len(pauses.full_ms),
        "gc_full_max_ms": max(pauses.full_ms, default=0.0),
    }


class _GcPauses:
    """Durations of the garbage collector's full (generation 2) collections."""

    def __init__(self) -> None:
        self.full_ms: list[float] = []
        self._started = 0.0

    def record(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif info["generation"] == 2:
            self.full_ms.append((time.perf_counter() - self._started) * 1000)


def _gc_pauses() -> _GcPauses:
    pauses = _GcPauses()
    gc.callbacks.append(pauses.record)
    return pauses


def worker(impl: str, n: int, duration: float, interval: float, accounts: int = 1) -> None:
    """In a fresh process: import, then run ``n`` triggers of ``impl`` over ``accounts`` connections."""
    # A triggerer logs each trigger's lines: keep that cost (formatting, writing) but not in a pipe.
    silence_output()
    logging.basicConfig(level=logging.INFO)
    import airflow.sdk
    import airflow.triggers.base  # noqa: F401

    trigger = _make_trigger(impl, interval, 0)  # imports
    checks = [0]
    if impl != "http":
        cls = type(trigger)
        if impl == "per_trigger":
            cls.share_reads = False
        check = cls._check

        def counted(self: Any, *args: Any) -> Any:  # no coroutine of its own: next to no cost
            checks[0] += 1
            return check(self, *args)

        cls._check = counted
    if impl != "http":  # what the first request imports (the baseline imports aiohttp with its trigger)
        import aiohttp  # noqa: F401

        import airflow_provider_credits.hooks.theirstack  # noqa: F401
    rss0 = rss_bytes()
    result = asyncio.run(_drive(impl, n, duration, interval, accounts))
    result["checks_made"] = checks[0]
    result["rss0_mb"] = rss0 / 2**20
    result["peak_rss_growth_mb"] = (peak_rss_bytes() - rss0) / 2**20
    emit(result)


def conn_env(sandbox: SandboxProcess, accounts: int = 1) -> dict[str, str]:
    """The connections of every implementation, pointing at the sandbox (``accounts`` of TheirStack)."""
    from airflow_provider_credits.sandbox.keys import THEIRSTACK_API_KEY

    env = dict(sandbox.client.airflow_conn_env())
    for index in range(1, accounts):
        env[f"AIRFLOW_CONN_{account(index).upper()}"] = env[f"AIRFLOW_CONN_{CONN_ID.upper()}"]
    env[f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}"] = json.dumps(
        {
            "conn_type": "http",
            "host": sandbox.url,
            "extra": {"Authorization": f"Bearer {THEIRSTACK_API_KEY}", "Accept": "application/json"},
        }
    )
    return env


def measure(
    sandbox: SandboxProcess, impl: str, n: int, duration: float, interval: float, accounts: int = 1
) -> dict[str, Any]:
    """One worker run; adds the sandbox's view (requests, its CPU) and the per-check figures."""
    sandbox.client.reset()
    if impl == "http":
        sandbox.client.add_fault("theirstack", "html", status=404)
    load0 = os.getloadavg()[0]
    sandbox_cpu0 = sandbox.cpu_seconds()
    result = run_worker(
        [
            "-m",
            "benchmarks.bench_triggers",
            "--worker",
            impl,
            str(n),
            str(duration),
            str(interval),
            str(accounts),
        ],
        env=conn_env(sandbox, accounts),
    )
    result["sandbox_cpu_s"] = sandbox.cpu_seconds() - sandbox_cpu0
    result["load_1min"] = max(load0, os.getloadavg()[0])
    result["requests"] = sandbox.client.request_count("theirstack")
    intervals = round(duration / interval)
    # each trigger checks once per interval for `duration` seconds after its start
    result["checks"] = n * intervals
    if impl == "http":  # it does not count its polls: each sends one request
        result["checks_made"] = result["requests"]
    # what a read per check would send (the requests of today's per-trigger polling)
    result["expected"] = result["checks"]
    # per round of checks the triggers made (fewer than `intervals` when the loop falls behind)
    rounds = result["checks_made"] / n
    result["requests_per_account_interval"] = result["requests"] / (accounts * rounds) if rounds else 0.0
    result["cpu_ms_per_poll"] = 1000 * result["cpu_s"] / max(1, result["requests"])
    # none made: every trigger was still waiting for its first answer when the run ended
    result["cpu_us_per_check"] = (
        1e6 * result["cpu_s"] / result["checks_made"] if result["checks_made"] else math.nan
    )
    result["kb_per_trigger"] = 1024 * result["peak_rss_growth_mb"] / n
    return result


def impls_for(n: int, accounts: int) -> tuple[str, ...]:
    """The implementations measured in a scenario (the http baseline with one account up to 1,000)."""
    return IMPLS if accounts == 1 and n <= 1000 else ("credits", "per_trigger")


#: (N triggers, accounts) measured by ``make bench``, and in quick mode.
SCENARIOS = ((1000, 1), (1000, 10), (10000, 1), (10000, 10))
QUICK_SCENARIOS = ((10, 1), (10, 2))
KEYS = (
    "peak_rss_growth_mb",
    "kb_per_trigger",
    "cpu_ms_per_poll",
    "cpu_us_per_check",
    "cpu_s",
    "lag_p50_ms",
    "lag_p99_ms",
    "steady_lag_p99_ms",
    "gc_full_collections",
    "gc_full_max_ms",
    "requests",
    "requests_per_account_interval",
    "expected",
    "checks_made",
    "events",
    "sandbox_cpu_s",
    "load_1min",
)


def scenario_key(n: int, accounts: int) -> str:
    return f"{n}x{accounts}"


def run(
    quick: bool = False,
    repeats: int | None = None,
    scenarios: tuple[tuple[int, int], ...] | None = None,
    impls: tuple[str, ...] | None = None,
    duration: float | None = None,
) -> dict[str, Any]:
    """Measure every scenario ((N, accounts)) with each implementation, alternating them per repeat."""
    scenarios = scenarios or (QUICK_SCENARIOS if quick else SCENARIOS)
    duration, interval = (duration or 1.0, 0.5) if quick else (duration or 15.0, 1.0)
    repeats = repeats or (1 if quick else 3)
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {impl: {} for impl in IMPLS}
    with SandboxProcess() as sandbox:
        for n, accounts in scenarios:
            key = scenario_key(n, accounts)
            for _ in range(repeats):
                for impl in impls or impls_for(n, accounts):
                    result = measure(sandbox, impl, n, duration, interval, accounts)
                    raw[impl].setdefault(key, []).append(result)
    table: dict[str, dict[str, dict[str, Any]]] = {impl: {} for impl in IMPLS}
    for impl, by_scenario in raw.items():
        for key, runs in by_scenario.items():
            table[impl][key] = {k: Stat.of([r[k] for r in runs]).to_json() for k in KEYS}
            table[impl][key]["errors"] = sorted({e for r in runs for e in r["errors"]})
    ratios = {
        key: {
            k: ratio(table["credits"][key][k]["median"], table["per_trigger"][key][k]["median"])
            for k in ("requests_per_account_interval", "kb_per_trigger", "cpu_us_per_check", "lag_p99_ms")
        }
        for key in table["credits"]
        if key in table["per_trigger"]
    }
    results: dict[str, Any] = {
        "scenarios": [list(s) for s in scenarios],
        "duration_s": duration,
        "interval_s": interval,
        "repeats": repeats,
        "table": table,
        "ratios": ratios,
        "raw": raw,
    }
    results["target_met"] = targets(results)
    return results


def targets(results: dict[str, Any]) -> dict[str, bool]:
    """The issue's targets (issue 17), judged for the shared reads at the largest N."""
    table = results["table"]["credits"]
    top = max(n for n, _ in results["scenarios"])
    met: dict[str, bool] = {}
    for key, row in table.items():
        n, accounts = (int(part) for part in key.split("x"))
        if n != top:
            continue
        where = f"{n} triggers, {accounts} account{'s' if accounts > 1 else ''}:"
        # at most one read per account per interval, plus each trigger's last check at its deadline
        met[f"{where} about 1 vendor request per account per interval (<= 1.5)"] = (
            row["requests_per_account_interval"]["median"] <= 1.5
        )
        met[f"{where} within 150 MB (peak RSS growth)"] = row["peak_rss_growth_mb"]["median"] <= 150
        met[f"{where} p99 loop lag < 50 ms (whole run)"] = row["lag_p99_ms"]["median"] < 50
        met[f"{where} p99 loop lag < 50 ms (steady state)"] = row["steady_lag_p99_ms"]["median"] < 50
    return met


def render(results: dict[str, Any]) -> str:
    def cell(stat: dict[str, float], digits: int = 1) -> str:
        return f"{stat['median']:.{digits}f} ({stat['min']:.{digits}f}-{stat['max']:.{digits}f})"

    intervals = round(results["duration_s"] / results["interval_s"])
    lines = [
        "## 2. Triggerer scale",
        "",
        f"N triggers over A accounts (connection ids) in one asyncio loop (fresh process each run), started "
        f"spread over the first {results['interval_s']:g} s, checking every {results['interval_s']:g} s for "
        f"{results['duration_s']:g} s ({intervals} intervals) against the sandbox in a separate process. "
        f"Median (min-max) of {results['repeats']} runs, the implementations alternating. Requests per account "
        "and interval: what the sandbox received / (A x rounds of checks), where a round is N checks "
        f"(checks made / N; {intervals} when the loop keeps up); a read per check would be N / A. "
        "Memory: peak RSS growth over the process after imports (Airflow, httpx, aiohttp: "
        f"{_rss0(results):.0f} MB before the first trigger). CPU: the worker process only, per check made "
        "and per request sent. Checks made / due: the triggers' checks against N x intervals. Loop lag: lateness of a 10 ms ticker, over the whole "
        "run and in the steady state (from two intervals on, after every trigger's first check and its log line; the "
        "connection lookup is one per account, on its first read). Full GC: the garbage collector's generation-2 collections during the run, and the longest "
        "one. Load: the 1-minute load average of the machine (2 cores, shared), the higher of before and "
        "after the run." + (f" Measured: {results['measured']}." if results.get("measured") else ""),
        "",
        "| trigger | N | accounts | requests / account / interval | peak RSS growth MB | KB/trigger "
        "| CPU us/check | CPU ms/request | loop lag p50 ms | loop lag p99 ms | steady p99 ms "
        "| full GC: count, max ms | checks made / due | requests | events | sandbox CPU s | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, accounts in results["scenarios"]:
        key = scenario_key(n, accounts)
        for impl in IMPLS:
            t = results["table"][impl].get(key)
            if t is None:
                continue
            lines.append(
                f"| {NAMES[impl]} | {n} | {accounts} | {cell(t['requests_per_account_interval'], 2)} | "
                f"{cell(t['peak_rss_growth_mb'])} | {cell(t['kb_per_trigger'])} | {cell(t['cpu_us_per_check'], 0)} | "
                f"{cell(t['cpu_ms_per_poll'], 2)} | {cell(t['lag_p50_ms'], 1)} | {cell(t['lag_p99_ms'], 1)} | "
                f"{cell(t['steady_lag_p99_ms'], 1)} | {t['gc_full_collections']['median']:.0f}, "
                f"{t['gc_full_max_ms']['median']:.0f} | {t['checks_made']['median']:.0f} / "
                f"{t['expected']['median']:.0f} | {t['requests']['median']:.0f} | {t['events']['median']:.0f} | "
                f"{t['sandbox_cpu_s']['median']:.1f} | {t['load_1min']['median']:.1f} |"
            )
    lines += [
        "",
        "| N x accounts | requests vs a read per trigger | memory/trigger | CPU/check | p99 lag |",
        "|---|---|---|---|---|",
    ]
    for key, r in results["ratios"].items():
        lines.append(
            f"| {key} | {r['requests_per_account_interval']:.3f}x | {r['kb_per_trigger']:.2f}x | "
            f"{r['cpu_us_per_check']:.2f}x | {r['lag_p99_ms']:.2f}x |"
        )
    errors = {
        f"{impl} {key}": row["errors"]
        for impl in IMPLS
        for key, row in results["table"][impl].items()
        if row["errors"]
    }
    if errors:
        lines.append(f"\nErrors: {errors}")
    lines.append("")
    for what, met in targets(results).items():
        lines.append(f"Target {what}: **{'met' if met else 'MISSED'}**  ")
    return "\n".join(lines) + "\n"


def _rss0(results: dict[str, Any]) -> float:
    """Median RSS of the credits worker after imports, before any trigger."""
    runs = [r for n_runs in results["raw"]["credits"].values() for r in n_runs]
    return statistics.median(r["rss0_mb"] for r in runs) if runs else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 triggers for 1 s (smoke test)")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--only", type=int, help="run only this N (with --accounts, default 1)")
    parser.add_argument("--accounts", type=int, default=1, help="with --only: over this many accounts")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--impl", choices=IMPLS, action="append", help="with --only: this implementation")
    parser.add_argument("--json", type=str, help="with --only: also write the results (JSON) to this file")
    parser.add_argument(
        "--worker", nargs=5, metavar=("IMPL", "N", "DURATION", "INTERVAL", "ACCOUNTS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        impl, n, duration, interval, accounts = args.worker
        worker(impl, int(n), float(duration), float(interval), int(accounts))
        return
    if args.only:
        results = run(
            repeats=args.repeats or 1,
            scenarios=((args.only, args.accounts),),
            impls=tuple(args.impl) if args.impl else None,
            duration=args.duration,
        )
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        print(render(results))
        return
    results = run(args.quick, args.repeats)
    print(render(results))


if __name__ == "__main__":
    main()
