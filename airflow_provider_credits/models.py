"""Normalized, vendor-independent credit models.

Every hook turns its vendor's response into these models, so sensors, operators and
users deal with one shape whatever the vendor. Numbers are :class:`~decimal.Decimal`
(exact, and vendors send ``"25000.00"`` as strings); in JSON (XCom) they become plain
ints or floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Annotated, Any, overload

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from airflow_provider_credits.amounts import MAX_CREDITS
from airflow_provider_credits.exceptions import UnknownCreditPoolError


def _number_to_json(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


Credits = Annotated[
    Decimal,
    Field(allow_inf_nan=False, gt=-MAX_CREDITS, lt=MAX_CREDITS),
    PlainSerializer(_number_to_json, when_used="json"),
]
"""An exact credit amount below 10^14 in size; accepts ints, floats and numeric strings."""


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """A plain (not pendulum) aware datetime in UTC; naive values are taken as UTC; None stays None.

    The one UTC normalization of the package (models, storage, operators, the Credits page).
    """
    if value is None:
        return None
    if type(value) is datetime and value.tzinfo is timezone.utc:
        return value  # already one (datetimes are immutable)
    v = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _datetimes_in_utc(cls, value: Any) -> Any:
        return as_utc(value) if isinstance(value, datetime) else value


class CreditPool(_Model):
    """One pool of credits of a vendor account (e.g. Clodura's ``direct_dials``).

    Any of ``remaining``, ``limit`` and ``used`` is ``None`` when the vendor does not say.
    """

    name: str
    unit: str = "credits"
    remaining: Credits | None = None
    limit: Credits | None = None
    used: Credits | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None

    @property
    def remaining_pct(self) -> Decimal | None:
        """Remaining credits as a percentage of the limit, or None without a positive limit."""
        if self.remaining is None or not self.limit:
            return None
        return self.remaining * 100 / self.limit


class CreditBalance(_Model):
    """A snapshot of every credit pool of one vendor account.

    ``pools`` lists the primary pool first: the one a sensor gates on when no pool is named.
    """

    vendor: str
    account: str
    pools: tuple[CreditPool, ...] = Field(min_length=1)
    fetched_at: datetime = Field(default_factory=utcnow)

    @field_validator("pools")
    @classmethod
    def _unique_pool_names(cls, pools: tuple[CreditPool, ...]) -> tuple[CreditPool, ...]:
        names = [p.name for p in pools]
        if len(set(names)) != len(names):
            raise ValueError(f"pool names must be unique, got {names}")
        return pools

    @property
    def primary(self) -> CreditPool:
        """The pool used for gating when none is named."""
        return self.pools[0]

    @property
    def pool_names(self) -> list[str]:
        return [p.name for p in self.pools]

    def pool(self, name: str | None = None) -> CreditPool:
        """Return the pool called ``name`` (the primary pool when ``name`` is None).

        :param name: pool name, e.g. ``"api_credits"``.
        :raises UnknownCreditPoolError: the account has no such pool; the message lists those it has.
        """
        if name is None:
            return self.primary
        for p in self.pools:
            if p.name == name:
                return p
        raise UnknownCreditPoolError(vendor=self.vendor, pool=name, available=self.pool_names)


class UsageRecord(_Model):
    """Credits consumed in one period, for one pool and optional dimension.

    ``dimension`` is ``""`` when the vendor reports no breakdown (user, integration,
    API key); an empty string rather than None keeps it usable in a unique key.
    """

    vendor: str
    account: str
    pool: str
    dimension: str = ""
    period_start: datetime
    period_end: datetime
    amount: Credits
    unit: str = "credits"


class ThresholdDecision(BaseModel):
    """Whether one pool has enough credits, with the numbers that led there (JSON-ready): what the
    gate (:mod:`airflow_provider_credits.gate`, which also names this class) decides on a balance.
    """

    model_config = ConfigDict(frozen=True)

    met: bool
    """True when ``remaining - reserved >= needed``."""
    pool: str
    """The pool's name."""
    unit: str
    """The pool's unit (credits, requests, ...)."""
    remaining: Credits
    """Credits the vendor reports as remaining."""
    limit: Credits | None
    """The pool's limit, when the vendor says."""
    reserved: Credits
    """Credits already reserved by others, not available to this task."""
    needed: Credits
    """The credits that must be available."""
    message: str
    """The decision in one human line."""


def daily_usage(
    entries: Iterable[tuple[datetime, str, str, Decimal]],
    *,
    vendor: str,
    account: str,
    start: datetime,
    end: datetime,
    zone: tzinfo = timezone.utc,
    zero_pools: Sequence[str] = (),
) -> list[UsageRecord]:
    """Sum usage entries into calendar days of ``zone``, one :class:`UsageRecord` per day, pool and dimension.

    Every day of ``zone`` that overlaps ``[start, end)`` gets a zero row for each pool of
    ``zero_pools`` (dimension ``""``) even when no entry falls in it, so "nothing was spent
    that day" is stored as 0 rather than missing. A day runs from local midnight to the next
    local midnight (23 or 25 hours across a DST change); periods are returned in UTC.

    :param entries: ``(moment, pool, dimension, amount)``; a naive ``moment`` is in ``zone``.
    :param start: window start (aware).
    :param end: window end (aware, exclusive).
    :param zone: the time zone whose calendar days the vendor counts in.
    :param zero_pools: pools that get a zero row on days without entries.
    :returns: records sorted by day, then pool and dimension.
    """

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)

    totals: dict[tuple[date, str, str], Decimal] = {}
    first, last = start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()
    for n in range((last - first).days + 1):
        for pool in zero_pools:
            totals[(first + timedelta(days=n), pool, "")] = Decimal(0)
    for moment, pool, dimension, amount in entries:
        local = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)
        key = (local.date(), pool, dimension)
        totals[key] = totals.get(key, Decimal(0)) + amount
    return [
        UsageRecord(
            vendor=vendor,
            account=account,
            pool=pool,
            dimension=dimension,
            period_start=midnight(day),
            period_end=midnight(day + timedelta(days=1)),
            amount=amount,
        )
        for (day, pool, dimension), amount in sorted(totals.items())
    ]
