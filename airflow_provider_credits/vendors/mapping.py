"""From a balance response to credit pools, by the JMESPath expressions of a registry entry.

Handled once, for every registry vendor and ``credits_http`` connection: numbers sent as
JSON numbers or numeric strings, missing or null fields (None), ``remaining = limit - used``
when the vendor gives only those two, and dates as ISO timestamps, bare dates (midnight UTC)
or ``YYYY-MM-DD HH:MM:SS+00:00``. A value that cannot be used raises :class:`MappingError`
naming the pool, the field and the expression; the hook turns it into a
:class:`~airflow_provider_credits.exceptions.CreditsResponseError`.

Imports ``jmespath``: import this module only when a balance is read, never at DAG parse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import jmespath
import jmespath.exceptions
from jmespath.parser import ParsedResult

from airflow_provider_credits.models import CreditPool, as_utc
from airflow_provider_credits.vendors import ErrorShape, PoolSpec

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class MappingError(ValueError):
    """A response value that the pool mapping cannot use (names the expression)."""


class ExpressionError(ValueError):
    """An expression that does not compile (names it and says why)."""


@functools.lru_cache(maxsize=512)
def compile_expression(expression: str) -> ParsedResult:
    """Compile a JMESPath expression (cached).

    :raises ExpressionError: it is not valid JMESPath; the message says where.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ExpressionError(f"expected a JMESPath expression, got {expression!r}")
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        detail = " ".join(str(exc).split())
        raise ExpressionError(f"`{expression}` is not a valid JMESPath expression: {detail}") from None


def search(expression: str, data: Any) -> Any:
    """Evaluate ``expression`` on ``data``; a runtime error (wrong type for a function) is a MappingError."""
    try:
        return compile_expression(expression).search(data)
    except jmespath.exceptions.JMESPathError as exc:
        raise MappingError(f"`{expression}` cannot be evaluated on this answer: {exc}") from None


def truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, empty strings, lists and objects are false; numbers, 0
    included, are true (Python's ``0 == False`` must not decide it)."""
    if value is None or value is False:
        return False
    return not (isinstance(value, (str, list, dict)) and not value)


def to_number(value: Any, where: str) -> Decimal | None:
    """A JSON number or numeric string as a Decimal; null, missing or ``""`` as None.

    :param where: the pool field and expression, for the message.
    :raises MappingError: a boolean, an object, a list or a non-numeric string.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MappingError(f"{where}: expected a number, got {type(value).__name__} {_short(value)}")
    text = value.strip() if isinstance(value, str) else repr(value)
    if isinstance(value, str) and not _NUMBER.fullmatch(text):
        raise MappingError(f"{where}: expected a number, got the string {_short(value)}")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise MappingError(f"{where}: expected a number, got {_short(value)}") from None
    if not number.is_finite():
        raise MappingError(f"{where}: expected a finite number, got {_short(value)}")
    return number


def to_datetime(value: Any, where: str) -> datetime | None:
    """An ISO timestamp, a bare date (midnight UTC), ``YYYY-MM-DD HH:MM:SS+00:00`` or epoch seconds.

    Naive timestamps are taken as UTC. Null or missing gives None.

    :raises MappingError: any other value.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise MappingError(f"{where}: epoch seconds out of range: {_short(value)}") from None
    if not isinstance(value, str):
        raise MappingError(f"{where}: expected a date, got {type(value).__name__} {_short(value)}")
    text = value.strip()
    try:
        if _DATE.fullmatch(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        if text[-1:] in "zZ":
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(f"{where}: expected a date or timestamp, got {_short(value)}") from None
    return as_utc(moment)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def matching_error(errors: Iterable[ErrorShape], data: Any) -> ErrorShape | None:
    """The first error shape whose predicate holds for ``data``, if any."""
    return next((shape for shape in errors if truthy(search(shape.when, data))), None)


def _pool(spec: PoolSpec, data: Any) -> CreditPool:
    def where(field: str) -> str:
        return f"pool {spec.name!r} {field} (`{getattr(spec, field)}`)"

    numbers = {
        f: to_number(search(expr, data), where(f)) if (expr := getattr(spec, f)) else None
        for f in ("remaining", "limit", "used")
    }
    dates = {
        f: to_datetime(search(expr, data), where(f)) if (expr := getattr(spec, f)) else None
        for f in ("period_start", "period_end")
    }
    if numbers["remaining"] is None and numbers["limit"] is not None and numbers["used"] is not None:
        numbers["remaining"] = numbers["limit"] - numbers["used"]
    return CreditPool(name=spec.name, unit=spec.unit, **numbers, **dates)


def map_pools(pools: Iterable[PoolSpec], data: Any) -> tuple[CreditPool, ...]:
    """The pools a response holds, primary first.

    A pool with ``present`` is left out when that expression is null. The primary pool (the
    first listed) must report at least one amount: an answer where none of its expressions
    finds a number is not this vendor's balance (schema drift, an error page in JSON).

    :raises MappingError: no pool, an unusable value, or nothing found for the primary pool.
    """
    found = [
        _pool(spec, data) for spec in pools if spec.present is None or search(spec.present, data) is not None
    ]
    specs = {spec.name: spec for spec in pools}
    if not found:
        raise MappingError(
            f"the answer does not match the expected schema: none of the pools {', '.join(specs)} is in it"
            f"{_seen(data)}"
        )
    primary = found[0]
    if primary.remaining is None and primary.limit is None and primary.used is None:
        paths = ", ".join(f"`{e}`" for f, e in specs[primary.name].expressions().items() if f != "present")
        raise MappingError(
            f"the answer does not match the expected schema: the primary pool {primary.name!r} has no "
            f"amount at {paths}{_seen(data)}"
        )
    return tuple(found)


def _seen(data: Any) -> str:
    if isinstance(data, dict):
        return f"; fields seen: {sorted(map(str, data))[:20]}"
    return f"; the answer is a JSON {type(data).__name__}"
