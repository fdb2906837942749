"""The shared HTTP base of every vendor hook.

Everything that is the same for all vendors lives here once: reading the Airflow
connection, base URL, auth injection, timeouts, ``User-Agent``, connection reuse, retries
with backoff, error mapping, response size cap, JSON and schema validation, and secret
masking. A vendor module only declares its endpoints, its auth header and how its
responses map onto :class:`~airflow_provider_credits.models.CreditBalance`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Generic, TypeVar

import httpx
from airflow.sdk import BaseHook
from pydantic import BaseModel, ConfigDict, ValidationError

from airflow_provider_credits import __version__
from airflow_provider_credits.exceptions import (
    CreditsApiError,
    CreditsAuthError,
    CreditsConfigError,
    CreditsError,
    CreditsExhaustedError,
    CreditsRateLimitError,
    CreditsRequestError,
    CreditsResponseError,
    CreditsServerError,
    CreditsTransportError,
    UsageNotSupportedError,
)
from airflow_provider_credits.hooks.settings import connection_form, extra_value
from airflow_provider_credits.hooks.transport import AiohttpTransport, connect_failure, origin
from airflow_provider_credits.models import CreditBalance, UsageRecord

ResponseT = TypeVar("ResponseT", bound=BaseModel)
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


class ResponseTooLarge(httpx.DecodingError):
    """A response body over the hook's ``max_response_bytes`` cap (raised while reading it)."""


@dataclass(frozen=True)
class ApiResponse:
    """A fully read (size-capped) HTTP response."""

    status: int
    headers: httpx.Headers
    content: bytes


@dataclass
class ConnectionSettings:
    """What a hook needs from its Airflow connection, read once."""

    base_url: str
    secret: str
    login: str
    extras: dict[str, Any]
    timeout: float
    max_retries: int
    retry_max_seconds: float

    def __repr__(self) -> str:  # never show the secret
        return f"ConnectionSettings(base_url={self.base_url!r}, login={self.login!r}, secret=***)"


def parse_retry_after(
    headers: httpx.Headers, now: float | None = None, *, rate_limited: bool = True
) -> float | None:
    """Seconds to wait as told by ``Retry-After`` (seconds or HTTP date) or ``RateLimit-Reset``.

    :param headers: response headers.
    :param now: current epoch seconds (for tests).
    :param rate_limited: whether the response was a 429. ``RateLimit-Reset`` (when the rate
        window resets, sent on every TheirStack response) only means "wait" on a 429.
    """
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", value):
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return max(0.0, when.timestamp() - (time.time() if now is None else now))
    reset = headers.get("ratelimit-reset")
    if rate_limited and reset and re.fullmatch(r"\d+(\.\d+)?", reset.strip()):
        return float(reset)
    return None


def _with_retry_after(error: CreditsApiError, response: ApiResponse | None) -> CreditsApiError:
    """A 429 that is raised carries the vendor's ``Retry-After`` (the triggers pause on it)."""
    if isinstance(error, CreditsRateLimitError) and response is not None:
        error.retry_after = parse_retry_after(response.headers)
    return error


