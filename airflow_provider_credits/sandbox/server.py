"""Run the sandbox in a background thread (:class:`SandboxServer`), and drive any running
sandbox over HTTP (:class:`SandboxClient`), in this process or another one."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.faults import parse_cli_fault
from airflow_provider_credits.sandbox.state import SandboxState


class SandboxClientError(Exception):
    """A control call was refused (400: bad request, 402: out of credits).

    :param status: HTTP status.
    :param body: decoded JSON body (or text).
    """

    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body
        super().__init__(f"sandbox answered HTTP {status}: {body}")


class SandboxClient:
    """Drives a running sandbox through its ``/_sandbox`` control endpoints.

    :param url: the sandbox's base URL, e.g. ``http://127.0.0.1:8900``.
    :param timeout: seconds per control call.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._url = url.rstrip("/")
        self.timeout = timeout
        self._http: httpx.Client | None = None

    def close(self) -> None:
        """Close the client's HTTP connections (it reconnects when used again)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def url(self) -> str:
        """Base URL of the sandbox (the connections' host)."""
        return self._url

    def _control(
        self, method: str, endpoint: str, body: dict[str, Any] | None = None, **query: str | None
    ) -> Any:
        if self._http is None:  # one client: building one costs tens of milliseconds
            self._http = httpx.Client(timeout=self.timeout, trust_env=False)
        response = self._http.request(
            method,
            f"{self.url}/_sandbox{endpoint}",
            json=body,
            params={k: v for k, v in query.items() if v is not None},
        )
        try:
            data = response.json()
        except ValueError:
            data = response.text
        if response.status_code >= 300:
            raise SandboxClientError(response.status_code, data)
        return data

    # ------------------------------------------------------------ connections

    def connections(self, *, clay_login: bool = False) -> dict[str, dict[str, Any]]:
        """Airflow connections (``clay_default`` ...) pointing at this sandbox.

        :param clay_login: also give Clay the sandbox email and account password, so the
            hook signs in again when its cookie is rejected.
        """
        conns: dict[str, dict[str, Any]] = {
            f"{vendor}_default": {"conn_type": vendor, "host": self.url, "password": secret}
            for vendor, secret in keys.SECRETS.items()
        }
        clay = conns["clay_default"]
        clay["extra"] = {"workspace_id": keys.CLAY_WORKSPACE_ID}
        if clay_login:
            clay["login"] = keys.CLAY_EMAIL
            clay["extra"]["account_password"] = keys.CLAY_PASSWORD
        return conns

    def airflow_conn_env(self, *, clay_login: bool = False) -> dict[str, str]:
        """``{"AIRFLOW_CONN_CLAY_DEFAULT": "<JSON>", ...}``: environment that points Airflow here.

        :param clay_login: see :meth:`connections`.
        """
        return {
            f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn, separators=(",", ":"))
            for conn_id, conn in self.connections(clay_login=clay_login).items()
        }

    # --------------------------------------------------------------- controls

    def health(self) -> bool:
        """True when the sandbox answers."""
        try:
            return bool(self._control("GET", "/health").get("ok"))
        except httpx.HTTPError:
            return False

    def state(self) -> dict[str, Any]:
        """The whole state: pools, history, faults, request total (also a valid seed file)."""
        return self._control("GET", "/state")

    def reset(self, clodura_plan: str | None = None) -> dict[str, Any]:
        """Restore the seeded balances and history; clear faults, sessions and the request log.

        :param clodura_plan: ``unified`` or ``prospect`` (default: the plan chosen at start-up).
        """
        return self._control("POST", "/reset", {"clodura_plan": clodura_plan})

    def set_balance(self, vendor: str, pool: str, remaining: float) -> dict[str, Any]:
        """Make ``remaining`` credits remain in a pool.

        :param vendor: ``clay``, ``clodura``, ``theirstack`` or ``trendtrack``.
        :param pool: pool name, e.g. ``api_credits``.
        :param remaining: credits left afterwards.
        """
        return self._control("POST", "/balance", {"vendor": vendor, "pool": pool, "remaining": remaining})

    def spend(
        self,
        vendor: str,
        amount: float,
        pool: str | None = None,
        *,
        user_id: str | None = None,
        integration: str | None = None,
    ) -> dict[str, Any]:
        """Consume credits as an enrichment call would (recorded in today's history).

        :param vendor: vendor name.
        :param amount: credits to consume.
        :param pool: pool (default: the one the vendor spends first).
        :param user_id: Clay user to attribute them to.
        :param integration: Clay integration to attribute them to.
        :raises SandboxClientError: status 402 when not enough credits remain.
        """
        body = {
            "vendor": vendor,
            "amount": amount,
            "pool": pool,
            "user_id": user_id,
            "integration": integration,
        }
        return self._control("POST", "/spend", body)

    def topup(self, vendor: str, amount: float, pool: str | None = None) -> dict[str, Any]:
        """Add credits to a pool.

        :param vendor: vendor name.
        :param amount: credits to add.
        :param pool: pool (default: Trendtrack's ``topup``, else the primary pool).
        """
        return self._control("POST", "/topup", {"vendor": vendor, "amount": amount, "pool": pool})

    def add_fault(
        self, vendor: str, scenario: str, count: int | None = None, *, path: str | None = None, **params: Any
    ) -> dict[str, Any]:
        """Inject a fault into the next ``count`` requests of ``vendor`` (None: until cleared).

        :param vendor: vendor name, or ``"*"`` for all.
        :param scenario: see ``docs/sandbox.md`` or :data:`~airflow_provider_credits.sandbox.faults.SCENARIOS`.
        :param count: how many requests; None until :meth:`clear_faults`.
        :param path: only requests whose path starts with this.
        :param params: the scenario's parameters, e.g. ``retry_after=0``.
        """
        body = {"vendor": vendor, "scenario": scenario, "count": count, "path": path, "params": params}
        return self._control("POST", "/faults", body)

    def faults(self) -> list[dict[str, Any]]:
        """The faults switched on, with what is left of their counts."""
        return self._control("GET", "/faults")["faults"]

    def clear_faults(self) -> None:
        """Switch every fault off."""
        self._control("DELETE", "/faults")

    def requests(self, vendor: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """Vendor requests received since the last reset (method, path, status, fault; no headers).

        :param vendor: only this vendor's.
        :param path: only those whose path starts with this.
        """
        return self._control("GET", "/requests", vendor=vendor, path=path)["requests"]

    def request_count(self, vendor: str | None = None, path: str | None = None) -> int:
        """How many vendor requests were received since the last reset.

        :param vendor: only this vendor's.
        :param path: only those whose path starts with this.
        """
        return int(self._control("GET", "/requests", vendor=vendor, path=path)["count"])

    def clear_requests(self) -> None:
        """Forget the request log and counters."""
        self._control("DELETE", "/requests")


class _DropDeliberateTruncation(logging.Filter):
    """Hide uvicorn's error for the ``truncated`` fault's deliberately unfinished responses."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing response."


_TRUNCATION_FILTER = _DropDeliberateTruncation()


class SandboxServer(SandboxClient):
    """The sandbox served by uvicorn in a background thread; also a :class:`SandboxClient`.

    :param host: address to bind; loopback by default (the keys are public).
    :param port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
    :param seed: seed of the generated history (default: the seed file's, else 42).
    :param seed_file: JSON state document laid over the seeded state (see ``GET /_sandbox/state``).
    :param clodura_plan: ``unified`` or ``prospect``.
    :param history_days: days of generated history.
    :param faults: faults switched on at start, as ``vendor:scenario[:count][:name=value,...]``.
    :param log_level: level of uvicorn's own logger.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int | None = None,
        seed_file: str | Path | None = None,
        clodura_plan: str | None = None,
        history_days: int | None = None,
        faults: Iterable[str] = (),
        log_level: str = "warning",
    ) -> None:
        super().__init__("")
        self.host, self.port, self.log_level = host, port, log_level
        options: dict[str, Any] = {"seed": seed, "clodura_plan": clodura_plan, "history_days": history_days}
        self._state = SandboxState.from_file(seed_file, **options) if seed_file else SandboxState(**options)
        for spec in faults:
            vendor, scenario, count, params = parse_cli_fault(spec)
            self._state.add_fault(vendor, scenario, count, params=params)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        if not self._url:
            raise RuntimeError("the sandbox is not started: call start() first")
        return self._url

    @property
    def clodura_plan(self) -> str:
        """The Clodura plan currently served (``unified`` or ``prospect``)."""
        return str(self._state.clodura_plan)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Bind the port and serve in a background thread; return once requests are accepted.

        :param timeout: seconds to wait for uvicorn to start.
        """
        if self._thread is not None:
            raise RuntimeError("the sandbox is already started")
        from airflow_provider_credits._extras import needs_extra

        with needs_extra("sandbox", "the vendor sandbox"):
            import uvicorn

        from airflow_provider_credits.sandbox.app import create_app

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self._socket, self.port = sock, sock.getsockname()[1]
        logging.getLogger("uvicorn.error").addFilter(_TRUNCATION_FILTER)
        config = uvicorn.Config(
            create_app(self._state),
            log_config=None,
            log_level=self.log_level,
            access_log=False,  # the app logs method and path itself: never query strings or headers
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="credits-sandbox", daemon=True
        )
        self._thread.start()
        host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        self._url = f"http://{host}:{self.port}"
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the sandbox did not start on {self.host}:{self.port}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread (in-flight slow responses are cut after 1 s).

        :param timeout: seconds to wait for the thread.
        """
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self.close()
        self._thread = self._server = self._socket = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
