"""The forecast on synthetic series with known answers (docs/ledger.md reports these errors)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from airflow_provider_credits.forecast import Forecast, forecast

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def snapshots_of(remaining_at_day: list[float], *, start: datetime) -> list[tuple[datetime, Decimal]]:
    return [(start + timedelta(days=n), Decimal(str(r))) for n, r in enumerate(remaining_at_day)]


def relative_error(got: Decimal, want: float) -> float:
    return abs(float(got) - want) / want


def test_steady_burn_from_snapshots_is_exact() -> None:
    series = snapshots_of([10_000 - 100 * n for n in range(29)], start=NOW - timedelta(days=28))
    result = forecast(Decimal(7_200), now=NOW, snapshots=series)
    assert isinstance(result, Forecast) and result.method == "snapshots"
    assert result.burn_per_day == 100
    assert result.days_left == 72
    assert result.runs_out_at == NOW + timedelta(days=72)


def test_steady_burn_from_usage_is_exact_and_preferred_over_snapshots() -> None:
    usage = [(date(2026, 11, 29) - timedelta(days=n), Decimal(250)) for n in range(20)]
    misleading = snapshots_of([5_000, 1_000], start=NOW - timedelta(days=2))
    result = forecast(1_000, now=NOW, usage=usage, snapshots=misleading)
    assert result is not None and result.method == "usage"
    assert (result.burn_per_day, result.days_left, result.history_days) == (250, 4, 20)


def test_weekly_pattern_averages_to_the_weekly_mean_over_whole_weeks() -> None:
    # weekdays 300, weekends 50: the true mean is (5 * 300 + 2 * 50) / 7 per day
    usage = []
    for n in range(1, 60):
        day = (NOW - timedelta(days=n)).date()
        usage.append((day, Decimal(50 if day.weekday() >= 5 else 300)))
    result = forecast(10_000, now=NOW, usage=usage)
    assert result is not None
    assert relative_error(result.burn_per_day, (5 * 300 + 2 * 50) / 7) < 1e-9


def test_a_top_up_is_left_out_instead_of_counting_as_negative_spend() -> None:
    levels = [5_000 - 200 * n for n in range(10)]  # falls 200 a day
    levels += [levels[-1] + 3_000 - 200]  # a top-up of 3,000 on day 10 (spend hidden in it)
    levels += [levels[-1] - 200 * n for n in range(1, 10)]
    series = snapshots_of(levels, start=NOW - timedelta(days=len(levels) - 1))
    result = forecast(Decimal(levels[-1]), now=NOW, snapshots=series)
    assert result is not None
    assert result.burn_per_day == 200  # exact: the top-up interval is out of numerator and time
    assert result.history_days == len(levels) - 2


def test_gaps_in_snapshots_spread_the_fall_over_the_gap() -> None:
    days = [0, 1, 2, 7, 8, 14]  # readings missing on most days
    series = [(NOW - timedelta(days=14 - d), Decimal(9_000 - 150 * d)) for d in days]
    result = forecast(Decimal(9_000 - 150 * 14), now=NOW, snapshots=series)
    assert result is not None and result.burn_per_day == 150


def test_gaps_in_usage_are_unknown_days_not_zero_days() -> None:
    usage = [(date(2026, 11, d), Decimal(120)) for d in (2, 3, 10, 20, 29)]
    result = forecast(1_200, now=NOW, usage=usage)
    assert result is not None and result.burn_per_day == 120 and result.days_left == 10


@pytest.mark.parametrize(
    "history",
    [
        {},  # a brand-new account: nothing stored yet
        {"snapshots": [(NOW, Decimal(500))]},  # one reading
        {"snapshots": [(NOW - timedelta(hours=6), Decimal(600)), (NOW, Decimal(500))]},  # under a day
        {"usage": [((NOW - timedelta(days=40)).date(), Decimal(10))]},  # outside the window
    ],
    ids=["new account", "one snapshot", "under a day", "old usage only"],
)
def test_not_enough_history_is_none(history: dict) -> None:
    assert forecast(500, now=NOW, **history) is None


def test_nothing_burning_is_none() -> None:
    flat = snapshots_of([800] * 10, start=NOW - timedelta(days=9))
    assert forecast(800, now=NOW, snapshots=flat) is None
    assert forecast(800, now=NOW, usage=[(NOW.date() - timedelta(days=1), Decimal(0))]) is None


def test_only_top_ups_is_none() -> None:
    rising = snapshots_of([100, 200, 300], start=NOW - timedelta(days=2))
    assert forecast(300, now=NOW, snapshots=rising) is None


def test_unknown_remaining_is_none_and_nothing_left_is_zero_days() -> None:
    usage = [(NOW.date() - timedelta(days=1), Decimal(10))]
    assert forecast(None, now=NOW, usage=usage) is None
    result = forecast(-5, now=NOW, usage=usage)
    assert result is not None and result.days_left == 0 and result.runs_out_at == NOW


def test_window_limits_the_history_to_recent_days() -> None:
    usage = [(NOW.date() - timedelta(days=n), Decimal(1_000 if n > 7 else 100)) for n in range(1, 40)]
    assert forecast(700, now=NOW, usage=usage, window_days=7).burn_per_day == 100  # type: ignore[union-attr]


def test_naive_times_are_utc_and_window_must_be_positive() -> None:
    series = [(datetime(2026, 11, 28, 12), Decimal(300)), (datetime(2026, 11, 30, 12), Decimal(100))]
    result = forecast(100, now=datetime(2026, 11, 30, 12), snapshots=series)
    assert result is not None and result.burn_per_day == 100 and result.runs_out_at.tzinfo is not None
    with pytest.raises(ValueError, match="window_days"):
        forecast(1, now=NOW, window_days=0)


def test_runway_at_least() -> None:
    result = forecast(700, now=NOW, usage=[(NOW.date() - timedelta(days=1), Decimal(100))])
    assert result is not None
    assert result.runway_at_least(7) and not result.runway_at_least(Decimal("7.5"))


def test_noisy_steady_burn_error_is_small() -> None:
    """A burn of 100/day with deterministic +-30% day-to-day noise: the 28-day mean is within 2%."""
    usage = [
        (NOW.date() - timedelta(days=n), Decimal(100 + (30 if n % 3 == 0 else -15))) for n in range(1, 29)
    ]
    result = forecast(1_000, now=NOW, usage=usage)
    assert result is not None
    assert relative_error(result.burn_per_day, 100) < 0.02
