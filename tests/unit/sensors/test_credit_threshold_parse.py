"""What a DAG file pays to import and build CreditThresholdSensor at every parse: no pydantic
models, reservations, hooks or SQLAlchemy; the arguments are still checked then."""

from __future__ import annotations

import inspect

from airflow_provider_credits import reservations
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor
from tests.support.parse_imports import modules_a_parse_imports, run_time_only

DAG_FILE = """
from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor

with DAG("parse", schedule=None):
    CreditThresholdSensor(task_id="literal", credits_conn_id="c", min_remaining=500, credit_pool="api")
    CreditThresholdSensor(
        task_id="templated", credits_conn_id="c", min_remaining_pct="{{ params.pct }}", deferrable=True
    )
    CreditThresholdSensor(
        task_id="reserving", credits_conn_id="c", reserve=600, reservation_conn_id="db",
        reservation_ttl=3600, budget=5000, budget_period="week", min_runway=7,
    )
    try:
        CreditThresholdSensor(task_id="refused", credits_conn_id="c", min_remaining=-1)
    except CreditsConfigError:
        pass
    else:
        raise AssertionError("a negative threshold was not refused at parse")
"""


def test_a_dag_parse_imports_no_run_time_module() -> None:
    imported = modules_a_parse_imports(DAG_FILE)
    assert "airflow_provider_credits.sensors.credit_threshold" in imported  # it measured the import
    assert run_time_only(imported) == []


def test_a_gate_without_budget_or_runway_does_not_import_the_ledger_at_parse() -> None:
    imported = modules_a_parse_imports(
        "from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor\n"
        "with DAG('parse', schedule=None):\n"
        "    CreditThresholdSensor(task_id='g', credits_conn_id='c', min_remaining=5, reservation_conn_id='db')\n"
    )
    assert "airflow_provider_credits.sensors.credit_threshold" in imported
    assert "airflow_provider_credits.ledger" not in imported


def test_the_reservation_defaults_are_the_stores() -> None:
    """The sensor writes them out (importing ``reservations`` at parse costs milliseconds)."""
    parameters = inspect.signature(CreditThresholdSensor).parameters
    assert parameters["reservation_table"].default == reservations.DEFAULT_TABLE
    assert parameters["reservation_ttl"].default == reservations.DEFAULT_TTL
