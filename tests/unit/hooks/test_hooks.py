"""Provider registration, connections resolved from env vars, hook lookup, test_connection, lazy hooks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from importlib import import_module
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from airflow.sdk import BaseHook, Connection

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.get_provider_info import get_provider_info
from airflow_provider_credits.hooks import HOOK_CLASS_PATHS, aget_credits_hook, get_credits_hook
from airflow_provider_credits.hooks.base import CreditsHook
from airflow_provider_credits.vendors import VENDORS as REGISTRY
from tests.support.vendor_api import VENDORS, load

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


def resolve_with_connection_get_hook(conn_id: str) -> CreditsHook:
    return Connection.get(conn_id).get_hook()


def resolve_with_base_hook(conn_id: str) -> CreditsHook:
    return BaseHook.get_connection(conn_id).get_hook()


RESOLVERS = {
    "Connection.get_hook": resolve_with_connection_get_hook,
    "BaseHook.get_connection": resolve_with_base_hook,
    "get_credits_hook": get_credits_hook,
    "aget_credits_hook": lambda conn_id: asyncio.run(aget_credits_hook(conn_id)),
}


@pytest.mark.parametrize("vendor", VENDORS, ids=str)
@pytest.mark.parametrize("resolve", list(RESOLVERS.values()), ids=list(RESOLVERS))
def test_env_var_connection_resolves_to_its_hook(set_conn, vendor, resolve):
    conn_id = set_conn(vendor.conn_type, conn_id=f"my_{vendor.conn_type}", **vendor.extra)

    hook = resolve(conn_id)

    assert type(hook) is vendor.hook
    assert hook.conn_id == conn_id


def test_get_credits_hook_passes_hook_kwargs(set_conn):
    hook = get_credits_hook(set_conn("theirstack"), max_retries=0, backoff=0.5)

    assert (hook.settings.max_retries, hook.backoff) == (0, 0.5)


@pytest.mark.parametrize("get_hook", [get_credits_hook, lambda c: asyncio.run(aget_credits_hook(c))])
def test_unknown_conn_type_lists_the_valid_ones(set_conn, get_hook):
    conn_id = set_conn("http", conn_id="not_credits")

    with pytest.raises(CreditsConfigError) as info:
        get_hook(conn_id)

    assert "'not_credits' has type 'http'" in str(info.value)
    assert f"the types {', '.join(sorted(REGISTRY))}" in str(info.value)
    assert "clay, clodura, credits_http, firecrawl, hunter, lusha, prospeo, serpapi, tavily" in str(
        info.value
    )


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


# vendor, balance body, expected success message
TEST_CONNECTION = {
    "clay": ("workspace_credits", "Connected to clay account 'ws-777': credits=6500"),
    "clodura": ("prospect", "Connected to clodura: contact_views=858, direct_dials=162"),
    "theirstack": ("credit_balance", "Connected to theirstack: api_credits=0, ui_credits=0"),
    "trendtrack": ("usage", "Connected to trendtrack account 'ws_123': credits=0, recurring=0, topup=0, included_quota=0"),
}  # fmt: skip


@pytest.mark.parametrize("vendor", VENDORS, ids=str)
def test_test_connection_succeeds(api, make_hook, vendor):
    fixture, message = TEST_CONNECTION[vendor.conn_type]
    api.get(vendor.balance_path).respond(json=load(vendor.conn_type, fixture))
    hook = make_hook(vendor.conn_type)

    assert hook.test_connection() == (True, message)
    assert hook._client is None  # closed afterwards


def test_test_connection_without_api_key(api, make_hook):
    ok, message = make_hook("clodura", password="").test_connection()

    assert ok is False
    assert "has no API key" in message
    assert not api.calls


@pytest.mark.parametrize("vendor", VENDORS, ids=str)
def test_constructing_a_hook_reads_nothing(monkeypatch, api, vendor):
    def no_lookup(*args, **kwargs):
        raise AssertionError("the connection was read in __init__")

    monkeypatch.setattr(BaseHook, "get_connection", no_lookup)
    monkeypatch.setattr(BaseHook, "aget_connection", no_lookup)
    monkeypatch.setattr(os, "getenv", no_lookup)

    hook = vendor.hook(conn_id="does_not_exist", timeout=5)

    assert hook.conn_id == "does_not_exist"
    assert (hook._settings, hook._client, hook._aclient, hook._atransport) == (None, None, None, None)
    assert repr(hook) == f"{vendor.hook.__name__}(conn_id='does_not_exist')"
    assert vendor.hook().conn_id == f"{vendor.conn_type}_default"
    assert not api.calls


def test_importing_the_hooks_does_no_io():
    """Import every hook module in a fresh interpreter that fails on any socket or subprocess use."""
    code = """
import sys
events = []
sys.addaudithook(lambda event, args: events.append(event) if event.split(".")[0] in ("socket", "subprocess", "urllib") else None)
import airflow_provider_credits, airflow_provider_credits.hooks, airflow_provider_credits.get_provider_info
assert not {"airflow", "httpx"} & set(sys.modules), "importing the package pulled in airflow/httpx"
import airflow_provider_credits.hooks.clay, airflow_provider_credits.hooks.clodura
import airflow_provider_credits.hooks.theirstack, airflow_provider_credits.hooks.trendtrack
assert not events, events
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr[-2000:]


def test_a_check_looks_the_connection_up_once(api, set_conn, monkeypatch):
    """The sensor's per-check path: picking the hook by type must not cost a second lookup."""
    conn_id = set_conn("clodura")
    api.get("/api/v1/credits").respond(200, json={"remainingCredits": 42})
    lookups: list[str] = []
    real_get, real_aget = Connection.get, Connection.async_get

    def counting_get(cid):
        lookups.append(cid)
        return real_get(cid)

    async def counting_aget(cid):
        lookups.append(cid)
        return await real_aget(cid)

    monkeypatch.setattr(Connection, "get", staticmethod(counting_get))
    monkeypatch.setattr(Connection, "async_get", staticmethod(counting_aget))  # what BaseHook calls

    assert get_credits_hook(conn_id).get_balance().primary.remaining == 42
    assert lookups == [conn_id]

    async def check() -> int:
        hook = await aget_credits_hook(conn_id)
        try:
            return int((await hook.aget_balance()).primary.remaining)
        finally:
            await hook.aclose()

    lookups.clear()
    assert asyncio.run(check()) == 42
    assert lookups == [conn_id]
