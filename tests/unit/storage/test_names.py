"""Validated table names: plain identifiers, optionally schema-qualified, nothing else."""

from __future__ import annotations

import pytest

from airflow_provider_credits.exceptions import TableSchemaError
from airflow_provider_credits.storage.names import TableName, is_identifier


@pytest.mark.parametrize("name", ["credit_usage", "_x", "T1", "a" * 63])
def test_identifiers(name: str) -> None:
    assert is_identifier(name)


@pytest.mark.parametrize("name", ["", "1usage", "credit-usage", "a b", "ü", "a" * 64, None, 5])
def test_not_identifiers(name: object) -> None:
    assert not is_identifier(name)


def test_a_name_with_or_without_a_schema_parses_and_prints_back() -> None:
    assert TableName.parse("credit_usage") == TableName("credit_usage", None)
    assert TableName.parse("analytics.credit_usage") == TableName("credit_usage", "analytics")
    assert str(TableName.parse("analytics.credit_usage")) == "analytics.credit_usage"
    assert str(TableName("credit_usage")) == "credit_usage"


@pytest.mark.parametrize("name", ["a.b.c", "credit_usage;", ".usage", "schema.", '"usage"', 42])
def test_anything_else_is_a_table_schema_error_saying_what_is_allowed(name: object) -> None:
    with pytest.raises(TableSchemaError, match=r"invalid table name .*use 'table' or 'schema\.table'"):
        TableName.parse(name)  # type: ignore[arg-type]
