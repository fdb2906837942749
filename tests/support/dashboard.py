"""A small data set with hand-computed figures, for the Credits page's tests and screenshots.

Pools (``NOW`` = 2026-11-30 12:00 UTC):

* theirstack / acc1 / api_credits (connection ``ts``, limit 5,000): a snapshot a day for ten
  days, 2,000 falling by 100 a day to 1,000 at NOW; usage records of 50 + 30 credits (two
  dimensions) on each of the four days before today: burn 80/day from usage, 1,000 / 80 =
  12.5 days left, runs out 2026-12-13 00:00 UTC. A second connection ``ts_old`` read the
  same account an hour earlier (1,005): the latest per vendor, account and pool is ``ts``'s.
* clay / ws_1 / credits (connection ``clay``, no limit): 500, 300, 900 (a top-up), 800 at
  NOW-3d ... NOW: burn from balance falls (200 + 100) / 2 days = 150/day, 800 / 150 =
  5.333... days left, runs out NOW + 128 h = 2026-12-05 20:00 UTC.
* Reservations: ``r-active`` (250, 100 spent so far: 150 outstanding, expires NOW+1d, budget
  key ``marketing``), ``r-released`` and ``r-expired``.
* Ledger, November 2026: ``credit_gated_enrichment`` reported 120 and a release measured 30
  more (spent 150, outstanding 150 in ``r-active``, two runs); ``lead_scoring`` reported 40 and
  a release with unknown spend (unknown 1). An October report of 999 is outside the month.

``token(auth_manager, role)`` signs a JWT for a user of Airflow's simple auth manager.

Fixtures (registered in ``tests/conftest.py``): ``fresh_catalog`` empties the page's catalog cache
(every in-memory database has the same URL); ``seeded_memory_db`` is the data set in an in-memory
SQLite database under the default table names.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

if TYPE_CHECKING:
    from airflow_provider_credits.storage.database import Database

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def snapshot(
    conn_id: str, vendor: str, account: str, pool: str, at: datetime, remaining: float, limit: float | None
) -> dict[str, Any]:
    return {
        "connection_id": conn_id,
        "pool": pool,
        "fetched_at": at,
        "logical_date": at,
        "dag_id": "credit_usage_collection",
        "run_id": "scheduled__" + at.isoformat(),
        "vendor": vendor,
        "account": account,
        "unit": "credits",
        "remaining": Decimal(str(remaining)),
        "credit_limit": None if limit is None else Decimal(str(limit)),
        "used": None if limit is None else Decimal(str(limit - remaining)),
        "period_start": None,
        "period_end": None,
    }


def usage_row(
    vendor: str, account: str, pool: str, dimension: str, day: datetime, amount: float
) -> dict[str, Any]:
    return {
        "vendor": vendor,
        "account": account,
        "pool": pool,
        "dimension": dimension,
        "period_start": day,
        "period_end": day + DAY,
        "amount": Decimal(str(amount)),
        "unit": "credits",
        "fetched_at": NOW,
    }


def reservation(
    rid: str, amount: float, expires: datetime, released: datetime | None = None
) -> dict[str, Any]:
    return {
        "reservation_id": rid,
        "connection_id": "ts",
        "pool": "api_credits",
        "amount": Decimal(str(amount)),
        "dag_id": "credit_gated_enrichment",
        "run_id": "manual__1",
        "task_id": "gated_batch.wait_for_credits",
        "map_index": Decimal(-1) if rid != "r-active" else Decimal(2),
        "created_at": NOW - timedelta(minutes=5),
        "expires_at": expires,
        "released_at": released,
        "spent": Decimal(100) if rid == "r-active" else None,
        "spent_source": "reported" if rid == "r-active" else None,
        "budget_key": "marketing",
        "balance_before": None,
    }


def ledger_row(
    dag_id: str, run_id: str, kind: str, amount: float | None, source: str | None, at: datetime
) -> dict[str, Any]:
    return {
        "reservation_id": f"{dag_id}-{run_id}",
        "kind": kind,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": "work",
        "map_index": Decimal(-1),
        "connection_id": "ts",
        "pool": "api_credits",
        "budget_key": "marketing",
        "amount": None if amount is None else Decimal(str(amount)),
        "source": source,
        "recorded_at": at,
        "note": None,
    }


def seed(
    conn: sa.Connection,
    balances: sa.Table,
    usage: sa.Table,
    reservations: sa.Table,
    ledger: sa.Table,
    now: datetime = NOW,
) -> None:
    """Write the data set described above (``now``: another moment than NOW, e.g. the real one)."""
    offset = timedelta(days=round((now - NOW) / DAY))  # whole days: the daily figures stay the same

    def shifted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v + offset if isinstance(v, datetime) else v for k, v in row.items()} for row in rows]

    today = NOW.replace(hour=0)
    rows = [
        snapshot("ts", "theirstack", "acc1", "api_credits", NOW - (10 - n) * DAY, 2000 - 100 * n, 5000)
        for n in range(11)
    ]
    rows.append(snapshot("ts_old", "theirstack", "acc1", "api_credits", NOW - timedelta(hours=1), 1005, 5000))
    for days_ago, remaining in ((3, 500), (2, 300), (1, 900), (0, 800)):
        rows.append(snapshot("clay", "clay", "ws_1", "credits", NOW - days_ago * DAY, remaining, None))
    conn.execute(balances.insert(), shifted(rows))
    conn.execute(
        usage.insert(),
        shifted(
            [
                usage_row("theirstack", "acc1", "api_credits", dim, today - k * DAY, amount)
                for k in range(1, 5)
                for dim, amount in (("company_search", 50), ("job_search", 30))
            ]
        ),
    )
    conn.execute(
        reservations.insert(),
        shifted(
            [
                reservation("r-active", 250, NOW + DAY),
                reservation("r-released", 100, NOW + timedelta(hours=1), released=NOW - timedelta(minutes=1)),
                reservation("r-expired", 75, NOW - timedelta(minutes=1)),
            ]
        ),
    )
    enrich, scoring = "credit_gated_enrichment", "lead_scoring"
    conn.execute(
        ledger.insert(),
        shifted(
            [
                ledger_row(enrich, "manual__1", "grant", 250, None, NOW - 2 * DAY),
                ledger_row(enrich, "manual__1", "report", 120, "reported", NOW - 2 * DAY),
                ledger_row(enrich, "manual__0", "release", 30, "measured", NOW - 5 * DAY),
                ledger_row(scoring, "scheduled__1", "report", 40, "reported", NOW - 3 * DAY),
                ledger_row(scoring, "scheduled__1", "release", None, "unknown", NOW - 3 * DAY),
                ledger_row(
                    scoring,
                    "scheduled__0",
                    "report",
                    999,
                    "reported",
                    datetime(2026, 10, 31, 23, tzinfo=timezone.utc),
                ),
            ]
        ),
    )


def token(auth_manager: Any, role: str | None = "viewer") -> str:
    """A valid JWT for a user with this role of the simple auth manager (None: no role)."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return str(auth_manager.generate_jwt(SimpleAuthManagerUser(username="alice", role=role)))


@pytest.fixture
def fresh_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Credits page forgets what the database catalog said (tables found) before the test."""
    from airflow_provider_credits.plugins import data

    monkeypatch.setattr(data, "_catalog", {})


@pytest.fixture
def seeded_memory_db(memory_db: Database, fresh_catalog: None) -> Database:
    """The data set above in an in-memory SQLite database, under the default table names."""
    from airflow_provider_credits.plugins.data import Tables

    tables = Tables()
    memory_db.prepare(list(tables.all().values()), create=True)
    with memory_db.begin() as conn:
        seed(conn, tables.balances, tables.usage, tables.reservations, tables.ledger)
    return memory_db
