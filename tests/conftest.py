"""Test-session set-up shared by every test module.

Airflow reads its configuration at import, so the throwaway AIRFLOW_HOME is chosen here,
before any test module imports Airflow. One migrated metadata database is shared by the
whole session (see ``tests/support/airflow_env.py``). The fixtures that several suites use
are defined in ``tests/support/`` and registered here as plugins.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="credits-airflow-home-"))
(_HOME / "dags").mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(_HOME / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)

pytest_plugins = [
    "tests.support.services",
    "tests.support.airflow_env",
    "tests.support.sandbox",
    "tests.support.databases",
    "tests.support.fake_vendor",  # vendor
    "tests.support.notifiers",  # notifier
    "tests.support.reservations",  # store
    "tests.support.sessions",  # sessions, no_collection_guard
    "tests.support.usage_fakes",  # vendors
    "tests.support.gates",  # parses
    "tests.support.shared_reads",  # no_reader_left
    "tests.support.smtp",  # inbox
    "tests.support.memory_db",  # memory_db
    "tests.support.dashboard",  # fresh_catalog, seeded_memory_db
]
