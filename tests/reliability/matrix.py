"""The fault matrix: every sandbox fault scenario, for every vendor, through every way of reading a balance.

A :class:`Cell` is one (surface, vendor, scenario): the faults switched on in the sandbox and the
outcome the package documents for them. :func:`run_cell` plays a cell against a running sandbox and
returns what happened (the outcome, the vendor requests in the sandbox's log, the client's own
attempts, the wall time); :func:`problems` compares that with the cell's expectation. The tests
(``test_fault_matrix.py``) and the report (``report.py``) share both, so the published figures come
from exactly the code the suite asserts.

Surfaces: the hook's ``get_balance`` (``sync``) and ``aget_balance`` (``async``), and the
:class:`~airflow_provider_credits.sensors.credit_threshold.CreditThresholdSensor` in ``poke``,
``reschedule`` and ``deferrable`` mode, driven in-process like the sensor's unit tests (``tests/support/sensor_modes.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from airflow_provider_credits.exceptions import (
    CreditsApiError,
    CreditsAuthError,
    CreditsExhaustedError,
    CreditsRateLimitError,
    CreditsResponseError,
    CreditsServerError,
    CreditsTransportError,
)
from airflow_provider_credits.hooks import get_credits_hook
from airflow_provider_credits.hooks.transport import AiohttpTransport
from airflow_provider_credits.models import CreditBalance
from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.server import SandboxClient
from airflow_provider_credits.vendors import VENDORS as REGISTRY
from airflow_provider_credits.version_compat import AirflowSensorTimeout
from tests.support.sensor_modes import run_sensor

VENDORS: tuple[str, ...] = keys.VENDORS
HOOK_SURFACES = ("sync", "async")
SENSOR_SURFACES = ("poke", "reschedule", "deferrable")
SURFACES = HOOK_SURFACES + SENSOR_SURFACES

#: the path of each vendor's balance endpoint, as errors must name it
BALANCE_PATHS = {
    "clay": f"/v3/workspaces/{keys.CLAY_WORKSPACE_ID}/credits",
    "clodura": "/api/v1/credits",
    "theirstack": "/v0/billing/credit-balance",
    "trendtrack": "/v1/usage",
    # the registry vendors: their balance request is declared in the registry
    **{v: spec.balance.path for v in keys.REGISTRY_API_KEYS if (spec := REGISTRY[v]).balance},
}
#: vendors whose documented rate limit makes the hook wait longer after a 429 without a hint than
#: the matrix's retry budget (``HOOK_KWARGS``): it gives up at once and the sensor tries again later
SLOW_RATE = tuple(
    v for v in VENDORS if v in REGISTRY and (r := REGISTRY[v].balance_rate_limit) and r[1] / r[0] > 10.0
)
#: vendors that send their amount as a string: the ``nulls`` fault (JSON numbers only) leaves it
NUMBERS_AS_STRINGS = ("zerobounce",)

#: the secret of the ``<vendor>_wrongkey`` connections (a key no sandbox vendor accepts)
WRONG_KEY = "wrong-key-NOT-REAL-0000"
#: per-request timeout of the matrix's connections (seconds): generous, so that a loaded machine
#: never turns an ordinary answer into a timeout
CLIENT_TIMEOUT = 5.0
#: seconds after which the sandbox's ``timeout`` fault answers: far over the timeouts below, so
#: that not even a client the machine stalls for seconds gets the answer in time (and short: the
#: answer still runs the vendor's handler, e.g. counts against Lusha's 5 requests a minute)
TIMEOUT_DELAY = 5.0
#: per-request timeout of the ``timeout`` connections (seconds), in the read-timeout storm: every
#: request gets the fault and none needs an answer, so the timeout can be short
SHORT_TIMEOUT = 0.3
#: per-request timeout of the ``timeoutonce`` connections (seconds), in "read timeout x1": the
#: request after the timed-out one must get its ordinary answer in time, which a loaded machine
#: delays (at most 0.55 s in 5,000 reads measured on 2 cores beside 6 busy processes)
RETRY_TIMEOUT = 2.0
#: connections whose timeout is not ``CLIENT_TIMEOUT``, by kind (see :func:`conn_id`)
TIMEOUT_KINDS = {"timeout": SHORT_TIMEOUT, "timeoutonce": RETRY_TIMEOUT}
#: hook retries in the matrix: a storm therefore costs ``HOOK_RETRIES + 1`` requests
HOOK_RETRIES = 2
#: keyword arguments of every hook in the matrix: fast backoff, bounded retry time
HOOK_KWARGS: dict[str, Any] = {"backoff": 0.01, "max_retries": HOOK_RETRIES, "retry_max_seconds": 10.0}
#: sensor arguments of cells that end in success or a fatal error
SENSOR_KWARGS: dict[str, Any] = {"min_remaining": 1, "poke_interval": 0.05, "timeout": 20}
#: sensor arguments of cells that wait out a never-ending transient fault: the first check (a
#: request, see ``RETRY_TIMEOUT``) ends well before the timeout, so a second one always comes;
#: one check per 0.5 s, so that at most 5 fit (the cells allow 2 to 10)
TIMING_OUT: dict[str, Any] = {"min_remaining": 1, "poke_interval": 0.5, "timeout": 2.0}
#: a hang guard, not a timing target: no cell may take longer than this
WALL_LIMIT = 30.0


def conn_id(vendor: str, kind: str = "reliability") -> str:
    """The matrix's connection of ``vendor``: ``reliability`` (the sandbox), ``refused`` (a closed
    port), ``wrongkey`` (a secret the sandbox refuses) or one of :data:`TIMEOUT_KINDS`."""
    return f"{vendor}_{kind}"


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def connection_env(sandbox: SandboxClient, refused_url: str) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables of the matrix's connections (their timeouts, see :func:`conn_id`)."""
    env: dict[str, str] = {}
    for default_id, conn in sandbox.connections().items():
        vendor = conn["conn_type"]
        kinds = ("reliability", "refused", "wrongkey", *TIMEOUT_KINDS)
        for kind in kinds:
            host = refused_url if kind == "refused" else sandbox.url
            timeout = TIMEOUT_KINDS.get(kind, CLIENT_TIMEOUT)
            value = {**conn, "host": host, "extra": {**conn.get("extra", {}), "timeout": timeout}}
            if kind == "wrongkey":
                value["password"] = WRONG_KEY
            env[f"AIRFLOW_CONN_{conn_id(vendor, kind).upper()}"] = json.dumps(value)
        assert default_id == f"{vendor}_default"
    return env


