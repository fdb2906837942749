"""The network transport of the hooks' async path: aiohttp underneath httpx's types.

httpx's own async transport (httpcore, pure-Python HTTP/1.1) costs about 0.7 ms of CPU per
request; a triggerer polling a thousand balances a second saturates its event loop with it.
aiohttp parses HTTP in C: a request sent through this transport costs about 0.25 ms. The hooks
keep httpx's requests, responses (content decoding included) and exceptions, to which every
aiohttp error is mapped here, so the sync and async paths share all their other code.

aiohttp is imported only when the first async request is sent: DAG files never pay for it.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

#: seconds an idle connection is kept for the next request (httpx's default too); a trigger
#: polling less often closes its client between polls and holds no socket while it sleeps.
KEEPALIVE_SECONDS = 5.0


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
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_context, keepalive_timeout=keepalive_seconds, limit=0),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        self._proxies: dict[tuple[str, str | None], tuple[URL | None, aiohttp.BasicAuth | None]] = {}

    @classmethod
    def acquire(cls, ssl_context: ssl.SSLContext, keepalive_seconds: float) -> SharedSession:
        """The running loop's session for these settings (opened if needed), counted as used once more."""
        sessions = cls._open.setdefault(asyncio.get_running_loop(), {})
        shared = sessions.get((ssl_context, keepalive_seconds))
        if shared is None or shared.session.closed:
            shared = sessions[ssl_context, keepalive_seconds] = cls(ssl_context, keepalive_seconds)
        shared.users += 1
        return shared

    async def release(self) -> None:
        """One user fewer; the last one closes the session and its connections."""
        self.users -= 1
        if self.users > 0:
            return
        sessions = self._open.get(self.loop, {})
        if sessions.get(self.key) is self:
            del sessions[self.key]
        await self.session.close()

    def proxy_for(self, url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The environment's proxy for ``url``'s scheme and host, looked up once per host.

        (aiohttp's ``trust_env`` reads the whole environment again at every request: 0.6 ms.)
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

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp
        from yarl import URL

        if self._shared is None or self._shared.loop is not asyncio.get_running_loop():
            self._shared = SharedSession.acquire(self._ssl_context, self._keepalive_seconds)
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

    async def aclose(self) -> None:
        """Give the session back (again: a no-op)."""
        if self._shared is not None:
            shared, self._shared = self._shared, None
            await shared.release()
