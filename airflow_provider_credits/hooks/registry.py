"""Hooks built from the vendor registry, and the generic ``credits_http`` hook.

:class:`RegistryHook` reads a balance as a :class:`~airflow_provider_credits.vendors.VendorSpec`
declares it: one request, the secret in a header, a query parameter or HTTP basic, errors
inside a 2xx body, then the pools by JMESPath (:mod:`airflow_provider_credits.vendors.mapping`).
Each declarative vendor gets its own subclass, built on first access as an attribute of this
module (``airflow_provider_credits.hooks.registry.HunterHook``: the provider info's
``hook-class-name``), so ``conn_type``, ``hook_name`` and friends are class attributes as
Airflow expects::

    from airflow_provider_credits.hooks.registry import hook_class

    balance = hook_class("hunter")(conn_id="hunter_default").get_balance()

:class:`CreditsHttpHook` (connection type ``credits_http``) builds the same spec from the
connection's extras, so any vendor with a one-request balance works without a release.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

import httpx
from pydantic import RootModel

from airflow_provider_credits.exceptions import (
    CreditsApiError,
    CreditsAuthError,
    CreditsConfigError,
    CreditsExhaustedError,
    CreditsRequestError,
    CreditsResponseError,
)
from airflow_provider_credits.hooks.base import ConnectionSettings, CreditsHook, Endpoint
from airflow_provider_credits.hooks.errors import ErrorFields
from airflow_provider_credits.hooks.retry import RetryPolicy
from airflow_provider_credits.models import CreditBalance
from airflow_provider_credits.vendors import (
    BEARER,
    CREDITS_HTTP,
    VENDORS,
    Auth,
    BalanceRequest,
    PoolSpec,
    VendorSpec,
    spec_for_hook_class,
)

__all__ = ["CreditsHttpHook", "RegistryHook", "hook_class"]

_ERROR_CLASSES: dict[str, type[CreditsApiError]] = {
    "auth": CreditsAuthError,
    "request": CreditsRequestError,
    "exhausted": CreditsExhaustedError,
}


class JsonAnswer(RootModel[Any]):
    """Any JSON document: a registry vendor's answer is read by path, not by a schema."""


