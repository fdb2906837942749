"""One migrated Airflow metadata database per test session, and a ``dag.test()`` runner.

``tests/conftest.py`` points AIRFLOW_HOME at a throwaway folder before Airflow is
imported. The ``airflow_db`` fixture migrates it once (about 3 s); ``run_dag`` copies a
DAG file into the DAGs folder and runs it with ``dag.test()``, which also runs deferred
triggers in-process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

AIRFLOW_HOME = Path(os.environ["AIRFLOW_HOME"])
DAGS_FOLDER = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the session's SQLite metadata database once; return AIRFLOW_HOME."""
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=300, env=os.environ.copy()
    )
    assert result.returncode == 0, (
        f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return AIRFLOW_HOME


@dataclass
class DagRunResult:
    """What a ``dag.test()`` run left behind."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """Return the XCom a task pushed in this run (deserialized)."""
        from airflow.models.xcom import XComModel
        from airflow.sdk.execution_time.xcom import XCom
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(
                    dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, key=key, map_index=map_index
                )
                .one_or_none()
            )
            return None if row is None else XCom.deserialize_value(row)


def dag_bag(dag_folder: str) -> Any:
    """Airflow's ``DagBag`` of ``dag_folder`` (``airflow.models.dagbag`` before Airflow 3.2)."""
    from airflow_provider_credits.version_compat import AIRFLOW_V_3_2_PLUS

    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import DagBag
    else:
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=dag_folder)


def load_dag(dag_file: Path, dag_id: str) -> Any:
    """Copy ``dag_file`` into the DAGs folder and parse it; fail on import errors."""
    target = DAGS_FOLDER / dag_file.name
    shutil.copyfile(dag_file, target)
    bag = dag_bag(str(target))
    assert not bag.import_errors, f"import errors: {bag.import_errors}"
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"{dag_id} not found in {dag_file}; found {list(bag.dags)}"
    return dag


def run_dag(dag_file: Path, dag_id: str, **test_kwargs: Any) -> DagRunResult:
    """Run ``dag_id`` from ``dag_file`` once with ``dag.test()``; needs the ``airflow_db`` fixture.

    :param dag_file: a DAG file (copied into the session's DAGs folder).
    :param dag_id: the DAG to run.
    :param test_kwargs: passed to ``dag.test()`` (``run_conf``, ``logical_date``, ...).
    """
    dag = load_dag(dag_file, dag_id)
    dag_run = dag.test(**test_kwargs)
    return DagRunResult(
        dag_id=dag_id,
        run_id=dag_run.run_id,
        state=str(dag_run.state),
        task_states={
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
            for ti in dag_run.get_task_instances()
        },
    )
