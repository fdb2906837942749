"""SQL write throughput: usage rows through the operator's write path vs the raw driver.

* ``operator``: what :class:`UsageToSqlOperator` does after fetching: ``UsageRecord`` models ->
  :func:`_usage_rows` (named rows) -> ``Database.upsert_many`` (SQLAlchemy's bind processors, chunks of
  multi-row upsert statements compiled by SQLAlchemy, counts of inserted/updated/unchanged rows) inside
  ``Database.begin``, into a table made by ``Database.prepare`` (``Table.create``).
* ``executemany`` (baseline): the raw DB-API connection of the same hook, one plain ``INSERT``
  ``executemany`` of the same rows already converted to driver values, one transaction.
* ``copy`` (PostgreSQL only): ``COPY ... FROM STDIN``, the practical limit.

Each run is a fresh process and a fresh table with the same primary key. Each repeat runs
``operator`` and ``executemany`` back to back, alternating which goes first, then the others: the
pair shares the machine's load of the moment (other processes on a shared machine move single
figures by +-30 %), and its ratio is reported per pair (see :func:`targets`). Memory: the same
operator path fed by a generator of records at 10k/100k/1M rows on SQLite, peak RSS growth.

Run alone: ``python -m benchmarks.bench_sql [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.common import Stat, emit, peak_rss_bytes, ratio, rss_bytes, run_worker

CONNS = {
    "postgres": "postgres://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}
PORTS = {"postgres": 5432, "mysql": 3306}
CONN_ID = "bench_sql"
#: the two paths whose ratio is the target, measured back to back in each repeat
PAIR = ("operator", "executemany")
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def records(n: int) -> Iterator[Any]:
    """``n`` distinct usage records (as a vendor hook would return them)."""
    from airflow_provider_credits.models import UsageRecord

    for i in range(n):
        start = T0 + timedelta(hours=i // 4)
        yield UsageRecord(
            vendor="clay",
            account="ws_424242",
            pool="credits",
            dimension=f"user_{i % 4}",
            period_start=start,
            period_end=start + timedelta(hours=1),
            amount=Decimal(i % 1000) / 4,
        )


def _fetched(usage: Any) -> Any:
    from airflow_provider_credits.models import CreditBalance, CreditPool
    from airflow_provider_credits.operators.usage_to_sql import _Fetched

    balance = CreditBalance(
        vendor="clay", account="ws_424242", pools=(CreditPool(name="credits", remaining=Decimal(1)),)
    )
    return _Fetched("clay_default", balance, usage, T0, "http://sandbox")


def worker(kind: str, impl: str, n: int, lazy: bool) -> None:
    """One measurement in a fresh process; the connection is in ``AIRFLOW_CONN_BENCH_SQL``."""
    from airflow.providers.common.sql.operators.sql import BaseSQLOperator

    from airflow_provider_credits.operators.usage_to_sql import _usage_rows
    from airflow_provider_credits.storage.database import Database
    from airflow_provider_credits.storage.names import TableName
    from airflow_provider_credits.storage.tables import USAGE, table

    hook = BaseSQLOperator.get_hook(CONN_ID)
    db = Database(hook)
    t = table(USAGE, TableName(f"bench_{impl}_{uuid.uuid4().hex[:8]}"))
    db.prepare([t], create=True)
    quote = db.engine.dialect.identifier_preparer.quote
    ident = quote(t.name)
    names = ", ".join(quote(c.name) for c in t.columns)
    try:
        if lazy:
            source: Any = records(n)
        else:
            source = list(records(n))
            if impl != "operator":  # named rows, as the operator builds them
                source = list(_usage_rows([_fetched(source)]))
            if impl in ("executemany", "copy"):  # driver-ready tuples, converted beforehand
                source = _driver_rows(db, t, source)
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        if impl == "operator":
            with db.begin(exclusive=True) as conn:
                written = db.upsert_many(conn, t, _usage_rows([_fetched(source)]), 5000).rows
        elif impl == "upsert_rows":  # the operator's write path without the model -> row conversion
            with db.begin(exclusive=True) as conn:
                written = db.upsert_many(conn, t, source, 5000).rows
        elif impl == "executemany":  # the raw driver: plain INSERT of converted tuples
            sql = f"INSERT INTO {ident} ({names}) VALUES ({', '.join([hook.placeholder] * len(t.columns))})"
            conn = hook.get_conn()
            cur = conn.cursor()
            cur.executemany(sql, source)
            conn.commit()
            conn.close()
            written = len(source)
        elif impl == "copy":
            conn = hook.get_conn()
            with conn.cursor() as cur, cur.copy(f"COPY {ident} ({names}) FROM STDIN") as copy:
                for row in source:
                    copy.write_row(row)
            conn.commit()
            conn.close()
            written = len(source)
        else:
            raise ValueError(impl)
        seconds = time.perf_counter() - t0
        peak = peak_rss_bytes() - rss0
        count = int(hook.get_first(f"SELECT COUNT(*) FROM {ident}")[0])
    finally:
        t.drop(db.engine, checkfirst=True)
        db.dispose()
    emit(
        {
            "seconds": seconds,
            "rows_per_s": written / seconds,
            "written": written,
            "count": count,
            "peak_rss_growth_mb": max(0, peak) / 2**20,
        }
    )


def _driver_rows(db: Any, t: Any, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """``rows`` as tuples in column order with SQLAlchemy's bind processors applied (what the driver gets)."""
    dialect = db.engine.dialect
    procs = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in t.columns]
    names = [c.name for c in t.columns]
    return [
        tuple(
            v if p is None or v is None else p(v)
            for p, v in zip(procs, map(row.__getitem__, names), strict=True)
        )
        for row in rows
    ]


