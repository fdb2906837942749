"""The vendor registry: every connection type of the provider, declared once.

A vendor whose balance is one HTTP request with fields found by path is **data**: an entry of
``registry.json`` beside this module (:func:`declared` reads it into a :class:`VendorSpec`)
with its base URL, :class:`BalanceRequest`, :class:`Auth`, :class:`PoolSpec` list (JMESPath
expressions, primary pool first), error shapes and documented rate limit.
:class:`~airflow_provider_credits.hooks.registry.RegistryHook` turns such a spec into a hook.
Vendors that need more (Clay's cookie and sign-in, usage history) keep a code module; the
registry still holds their names, hosts, hook class and connection form (below, in Python),
so that one source feeds the hook lookup by connection type (:data:`HOOK_CLASS_PATHS`), the
provider info (connection types, forms, hook names) and the docs' table of vendors.

Importing this module is cheap and reads no file (no ``jmespath``, no hooks): the triggers
import it through :mod:`airflow_provider_credits.hooks` when a DAG file is parsed.
``registry.json`` is read on the first use of :data:`VENDORS` or :data:`HOOK_CLASS_PATHS`
(in an Airflow process, usually when Airflow's provider discovery calls
:func:`~airflow_provider_credits.get_provider_info.get_provider_info`), once per process.
Expressions are compiled on first use by :mod:`airflow_provider_credits.vendors.mapping`,
and validated by the test suite.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

__all__ = [
    "BEARER",
    "CREDITS_HTTP",
    "HOOK_CLASS_PATHS",
    "REGISTRY_FILE",
    "REGISTRY_HOOKS_MODULE",
    "VENDORS",
    "Auth",
    "BalanceRequest",
    "ErrorShape",
    "PoolSpec",
    "VendorSpec",
    "declarative_vendors",
    "declared",
    "docs_table",
    "spec_for_hook_class",
]

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

#: the declarative vendors: a JSON list beside this module, one entry per vendor (see :func:`declared`).
REGISTRY_FILE = "registry.json"


def declared(entry: Any) -> VendorSpec:
    """The :class:`VendorSpec` of one entry of :data:`REGISTRY_FILE`.

    An entry is a JSON object with the field names of :class:`VendorSpec`: ``balance``,
    ``auth`` and each item of ``pools`` and ``errors`` hold the fields of
    :class:`BalanceRequest`, :class:`Auth`, :class:`PoolSpec` and :class:`ErrorShape`;
    ``balance_rate_limit`` is ``{"requests": ..., "seconds": ...}``; ``inferred`` a list of
    strings. Left out: ``auth`` is Bearer, ``hook_name`` is ``"<name> (credits)"``, ``docs``
    is ``connections/<conn_type>.md``. Facts come from ``../shared/design/more-vendors.md``;
    points the vendor does not confirm are listed in ``inferred`` (the docs show them).

    :raises ValueError: the entry is not of that shape (names the entry and the field).
    """
    if not isinstance(entry, Mapping):
        raise ValueError(f"a vendor registry entry is a JSON object, not {type(entry).__name__}")
    fields = dict(entry)
    where = "its required fields"
    try:
        if missing := [key for key in _REQUIRED if key not in fields]:
            raise KeyError(f"missing {', '.join(missing)}; it has {', '.join(entry)}")
        ids = tuple(str(fields.pop(key)) for key in _REQUIRED)
        where = "balance"
        fields["balance"] = BalanceRequest(**fields["balance"])
        if "auth" in fields:
            where = "auth"
            fields["auth"] = Auth(**fields["auth"])
        for where, part in (("pools", PoolSpec), ("errors", ErrorShape)):
            fields[where] = tuple(part(**item) for item in _json_list(fields.get(where, [])))
        where = "inferred"
        fields["inferred"] = tuple(_json_list(fields.get("inferred", [])))
        if not all(isinstance(point, str) for point in fields["inferred"]):
            raise TypeError("a list of strings")
        if "balance_rate_limit" in fields:
            where, limit = "balance_rate_limit", fields["balance_rate_limit"]
            fields[where] = (int(limit["requests"]), float(limit["seconds"]))
            if fields[where][0] < 1 or not fields[where][1] > 0:
                raise ValueError("requests must be at least 1 and seconds more than 0")
        where = "its other fields"
        spec = _vendor(cast("tuple[str, str, str, str]", ids), **fields)
        for name, value, allowed in _choices(spec):
            if value not in allowed:
                where = name
                raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"vendor registry entry {entry.get('conn_type')!r} ({where}): {error!r}") from error
    return spec


_REQUIRED = ("conn_type", "name", "default_base_url", "hook_class_name")


def _json_list(value: Any) -> list[Any]:
    """``value``, which must be a JSON list.

    :raises TypeError: it is not.
    """
    if not isinstance(value, list):
        raise TypeError(f"a JSON list, not {type(value).__name__}")
    return value


def _choices(spec: VendorSpec) -> list[tuple[str, str, tuple[str, ...]]]:
    """The fields of ``spec`` that take one of a few words, as ``(where, value, allowed)``."""
    found: list[tuple[str, str, tuple[str, ...]]] = [
        (f"errors[{i}].kind", e.kind, ("auth", "request", "exhausted")) for i, e in enumerate(spec.errors)
    ]
    if spec.balance is not None:
        found.append(("balance.method", spec.balance.method, ("GET", "POST")))
    if spec.auth is not None:
        found.append(("auth.style", spec.auth.style, ("header", "query", "basic")))
    return found


def _read_registry() -> list[VendorSpec]:
    """Every entry of :data:`REGISTRY_FILE`, in its order.

    :raises ValueError: the file is not a JSON list of entries :func:`declared` reads (the
        message names the file and the entry, counted from 1).
    """
    path = Path(__file__).parent / REGISTRY_FILE
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:  # json.JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(entries, list):
        raise ValueError(f"{path} holds a JSON list of vendor entries, not {type(entries).__name__}")
    specs = []
    for number, entry in enumerate(entries, start=1):
        try:
            specs.append(declared(entry))
        except ValueError as error:
            raise ValueError(f"{path}, entry {number} of {len(entries)}: {error}") from error
    return specs


def _by_conn_type(specs: tuple[VendorSpec, ...]) -> dict[str, VendorSpec]:
    """``specs`` by connection type.

    :raises ValueError: two specs declare the same connection type.
    """
    vendors: dict[str, VendorSpec] = {}
    for spec in specs:
        if spec.conn_type in vendors:
            raise ValueError(
                f"the vendor registry declares connection type {spec.conn_type!r} twice "
                f"(the vendors in code, {REGISTRY_FILE} and credits_http share one list of types)"
            )
        vendors[spec.conn_type] = spec
    return vendors


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

#: every connection type of the provider, in the order the docs and the UI list them: the
#: vendors in code, those of :data:`REGISTRY_FILE`, then ``credits_http``. Built on first use
#: (the file is read then, not when this module is imported), then a plain dict.
VENDORS: dict[str, VendorSpec]

#: connection type -> importable hook class path (the hook lookup and the provider info use it);
#: built with :data:`VENDORS`.
HOOK_CLASS_PATHS: dict[str, str]


def __getattr__(name: str) -> Any:
    """:data:`VENDORS` and :data:`HOOK_CLASS_PATHS` on first use; they are module globals from then on."""
    if name not in ("VENDORS", "HOOK_CLASS_PATHS"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    vendors = globals().get("VENDORS")
    if vendors is None:
        specs = (*_CODE_VENDORS, *_read_registry(), CREDITS_HTTP)
        vendors = globals().setdefault("VENDORS", _by_conn_type(specs))  # one wins a race
    globals().setdefault("HOOK_CLASS_PATHS", {t: spec.hook_class_path for t, spec in vendors.items()})
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), "VENDORS", "HOOK_CLASS_PATHS"})


def _vendors() -> dict[str, VendorSpec]:
    """:data:`VENDORS` (a function of this module does not reach ``__getattr__`` by the bare name)."""
    return cast("dict[str, VendorSpec]", globals().get("VENDORS") or __getattr__("VENDORS"))


def declarative_vendors() -> list[VendorSpec]:
    """The registry entries whose hook is built from data (not ``credits_http``)."""
    return [spec for spec in _vendors().values() if spec.declarative]


def spec_for_hook_class(class_name: str) -> VendorSpec | None:
    """The declarative entry whose hook class is called ``class_name``, if any."""
    return next((s for s in declarative_vendors() if s.hook_class_name == class_name), None)


def docs_table() -> str:
    """The README's table of vendors (Markdown), generated from the registry; a test keeps them equal."""
    rows = [
        "| connection type | vendor | pools (primary first) or what is read | page |",
        "|---|---|---|---|",
    ]
    for spec in _vendors().values():
        what = spec.summary or ", ".join(
            f"`{p.name}`" + (f" ({p.unit})" if p.unit != "credits" else "") for p in spec.pools
        )
        page = spec.docs.rsplit("/", 1)[-1]
        rows.append(f"| `{spec.conn_type}` | {spec.name} | {what} | [{page}](docs/{spec.docs}) |")
    return "\n".join(rows) + "\n"
