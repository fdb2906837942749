"""The storage package: cheap to import (SQLAlchemy on first use of ``metadata``), TableName re-exported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_provider_credits import storage
from airflow_provider_credits.storage import names, tables


def test_importing_the_package_imports_no_sqlalchemy() -> None:
    code = "import sys, airflow_provider_credits.storage; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_metadata_is_the_tables_metadata_and_table_name_the_names_one() -> None:
    assert storage.metadata is tables.metadata
    assert storage.TableName is names.TableName
    assert sorted(storage.__all__) == ["TableName", "metadata"]


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'engine'"):
        storage.engine  # noqa: B018
