"""The network transport of the hooks' async path: aiohttp underneath httpx's types.

httpx's own async transport (httpcore, pure-Python HTTP/1.1) costs much more CPU per request
than aiohttp, which parses HTTP in C; a triggerer polling a thousand balances a second
saturates its event loop with it. The hooks keep httpx's requests, responses (content decoding
included) and exceptions, to which every aiohttp error is mapped here, so the sync and async
paths share all their other code. Why this transport and not httpx's own or the
``httpx-aiohttp`` package, with the figures: ``benchmarks/NOTES.md``.

aiohttp is imported only when the first async request is sent: DAG files never pay for it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import socket
import ssl
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

#: seconds an idle connection is kept for the next request (httpx's default too); a trigger
#: polling less often closes its client between polls and holds no socket while it sleeps.
KEEPALIVE_SECONDS = 5.0


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """The TLS context of every client, sync and async: building one loads the CA bundle, which
    costs more CPU than a request (figures: ``benchmarks/NOTES.md``), so it is built once."""
    return httpx.create_ssl_context()


@contextmanager
def _httpx_errors(request: httpx.Request) -> Iterator[None]:
    """Raise aiohttp's errors (while sending or while reading the body) as httpx's."""
    import aiohttp

    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
    except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:  # sock_read; TimeoutError on 3.11+
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        raise httpx.UnsupportedProtocol(f"cannot request {exc}", request=request) from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError(str(exc), request=request) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise httpx.NetworkError(str(exc) or type(exc).__name__, request=request) from exc


def origin(url: str | httpx.URL) -> str:
    """``scheme://host:port`` of ``url`` (the port always shown; no user info, path or query)."""
    parsed = httpx.URL(url)
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme, 0)
    return f"{parsed.scheme}://{host}:{port}"


def connect_failure(exc: BaseException) -> str:
    """Why a connection could not be made, in the same words for httpx (sync) and aiohttp (async).

    Looks through the chain of causes for what the operating system said: ``"connection
    refused"``, ``"host name not found"``, ``"TLS failed: <reason>"``...; else the error's text.
    """
    codes: set[int] = set()
    visited: set[int] = set()  # a chain re-raised in a loop can point back at itself
    seen: BaseException | None = exc
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        if isinstance(seen, socket.gaierror):
            return "host name not found"
        if isinstance(seen, ssl.SSLError):
            why = getattr(seen, "verify_message", None) or getattr(seen, "reason", None) or seen.strerror
            return f"TLS failed: {why or seen}"
        if isinstance(seen, OSError) and seen.errno:
            codes.add(seen.errno)
        codes.update(int(code) for code in re.findall(r"\[Errno (-?\d+)\]", str(seen)))
        seen = seen.__cause__ or seen.__context__
    if len(codes) == 1:
        (code,) = codes
        return "host name not found" if code < 0 else os.strerror(code).lower()
    return str(exc) or type(exc).__name__