@dataclass(frozen=True)
class Fault:
    """A sandbox fault: ``count`` requests (None: until cleared) of ``scenario`` with ``params``."""

    scenario: str
    count: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """A fault scenario and the outcome the package documents for it, per kind of surface.

    :param name: short label (the table's row).
    :param faults: faults switched on before the read.
    :param hook: expected hook outcome: None (a balance) or the error class.
    :param hook_requests: vendor requests the hook makes.
    :param sensor: expected sensor outcome: None (the gate opens) or the error class.
    :param sensor_requests: vendor requests the sensor makes: exact, or an inclusive range.
    :param texts: substrings the error message must contain (what failed, in words).
    :param status: the HTTP status the error must name, when one arrived.
    :param refused: point the connection at a closed port instead of the sandbox.
    :param wrong_key: use a connection whose secret the vendor refuses (ZeroBounce and Prospeo
        say so inside an HTTP 200 body).
    :param timeout_kind: use the connection of this kind of :data:`TIMEOUT_KINDS` (its timeout
        instead of :data:`CLIENT_TIMEOUT`).
    :param vendors: vendors the scenario applies to (None: all).
    :param hook_kwargs: extra hook arguments of this scenario.
    :param sensor_kwargs: sensor arguments replacing :data:`SENSOR_KWARGS`.
    :param same_balance: on success, the balance must equal a fault-free read's.
    :param hook_only: not run through the sensor (the sensor's own hook reads once per check).
    :param sensor_only: not run through the hook.
    """

    name: str
    faults: tuple[Fault, ...]
    hook: type[BaseException] | None
    hook_requests: int
    sensor: type[BaseException] | None
    sensor_requests: int | tuple[int, int]
    texts: tuple[str, ...] = ()
    status: int | None = None
    refused: bool = False
    wrong_key: bool = False
    timeout_kind: str | None = None
    vendors: tuple[str, ...] | None = None
    hook_kwargs: dict[str, Any] = field(default_factory=dict)
    sensor_kwargs: dict[str, Any] | None = None
    same_balance: bool = True
    hook_only: bool = False
    sensor_only: bool = False

    def describe(self, surface: str) -> str:
        expected = self.hook if surface in HOOK_SURFACES else self.sensor
        return "success" if expected is None else expected.__name__


