"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

The Airflow 3 UI builds each connection form from this dict alone (without importing the
hooks), so every form field, label and placeholder is declared here.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_credits import __version__
from airflow_provider_credits.hooks import HOOK_CLASS_PATHS

_INTEGRATION = "Credits"

#: the fields of every credits connection. Their schemas are also the hooks' run-time check of
#: these extras (``hooks/settings.py``): type, minimum and maximum are declared here only.
HTTP_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Connect and read timeout of each HTTP request.",
        "schema": {"type": ["number", "null"], "minimum": 1, "maximum": 3600, "default": 30},
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

_API_KEY_BEHAVIOUR = {"hidden-fields": ["schema", "port", "login"], "relabeling": {"password": "API key"}}

_VENDORS: dict[str, dict[str, Any]] = {
    "clay": {
        "hook-name": "Clay (credits, unofficial API)",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port"],
            "relabeling": {"password": "Session cookie", "login": "Email (optional, to sign in)"},
            "placeholders": {
                "host": "https://api.clay.com",
                "password": "value of the claysession cookie",
                "login": "only when the cookie should be refreshed by signing in",
            },
        },
        "conn-fields": {
            "workspace_id": {
                "label": "Workspace ID",
                "description": "The Clay workspace whose credits are read (the number in app.clay.com/workspaces/<id>).",
                "schema": {"type": ["string", "null"]},
            },
            "account_password": {
                "label": "Account password (optional)",
                "description": "With the email above, lets the hook sign in again when the cookie expires. "
                "Accounts that sign in with Google have none: paste a cookie instead.",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
        },
    },
    "clodura": {
        "hook-name": "Clodura (credits)",
        "ui-field-behaviour": {
            **_API_KEY_BEHAVIOUR,
            "placeholders": {"host": "https://api.clodura.ai", "password": "Clodura API key (X-API-KEY)"},
        },
        "conn-fields": {},
    },
    "theirstack": {
        "hook-name": "TheirStack (credits)",
        "ui-field-behaviour": {
            **_API_KEY_BEHAVIOUR,
            "placeholders": {"host": "https://api.theirstack.com", "password": "TheirStack API key"},
        },
        "conn-fields": {
            "timezone": {
                "label": "Usage time zone",
                "description": "IANA time zone of the daily consumption buckets (e.g. Europe/Madrid).",
                "schema": {"type": ["string", "null"], "default": "UTC"},
            },
        },
    },
    "trendtrack": {
        "hook-name": "Trendtrack (credits)",
        "ui-field-behaviour": {
            **_API_KEY_BEHAVIOUR,
            "placeholders": {"host": "https://api.trendtrack.io", "password": "tt_live_..."},
        },
        "conn-fields": {},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata (validated by Airflow against ``provider_info.schema.json``)."""
    return {
        "package-name": "airflow-provider-credits",
        "name": "Credits",
        "description": "Gate pipelines on B2B data-API credits (Clay, Clodura, TheirStack, Trendtrack) "
        "and keep a usage history in any SQL database.",
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
                "python-modules": [path.rsplit(".", 1)[0] for path in HOOK_CLASS_PATHS.values()],
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
                "python-modules": ["airflow_provider_credits.triggers.credit_threshold"],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_credits.operators.usage_to_sql",
                    "airflow_provider_credits.operators.release_credits",
                ],
            }
        ],
        "connection-types": [
            {
                "connection-type": conn_type,
                "hook-class-name": HOOK_CLASS_PATHS[conn_type],
                "hook-name": spec["hook-name"],
                "ui-field-behaviour": spec["ui-field-behaviour"],
                "conn-fields": {**spec["conn-fields"], **HTTP_FIELDS},
            }
            for conn_type, spec in _VENDORS.items()
        ],
    }
