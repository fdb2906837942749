"""How fast a credit pool is burning and when it runs out: one pure function, :func:`forecast`.

Shared by the runway gate (``CreditThresholdSensor(min_runway=...)``), the Credits page and
the low-credit alerts, so all three say the same thing. No I/O and no Airflow here: callers
read the history from the tables the usage operator writes and pass it in.

Method (documented in docs/ledger.md, "Runway"):

* The burn rate is the **mean daily consumption over the last ``window_days`` days** (28 by
  default: four whole weeks, so a weekly pattern averages out exactly instead of depending
  on which weekday the window starts).
* Where the vendor reports usage (TheirStack, Clay), the rate comes from the **usage
  records** of the whole UTC days before today: their total divided by the days they cover.
  Today is left out (its usage so far would read low), and a day without a record is
  unknown, not zero, so gaps do not dilute the rate.
* Otherwise it comes from **balance snapshots**: the sum of every fall of ``remaining``
  between consecutive snapshots, divided by the time those falls took. An interval in which
  the balance rose (a top-up, a plan renewal) is left out entirely, numerator and time,
  because what was spent in it is hidden by what was added.
* At least one day of history is needed (usage records of one day, or snapshots spanning a
  day of intervals that fell or held); with less, or when nothing is burning, the answer is
  ``None``: "unknown" and "not running out" are not a date.

``days_left = remaining / burn_per_day``; ``runs_out_at = now + days_left``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from typing import Literal

__all__ = ["DEFAULT_WINDOW_DAYS", "Forecast", "forecast"]

DEFAULT_WINDOW_DAYS = 28
"""Days of history the burn rate averages over (four whole weeks)."""

_DAY = Decimal(86400)
_MIN_SPAN = timedelta(days=1)


@dataclass(frozen=True)
class Forecast:
    """A pool's burn rate and runway.

    :ivar burn_per_day: credits (in the pool's unit) consumed per day, > 0.
    :ivar days_left: ``remaining / burn_per_day`` (0 when nothing remains).
    :ivar runs_out_at: when the pool reaches 0 at this rate (aware UTC).
    :ivar method: ``"usage"`` (from usage records) or ``"snapshots"`` (from balance falls).
    :ivar history_days: how many days of history the rate rests on.
    """

    burn_per_day: Decimal
    days_left: Decimal
    runs_out_at: datetime
    method: Literal["usage", "snapshots"]
    history_days: Decimal

    def runway_at_least(self, days: Decimal | float | int) -> bool:
        """Whether the pool lasts at least ``days`` more days at this rate."""
        return self.days_left >= Decimal(str(days))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _usage_rate(
    usage: Iterable[tuple[date | datetime, Decimal]], today: date, window_days: int
) -> tuple[Decimal, Decimal] | None:
    """(credits per day, days covered) from the whole UTC days before ``today`` in the window."""
    first = today - timedelta(days=window_days)
    per_day: dict[date, Decimal] = {}
    for day, amount in usage:
        key = _utc(day).date() if isinstance(day, datetime) else day
        if not first <= key < today:  # today is not over: its usage so far would read low
            continue
        per_day[key] = per_day.get(key, Decimal(0)) + Decimal(amount)
    if not per_day:
        return None
    days = Decimal(len(per_day))
    return sum(per_day.values(), Decimal(0)) / days, days


def _snapshot_rate(
    snapshots: Iterable[tuple[datetime, Decimal]], since: datetime
) -> tuple[Decimal, Decimal] | None:
    """(credits per day, days covered) from falls between consecutive snapshots, top-ups left out."""
    points = sorted(
        (_utc(when), Decimal(remaining)) for when, remaining in snapshots if remaining is not None
    )
    points = [p for p in points if p[0] >= since]
    spent, seconds = Decimal(0), Decimal(0)
    for (t0, r0), (t1, r1) in pairwise(points):
        if t1 <= t0 or r1 > r0:  # same instant, or a top-up hides what was spent
            continue
        spent += r0 - r1
        seconds += Decimal((t1 - t0).total_seconds())
    if seconds < Decimal(_MIN_SPAN.total_seconds()):
        return None
    return spent * _DAY / seconds, seconds / _DAY


def forecast(
    remaining: Decimal | int | float | None,
    *,
    now: datetime,
    usage: Iterable[tuple[date | datetime, Decimal]] = (),
    snapshots: Iterable[tuple[datetime, Decimal]] = (),
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> Forecast | None:
    """Burn rate and runway of one pool, or None when unknown or not burning.

    :param remaining: credits left now (the latest balance); None means unknown -> None.
    :param now: the moment of ``remaining`` (aware, or naive UTC).
    :param usage: ``(day, amount)`` daily consumption (the usage table's ``period_start`` and
        ``amount`` for this pool), preferred when given.
    :param snapshots: ``(fetched_at, remaining)`` balance snapshots of this pool (the balances
        table), used when there is no usage.
    :param window_days: days of history to average over (>= 1).
    :raises ValueError: ``window_days`` < 1.
    """
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    if remaining is None:
        return None
    now = _utc(now)
    since = now - timedelta(days=window_days)
    rate = _usage_rate(usage, now.date(), window_days)
    method: Literal["usage", "snapshots"] = "usage"
    if rate is None:
        rate = _snapshot_rate(snapshots, since)
        method = "snapshots"
    if rate is None:
        return None
    burn, history = rate
    if burn <= 0:
        return None
    left = max(Decimal(remaining), Decimal(0)) / burn
    return Forecast(
        burn_per_day=burn,
        days_left=left,
        runs_out_at=now + timedelta(seconds=float(left * _DAY)),
        method=method,
        history_days=history,
    )
