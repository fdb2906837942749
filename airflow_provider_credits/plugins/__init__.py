"""The Credits page: an Airflow plugin (a FastAPI app at ``/credits`` and a "Credits" nav entry).

Registered through the ``airflow.plugins`` entry point (``pyproject.toml``). Importing this
module is cheap and does no I/O: FastAPI, SQLAlchemy and the page's app are imported and
built when the API server first reads :attr:`CreditsPlugin.fastapi_apps`, and the data
source (``[credits] dashboard_conn_id``, default ``credits_db``) is looked up per request,
so a missing connection never stops the API server from starting (the page says it is
missing). See ``docs/dashboard.md``.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

__all__ = ["URL_PREFIX", "CreditsPlugin", "base_url_path"]

URL_PREFIX = "/credits"
"""Where the plugin's FastAPI app is mounted on the API server."""


def base_url_path(path: str) -> str:
    """``path`` under the path of ``[api] base_url`` (``/airflow`` + ``/credits/``), as edge3 builds hrefs."""
    from urllib.parse import urlparse

    from airflow.configuration import conf

    base_url = conf.get("api", "base_url", fallback="/") or "/"
    base_path = urlparse(base_url).path if base_url.startswith(("http://", "https://")) else base_url
    return base_path.rstrip("/") + path


class _Lazy:
    """A class attribute computed on first read (the plugins manager reads it on the instance)."""

    def __init__(self, build: Any) -> None:
        self.build = build
        self.value: Any = None

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if self.value is None:
            self.value = self.build()
        return self.value


def _fastapi_apps() -> list[dict[str, Any]]:
    from airflow_provider_credits.plugins.app import create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Credits"}]


def _external_views() -> list[dict[str, Any]]:
    return [
        {
            "name": "Credits",
            "href": base_url_path(f"{URL_PREFIX}/"),
            "destination": "nav",
            "url_route": "credits",  # shown inside the UI (an iframe at /plugin/credits)
        }
    ]


class CreditsPlugin(AirflowPlugin):
    """The Credits page: balances, burn-down, runway, reservations and spend per DAG."""

    name = "credits"
    fastapi_apps = _Lazy(_fastapi_apps)
    external_views = _Lazy(_external_views)
