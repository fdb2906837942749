"""The Credits page's JSON API: server time per route on a large history, SQLite and PostgreSQL.

Data (per database, in tables made by ``Database.prepare``, so with the indexes the storage layer
creates): two years of daily balance snapshots for 20 pools (14,600 rows), 100,000 usage rows
(20 pools x 730 days x up to 7 dimensions), 2,050 reservations (50 active) and 10,000 ledger rows.

Each route is called through the app in-process (``fastapi.testclient``); the server time is
measured inside the ASGI app, from the request's arrival to the last byte of the response
(routing, database, JSON), with authentication replaced by a no-op (it is Airflow's, the same
for every route). One fresh worker process per database; ``WARMUP`` calls, then ``CALLS``
calls per route; p50 and p95. Target: every route under 100 ms at p95.

Run alone: ``python -m benchmarks.bench_dashboard [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from benchmarks.common import emit, percentile, run_worker

CONNS = {"postgres": "postgres://postgres@127.0.0.1:5432/test"}
PORTS = {"postgres": 5432}
CONN_ID = "bench_dashboard"
NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
TARGET_MS = 100.0
POOLS, DAYS, USAGE_ROWS, DIMENSIONS = 20, 730, 100_000, 7
WARMUP, CALLS = 3, 40

#: route -> query string (a path under /credits/api/)
ROUTES = {
    "status": "status",
    "balances": "balances",
    "history (90 days, all pools)": "history",
    "history (2 years, one pool)": "history?vendor=vendor3&pool=pool3&since=2024-11-30",
    "usage (90 days, all pools)": "usage",
    "usage (2 years, one pool)": "usage?vendor=vendor3&pool=pool3&since=2024-11-30",
    "forecast (20 pools)": "forecast",
    "reservations": "reservations",
    "spend (month)": "spend",
}


def _pools(n: int) -> list[tuple[str, str, str]]:
    return [(f"vendor{i}", f"acct{i}", f"pool{i}") for i in range(n)]


def seed(db: Any, tables: Any, pools: int, days: int, usage_rows: int) -> dict[str, int]:
    """Write the benchmark's data set; returns the row counts."""
    start = NOW - timedelta(days=days - 1)
    snapshots, usage = [], []
    for i, (vendor, account, pool) in enumerate(_pools(pools)):
        for d in range(days):
            at = start + timedelta(days=d)
            remaining = Decimal(100_000 - (d * (50 + i)) % 90_000)
            snapshots.append(
                {
                    "connection_id": f"conn{i}",
                    "pool": pool,
                    "fetched_at": at,
                    "logical_date": at,
                    "dag_id": "collect",
                    "run_id": f"r{d}",
                    "vendor": vendor,
                    "account": account,
                    "unit": "credits",
                    "remaining": remaining,
                    "credit_limit": Decimal(100_000),
                    "used": Decimal(100_000) - remaining,
                    "period_start": None,
                    "period_end": None,
                }
            )
    per_pool_day = -(-usage_rows // (pools * days))
    for d in range(days):
        day = (start + timedelta(days=d)).replace(hour=0)
        for vendor, account, pool in _pools(pools):
            for k in range(per_pool_day):
                if len(usage) < usage_rows:
                    usage.append(
                        {
                            "vendor": vendor,
                            "account": account,
                            "pool": pool,
                            "dimension": f"dim{k}",
                            "period_start": day,
                            "period_end": day + timedelta(days=1),
                            "amount": Decimal(10 + k),
                            "unit": "credits",
                            "fetched_at": NOW,
                        }
                    )
    reservations, ledger = [], []
    for n in range(2_050):
        active = n < 50
        reservations.append(
            {
                "reservation_id": str(uuid.UUID(int=n)),
                "connection_id": f"conn{n % pools}",
                "pool": f"pool{n % pools}",
                "amount": Decimal(250),
                "dag_id": f"dag{n % 30}",
                "run_id": f"run{n}",
                "task_id": "gate",
                "map_index": Decimal(-1),
                "created_at": NOW - timedelta(days=n % 60),
                "expires_at": NOW + timedelta(hours=1)
                if active
                else NOW - timedelta(days=n % 60) + timedelta(hours=1),
                "released_at": None if active else NOW - timedelta(days=n % 60),
                "spent": Decimal(100),
                "spent_source": "reported",
                "budget_key": f"team{n % 5}",
                "balance_before": None,
            }
        )
    for n in range(10_000):
        ledger.append(
            {
                "reservation_id": str(uuid.UUID(int=n % 2_050)),
                "kind": "report",
                "dag_id": f"dag{n % 30}",
                "run_id": f"run{n % 2_050}",
                "task_id": "work",
                "map_index": Decimal(-1),
                "connection_id": f"conn{n % pools}",
                "pool": f"pool{n % pools}",
                "budget_key": f"team{n % 5}",
                "amount": Decimal(7),
                "source": "reported",
                "recorded_at": NOW - timedelta(minutes=9 * n),
                "note": None,
            }
        )
    with db.begin() as conn:
        for t, rows in (
            (tables.balances, snapshots),
            (tables.usage, usage),
            (tables.reservations, reservations),
            (tables.ledger, ledger),
        ):
            for i in range(0, len(rows), 5_000):
                conn.execute(t.insert(), rows[i : i + 5_000])
    return {"snapshots": len(snapshots), "usage": len(usage), "reservations": 2_050, "ledger": 10_000}


class _Timed:
    """ASGI wrapper recording each request's server time (arrival to the response's last byte)."""

    def __init__(self, app: Any) -> None:
        self.app, self.times_ms = app, []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.times_ms.append((time.perf_counter() - started) * 1000)

        await self.app(scope, receive, timed_send)


def worker(kind: str, quick: bool) -> None:
    """In a fresh process: seed ``kind`` and time every route; emit the result."""
    from fastapi.testclient import TestClient

    from airflow_provider_credits.plugins.app import DataSource, create_app
    from airflow_provider_credits.plugins.data import Tables
    from airflow_provider_credits.storage.database import Database

    pools, days, usage_rows = (4, 60, 2_000) if quick else (POOLS, DAYS, USAGE_ROWS)
    calls = 3 if quick else CALLS
    hook_db = DataSource(CONN_ID).database()
    schema = None
    if kind == "postgres":
        schema = f"bench_dash_{os.getpid()}"
        with hook_db.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    tables = Tables.named(schema)
    db = Database(hook_db.hook)
    try:
        db.prepare(list(tables.all().values()), create=True)
        started = time.perf_counter()
        counts = seed(db, tables, pools, days, usage_rows)
        seed_s = time.perf_counter() - started
        if kind == "postgres":
            with db.begin() as conn:
                conn.exec_driver_sql(f"ANALYZE {tables.usage.fullname}")
                conn.exec_driver_sql(f"ANALYZE {tables.balances.fullname}")
        app = _Timed(create_app(DataSource(CONN_ID, tables), clock=lambda: NOW, auth=lambda: None))
        routes: dict[str, Any] = {}
        with TestClient(app) as client:  # type: ignore[arg-type]
            for name, path in ROUTES.items():
                for _ in range(WARMUP):
                    assert client.get(f"/api/{path}").status_code == 200, path
                app.times_ms.clear()
                sizes = []
                for _ in range(calls):
                    response = client.get(f"/api/{path}")
                    sizes.append(len(response.content))
                times = list(app.times_ms)
                routes[name] = {
                    "p50_ms": percentile(times, 50),
                    "p95_ms": percentile(times, 95),
                    "max_ms": max(times),
                    "calls": len(times),
                    "bytes": sizes[-1],
                }
        emit({"counts": counts, "seed_s": seed_s, "routes": routes})
    finally:
        if kind == "postgres":
            with hook_db.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        db.dispose()
        hook_db.dispose()


def _reachable(kind: str) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", PORTS[kind]), timeout=2).close()
        return True
    except OSError:
        return False


def run(quick: bool = False) -> dict[str, Any]:
    results: dict[str, Any] = {"quick": quick, "databases": {}, "target_ms": TARGET_MS}
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
        conns = {"sqlite": json.dumps({"conn_type": "sqlite", "host": os.path.join(folder, "credits.db")})}
        conns.update({k: v for k, v in CONNS.items() if _reachable(k)})
        for kind, conn in conns.items():
            env = {**os.environ, f"AIRFLOW_CONN_{CONN_ID.upper()}": conn}
            args = ["-m", "benchmarks.bench_dashboard", "--worker", kind] + (["--quick"] if quick else [])
            results["databases"][kind] = run_worker(args, env=env, timeout=1800)
    results["target_met"] = all(
        r["p95_ms"] < TARGET_MS for db in results["databases"].values() for r in db["routes"].values()
    )
    return results


def render(results: dict[str, Any]) -> str:
    kinds = list(results["databases"])
    first = results["databases"][kinds[0]]["counts"] if kinds else {}
    lines = [
        "## 5. Credits page API",
        "",
        f"Server time per route (in-process ASGI, JSON included, authentication excluded), p50 / p95 "
        f"over {CALLS if not results['quick'] else 3} calls after {WARMUP} warm-ups; "
        f"{first.get('snapshots', 0):,} daily snapshots (20 pools x 2 years), {first.get('usage', 0):,} usage rows, "
        f"{first.get('reservations', 0):,} reservations, {first.get('ledger', 0):,} ledger rows, with the indexes "
        "`Database.prepare` creates. Target: p95 under 100 ms.",
        "",
        "| route | " + " | ".join(f"{k} p50 / p95 ms" for k in kinds) + " | response |",
        "|---|" + "---|" * len(kinds) + "---|",
    ]
    for name in ROUTES:
        cells = []
        for k in kinds:
            r = results["databases"][k]["routes"][name]
            cells.append(f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f}")
        size = results["databases"][kinds[0]]["routes"][name]["bytes"] if kinds else 0
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {size / 1024:.0f} KB |")
    lines += [
        "",
        f"Target p95 < {TARGET_MS:.0f} ms on every route: **{'met' if results['target_met'] else 'MISSED'}**",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.quick)
        return
    print(render(run(args.quick)))


if __name__ == "__main__":
    main()