def _env(kind: str, tmp: Path) -> dict[str, str]:
    if kind == "sqlite":
        uri = json.dumps({"conn_type": "sqlite", "host": str(tmp / f"bench-{uuid.uuid4().hex[:6]}.db")})
    else:
        uri = CONNS[kind]
    return {f"AIRFLOW_CONN_{CONN_ID.upper()}": uri}


def available(kind: str) -> bool:
    if kind == "sqlite":
        return True
    import socket

    try:
        with socket.create_connection(("127.0.0.1", PORTS[kind]), timeout=1):
            return True
    except OSError:
        return False


def measure(kind: str, impl: str, n: int, tmp: Path, lazy: bool = False) -> dict[str, Any]:
    return run_worker(
        ["-m", "benchmarks.bench_sql", "--worker", kind, impl, str(n), "lazy" if lazy else "list"],
        env=_env(kind, tmp),
    )


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    n = 500 if quick else 100_000
    repeats = repeats or (1 if quick else 5)
    kinds = [k for k in ("sqlite", "postgres", "mysql") if available(k)]
    if quick:
        kinds = ["sqlite"]
    impls = {
        k: ["operator", "upsert_rows", "executemany"] + (["copy"] if k == "postgres" else []) for k in kinds
    }
    if quick:
        impls = {k: ["operator", "executemany"] for k in kinds}
    results: dict[str, Any] = {"rows": n, "repeats": repeats, "throughput": {}, "memory": {}, "skipped": []}
    results["skipped"] = [k for k in ("sqlite", "postgres", "mysql") if k not in kinds and not quick]
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp_name:
        tmp = Path(tmp_name)
        for kind in kinds:
            raw: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls[kind]}
            for repeat in range(repeats):
                pair = PAIR if repeat % 2 == 0 else PAIR[::-1]
                for impl in [*pair, *(i for i in impls[kind] if i not in PAIR)]:
                    raw[impl].append(measure(kind, impl, n, tmp))
            entry: dict[str, Any] = {}
            for impl, runs in raw.items():
                entry[impl] = {
                    "rows_per_s": Stat.of([r["rows_per_s"] for r in runs]).to_json(),
                    "seconds": Stat.of([r["seconds"] for r in runs]).to_json(),
                    "peak_rss_growth_mb": Stat.of([r["peak_rss_growth_mb"] for r in runs]).to_json(),
                    "counts_ok": all(r["count"] == n == r["written"] for r in runs),
                }
            entry["ratio_vs_executemany"] = ratio(
                entry["operator"]["rows_per_s"]["median"], entry["executemany"]["rows_per_s"]["median"]
            )
            pairs = [
                ratio(o["rows_per_s"], e["rows_per_s"]) for o, e in zip(*(raw[i] for i in PAIR), strict=True)
            ]
            entry["paired_ratios"] = pairs  # operator / executemany of each repeat, in order
            results["throughput"][kind] = entry
        sizes = (200, 2000) if quick else (10_000, 100_000, 1_000_000)
        for size in sizes:
            r = measure("sqlite", "operator", size, tmp, lazy=True)
            results["memory"][str(size)] = r
    results["target_met"] = targets(results)
    return results


