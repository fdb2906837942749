"""Credit amounts without pydantic: the bound on every amount, and reading one a user wrote.

DAG files build the sensor (and check its literal thresholds) at every parse, so what that needs
lives here, away from the pydantic models of :mod:`airflow_provider_credits.models`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_credits.exceptions import CreditsConfigError

__all__ = ["MAX_CREDITS", "fmt", "parse_amount"]

#: Larger amounts are refused: no account holds them, NUMERIC(18,4) columns cannot store them,
#: and a value like ``1e999999999`` would turn into a billion-digit int in JSON (XCom).
MAX_CREDITS = Decimal(10) ** 14


def fmt(amount: Decimal | int) -> str:
    """Show an amount without exponent or trailing zeros (``"1000.00"`` -> ``"1000"``)."""
    return format(Decimal(amount).normalize(), "f")


def parse_amount(name: str, value: Any, *, maximum: Decimal | None = None) -> Decimal | None:
    """Turn a threshold (number or numeric string, e.g. rendered from XCom) into a Decimal.

    :param name: argument name, for the error message.
    :param value: int, float, Decimal, numeric string, or None (not set).
    :param maximum: largest accepted value (100 for percentages); amounts are always below
        :data:`MAX_CREDITS` (10^14), like every credit amount.
    :raises CreditsConfigError: bool, not a number, NaN/infinite, negative or above ``maximum``.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise CreditsConfigError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise CreditsConfigError(f"{name} must be a number, got {value!r}") from None
    if not amount.is_finite():
        raise CreditsConfigError(f"{name} must be a finite number, got {value!r}")
    if amount < 0:
        raise CreditsConfigError(f"{name} must not be negative, got {value!r}")
    if maximum is not None and amount > maximum:
        raise CreditsConfigError(f"{name} must be at most {maximum}, got {value!r}")
    if amount >= MAX_CREDITS:
        raise CreditsConfigError(f"{name} must be below 10^14 (no account holds more), got {value!r}")
    return amount
