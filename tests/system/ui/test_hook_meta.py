"""The ``/ui/connections/hook_meta`` answer the UI builds its forms from (no browser, no server).

Runs against Airflow's own FastAPI app in-process, so a provider-info change that would
break a form fails here in seconds even where Chromium is missing.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_credits.get_provider_info import get_provider_info
from airflow_provider_credits.vendors import VENDORS
from tests.system.ui.expected import DEFAULT_LABELS, FORMS, STANDARD_FIELDS, ConnectionForm

#: ``hook_meta`` calls the ``schema`` field ``url_schema``.
API_NAME = {name: ("url_schema" if name == "schema" else name) for name in STANDARD_FIELDS}


@pytest.fixture(scope="module")
def hook_meta(airflow_db: Path) -> dict[str, dict[str, Any]]:
    """``GET /ui/connections/hook_meta`` from Airflow's API app, by connection type."""
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as patch:
        # every caller is an admin: the endpoint needs an authenticated user
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        patch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(64))
        patch.setenv(
            "AIRFLOW__CORE__AUTH_MANAGER",
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        )
        from airflow.api_fastapi.app import create_app

        with TestClient(create_app(apps="core")) as client:
            response = client.get("/ui/connections/hook_meta")
    assert response.status_code == 200, response.text
    return {item["connection_type"]: item for item in response.json()}


def _expected_standard(form: ConnectionForm, name: str) -> dict[str, Any] | None:
    """What ``standard_fields`` holds for a field (None: the field keeps Airflow's defaults)."""
    if name in form.hidden:
        return {"hidden": True, "title": None, "placeholder": None}
    spec = form.standard[name]
    title = None if spec.label == DEFAULT_LABELS[name] else spec.label
    if title is None and not spec.placeholder:
        return None
    return {"hidden": False, "title": title, "placeholder": spec.placeholder or None}


@pytest.mark.parametrize("conn_type", list(FORMS))
def test_hook_meta_standard_fields(hook_meta: dict[str, dict[str, Any]], conn_type: str) -> None:
    """Display name, hook class, and each standard field hidden, relabelled or with a placeholder."""
    form = FORMS[conn_type]
    assert conn_type in hook_meta, f"{conn_type} is not offered by the UI; types: {sorted(hook_meta)}"
    meta = hook_meta[conn_type]
    assert meta["hook_name"] == form.hook_name
    assert meta["hook_class_name"] == form.hook_class_name
    standard = meta["standard_fields"]
    for name in STANDARD_FIELDS:
        assert standard[API_NAME[name]] == _expected_standard(form, name), f"{conn_type}: {name}"


@pytest.mark.parametrize("conn_type", list(FORMS))
def test_hook_meta_extra_fields(hook_meta: dict[str, dict[str, Any]], conn_type: str) -> None:
    """Each provider field in order, with its label, widget type, default and masking."""
    form = FORMS[conn_type]
    extra = hook_meta[conn_type]["extra_fields"]
    assert list(extra) == [field.name for field in form.extra]
    for field in form.extra:
        param = extra[field.name]
        schema = param["schema"]
        assert schema["title"] == field.label, f"{conn_type}: {field.name}"
        assert param["description"], f"{conn_type}: {field.name} has no help text"
        assert (schema.get("format") == "password") is (field.kind == "secret"), f"{conn_type}: {field.name}"
        types = set(schema["type"]) - {"null"}
        allowed = [{"number"}, {"integer"}] if field.kind == "number" else [{"string"}]
        assert types in allowed, f"{conn_type}: {field.name} has types {schema['type']}"
        assert "null" in schema["type"], f"{conn_type}: {field.name} must be optional"
        assert str(param["value"] if param["value"] is not None else "") == field.default


def test_hook_meta_secrets_are_the_masked_fields(hook_meta: dict[str, dict[str, Any]]) -> None:
    """Every field named like a secret is masked (a new secret field must not be forgotten)."""
    for conn_type in FORMS:
        for name, param in hook_meta[conn_type]["extra_fields"].items():
            if any(word in name for word in ("password", "secret", "token", "key", "cookie")):
                assert param["schema"].get("format") == "password", f"{conn_type}: {name} is not masked"


def test_the_ui_form_tests_cover_every_connection_type() -> None:
    """The UI tests (browser and hook_meta) enumerate ``FORMS``: it must list every type."""
    assert list(FORMS) == list(VENDORS)
    info = {e["connection-type"]: e for e in get_provider_info()["connection-types"]}
    for conn_type, form in FORMS.items():
        entry = info[conn_type]
        assert (form.hook_name, form.hook_class_name) == (entry["hook-name"], entry["hook-class-name"])
        behaviour = entry["ui-field-behaviour"]
        assert set(form.hidden) - {"description"} == set(behaviour["hidden-fields"])
        for name, field in form.standard.items():
            if name != "description":
                assert field.label == behaviour.get("relabeling", {}).get(name, name.capitalize()), name
                assert field.placeholder == behaviour.get("placeholders", {}).get(name, ""), name
        assert [f.name for f in form.extra] == list(entry["conn-fields"])
        for field in form.extra:
            assert field.label == entry["conn-fields"][field.name]["label"]