STORM = None  # a fault without count lasts until cleared
TRANSIENT_FAILS_FAST = {**SENSOR_KWARGS, "fail_on_transient_errors": True}

SCENARIOS: tuple[Scenario, ...] = (
    # ------------------------------------------------------------ rate limits
    Scenario(
        "429 x2, Retry-After: 0",
        (Fault("rate_limit", 2, {"retry_after": 0}),),
        hook=None,
        hook_requests=3,
        sensor=None,
        sensor_requests=3,
    ),
    Scenario(
        "429 x2, no Retry-After",
        (Fault("rate_limit_no_retry_after", 2),),
        hook=None,
        hook_requests=3,
        sensor=None,
        sensor_requests=3,
        vendors=tuple(v for v in VENDORS if v not in SLOW_RATE),
    ),
    Scenario(
        "429 x2, no Retry-After, documented rate over the retry budget",
        (Fault("rate_limit_no_retry_after", 2),),
        hook=CreditsRateLimitError,
        hook_requests=1,
        sensor=None,
        sensor_requests=3,
        texts=("rate limited",),
        status=429,
        vendors=SLOW_RATE,
    ),
    Scenario(
        "429 x1, Retry-After: HTTP date +1 s",
        (Fault("rate_limit_http_date", 1, {"retry_after": 1}),),
        hook=None,
        hook_requests=2,
        sensor=None,
        sensor_requests=2,
    ),
    Scenario(
        "429 storm (hook retries run out)",
        (Fault("rate_limit", STORM, {"retry_after": 0}),),
        hook=CreditsRateLimitError,
        hook_requests=HOOK_RETRIES + 1,
        sensor=CreditsRateLimitError,
        sensor_requests=1,
        sensor_kwargs=TRANSIENT_FAILS_FAST,
        texts=("rate limited",),
        status=429,
    ),
    Scenario(
        "429 storm (sensor waits until its timeout)",
        (Fault("rate_limit", STORM, {"retry_after": 0}),),
        hook=None,
        hook_requests=0,
        sensor=AirflowSensorTimeout,
        sensor_requests=(2, 10),
        sensor_kwargs=TIMING_OUT,
        sensor_only=True,
    ),
    # ---------------------------------------------------------------- 5xx
    Scenario(
        "503 x2",
        (Fault("server_error", 2, {"status": 503}),),
        hook=None,
        hook_requests=3,
        sensor=None,
        sensor_requests=3,
    ),
    Scenario(
        "500 storm",
        (Fault("server_error", STORM, {"status": 500}),),
        hook=CreditsServerError,
        hook_requests=HOOK_RETRIES + 1,
        sensor=CreditsServerError,
        sensor_requests=1,
        sensor_kwargs=TRANSIENT_FAILS_FAST,
        status=500,
    ),
    Scenario(
        "HTML 502 page x1",
        (Fault("html", 1, {"status": 502}),),
        hook=None,
        hook_requests=2,
        sensor=None,
        sensor_requests=2,
    ),
    Scenario(
        "HTML 503 page storm",
        (Fault("html", STORM, {"status": 503}),),
        hook=CreditsServerError,
        hook_requests=HOOK_RETRIES + 1,
        sensor=CreditsServerError,
        sensor_requests=1,
        sensor_kwargs=TRANSIENT_FAILS_FAST,
        texts=("HTML page",),
        status=503,
    ),
    # ----------------------------------------------------------- transport
    Scenario(
        "connection refused",
        (),
        hook=CreditsTransportError,
        hook_requests=HOOK_RETRIES + 1,  # connection attempts: nothing reaches the sandbox
        sensor=CreditsTransportError,
        sensor_requests=1,
        sensor_kwargs=TRANSIENT_FAILS_FAST,
        texts=("could not connect to http://127.0.0.1:", ": connection refused"),
        refused=True,
    ),
    Scenario(
        "read timeout x1",
        (Fault("timeout", 1, {"delay": TIMEOUT_DELAY}),),
        hook=None,
        hook_requests=2,
        sensor=None,
        sensor_requests=2,
        timeout_kind="timeoutonce",
    ),
    Scenario(
        "read timeout storm",
        (Fault("timeout", STORM, {"delay": TIMEOUT_DELAY}),),
        hook=CreditsTransportError,
        hook_requests=2,
        hook_kwargs={"max_retries": 1},
        sensor=CreditsTransportError,
        sensor_requests=1,
        sensor_kwargs=TRANSIENT_FAILS_FAST,
        texts=("timed out",),
        timeout_kind="timeout",
    ),
    Scenario(
        "truncated body x1",
        (Fault("truncated", 1),),
        hook=None,
        hook_requests=2,
        sensor=None,
        sensor_requests=2,
    ),
    Scenario(
        "truncated body storm",
        (Fault("truncated", STORM),),
        hook=CreditsTransportError,
        hook_requests=HOOK_RETRIES + 1,
        sensor=CreditsTransportError,
        sensor_requests=1,
        sensor_kwargs=TRANSIENT_FAILS_FAST,
        texts=("RemoteProtocolError",),
    ),
    Scenario(
        "slow answer (0.1 s, under the timeout)",
        (Fault("slow", STORM, {"delay": 0.1}),),
        hook=None,
        hook_requests=1,
        sensor=None,
        sensor_requests=1,
    ),
    Scenario(
        "slow drip (8-byte chunks)",
        (Fault("slow_drip", STORM, {"chunk_size": 8, "interval": 0.005}),),
        hook=None,
        hook_requests=1,
        sensor=None,
        sensor_requests=1,
    ),
    # ------------------------------------------------------ unusable bodies
    Scenario(
        "HTML page with 200",
        (Fault("html", STORM, {"status": 200}),),
        hook=CreditsResponseError,
        hook_requests=1,
        sensor=CreditsResponseError,
        sensor_requests=1,
        texts=("HTML page instead of JSON",),
    ),
    Scenario(
        "malformed JSON",
        (Fault("malformed_json", STORM),),
        hook=CreditsResponseError,
        hook_requests=1,
        sensor=CreditsResponseError,
        sensor_requests=1,
        texts=("expected JSON",),
    ),
    Scenario(
        "valid JSON, wrong shape",
        (Fault("schema_drift", STORM),),
        hook=CreditsResponseError,
        hook_requests=1,
        sensor=CreditsResponseError,
        sensor_requests=1,
        texts=("schema", "apiVersion"),
    ),
    Scenario(
        "numbers as strings",
        (Fault("numbers_as_strings", STORM),),
        hook=None,
        hook_requests=1,
        sensor=None,
        sensor_requests=1,
    ),
    Scenario(
        "numbers as null",
        (Fault("nulls", STORM),),
        hook=CreditsResponseError,
        hook_requests=1,
        sensor=CreditsResponseError,
        sensor_requests=1,
        vendors=tuple(v for v in VENDORS if v not in ("trendtrack", *NUMBERS_AS_STRINGS)),
    ),
    Scenario(
        "numbers as null (the amount is a string)",
        (Fault("nulls", STORM),),
        hook=None,
        hook_requests=1,
        sensor=None,
        sensor_requests=1,
        vendors=NUMBERS_AS_STRINGS,
    ),
    Scenario(
        "numbers as null (header fallback)",
        (Fault("nulls", STORM),),
        hook=None,
        hook_requests=1,
        sensor=None,
        sensor_requests=1,
        vendors=("trendtrack",),
        same_balance=False,  # only the primary pool survives, from X-Credits-Remaining
    ),
    Scenario(
        "huge body (6 MiB, Content-Length)",
        (Fault("huge_body", STORM),),
        hook=CreditsResponseError,
        hook_requests=1,
        sensor=CreditsResponseError,
        sensor_requests=1,
        texts=("exceeds the 5242880",),
    ),
    Scenario(
        "oversized chunked body (cap 16 B)",
        (Fault("slow_drip", STORM, {"chunk_size": 8, "interval": 0.0}),),
        hook=CreditsResponseError,
        hook_requests=1,
        hook_kwargs={"max_response_bytes": 16},
        sensor=None,
        sensor_requests=0,
        texts=("byte cap",),
        hook_only=True,
    ),
    # ----------------------------------------------------------- 401/402/403
    Scenario(
        "401 revoked key",
        (Fault("unauthorized", STORM),),
        hook=CreditsAuthError,
        hook_requests=1,
        sensor=CreditsAuthError,
        sensor_requests=1,
        texts=("check the API key or cookie",),
        status=401,
    ),
    Scenario(
        "403 forbidden",
        (Fault("forbidden", STORM),),
        hook=CreditsAuthError,
        hook_requests=1,
        sensor=CreditsAuthError,
        sensor_requests=1,
        texts=("permission denied",),
        status=403,
    ),
    Scenario(
        "402 out of credits",
        (Fault("out_of_credits", STORM),),
        hook=CreditsExhaustedError,
        hook_requests=1,
        sensor=None,
        sensor_requests=0,
        texts=("out of credits",),
        status=402,
        hook_only=True,
    ),
    Scenario(
        "402 x2, then credits (sensor waits)",
        (Fault("out_of_credits", 2),),
        hook=None,
        hook_requests=0,
        sensor=None,
        sensor_requests=3,
        sensor_only=True,
    ),
    Scenario(
        "wrong key (an error inside HTTP 200 for ZeroBounce, Prospeo)",
        (),
        hook=CreditsAuthError,
        hook_requests=1,
        sensor=CreditsAuthError,
        sensor_requests=1,
        wrong_key=True,
    ),
    Scenario(
        "Clay cookie expired, no sign-in",
        (Fault("expired_cookie", STORM),),
        hook=CreditsAuthError,
        hook_requests=1,
        sensor=CreditsAuthError,
        sensor_requests=1,
        status=401,
        vendors=("clay",),
    ),
)


