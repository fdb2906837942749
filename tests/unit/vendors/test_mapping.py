"""The registry's mapping: JMESPath expressions compiled and evaluated, values read as numbers and dates,
pools built from an answer (remaining derived, pools present or not, the primary pool required)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from airflow_provider_credits.vendors import ErrorShape, PoolSpec
from airflow_provider_credits.vendors.mapping import (
    ExpressionError,
    MappingError,
    compile_expression,
    map_pools,
    matching_error,
    search,
    to_datetime,
    to_number,
    truthy,
)

UTC = timezone.utc


def test_expressions_compile_once_and_a_bad_one_says_where() -> None:
    assert compile_expression("data.credits") is compile_expression("data.credits")
    with pytest.raises(ExpressionError, match=r"`data\.\[` is not a valid JMESPath expression"):
        compile_expression("data.[")
    with pytest.raises(ExpressionError, match="expected a JMESPath expression"):
        compile_expression("  ")


def test_search_reads_paths_and_a_runtime_type_error_is_a_mapping_error() -> None:
    assert search("a.b[1]", {"a": {"b": [1, 2]}}) == 2
    assert search("a.missing", {"a": {}}) is None
    with pytest.raises(MappingError, match="cannot be evaluated on this answer"):
        search("abs(a)", {"a": "ten"})


@pytest.mark.parametrize(
    ("value", "truth"),
    [
        (None, False),
        (False, False),
        ("", False),
        ([], False),
        ({}, False),
        (1, True),
        ("x", True),
        (0, True),  # JMESPath counts 0 as true (0 == False in Python)
        (0.0, True),
    ],
)
def test_truthy_is_jmespath_truthiness(value: object, truth: bool) -> None:
    assert truthy(value) is truth


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (12, Decimal(12)),
        (0.5, Decimal("0.5")),
        ("1e3", Decimal(1000)),
        (" -7.25 ", Decimal("-7.25")),
        (None, None),
        ("", None),
    ],
)
def test_numbers_and_numeric_strings_become_decimals(value: object, number: Decimal | None) -> None:
    assert to_number(value, "pool 'x' remaining") == number


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (True, "expected a number, got bool True"),
        ({"n": 1}, "expected a number, got dict"),
        ("12 credits", "expected a number, got the string '12 credits'"),
        (float("inf"), "expected a finite number"),
    ],
)
def test_what_is_not_a_number_is_a_mapping_error_naming_the_field(value: object, words: str) -> None:
    with pytest.raises(MappingError, match=f"^pool 'x' remaining: {words}"):
        to_number(value, "pool 'x' remaining")


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2026-04-01", datetime(2026, 4, 1, tzinfo=UTC)),
        ("2026-04-01T10:00:00Z", datetime(2026, 4, 1, 10, tzinfo=UTC)),
        ("2026-04-01 12:00:00+02:00", datetime(2026, 4, 1, 10, tzinfo=UTC)),
        ("2026-04-01T10:00:00", datetime(2026, 4, 1, 10, tzinfo=UTC)),  # naive: UTC
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (None, None),
    ],
)
def test_dates_timestamps_and_epoch_seconds_become_aware_utc(value: object, moment: datetime | None) -> None:
    assert to_datetime(value, "pool 'x' period_end") == moment


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("next month", "expected a date or timestamp"),
        ([2026], "expected a date, got list"),
        (1e20, "epoch seconds out of range"),
    ],
)
def test_what_is_not_a_date_is_a_mapping_error(value: object, words: str) -> None:
    with pytest.raises(MappingError, match=words):
        to_datetime(value, "pool 'x' period_end")


def test_the_first_matching_error_shape_wins() -> None:
    bad_key = ErrorShape("error_code == 'INVALID_API_KEY'", "auth", "the key is wrong")
    any_error = ErrorShape("error", "request", "the vendor refused")
    assert matching_error([bad_key, any_error], {"error": True, "error_code": "INVALID_API_KEY"}) is bad_key
    assert matching_error([bad_key, any_error], {"error": True}) is any_error
    assert matching_error([bad_key, any_error], {"error": False}) is None


POOLS = (
    PoolSpec("searches", limit="plan.limit", used="plan.used", period_end="plan.ends"),
    PoolSpec("extra", remaining="extra", unit="searches", present="extra"),
)


def test_pools_are_read_primary_first_with_remaining_derived_from_limit_and_used() -> None:
    searches, extra = map_pools(
        POOLS, {"plan": {"limit": "100", "used": 30, "ends": "2026-05-01"}, "extra": 5}
    )
    assert (searches.name, searches.remaining, searches.limit, searches.used) == ("searches", 70, 100, 30)
    assert searches.period_end == datetime(2026, 5, 1, tzinfo=UTC)
    assert (extra.name, extra.remaining, extra.unit) == ("extra", 5, "searches")


def test_a_pool_with_present_is_left_out_when_its_expression_is_null() -> None:
    (only,) = map_pools(POOLS, {"plan": {"limit": 10, "used": 1}})
    assert only.name == "searches"


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ({"plan": {}}, "the primary pool 'searches' has no amount at `plan.limit`, `plan.used`"),
        ({"plan": {"limit": "lots"}}, "pool 'searches' limit (`plan.limit`): expected a number"),
        ([1, 2], "the answer is a JSON list"),
    ],
)
def test_an_answer_without_the_primary_pools_numbers_is_a_mapping_error(answer: object, words: str) -> None:
    with pytest.raises(MappingError, match=words.replace("(", r"\(").replace(")", r"\)")):
        map_pools(POOLS, answer)


def test_no_pool_at_all_names_the_fields_seen() -> None:
    with pytest.raises(MappingError, match=r"none of the pools only is in it; fields seen: \['other'\]"):
        map_pools([PoolSpec("only", remaining="n", present="n")], {"other": 1})
