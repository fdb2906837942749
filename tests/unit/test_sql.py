"""The sql module: kept for imports written before 0.2, it re-exports names from their homes."""

from __future__ import annotations

from airflow_provider_credits.exceptions import (
    TableSchemaError,
)


def test_the_sql_module_still_exports_table_schema_error() -> None:
    from airflow_provider_credits import sql

    assert sql.TableSchemaError is TableSchemaError


def test_the_sql_module_re_exports_table_name_and_as_utc_from_their_homes() -> None:
    from airflow_provider_credits import models, sql
    from airflow_provider_credits.storage import names

    assert sql.TableName is names.TableName
    assert sql.as_utc is models.as_utc
    assert sorted(sql.__all__) == ["TableName", "TableSchemaError", "as_utc"]