def validation_summary(exc: ValidationError, limit: int = 5) -> str:
    """The first problems of a pydantic error as ``field.path: message``, without the input values."""
    return "; ".join(
        f"{'.'.join(map(str, err['loc'])) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)[:limit]
    )


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """The TLS context of every client: building one loads the CA bundle (about 50 ms of CPU),
    which a triggerer polling many balances must not do per request."""
    return httpx.create_ssl_context()


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

    default_timeout: ClassVar[float] = 30.0
    default_max_retries: ClassVar[int] = 4
    default_retry_max_seconds: ClassVar[float] = 120.0
    max_backoff: ClassVar[float] = 30.0

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

        host = (conn.host or "").strip()
        if host and "://" not in host:
            host = f"https://{host}"
        if host and conn.port:
            url = httpx.URL(host)
            if url.port is None:
                host = str(url.copy_with(port=int(conn.port)))
        settings = ConnectionSettings(
            base_url=(host or self.default_base_url).rstrip("/"),
            secret=(conn.password or "").strip(),
            login=(conn.login or "").strip(),
            extras=extras,
            timeout=number("timeout", self.default_timeout) or self.default_timeout,
            max_retries=int(number("max_retries", self.default_max_retries)),
            retry_max_seconds=number("retry_max_seconds", self.default_retry_max_seconds),
        )
        self._validate_settings(settings)
        secrets = {name: extra_value(extras, self.conn_type, name) for name in form.secret_fields}
        form.refuse_masked_secrets(self.conn_id, {**secrets, "password": settings.secret}, vendor=self.vendor)
        return settings

    def _validate_settings(self, settings: ConnectionSettings) -> None:
        """Vendor hook: raise :class:`CreditsConfigError` when the connection cannot work."""
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

    # -------------------------------------------------------------- vendor hooks

    def _auth_headers(self, settings: ConnectionSettings) -> dict[str, str]:
        """Vendor hook: the headers that authenticate a request."""
        raise NotImplementedError

    def _auth_params(self, settings: ConnectionSettings) -> dict[str, str]:
        """Vendor hook: query parameters that authenticate a request (kept out of errors: they name
        the path only, and :meth:`_secrets` must list every form the secret takes in a URL)."""
        return {}

    def _secrets(self) -> list[str]:
        """Every secret value that must never appear in an error message."""
        return [self._settings.secret] if self._settings and self._settings.secret else []

    def _refresh_auth(self) -> bool:
        """Vendor hook: after a 401, renew the credentials; True when a retry makes sense."""
        return False

    async def _arefresh_auth(self) -> bool:
        """Async :meth:`_refresh_auth`."""
        return False

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
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        renew_auth: bool = True,
    ) -> ApiResponse:
        """Send a request with auth, retries and error mapping; return the 2xx response.

        :param method: HTTP method.
        :param path: path below the base URL.
        :param params: query parameters.
        :param json_body: JSON request body.
        :param renew_auth: on a 401, let the vendor renew its credentials once and resend
            (False for the sign-in request itself).
        :raises CreditsApiError: a subclass naming what failed.
        """
        client = self.get_conn()
        started, attempt, refreshed = time.monotonic(), 0, False
        while True:
            attempt += 1
            response: ApiResponse | None = None
            try:
                response = self._read(client.send(self._build(method, path, params, json_body), stream=True))
            except httpx.HTTPError as exc:
                error: CreditsApiError = self._transport_error(exc, method, path)
            else:
                if response.status == 401 and renew_auth and not refreshed and self._refresh_auth():
                    refreshed = True
                    continue
                maybe_error = self._error_for(response, method, path)
                if maybe_error is None:
                    return response
                error = maybe_error
            delay = self._retry_delay(error, response, attempt, started)
            if delay is None:
                raise _with_retry_after(error, response)
            time.sleep(delay)

    async def arequest(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        renew_auth: bool = True,
    ) -> ApiResponse:
        """Async :meth:`request`; never blocks the event loop.

        The request goes straight to the hook's transport: httpx's client machinery (URL
        merging, cookie jar, auth and redirect flows, none of which these calls use) costs more
        CPU than the request itself, and a triggerer sends one per trigger and poll.
        """
        await self.aget_settings()
        transport = self._transport()
        started, attempt, refreshed = time.monotonic(), 0, False
        while True:
            attempt += 1
            response: ApiResponse | None = None
            try:
                request = self._build(method, path, params, json_body)
                response = await self._aread(await transport.handle_async_request(request))
            except httpx.HTTPError as exc:
                error: CreditsApiError = self._transport_error(exc, method, path)
            else:
                if response.status == 401 and renew_auth and not refreshed and await self._arefresh_auth():
                    refreshed = True
                    continue
                maybe_error = self._error_for(response, method, path)
                if maybe_error is None:
                    return response
                error = maybe_error
            delay = self._retry_delay(error, response, attempt, started)
            if delay is None:
                raise _with_retry_after(error, response)
            await asyncio.sleep(delay)

    def _build(
        self, method: str, path: str, params: Mapping[str, Any] | None, json_body: Any
    ) -> httpx.Request:
        """The request for ``path`` below the base URL, with the default, auth and timeout settings."""
        settings = self._settings
        assert settings is not None
        url = self._urls.get((settings.base_url, path))
        if url is None:  # parsing a URL costs more CPU than sending the request over aiohttp
            url = self._urls[settings.base_url, path] = httpx.URL(f"{settings.base_url}/{path.lstrip('/')}")
        auth_params = self._auth_params(settings)
        return httpx.Request(
            method,
            url,
            params={**auth_params, **params} if auth_params and params else (auth_params or params),
            json=json_body,
            headers={**DEFAULT_HEADERS, **self._auth_headers(settings)},
            extensions={"timeout": httpx.Timeout(settings.timeout).as_dict()},
        )

    def _check_length(self, response: httpx.Response) -> None:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise ResponseTooLarge(f"response of {declared} bytes exceeds the {self.max_response_bytes} cap")

    def _read(self, response: httpx.Response) -> ApiResponse:
        try:
            self._check_length(response)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_response_bytes:
                    raise ResponseTooLarge(f"response body exceeds the {self.max_response_bytes} byte cap")
            return ApiResponse(response.status_code, response.headers, bytes(body))
        finally:
            response.close()

    async def _aread(self, response: httpx.Response) -> ApiResponse:
        try:
            self._check_length(response)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_response_bytes:
                    raise ResponseTooLarge(f"response body exceeds the {self.max_response_bytes} byte cap")
            return ApiResponse(response.status_code, response.headers, bytes(body))
        finally:
            await response.aclose()

    # ------------------------------------------------------------ error mapping

    def _redact(self, text: str) -> str:
        for secret in self._secrets():
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def _error(self, cls: type[CreditsApiError], message: str, **context: Any) -> CreditsApiError:
        context = {k: self._redact(v) if isinstance(v, str) else v for k, v in context.items()}
        return cls(self._redact(message), vendor=self.vendor, **context)

    def _transport_error(self, exc: httpx.HTTPError, method: str, path: str) -> CreditsApiError:
        if isinstance(exc, ResponseTooLarge):
            return self._error(CreditsResponseError, str(exc), method=method, path=path)
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        detail = f"{type(exc).__name__}: {exc or 'no details'}"
        if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError) and self._settings is not None:
            # the same words from httpx (sync) and aiohttp (async), naming the host, not the path
            where = origin(self._settings.base_url)
            detail = f"could not connect to {where}" + (
                f" within {self._settings.timeout:g} s"
                if isinstance(exc, httpx.ConnectTimeout)
                else f": {connect_failure(exc)}"
            )
        return self._error(CreditsTransportError, f"request {kind}: {detail}", method=method, path=path)

    @staticmethod
    def _vendor_error_fields(body: Any, headers: httpx.Headers) -> tuple[str | None, str | None, str | None]:
        """Pull (code, message, request id) out of the vendors' error bodies."""
        code = message = request_id = None
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                code = error.get("code")
                message = error.get("message") or error.get("description") or error.get("title")
                if error.get("title") and error.get("description"):
                    message = f"{error['title']}: {error['description']}"
                request_id = error.get("requestId") or error.get("request_id")
            elif isinstance(error, str):
                message = error
            message = message or body.get("message") or body.get("detail")
            request_id = request_id or body.get("request_id") or body.get("requestId")
        request_id = request_id or headers.get("x-request-id")
        return (
            str(code) if code is not None else None,
            str(message)[:500] if message else None,
            str(request_id) if request_id is not None else None,
        )

    def _error_for(self, response: ApiResponse, method: str, path: str) -> CreditsApiError | None:
        status = response.status
        if 200 <= status < 300:
            return None
        try:
            body = json.loads(response.content) if response.content else None
        except ValueError:
            body = None
        code, message, request_id = self._vendor_error_fields(body, response.headers)
        if message is None:
            message = self._describe_non_json(response) if response.content else "empty response body"
        cls: type[CreditsApiError]
        if status in (401, 403):
            cls = CreditsAuthError
            hint = "check the API key or cookie in the connection" if status == 401 else "permission denied"
            message = f"{message} ({hint})"
        elif status == 402:
            cls = CreditsExhaustedError
            message = f"out of credits: {message}"
        elif status == 429:
            cls = CreditsRateLimitError
            message = f"rate limited: {message}"
        elif status >= 500:
            cls = CreditsServerError
        elif 300 <= status < 400:
            cls = CreditsResponseError
            message = f"unexpected redirect to {response.headers.get('location', '?')!r}"
        else:
            cls = CreditsRequestError
        return self._error(
            cls, message, method=method, path=path, status=status, code=code, request_id=request_id
        )

    @staticmethod
    def _describe_non_json(response: ApiResponse) -> str:
        text = response.content[:2000].decode("utf-8", "replace")
        if "<html" in text.lower() or "text/html" in response.headers.get("content-type", ""):
            title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
            return (
                f"an HTML page instead of JSON (title: {title.group(1).strip()[:100] if title else 'none'!r})"
            )
        return f"a non-JSON body: {text[:200]!r}"

    def _retry_delay(
        self, error: CreditsApiError, response: ApiResponse | None, attempt: int, started: float
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise ``error``."""
        settings = self._settings
        assert settings is not None
        if not error.transient or attempt > settings.max_retries:
            return None
        backoff = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        hinted = (
            parse_retry_after(response.headers, rate_limited=isinstance(error, CreditsRateLimitError))
            if response is not None
            else None
        )
        delay = max(backoff, hinted) if hinted is not None else backoff
        if time.monotonic() - started + delay > settings.retry_max_seconds:
            return None
        self.log.warning(
            "%s: %s; retry %d/%d in %.1fs", self.conn_id, error, attempt, settings.max_retries, delay
        )
        return delay

    # ------------------------------------------------------------------ parsing

    def _parse(self, endpoint: Endpoint[ResponseT], path: str, response: ApiResponse) -> ResponseT:
        try:
            data = json.loads(response.content)
        except ValueError:
            if not response.content.strip():
                message = "empty response body where JSON was expected"
            else:
                message = f"expected JSON but got {self._describe_non_json(response)}"
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

    def call(
        self, endpoint: Endpoint[ResponseT], params: Mapping[str, Any] | None = None, **path_params: Any
    ) -> ResponseT:
        """Call ``endpoint`` and return its validated response model.

        :param endpoint: the endpoint to call.
        :param params: query parameters.
        :param path_params: values for the placeholders in the endpoint's path.
        """
        path = endpoint.path.format(**path_params)
        return self._parse(
            endpoint, path, self.request(endpoint.method, path, params=params, json_body=endpoint.body)
        )

    async def acall(
        self, endpoint: Endpoint[ResponseT], params: Mapping[str, Any] | None = None, **path_params: Any
    ) -> ResponseT:
        """Async :meth:`call`."""
        path = endpoint.path.format(**path_params)
        return self._parse(
            endpoint, path, await self.arequest(endpoint.method, path, params=params, json_body=endpoint.body)
        )

    # --------------------------------------------------------- normalized API

    def _balance_call(self) -> tuple[Endpoint[Any], dict[str, Any]]:
        """Vendor hook: the endpoint (and path parameters) that reads the balance."""
        raise NotImplementedError

    def _to_balance(self, raw: Any) -> CreditBalance:
        """Vendor hook: map the vendor's balance response onto :class:`CreditBalance`."""
        raise NotImplementedError

    def _usage_call(
        self, start: datetime, end: datetime
    ) -> tuple[Endpoint[Any], dict[str, Any], dict[str, Any]]:
        """Vendor hook: (endpoint, query params, path params) that read usage history."""
        raise self._usage_not_supported()

    def _to_usage(self, raw: Any, start: datetime, end: datetime) -> list[UsageRecord]:
        """Vendor hook: map the vendor's usage response onto :class:`UsageRecord` rows."""
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
            if isinstance(exc, ValidationError):
                detail = validation_summary(exc)
            elif isinstance(exc, ArithmeticError):
                detail = f"a number or date is out of range: {type(exc).__name__}"
            else:
                detail = f"{type(exc).__name__}: {str(exc)[:200]}"
            raise self._error(
                CreditsResponseError,
                f"response holds values that cannot be used ({detail})",
                method=endpoint.method,
                path=endpoint.path.format(**path_params),
            ) from None

    def get_balance(self) -> CreditBalance:
        """Read the account's credit balance (costs no credits)."""
        endpoint, path_params = self._balance_call()
        raw = self.call(endpoint, **path_params)
        return self._mapped(endpoint, path_params, self._to_balance, raw)

    async def aget_balance(self) -> CreditBalance:
        """Async :meth:`get_balance`."""
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

        :param start: timezone-aware start of the window.
        :param end: timezone-aware end of the window.
        :raises UsageNotSupportedError: the vendor has no usage history.
        """
        start, end = self._check_window(start, end)
        endpoint, params, path_params = self._usage_call(start, end)
        raw = self.call(endpoint, params, **path_params)
        return self._mapped(endpoint, path_params, self._to_usage, raw, start, end)

    async def aget_usage(self, start: datetime, end: datetime) -> list[UsageRecord]:
        """Async :meth:`get_usage`."""
        start, end = self._check_window(start, end)
        await self.aget_settings()
        endpoint, params, path_params = self._usage_call(start, end)
        raw = await self.acall(endpoint, params, **path_params)
        return self._mapped(endpoint, path_params, self._to_usage, raw, start, end)

    def test_connection(self) -> tuple[bool, str]:
        """Read the balance (the cheapest read-only call); used by the UI's Test button."""
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
