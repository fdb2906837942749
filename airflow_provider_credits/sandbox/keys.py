"""The sandbox's fixed credentials: obviously fake, public, and the same in every sandbox.

They only open the local sandbox; no real vendor accepts them.
"""

from __future__ import annotations

#: name of Clay's session cookie.
CLAY_COOKIE_NAME = "claysession"
#: Clay ``claysession`` cookie value (put it in the connection's password field).
CLAY_COOKIE = "sandbox-clay-session-NOT-A-REAL-COOKIE"
#: Clay workspace id served by the sandbox (the connection's ``workspace_id`` extra).
CLAY_WORKSPACE_ID = "424242"
#: Clay sign-in (``POST /v3/auth/login``): email and account password.
CLAY_EMAIL, CLAY_PASSWORD = "sandbox@example.com", "sandbox-clay-password-NOT-REAL"
#: Clodura ``X-API-KEY``.
CLODURA_API_KEY = "sandbox-clodura-key-NOT-REAL"
#: TheirStack Bearer token.
THEIRSTACK_API_KEY = "sandbox-theirstack-key-NOT-REAL"
#: Trendtrack Bearer token (real ones start with ``tt_live_`` too).
TRENDTRACK_API_KEY = "tt_live_sandbox_NOT_A_REAL_KEY"

#: API keys of the registry vendors (``airflow_provider_credits.vendors``), one per vendor.
REGISTRY_API_KEYS: dict[str, str] = {
    vendor: f"sandbox-{vendor}-key-NOT-REAL"
    for vendor in ("hunter", "lusha", "zerobounce", "prospeo", "serpapi", "apify", "firecrawl", "tavily")
}

#: the secret each vendor's connection carries in its password field.
SECRETS: dict[str, str] = {
    "clay": CLAY_COOKIE,
    "clodura": CLODURA_API_KEY,
    "theirstack": THEIRSTACK_API_KEY,
    "trendtrack": TRENDTRACK_API_KEY,
    **REGISTRY_API_KEYS,
}

VENDORS: tuple[str, ...] = tuple(SECRETS)
