"""Errors raised by airflow-provider-credits.

Every error the package raises on purpose is a :class:`CreditsError`. Its message names
what failed (the vendor, the HTTP method and path, the status and, when the vendor sent
them, its error code and request id; or the connection, the argument or the table) and
never contains an API key or session cookie.

The tree, as httpx draws its own::

    CreditsError
    ├── CreditsApiError                 a vendor call failed
    │   ├── CreditsAuthError            401 / 403: key or cookie wrong, expired, lacks permission
    │   ├── CreditsExhaustedError       402: the account is out of credits
    │   ├── CreditsTransientError       waiting and trying again may succeed (retried)
    │   │   ├── CreditsRateLimitError   429 after the retries ran out
    │   │   ├── CreditsServerError      5xx after the retries ran out
    │   │   └── CreditsTransportError   timeout, refused or dropped connection
    │   ├── CreditsResponseError        not JSON, HTML, schema drift, too big, error inside a 200
    │   ├── CreditsRequestError         other 4xx (400, 404, 422)
    │   └── UsageNotSupportedError      the vendor's API has no usage history (also a NotImplementedError)
    ├── CreditsConfigError              a connection or an argument is unusable (also a ValueError)
    │   └── UnknownCreditPoolError      a credit pool the account does not have
    ├── CreditsStorageError             a database failed while reserving or writing
    │   └── TableSchemaError            a table is missing, lacks columns or its unique key (also a ValueError)
    └── CreditsBudgetError              a gate's budget refused it (``budget_refusal="fail"``)

Only :class:`CreditsTransientError` and its subclasses are retried by the hooks and waited
out by the sensor (``transient`` is True on exactly those classes).

An error travels through a trigger event, XCom or a process boundary as a plain dict:
:meth:`CreditsError.to_payload` describes it and :meth:`CreditsError.from_payload` raises
it again as the same class. Pickling uses the same two methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "CreditsApiError",
    "CreditsAuthError",
    "CreditsBudgetError",
    "CreditsConfigError",
    "CreditsError",
    "CreditsExhaustedError",
    "CreditsRateLimitError",
    "CreditsRequestError",
    "CreditsResponseError",
    "CreditsServerError",
    "CreditsStorageError",
    "CreditsTransientError",
    "CreditsTransportError",
    "TableSchemaError",
    "UnknownCreditPoolError",
    "UsageNotSupportedError",
]

#: attribute name -> key in a payload (``status`` travels as ``http_status``: a trigger
#: event's ``status`` is the event's own).
_CONTEXT_KEYS = {
    "vendor": "vendor",
    "method": "method",
    "path": "path",
    "status": "http_status",
    "code": "code",
    "request_id": "request_id",
}


def _context_value(name: str, value: Any) -> Any:
    """A context field of an error payload, None when it has the wrong type (e.g. from another version)."""
    if name == "status":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else None


class CreditsError(Exception):
    """Root of every error this package raises.

    :param message: what went wrong, in words; never include a secret.
    :param vendor: vendor name, e.g. ``"theirstack"``.
    :param method: HTTP method of the failing call.
    :param path: URL path of the failing call (no query string: it may carry data).
    :param status: HTTP status, None when no response arrived.
    :param code: the vendor's own error code, when it sent one.
    :param request_id: the vendor's request id, when it sent one (quote it to support).
    """

    #: True when waiting and trying again may succeed: only on :class:`CreditsTransientError`.
    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        vendor: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.vendor = vendor
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.request_id = request_id
        super().__init__(self._render())

    def _render(self) -> str:
        where = " ".join(p for p in (self.method, self.path) if p)
        context = [
            f"{self.vendor}" if self.vendor else "",
            where,
            f"HTTP {self.status}" if self.status is not None else "",
            f"code={self.code}" if self.code else "",
            f"request_id={self.request_id}" if self.request_id else "",
        ]
        prefix = ", ".join(c for c in context if c)
        return f"[{prefix}] {self.message}" if prefix else self.message

    def _extra_payload(self) -> dict[str, Any]:
        """Fields of a subclass beyond the shared context (override with :meth:`_from_extra`)."""
        return {}

    def to_payload(self) -> dict[str, Any]:
        """Describe the error as JSON-safe data, for :meth:`from_payload` to raise it again.

        :returns: ``{"error_type": class name, "message": ..., "vendor", "method", "path",
            "http_status", "code", "request_id", ...subclass fields}``.
        """
        payload: dict[str, Any] = {"error_type": type(self).__name__, "message": self.message}
        payload.update({key: getattr(self, name) for name, key in _CONTEXT_KEYS.items()})
        payload.update(self._extra_payload())
        return payload

    @classmethod
    def _from_extra(cls, message: str, context: dict[str, Any], payload: dict[str, Any]) -> CreditsError:
        error = cls.__new__(cls)
        CreditsError.__init__(error, message, **context)
        return error

    @staticmethod
    def from_payload(payload: dict[str, Any]) -> CreditsError:
        """Rebuild the error :meth:`to_payload` described, as the same class when it is known.

        An unknown ``error_type`` (an older or newer version of the package) becomes a plain
        :class:`CreditsError` with the same message and context. Never raises: a context value
        of the wrong type is dropped, and a class whose own fields cannot be rebuilt from the
        payload becomes a plain :class:`CreditsError` with the message.
        """
        payload = payload if isinstance(payload, dict) else {"message": repr(payload)}
        cls = globals().get(str(payload.get("error_type")))
        if not (isinstance(cls, type) and issubclass(cls, CreditsError)):
            cls = CreditsError
        context = {name: _context_value(name, payload.get(key)) for name, key in _CONTEXT_KEYS.items()}
        message = str(payload.get("message"))
        try:
            return cls._from_extra(message, context, payload)
        except Exception:  # a payload this version did not write: keep its words, not its class
            return CreditsError(message, **context)

    def __reduce__(self) -> tuple[Any, ...]:  # keep keyword-only attributes through pickling
        return (CreditsError.from_payload, (self.to_payload(),))


class CreditsApiError(CreditsError):
    """Base of every error about a vendor call: it names the vendor, the endpoint and the status."""


class CreditsAuthError(CreditsApiError):
    """401/403: the API key or session cookie is missing, wrong, expired or lacks permission."""


class CreditsExhaustedError(CreditsApiError):
    """402: the vendor says the account is out of credits."""


class CreditsTransientError(CreditsApiError):
    """A vendor call failed in a way that waiting may cure: retried by the hooks, waited out by gates."""

    transient = True


class CreditsRateLimitError(CreditsTransientError):
    """429: still rate limited after every retry.

    ``retry_after``: seconds the vendor asked to wait (``Retry-After``, or ``RateLimit-Reset``
    on a 429) in its last answer, None when it gave no hint. Not part of the event payload.
    """

    retry_after: float | None = None


class CreditsServerError(CreditsTransientError):
    """5xx: the vendor kept failing after every retry."""


class CreditsTransportError(CreditsTransientError):
    """No usable HTTP response: timeout, refused or dropped connection."""


class CreditsResponseError(CreditsApiError):
    """The vendor answered with something unusable: not JSON, an HTML page, a changed schema, a redirect,
    an error inside an HTTP 200 or a body over the size cap."""


class CreditsRequestError(CreditsApiError):
    """Any other 4xx (400, 404, 422): the request itself was rejected."""


class UsageNotSupportedError(CreditsApiError, NotImplementedError):
    """The vendor's API has no usage history; only balances can be read."""