def targets(results: dict[str, Any]) -> dict[str, bool]:
    """Whether the targets are met: throughput on every database, memory from smallest to largest.

    Throughput: the operator makes at least 0.7x the rows/s of raw ``executemany`` on every
    database by each of three measures, all required:

    * the median of the per-pair ratios: each repeat runs the two back to back (alternating which
      goes first), so the load of other processes at that moment weighs on both; the measure least
      moved by that load, and the one that says how the two paths compare;
    * the ratio of the medians, and the ratio of the best runs (both required before pairs were
      measured, kept so the bar is never lower). The best runs follow single runs of either path:
      a lucky fast run of the baseline alone (round 7: SQLite's raw path spread 77k-129k rows/s)
      makes this measure miss while the pairs meet the target; the target is then reported missed.

    The worst pair is reported (:func:`render`) but not a target: with more repeats the minimum of
    noisy pairs only falls, whatever the code does. Results written before pairs were measured
    (no ``paired_ratios``) are judged by the other two measures.
    """
    entries = list(results["throughput"].values())
    best = [ratio(e["operator"]["rows_per_s"]["max"], e["executemany"]["rows_per_s"]["max"]) for e in entries]
    paired = [statistics.median(e["paired_ratios"]) for e in entries if "paired_ratios" in e]
    sizes = sorted(results["memory"], key=int)
    mem = [results["memory"][s]["peak_rss_growth_mb"] for s in sizes]
    medians_ok = all(e["ratio_vs_executemany"] >= 0.7 for e in entries)
    return {
        "operator >= 0.7x raw executemany (median of paired runs, medians and best runs, every database)": (
            medians_ok and all(r >= 0.7 for r in best) and all(r >= 0.7 for r in paired)
        ),
        f"memory flat from {int(sizes[0]):,} to {int(sizes[-1]):,} rows (peak growth within +10 MB)": (
            mem[-1] - mem[0] <= 10
        ),
    }


def render(results: dict[str, Any]) -> str:
    lines = [
        "## 3. SQL write throughput",
        "",
        f"{results['rows']:,} usage rows, fresh process and table per run, one transaction; median (min-max) of "
        f"{results['repeats']} runs. `operator`: `UsageRecord` models through the operator's named rows, SQLAlchemy's bind processors and "
        "chunks of 5,000 rows sent as multi-row upserts (up to 999 bound values a statement); `upsert_rows`: the same without the model-to-row conversion "
        "(rows already converted); `executemany`: the raw driver connection, plain `INSERT`, rows already "
        "converted; `copy`: PostgreSQL `COPY FROM STDIN` (psycopg 3 `write_row`).",
        "",
        "| database | path | rows/s | seconds | peak RSS growth MB | vs executemany (medians) "
        "| vs executemany (best runs) | rows check |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, entry in results["throughput"].items():
        base, best = entry["executemany"]["rows_per_s"]["median"], entry["executemany"]["rows_per_s"]["max"]
        for impl in ("operator", "upsert_rows", "executemany", "copy"):
            if impl not in entry:
                continue
            e = entry[impl]
            rps = e["rows_per_s"]
            lines.append(
                f"| {kind} | {impl} | {rps['median']:,.0f} ({rps['min']:,.0f}-{rps['max']:,.0f}) | "
                f"{e['seconds']['median']:.2f} | {e['peak_rss_growth_mb']['median']:.1f} | "
                f"{ratio(rps['median'], base):.2f}x | {ratio(rps['max'], best):.2f}x | "
                f"{'ok' if e['counts_ok'] else 'MISMATCH'} |"
            )
    if results["skipped"]:
        lines.append(f"\nSkipped (not reachable): {', '.join(results['skipped'])}")
    lines += [
        "",
        "Memory as rows grow (SQLite, operator path fed lazily by a generator of records, one run each; "
        "the time includes building the records):",
        "",
        "| rows | peak RSS growth MB | seconds | rows/s |",
        "|---|---|---|---|",
    ]
    for size, r in results["memory"].items():
        lines.append(
            f"| {int(size):,} | {r['peak_rss_growth_mb']:.1f} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} |"
        )
    lines.append("")
    best = {
        kind: ratio(e["operator"]["rows_per_s"]["max"], e["executemany"]["rows_per_s"]["max"])
        for kind, e in results["throughput"].items()
    }
    lines.append(
        "Operator vs executemany on best runs: " + ", ".join(f"{k} {v:.2f}x" for k, v in best.items()) + ".\n"
    )
    paired = {k: e["paired_ratios"] for k, e in results["throughput"].items() if "paired_ratios" in e}
    if paired:
        lines.append(
            "Operator vs executemany per pair (each repeat runs the two back to back, alternating which "
            "goes first, so both meet the same load): "
            + ", ".join(f"{k} {Stat.of(v).fmt(2, 'x')}" for k, v in paired.items())
            + " (median (worst-best) of the pairs' ratios).\n"
        )
    for what, met in targets(results).items():
        lines.append(f"Target {what}: **{'met' if met else 'MISSED'}**  ")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 rows on SQLite (smoke test)")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "IMPL", "N", "LAZY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, impl, n, lazy = args.worker
        worker(kind, impl, int(n), lazy == "lazy")
        return
    results = run(args.quick, args.repeats)
    print(render(results))


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    main()