class RegistryHook(CreditsHook):
    """A vendor's hook whose balance read is declared by a :class:`VendorSpec` (``spec``).

    Balance only: registry vendors have no usage history (:meth:`get_usage` raises
    :class:`~airflow_provider_credits.exceptions.UsageNotSupportedError`).

    :param conn_id: connection of the vendor's type (API key in the password field).
    """

    spec: ClassVar[VendorSpec]

    def __init_subclass__(cls, spec: VendorSpec | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(spec=spec, **kwargs)
        if spec is not None:
            cls.spec = spec

    def vendor_spec(self) -> VendorSpec:
        """The spec this hook follows."""
        return self.spec

    def _field(self, name: str) -> str:
        """Where a spec field comes from, for messages (the connection's extra for ``credits_http``)."""
        return ""

    # ------------------------------------------------------------------ auth

    def _auth(self) -> Auth:
        return self.vendor_spec().auth or BEARER

    def _validate_settings(self, settings: ConnectionSettings) -> None:
        super()._validate_settings(settings)
        if self._auth().style == "basic" and not settings.login:
            raise CreditsConfigError(
                f"connection {self.conn_id!r} uses HTTP basic auth but has no login: fill in the "
                "connection's login (the secret goes in the password field)",
                vendor=self.vendor,
            )

    def _basic_token(self, settings: ConnectionSettings) -> str:
        return base64.b64encode(f"{settings.login}:{settings.secret}".encode()).decode()

    def _auth_headers(self, settings: ConnectionSettings) -> dict[str, str]:
        auth = self._auth()
        if auth.style == "header":
            return {auth.name: f"{auth.prefix}{settings.secret}"}
        if auth.style == "basic":
            return {"Authorization": f"Basic {self._basic_token(settings)}"}
        return {}

    def _auth_params(self, settings: ConnectionSettings) -> dict[str, str]:
        auth = self._auth()
        return {auth.name: settings.secret} if auth.style == "query" else {}

    def _secrets(self) -> list[str]:
        """The secret, and the forms it takes in a URL or a basic auth header."""
        secrets = super()._secrets()
        forms = [form for s in secrets for form in (quote(s, safe=""), quote_plus(s)) if form != s]
        if secrets and self._settings is not None and self._auth().style == "basic":
            forms.append(self._basic_token(self._settings))
        return [*secrets, *dict.fromkeys(forms)]

    def adopt_connection(self, conn: Any) -> None:
        super().adopt_connection(conn)
        from airflow.sdk.log import mask_secret

        for form in self._secrets():
            mask_secret(form)

    async def aadopt_connection(self, conn: Any) -> None:
        await super().aadopt_connection(conn)
        from airflow_provider_credits.version_compat import amask_secret

        for form in self._secrets():
            await amask_secret(form)

    # ---------------------------------------------------------------- errors

    def _spec_error_fields(self, body: Any) -> tuple[str | None, str | None]:
        """(code, message) found by the spec's ``error_code`` / ``error_message`` expressions."""
        from airflow_provider_credits.vendors.mapping import MappingError, search

        spec, found = self.vendor_spec(), []
        for expression in (spec.error_code, spec.error_message):
            value = None
            if expression is not None and body is not None:
                try:
                    value = search(expression, body)
                except MappingError:
                    value = None
            found.append(None if value in (None, "", [], {}) else str(value)[:500])
        return found[0], found[1]

    def _vendor_error_fields(self, body: Any, headers: httpx.Headers) -> ErrorFields:
        code, message, request_id = super()._vendor_error_fields(body, headers)
        own_code, own_message = self._spec_error_fields(body)
        return own_code or code, own_message or message, request_id

    def _retry_policy(self) -> RetryPolicy:
        """After a 429 without a hint, wait at least the vendor's documented rate (``seconds / requests``)."""
        policy = super()._retry_policy()
        limit = self.vendor_spec().balance_rate_limit
        return policy if limit is None else replace(policy, rate_limit_floor=limit[1] / limit[0])

    # --------------------------------------------------------------- balance

    def _balance_call(self) -> tuple[Endpoint[Any], dict[str, Any]]:
        request = self.vendor_spec().balance
        assert request is not None, "a registry hook needs a balance request"
        path = request.path.replace("{", "{{").replace("}", "}}")  # a literal path, not a template
        return Endpoint(request.method, path, JsonAnswer, body=request.body), {}

    def _to_balance(self, raw: JsonAnswer) -> CreditBalance:
        from airflow_provider_credits.vendors.mapping import (
            MappingError,
            map_pools,
            matching_error,
        )

        spec, data = self.vendor_spec(), raw.root
        assert spec.balance is not None
        where = {"method": spec.balance.method, "path": spec.balance.path}
        try:
            shape = matching_error(spec.errors, data)
            if shape is not None:
                code, message = self._spec_error_fields(data)
                detail = f": {message}" if message else ""
                raise self._error(
                    _ERROR_CLASSES[shape.kind],
                    f"{shape.hint} (an error inside a successful HTTP answer){detail}",
                    code=code,
                    **where,
                )
            if spec.ok_when is not None and not self._ok(spec.ok_when, data, where):
                # the vendor's own error fields, else the usual ``error``/``message``/``detail``
                code, message, _ = self._vendor_error_fields(data, httpx.Headers())
                raise self._error(
                    CreditsResponseError,
                    f"{self._field('ok_when')}the answer does not satisfy `{spec.ok_when}`"
                    + (f": {message}" if message else ""),
                    code=code,
                    **where,
                )
            pools = map_pools(spec.pools, data)
        except MappingError as exc:
            raise self._error(CreditsResponseError, f"{self._field('pools')}{exc}", **where) from None
        return CreditBalance(vendor=self.vendor, account=self.account, pools=pools)

    def _ok(self, ok_when: str, data: Any, where: dict[str, Any]) -> bool:
        """Whether the answer satisfies ``ok_when``; one it cannot be evaluated on is an error of that extra."""
        from airflow_provider_credits.vendors.mapping import MappingError, search, truthy

        try:
            return truthy(search(ok_when, data))
        except MappingError as exc:
            raise self._error(CreditsResponseError, f"{self._field('ok_when')}{exc}", **where) from None


@functools.cache
def hook_class(conn_type: str) -> type[RegistryHook]:
    """The hook class of a registry connection type (one class per type, built once).

    :param conn_type: e.g. ``"hunter"``.
    :raises KeyError: not a declarative registry entry.
    """
    if conn_type == CREDITS_HTTP.conn_type:
        return CreditsHttpHook
    spec = VENDORS[conn_type]
    if not spec.declarative:
        raise KeyError(f"{conn_type!r} is implemented in code: {spec.hook_class_path}")
    doc = (
        f"Reads {spec.name} credits: ``{spec.balance and spec.balance.method} {spec.balance and spec.balance.path}``; "
        f"pools {', '.join(p.name for p in spec.pools)} (primary first).\n\n"
        f":param conn_id: connection of type ``{spec.conn_type}`` (API key in the password field)."
    )
    namespace = {"__module__": __name__, "__qualname__": spec.hook_class_name, "__doc__": doc}
    return type(spec.hook_class_name, (RegistryHook,), namespace, spec=spec)


def __getattr__(name: str) -> Any:
    """``HunterHook`` and the other registry hook classes, built on first access."""
    spec = spec_for_hook_class(name)
    if spec is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = globals()[name] = hook_class(spec.conn_type)
    return cls


# ------------------------------------------------------------------ credits_http

_POOL_KEYS = ("name", "remaining", "limit", "used", "unit", "period_start", "period_end")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _json_extra(conn_id: str, name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise CreditsConfigError(
            f"connection {conn_id!r}: extra {name!r} is not valid JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno})",
            vendor=CREDITS_HTTP.conn_type,
        ) from None


def spec_from_extras(conn_id: str, extras: dict[str, Any]) -> VendorSpec:
    """The registry entry a ``credits_http`` connection describes, checked field by field.

    :param conn_id: the connection, named in errors.
    :param extras: its extras: ``balance_path``, ``method``, ``body``, ``auth``, ``pools``, ``ok_when``.
    :raises CreditsConfigError: naming the connection, the extra and, for an expression, its path.
    """
    from airflow_provider_credits.hooks.settings import extra_value
    from airflow_provider_credits.vendors.mapping import ExpressionError, compile_expression

    vendor = CREDITS_HTTP.conn_type

    def get(name: str) -> Any:
        value = extra_value(extras, vendor, name)
        return value.strip() if isinstance(value, str) else value

    def refuse(name: str, problem: str) -> CreditsConfigError:
        return CreditsConfigError(f"connection {conn_id!r}: extra {name!r} {problem}", vendor=vendor)

    def expression(name: str, value: Any, where: str = "") -> str:
        if not isinstance(value, str):
            # the same words as compile_expression, whose cache cannot take a list or an object
            raise refuse(name, f"{where}expected a JMESPath expression, got {value!r:.100}")
        try:
            compile_expression(value)
        except ExpressionError as exc:
            raise refuse(name, f"{where}{exc}") from None
        return str(value)

    path = get("balance_path")
    if not path or not isinstance(path, str):
        raise refuse("balance_path", "is missing: give the path of the balance request, e.g. /v1/credits")
    if "://" in path or "?" in path:
        raise refuse(
            "balance_path", f"must be a path below the base URL without a query string, got {path!r}"
        )
    method = str(get("method") or "GET").upper()
    if method not in ("GET", "POST"):
        raise refuse("method", f"must be GET or POST, got {get('method')!r}")
    body = _json_extra(conn_id, "body", get("body"))
    if body is not None and method != "POST":
        raise refuse("body", "is only sent with POST: set extra 'method' to POST or remove the body")
    auth = _parse_auth(get("auth") or "bearer", refuse)
    pools_value = _json_extra(conn_id, "pools", get("pools"))
    if not isinstance(pools_value, list) or not pools_value:
        raise refuse(
            "pools", 'must be a JSON list of pools, e.g. [{"name": "credits", "remaining": "data.left"}]'
        )
    pools, names = [], set()
    for index, item in enumerate(pools_value):
        where = f"pool {index + 1}"
        if not isinstance(item, dict):
            raise refuse("pools", f"{where} must be an object, got {type(item).__name__}")
        unknown = sorted(set(item) - set(_POOL_KEYS))
        if unknown:
            raise refuse("pools", f"{where} has unknown keys {unknown}; allowed: {', '.join(_POOL_KEYS)}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise refuse("pools", f"{where} needs a 'name' (a non-empty string)")
        where = f"pool {name!r}"
        if name in names:
            raise refuse("pools", f"{where} is listed twice: pool names must be unique")
        names.add(name)
        if item.get("remaining") is None and (item.get("limit") is None or item.get("used") is None):
            raise refuse("pools", f"{where} needs 'remaining', or both 'limit' and 'used'")
        unit = item.get("unit") or "credits"
        if not isinstance(unit, str):
            raise refuse("pools", f"{where} 'unit' must be a string (a unit name, not an expression)")
        paths = {
            key: expression("pools", item[key], f"{where} {key}: ")
            for key in _POOL_KEYS[1:]
            if key != "unit" and item.get(key) is not None
        }
        pools.append(PoolSpec(name=name, unit=unit, **paths))
    ok_when = get("ok_when")
    return VendorSpec(
        conn_type=vendor,
        name=CREDITS_HTTP.name,
        hook_name=CREDITS_HTTP.hook_name,
        default_base_url="",
        hook_class_name=CREDITS_HTTP.hook_class_name,
        balance=BalanceRequest("/" + path.lstrip("/"), method, body),
        auth=auth,
        pools=tuple(pools),
        ok_when=expression("ok_when", ok_when) if ok_when else None,
    )


def _parse_auth(value: Any, refuse: Any) -> Auth:
    text = str(value).strip()
    style, _, name = text.partition(":")
    style, name = style.strip().lower(), name.strip()
    if style == "bearer" and not name:
        return BEARER
    if style == "basic" and not name:
        return Auth("basic")
    if style in ("header", "query") and name and (style == "query" or _HEADER_NAME.fullmatch(name)):
        return Auth(style, name)
    raise refuse(
        "auth",
        f"must be bearer, header:<Name>, query:<name> or basic, got {text!r}",
    )


class CreditsHttpHook(RegistryHook, spec=CREDITS_HTTP):
    """Reads the balance of any vendor whose balance is one HTTP request, as the connection describes it.

    The connection: host = base URL, password = the secret, login = the user for ``basic``
    auth, and extras ``balance_path``, ``method`` (GET or POST), ``body`` (JSON, POST only),
    ``auth`` (``bearer``, ``header:<Name>``, ``query:<name>``, ``basic``), ``pools`` (a JSON
    list of ``{"name", "remaining", "limit", "used", "unit", "period_start", "period_end"}``,
    values being JMESPath expressions, primary pool first) and ``ok_when`` (a JMESPath
    predicate a usable answer satisfies).

    :param conn_id: connection of type ``credits_http``.
    :raises CreditsConfigError: (on first use) an extra is missing or unusable; the message
        names the connection, the extra and the expression.
    """

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        self._http_spec: VendorSpec | None = None

    def vendor_spec(self) -> VendorSpec:
        if self._http_spec is None:
            self.settings  # noqa: B018 - reading the connection builds the spec
        assert self._http_spec is not None
        return self._http_spec

    def _field(self, name: str) -> str:
        return f"connection {self.conn_id!r}, extra {name!r}: "

    def _validate_settings(self, settings: ConnectionSettings) -> None:
        if not settings.base_url:
            raise CreditsConfigError(
                f"connection {self.conn_id!r} has no Base URL: fill in the connection's host "
                "(e.g. https://api.vendor.example)",
                vendor=self.vendor,
            )
        self._http_spec = spec_from_extras(self.conn_id, settings.extras)
        super()._validate_settings(settings)
