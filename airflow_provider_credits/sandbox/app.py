"""The sandbox's Starlette app: every vendor's endpoints and the ``/_sandbox`` controls.

The vendors are declared in :mod:`airflow_provider_credits.sandbox.vendors` (one module per
vendor, as in :mod:`airflow_provider_credits.hooks`); the controls in
:mod:`airflow_provider_credits.sandbox.control`. One wrapper around every vendor handler logs
the request, applies faults, checks the vendor's auth, adds the vendor's headers and renders
the reply. Errors use each vendor's own error body.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any

from airflow_provider_credits._extras import needs_extra

with needs_extra("sandbox", "the vendor sandbox"):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send

from airflow_provider_credits.sandbox import faults
from airflow_provider_credits.sandbox.control import CONTROL_PREFIX, CONTROLS, Fields
from airflow_provider_credits.sandbox.state import (
    REQUEST_SERIES,
    Fault,
    OutOfCreditsError,
    SandboxError,
    SandboxState,
)
from airflow_provider_credits.sandbox.vendors import SANDBOX_VENDORS
from airflow_provider_credits.sandbox.vendors.base import Call, Reply, SandboxVendor, VendorRoute, Window

logger = logging.getLogger("airflow_provider_credits.sandbox")

HTML_PAGE = """<!DOCTYPE html>
<html><head><title>{status} {phrase} | sandbox edge</title></head>
<body><h1>{status} {phrase}</h1><p>The origin web server is unavailable. (sandbox fault)</p></body></html>
"""


#: faults answered with the vendor's error of this kind
FAULT_ERRORS = {
    "expired_cookie": "session_expired",
    "unauthorized": "revoked",
    "out_of_credits": "insufficient",
    "forbidden": "forbidden",
}


async def _fault_reply(fault: Fault | None, vendor: SandboxVendor, state: SandboxState) -> Reply | None:
    """The reply a fault puts in place of the real one (after its delay), or None."""
    if fault is None:
        return None
    name, params = fault.scenario, fault.params
    if name in ("slow", "timeout"):
        await asyncio.sleep(params["delay"])
    elif name.startswith("rate_limit"):
        reply = vendor.error("rate_limited", state)
        wait = params.get("retry_after", 0)
        if name == "rate_limit":
            reply.headers["Retry-After"] = str(wait)
        elif name == "rate_limit_http_date":
            when = datetime.now(timezone.utc) + timedelta(seconds=wait)
            reply.headers["Retry-After"] = format_datetime(when, usegmt=True)
        return reply
    elif name == "server_error":
        return vendor.error("internal", state, status=params["status"])
    elif name == "html":
        status = params["status"]
        return Reply(status, html=HTML_PAGE.format(status=status, phrase=HTTPStatus(status).phrase))
    elif name in FAULT_ERRORS:
        return vendor.error(FAULT_ERRORS[name], state)
    return None


class _TruncatedResponse(Response):
    """Declares more bytes than it sends, then ends without completing (the connection closes)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})


def _render(fault: Fault | None, reply: Reply) -> Response:
    """Encode a reply, applying a fault that changes the body or how it is sent."""
    if reply.html is not None:
        return Response(reply.html, reply.status, reply.headers, media_type="text/html")
    name, params = (fault.scenario, fault.params) if fault else ("", {})
    content = json.dumps(faults.transform_body(name, params, reply.body)).encode()
    media = "application/json"
    if name == "malformed_json":
        content = content[: max(1, len(content) // 2)]
    elif name == "huge_body":
        content += b" " * max(0, params["size"] - len(content))
    elif name == "truncated":
        headers = {**reply.headers, "content-length": str(len(content) + params["missing"])}
        return _TruncatedResponse(content, reply.status, headers, media_type=media)
    elif name == "slow_drip":
        size, interval = max(1, params["chunk_size"]), params["interval"]

        async def drip() -> AsyncIterator[bytes]:
            for offset in range(0, len(content), size):
                await asyncio.sleep(interval)
                yield content[offset : offset + size]

        return StreamingResponse(drip(), reply.status, reply.headers, media_type=media)
    return Response(content, reply.status, reply.headers, media_type=media)


def _vendor_endpoint(vendor: SandboxVendor, route: VendorRoute) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state: SandboxState = request.app.state.sandbox
        path = request.url.path
        entry = state.log_request(vendor.name, request.method, path)
        fault = state.take_fault(vendor.name, path, vendor.sessions(request))
        entry.fault = fault.scenario if fault else None
        reply = await _fault_reply(fault, vendor, state)
        if reply is None:
            failure = None if route.public else vendor.auth(request, state)
            if failure:
                reply = vendor.error(failure, state)
            else:
                if vendor.name in REQUEST_SERIES:
                    state.record(vendor.name, "requests", 1)
                try:
                    body = await _json_body(request) if route.method == "POST" else None
                except SandboxError as exc:
                    reply = vendor.error("invalid", state, message=str(exc))
                else:
                    call = Call(state, request.path_params, request.query_params, body)
                    reply = vendor.unknown_id(call) or route.handler(call)
        extra = vendor.headers(state, request.app.state.window, reply, fault)
        reply.headers = {**extra, **reply.headers}
        entry.status = reply.status
        # Paths only: never headers or query strings, so no secret reaches the log.
        logger.info(
            "%s %s %s -> %d%s",
            vendor.name,
            request.method,
            path,
            reply.status,
            f" [fault {entry.fault}]" if fault else "",
        )
        return _render(fault, reply)

    return endpoint


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise SandboxError("the request body is not JSON") from None


async def _control(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    action = CONTROLS[(request.method, request.url.path.removeprefix(CONTROL_PREFIX))]
    try:
        body = await _json_body(request) if request.method == "POST" else None
        if body is not None and not isinstance(body, dict):
            raise SandboxError("the request body must be a JSON object")
        return JSONResponse(action(state, Fields(body or {}), request.query_params))
    except OutOfCreditsError as exc:
        reply = SANDBOX_VENDORS[exc.vendor].error("insufficient", state, message=str(exc))
        return JSONResponse(reply.body, 402)
    except SandboxError as exc:
        return JSONResponse({"error": str(exc), "field": exc.field}, 400)


def create_app(state: SandboxState) -> Starlette:
    """Build the ASGI app serving ``state``.

    :param state: the accounts to serve (kept on ``app.state.sandbox``).
    """
    routes = [
        Route(r.path, _vendor_endpoint(vendor, r), methods=[r.method])
        for vendor in SANDBOX_VENDORS.values()
        for r in vendor.routes
    ]
    methods: dict[str, list[str]] = {}
    for method, path in CONTROLS:
        methods.setdefault(path, []).append(method)
    routes += [Route(CONTROL_PREFIX + path, _control, methods=m) for path, m in methods.items()]
    app = Starlette(routes=routes)
    app.state.sandbox = state
    app.state.window = Window()
    return app