@dataclass(frozen=True)
class Cell:
    """One scenario, for one vendor, through one surface."""

    surface: str
    vendor: str
    scenario: Scenario

    @property
    def id(self) -> str:
        return f"{self.surface}-{self.vendor}-{self.scenario.name}"

    @property
    def expected(self) -> type[BaseException] | None:
        return self.scenario.hook if self.surface in HOOK_SURFACES else self.scenario.sensor

    @property
    def expected_requests(self) -> tuple[int, int]:
        s = self.scenario
        n = s.hook_requests if self.surface in HOOK_SURFACES else s.sensor_requests
        return (n, n) if isinstance(n, int) else n


def cells() -> list[Cell]:
    """Every cell of the matrix."""
    result = []
    for scenario in SCENARIOS:
        surfaces = (
            HOOK_SURFACES if scenario.hook_only else SENSOR_SURFACES if scenario.sensor_only else SURFACES
        )
        for surface in surfaces:
            for vendor in scenario.vendors or VENDORS:
                result.append(Cell(surface, vendor, scenario))
    return result


@dataclass
class CellResult:
    """What running a cell produced."""

    cell: Cell
    value: Any = None
    error: BaseException | None = None
    requests: int = 0
    attempts: int = 0
    seconds: float = 0.0
    baseline: CreditBalance | None = None


