"""The ledger without a database: budget arguments and calendar periods."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.ledger import Budget, period_bounds

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("day", datetime(2026, 3, 10), datetime(2026, 3, 11)),
        ("week", datetime(2026, 3, 9), datetime(2026, 3, 16)),
        ("month", datetime(2026, 3, 1), datetime(2026, 4, 1)),
    ],
)
def test_periods_are_utc_calendar_periods(period: str, start: datetime, end: datetime) -> None:
    assert period_bounds(period, T0) == (start.replace(tzinfo=timezone.utc), end.replace(tzinfo=timezone.utc))
    assert period_bounds("month", datetime(2026, 12, 31, 23, tzinfo=timezone.utc))[1].year == 2027


@pytest.mark.parametrize(
    "arguments",
    [
        {"budget": -1},
        {"budget": "lots"},
        {"budget": 10, "budget_period": "quarter"},
        {"budget": 10, "budget_refusal": "panic"},
    ],
)
def test_bad_budget_arguments_are_config_errors(arguments: dict[str, object]) -> None:
    with pytest.raises(CreditsConfigError):
        Budget.build(**arguments)  # type: ignore[arg-type]
