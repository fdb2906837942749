"""docs/storage.md's Alembic recipe, run for real: ``alembic init``, the page's ``env.py`` lines,
``revision --autogenerate``, ``upgrade head``, then ``alembic check`` finds nothing left to do and
the package accepts the tables as its own (``Database.prepare`` with ``create=False``).

On SQLite (a file), PostgreSQL (a schema of its own, dropped afterwards) and MariaDB (a database
of its own, dropped afterwards). The commands that run ``env.py`` run in a subprocess, as a user
runs them: ``env.py`` reconfigures logging, which must not leak into the test session.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_provider_credits.storage import metadata
from airflow_provider_credits.storage.database import Database as StorageDatabase
from airflow_provider_credits.storage.names import TableName
from airflow_provider_credits.storage.tables import table
from tests.support import ROOT
from tests.support.databases import Database

PAGE = ROOT / "docs" / "storage.md"
ENV_PY_MARK = "# alembic/env.py"


@dataclass(frozen=True)
class Target:
    """Where the migration goes: the SQLAlchemy URL Alembic connects to, and the schema the
    package's tables end up in as seen from the test database's Airflow connection."""

    database: Database
    url: str
    schema: str | None


def env_py_lines() -> str:
    """The page's Python block that replaces ``target_metadata = None`` in ``env.py``."""
    found = [
        code
        for code in re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), re.DOTALL | re.MULTILINE)
        if code.startswith(ENV_PY_MARK)
    ]
    assert len(found) == 1, f"docs/storage.md: one Python block starting with {ENV_PY_MARK!r}"
    return found[0]


def follow_the_recipe(folder: Path, url: str) -> None:
    """``alembic init``, then edit ``alembic.ini`` and ``env.py`` as the page says."""
    from alembic import command
    from alembic.config import Config

    command.init(Config(str(folder / "alembic.ini")), str(folder / "migrations"))  # copies files only
    ini = folder / "alembic.ini"
    ini.write_text(
        re.sub(
            r"^sqlalchemy\.url = .*$",
            lambda _: f"sqlalchemy.url = {url.replace('%', '%%')}",
            ini.read_text(),
            count=1,
            flags=re.MULTILINE,
        )
    )
    env = folder / "migrations" / "env.py"
    text = env.read_text()
    assert text.count("target_metadata = None") == 1
    assert text.count("target_metadata=target_metadata") == 2  # offline and online
    env.write_text(
        text.replace("target_metadata = None", env_py_lines()).replace(
            "target_metadata=target_metadata", "target_metadata=target_metadata, render_item=render_item"
        )
    )


def alembic(folder: Path, *args: str) -> str:
    """Run the ``alembic`` command in ``folder`` with this checkout first on the path; its output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"alembic {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture
def sqlite_target(sqlite_db: Database, tmp_path: Path) -> Target:
    return Target(sqlite_db, f"sqlite:///{tmp_path / 'test.db'}", None)


@pytest.fixture
def postgres_target(postgres_db: Database) -> Iterator[Target]:
    schema = f"credits_alembic_{uuid.uuid4().hex[:10]}"
    postgres_db.run(f"CREATE SCHEMA {schema}")
    try:
        yield Target(
            postgres_db,
            f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}",
            schema,
        )
    finally:
        postgres_db.run(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def mysql_target(mysql_db: Database) -> Iterator[Target]:
    name = f"credits_alembic_{uuid.uuid4().hex[:10]}"
    mysql_db.run(f"CREATE DATABASE {name}")
    try:
        yield Target(mysql_db, f"mysql+mysqldb://root@127.0.0.1:3306/{name}", name)
    finally:
        mysql_db.run(f"DROP DATABASE {name}")


@pytest.mark.parametrize(
    "kind",
    [
        "sqlite",
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.integration]),
        pytest.param("mysql", marks=[pytest.mark.mysql, pytest.mark.integration]),
    ],
)
def test_the_alembic_recipe_creates_the_tables_the_package_uses(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target: Target = request.getfixturevalue(f"{kind}_target")
    follow_the_recipe(tmp_path, target.url)

    alembic(tmp_path, "revision", "--autogenerate", "-m", "credit tables")
    (migration,) = (tmp_path / "migrations" / "versions").glob("*.py")
    source = migration.read_text()
    assert "import airflow_provider_credits.storage.tables\n" in source
    assert "airflow_provider_credits.storage.tables.UtcDateTime()" in source
    assert sorted(re.findall(r"op\.create_table\('(\w+)'", source)) == sorted(metadata.tables)

    alembic(tmp_path, "upgrade", "head")
    assert "No new upgrade operations detected" in alembic(tmp_path, "check")

    # the package finds its tables as it defines them: nothing to create, upgrade or complain about
    tables = [table(t, TableName(t.name, target.schema)) for t in metadata.sorted_tables]
    StorageDatabase(target.database.hook()).prepare(tables, create=False)
