"""DAG-parse import cost: what a DAG file pays, at every parse, to import this package's classes.

Each measurement is a fresh interpreter that first imports ``airflow.sdk`` and ``DAG`` (what
every DAG file does anyway), then times the import of one target and the growth of its
resident memory. Targets are interleaved round by round so that load spikes hit all alike.
The package's bytecode is compiled first, as pip does when it installs the wheel: with
``PYTHONDONTWRITEBYTECODE`` set (it is on our machines) a source checkout would otherwise pay a
compile at every import, which no installed provider (nor the baselines) pays.

Run alone: ``python -m benchmarks.bench_import [--quick]``.
"""

from __future__ import annotations

import argparse
import compileall
import importlib
import json
import sys
import time
from typing import Any

from benchmarks.common import ROOT, Stat, cpu_seconds, emit, ratio, rss_bytes, run_worker

#: name -> modules imported (after ``airflow.sdk``)
TARGETS: dict[str, tuple[str, ...]] = {
    "credits sensor": ("airflow_provider_credits.sensors.credit_threshold",),
    "credits operator": ("airflow_provider_credits.operators.usage_to_sql",),
    "credits hooks (all four)": (
        "airflow_provider_credits.hooks.clay",
        "airflow_provider_credits.hooks.clodura",
        "airflow_provider_credits.hooks.theirstack",
        "airflow_provider_credits.hooks.trendtrack",
    ),
    "credits sensor + operator": (
        "airflow_provider_credits.sensors.credit_threshold",
        "airflow_provider_credits.operators.usage_to_sql",
    ),
    "http sensor (baseline)": ("airflow.providers.http.sensors.http",),
    "http hook (baseline)": ("airflow.providers.http.hooks.http",),
    "common-sql operator (baseline)": ("airflow.providers.common.sql.operators.sql",),
}

#: ours -> the baseline it is compared with
PAIRS: dict[str, str] = {
    "credits sensor": "http sensor (baseline)",
    "credits operator": "common-sql operator (baseline)",
    "credits hooks (all four)": "http hook (baseline)",
    "credits sensor + operator": "http sensor (baseline)",
}

TARGET_MS = 20.0


def worker(modules: list[str]) -> None:
    """In a fresh interpreter: import airflow.sdk, then time importing ``modules``."""
    import airflow.sdk
    from airflow.sdk import DAG  # noqa: F401  (every DAG file imports it)

    del airflow
    before_modules = set(sys.modules)
    rss0, cpu0, t0 = rss_bytes(), cpu_seconds(), time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    wall, cpu, rss = time.perf_counter() - t0, cpu_seconds() - cpu0, rss_bytes() - rss0
    emit(
        {
            "ms": wall * 1000,
            "cpu_ms": cpu * 1000,
            "rss_mb": rss / 2**20,
            "new_modules": len(set(sys.modules) - before_modules),
        }
    )


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    """Measure every target ``repeats`` times; return medians and ratios."""
    repeats = repeats or (1 if quick else 11)
    quick_names = ("credits sensor", "http sensor (baseline)")
    targets = {k: v for k, v in TARGETS.items() if not quick or k in quick_names}
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    compileall.compile_dir(ROOT / "airflow_provider_credits", quiet=1)  # as a wheel install does
    for _ in range(repeats):
        for name, modules in targets.items():
            samples[name].append(run_worker(["-m", "benchmarks.bench_import", "--worker", *modules]))
    results: dict[str, Any] = {"repeats": repeats, "targets": {}, "ratios": {}}
    for name, runs in samples.items():
        results["targets"][name] = {
            key: Stat.of([r[key] for r in runs]).to_json()
            for key in ("ms", "cpu_ms", "rss_mb", "new_modules")
        }
    for ours, base in PAIRS.items():
        if ours in results["targets"] and base in results["targets"]:
            o, b = results["targets"][ours], results["targets"][base]
            results["ratios"][ours] = {
                "baseline": base,
                "time": ratio(o["ms"]["median"], b["ms"]["median"]),
                "rss": ratio(o["rss_mb"]["median"], b["rss_mb"]["median"]),
            }
    sensor = results["targets"].get("credits sensor")
    http = results["targets"].get("http sensor (baseline)")
    if sensor and http:
        results["target_met"] = {
            "sensor <= http sensor": sensor["ms"]["median"] <= http["ms"]["median"],
            f"sensor < {TARGET_MS:g} ms": sensor["ms"]["median"] < TARGET_MS,
        }
    return results


def render(results: dict[str, Any]) -> str:
    """Markdown section of the results."""

    def cell(stat: dict[str, float], digits: int = 1) -> str:
        return f"{stat['median']:.{digits}f} ({stat['min']:.{digits}f}-{stat['max']:.{digits}f})"

    lines = [
        "## 1. DAG-parse import cost",
        "",
        f"Fresh interpreter per run, `airflow.sdk` and `DAG` already imported; median (min-max) of "
        f"{results['repeats']} runs per target, interleaved. Memory is the growth of the resident set.",
        "",
        "| import | wall ms | CPU ms | RSS MB | new modules | vs baseline (time / RSS) |",
        "|---|---|---|---|---|---|",
    ]
    for name, t in results["targets"].items():
        r = results["ratios"].get(name)
        vs = f"{r['time']:.2f}x / {r['rss']:.2f}x {r['baseline']}" if r else "-"
        lines.append(
            f"| {name} | {cell(t['ms'])} | {cell(t['cpu_ms'])} | {cell(t['rss_mb'], 2)} | "
            f"{t['new_modules']['median']:.0f} | {vs} |"
        )
    for what, met in results.get("target_met", {}).items():
        lines.append(f"\nTarget {what}: **{'met' if met else 'MISSED'}**")
    lines.append(
        "\nThe operator imports `common.sql.operators.sql` itself, so its figure includes the "
        "baseline's; its ratio is the price of the operator on top of the common-sql operator."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run of two targets (smoke test)")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--worker", nargs="+", metavar="MODULE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    results = run(args.quick, args.repeats)
    print(render(results))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
