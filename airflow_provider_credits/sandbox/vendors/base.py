"""What every emulated vendor is made of: its routes, auth check, error body and headers.

A vendor module (``clay``, ``clodura``, ``theirstack``, ``trendtrack``, ``registry``, mirroring
:mod:`airflow_provider_credits.hooks`) declares one :class:`SandboxVendor` per vendor; its
handlers turn a :class:`Call` (the state, path parameters, query and JSON body) into a
:class:`Reply`. The app (:mod:`airflow_provider_credits.sandbox.app`) applies faults, auth,
logging and rendering around them. Pure Python: Starlette appears only in type hints.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.sandbox.state import Fault, SandboxState

if TYPE_CHECKING:
    from starlette.requests import Request


@dataclass
class Reply:
    """What a vendor endpoint answers, before faults and rendering."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None


@dataclass(frozen=True)
class Call:
    """What a vendor handler gets: the state, path parameters, query and JSON body."""

    state: SandboxState
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any = None


class VendorRoute(NamedTuple):
    """One endpoint of a vendor."""

    method: str
    path: str
    handler: Callable[[Call], Reply]
    public: bool = False  # no auth (Clay's sign-in)


#: error kind -> (HTTP status, message); ``{auth}`` is the vendor's auth header.
ERRORS: dict[str, tuple[int, str]] = {
    "missing_key": (401, "Provide an API key using {auth}."),
    "invalid_key": (401, "The API key is not valid."),
    "invalid_key_in_200": (200, "The API key is not valid."),  # ZeroBounce, Prospeo
    "revoked": (401, "The API key was revoked."),
    "session_expired": (401, "Your session has expired: sign in again."),
    "bad_login": (401, "Wrong email or password."),
    "insufficient": (402, "Not enough credits left for this request."),
    "forbidden": (403, "This key is not allowed to access this resource."),
    "not_found": (404, "Not found."),
    "invalid": (422, "The request is not valid."),
    "rate_limited": (429, "Too many requests: retry later."),
    "internal": (500, "Internal server error."),
}

#: (request, state) -> None when authenticated, else an error kind of :data:`ERRORS`.
AuthCheck = Callable[["Request", SandboxState], "str | None"]
#: (code, status, message, request id) -> the vendor's error body.
ErrorBody = Callable[[str, int, str, int], Any]


class Window:
    """Requests per one-second window, for TheirStack's RateLimit headers (one per app)."""

    def __init__(self) -> None:
        self.second, self.count = 0, 0

    def hit(self) -> int:
        now = int(datetime.now(timezone.utc).timestamp())
        if now != self.second:
            self.second, self.count = now, 0
        self.count += 1
        return self.count


#: (state, the app's request window, reply, fault) -> headers added to every answer.
Headers = Callable[[SandboxState, Window, Reply, "Fault | None"], dict[str, str]]


def _no_headers(state: SandboxState, window: Window, reply: Reply, fault: Fault | None) -> dict[str, str]:
    return {}


def _no_sessions(request: Request) -> list[str]:
    return []


@dataclass(frozen=True)
class SandboxVendor:
    """One emulated vendor.

    :param name: vendor name (a key of :data:`~airflow_provider_credits.sandbox.keys.SECRETS`).
    :param routes: its endpoints.
    :param auth: its auth check.
    :param auth_hint: how to authenticate, for the ``missing_key`` message.
    :param error_body: its error body.
    :param error_codes: error kind -> the vendor's error code (default: the HTTP reason phrase).
    :param headers: headers added to every answer (after faults and auth).
    :param known_ids: path parameter -> (the ids the sandbox knows, what they name); others 404.
    :param sessions: the request's session cookies (Clay: a signed-in session passes
        ``expired_cookie``).
    """

    name: str
    routes: tuple[VendorRoute, ...]
    auth: AuthCheck
    auth_hint: str
    error_body: ErrorBody
    error_codes: Mapping[str, str] = field(default_factory=dict)
    headers: Headers = _no_headers
    known_ids: Mapping[str, tuple[Collection[str], str]] = field(default_factory=dict)
    sessions: Callable[[Request], list[str]] = _no_sessions

    def error(
        self, kind: str, state: SandboxState, *, status: int | None = None, message: str | None = None
    ) -> Reply:
        """An error reply with the vendor's own body.

        :param kind: a key of :data:`ERRORS`.
        :param state: for the request id.
        :param status: override the kind's status (e.g. 503 for ``internal``).
        :param message: override the kind's message.
        """
        default_status, default_message = ERRORS[kind]
        status = status or default_status
        code = self.error_codes.get(kind) or HTTPStatus(status).phrase
        text = message or default_message.format(auth=self.auth_hint)
        return Reply(status, self.error_body(code, status, text, state.next_id()))

    def unknown_id(self, call: Call) -> Reply | None:
        """A 404 when a path parameter names an id the sandbox does not know, else None."""
        for name, value in call.params.items():
            known, what = self.known_ids[name]
            if value not in known:
                return self.error("not_found", call.state, message=f"{what} {value!r} not found.")
        return None


# ------------------------------------------------------------------------ auth


def matches(given: str, expected: str) -> bool:
    """Compare a credential in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_auth(vendor: str) -> AuthCheck:
    """``Authorization: Bearer <the vendor's sandbox key>``."""

    def check(request: Request, state: SandboxState) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing_key"
        return None if matches(token.strip(), keys.SECRETS[vendor]) else "invalid_key"

    return check


# ------------------------------------------------------------------------ time


def iso(moment: datetime) -> str:
    """``2025-06-01T00:00:00.000Z``.

    :param moment: an aware datetime.
    """
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def midnight(day: date, tz: ZoneInfo | timezone = timezone.utc) -> datetime:
    """The first instant of ``day`` in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz)


def parse_moment(value: str, tz: ZoneInfo | timezone = timezone.utc) -> datetime:
    """An ISO 8601 datetime (``Z`` accepted); a naive one is taken in ``tz``.

    :raises ValueError: not an ISO 8601 datetime.
    """
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
