"""From a failed request to the package's exception tree, in words, without secrets.

- :func:`status_error`: a non-2xx response -> the class (by status) and message, with the
  vendor's own error code and request id when its body or headers carry them;
- :func:`transport_error`: an httpx error (timeout, refused connection, body over the size
  cap...) -> the class and message, naming the host rather than the path for connect failures;
- :func:`parse_retry_after`: how long the vendor asks us to wait (``Retry-After``,
  ``RateLimit-Reset``);
- :func:`redact`: secrets replaced by ``***`` in a message;
- :func:`validation_summary` / :func:`unusable_values`: pydantic and arithmetic failures in a
  line, without the input values.

The classes themselves are in :mod:`airflow_provider_credits.exceptions`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import ValidationError

from airflow_provider_credits import exceptions as exc_tree
from airflow_provider_credits.exceptions import CreditsApiError, CreditsResponseError
from airflow_provider_credits.hooks.responses import ApiResponse, ResponseTooLarge, describe_non_json
from airflow_provider_credits.hooks.transport import connect_failure, origin

#: (code, message, request id) found in a vendor's error response.
ErrorFields = tuple[str | None, str | None, str | None]

_SECONDS = re.compile(r"\d+(\.\d+)?")


def parse_retry_after(
    headers: httpx.Headers, now: float | None = None, *, rate_limited: bool = True
) -> float | None:
    """Seconds to wait as told by ``Retry-After`` (seconds or HTTP date) or ``RateLimit-Reset``.

    :param headers: response headers.
    :param now: current epoch seconds (for tests).
    :param rate_limited: whether the response was a 429. ``RateLimit-Reset`` (when the rate
        window resets, sent on every TheirStack response) only means "wait" on a 429.
    :returns: seconds (0 for a date in the past), None when the headers give no usable hint.
    """
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        if _SECONDS.fullmatch(value):
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
    if rate_limited and reset and _SECONDS.fullmatch(reset.strip()):
        return float(reset)
    return None


def validation_summary(exc: ValidationError, limit: int = 5) -> str:
    """The first problems of a pydantic error as ``field.path: message``, without the input values."""
    return "; ".join(
        f"{'.'.join(map(str, err['loc'])) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)[:limit]
    )


def unusable_values(exc: ValidationError | ArithmeticError | ValueError) -> str:
    """Why values that passed a response schema cannot be used once combined, in a line."""
    if isinstance(exc, ValidationError):
        return validation_summary(exc)
    if isinstance(exc, ArithmeticError):
        return f"a number or date is out of range: {type(exc).__name__}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret of four characters or more replaced by ``***``."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def vendor_error_fields(body: Any, headers: httpx.Headers) -> ErrorFields:
    """Pull (code, message, request id) out of the vendors' error bodies (decoded JSON or None)."""
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


def status_error(
    response: ApiResponse, fields: Callable[[Any, httpx.Headers], ErrorFields] = vendor_error_fields
) -> tuple[type[CreditsApiError], str, dict[str, Any]]:
    """The error a response other than a 2xx stands for.

    :param response: the response read.
    :param fields: reads (code, message, request id) from the decoded body and the headers.
    :returns: (class, message, context): the context holds ``status``, ``code`` and ``request_id``.
    """
    status = response.status
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    code, message, request_id = fields(body, response.headers)
    if message is None:
        message = describe_non_json(response) if response.content else "empty response body"
    cls: type[CreditsApiError]
    if status in (401, 403):
        cls = exc_tree.CreditsAuthError
        hint = "check the API key or cookie in the connection" if status == 401 else "permission denied"
        message = f"{message} ({hint})"
    elif status == 402:
        cls = exc_tree.CreditsExhaustedError
        message = f"out of credits: {message}"
    elif status == 429:
        cls = exc_tree.CreditsRateLimitError
        message = f"rate limited: {message}"
    elif status >= 500:
        cls = exc_tree.CreditsServerError
    elif 300 <= status < 400:
        cls = CreditsResponseError
        message = f"unexpected redirect to {response.headers.get('location', '?')!r}"
    else:
        cls = exc_tree.CreditsRequestError
    return cls, message, {"status": status, "code": code, "request_id": request_id}


def transport_error(
    exc: httpx.HTTPError, base_url: str | None, timeout: float | None
) -> tuple[type[CreditsApiError], str]:
    """The error a request that got no (usable) response stands for.

    :param exc: what httpx raised (the async transport maps aiohttp's errors onto httpx's).
    :param base_url: the connection's base URL, named in connect failures; None when unknown.
    :param timeout: the connection's timeout in seconds, named in connect timeouts.
    :returns: (class, message).
    """
    if isinstance(exc, ResponseTooLarge):
        return CreditsResponseError, str(exc)
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    detail = f"{type(exc).__name__}: {exc or 'no details'}"
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError) and base_url is not None:
        # the same words from httpx (sync) and aiohttp (async), naming the host, not the path
        detail = f"could not connect to {origin(base_url)}" + (
            f" within {timeout:g} s" if isinstance(exc, httpx.ConnectTimeout) else f": {connect_failure(exc)}"
        )
    return exc_tree.CreditsTransportError, f"request {kind}: {detail}"
