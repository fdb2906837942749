"""The usage-to-SQL operator's test kit: fake vendor hooks, a task context, tables to write.

``vendors`` (fixture): fake vendor accounts by connection id, patched into the operator module
(edit them to change what the next run reads, or to inject failures). ``Target``: the balances
and usage tables of one test on one database (``tests/support/databases.py``) and the operator
that writes them; ``context(start, end)``: the parts of a task context the operator reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_credits.exceptions import UsageNotSupportedError
from airflow_provider_credits.models import CreditBalance, CreditPool, UsageRecord
from airflow_provider_credits.operators.usage_to_sql import UsageToSqlOperator
from tests.support.databases import Database, as_decimal, as_utc


@dataclass
class FakeVendor:
    """What a fake vendor account answers.

    :param vendor: vendor name.
    :param pools: pool names, primary first.
    :param usage_pools: pools with daily usage; empty means the vendor has no usage API.
    :param dimensions: usage breakdown (``""`` for none).
    :param version: bump it to simulate the vendor correcting its numbers.
    :param usage_error: raised by ``get_usage`` (a vendor failing after the balance was read).
    :param extra_usage: records appended to the usage (e.g. a broken one).
    """

    vendor: str
    pools: tuple[str, ...]
    usage_pools: tuple[str, ...] = ()
    dimensions: tuple[str, ...] = ("",)
    version: int = 1
    usage_error: Exception | None = None
    extra_usage: list[UsageRecord] = field(default_factory=list)
    usage_calls: list[tuple[datetime, datetime]] = field(default_factory=list)


def daily_amount(day: datetime, version: int) -> Decimal:
    """Usage of a day: zero on every third day, fractional otherwise."""
    return Decimal(0) if day.day % 3 == 0 else Decimal(day.day * version) + Decimal("0.25")


class FakeHook:
    """Answers like a vendor hook: a balance, and zero-filled daily usage inside the window."""

    def __init__(self, conn_id: str, spec: FakeVendor) -> None:
        self.conn_id, self.spec = conn_id, spec
        self.vendor = spec.vendor
        self.account = f"acct-{conn_id}"
        self.supports_usage = bool(spec.usage_pools)
        self.settings = SimpleNamespace(base_url=f"https://api.{spec.vendor}.example")

    def get_balance(self) -> CreditBalance:
        v = self.spec.version
        pools = tuple(
            CreditPool(
                name=name, limit=Decimal(1000), used=Decimal(10 * v + i), remaining=Decimal(990 - 10 * v - i)
            )
            for i, name in enumerate(self.spec.pools)
        )
        return CreditBalance(vendor=self.vendor, account=self.account, pools=pools)

    def get_usage(self, start: datetime, end: datetime) -> list[UsageRecord]:
        if not self.supports_usage:
            raise UsageNotSupportedError("no usage API", vendor=self.vendor)
        self.spec.usage_calls.append((start, end))
        if self.spec.usage_error:
            raise self.spec.usage_error
        records = []
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < end:
            for pool in self.spec.usage_pools:
                for dimension in self.spec.dimensions:
                    records.append(
                        UsageRecord(
                            vendor=self.vendor,
                            account=self.account,
                            pool=pool,
                            dimension=dimension,
                            period_start=day,
                            period_end=day + timedelta(days=1),
                            amount=daily_amount(day, self.spec.version),
                        )
                    )
            day += timedelta(days=1)
        return records + self.spec.extra_usage

    def close(self) -> None:
        pass


VENDORS = {
    "clay_default": lambda: FakeVendor("clay", ("credits",), ("credits",), dimensions=("", "enrichment")),
    "clodura_default": lambda: FakeVendor("clodura", ("contact_views", "direct_dials")),
    "theirstack_default": lambda: FakeVendor(
        "theirstack", ("api_credits", "ui_credits"), ("api_credits", "ui_credits")
    ),
    "trendtrack_default": lambda: FakeVendor(
        "trendtrack", ("credits", "recurring", "topup", "included_quota")
    ),
}


@pytest.fixture
def vendors(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeVendor]:
    """Fake vendor accounts by connection id; edit them to change what the next run reads."""
    accounts = {conn_id: make() for conn_id, make in VENDORS.items()}
    monkeypatch.setattr(
        "airflow_provider_credits.operators.usage_to_sql.get_credits_hook",
        lambda conn_id: FakeHook(conn_id, accounts[conn_id]),
    )
    return accounts


DAY = timedelta(days=1)
JAN1 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def context(start: datetime | None, end: datetime | None, logical: datetime | None = None) -> dict[str, Any]:
    """The parts of a task context the operator reads."""
    logical = logical or end
    return {
        "data_interval_start": start,
        "data_interval_end": end,
        "logical_date": logical,
        "dag_run": SimpleNamespace(run_after=logical),
        "outlet_events": OutletEvents(),
    }


class OutletEvents(dict):
    """``context["outlet_events"]``: like Airflow's accessor, keyed by the asset's name and URI
    (an ``Asset`` is not hashable on Airflow 3.1)."""

    def __getitem__(self, asset: Any) -> Any:
        return self.setdefault((asset.name, asset.uri), SimpleNamespace())


class Target:
    """The two tables of one test on one database, and the operator writing them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.balances, self.usage = db.table("bal"), db.table("use")

    def operator(self, credits: str | list[str] = "theirstack_default", **kwargs: Any) -> UsageToSqlOperator:
        kwargs.setdefault("balances_table", self.balances)
        kwargs.setdefault("usage_table", self.usage)
        return UsageToSqlOperator(
            task_id="store", credits_conn_id=credits, sql_conn_id=self.db.conn_id, **kwargs
        )

    def run(
        self, start: datetime, end: datetime, credits: str | list[str] = "theirstack_default", **kwargs: Any
    ):
        return self.operator(credits, **kwargs).execute(context(start, end))

    def usage_rows(self) -> dict[tuple[str, str, str, datetime | None], Decimal | None]:
        rows = self.db.query(
            f"SELECT vendor, pool, dimension, period_start, period_end, amount FROM {self.usage}"
        )
        return {
            (v, p, d, as_utc(s)): as_decimal(a) for v, p, d, s, e, a in rows if as_utc(e) - as_utc(s) == DAY
        }

    def balance_rows(self) -> dict[tuple[str, str, datetime | None], tuple[Any, ...]]:
        """The latest snapshot per connection, pool and logical date."""
        rows = self.db.query(
            f"SELECT connection_id, pool, logical_date, vendor, account, unit, remaining, credit_limit, used "
            f"FROM {self.balances} ORDER BY fetched_at"
        )
        return {
            (c, p, as_utc(ld)): (v, a, u, as_decimal(r), as_decimal(lim), as_decimal(used))
            for c, p, ld, v, a, u, r, lim, used in rows
        }

    def snapshots(self) -> list[tuple[Any, ...]]:
        """Every balance snapshot, oldest first: (pool, fetched_at, logical_date, run_id, remaining)."""
        rows = self.db.query(
            f"SELECT pool, fetched_at, logical_date, run_id, remaining FROM {self.balances} ORDER BY fetched_at, pool"
        )
        return [(p, as_utc(f), as_utc(ld), r, as_decimal(rem)) for p, f, ld, r, rem in rows]

    def counts(self) -> tuple[int, int]:
        return self.db.count(self.balances), self.db.count(self.usage)
