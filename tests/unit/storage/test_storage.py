"""The storage package: cheap to import (SQLAlchemy on first use of ``metadata``), TableName
re-exported, ``render_item`` for Alembic."""

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
    assert sorted(storage.__all__) == ["TableName", "metadata", "render_item"]


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'engine'"):
        storage.engine  # noqa: B018


class _AutogenContext:
    """What ``render_item`` uses of Alembic's ``AutogenContext``."""

    def __init__(self) -> None:
        self.imports: set[str] = set()


def test_render_item_writes_the_timestamp_type_and_its_import() -> None:
    context = _AutogenContext()
    rendered = storage.render_item("type", tables.BALANCES.c.fetched_at.type, context)
    assert rendered == "airflow_provider_credits.storage.tables.UtcDateTime()"
    assert context.imports == {"import airflow_provider_credits.storage.tables"}
    namespace: dict[str, object] = {}
    exec(f"{next(iter(context.imports))}\ntype_ = {rendered}", namespace)  # what the migration runs
    assert isinstance(namespace["type_"], tables.UtcDateTime)


@pytest.mark.parametrize(
    ("type_", "obj"),
    [
        ("type", tables.BALANCES.c.pool.type),  # a SQLAlchemy type: Alembic's own rendering
        ("column", tables.BALANCES.c.fetched_at),  # not a type
        ("server_default", "now()"),
    ],
)
def test_render_item_leaves_everything_else_to_alembic(type_: str, obj: object) -> None:
    context = _AutogenContext()
    assert storage.render_item(type_, obj, context) is False
    assert context.imports == set()
