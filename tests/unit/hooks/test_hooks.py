"""The hooks package: a connection's hook by its type, one connection lookup per check, imports without I/O."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from airflow.sdk import BaseHook, Connection

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.hooks import aget_credits_hook, get_credits_hook
from airflow_provider_credits.hooks.base import CreditsHook
from airflow_provider_credits.vendors import VENDORS as REGISTRY
from tests.support.vendor_api import VENDORS


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
