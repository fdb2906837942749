"""Reading a vendor's response: the whole body, up to a size cap, for the sync and async paths."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx


class ResponseTooLarge(httpx.DecodingError):
    """A response body over the hook's ``max_response_bytes`` cap (raised while reading it)."""


@dataclass(frozen=True)
class ApiResponse:
    """A fully read (size-capped) HTTP response."""

    status: int
    headers: httpx.Headers
    content: bytes


class _CappedBody:
    """The body of ``response`` gathered chunk by chunk, refused once over ``cap`` bytes."""

    __slots__ = ("body", "cap", "response")

    def __init__(self, response: httpx.Response, cap: int) -> None:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(f"response of {declared} bytes exceeds the {cap} cap")
        self.response, self.cap, self.body = response, cap, bytearray()

    def add(self, chunk: bytes) -> None:
        self.body += chunk
        if len(self.body) > self.cap:
            raise ResponseTooLarge(f"response body exceeds the {self.cap} byte cap")

    def done(self) -> ApiResponse:
        return ApiResponse(self.response.status_code, self.response.headers, bytes(self.body))


def read_capped(response: httpx.Response, cap: int) -> ApiResponse:
    """Read a streamed response whole and close it.

    :param response: a response sent with ``stream=True``.
    :param cap: the most bytes accepted (the declared ``Content-Length`` and the bytes read).
    :raises ResponseTooLarge: the body is, or says it is, larger than ``cap``.
    """
    try:
        body = _CappedBody(response, cap)
        for chunk in response.iter_bytes():
            body.add(chunk)
        return body.done()
    finally:
        response.close()


async def aread_capped(response: httpx.Response, cap: int) -> ApiResponse:
    """Async :func:`read_capped`."""
    try:
        body = _CappedBody(response, cap)
        async for chunk in response.aiter_bytes():
            body.add(chunk)
        return body.done()
    finally:
        await response.aclose()


def describe_non_json(response: ApiResponse) -> str:
    """A body that is not JSON, in words: an HTML page by its title, else its first characters."""
    text = response.content[:2000].decode("utf-8", "replace")
    if "<html" in text.lower() or "text/html" in response.headers.get("content-type", ""):
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        return f"an HTML page instead of JSON (title: {title.group(1).strip()[:100] if title else 'none'!r})"
    return f"a non-JSON body: {text[:200]!r}"
