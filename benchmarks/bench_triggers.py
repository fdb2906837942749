"""Triggerer scale: N triggers polling the sandbox once a second in one event loop.

The sandbox runs in its own process; each (implementation, N, repeat) runs in a fresh worker
process with the connections in ``AIRFLOW_CONN_*`` variables, as in a triggerer. Triggers are
started spread over the first second (a triggerer picks them up over time, not all at once)
and poll for ``duration`` seconds. Measured in the worker: peak RSS growth over the RSS after
imports, CPU time, event-loop lag (a 10 ms ticker's lateness); in the sandbox: requests received.

* ``credits``: :class:`CreditThresholdTrigger` on TheirStack's balance with an unreachable
  threshold (every poll is a 200 with a balance, parsed and judged), deadline at the end.
* ``http`` (baseline): the http provider's ``HttpSensorTrigger`` polling the same URL, which
  the sandbox answers with 404 (its ``html`` fault) so that it keeps polling.

Run alone: ``python -m benchmarks.bench_triggers [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
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
IMPLS = ("credits", "http")
TICK = 0.01


def _make_trigger(impl: str, interval: float, deadline: float) -> Any:
    if impl == "credits":
        from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger

        return CreditThresholdTrigger(
            credits_conn_id=CONN_ID, min_remaining=10**12, poke_interval=interval, deadline=deadline
        )
    from airflow.providers.http.triggers.http import HttpSensorTrigger

    return HttpSensorTrigger(endpoint=PATH, http_conn_id=HTTP_CONN_ID, poke_interval=interval)


async def _drive(impl: str, n: int, duration: float, interval: float) -> dict[str, Any]:
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

    async def one(delay: float, deadline: float) -> None:
        await asyncio.sleep(delay)
        trigger = _make_trigger(impl, interval, deadline)
        if impl == "http":
            # polls at 0, 1, ... and never ends by itself: stop it before a poll at `deadline`
            try:
                async with asyncio.timeout(deadline - time.time() - interval / 2):
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
    for _ in range(n):
        delay = rng.uniform(0, interval)
        tasks.append(asyncio.create_task(one(delay, start + delay + duration)))
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


def worker(impl: str, n: int, duration: float, interval: float) -> None:
    """In a fresh process: import, then run ``n`` triggers of ``impl``."""
    # A triggerer logs each trigger's lines: keep that cost (formatting, writing) but not in a pipe.
    silence_output()
    logging.basicConfig(level=logging.INFO)
    import airflow.sdk
    import airflow.triggers.base  # noqa: F401

    _make_trigger(impl, interval, 0)  # imports
    if impl == "credits":  # what the first request imports (the baseline imports aiohttp with its trigger)
        import aiohttp  # noqa: F401

        import airflow_provider_credits.hooks.theirstack  # noqa: F401
    rss0 = rss_bytes()
    result = asyncio.run(_drive(impl, n, duration, interval))
    result["rss0_mb"] = rss0 / 2**20
    result["peak_rss_growth_mb"] = (peak_rss_bytes() - rss0) / 2**20
    emit(result)


def conn_env(sandbox: SandboxProcess) -> dict[str, str]:
    """The connections of both implementations, pointing at the sandbox."""
    from airflow_provider_credits.sandbox.keys import THEIRSTACK_API_KEY

    env = dict(sandbox.client.airflow_conn_env())
    env[f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}"] = json.dumps(
        {
            "conn_type": "http",
            "host": sandbox.url,
            "extra": {"Authorization": f"Bearer {THEIRSTACK_API_KEY}", "Accept": "application/json"},
        }
    )
    return env


def measure(sandbox: SandboxProcess, impl: str, n: int, duration: float, interval: float) -> dict[str, Any]:
    """One worker run; adds the sandbox's view (requests, its CPU)."""
    sandbox.client.reset()
    if impl == "http":
        sandbox.client.add_fault("theirstack", "html", status=404)
    sandbox_cpu0 = sandbox.cpu_seconds()
    result = run_worker(
        ["-m", "benchmarks.bench_triggers", "--worker", impl, str(n), str(duration), str(interval)],
        env=conn_env(sandbox),
    )
    result["sandbox_cpu_s"] = sandbox.cpu_seconds() - sandbox_cpu0
    result["requests"] = sandbox.client.request_count("theirstack")
    # each trigger polls once per interval for `duration` seconds after its start
    result["expected"] = n * round(duration / interval)
    result["cpu_ms_per_poll"] = 1000 * result["cpu_s"] / max(1, result["requests"])
    result["kb_per_trigger"] = 1024 * result["peak_rss_growth_mb"] / n
    return result


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    ns = (10,) if quick else (100, 500, 1000)
    duration, interval = (1.0, 0.5) if quick else (15.0, 1.0)
    repeats = repeats or (1 if quick else 3)
    raw: dict[str, dict[int, list[dict[str, Any]]]] = {impl: {n: [] for n in ns} for impl in IMPLS}
    with SandboxProcess() as sandbox:
        for n in ns:
            for _ in range(repeats):
                for impl in IMPLS:
                    raw[impl][n].append(measure(sandbox, impl, n, duration, interval))
    keys = (
        "peak_rss_growth_mb",
        "kb_per_trigger",
        "cpu_ms_per_poll",
        "cpu_s",
        "lag_p50_ms",
        "lag_p99_ms",
        "steady_lag_p99_ms",
        "gc_full_collections",
        "gc_full_max_ms",
        "requests",
        "expected",
        "events",
        "sandbox_cpu_s",
    )
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for impl in IMPLS:
        table[impl] = {}
        for n in ns:
            runs = raw[impl][n]
            table[impl][str(n)] = {k: Stat.of([r[k] for r in runs]).to_json() for k in keys}
            table[impl][str(n)]["errors"] = sorted({e for r in runs for e in r["errors"]})
    ratios = {
        str(n): {
            k: ratio(table["credits"][str(n)][k]["median"], table["http"][str(n)][k]["median"])
            for k in ("kb_per_trigger", "cpu_ms_per_poll", "lag_p99_ms")
        }
        for n in ns
    }
    results: dict[str, Any] = {
        "ns": list(ns),
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
    """The issue's targets, judged at the largest N."""
    top = str(max(results["ns"]))
    ours, ratios = results["table"]["credits"][top], results["ratios"][top]
    return {
        f"{top} triggers within 150 MB (peak RSS growth of the process)": ours["peak_rss_growth_mb"]["median"]
        <= 150,
        f"{top} triggers p99 loop lag < 50 ms (whole run)": ours["lag_p99_ms"]["median"] < 50,
        f"{top} triggers p99 loop lag < 50 ms (steady state)": ours["steady_lag_p99_ms"]["median"] < 50,
        "less memory per trigger than baseline": ratios["kb_per_trigger"] < 1,
        "less CPU per poll than baseline": ratios["cpu_ms_per_poll"] < 1,
    }


def render(results: dict[str, Any]) -> str:
    def cell(stat: dict[str, float], digits: int = 1) -> str:
        return f"{stat['median']:.{digits}f} ({stat['min']:.{digits}f}-{stat['max']:.{digits}f})"

    lines = [
        "## 2. Triggerer scale",
        "",
        f"N triggers in one asyncio loop (fresh process each run), started spread over the first "
        f"{results['interval_s']:g} s, polling every {results['interval_s']:g} s for {results['duration_s']:g} s "
        f"against the sandbox in a separate process. Median (min-max) of {results['repeats']} runs. "
        "Memory: peak RSS growth over the process after imports (Airflow, httpx, aiohttp: "
        f"{_rss0(results):.0f} MB before the first trigger). CPU: the worker process only. "
        "Loop lag: lateness of a 10 ms ticker, over the whole run and in the steady state (after "
        "every trigger's first poll, which includes its connection lookup). Full GC: the garbage "
        "collector's generation-2 collections during the run, and the longest one.",
        "",
        "| trigger | N | peak RSS growth MB | KB/trigger | CPU ms/poll | loop lag p50 ms | loop lag p99 ms "
        "| steady p99 ms | full GC: count, max ms | requests / expected | events | sandbox CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in results["ns"]:
        for impl in IMPLS:
            t = results["table"][impl][str(n)]
            name = "CreditThresholdTrigger" if impl == "credits" else "HttpSensorTrigger (baseline)"
            lines.append(
                f"| {name} | {n} | {cell(t['peak_rss_growth_mb'])} | {cell(t['kb_per_trigger'])} | "
                f"{cell(t['cpu_ms_per_poll'], 2)} | {cell(t['lag_p50_ms'], 1)} | {cell(t['lag_p99_ms'], 1)} | "
                f"{cell(t['steady_lag_p99_ms'], 1)} | {t['gc_full_collections']['median']:.0f}, "
                f"{t['gc_full_max_ms']['median']:.0f} | {t['requests']['median']:.0f} / {t['expected']['median']:.0f} | {t['events']['median']:.0f} | "
                f"{t['sandbox_cpu_s']['median']:.1f} |"
            )
    lines += [
        "",
        "| N | memory/trigger vs baseline | CPU/poll vs baseline | p99 lag vs baseline |",
        "|---|---|---|---|",
    ]
    for n, r in results["ratios"].items():
        lines.append(
            f"| {n} | {r['kb_per_trigger']:.2f}x | {r['cpu_ms_per_poll']:.2f}x | {r['lag_p99_ms']:.2f}x |"
        )
    errors = {
        f"{impl} N={n}": results["table"][impl][str(n)]["errors"]
        for impl in IMPLS
        for n in results["ns"]
        if results["table"][impl][str(n)]["errors"]
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
    parser.add_argument("--only", type=int, help="run only this N (both implementations, one repeat)")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--impl", choices=IMPLS, action="append", help="with --only: this implementation")
    parser.add_argument(
        "--worker", nargs=4, metavar=("IMPL", "N", "DURATION", "INTERVAL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        impl, n, duration, interval = args.worker
        worker(impl, int(n), float(duration), float(interval))
        return
    if args.only:
        with SandboxProcess() as sandbox:
            for impl in args.impl or IMPLS:
                r = measure(sandbox, impl, args.only, args.duration, 1.0)
                print(impl, json.dumps({k: v for k, v in r.items()}, indent=None))
        return
    results = run(args.quick, args.repeats)
    print(render(results))


if __name__ == "__main__":
    main()
