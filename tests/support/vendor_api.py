"""The vendors' APIs as respx sees them: each vendor hook's paths, example bodies and auth, and helpers.

Used by the hook unit tests (their fixtures are in ``tests/unit/hooks/conftest.py``) and by the
sensor tests that read example bodies. ``load(vendor, name)`` reads ``tests/fixtures/vendor/<vendor>/<name>.json``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_credits.hooks import hook_class_for
from airflow_provider_credits.hooks.base import CreditsHook
from airflow_provider_credits.hooks.clay import ClayHook
from airflow_provider_credits.hooks.clodura import CloduraHook
from airflow_provider_credits.hooks.theirstack import TheirStackHook
from airflow_provider_credits.hooks.trendtrack import TrendtrackHook

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"

#: distinctive secrets, easy to spot if they leak into a message or a log line.
SECRET = "sk-SECRET-123456789"
COOKIE = "cookie-SECRET-987654321"
ACCOUNT_PASSWORD = "pw-SECRET-55555555"
BASE_URL = "http://vendor.test"
WORKSPACE = "ws-777"

MODES = ("sync", "async")


def load(vendor: str, name: str) -> Any:
    """Decoded JSON of ``tests/fixtures/vendor/<vendor>/<name>.json``."""
    return json.loads((FIXTURES / vendor / f"{name}.json").read_text())


@dataclass(frozen=True)
class Vendor:
    """What the tests need to know about one vendor hook."""

    conn_type: str
    hook: type[CreditsHook]
    balance_path: str
    balance_body: Any
    #: header that carries the secret, and its expected value.
    auth_header: tuple[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:  # readable test ids
        return self.conn_type


VENDORS = [
    Vendor(
        "clay",
        ClayHook,
        f"/v3/workspaces/{WORKSPACE}/credits",
        load("clay", "workspace_credits"),
        ("Cookie", f"claysession={COOKIE}"),
        {"workspace_id": WORKSPACE},
    ),
    Vendor("clodura", CloduraHook, "/api/v1/credits", load("clodura", "prospect"), ("X-API-KEY", SECRET)),
    Vendor(
        "theirstack",
        TheirStackHook,
        "/v0/billing/credit-balance",
        load("theirstack", "credit_balance"),
        ("Authorization", f"Bearer {SECRET}"),
    ),
    Vendor(
        "trendtrack",
        TrendtrackHook,
        "/v1/usage",
        load("trendtrack", "usage"),
        ("Authorization", f"Bearer {SECRET}"),
    ),
]

#: a ``credits_http`` connection's extras that read Lusha's answer (``lusha/usage.json``).
CREDITS_HTTP_EXTRA: dict[str, Any] = {
    "balance_path": "/v3/account/usage",
    "auth": "header:api_key",
    "pools": json.dumps(
        [
            {
                "name": "credits",
                "remaining": "credits.remaining",
                "limit": "credits.total",
                "used": "credits.used",
            }
        ]
    ),
}
#: registry vendors whose secret is a query parameter: ``auth_header`` then names that parameter.
_REGISTRY_AUTH = {
    "hunter": ("api_key", SECRET),
    "lusha": ("api_key", SECRET),
    "zerobounce": ("api_key", SECRET),
    "prospeo": ("X-KEY", SECRET),
    "serpapi": ("api_key", SECRET),
    "credits_http": ("api_key", SECRET),
}
#: the registry's connection types (built from data), with the answers of their example bodies.
REGISTRY_VENDORS = [
    Vendor(
        conn_type,
        hook_class_for(conn_type),
        path,
        load(folder, fixture),
        _REGISTRY_AUTH.get(conn_type, ("Authorization", f"Bearer {SECRET}")),
        CREDITS_HTTP_EXTRA if conn_type == "credits_http" else {},
    )
    for conn_type, folder, path, fixture in (
        ("hunter", "hunter", "/v2/account", "account"),
        ("lusha", "lusha", "/v3/account/usage", "usage"),
        ("zerobounce", "zerobounce", "/v2/getcredits", "credits"),
        ("prospeo", "prospeo", "/account-information", "account"),
        ("serpapi", "serpapi", "/account.json", "account"),
        ("apify", "apify", "/v2/users/me/limits", "limits"),
        ("firecrawl", "firecrawl", "/v2/team/credit-usage", "credit_usage"),
        ("tavily", "tavily", "/usage", "usage"),
        ("credits_http", "lusha", "/v3/account/usage", "usage"),
    )
]
VENDOR_BY_TYPE = {v.conn_type: v for v in (*VENDORS, *REGISTRY_VENDORS)}


def conn_json(
    conn_type: str,
    *,
    host: str = BASE_URL,
    password: str | None = None,
    login: str | None = None,
    **extra: Any,
) -> str:
    """An ``AIRFLOW_CONN_<ID>`` value; the password defaults to the vendor's secret."""
    if password is None:
        password = COOKIE if conn_type == "clay" else SECRET
    conn = {"conn_type": conn_type, "host": host, "login": login, "password": password, "extra": extra}
    return json.dumps(conn)


def mock_async_transport(router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send the hooks' async requests to ``router``.

    respx mocks httpx's own transports; the async path sends over aiohttp (``hooks/transport.py``,
    tested against real servers), so the async tests swap that transport for ``router``.
    """
    monkeypatch.setattr(
        CreditsHook, "_async_transport", lambda self: httpx.MockTransport(router.async_handler)
    )


def invoke(mode: str, hook: CreditsHook, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``hook.<method>`` (sync) or ``hook.a<method>`` (async, in a fresh event loop)."""
    if mode == "sync":
        return getattr(hook, method)(*args, **kwargs)

    async def run() -> Any:
        try:
            return await getattr(hook, f"a{method}")(*args, **kwargs)
        finally:
            await hook.aclose()

    return asyncio.run(run())