class _AiohttpBody(httpx.AsyncByteStream):
    """An aiohttp response body as httpx streams it (raw bytes: httpx decodes them)."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class SharedSession:
    """One aiohttp session (connection pool) shared by the open transports of an event loop.

    A triggerer runs every trigger in one loop: its triggers reuse each other's idle
    connections, and pay for a session, a TLS handshake and a look at the proxy variables
    once per vendor host instead of once per trigger. The pool has no size limit, as separate
    pools would not have one.

    The session is closed, whichever comes first:

    * when its last user gives it back (:meth:`release`: ``hook.aclose()``, ``async with hook``);
    * soon after its last user is garbage-collected without giving it back (:meth:`forget`);
    * when its event loop shuts down (``asyncio.run``, ``asyncio.Runner``, a triggerer): the
      session holds an async generator, which the loop's ``shutdown_asyncgens`` closes.

    So a script's ``asyncio.run(hook.aget_balance())`` without ``aclose`` leaves nothing open
    and prints no "Unclosed client session" at exit.
    """

    #: the shared sessions, by event loop, TLS context and keep-alive.
    _open: weakref.WeakKeyDictionary[
        asyncio.AbstractEventLoop, dict[tuple[ssl.SSLContext, float], SharedSession]
    ]
    _open = weakref.WeakKeyDictionary()

    def __init__(self, ssl_context: ssl.SSLContext, keepalive_seconds: float) -> None:
        import aiohttp

        self.key = (ssl_context, keepalive_seconds)
        self.loop = asyncio.get_running_loop()
        self.users = 0
        #: set once the session is being closed: the next user opens a new one.
        self.closing = False
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_context, keepalive_timeout=keepalive_seconds, limit=0),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        self._proxies: dict[tuple[str, str | None], tuple[URL | None, aiohttp.BasicAuth | None]] = {}
        self._guard = self._open_until_closed()

    @classmethod
    async def acquire(cls, ssl_context: ssl.SSLContext, keepalive_seconds: float) -> SharedSession:
        """The running loop's session for these settings (opened if needed), counted as used once more."""
        sessions = cls._open.setdefault(asyncio.get_running_loop(), {})
        shared = sessions.get((ssl_context, keepalive_seconds))
        if shared is None or shared.closing or shared.session.closed:
            shared = sessions[ssl_context, keepalive_seconds] = cls(ssl_context, keepalive_seconds)
            await anext(shared._guard)  # now the loop knows it: its shutdown closes the session
        shared.users += 1
        return shared

    async def _open_until_closed(self) -> AsyncGenerator[None, None]:
        """Suspended while the session is open; the loop's shutdown closes it, and with it the session."""
        try:
            yield
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the session and its connections (at once, whoever still uses it; again: a no-op)."""
        self.closing = True
        sessions = self._open.get(self.loop, {})
        if sessions.get(self.key) is self:
            del sessions[self.key]
        await self.session.close()  # a second, concurrent close returns at once
        if not getattr(self._guard, "ag_running", False):  # else: called from it
            await self._guard.aclose()  # the session is closed: its last step never waits

    async def release(self) -> None:
        """One user fewer; the last one closes the session and its connections."""
        self.users -= 1
        if self.users <= 0:
            await self.close()

    def forget(self) -> None:
        """One user fewer, from a user collected without :meth:`release` (from any thread)."""
        self.users -= 1
        if self.users <= 0 and not self.loop.is_closed():
            with suppress(RuntimeError):  # closed meanwhile: its shutdown has closed the session
                self.loop.call_soon_threadsafe(self._close_if_unused)

    def _close_if_unused(self) -> None:
        if self.users <= 0 and not self.closing:
            self.closing = True
            self._closer = self.loop.create_task(self.close())

    def proxy_for(self, url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The environment's proxy for ``url``'s scheme and host, looked up once per host.

        (aiohttp's ``trust_env`` reads the whole environment again at every request; the cost
        is in ``benchmarks/NOTES.md``.)
        """
        from aiohttp.helpers import get_env_proxy_for_url

        key = (url.scheme, url.host)
        if key not in self._proxies:
            try:
                self._proxies[key] = get_env_proxy_for_url(url)
            except LookupError:  # no proxy, or NO_PROXY names the host
                self._proxies[key] = (None, None)
        return self._proxies[key]


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx async transport sending requests with the event loop's :class:`SharedSession`.

    The transport takes the session on its first request and gives it back in :meth:`aclose`
    (``AsyncClient.aclose``, ``hook.aclose``). Cookies, redirects and content decoding stay
    httpx's job: the session has no cookie jar, never follows a redirect and never
    decompresses. Proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY``, ...), as
    with httpx.

    :param ssl_context: the TLS context of every connection.
    :param keepalive_seconds: how long an idle connection is kept for the next request.
    """

    def __init__(self, ssl_context: ssl.SSLContext, keepalive_seconds: float = KEEPALIVE_SECONDS) -> None:
        self._ssl_context = ssl_context
        self._keepalive_seconds = keepalive_seconds
        self._shared: SharedSession | None = None
        self._finalizer: weakref.finalize[[], AiohttpTransport] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp
        from yarl import URL

        if self._shared is None or self._shared.loop is not asyncio.get_running_loop():
            await self._acquire()
            assert self._shared is not None
        url = URL(str(request.url), encoded=True)
        proxy, proxy_auth = self._shared.proxy_for(url)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        with _httpx_errors(request):
            response = await self._shared.session.request(
                request.method,
                url,
                proxy=proxy,
                proxy_auth=proxy_auth,
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                data=await request.aread() or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeouts.get("pool"),
                    sock_connect=timeouts.get("connect"),
                    sock_read=timeouts.get("read"),
                ),
            )
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_AiohttpBody(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def _acquire(self) -> None:
        """Take the running loop's session (giving back the one of another loop, if any)."""
        if self._shared is not None:
            self._unfinalize()
            self._shared.forget()
        self._shared = shared = await SharedSession.acquire(self._ssl_context, self._keepalive_seconds)
        self._finalizer = weakref.finalize(self, shared.forget)  # collected without aclose
        self._finalizer.atexit = False

    def _unfinalize(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    async def aclose(self) -> None:
        """Give the session back (again: a no-op)."""
        if self._shared is not None:
            shared, self._shared = self._shared, None
            self._unfinalize()
            await shared.release()
