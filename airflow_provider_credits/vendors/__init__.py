"""The vendor registry: every connection type of the provider, declared once.

A vendor whose balance is one HTTP request with fields found by path is **data**: a
:class:`VendorSpec` with its base URL, :class:`BalanceRequest`, :class:`Auth`, :class:`PoolSpec`
list (JMESPath expressions, primary pool first), error shapes and documented rate limit.
:class:`~airflow_provider_credits.hooks.registry.RegistryHook` turns such a spec into a hook.
Vendors that need more (Clay's cookie and sign-in, usage history) keep a code module; the
registry still holds their names, hosts, hook class and connection form, so that one source
feeds the hook lookup by connection type (:data:`HOOK_CLASS_PATHS`), the provider info
(connection types, forms, hook names) and the docs' table of vendors.

This module is plain data, cheap to import (no ``jmespath``, no hooks): DAG files import it
through the sensor at every parse. Expressions are compiled on first use by
:mod:`airflow_provider_credits.vendors.mapping`, and validated by the test suite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: module holding the hooks built from the registry (each a class attribute of that module).
REGISTRY_HOOKS_MODULE = "airflow_provider_credits.hooks.registry"


@dataclass(frozen=True)
class Auth:
    """How the secret (the connection's password) authenticates a request.

    :param style: ``header`` (``<name>: <prefix><secret>``), ``query`` (``?<name>=<secret>``)
        or ``basic`` (HTTP basic with the connection's login and the secret as password).
    :param name: header or query parameter name (unused for ``basic``).
    :param prefix: put before the secret in a header, e.g. ``"Bearer "``.
    """

    style: str
    name: str = ""
    prefix: str = ""

    def describe(self) -> str:
        """In words, e.g. ``header Authorization: Bearer <key>`` or ``query parameter api_key``."""
        if self.style == "query":
            return f"query parameter `{self.name}`"
        if self.style == "basic":
            return "HTTP basic (login and password)"
        return f"header `{self.name}: {self.prefix}<key>`"


BEARER = Auth("header", "Authorization", "Bearer ")


@dataclass(frozen=True)
class BalanceRequest:
    """The one request that reads the balance (it must cost no credits).

    :param path: path below the base URL, e.g. ``/v2/account``.
    :param method: ``GET`` or ``POST``.
    :param body: a static JSON body (POST only).
    """

    path: str
    method: str = "GET"
    body: Any = None


@dataclass(frozen=True)
class PoolSpec:
    """One credit pool and where its numbers are in the balance response (JMESPath expressions).

    A number may arrive as a JSON number or a numeric string; a missing or null field gives
    None. ``remaining`` is computed as ``limit - used`` when the vendor gives those two but
    no remaining amount. Dates are ISO timestamps, bare dates (midnight UTC) or
    ``YYYY-MM-DD HH:MM:SS+00:00``.

    :param name: pool name (public: the sensor's ``credit_pool``).
    :param unit: what an amount counts (``credits``, ``searches``, ``usd``...).
    :param present: when set, the pool is listed only when this expression is not null
        (vendors that send only the pools an account has).
    """

    name: str
    remaining: str | None = None
    limit: str | None = None
    used: str | None = None
    unit: str = "credits"
    period_start: str | None = None
    period_end: str | None = None
    present: str | None = None

    def expressions(self) -> dict[str, str]:
        """Field name -> expression, for the fields that have one."""
        names = ("remaining", "limit", "used", "period_start", "period_end", "present")
        return {name: value for name in names if (value := getattr(self, name)) is not None}


@dataclass(frozen=True)
class ErrorShape:
    """An error signalled inside a 2xx body (checked before the pools are read).

    :param when: JMESPath predicate: the body is this error when it is truthy.
    :param kind: ``auth`` (:class:`~airflow_provider_credits.exceptions.CreditsAuthError`),
        ``request`` (``CreditsRequestError``) or ``exhausted`` (``CreditsExhaustedError``).
    :param hint: what it means, in words (part of the message).
    """

    when: str
    kind: str
    hint: str


@dataclass(frozen=True)
class VendorSpec:
    """One connection type of the provider.

    :param conn_type: connection type, e.g. ``hunter`` (default connection ``<type>_default``).
    :param name: the vendor's name as people write it, e.g. ``Hunter.io``.
    :param hook_name: the name the Airflow UI lists the connection type under.
    :param default_base_url: the vendor's API base URL (the connection's host overrides it).
    :param hook_class_name: class name of the hook (its module is ``hook_module``).
    :param hook_module: module of the hook class; the registry hooks module by default.
    :param key_placeholder: placeholder of the API key field in the form.
    :param balance: the balance request; None for a vendor implemented in code.
    :param auth: how the secret is sent; None for a vendor implemented in code.
    :param pools: the pools, primary first.
    :param errors: errors inside a 2xx body.
    :param ok_when: JMESPath predicate a usable 2xx body satisfies (else a
        :class:`~airflow_provider_credits.exceptions.CreditsResponseError`).
    :param error_message: JMESPath to the vendor's message in an error body (4xx/5xx and 2xx
        errors); the shared mapping reads ``error``/``message``/``detail`` otherwise.
    :param error_code: JMESPath to the vendor's error code in an error body.
    :param balance_rate_limit: the vendor's documented limit of the balance call as
        ``(requests, seconds)``, None when the vendor documents none. The hooks wait at
        least ``seconds / requests`` after a 429 without a hint; the coalescing of balance
        reads uses it too.
    :param inferred: points of the mapping not confirmed by the vendor (shown in the docs).
    :param ui_field_behaviour: the form's ``ui-field-behaviour``; None for the API-key form.
    :param conn_fields: the form's own ``conn-fields`` (the shared HTTP fields are added).
    :param docs: the docs page, below ``docs/``.
    :param summary: what is read, in words, for the docs' table of vendors (default: the pools).
    """

    conn_type: str
    name: str
    hook_name: str
    default_base_url: str
    hook_class_name: str
    hook_module: str = REGISTRY_HOOKS_MODULE
    key_placeholder: str = "API key"
    balance: BalanceRequest | None = None
    auth: Auth | None = None
    pools: tuple[PoolSpec, ...] = ()
    errors: tuple[ErrorShape, ...] = ()
    ok_when: str | None = None
    error_message: str | None = None
    error_code: str | None = None
    balance_rate_limit: tuple[int, float] | None = None
    inferred: tuple[str, ...] = ()
    ui_field_behaviour: Mapping[str, Any] | None = None
    conn_fields: Mapping[str, Any] = field(default_factory=dict)
    docs: str = ""
    summary: str = ""

    @property
    def default_conn_name(self) -> str:
        return f"{self.conn_type}_default"

    @property
    def hook_class_path(self) -> str:
        """Importable path of the hook class (the provider info's ``hook-class-name``)."""
        return f"{self.hook_module}.{self.hook_class_name}"

    @property
    def declarative(self) -> bool:
        """Whether the hook is built from this spec (rather than written in code)."""
        return self.balance is not None

    @property
    def form(self) -> dict[str, Any]:
        """The ``ui-field-behaviour`` of the connection form."""
        if self.ui_field_behaviour is not None:
            return dict(self.ui_field_behaviour)
        return {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"password": "API key"},
            "placeholders": {"host": self.default_base_url, "password": self.key_placeholder},
        }

    def expressions(self) -> dict[str, str]:
        """Every JMESPath expression of the spec, by where it is used (for validation and errors)."""
        found = {f"pools[{p.name}].{k}": v for p in self.pools for k, v in p.expressions().items()}
        found.update({f"errors[{i}].when": e.when for i, e in enumerate(self.errors)})
        for name in ("ok_when", "error_message", "error_code"):
            if (value := getattr(self, name)) is not None:
                found[name] = value
        return found


def _vendor(ids: tuple[str, str, str, str], *, reads: str = "credits", **fields: Any) -> VendorSpec:
    """A registry entry with what every vendor shares filled in.

    :param ids: ``(conn_type, name, default_base_url, hook_class_name)``.
    :param reads: what the hook name says is read: ``"<name> (<reads>)"`` (unless ``hook_name``).
    :param fields: the other :class:`VendorSpec` fields. Unless given, ``docs`` is
        ``connections/<conn_type>.md``; a vendor with a ``balance`` request sends a Bearer token
        (``auth``); a vendor without one has its hook written in code, in
        ``airflow_provider_credits.hooks.<conn_type>`` (``hook_module``).
    """
    conn_type, name, base_url, hook_class_name = ids
    fields.setdefault("hook_name", f"{name} ({reads})")
    fields.setdefault("docs", f"connections/{conn_type}.md")
    if "balance" in fields:
        fields.setdefault("auth", BEARER)
    else:
        fields.setdefault("hook_module", f"airflow_provider_credits.hooks.{conn_type}")
    return VendorSpec(
        conn_type=conn_type, name=name, default_base_url=base_url, hook_class_name=hook_class_name, **fields
    )


def _text_field(label: str, description: str, **schema: Any) -> dict[str, Any]:
    """A form's ``conn-fields`` entry holding an optional string; ``schema`` adds to its JSON schema."""
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


# ------------------------------------------------------------------ vendors in code

_CODE_VENDORS = (
    _vendor(
        ("clay", "Clay", "https://api.clay.com", "ClayHook"),
        reads="credits, unofficial API",
        conn_fields={
            "workspace_id": _text_field(
                "Workspace ID",
                "The Clay workspace whose credits are read (the number in app.clay.com/workspaces/<id>).",
            ),
            "account_password": _text_field(
                "Account password (optional)",
                "With the email above, lets the hook sign in again when the cookie expires. "
                "Accounts that sign in with Google have none: paste a cookie instead.",
                format="password",
            ),
        },
        summary="`credits` (workspace credits); credit reports (usage history)",
        ui_field_behaviour={
            "hidden-fields": ["schema", "port"],
            "relabeling": {"password": "Session cookie", "login": "Email (optional, to sign in)"},
            "placeholders": {
                "host": "https://api.clay.com",
                "password": "value of the claysession cookie",
                "login": "only when the cookie should be refreshed by signing in",
            },
        },
    ),
    _vendor(
        ("clodura", "Clodura", "https://api.clodura.ai", "CloduraHook"),
        key_placeholder="Clodura API key (X-API-KEY)",
        summary="`credits` (unified plans) or `contact_views`, `direct_dials` (Prospect plans)",
    ),
    _vendor(
        ("theirstack", "TheirStack", "https://api.theirstack.com", "TheirStackHook"),
        key_placeholder="TheirStack API key",
        summary="`api_credits`, `ui_credits`; daily consumption (usage history)",
        conn_fields={
            "timezone": _text_field(
                "Usage time zone",
                "IANA time zone of the daily consumption buckets (e.g. Europe/Madrid).",
                default="UTC",
            ),
        },
    ),
    _vendor(
        ("trendtrack", "Trendtrack", "https://api.trendtrack.io", "TrendtrackHook"),
        key_placeholder="tt_live_...",
        summary="`credits` (total), `recurring`, `topup`, `included_quota`",
    ),
)

# ------------------------------------------------------------- declarative vendors
# Facts from ../shared/design/more-vendors.md; [inferred] points are listed in ``inferred``.


def _used_limit(name: str, base: str, *, unit: str = "credits", **kwargs: Any) -> PoolSpec:
    """A pool with ``used`` and ``limit`` under ``base`` and remaining = limit - used."""
    return PoolSpec(name, used=f"{base}.used", limit=f"{base}.available", unit=unit, **kwargs)


_HUNTER_RESET = "data.reset_date"

_DECLARATIVE_VENDORS = (
    _vendor(
        ("hunter", "Hunter.io", "https://api.hunter.io", "HunterHook"),
        key_placeholder="Hunter API key (api_key)",
        balance=BalanceRequest("/v2/account"),
        auth=Auth("query", "api_key"),
        pools=tuple(
            _used_limit(
                name,
                f"data.requests.{name}",
                period_end=_HUNTER_RESET,
                present=f"data.requests.{name}",
            )
            for name in ("credits", "searches", "verifications")
        ),
        error_message="errors[0].details",
        error_code="errors[0].id",
        inferred=(
            "`available` is the allowance of the current period (so remaining = available - used); "
            "Hunter does not say whether it already excludes what was used.",
        ),
    ),
    _vendor(
        ("lusha", "Lusha", "https://api.lusha.com", "LushaHook"),
        key_placeholder="Lusha API key (api_key header)",
        balance=BalanceRequest("/v3/account/usage"),
        auth=Auth("header", "api_key"),
        pools=(
            PoolSpec("credits", remaining="credits.remaining", limit="credits.total", used="credits.used"),
        ),
        balance_rate_limit=(5, 60.0),
    ),
    _vendor(
        ("zerobounce", "ZeroBounce", "https://api.zerobounce.net", "ZeroBounceHook"),
        key_placeholder="ZeroBounce API key (api_key)",
        balance=BalanceRequest("/v2/getcredits"),
        auth=Auth("query", "api_key"),
        pools=(PoolSpec("credits", remaining="Credits"),),
        errors=(
            ErrorShape(
                "to_number(Credits) == `-1`",
                "auth",
                "ZeroBounce answers Credits = -1 when the API key is not valid",
            ),
        ),
    ),
    _vendor(
        ("prospeo", "Prospeo", "https://api.prospeo.io", "ProspeoHook"),
        key_placeholder="Prospeo API key (X-KEY)",
        balance=BalanceRequest("/account-information"),
        auth=Auth("header", "X-KEY"),
        pools=(
            PoolSpec(
                "credits",
                remaining="response.remaining_credits",
                used="response.used_credits",
                period_end="response.next_quota_renewal_date",
            ),
        ),
        errors=(
            ErrorShape(
                "error == `true` && contains(['INVALID_API_KEY', 'MISSING_API_KEY'], error_code)",
                "auth",
                "Prospeo refused the API key",
            ),
            ErrorShape("error == `true`", "request", "Prospeo answered with an error"),
        ),
        error_message="message || error_code",
        error_code="error_code",
        inferred=(
            "the error codes that mean a bad key (`INVALID_API_KEY`, `MISSING_API_KEY`) are read from "
            "Prospeo's examples; any other `error_code` is taken for a rejected request.",
        ),
    ),
    _vendor(
        ("serpapi", "SerpApi", "https://serpapi.com", "SerpApiHook"),
        reads="searches",
        key_placeholder="SerpApi API key (api_key)",
        balance=BalanceRequest("/account.json"),
        auth=Auth("query", "api_key"),
        pools=(
            PoolSpec(
                "searches",
                remaining="total_searches_left",
                limit="searches_per_month",
                used="this_month_usage",
                unit="searches",
            ),
            PoolSpec("extra_credits", remaining="extra_credits", unit="searches"),
        ),
    ),
    _vendor(
        ("apify", "Apify", "https://api.apify.com", "ApifyHook"),
        reads="usage in USD",
        key_placeholder="Apify API token",
        balance=BalanceRequest("/v2/users/me/limits"),
        pools=(
            PoolSpec(
                "usage_usd",
                limit="data.limits.maxMonthlyUsageUsd",
                used="data.current.monthlyUsageUsd",
                unit="usd",
                period_start="data.monthlyUsageCycle.startAt",
                period_end="data.monthlyUsageCycle.endAt",
            ),
        ),
        error_message="error.message",
        error_code="error.type",
    ),
    _vendor(
        ("firecrawl", "Firecrawl", "https://api.firecrawl.dev", "FirecrawlHook"),
        key_placeholder="fc-...",
        balance=BalanceRequest("/v2/team/credit-usage"),
        pools=(
            PoolSpec(
                "credits",
                remaining="data.remainingCredits",
                limit="data.planCredits",
                period_start="data.billingPeriodStart",
                period_end="data.billingPeriodEnd",
            ),
        ),
    ),
    _vendor(
        ("tavily", "Tavily", "https://api.tavily.com", "TavilyHook"),
        key_placeholder="tvly-...",
        balance=BalanceRequest("/usage"),
        pools=(
            PoolSpec("plan", used="account.plan_usage", limit="account.plan_limit"),
            PoolSpec("key", used="key.usage", limit="key.limit"),
            PoolSpec("paygo", used="account.paygo_usage", limit="account.paygo_limit"),
        ),
        error_message="detail.error",
    ),
)

#: the generic connection type: the same fields as a registry entry, from the connection's extras.
CREDITS_HTTP = _vendor(
    ("credits_http", "Any HTTP credits API", "", "CreditsHttpHook"),
    hook_name="Credits over HTTP (any vendor)",
    hook_module=REGISTRY_HOOKS_MODULE,
    summary="any vendor whose balance is one HTTP request: pools by JMESPath, from the connection",
    ui_field_behaviour={
        "hidden-fields": ["schema", "port"],
        "relabeling": {
            "host": "Base URL",
            "password": "Secret (API key or token)",
            "login": "Login (basic auth only)",
        },
        "placeholders": {
            "host": "https://api.vendor.example",
            "password": "the vendor's API key or token",
            "login": "only with the basic auth style",
        },
    },
    conn_fields={
        "balance_path": _text_field(
            "Balance path",
            "Path of the request that reads the balance, below the base URL (e.g. /v1/credits).",
        ),
        "method": _text_field("HTTP method", "GET (default) or POST.", default="GET"),
        "body": _text_field("Request body (JSON)", "A static JSON body sent with POST; empty for GET."),
        "auth": _text_field(
            "Auth style",
            "How the secret is sent: bearer (default), header:<Name>, query:<name>, "
            "or basic (login and secret).",
            default="bearer",
        ),
        "pools": _text_field(
            "Pools (JSON)",
            'A JSON list of pools, primary first: [{"name": "credits", "remaining": '
            '"data.left"}]; keys name, remaining, limit, used, unit, period_start, period_end; values '
            "are JMESPath expressions; each pool needs remaining, or limit and used.",
        ),
        "ok_when": _text_field(
            "OK when (JMESPath)",
            "Optional: an expression that is truthy for a usable answer "
            "(e.g. success == `true`); otherwise the read fails.",
        ),
    },
)

#: every connection type of the provider, in the order the docs and the UI list them.
VENDORS: dict[str, VendorSpec] = {
    spec.conn_type: spec for spec in (*_CODE_VENDORS, *_DECLARATIVE_VENDORS, CREDITS_HTTP)
}

#: connection type -> importable hook class path (the hook lookup and the provider info use it).
HOOK_CLASS_PATHS: dict[str, str] = {t: spec.hook_class_path for t, spec in VENDORS.items()}


def declarative_vendors() -> list[VendorSpec]:
    """The registry entries whose hook is built from data (not ``credits_http``)."""
    return [spec for spec in VENDORS.values() if spec.declarative]


def spec_for_hook_class(class_name: str) -> VendorSpec | None:
    """The declarative entry whose hook class is called ``class_name``, if any."""
    return next((s for s in declarative_vendors() if s.hook_class_name == class_name), None)


def docs_table() -> str:
    """The README's table of vendors (Markdown), generated from the registry; a test keeps them equal."""
    rows = [
        "| connection type | vendor | pools (primary first) or what is read | page |",
        "|---|---|---|---|",
    ]
    for spec in VENDORS.values():
        what = spec.summary or ", ".join(
            f"`{p.name}`" + (f" ({p.unit})" if p.unit != "credits" else "") for p in spec.pools
        )
        page = spec.docs.rsplit("/", 1)[-1]
        rows.append(f"| `{spec.conn_type}` | {spec.name} | {what} | [{page}](docs/{spec.docs}) |")
    return "\n".join(rows) + "\n"
