"""The shared HTTP base of every vendor's hook: the contract a vendor module fills in.

A vendor module declares its endpoints (:class:`Endpoint`, response models on
:class:`VendorResponse`) and overrides a few methods of :class:`CreditsHook`, each marked
"Override" below: how a request is authenticated (:meth:`~CreditsHook._auth_headers`,
:meth:`~CreditsHook._auth_params`, :meth:`~CreditsHook._secrets`,
:meth:`~CreditsHook._refresh_auth`), which call reads the balance and how its answer maps onto
:class:`~airflow_provider_credits.models.CreditBalance` (:attr:`~CreditsHook.balance_endpoint`
or :meth:`~CreditsHook._balance_call`, :meth:`~CreditsHook._to_balance`), the same for usage
history, and what makes its connection unusable (:meth:`~CreditsHook._validate_settings`).
The class keyword ``spec`` fills in the connection type, names and default base URL from the
vendor registry (:data:`airflow_provider_credits.vendors.VENDORS`)::

    class CloduraHook(CreditsHook, spec=VENDORS["clodura"]):
        balance_endpoint = CREDITS

        def _auth_headers(self, settings):
            return {"X-API-KEY": settings.secret}

        def _to_balance(self, raw):
            ...

Everything else is shared and lives in its own module:

- :mod:`.settings`: reading the connection (:class:`ConnectionSettings`, form-derived checks);
- :mod:`.responses`: reading a response whole, up to a size cap;
- :mod:`.errors`: statuses and transport failures mapped onto the exception tree,
  ``Retry-After``, redaction of secrets;
- :mod:`.retry`: the one retry policy of the sync and async paths;
- :mod:`.transport`: the async path's aiohttp transport and the shared TLS context.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import httpx
from airflow.sdk import BaseHook
from pydantic import BaseModel, ConfigDict, ValidationError

from airflow_provider_credits import __version__
from airflow_provider_credits.exceptions import (
    CreditsApiError,
    CreditsConfigError,
    CreditsError,
    CreditsResponseError,
    UsageNotSupportedError,
)
from airflow_provider_credits.hooks import errors
from airflow_provider_credits.hooks.errors import ErrorFields, parse_retry_after, validation_summary
from airflow_provider_credits.hooks.responses import (
    ApiResponse,
    ResponseTooLarge,
    aread_capped,
    describe_non_json,
    read_capped,
)
from airflow_provider_credits.hooks.retry import Attempts, RetryPolicy
from airflow_provider_credits.hooks.settings import ConnectionSettings, base_url, connection_form, extra_value
from airflow_provider_credits.hooks.transport import AiohttpTransport, shared_ssl_context
from airflow_provider_credits.models import CreditBalance, UsageRecord

if TYPE_CHECKING:
    from airflow_provider_credits.vendors import VendorSpec

__all__ = [  # names that moved out of this module stay importable from it
    "DEFAULT_HEADERS",
    "USER_AGENT",
    "ApiResponse",
    "ConnectionSettings",
    "CreditsHook",
    "Endpoint",
    "ResponseTooLarge",
    "RetryPolicy",
    "VendorResponse",
    "extra_value",
    "parse_retry_after",
    "shared_ssl_context",
    "validation_summary",
]

ResponseT = TypeVar("ResponseT", bound=BaseModel)

#: query parameters of a request (None: none).
Params = Mapping[str, Any] | None
T = TypeVar("T")
HookT = TypeVar("HookT", bound="CreditsHook")

USER_AGENT = f"airflow-provider-credits/{__version__}"
#: headers of every request, before the vendor's auth headers.
DEFAULT_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}


class VendorResponse(BaseModel):
    """Base of the models of vendors' own responses: tolerant of fields added later."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


@dataclass(frozen=True)
class Endpoint(Generic[ResponseT]):
    """One vendor API endpoint.

    :param method: HTTP method.
    :param path: path template, formatted with the call's path parameters.
    :param model: pydantic model of the response body.
    :param headers_into: response headers copied into the body before validation, as
        ``{header name: field name}`` (e.g. Trendtrack's ``X-Credits-Remaining``).
    :param body: a static JSON body sent with every call (None: no body).
    """

    method: str
    path: str
    model: type[ResponseT]
    headers_into: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


