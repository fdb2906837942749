"""Run UsageToSqlOperator against fake vendor data, in this process or as a killable subprocess.

``python -m tests.reliability.writer SPEC_JSON`` runs one operator (see :class:`WriteSpec`);
with ``pause_after_chunk`` it prints ``CHUNK <n>`` after sending that many ``executemany``
chunks and then waits, so a test can SIGKILL it mid-transaction; with ``go_file`` it waits
for that file before writing, so several processes write at the same moment.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow_provider_credits.models import UsageRecord
from tests.support.usage_fakes import FakeHook, FakeVendor

JAN1 = datetime(2026, 1, 1, tzinfo=timezone.utc)
POOLS = ("api_credits", "ui_credits")
DIMENSIONS = ("", "key-a", "key-b")
CONN_ID = "theirstack_fake"


@dataclass
class WriteSpec:
    """One operator run.

    :param sql_conn_id: the database connection (its ``AIRFLOW_CONN_*`` variable must be set).
    :param balances: balances table.
    :param usage: usage table.
    :param version: the fake vendor's numbers (bump it for a corrected, different history).
    :param start_day: first day of the window, as days after 2026-01-01.
    :param days: length of the window in days.
    :param logical_day: the run's logical date, as days after 2026-01-01.
    :param chunk_size: rows per executemany.
    :param negative_row: append a usage row with a negative amount (breaks a CHECK constraint).
    :param pause_after_chunk: print ``CHUNK n`` and sleep after the n-th executemany.
    :param go_file: wait for this file to exist before running.
    """

    sql_conn_id: str
    balances: str
    usage: str
    version: int = 1
    start_day: int = 0
    days: int = 30
    logical_day: int = 30
    chunk_size: int = 20
    negative_row: bool = False
    pause_after_chunk: int = 0
    go_file: str = ""

    def rows_per_day(self) -> int:
        return len(POOLS) * len(DIMENSIONS)


def _fake_vendor(spec: WriteSpec) -> FakeVendor:
    vendor = FakeVendor("theirstack", POOLS, POOLS, dimensions=DIMENSIONS, version=spec.version)
    if spec.negative_row:
        day = JAN1 + timedelta(days=spec.start_day)
        vendor.extra_usage.append(
            UsageRecord(
                vendor="theirstack", account=f"acct-{CONN_ID}", pool="api_credits", dimension="refund",
                period_start=day, period_end=day + timedelta(days=1), amount=Decimal(-5),
            )
        )  # fmt: skip
    return vendor


def pausing_send(send: Callable[..., int], after: int) -> Callable[..., int]:
    """Wrap the storage layer's ``send``: after ``after`` statements, report ``CHUNK n`` and hang (to be killed).

    The bulk upsert sends each chunk of up to ``chunk_size`` rows (smaller than one statement
    here) as one statement; bigger chunks would go as one ``executemany``.
    """
    sent = 0

    def wrapped(conn: Any, sql: str, params: Any) -> int:
        nonlocal sent
        result = send(conn, sql, params)
        sent += 1
        if sent == after:
            print(f"CHUNK {sent}", flush=True)
            time.sleep(120)
        return result

    return wrapped


def run(spec: WriteSpec, patch: Callable[[str, Any], None] | None = None) -> dict[str, Any]:
    """Run the operator once as ``spec`` says; ``patch(name, value)`` replaces module attributes."""
    from airflow_provider_credits.operators import usage_to_sql
    from airflow_provider_credits.operators.usage_to_sql import UsageToSqlOperator

    set_attr = patch or (lambda name, value: setattr(usage_to_sql, name, value))
    vendor = _fake_vendor(spec)
    set_attr("get_credits_hook", lambda conn_id: FakeHook(conn_id, vendor))
    start = JAN1 + timedelta(days=spec.start_day)
    logical = JAN1 + timedelta(days=spec.logical_day)
    op = UsageToSqlOperator(
        task_id="store",
        credits_conn_id=CONN_ID,
        sql_conn_id=spec.sql_conn_id,
        start=start,
        end=start + timedelta(days=spec.days),
        balances_table=spec.balances,
        usage_table=spec.usage,
        chunk_size=spec.chunk_size,
    )
    context = {
        "data_interval_start": None,
        "data_interval_end": None,
        "logical_date": logical,
        "dag_run": SimpleNamespace(run_after=logical),
        "outlet_events": defaultdict(SimpleNamespace),
    }
    return op.execute(context)  # type: ignore[arg-type]


def main(argv: list[str]) -> int:
    spec = WriteSpec(**json.loads(argv[0]))
    from airflow_provider_credits.operators import usage_to_sql  # noqa: F401  (the slow imports, before the barrier)
    from airflow_provider_credits.storage import database

    if spec.go_file:
        print("READY", flush=True)
        while not Path(spec.go_file).exists():
            time.sleep(0.01)
    if spec.pause_after_chunk:
        database.send = pausing_send(database.send, spec.pause_after_chunk)
    print(json.dumps(run(spec)), flush=True)
    return 0


def command(spec: WriteSpec) -> list[str]:
    """The command line that runs ``spec`` in a subprocess."""
    return [sys.executable, "-m", "tests.reliability.writer", json.dumps(asdict(spec))]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
