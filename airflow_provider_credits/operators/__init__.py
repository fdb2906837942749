"""Operators of airflow-provider-credits (import the modules directly: this package imports nothing)."""
