"""The vendors' APIs as respx sees them: each vendor hook's paths, example bodies and auth, and helpers.

Used by the hook unit tests (their fixtures are in ``tests/unit/hooks/conftest.py``) and by the
sensor tests that read example bodies. ``load(vendor, name)`` reads ``tests/fixtures/vendor/<vendor>/<name>.json``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_credits.exceptions import CreditsResponseError
from airflow_provider_credits.hooks import hook_class_for
from airflow_provider_credits.hooks.base import USER_AGENT, CreditsHook
from airflow_provider_credits.hooks.clay import ClayHook
from airflow_provider_credits.hooks.clodura import CloduraHook
from airflow_provider_credits.hooks.theirstack import TheirStackHook
from airflow_provider_credits.hooks.trendtrack import TrendtrackHook
from airflow_provider_credits.models import CreditBalance

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"

#: distinctive secrets, easy to spot if they leak into a message or a log line.
SECRET = "sk-SECRET-123456789"
COOKIE = "cookie-SECRET-987654321"
ACCOUNT_PASSWORD = "pw-SECRET-55555555"
BASE_URL = "http://vendor.test"
WORKSPACE = "ws-777"

MODES = ("sync", "async")
#: a pool without a billing period: ``(period_start, period_end)``
NO_PERIOD = (None, None)
#: the window of Clay's documented curl example (also used for TheirStack's windowed endpoints)
START = datetime(2025, 6, 30, 19, 0, tzinfo=timezone.utc)
END = datetime(2025, 7, 28, 8, 4, 58, 779000, tzinfo=timezone.utc)


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


def assert_balance(
    mode: str,
    api: respx.MockRouter,
    hook: CreditsHook,
    body: Any,
    headers: dict[str, str],
    account: str,
    pools: list[tuple[Any, ...]],
) -> None:
    """The balance ``hook`` reads from ``body`` (and ``headers``) has ``account`` and exactly ``pools``.

    :param pools: ``(name, remaining, limit, used, (period_start, period_end))``, primary first.
    """
    api.get(VENDOR_BY_TYPE[hook.conn_type].balance_path).respond(json=body, headers=headers)

    balance = invoke(mode, hook, "get_balance")

    assert isinstance(balance, CreditBalance)
    assert (balance.vendor, balance.account) == (hook.conn_type, account)
    assert [
        (p.name, p.remaining, p.limit, p.used, (p.period_start, p.period_end)) for p in balance.pools
    ] == pools
    assert balance.primary.name == pools[0][0]
    assert all(
        isinstance(v, Decimal) for p in balance.pools for v in (p.remaining, p.limit, p.used) if v is not None
    )


def assert_unusable_balance(
    mode: str, api: respx.MockRouter, hook: CreditsHook, body: Any, headers: dict[str, str], words: list[str]
) -> None:
    """Reading ``body`` as a balance is a CreditsResponseError naming the request and every one of ``words``."""
    path = VENDOR_BY_TYPE[hook.conn_type].balance_path
    api.get(path).respond(json=body, headers=headers)

    with pytest.raises(CreditsResponseError) as info:
        invoke(mode, hook, "get_balance")

    message = str(info.value)
    assert f"[{hook.conn_type}, GET {path}" in message
    for word in words:
        assert word in message


def assert_endpoint(
    mode: str,
    api: respx.MockRouter,
    hook: CreditsHook,
    call: tuple[str, tuple[Any, ...]],
    request: tuple[str, str, dict[str, str]],
    fixture: str,
    probe: Callable[[Any], Any],
    expected: Any,
) -> None:
    """``hook.<method>(*args)`` sends one request and reads the vendor's example answer ``fixture``.

    :param call: the hook method's name and its arguments.
    :param request: the HTTP method, path and query parameters expected on the wire.
    :param probe: what to compare with ``expected`` in the method's result.
    """
    method, args = call
    http_method, path, query = request
    route = api.route(method=http_method, path=path).respond(json=load(hook.conn_type, fixture))

    result = invoke(mode, hook, method, *args)

    assert probe(result) == expected
    assert route.call_count == 1
    sent = route.calls.last.request
    assert dict(sent.url.params) == query
    header, value = VENDOR_BY_TYPE[hook.conn_type].auth_header
    assert sent.headers[header] == value
    assert sent.headers["User-Agent"] == USER_AGENT
    assert sent.headers["Accept"] == "application/json"