class CreditsConfigError(CreditsError, ValueError):
    """A connection or a task's arguments cannot work (missing key, bad threshold, bad extra).

    Also a :class:`ValueError`, so code that checked arguments with ``except ValueError``
    keeps working.
    """


class UnknownCreditPoolError(CreditsConfigError):
    """A credit pool was named that the vendor account does not have."""

    def __init__(self, *, vendor: str | None, pool: str, available: Sequence[str]) -> None:
        self.pool = pool
        self.available = list(available)
        super().__init__(
            f"credit pool {pool!r} does not exist; this account has: {', '.join(self.available)}",
            vendor=vendor,
        )

    def _extra_payload(self) -> dict[str, Any]:
        return {"pool": self.pool, "available": self.available}

    @classmethod
    def _from_extra(cls, message: str, context: dict[str, Any], payload: dict[str, Any]) -> CreditsError:
        available = payload.get("available")
        return cls(
            vendor=context.get("vendor"),
            pool=str(payload.get("pool")),
            available=[str(name) for name in available] if isinstance(available, (list, tuple)) else [],
        )


class CreditsStorageError(CreditsError):
    """A database error while reserving credits or writing balances and usage; the transaction
    was rolled back, so nothing was half written."""


class TableSchemaError(CreditsStorageError, ValueError):
    """A table is missing, lacks columns or (for upserts) its unique key, or a name is not a
    valid SQL identifier."""


class CreditsBudgetError(CreditsError):
    """A gate with ``budget_refusal="fail"`` was refused by its budget (not by the vendor's
    balance): the DAG's (or budget key's) spend in the period plus its outstanding
    reservations plus what the gate reserves would exceed the budget."""
