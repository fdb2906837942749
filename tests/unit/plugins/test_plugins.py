"""The Credits plugin: registration, cheap import, the app's mount point and the nav entry."""

from __future__ import annotations

import subprocess
import sys

import pytest
import tomllib

from tests.support import ROOT


def test_the_entry_point_names_the_plugin_class() -> None:
    from airflow.plugins_manager import AirflowPlugin

    from airflow_provider_credits.plugins import CreditsPlugin

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["airflow.plugins"]["credits"]
    assert target == "airflow_provider_credits.plugins:CreditsPlugin"
    assert issubclass(CreditsPlugin, AirflowPlugin) and CreditsPlugin.name == "credits"


def test_importing_the_plugin_builds_nothing() -> None:
    """The plugins manager imports the module in every Airflow process: no FastAPI, no SQLAlchemy engine."""
    code = (
        "import sys; import airflow_provider_credits.plugins as p; "
        "print(any(m.startswith(('fastapi', 'airflow_provider_credits.plugins.app')) for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_the_app_is_mounted_at_credits_and_the_nav_entry_follows_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastapi import FastAPI

    from airflow_provider_credits.plugins import CreditsPlugin, _Lazy

    plugin = CreditsPlugin()
    (app,) = plugin.fastapi_apps
    assert app["url_prefix"] == "/credits" and isinstance(app["app"], FastAPI)
    assert plugin.fastapi_apps[0]["app"] is app["app"]  # built once
    (view,) = plugin.external_views
    assert view["href"] == "/credits/" and view["destination"] == "nav" and view["url_route"] == "credits"

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://example.com/airflow/")
    from airflow_provider_credits.plugins import _external_views

    assert _Lazy(_external_views).__get__(plugin)[0]["href"] == "/airflow/credits/"


def test_airflow_accepts_the_nav_entry() -> None:
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    from airflow_provider_credits.plugins import CreditsPlugin

    ExternalViewResponse.model_validate(CreditsPlugin().external_views[0])
