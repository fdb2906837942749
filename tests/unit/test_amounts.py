"""Credit amounts without pydantic: the 10^14 bound (shared with the models), reading an amount, showing one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_credits import gate, models
from airflow_provider_credits.amounts import MAX_CREDITS, fmt, parse_amount
from airflow_provider_credits.exceptions import CreditsConfigError


def test_the_bound_is_the_models_and_the_gates() -> None:
    assert Decimal(10) ** 14 == MAX_CREDITS
    assert models.MAX_CREDITS is MAX_CREDITS
    assert (gate.parse_amount, gate.fmt) == (parse_amount, fmt)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (0, Decimal(0)), ("  12.50 ", Decimal("12.50")), (MAX_CREDITS - 1, MAX_CREDITS - 1)],
)
def test_parse_amount_reads_numbers_and_numeric_strings(value: object, expected: Decimal | None) -> None:
    assert parse_amount("x", value) == expected


@pytest.mark.parametrize(
    ("value", "maximum", "match"),
    [
        (MAX_CREDITS, None, "x must be below 10\\^14"),
        ("1e999999999", None, "below 10\\^14"),
        (101, Decimal(100), "x must be at most 100"),
        (-1, None, "must not be negative"),
        ("nan", None, "finite"),
        (False, None, "got bool"),
    ],
)
def test_parse_amount_refuses_what_no_account_holds(
    value: object, maximum: Decimal | None, match: str
) -> None:
    with pytest.raises(CreditsConfigError, match=match):
        parse_amount("x", value, maximum=maximum)


def test_fmt_drops_exponent_and_trailing_zeros() -> None:
    assert [fmt(Decimal(v)) for v in ("1000.00", "1E+3", "0.50")] == ["1000", "1000", "0.5"]
