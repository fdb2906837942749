"""Per-check overhead: requests and wall time of one sensor check, sync (poke) and async (trigger).

Against the sandbox (separate process), TheirStack's balance, a threshold never met:

* sync: ``CreditThresholdSensor.poke()`` (builds the hook, one GET, closes) vs the http
  provider's ``HttpSensor.poke()`` on the same URL;
* async: ``CreditThresholdTrigger`` with a 1 µs ``poke_interval`` (it refuses 0; 1 µs is no
  pause) until its deadline (checks counted at its threshold decision) vs ``HttpAsyncHook.run()`` with a new aiohttp session per check, which
  is what ``HttpSensorTrigger`` does at every poll.

Requests per check are counted by the sandbox; they must be exactly 1.

Run alone: ``python -m benchmarks.bench_check [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from benchmarks.bench_triggers import CONN_ID, HTTP_CONN_ID, PATH, conn_env
from benchmarks.common import SandboxProcess, Stat, emit, ratio, run_worker, silence_output

#: the trigger's ``poke_interval`` here: it refuses 0, and a microsecond is no pause at all
NO_PAUSE = 1e-6


def _sync_credits(checks: int) -> list[float]:
    from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor

    sensor = CreditThresholdSensor(task_id="bench", credits_conn_id=CONN_ID, min_remaining=10**12)
    times = []
    for _ in range(checks):
        t0 = time.perf_counter()
        result = sensor.poke({})  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
        assert not result.is_done
    return times


def _sync_http(checks: int) -> list[float]:
    from airflow.providers.http.sensors.http import HttpSensor

    sensor = HttpSensor(task_id="bench", http_conn_id=HTTP_CONN_ID, endpoint=PATH, method="GET")
    times = []
    for _ in range(checks):
        t0 = time.perf_counter()
        sensor.poke({})  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
    return times


async def _async_credits(seconds: float) -> tuple[int, float]:
    from airflow_provider_credits import gate
    from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger

    checks = 0
    original = gate.Gate.check

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal checks
        checks += 1
        return original(self, *args, **kwargs)

    gate.Gate.check = counting  # type: ignore[method-assign]
    try:
        t0 = time.perf_counter()
        trigger = CreditThresholdTrigger(
            credits_conn_id=CONN_ID,
            min_remaining=10**12,
            poke_interval=NO_PAUSE,
            deadline=time.time() + seconds,
        )
        events = [event async for event in trigger.run()]
        wall = time.perf_counter() - t0
    finally:
        gate.Gate.check = original  # type: ignore[method-assign]
    assert len(events) == 1 and events[0].payload["status"] == "timeout", events
    return checks, wall


async def _async_http(checks: int) -> list[float]:
    import aiohttp
    from airflow.providers.http.hooks.http import HttpAsyncHook

    hook = HttpAsyncHook(method="GET", http_conn_id=HTTP_CONN_ID)
    times = []
    for _ in range(checks):
        t0 = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            await hook.run(session=session, endpoint=PATH)
        times.append(time.perf_counter() - t0)
    return times


def worker(mode: str, amount: float) -> None:
    silence_output()
    import airflow.sdk  # noqa: F401

    if mode == "sync-credits":
        _sync_credits(1)  # warm up: imports, first connection
        times = _sync_credits(int(amount))
        emit({"checks": len(times), "ms": [t * 1000 for t in times]})
    elif mode == "sync-http":
        _sync_http(1)
        times = _sync_http(int(amount))
        emit({"checks": len(times), "ms": [t * 1000 for t in times]})
    elif mode == "async-credits":
        import aiohttp  # noqa: F401  (the first async request imports it: not part of a check)

        checks, wall = asyncio.run(_async_credits(amount))
        emit({"checks": checks, "ms": [wall * 1000 / max(1, checks)]})
    elif mode == "async-http":
        times = asyncio.run(_async_http(int(amount)))
        emit({"checks": len(times), "ms": [t * 1000 for t in times]})
    else:
        raise ValueError(mode)


MODES = ("sync-credits", "sync-http", "async-credits", "async-http")


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    checks = 5 if quick else 200
    seconds = 0.5 if quick else 3.0
    repeats = repeats or (1 if quick else 3)
    samples: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    with SandboxProcess() as sandbox:
        env = conn_env(sandbox)
        for _ in range(repeats):
            for mode in MODES:
                sandbox.client.reset()
                amount = seconds if mode == "async-credits" else checks
                r = run_worker(["-m", "benchmarks.bench_check", "--worker", mode, str(amount)], env=env)
                requests = sandbox.client.request_count("theirstack")
                warmup = 1 if mode.startswith("sync") else 0
                r["requests_per_check"] = (requests - warmup) / max(1, r["checks"])
                samples[mode].append(r)
    results: dict[str, Any] = {"repeats": repeats, "modes": {}}
    for mode, runs in samples.items():
        results["modes"][mode] = {
            "ms_per_check": Stat.of([statistics.median(r["ms"]) for r in runs]).to_json(),
            "requests_per_check": Stat.of([r["requests_per_check"] for r in runs]).to_json(),
            "checks": Stat.of([r["checks"] for r in runs]).to_json(),
        }
    m = results["modes"]
    results["ratios"] = {
        "sync": ratio(m["sync-credits"]["ms_per_check"]["median"], m["sync-http"]["ms_per_check"]["median"]),
        "async": ratio(
            m["async-credits"]["ms_per_check"]["median"], m["async-http"]["ms_per_check"]["median"]
        ),
    }
    results["target_met"] = {
        "exactly 1 request per check (sync and async)": all(
            r["requests_per_check"] == 1.0
            for mode in ("sync-credits", "async-credits")
            for r in samples[mode]
        )
    }
    return results


def render(results: dict[str, Any]) -> str:
    names = {
        "sync-credits": "CreditThresholdSensor.poke()",
        "sync-http": "HttpSensor.poke() (baseline)",
        "async-credits": "CreditThresholdTrigger, per check",
        "async-http": "HttpAsyncHook.run() + new aiohttp session (baseline)",
    }
    lines = [
        "## 4. Per-check overhead",
        "",
        f"One worker process per mode (sandbox in its own process), median (min-max) over {results['repeats']} "
        "runs of the per-run median. Sync: every poke builds its hook and client and closes them, as a worker "
        "does. Async: the trigger with a 1 µs `poke_interval` until its deadline (wall time / checks).",
        "",
        "| check | ms per check | requests per check | checks per run | vs baseline |",
        "|---|---|---|---|---|",
    ]
    for mode, m in results["modes"].items():
        vs = ""
        if mode == "sync-credits":
            vs = f"{results['ratios']['sync']:.2f}x"
        elif mode == "async-credits":
            vs = f"{results['ratios']['async']:.2f}x"
        ms = m["ms_per_check"]
        lines.append(
            f"| {names[mode]} | {ms['median']:.2f} ({ms['min']:.2f}-{ms['max']:.2f}) | "
            f"{m['requests_per_check']['median']:.3f} | {m['checks']['median']:.0f} | {vs} |"
        )
    lines.append("")
    for what, met in results["target_met"].items():
        lines.append(f"Target {what}: **{'met' if met else 'MISSED'}**  ")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few checks (smoke test)")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "AMOUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], float(args.worker[1]))
        return
    results = run(args.quick, args.repeats)
    print(render(results))
    print(json.dumps(results["modes"], indent=1))


if __name__ == "__main__":
    main()
