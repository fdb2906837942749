"""get_provider_info: what Airflow reads of the provider (entry point, schema, connection types and their forms, the CLI's listing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import import_module
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

from airflow_provider_credits.get_provider_info import get_provider_info
from airflow_provider_credits.hooks import HOOK_CLASS_PATHS
from airflow_provider_credits.vendors import VENDORS as REGISTRY
from tests.support.vendor_api import VENDORS


def test_entry_point_points_at_get_provider_info() -> None:
    from importlib.metadata import entry_points

    (ep,) = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.dist and e.dist.name == "airflow-provider-credits"
    ]
    info = ep.load()()
    assert info["package-name"] == "airflow-provider-credits"
    assert {c["connection-type"] for c in info["connection-types"]} == {
        "clay",
        "clodura",
        "theirstack",
        "trendtrack",
        *("hunter", "lusha", "zerobounce", "prospeo", "serpapi", "apify", "firecrawl", "tavily"),
        "credits_http",
    }


INFO = get_provider_info()


CONNECTION_TYPES = {entry["connection-type"]: entry for entry in INFO["connection-types"]}


def test_provider_info_validates_against_airflow_schema():
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())

    jsonschema.validate(INFO, schema)
    assert INFO["package-name"] == "airflow-provider-credits"


@pytest.mark.parametrize("vendor", VENDORS, ids=str)
def test_connection_type_entry_matches_hook_class(vendor):
    entry = CONNECTION_TYPES[vendor.conn_type]
    module_name, class_name = entry["hook-class-name"].rsplit(".", 1)
    hook_class = getattr(import_module(module_name), class_name)

    assert hook_class is vendor.hook
    assert hook_class.conn_type == vendor.conn_type
    assert hook_class.hook_name == entry["hook-name"]
    assert hook_class.default_conn_name == f"{vendor.conn_type}_default"
    assert module_name in INFO["hooks"][0]["python-modules"]
    # the form's defaults are the hook's defaults
    fields = entry["conn-fields"]
    assert fields["timeout"]["schema"]["default"] == hook_class.default_timeout
    assert fields["max_retries"]["schema"]["default"] == hook_class.default_max_retries
    assert fields["retry_max_seconds"]["schema"]["default"] == hook_class.default_retry_max_seconds
    for field in fields.values():
        jsonschema.Draft7Validator.check_schema(field["schema"])


def test_every_hook_class_path_is_a_connection_type():
    assert set(CONNECTION_TYPES) == set(HOOK_CLASS_PATHS) == set(REGISTRY)
    assert {v.conn_type for v in VENDORS} <= set(REGISTRY)


def test_clay_account_password_is_masked_in_the_form():
    assert CONNECTION_TYPES["clay"]["conn-fields"]["account_password"]["schema"]["format"] == "password"


def test_airflow_lists_the_provider():
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run(
        [str(airflow), "providers", "list", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
        check=True,
    )

    packages = {p["package_name"]: p for p in json.loads(result.stdout)}
    assert packages["airflow-provider-credits"]["version"] == INFO["versions"][0]
