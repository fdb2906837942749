"""Errors raised by airflow-provider-credits.

Every error about a vendor call is a :class:`CreditsApiError`. Its message names the
vendor, the HTTP method and path, the status and, when the vendor sent them, its error
code and request id. Messages never contain the API key or session cookie.

=============================  ======================================  ==========
class                          cause                                   retried?
=============================  ======================================  ==========
CreditsAuthError               401 / 403: key or cookie wrong/expired  never
CreditsExhaustedError          402: the account is out of credits      never
CreditsRateLimitError          429 after the retries ran out           yes
CreditsServerError             5xx after the retries ran out           yes
CreditsTransportError          timeout, refused or dropped connection  yes
CreditsResponseError           not JSON, HTML, schema drift, too big   no
CreditsRequestError            other 4xx (400, 404, 422)               no
CreditsConfigError             connection or argument is unusable      no
=============================  ======================================  ==========
"""

from __future__ import annotations

from collections.abc import Sequence


class CreditsApiError(Exception):
    """Base of every error this package raises about a vendor call.

    :param message: what went wrong, in words; never include a secret.
    :param vendor: vendor name, e.g. ``"theirstack"``.
    :param method: HTTP method of the failing call.
    :param path: URL path of the failing call (no query string: it may carry data).
    :param status: HTTP status, None when no response arrived.
    :param code: the vendor's own error code, when it sent one.
    :param request_id: the vendor's request id, when it sent one (quote it to support).
    """

    #: True when waiting and trying again may succeed (rate limits, 5xx, network).
    transient: bool = False

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

    def __reduce__(self):  # keep keyword-only attributes through pickling (XCom, multiprocessing)
        return (
            _rebuild,
            (
                type(self),
                self.message,
                {
                    "vendor": self.vendor,
                    "method": self.method,
                    "path": self.path,
                    "status": self.status,
                    "code": self.code,
                    "request_id": self.request_id,
                },
            ),
        )


def _rebuild(cls: type[CreditsApiError], message: str, kwargs: dict) -> CreditsApiError:
    err = cls.__new__(cls)
    CreditsApiError.__init__(err, message, **kwargs)
    return err


class CreditsAuthError(CreditsApiError):
    """401/403: the API key or session cookie is missing, wrong, expired or lacks permission."""


class CreditsExhaustedError(CreditsApiError):
    """402: the vendor says the account is out of credits."""


class CreditsRateLimitError(CreditsApiError):
    """429: still rate limited after every retry."""

    transient = True


class CreditsServerError(CreditsApiError):
    """5xx: the vendor kept failing after every retry."""

    transient = True


class CreditsTransportError(CreditsApiError):
    """No usable HTTP response: timeout, refused or dropped connection."""

    transient = True


class CreditsResponseError(CreditsApiError):
    """The vendor answered with something unusable: not JSON, an HTML page, a changed schema, a redirect
    or a body over the size cap."""


class CreditsRequestError(CreditsApiError):
    """Any other 4xx (400, 404, 422): the request itself was rejected."""


class CreditsConfigError(CreditsApiError):
    """The connection or the task's arguments cannot work (missing workspace id, bad threshold)."""


class UnknownCreditPoolError(CreditsConfigError):
    """A credit pool was named that the vendor account does not have."""

    def __init__(self, *, vendor: str, pool: str, available: Sequence[str]) -> None:
        self.pool = pool
        self.available = list(available)
        super().__init__(
            f"credit pool {pool!r} does not exist; this account has: {', '.join(self.available)}",
            vendor=vendor,
        )

    def __reduce__(self):
        return (_rebuild_pool_error, (self.vendor, self.pool, self.available))


def _rebuild_pool_error(vendor: str, pool: str, available: list[str]) -> UnknownCreditPoolError:
    return UnknownCreditPoolError(vendor=vendor, pool=pool, available=available)


class UsageNotSupportedError(CreditsApiError, NotImplementedError):
    """The vendor's API has no usage history; only balances can be read."""
