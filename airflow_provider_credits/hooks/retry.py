"""When a failed vendor call is tried again, and after how long: one policy for the sync and async paths.

:class:`RetryPolicy` decides, from the attempt number, the error, the response and the time
spent so far, whether to wait and try again, and how long. Nothing here does I/O or reads a
clock: the hook's request loops (``CreditsHook.request`` and ``arequest``) tell the time and
do the sleeping, ``time.sleep`` or ``asyncio.sleep``. :class:`Attempts` is one request's run of
tries under a policy: it counts them, allows one credential renewal after a 401, and raises
the error when the policy gives up.

The rules, in order:

1. only :class:`~airflow_provider_credits.exceptions.CreditsTransientError` (429, 5xx, network)
   is retried, at most ``max_retries`` times;
2. the wait is an exponential backoff (``backoff * 2 ** (attempt - 1)``, capped at
   ``max_backoff``) with a jitter in [0.5, 1], or the vendor's ``Retry-After`` (or, on a 429,
   ``RateLimit-Reset``) when that is longer;
3. after a 429 without such a hint, at least ``rate_limit_floor`` (a vendor's documented rate);
4. no wait that would end past ``budget`` seconds since the first try: the error is raised.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_credits.exceptions import CreditsApiError, CreditsRateLimitError
from airflow_provider_credits.hooks.errors import parse_retry_after
from airflow_provider_credits.hooks.responses import ApiResponse


@dataclass(slots=True)
class RetryPolicy:
    """The retry rules of one hook (see the module docstring).

    :param max_retries: tries after the first one.
    :param budget: seconds from the first try beyond which no wait may end.
    :param backoff: base of the exponential backoff in seconds (the first wait is up to this).
    :param max_backoff: cap of the backoff in seconds (a vendor's hint may be longer).
    :param rate_limit_floor: least seconds to wait after a 429 that names no wait; None: no floor.
    """

    max_retries: int
    budget: float
    backoff: float = 1.0
    max_backoff: float = 30.0
    rate_limit_floor: float | None = None

    def delay(
        self, attempt: int, error: CreditsApiError, response: ApiResponse | None, elapsed: float
    ) -> float | None:
        """Seconds to wait before trying again, or None to give up.

        :param attempt: how many tries were made, this one included (1 after the first).
        :param error: what this try ended with.
        :param response: the response it got, None when none arrived.
        :param elapsed: seconds since the first try started.
        """
        if not error.transient or attempt > self.max_retries:
            return None
        rate_limited = isinstance(error, CreditsRateLimitError)
        wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        hinted = (
            parse_retry_after(response.headers, rate_limited=rate_limited) if response is not None else None
        )
        if hinted is not None:
            wait = max(wait, hinted)
        elif rate_limited and self.rate_limit_floor is not None:
            wait = max(wait, self.rate_limit_floor)
        return None if elapsed + wait > self.budget else wait


class Attempts:
    """The tries of one request under a policy.

    :param policy: returns the rules; called once a try fails, so a request that succeeds at
        once builds none.
    :param started: monotonic seconds when the first try started.
    :param renew_auth: whether a 401 may renew the credentials, once.
    :param announce: called with (error, attempt, max_retries, delay) before each wait.
    """

    __slots__ = ("_policy", "announce", "attempt", "make_policy", "may_renew", "started")

    def __init__(
        self,
        policy: Callable[[], RetryPolicy],
        started: float,
        *,
        renew_auth: bool,
        announce: Callable[[CreditsApiError, int, int, float], None],
    ) -> None:
        self.make_policy, self.started, self.announce = policy, started, announce
        self._policy: RetryPolicy | None = None
        self.attempt = 0
        self.may_renew = renew_auth

    def renew_auth(self, response: ApiResponse) -> bool:
        """Whether to renew the credentials before trying again: a 401, the first one."""
        return response.status == 401 and self.may_renew

    def renewed(self) -> None:
        """The credentials were renewed: the try counts, and the next 401 is final."""
        self.attempt += 1
        self.may_renew = False

    def wait(self, error: CreditsApiError, response: ApiResponse | None, now: float) -> float:
        """Seconds to wait before the next try.

        :param error: what the try ended with.
        :param response: the response it got, None when none arrived.
        :param now: monotonic seconds, on the clock of ``started``.
        :raises CreditsApiError: ``error``, when the policy gives up.
        """
        self.attempt += 1
        policy = self.policy
        delay = policy.delay(self.attempt, error, response, now - self.started)
        if delay is None:
            raise error
        self.announce(error, self.attempt, policy.max_retries, delay)
        return delay

    @property
    def policy(self) -> RetryPolicy:
        """The rules, built on first use."""
        if self._policy is None:
            self._policy = self.make_policy()
        return self._policy
