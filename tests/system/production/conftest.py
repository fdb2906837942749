"""The production-shaped stack, started once for every test in this folder.

Needs PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379) and the Celery provider: the tests
skip with a reason when one is missing, and fail when ``CI=true``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_credits.sandbox.server import SandboxServer
from tests.support import ROOT
from tests.support.services import IN_CI, require_service
from tests.system.production.stack import (
    PG_HOST,
    PG_PORT,
    REDIS_HOST,
    REDIS_PORT,
    TEST_DAGS,
    Stack,
)

#: the example DAGs under test, copied unchanged into the stack's DAGs folder
EXAMPLE_DAGS = ("credit_gated_enrichment.py", "credit_usage_collection.py")
#: example DAGs copied with one change: (file, text replaced, replacement) (a watcher polling
#: every second instead of every minute, so the test takes seconds)
PATCHED_EXAMPLE_DAGS = (("credit_topup_enrichment.py", "poke_interval=60,", "poke_interval=1,"),)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "production: a real scheduler, DAG processor, triggerer, API server and Celery worker "
        "(needs PostgreSQL and Redis)",
    )


def _require_package(distribution: str) -> None:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        message = f"{distribution} is not installed (pip install {distribution})"
        if IN_CI:
            pytest.fail(f"{message}, and CI=true requires it", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def production_sandbox() -> Iterator[SandboxServer]:
    """The vendor sandbox, in a thread of the test process, reachable by every component."""
    with SandboxServer(host="127.0.0.1", port=0) as server:
        yield server


def patched_examples(folder: Path) -> list[Path]:
    """The :data:`PATCHED_EXAMPLE_DAGS`, written into ``folder``."""
    out = []
    for name, old, new in PATCHED_EXAMPLE_DAGS:
        text = (ROOT / "example_dags" / name).read_text()
        assert text.count(old) == 1, f"{name} no longer holds {old!r}: update PATCHED_EXAMPLE_DAGS"
        (folder / name).write_text(text.replace(old, new))
        out.append(folder / name)
    return out


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    production_sandbox: SandboxServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Stack:
    """API server, scheduler, DAG processor, triggerer and a Celery worker on PostgreSQL and Redis."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    for distribution in ("apache-airflow-providers-celery", "apache-airflow-providers-postgres", "redis"):
        _require_package(distribution)
    dag_files = [ROOT / "example_dags" / name for name in EXAMPLE_DAGS]
    dag_files += patched_examples(tmp_path_factory.mktemp("patched_dags"))
    dag_files += sorted(TEST_DAGS.glob("*.py"))
    started = Stack(production_sandbox, dag_files)
    request.addfinalizer(started.stop)  # registered first: runs even when start() fails half-way
    return started.start()
