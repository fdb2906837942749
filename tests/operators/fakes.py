"""Minimal stand-ins for vendor hooks, patched into the operator module (for failure injection)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from airflow_provider_credits.exceptions import UsageNotSupportedError
from airflow_provider_credits.models import CreditBalance, CreditPool, UsageRecord


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
