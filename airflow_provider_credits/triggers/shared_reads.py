"""One balance read per vendor account at a time, shared by the triggers of an event loop.

A triggerer runs every trigger in one event loop. The :class:`CreditThresholdTrigger`\\ s of
that loop that watch the same connection id (the same vendor account and credentials) read
the balance through one :class:`AccountReader`:

* a trigger that wakes up takes the first read that **started after it went to sleep**: the
  one in flight (it awaits it with the others), else the last finished one, else it starts a
  new one. With triggers of one interval, the first to wake sends the GET and the others
  reuse its answer; with mixed intervals, the shortest one sets the pace, as the others find
  a read newer than their own sleep. So reads happen at most once per the shortest
  ``poke_interval`` among the waiting triggers, and a trigger never judges one read twice.
  (A trigger that waited on another's read counts its next interval from its own wake-up:
  see ``CreditThresholdTrigger._wait``);
* reads are never sent faster than the vendor's documented limit of its balance call
  (``VendorSpec.balance_rate_limit``: at least ``seconds / requests`` apart), and a 429 pauses
  the reads for everyone for its ``Retry-After`` (else for that same spacing, when the vendor
  documents one). A trigger whose deadline comes first stops waiting: :meth:`read` returns None;
* the read runs in a task of its own: a trigger cancelled while it waits leaves the read to
  the others. The last trigger to leave (:meth:`AccountReader.leave`) cancels a read still in
  flight and closes the hook (and with it its share of the aiohttp session);
* the checks themselves (judging a read, logging the outcome) take :class:`Turns` of the loop:
  when one read releases thousands of waiting triggers, or the loop falls behind and thousands
  of sleeps end at once, they check a few milliseconds' worth at a time, and the loop polls
  I/O and fires timers (the other triggers' too) in between.

Why not Airflow 3.3's shared trigger streams: ``docs/sensor.md`` ("Many gates on one account").
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_credits.exceptions import CreditsError, CreditsRateLimitError
from airflow_provider_credits.gate import Check, Gate, display_host
from airflow_provider_credits.hooks.transport import KEEPALIVE_SECONDS

if TYPE_CHECKING:
    from airflow_provider_credits.hooks.base import CreditsHook
    from airflow_provider_credits.models import CreditBalance

#: builds the hook of a reader (the trigger's connection lookup).
HookOpener = Callable[[], Awaitable["CreditsHook"]]


@dataclass(frozen=True)
class Reading:
    """One balance read, as every trigger that waited on it sees it.

    :param started: when a trigger asked for the read (the event loop's clock, seconds; the GET
        follows in the read's own task). A trigger that woke later waited on another trigger's read.
    :param balance: the balance, None when the read failed.
    :param error: the read's error, None when it succeeded.
    :param host: the connection's host for messages (see :func:`display_host`), None before
        the connection was read.
    """

    started: float
    balance: CreditBalance | None
    error: CreditsError | None
    host: str | None
    #: :meth:`judge`'s results by gate
    _judged: dict[Gate, Check] = field(default_factory=dict, compare=False, repr=False)

    def judge(self, gate: Gate) -> Check:
        """``gate.check`` of the balance read, computed once per distinct gate.

        Triggers with equal gates (a mapped gate's instances) share one decision per read
        instead of each building its own: at 10,000 triggers the decisions were most of what
        a check allocates, and so of the garbage collector's work.

        :param gate: the trigger's gate.
        :raises ValueError: the read failed (judge its :attr:`error` with ``gate.check``).
        :raises CreditsError: as :meth:`Gate.check` (an unknown pool, say); not kept.
        """
        if self.balance is None:
            raise ValueError("a failed read has no balance to judge")
        result = self._judged.get(gate)
        if result is None:
            result = self._judged[gate] = gate.check(self.balance, None)
        return result


def rate_spacing(hook: CreditsHook) -> float:
    """Seconds between two balance reads the vendor's documented limit allows (0: no limit known).

    :param hook: the reader's hook (a registry hook knows its spec, ``credits_http`` from its
        connection; the code vendors are looked up by connection type).
    """
    from airflow_provider_credits.vendors import VENDORS

    spec_of = getattr(hook, "vendor_spec", None)
    try:
        spec = spec_of() if callable(spec_of) else VENDORS.get(getattr(hook, "conn_type", ""))
    except CreditsError:
        spec = None
    limit = getattr(spec, "balance_rate_limit", None)
    if not limit:
        return 0.0
    requests, seconds = limit
    return float(seconds) / max(1, int(requests))


class AccountReader:
    """The balance reads of one connection id, shared by the triggers of one event loop.

    Triggers :meth:`join` with their ``poke_interval``, call :meth:`read` after each sleep and
    :meth:`leave` when they end (also when cancelled).

    :param conn_id: the credits connection.
    :param open_hook: builds the hook on the first read (the connection lookup).
    """

    #: the shared readers, by event loop and connection id.
    _open: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AccountReader]]
    _open = weakref.WeakKeyDictionary()

    def __init__(self, conn_id: str, open_hook: HookOpener) -> None:
        self.conn_id = conn_id
        self._open_hook = open_hook
        self._hook: CreditsHook | None = None
        #: poke intervals of the triggers reading, with how many triggers have each.
        self._intervals: Counter[float] = Counter()
        self._task: asyncio.Task[Reading] | None = None
        self._last: Reading | None = None
        #: no read is sent before this time (loop clock): the vendor's rate limit, or a 429's pause.
        self._not_before = -math.inf
        self._spacing: float | None = None
        #: balance GETs sent (for tests and the benchmark).
        self.reads = 0

    @classmethod
    def join(
        cls, conn_id: str, poke_interval: float, open_hook: HookOpener, *, shared: bool = True
    ) -> AccountReader:
        """The running loop's reader of ``conn_id`` (a new one if none), with one more trigger.

        :param conn_id: the credits connection.
        :param poke_interval: the joining trigger's interval (seconds).
        :param open_hook: builds the hook, if this call creates the reader.
        :param shared: False: a reader of the trigger's own, as before reads were shared.
        """
        if shared:
            readers = cls._open.setdefault(asyncio.get_running_loop(), {})
            reader = readers.get(conn_id)
            if reader is None:
                reader = readers[conn_id] = cls(conn_id, open_hook)
        else:
            reader = cls(conn_id, open_hook)
        reader._intervals[poke_interval] += 1
        return reader

    @property
    def users(self) -> int:
        """Triggers reading through this reader."""
        return sum(self._intervals.values())

    @classmethod
    def active(cls, conn_id: str) -> AccountReader | None:
        """The running loop's shared reader of ``conn_id``, None when no trigger reads it."""
        return cls._open.get(asyncio.get_running_loop(), {}).get(conn_id)

    async def leave(self, poke_interval: float) -> None:
        """One trigger fewer; the last one cancels a read in flight and closes the hook."""
        self._intervals[poke_interval] -= 1
        if self._intervals[poke_interval] <= 0:
            del self._intervals[poke_interval]
        if self._intervals:
            return
        readers = self._open.get(asyncio.get_running_loop(), {})
        if readers.get(self.conn_id) is self:  # a trigger joining from now on starts a new reader
            del readers[self.conn_id]
        task, self._task = self._task, None
        hook, self._hook = self._hook, None
        try:
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait([task])
        finally:
            if hook is not None:
                await hook.aclose()

    async def read(
        self, since: float, deadline: float | None = None, *, last: bool = False
    ) -> Reading | None:
        """The first read that started at or after ``since``, or the one in flight.

        Starts a read when there is none (once the vendor's rate limit and any ``Retry-After``
        allow it: until then it waits). For a trigger's last check, at its deadline, while
        other triggers read too, the newest read will do when it started within the shortest
        interval: the deadlines of many triggers, each a moment of its own, add no reads.

        :param since: the loop time (``loop.time()``) at which the caller went to sleep.
        :param deadline: epoch seconds after which the caller waits no longer for a read.
        :param last: the caller's last check, at its deadline.
        :returns: the reading; None when ``deadline`` came while reads were held back.
        :raises Exception: whatever else than a :class:`CreditsError` the read raised (e.g.
            the connection does not exist): to every caller that waited on it.
        """
        loop = asyncio.get_running_loop()
        until = math.inf if deadline is None else loop.time() + (deadline - time.time())
        while True:
            task = self._task
            if task is not None:
                return await asyncio.shield(task)  # cancelling the caller leaves the read to the others
            newest = self._last
            now = loop.time()
            if newest is not None and (
                newest.started >= since
                or (last and self.users > 1 and newest.started >= now - min(self._intervals))
            ):
                return newest
            if self._not_before > now:
                if self._not_before > until:
                    await asyncio.sleep(max(0.0, until - now))
                    return None
                await asyncio.sleep(self._not_before - now)
                continue  # meanwhile another trigger may have started the read
            self._task = task = loop.create_task(self._read(now), name=f"credits balance read {self.conn_id}")
            task.add_done_callback(_retrieve)

    async def _read(self, requested: float) -> Reading:
        """One GET with the reader's hook (no hook retries: the next read is the retry).

        :param requested: when a trigger asked for it (loop clock): the reading's ``started``.
            Not when the task first runs: the triggers that woke in the same loop iteration as
            the asking one, after it, would then count it as their own read and fall out of
            their rhythm (see ``CreditThresholdTrigger._wait``), all onto the read's answer.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()  # the GET's time, for the vendor's spacing
        self.reads += 1
        hook = self._hook
        balance: CreditBalance | None = None
        error: CreditsError | None = None
        try:
            try:
                hook = self._hook = hook or await self._open_hook()
                balance = await hook.aget_balance()
            except CreditsError as exc:
                error = exc
            finally:
                if hook is not None and min(self._intervals, default=math.inf) > KEEPALIVE_SECONDS:
                    await hook.aclose()  # long waits: hold no connection in between
            if hook is not None:
                self._hold_back(hook, started, loop.time(), error)
            settings = None if hook is None else hook._settings
            reading = Reading(
                requested, balance, error, None if settings is None else display_host(settings.base_url)
            )
            self._last = reading
            return reading
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def _hold_back(self, hook: CreditsHook, started: float, now: float, error: CreditsError | None) -> None:
        """Set when the next read may start: the vendor's spacing, a 429's ``Retry-After``."""
        if self._spacing is None:
            self._spacing = rate_spacing(hook)
        not_before = started + self._spacing
        if isinstance(error, CreditsRateLimitError):
            pause = error.retry_after if error.retry_after is not None else self._spacing
            not_before = max(not_before, now + pause)
        self._not_before = not_before


#: seconds of checks the loop's credit triggers run in one loop iteration before they let the
#: loop poll I/O and fire timers; the others take their turns in the following iterations.
TURN_SECONDS = 0.005


class Turns:
    """The event loop's time for the checks of its triggers, handed out a few milliseconds at a time.

    A check (judging a read by the gate, logging the outcome) costs tens of microseconds, its
    first one with its log line about a hundred. One read can release thousands of triggers that
    waited on it, and a loop that fell behind (a full garbage collection, a busy second) ends
    thousands of sleeps in one iteration: checked all at once, they would hold the loop for
    hundreds of milliseconds, every other trigger of the triggerer waiting. A trigger calls
    :meth:`take` before each check: it checks at once while this iteration's checks have
    taken less than :data:`TURN_SECONDS`, else it waits for a later iteration, in the order of
    arrival. A trigger alone, or triggers whose checks are spread out, never wait.

    One per event loop (:meth:`of_running_loop`). Nothing of it survives an idle loop but the
    learned cost of a check.
    """

    #: per event loop.
    _of: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Turns] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        #: seconds of checks counted in this loop iteration, at least (:meth:`_tick` starts it at
        #: what the turns it released took; the checks schedule a _tick once they count half a turn)
        self._used = 0.0
        #: learned seconds a check takes, resumption and its next sleep included
        self._cost = 50e-6
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._ticking = False  # a _tick is scheduled
        self._released = 0  # the waiters the last _tick released
        self._first_turn: float | None = None  # when the first of them ran (perf_counter)

    @classmethod
    def of_running_loop(cls) -> Turns:
        """The running loop's turns (made on first use)."""
        loop = asyncio.get_running_loop()
        turns = cls._of.get(loop)
        if turns is None:
            turns = cls._of[loop] = cls()
        return turns

    async def take(self) -> None:
        """Return when the caller may check: at once, or in a later loop iteration.

        :raises asyncio.CancelledError: the caller was cancelled while it waited (its turn is
            given to the next one).
        """
        if not self._waiting and self._used < TURN_SECONDS:
            self._used += self._cost
            if self._used >= TURN_SECONDS / 2:  # else spread-out checks schedule no _tick each
                self._tick_soon()
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        self._tick_soon()
        await turn
        if self._first_turn is None:
            self._first_turn = time.perf_counter()

    def _tick_soon(self) -> None:
        if not self._ticking:
            self._ticking = True
            asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        """A new loop iteration: learn the cost of the turns released last, release the next ones.

        Their tasks resume in the next iteration, just before the next ``_tick``: the time
        between the first of them and that ``_tick`` is what they took.
        """
        self._ticking = False
        # the turns released last ran in this iteration, just before this _tick: what they took
        # counts against this iteration's checks still to come (triggers whose sleep just ended)
        self._used = 0.0
        if self._first_turn is not None:
            self._used = time.perf_counter() - self._first_turn
            self._cost += (self._used / max(1, self._released) - self._cost) / 4
            self._first_turn = None
        released, budget = 0, max(1, int(TURN_SECONDS / self._cost))
        while self._waiting and released < budget:
            turn = self._waiting.popleft()
            if not turn.done():  # else cancelled while it waited
                turn.set_result(None)
                released += 1
        self._released = released
        if self._waiting or released or self._used:  # (a _tick resets what this one counted)
            self._tick_soon()


def _retrieve(task: asyncio.Task[Reading]) -> None:
    """Mark a read's exception as seen (every caller may have left before it ended)."""
    if not task.cancelled():
        with suppress(BaseException):
            task.exception()