class CreditsHook(BaseHook):
    """Base hook for a vendor credit API (sync with an httpx ``Client``, async with httpx requests sent over aiohttp).

    :param conn_id: the Airflow connection to use; defaults to the vendor's ``<vendor>_default``.
    :param timeout: seconds per request; overrides the connection's ``timeout`` extra.
    :param max_retries: retries after 429/5xx/network errors; overrides the connection.
    :param retry_max_seconds: total time budget for retries; overrides the connection.
    :param backoff: base of the exponential backoff in seconds (the first wait is up to this).
    :param max_response_bytes: larger response bodies are refused, not read.
    """

    conn_name_attr = "conn_id"
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    #: vendor id used in models and errors, e.g. ``"theirstack"``.
    vendor: ClassVar[str]
    default_base_url: ClassVar[str]
    #: whether :meth:`get_usage` is available for this vendor.
    supports_usage: ClassVar[bool] = False
    #: Override: the endpoint that reads the balance, when it needs no path parameters
    #: (else override :meth:`_balance_call`).
    balance_endpoint: ClassVar[Endpoint[Any] | None] = None

    default_timeout: ClassVar[float] = 30.0
    default_max_retries: ClassVar[int] = 4
    default_retry_max_seconds: ClassVar[float] = 120.0
    max_backoff: ClassVar[float] = 30.0

    def __init_subclass__(cls, spec: VendorSpec | None = None, **kwargs: Any) -> None:
        """``class XHook(CreditsHook, spec=VENDORS["x"])`` takes the connection type, names and
        default base URL from the vendor's registry entry (declared there once)."""
        super().__init_subclass__(**kwargs)
        if spec is not None:
            cls.conn_type = cls.vendor = spec.conn_type
            cls.default_conn_name = spec.default_conn_name
            cls.hook_name = spec.hook_name
            cls.default_base_url = spec.default_base_url

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_max_seconds: float | None = None,
        backoff: float = 1.0,
        max_response_bytes: int = 5 * 1024 * 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name
        self._overrides = {
            "timeout": timeout,
            "max_retries": max_retries,
            "retry_max_seconds": retry_max_seconds,
        }
        self.backoff = backoff
        self.max_response_bytes = max_response_bytes
        self._settings: ConnectionSettings | None = None
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._atransport: httpx.AsyncBaseTransport | None = None
        self._urls: dict[tuple[str, str], httpx.URL] = {}
        self._timeouts: dict[float, dict[str, float | None]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"

    # ---------------------------------------------------------------- connection

    def _build_settings(self, conn: Any, extras: dict[str, Any]) -> ConnectionSettings:
        form = connection_form(self.conn_type)

        def number(name: str, default: float) -> float:
            """A hook argument, else the extra, checked against its form field (see ``settings.py``)."""
            override = self._overrides.get(name) is not None
            value = self._overrides[name] if override else extra_value(extras, self.conn_type, name)
            checked = form.number(self.conn_id, name, value, vendor=self.vendor, override=override)
            return default if checked is None else checked

        settings = ConnectionSettings(
            base_url=base_url(
                conn.host, conn.port, self.default_base_url, conn_id=self.conn_id, vendor=self.vendor
            ),
            secret=(conn.password or "").strip(),
            login=(conn.login or "").strip(),
            extras=extras,
            timeout=self._positive_timeout(number("timeout", self.default_timeout)),
            max_retries=int(number("max_retries", self.default_max_retries)),
            retry_max_seconds=number("retry_max_seconds", self.default_retry_max_seconds),
        )
        self._validate_settings(settings)
        secrets = {name: extra_value(extras, self.conn_type, name) for name in form.secret_fields}
        form.refuse_masked_secrets(self.conn_id, {**secrets, "password": settings.secret}, vendor=self.vendor)
        return settings

    def _positive_timeout(self, seconds: float) -> float:
        if seconds <= 0:  # a hook argument may go below the form's minimum, but not to nothing
            raise CreditsConfigError(
                f"hook argument 'timeout' must be above 0 seconds, got {seconds:g}", vendor=self.vendor
            )
        return seconds

    def _validate_settings(self, settings: ConnectionSettings) -> None:
        """Override: raise :class:`CreditsConfigError` when the connection cannot work."""
        if not settings.secret:
            label = connection_form(self.conn_type).label("password")
            raise CreditsConfigError(
                f"connection {self.conn_id!r} has no {label}: fill in the connection's {label!r} field "
                "(its password in the CLI, the REST API and AIRFLOW_CONN_ variables)",
                vendor=self.vendor,
            )

    def extra(self, name: str) -> Any:
        """Return the connection extra ``name`` (None when unset)."""
        return extra_value(self.settings.extras, self.conn_type, name)

    @property
    def settings(self) -> ConnectionSettings:
        """The connection's settings, read (synchronously) on first use."""
        if self._settings is None:
            self.adopt_connection(self.get_connection(self.conn_id))
        assert self._settings is not None
        return self._settings

    async def aget_settings(self) -> ConnectionSettings:
        """Async :attr:`settings`: reads the connection without blocking the event loop."""
        if self._settings is None:
            await self.aadopt_connection(await self.aget_connection(self.conn_id))
        assert self._settings is not None
        return self._settings

    def adopt_connection(self, conn: Any) -> None:
        """Take the settings from an already fetched connection (no second lookup) and mask its secret.

        :param conn: the Airflow connection named by ``conn_id``.
        """
        from airflow_provider_credits.version_compat import mask_secret

        settings = self._build_settings(conn, conn.extra_dejson)
        mask_secret(settings.secret)
        self._settings = settings

    async def aadopt_connection(self, conn: Any) -> None:
        """Async :meth:`adopt_connection` (masks with ``amask_secret``, safe in an event loop)."""
        from airflow_provider_credits.version_compat import aextra_dejson, amask_secret

        settings = self._build_settings(conn, await aextra_dejson(conn))
        await amask_secret(settings.secret)
        self._settings = settings

    # -------------------------------------------------------------- override points

    def _auth_headers(self, settings: ConnectionSettings) -> dict[str, str]:
        """Override: the headers that authenticate a request."""
        raise NotImplementedError

    def _auth_params(self, settings: ConnectionSettings) -> dict[str, str]:
        """Override: query parameters that authenticate a request (kept out of errors: they name
        the path only, and :meth:`_secrets` must list every form the secret takes in a URL)."""
        return {}

    def _secrets(self) -> list[str]:
        """Override (extend): every secret value that must never appear in an error message."""
        return [self._settings.secret] if self._settings and self._settings.secret else []

    def _refresh_auth(self) -> bool:
        """Override: after a 401, renew the credentials; True when a retry makes sense."""
        return False

    async def _arefresh_auth(self) -> bool:
        """Override: async :meth:`_refresh_auth`."""
        return False

    def _vendor_error_fields(self, body: Any, headers: httpx.Headers) -> ErrorFields:
        """Override: (code, message, request id) of an error response, from its decoded body
        (None when not JSON) and headers; the shared reading covers ``error``/``message``/``detail``."""
        return errors.vendor_error_fields(body, headers)

    def _retry_policy(self) -> RetryPolicy:
        """Override: the retry rules (e.g. a vendor's documented rate as ``rate_limit_floor``)."""
        settings = self._settings
        assert settings is not None
        return RetryPolicy(settings.max_retries, settings.retry_max_seconds, self.backoff, self.max_backoff)

    # ------------------------------------------------------------------ clients

    def _client_kwargs(self, settings: ConnectionSettings) -> dict[str, Any]:
        return {
            "base_url": settings.base_url,
            "timeout": httpx.Timeout(settings.timeout),
            "headers": DEFAULT_HEADERS,
            "follow_redirects": False,
            "verify": shared_ssl_context(),
        }

    def _async_transport(self) -> httpx.AsyncBaseTransport:
        """A new network transport for the async path: aiohttp (see :mod:`.transport`)."""
        return AiohttpTransport(shared_ssl_context())

    def _transport(self) -> httpx.AsyncBaseTransport:
        """The async path's (reused) transport; :meth:`arequest` sends through it directly."""
        if self._atransport is None:
            self._atransport = self._async_transport()
        return self._atransport

    def get_conn(self) -> httpx.Client:
        """Return the (reused) sync httpx client."""
        if self._client is None:
            self._client = httpx.Client(**self._client_kwargs(self.settings))
        return self._client

    async def aget_conn(self) -> httpx.AsyncClient:
        """Return the (reused) async httpx client, sending over aiohttp; use it from one event loop only."""
        if self._aclient is None:
            settings = await self.aget_settings()
            self._aclient = httpx.AsyncClient(**self._client_kwargs(settings), transport=self._transport())
        return self._aclient

    def close(self) -> None:
        """Close the sync client (the hook can be used again afterwards)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def __aenter__(self: HookT) -> HookT:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the async client and its connections (``async with hook:`` does it on exit).

        A hook never closed gives its connections back when it is garbage-collected, and in
        any case when its event loop shuts down (see :class:`.transport.SharedSession`).
        """
        aclient, atransport, self._aclient, self._atransport = self._aclient, self._atransport, None, None
        try:
            if aclient is not None:
                await aclient.aclose()
        finally:
            if atransport is not None:
                await atransport.aclose()

    # ------------------------------------------------------------------ requests

    def request(
        self, method: str, path: str, *, params: Params = None, json_body: Any = None, renew_auth: bool = True
    ) -> ApiResponse:
        """Send a request with auth, retries (:mod:`.retry`) and error mapping; return the 2xx response.

        :param method: HTTP method.
        :param path: path below the base URL.
        :param params: query parameters.
        :param json_body: JSON request body.
        :param renew_auth: on a 401, let the vendor renew its credentials once and resend
            (False for the sign-in request itself).
        :raises CreditsApiError: a subclass naming what failed.
        """
        attempts = self._attempts(renew_auth)
        client = self.get_conn()
        response: ApiResponse | None
        error: CreditsApiError | None
        while True:
            try:
                sent = client.send(self._build(method, path, params, json_body), stream=True)
                response = read_capped(sent, self.max_response_bytes)
            except httpx.HTTPError as exc:
                response, error = None, self._transport_error(exc, method, path)
            else:
                if attempts.renew_auth(response) and self._refresh_auth():
                    attempts.renewed()
                    continue
                if (error := self._error_for(response, method, path)) is None:
                    return response
            time.sleep(attempts.wait(error, response, time.monotonic()))

    async def arequest(
        self, method: str, path: str, *, params: Params = None, json_body: Any = None, renew_auth: bool = True
    ) -> ApiResponse:
        """Async :meth:`request`; never blocks the event loop.

        The request goes straight to the hook's transport: httpx's client machinery (URL
        merging, cookie jar, auth and redirect flows, none of which these calls use) costs more
        CPU than the request itself, and a triggerer sends one per trigger and poll.
        """
        await self.aget_settings()
        transport = self._transport()
        attempts = self._attempts(renew_auth)
        response: ApiResponse | None
        error: CreditsApiError | None
        while True:
            try:
                sent = await transport.handle_async_request(self._build(method, path, params, json_body))
                response = await aread_capped(sent, self.max_response_bytes)
            except httpx.HTTPError as exc:
                response, error = None, self._transport_error(exc, method, path)
            else:
                if attempts.renew_auth(response) and await self._arefresh_auth():
                    attempts.renewed()
                    continue
                if (error := self._error_for(response, method, path)) is None:
                    return response
            await asyncio.sleep(attempts.wait(error, response, time.monotonic()))

    def _attempts(self, renew_auth: bool) -> Attempts:
        """The tries of one request under :meth:`_retry_policy`."""
        return Attempts(self._retry_policy, time.monotonic(), renew_auth=renew_auth, announce=self._log_retry)

    def _log_retry(self, error: CreditsApiError, attempt: int, max_retries: int, delay: float) -> None:
        self.log.warning("%s: %s; retry %d/%d in %.1fs", self.conn_id, error, attempt, max_retries, delay)

    def _build(self, method: str, path: str, params: Params, json_body: Any) -> httpx.Request:
        """The request for ``path`` below the base URL, with the default, auth and timeout settings."""
        settings = self._settings
        assert settings is not None
        url = self._urls.get((settings.base_url, path))
        if url is None:  # parsed once per path: parsing a URL costs more CPU than an aiohttp send
            url = self._urls[settings.base_url, path] = httpx.URL(f"{settings.base_url}/{path.lstrip('/')}")
        auth_params = self._auth_params(settings)
        return httpx.Request(
            method,
            url,
            params={**auth_params, **params} if auth_params and params else (auth_params or params),
            json=json_body,
            headers={**DEFAULT_HEADERS, **self._auth_headers(settings)},
            extensions={"timeout": self._timeout(settings.timeout)},
        )

    def _timeout(self, seconds: float) -> dict[str, float | None]:
        """httpx's per-request timeout extension, built once per value (read, never changed, by httpx)."""
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = self._timeouts[seconds] = httpx.Timeout(seconds).as_dict()
        return timeout

    # ------------------------------------------------------------ error mapping

    def _error(self, cls: type[CreditsApiError], message: str, **context: Any) -> CreditsApiError:
        """An error of this vendor, every secret (:meth:`_secrets`) redacted from its text."""
        secrets = self._secrets()
        context = {k: errors.redact(v, secrets) if isinstance(v, str) else v for k, v in context.items()}
        return cls(errors.redact(message, secrets), vendor=self.vendor, **context)

    def _transport_error(self, exc: httpx.HTTPError, method: str, path: str) -> CreditsApiError:
        settings = self._settings
        where = (settings.base_url, settings.timeout) if settings is not None else (None, None)
        cls, message = errors.transport_error(exc, *where)
        return self._error(cls, message, method=method, path=path)

    def _error_for(self, response: ApiResponse, method: str, path: str) -> CreditsApiError | None:
        """The error ``response`` stands for, None for a 2xx."""
        if 200 <= response.status < 300:
            return None
        cls, message, context = errors.status_error(response, self._vendor_error_fields)
        return self._error(cls, message, method=method, path=path, **context)

    # ------------------------------------------------------------------ parsing

    def _parse(self, endpoint: Endpoint[ResponseT], path: str, response: ApiResponse) -> ResponseT:
        try:
            data = json.loads(response.content)
        except ValueError:
            if not response.content.strip():
                message = "empty response body where JSON was expected"
            else:
                message = f"expected JSON but got {describe_non_json(response)}"
            raise self._error(
                CreditsResponseError, message, method=endpoint.method, path=path, status=response.status
            ) from None
        if endpoint.headers_into and isinstance(data, dict):
            for header, name in endpoint.headers_into.items():
                if header in response.headers:
                    data[name] = response.headers[header]
        return self.validate(endpoint.model, data, method=endpoint.method, path=path)

    def validate(self, model: type[ResponseT], data: Any, *, method: str = "", path: str = "") -> ResponseT:
        """Validate ``data`` as ``model``, turning schema drift into :class:`CreditsResponseError`.

        :param model: the pydantic model expected.
        :param data: decoded JSON.
        :raises CreditsResponseError: ``data`` does not match ``model``; the message names the
            fields in error and the fields seen, never their values.
        """
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = validation_summary(exc)
            seen = sorted(map(str, data))[:20] if isinstance(data, dict) else type(data).__name__
            raise self._error(
                CreditsResponseError,
                f"response does not match the expected {model.__name__} schema ({problems}); fields seen: {seen}",
                method=method or None,
                path=path or None,
            ) from None

    def call(self, endpoint: Endpoint[ResponseT], params: Params = None, **path_params: Any) -> ResponseT:
        """Call ``endpoint`` and return its validated response model.

        :param endpoint: the endpoint to call.
        :param params: query parameters.
        :param path_params: values for the placeholders in the endpoint's path.
        :raises CreditsApiError: a subclass naming what failed (see :meth:`get_balance`).
        """
        path = endpoint.path.format(**path_params)
        return self._parse(
            endpoint, path, self.request(endpoint.method, path, params=params, json_body=endpoint.body)
        )

    async def acall(
        self, endpoint: Endpoint[ResponseT], params: Params = None, **path_params: Any
    ) -> ResponseT:
        """Async :meth:`call`."""
        path = endpoint.path.format(**path_params)
        return self._parse(
            endpoint, path, await self.arequest(endpoint.method, path, params=params, json_body=endpoint.body)
        )

    # --------------------------------------------------------- normalized API

    def _balance_call(self) -> tuple[Endpoint[Any], dict[str, Any]]:
        """Override: the endpoint (and path parameters) that reads the balance; by default
        :attr:`balance_endpoint` without path parameters."""
        if self.balance_endpoint is None:
            raise NotImplementedError(f"{type(self).__name__} declares no balance_endpoint")
        return self.balance_endpoint, {}

    def _to_balance(self, raw: Any) -> CreditBalance:
        """Override: map the vendor's balance response onto :class:`CreditBalance`."""
        raise NotImplementedError

    def _usage_call(
        self, start: datetime, end: datetime
    ) -> tuple[Endpoint[Any], dict[str, Any], dict[str, Any]]:
        """Override: (endpoint, query params, path params) that read usage history."""
        raise self._usage_not_supported()

    def _to_usage(self, raw: Any, start: datetime, end: datetime) -> list[UsageRecord]:
        """Override: map the vendor's usage response onto :class:`UsageRecord` rows."""
        raise self._usage_not_supported()

    def _usage_not_supported(self) -> UsageNotSupportedError:
        return UsageNotSupportedError(
            f"{self.vendor} has no usage-history API; only balances can be read (use get_balance())",
            vendor=self.vendor,
        )

    @property
    def account(self) -> str:
        """The account the balance belongs to; vendors without an account id use the connection id."""
        return self.conn_id

    def _mapped(
        self, endpoint: Endpoint[Any], path_params: dict[str, Any], convert: Callable[..., T], *args: Any
    ) -> T:
        """Run a vendor mapping (:meth:`_to_balance` / :meth:`_to_usage`) on a validated response.

        Values that passed the response schema can still be unusable once combined (``limit -
        used`` overflowing, a date that leaves the calendar in UTC, a pool the models refuse):
        they are the vendor's answer being unusable, so they become :class:`CreditsResponseError`.
        """
        try:
            return convert(*args)
        except CreditsError:
            raise
        except (ValidationError, ArithmeticError, ValueError) as exc:
            raise self._error(
                CreditsResponseError,
                f"response holds values that cannot be used ({errors.unusable_values(exc)})",
                method=endpoint.method,
                path=endpoint.path.format(**path_params),
            ) from None

    def get_balance(self) -> CreditBalance:
        """Read the account's credit balance (costs no credits).

        Transient failures (429, 5xx, network) are retried within the connection's
        ``max_retries`` and ``retry_max_seconds``; the errors below are raised once they run out
        or at once for the others. Every message names the vendor, the call and the status.

        :returns: the account's pools, primary first.
        :raises CreditsConfigError: the connection is unusable (no secret, the masked
            placeholder saved as the secret, an extra out of range, a vendor field missing).
        :raises CreditsAuthError: 401 or 403: the key or cookie is wrong, expired or lacks permission.
        :raises CreditsExhaustedError: 402: the account is out of credits.
        :raises CreditsRateLimitError: 429, still after the retries.
        :raises CreditsServerError: 5xx, still after the retries.
        :raises CreditsTransportError: timeout, refused or dropped connection, still after the retries.
        :raises CreditsResponseError: the answer is unusable: not JSON, an HTML page, over
            ``max_response_bytes``, a redirect, off the expected schema, values that cannot be
            combined, or an error inside a 2xx answer.
        :raises CreditsRequestError: another 4xx (400, 404, 422...).
        :raises AirflowNotFoundException: no connection ``conn_id`` (Airflow's error).
        """
        endpoint, path_params = self._balance_call()
        raw = self.call(endpoint, **path_params)
        return self._mapped(endpoint, path_params, self._to_balance, raw)

    async def aget_balance(self) -> CreditBalance:
        """Async :meth:`get_balance`: the same result and the same errors, without blocking the event loop.

        :raises CreditsConfigError: the connection is unusable.
        :raises CreditsApiError: in the cases :meth:`get_balance` lists, its subclass
            ``CreditsAuthError``, ``CreditsExhaustedError``, ``CreditsRateLimitError``,
            ``CreditsServerError``, ``CreditsTransportError``, ``CreditsResponseError`` or
            ``CreditsRequestError``.
        :raises AirflowNotFoundException: no connection ``conn_id``.
        """
        await self.aget_settings()
        endpoint, path_params = self._balance_call()
        raw = await self.acall(endpoint, **path_params)
        return self._mapped(endpoint, path_params, self._to_balance, raw)

    def _check_window(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        if not self.supports_usage:
            raise self._usage_not_supported()
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, datetime):
                raise CreditsConfigError(
                    f"{name} must be a datetime, got {type(value).__name__}", vendor=self.vendor
                )
            if value.tzinfo is None:
                raise CreditsConfigError(
                    f"{name}={value.isoformat()} is naive: pass a timezone-aware datetime (e.g. UTC)",
                    vendor=self.vendor,
                )
        if end <= start:
            raise CreditsConfigError(
                f"usage window is empty: end {end.isoformat()} is not after start {start.isoformat()}",
                vendor=self.vendor,
            )
        return start.astimezone(timezone.utc), end.astimezone(timezone.utc)

    def get_usage(self, start: datetime, end: datetime) -> list[UsageRecord]:
        """Read consumption between ``start`` (inclusive) and ``end`` (exclusive).

        Retried and reported like :meth:`get_balance`.

        :param start: timezone-aware start of the window.
        :param end: timezone-aware end of the window.
        :returns: one record per day, pool and dimension; days without use count as 0.
        :raises UsageNotSupportedError: the vendor has no usage history (before any request).
        :raises CreditsConfigError: ``start``/``end`` not aware datetimes, ``end`` not after
            ``start`` (before any request), or the connection is unusable.
        :raises CreditsAuthError: 401 or 403: the key or cookie is wrong, expired or lacks permission.
        :raises CreditsExhaustedError: 402: the account is out of credits.
        :raises CreditsRateLimitError: 429, still after the retries.
        :raises CreditsServerError: 5xx, still after the retries.
        :raises CreditsTransportError: timeout, refused or dropped connection, still after the retries.
        :raises CreditsResponseError: the answer is unusable (see :meth:`get_balance`).
        :raises CreditsRequestError: another 4xx (e.g. a window the vendor refuses).
        :raises AirflowNotFoundException: no connection ``conn_id`` (Airflow's error).
        """
        start, end = self._check_window(start, end)
        endpoint, params, path_params = self._usage_call(start, end)
        raw = self.call(endpoint, params, **path_params)
        return self._mapped(endpoint, path_params, self._to_usage, raw, start, end)

    async def aget_usage(self, start: datetime, end: datetime) -> list[UsageRecord]:
        """Async :meth:`get_usage`: the same result and the same errors, without blocking the event loop.

        :raises UsageNotSupportedError: the vendor has no usage history (before any request).
        :raises CreditsConfigError: an unusable window or connection.
        :raises CreditsApiError: in the cases :meth:`get_usage` lists: ``CreditsAuthError``,
            ``CreditsExhaustedError``, ``CreditsRateLimitError``, ``CreditsServerError``,
            ``CreditsTransportError``, ``CreditsResponseError``, ``CreditsRequestError``.
        :raises AirflowNotFoundException: no connection ``conn_id``.
        """
        start, end = self._check_window(start, end)
        await self.aget_settings()
        endpoint, params, path_params = self._usage_call(start, end)
        raw = await self.acall(endpoint, params, **path_params)
        return self._mapped(endpoint, path_params, self._to_usage, raw, start, end)

    def test_connection(self) -> tuple[bool, str]:
        """Read the balance (the cheapest read-only call); used by the UI's Test button.

        :returns: ``(True, "Connected to <vendor>...: <pool>=<remaining>, ...")``, or ``(False,
            message)`` when :meth:`get_balance` raised a :class:`CreditsError`: this method
            raises none of them.
        :raises AirflowNotFoundException: no connection ``conn_id`` (Airflow's error, not caught).
        """
        try:
            balance = self.get_balance()
        except CreditsError as exc:
            return False, str(exc)
        finally:
            self.close()
        pools = ", ".join(
            f"{p.name}={p.remaining if p.remaining is not None else '?'}" for p in balance.pools
        )
        account = "" if balance.account == self.conn_id else f" account {balance.account!r}"
        return True, f"Connected to {self.vendor}{account}: {pools}"