class AttemptCounter:
    """Counts the HTTP requests httpx clients send to vendor endpoints (not ``/_sandbox`` control calls)."""

    def __init__(self) -> None:
        self.count = 0

    def see(self, request: httpx.Request) -> None:
        if not request.url.path.startswith("/_sandbox"):
            self.count += 1


@contextlib.contextmanager
def count_attempts() -> Iterator[AttemptCounter]:
    """Count every request sent meanwhile by httpx's sync client or the async path's aiohttp
    transport (instrumentation only)."""
    counter = AttemptCounter()
    sync_send, async_send = httpx.Client.send, AiohttpTransport.handle_async_request

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        counter.see(request)
        return sync_send(self, request, **kwargs)

    async def asend(self: AiohttpTransport, request: httpx.Request) -> httpx.Response:
        counter.see(request)
        return await async_send(self, request)

    httpx.Client.send = send  # type: ignore[method-assign]
    AiohttpTransport.handle_async_request = asend  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        httpx.Client.send = sync_send  # type: ignore[method-assign]
        AiohttpTransport.handle_async_request = async_send  # type: ignore[method-assign]


def _read_balance(cell: Cell, kind: str) -> CreditBalance:
    hook = get_credits_hook(conn_id(cell.vendor, kind), **{**HOOK_KWARGS, **cell.scenario.hook_kwargs})
    if cell.surface == "sync":
        try:
            return hook.get_balance()
        finally:
            hook.close()

    async def read() -> CreditBalance:
        try:
            return await hook.aget_balance()
        finally:
            await hook.aclose()

    return asyncio.run(read())


