"""The sql module: a deprecated alias, warning on import and re-exporting names from their homes."""

from __future__ import annotations

import importlib
import sys

import pytest

from airflow_provider_credits import exceptions, models
from airflow_provider_credits.storage import names


def test_the_sql_module_warns_and_re_exports_its_names_from_their_homes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "airflow_provider_credits.sql", raising=False)
    with pytest.warns(
        DeprecationWarning, match=r"airflow_provider_credits\.sql is deprecated: import TableName"
    ):
        sql = importlib.import_module("airflow_provider_credits.sql")

    assert (sql.TableName, sql.TableSchemaError, sql.as_utc) == (
        names.TableName,
        exceptions.TableSchemaError,
        models.as_utc,
    )
    assert sorted(sql.__all__) == ["TableName", "TableSchemaError", "as_utc"]
