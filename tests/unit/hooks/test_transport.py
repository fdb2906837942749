"""The async path's aiohttp transport, against real loopback servers that answer as scripted.

respx cannot see this transport (it mocks httpx's own), so these tests cover what the
transport itself must get right: requests on the wire, responses and their decoding,
connection reuse, proxies, and every network failure mapped onto httpx's exceptions (which
the hooks turn into ``CreditsTransportError``).
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from airflow_provider_credits.exceptions import CreditsTransportError
from airflow_provider_credits.hooks.base import CreditsHook, shared_ssl_context
from airflow_provider_credits.hooks.transport import AiohttpTransport, SharedSession, connect_failure
from tests.support.vendor_api import SECRET, VENDOR_BY_TYPE

Reply = Callable[[bytes, bytes], bytes | None]


def http(status: int = 200, body: bytes = b"{}", headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response."""
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class RawServer:
    """What a scripted loopback server saw: connections and (request head, body) pairs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []


@asynccontextmanager
async def raw_server(reply: Reply, close_after_reply: bool = False) -> AsyncIterator[RawServer]:
    """Serve on a free loopback port; ``reply(head, body)`` returns raw bytes, or None to hang."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ),
                    0,
                )
                body = await reader.readexactly(length)
                seen.requests.append((head, body))
                answer = reply(head, body)
                if answer is None:
                    await asyncio.sleep(60)
                    return
                writer.write(answer)
                await writer.drain()
                if close_after_reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    seen = RawServer(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    async with server:
        yield seen


@asynccontextmanager
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A client on the transport; its timeout is generous (a test of timing out sets its own)."""
    async with httpx.AsyncClient(transport=AiohttpTransport(shared_ssl_context()), timeout=30) as c:
        yield c


async def test_request_and_response_cross_the_wire_unchanged() -> None:
    reply = http(201, b'{"ok": true}', {"Set-Cookie": "a=1", "X-Credits-Remaining": "42"})
    reply = reply.replace(b"\r\n\r\n", b"\r\nSet-Cookie: b=2\r\n\r\n", 1)
    async with raw_server(lambda head, body: reply) as server, client() as c:
        response = await c.post(
            f"{server.url}/v1/x?q=a%20b", json={"n": 1}, headers={"Authorization": "Bearer k"}
        )
    head, body = server.requests[0]
    assert head.startswith(b"POST /v1/x?q=a%20b HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer k\r\n" in head
    assert json.loads(body) == {"n": 1}
    assert response.status_code == 201
    assert response.json() == {"ok": True}
    assert response.headers["x-credits-remaining"] == "42"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert dict(response.cookies) == {"a": "1", "b": "2"}


async def test_compressed_bodies_are_decoded_once() -> None:
    payload = json.dumps({"credits": 7}).encode()
    reply = http(200, gzip.compress(payload), {"Content-Encoding": "gzip"})
    async with raw_server(lambda head, body: reply) as server, client() as c:
        response = await c.get(server.url)
    assert response.json() == {"credits": 7}


async def test_connections_are_kept_alive_between_requests() -> None:
    async with raw_server(lambda head, body: http()) as server, client() as c:
        for _ in range(3):
            assert (await c.get(server.url)).status_code == 200
    assert (server.connections, len(server.requests)) == (1, 3)


async def test_transports_of_one_event_loop_share_a_connection_pool() -> None:
    first, second = AiohttpTransport(shared_ssl_context()), AiohttpTransport(shared_ssl_context())

    async def get(transport: AiohttpTransport, url: str) -> None:
        response = await transport.handle_async_request(httpx.Request("GET", url))
        await response.aread()
        await response.aclose()

    async with raw_server(lambda head, body: http()) as server:
        for transport in (first, second, first):
            await get(transport, server.url)
        await first.aclose()
        await get(second, server.url)  # the last user keeps the pool open
        assert (server.connections, len(server.requests)) == (1, 4)
        await second.aclose()
    assert not SharedSession._open[asyncio.get_running_loop()]  # closed with its last user


async def test_a_response_closed_before_its_end_does_not_poison_the_pool() -> None:
    """A body abandoned half-read (as the size cap does) closes its connection instead of
    leaving unread bytes in front of the next response."""
    big = http(body=b'{"pad": "' + b"x" * 200_000 + b'"}')
    transport = AiohttpTransport(shared_ssl_context())
    async with raw_server(lambda head, body: big if len(seen.requests) == 1 else http()) as seen:
        response = await transport.handle_async_request(httpx.Request("GET", seen.url))
        async for _ in response.aiter_raw():
            break  # stop after the first chunk
        await response.aclose()
        second = await transport.handle_async_request(httpx.Request("GET", seen.url))
        assert json.loads(await second.aread()) == {}
        await transport.aclose()
    assert seen.connections == 2


async def test_a_closed_transport_opens_a_new_session_on_next_use() -> None:
    transport = AiohttpTransport(shared_ssl_context())
    async with raw_server(lambda head, body: http()) as server:
        for _ in range(2):
            response = await transport.handle_async_request(httpx.Request("GET", server.url))
            await response.aread()
            await transport.aclose()
    assert server.connections == 2


async def test_refused_connection_is_a_connect_error() -> None:
    async with raw_server(lambda head, body: http()) as server:
        url = server.url
    async with client() as c:
        with pytest.raises(httpx.ConnectError):
            await c.get(url)


async def test_silent_server_is_a_read_timeout() -> None:
    async with raw_server(lambda head, body: None) as server, client() as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get(server.url, timeout=0.3)


@pytest.mark.parametrize(
    "reply",
    [
        b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"cut":',
        b"this is not HTTP\r\n\r\n",
        b"",
    ],
    ids=["body-cut-short", "not-http", "closed-without-answer"],
)
async def test_broken_responses_are_protocol_errors(reply: bytes) -> None:
    async with raw_server(lambda head, body: reply, close_after_reply=True) as server, client() as c:
        with pytest.raises(httpx.TransportError) as caught:
            await c.get(server.url)
    assert isinstance(caught.value, httpx.RemoteProtocolError | httpx.ReadError)


async def test_unsupported_scheme() -> None:
    transport = AiohttpTransport(shared_ssl_context())
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/x"))
    await transport.aclose()


async def test_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY is honoured as httpx honours it, and NO_PROXY bypasses it."""
    monkeypatch.setenv("NO_PROXY", "localhost")
    transport = AiohttpTransport(shared_ssl_context())

    async def get(url: str) -> object:
        response = await transport.handle_async_request(httpx.Request("GET", url))
        return json.loads(await response.aread())

    async with (
        raw_server(lambda head, body: http(body=b'{"via": "proxy"}')) as proxy,
        raw_server(lambda head, body: http(body=b'{"via": "direct"}')) as direct,
    ):
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        try:
            assert await get("http://vendor.invalid/v1/usage") == {"via": "proxy"}
            assert await get(direct.url.replace("127.0.0.1", "localhost")) == {"via": "direct"}
        finally:
            await transport.aclose()
    assert proxy.requests[0][0].startswith(b"GET http://vendor.invalid/v1/usage HTTP/1.1")
    assert direct.requests


@pytest.mark.parametrize("conn_type", sorted(VENDOR_BY_TYPE))
def test_hooks_send_async_requests_over_aiohttp(make_hook, conn_type: str) -> None:
    """The async path really uses this transport: a refused port fails as a transport error,
    with the vendor, the endpoint and no secret in the message."""
    hook: CreditsHook = make_hook(conn_type, host="http://127.0.0.1:9", max_retries=0)
    assert isinstance(hook._async_transport(), AiohttpTransport)

    async def read() -> None:
        try:
            await hook.aget_balance()
        finally:
            await hook.aclose()

    with pytest.raises(CreditsTransportError) as caught:
        asyncio.run(read())
    message = str(caught.value)
    assert "could not connect to http://127.0.0.1:9" in message and conn_type in message
    assert SECRET not in message


@pytest.mark.parametrize("host", ["http://127.0.0.1:9", "http://localhost:9"])
@pytest.mark.parametrize("conn_type", sorted(VENDOR_BY_TYPE))
def test_a_refused_connection_reads_the_same_on_the_worker_and_in_the_trigger(
    make_hook, conn_type: str, host: str
) -> None:
    """Issue 22: httpx (sync) and aiohttp (async) failed with different texts (aiohttp's named
    ``ssl:default`` for a plain http URL). Both name the host and port, the reason, no secret."""
    hook: CreditsHook = make_hook(conn_type, host=host, max_retries=0)

    async def read() -> None:
        async with hook:
            await hook.aget_balance()

    with pytest.raises(CreditsTransportError) as sync:
        hook.get_balance()
    with pytest.raises(CreditsTransportError) as in_trigger:
        asyncio.run(read())
    assert str(sync.value) == str(in_trigger.value)
    assert str(sync.value).endswith(f"request failed: could not connect to {host}: connection refused")
    assert SECRET not in str(sync.value)


def _chain(*errors: BaseException) -> BaseException:
    """``errors[0]`` raised from ``errors[1]``, raised from ``errors[2]``..."""
    for outer, inner in itertools.pairwise(errors):
        outer.__cause__ = inner
    return errors[0]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            _chain(httpx.ConnectError("x"), ConnectionRefusedError(111, "Connection refused")),
            "connection refused",
        ),
        (_chain(httpx.ConnectError("x"), OSError(113, "No route to host")), "no route to host"),
        (
            _chain(httpx.ConnectError("x"), socket.gaierror(-2, "Name or service not known")),
            "host name not found",
        ),
        (httpx.ConnectError("Multiple exceptions: [Errno 111] a, [Errno 111] b"), "connection refused"),
        (_chain(httpx.ConnectError("x"), ssl.SSLCertVerificationError(1, "bad")), "TLS failed: bad"),
        (httpx.ConnectError("[Errno 111] one, [Errno 99] other"), "[Errno 111] one, [Errno 99] other"),
        (httpx.ConnectError(""), "ConnectError"),
    ],
    ids=["refused", "unreachable", "dns", "all-refused", "tls", "mixed", "empty"],
)
def test_connect_failures_in_words(error: BaseException, reason: str) -> None:
    assert connect_failure(error) == reason


def test_connect_failure_survives_a_cause_chain_that_loops() -> None:
    """An error object raised again inside its own handling chains back to itself."""
    refused = ConnectionRefusedError(111, "Connection refused")
    outer = httpx.ConnectError("boom")
    outer.__cause__ = refused
    refused.__context__ = outer  # the loop
    assert connect_failure(outer) == "connection refused"