def run_cell(sandbox: SandboxClient, cell: Cell) -> CellResult:
    """Reset the sandbox, switch the cell's faults on, read through the cell's surface, and record it.

    The matrix's connections (:func:`connection_env`) must be in the environment.
    """
    scenario = cell.scenario
    sandbox.reset()
    result = CellResult(cell)
    kind = (
        "refused"
        if scenario.refused
        else "wrongkey"
        if scenario.wrong_key
        else scenario.timeout_kind or "reliability"
    )
    if cell.expected is None:
        result.baseline = _read_balance(Cell("sync", cell.vendor, scenario), kind)
        sandbox.clear_requests()
    for fault in scenario.faults:
        sandbox.add_fault(cell.vendor, fault.scenario, fault.count, **fault.params)
    started = time.monotonic()
    with count_attempts() as attempts:
        if cell.surface in HOOK_SURFACES:
            try:
                result.value = _read_balance(cell, kind)
            except Exception as error:
                result.error = error
        else:
            kwargs = scenario.sensor_kwargs or SENSOR_KWARGS
            outcome = run_sensor(cell.surface, credits_conn_id=conn_id(cell.vendor, kind), **kwargs)
            result.value, result.error = outcome.value, outcome.error
    result.seconds = time.monotonic() - started
    result.attempts = attempts.count
    result.requests = sandbox.request_count(cell.vendor)
    sandbox.clear_faults()
    return result


def _pools(balance: CreditBalance) -> Any:
    return balance.model_dump(mode="json", exclude={"fetched_at"})


def problems(result: CellResult) -> list[str]:
    """Everything about ``result`` that differs from what its cell expects (empty: as expected)."""
    cell, scenario, found = result.cell, result.cell.scenario, []
    expected = cell.expected
    low, high = cell.expected_requests
    if expected is None:
        if result.error is not None:
            found.append(f"expected success, got {type(result.error).__name__}: {result.error}")
        elif cell.surface in HOOK_SURFACES:
            assert result.baseline is not None
            if not isinstance(result.value, CreditBalance):
                found.append(f"expected a CreditBalance, got {result.value!r}")
            elif scenario.same_balance and _pools(result.value) != _pools(result.baseline):
                found.append(f"balance {_pools(result.value)} differs from {_pools(result.baseline)}")
            elif result.value.primary.remaining != result.baseline.primary.remaining:
                found.append("the primary pool's remaining credits differ from a fault-free read")
        else:
            decision = (result.value or {}).get("decision", {})
            if decision.get("met") is not True:
                found.append(f"the gate did not open: {result.value!r}")
            elif result.baseline is not None and decision["remaining"] != result.baseline.primary.remaining:
                found.append(
                    f"gated on {decision['remaining']}, expected {result.baseline.primary.remaining}"
                )
    elif type(result.error) is not expected:
        got = "success" if result.error is None else f"{type(result.error).__name__}: {result.error}"
        found.append(f"expected {expected.__name__}, got {got}")
    elif isinstance(result.error, CreditsApiError):
        error, text = result.error, str(result.error)
        if error.vendor != cell.vendor:
            found.append(f"the error names vendor {error.vendor!r}, not {cell.vendor!r}")
        if error.path != BALANCE_PATHS[cell.vendor] or BALANCE_PATHS[cell.vendor] not in text:
            found.append(f"the error does not name the endpoint {BALANCE_PATHS[cell.vendor]}: {text}")
        if scenario.status is not None and (
            error.status != scenario.status or f"HTTP {scenario.status}" not in text
        ):
            found.append(f"the error does not name HTTP {scenario.status}: {text}")
        found += [f"the message lacks {t!r}: {text}" for t in scenario.texts if t not in text]
        secret = WRONG_KEY if scenario.wrong_key else keys.SECRETS[cell.vendor]
        if secret in text or secret in repr(error):
            found.append("the error contains the connection's secret")
    requests = result.attempts if scenario.refused else result.requests
    if not low <= requests <= high:
        found.append(f"{requests} requests, expected {low}..{high}")
    if not scenario.refused and result.attempts != result.requests:
        found.append(f"the client sent {result.attempts} requests but the sandbox logged {result.requests}")
    if scenario.refused and result.requests:
        found.append(f"the sandbox logged {result.requests} requests of a connection pointed elsewhere")
    if result.seconds > WALL_LIMIT:
        found.append(f"took {result.seconds:.1f}s (hang guard {WALL_LIMIT:.0f}s)")
    return found
