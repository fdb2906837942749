"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

The Airflow 3 UI builds each connection form from this dict alone (without importing the
hooks). Connection types, hook names, hook classes and forms come from the vendor registry
(:mod:`airflow_provider_credits.vendors`); the HTTP fields shared by every type are declared here.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_credits import __version__
from airflow_provider_credits.vendors import VENDORS

_INTEGRATION = "Credits"

#: the fields of every credits connection. Their schemas are also the hooks' run-time check of
#: these extras (``hooks/settings.py``): type, minimum and maximum are declared here only.
HTTP_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Connect and read timeout of each HTTP request.",
        "schema": {"type": ["number", "null"], "minimum": 0.1, "maximum": 3600, "default": 30},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries after a 429, a 5xx or a network error (authentication errors are never retried).",
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 10, "default": 4},
    },
    "retry_max_seconds": {
        "label": "Retry budget (seconds)",
        "description": "Give up retrying once this much time has passed since the first attempt.",
        "schema": {"type": ["number", "null"], "minimum": 0, "maximum": 86400, "default": 120},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata (validated by Airflow against ``provider_info.schema.json``)."""
    return {
        "package-name": "airflow-provider-credits",
        "name": "Credits",
        "description": "Gate pipelines on B2B data-API credits ("
        + ", ".join(spec.name for spec in VENDORS.values() if spec.conn_type != "credits_http")
        + ", or any HTTP credits API) and keep a usage history in any SQL database.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://pypi.org/project/airflow-provider-credits/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": list(dict.fromkeys(spec.hook_module for spec in VENDORS.values())),
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["airflow_provider_credits.sensors.credit_threshold"],
            }
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_credits.triggers.credit_threshold",
                    "airflow_provider_credits.triggers.credit_topup",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_credits.operators.usage_to_sql",
                    "airflow_provider_credits.operators.release_credits",
                    "airflow_provider_credits.operators.credit_alerts",
                ],
            }
        ],
        "connection-types": [
            {
                "connection-type": conn_type,
                "hook-class-name": spec.hook_class_path,
                "hook-name": spec.hook_name,
                "ui-field-behaviour": spec.form,
                "conn-fields": {**spec.conn_fields, **HTTP_FIELDS},
            }
            for conn_type, spec in VENDORS.items()
        ],
    }
