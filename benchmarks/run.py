"""Run every benchmark and write ``benchmarks/RESULTS.md`` (``make bench``).

``python -m benchmarks.run [--quick] [--only import,triggers,sql,check,dashboard] [--output PATH]``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import bench_check, bench_dashboard, bench_import, bench_sql, bench_triggers
from benchmarks.common import ROOT, load, machine

BENCHES: dict[str, tuple[Callable[..., dict[str, Any]], Callable[[dict[str, Any]], str]]] = {
    "import": (bench_import.run, bench_import.render),
    "triggers": (bench_triggers.run, bench_triggers.render),
    "sql": (bench_sql.run, bench_sql.render),
    "check": (bench_check.run, bench_check.render),
    "dashboard": (bench_dashboard.run, bench_dashboard.render),
}

NOTES = ROOT / "benchmarks" / "NOTES.md"


def header(info: dict[str, str], loads: list[str], seconds: float, quick: bool) -> str:
    return "\n".join(
        [
            "# Benchmark results",
            "",
            "Written by `make bench` (`python -m benchmarks.run`); do not edit by hand. Every figure is "
            "the median of repeated runs, with (min-max), next to a baseline measured in the same run.",
            "",
            f"- date: {info['date']}{' (quick mode: smoke sizes, not meaningful)' if quick else ''}",
            f"- machine: {info['cpu']}, {info['memory']}, {info['platform']}",
            f"- Python {info['python']}; {info['versions']}",
            f"- load average (1/5/15 min) before each benchmark and at the end: {'; '.join(loads)}",
            f"- total time: {seconds / 60:.1f} min",
            "",
        ]
    )


def rerender(output: Path) -> None:
    """Render ``output`` again from its JSON twin, keeping its header (machine, load, date)."""
    raw = json.loads(output.with_suffix(".json").read_text())
    head = output.read_text().split("\n## ", 1)[0].rstrip("\n") + "\n"
    sections = [render(raw[name]) for name, (_, render) in BENCHES.items() if name in raw]
    text = head + "\n" + "\n".join(sections)
    if NOTES.exists():
        text += "\n" + NOTES.read_text()
    output.write_text(text)
    print(f"rewrote {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run each (smoke test)")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="rewrite RESULTS.md from RESULTS.json (same measurements, current rendering and notes)",
    )
    args = parser.parse_args()
    if args.rerender:
        rerender(args.output)
        return
    started = time.monotonic()
    info = machine()
    sections, loads, raw = [], [], {}
    for name in args.only.split(","):
        bench, render = BENCHES[name]
        loads.append(f"{name}: {load()}")
        print(f"== {name} (load {load()})", flush=True)
        results = bench(args.quick)
        raw[name] = results
        section = render(results)
        print(section, flush=True)
        sections.append(section)
    loads.append(f"end: {load()}")
    text = header(info, loads, time.monotonic() - started, args.quick) + "\n" + "\n".join(sections)
    if NOTES.exists() and not args.quick:
        text += "\n" + NOTES.read_text()
    args.output.write_text(text)
    args.output.with_suffix(".json").write_text(json.dumps({"machine": info, **raw}, indent=1, default=str))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
