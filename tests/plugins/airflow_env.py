"""Placeholder: AIRFLOW_HOME and dag.test() helpers."""
