"""The trigger behind the deferrable :class:`~airflow_provider_credits.sensors.credit_threshold.CreditThresholdSensor`."""

from __future__ import annotations

import asyncio
import copy
import functools
import math
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_credits.exceptions import CreditsConfigError, CreditsError
from airflow_provider_credits.gate import (
    DEFAULT_MAX_UNREACHABLE_CHECKS,
    Check,
    Gate,
    Reach,
    error_payload,
    never_reached_hint,
)
from airflow_provider_credits.hooks import aget_credits_hook
from airflow_provider_credits.hooks.transport import KEEPALIVE_SECONDS  # noqa: F401 - tests patch it here
from airflow_provider_credits.triggers.shared_reads import AccountReader, Reading, Turns

#: seconds after which an unchanged check result is logged again.
REPEAT_LOG_SECONDS = 60.0

if TYPE_CHECKING:
    from airflow_provider_credits.hooks.base import CreditsHook
    from airflow_provider_credits.models import CreditBalance
    from airflow_provider_credits.reservation_steps import ReservationTicket


def gate_of(arguments: dict[str, Any]) -> Gate:
    """:meth:`Gate.from_dict`, parsed once per distinct set of arguments (a mapped gate's
    thousands of triggers start with one parse, not one each).

    :raises CreditsConfigError: as :meth:`Gate.from_dict` (errors are not kept).
    """
    try:
        key = tuple((name, type(value), value) for name, value in sorted(arguments.items()))
        hash(key)
    except TypeError:  # a value that cannot be a key (a list from a hand-made row): no cache
        return Gate.from_dict(arguments)
    return _gate_of(key)


@functools.lru_cache(maxsize=1024)
def _gate_of(key: tuple[tuple[str, type, Any], ...]) -> Gate:
    return Gate.from_dict({name: value for name, _, value in key})


class CreditThresholdTrigger(BaseTrigger):
    """Poll a credit balance until a pool has enough credits, the deadline passes, or an error is fatal.

    Every argument is a JSON primitive, so the trigger is rebuilt unchanged from
    :meth:`serialize` after a triggerer restart (also from the rows of earlier versions: the
    arguments keep their names and shapes). The sensor builds it with :meth:`for_gate`: the
    gate's arguments are those of :meth:`Gate.to_dict`, with ``reserve`` among the
    ``reservation`` keys (where earlier versions put it). It first sleeps (the sensor has just
    checked on the worker), then checks the balance once per ``poke_interval``, and yields
    exactly one event:

    * ``{"status": "success", "balance": {...}, "decision": {...}, "deadline": ...}``
    * ``{"status": "timeout", "message": ..., "last_check": ...}``
    * ``{"status": "error", "error_type": <CreditsError subclass name>, "message": ..., ...}``

    The triggers of one event loop (a triggerer) that watch the same connection share its
    balance reads (:class:`~airflow_provider_credits.triggers.shared_reads.AccountReader`): a
    check uses a read that started while the trigger slept, made by another trigger, or sends
    one GET itself; never faster than the vendor's documented limit, and never during a 429's
    ``Retry-After``. Each trigger judges the shared balance by its own gate, reservations and
    deadline. A trigger alone sends one GET per check, as before sharing. Checks take turns of
    the loop (:class:`~airflow_provider_credits.triggers.shared_reads.Turns`): thousands due at
    once check a few milliseconds' worth per loop iteration.

    :param credits_conn_id: connection of type clay, clodura, theirstack or trendtrack.
    :param min_remaining: credits that must remain (number or numeric string). This and the
        other gate arguments are validated (:meth:`Gate.from_dict`) when the trigger runs: an
        unusable one ends it with an error event.
    :param min_remaining_pct: percentage of the pool's limit that must remain.
    :param credit_pool: pool name; None for the balance's primary pool.
    :param poke_interval: seconds between checks.
    :param deadline: epoch seconds after which the trigger yields a timeout event.
    :param fail_on_transient_errors: yield an error event on 429/5xx/network errors instead of waiting.
    :param reservation: for a reserving sensor: a
        :class:`~airflow_provider_credits.reservation_steps.ReservationTicket` as a dict
        (``{"conn_id", "table", "reservation_id"}``) plus the gate's ``reserve``. The trigger
        then also subtracts the other tasks' active reservations (a plain read in a thread,
        never in the event loop) and reports success only when the rest is enough; the sensor
        makes the reservation itself, atomically, when it resumes.
    :param max_unreachable_checks: yield an error event after this many checks that got no HTTP
        response, when none has since the task started (None: wait until the deadline).
    :param reached: whether a check (on the worker) has already reached the vendor.
    :param unreachable_checks: checks so far that got no HTTP response (the worker's); the
        trigger counts on from there.
    """

    #: share balance reads with the loop's other triggers of the same connection (False: each
    #: trigger reads for itself, as before; the benchmark compares both).
    share_reads: ClassVar[bool] = True

    def __init__(
        self,
        *,
        credits_conn_id: str,
        min_remaining: str | float | None = None,
        min_remaining_pct: str | float | None = None,
        credit_pool: str | None = None,
        poke_interval: float = 60.0,
        deadline: float,
        fail_on_transient_errors: bool = False,
        reservation: dict[str, Any] | None = None,
        max_unreachable_checks: int | None = DEFAULT_MAX_UNREACHABLE_CHECKS,
        reached: bool = False,
        unreachable_checks: int = 0,
    ) -> None:
        super().__init__()
        self.credits_conn_id = credits_conn_id
        self.poke_interval = float(poke_interval)
        if not (0 < self.poke_interval < math.inf):  # 0, a negative or NaN: reads without pause
            raise CreditsConfigError(
                f"poke_interval must be a positive number of seconds, got {poke_interval!r}"
            )
        self.deadline = float(deadline)
        #: the gate's serialized form, as given (:meth:`serialize` hands it back unchanged)
        self.gate_arguments: dict[str, Any] = {
            "min_remaining": min_remaining,
            "min_remaining_pct": min_remaining_pct,
            "credit_pool": credit_pool,
            "fail_on_transient_errors": fail_on_transient_errors,
            "reserve": reservation.get("reserve", True) if reservation is not None else False,
            "max_unreachable_checks": max_unreachable_checks,
        }
        self.reservation: ReservationTicket | None = None
        if reservation is not None:
            from airflow_provider_credits.reservation_steps import ReservationTicket

            self.reservation = ReservationTicket.from_dict(reservation)
        self.reached = reached
        self.unreachable_checks = unreachable_checks
        self._reach = Reach(reached, unreachable_checks)
        self._primary: str | None = None  # the primary pool's name, once a check read it
        self._logged: tuple[str | None, float] = (None, 0.0)  # the last check logged, and when
        self._last_message: str | None = None  # the last check's outcome, for a timeout without a read
        self._judged: Reading | None = None  # the last read judged (a last check may judge it again)

    @classmethod
    def for_gate(
        cls,
        gate: Gate,
        *,
        credits_conn_id: str,
        poke_interval: float,
        deadline: float,
        reach: Reach,
        reservation: ReservationTicket | None,
    ) -> CreditThresholdTrigger:
        """The trigger that waits for ``gate`` (the sensor's, already validated).

        :param gate: the gate.
        :param credits_conn_id: the vendor connection.
        :param poke_interval: seconds between checks.
        :param deadline: epoch seconds after which the trigger yields a timeout event.
        :param reach: the worker's checks so far (see :class:`Reach`).
        :param reservation: the gate's ticket when ``gate.reserves``, else None.
        :raises ValueError: ``reservation`` is given exactly when the gate does not reserve.
        """
        if (reservation is not None) != gate.reserves:
            raise ValueError("a reserving gate needs its reservation ticket, and only it")
        arguments = gate.to_dict()
        reserve = arguments.pop("reserve")
        return cls(
            credits_conn_id=credits_conn_id,
            **arguments,
            poke_interval=poke_interval,
            deadline=deadline,
            reservation=None if reservation is None else {**reservation.to_dict(), "reserve": reserve},
            reached=reach.reached,
            unreachable_checks=reach.unreachable,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        gate = dict(self.gate_arguments)
        reserve = gate.pop("reserve")
        kwargs: dict[str, Any] = {
            "credits_conn_id": self.credits_conn_id,
            **gate,
            "poke_interval": self.poke_interval,
            "deadline": self.deadline,
            "reached": self.reached,
            "unreachable_checks": self.unreachable_checks,
        }
        if self.reservation is not None:
            kwargs["reservation"] = {**self.reservation.to_dict(), "reserve": reserve}
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except CreditsError as error:
            event = {"status": "error", **error_payload(error)}
        yield TriggerEvent(event)

    async def _wait(self) -> dict[str, Any]:
        gate = gate_of(self.gate_arguments)
        loop = asyncio.get_running_loop()
        turns = Turns.of_running_loop()
        reader = AccountReader.join(
            self.credits_conn_id, self.poke_interval, self._open_hook, shared=self.share_reads
        )
        try:
            asleep_at, wait = loop.time(), self._next_wait()
            while True:
                due = loop.time() + wait
                await asyncio.sleep(wait)
                woke_at = loop.time()
                last = time.time() >= self.deadline - 1e-3  # this check is the last one
                reading = await reader.read(asleep_at, self.deadline, last=last)
                await turns.take()
                event = await self._check(gate, reading)
                if event is not None:
                    return event
                asleep_at, wait = loop.time(), self._next_wait()
                if reading is not None and reading.started < woke_at:
                    # another trigger's read: keep this trigger's own rhythm, else the triggers
                    # that waited on one read would wake together from then on
                    wait = min(wait, self._rhythm(asleep_at - due))
                    asleep_at = woke_at
        finally:  # also when a check raised or was cancelled: the last trigger out closes the hook
            await reader.leave(self.poke_interval)

    def _rhythm(self, late: float) -> float:
        """Seconds to sleep so as to wake a whole number of intervals after this wake-up was due.

        Counted from when the sleep was due to end, not from when the loop got to it: after the
        loop fell behind (a long garbage collection, a burst of checks) the triggers it delayed
        would otherwise wake together from then on. Intervals that ``late`` (seconds, the check's
        time after that) already spans are skipped, not made up in a burst.
        """
        return self.poke_interval - max(0.0, late) % self.poke_interval

    async def _open_hook(self) -> CreditsHook:
        """The hook of this trigger's connection (its reader calls it once, on its first read)."""
        return await aget_credits_hook(self.credits_conn_id, max_retries=0)

    async def _check(self, gate: Gate, reading: Reading | None) -> dict[str, Any] | None:
        """One check of ``reading`` (None: the deadline came while the vendor held reads back):
        the final event, or None (logged) to check again after the next sleep.

        Nothing of a check (balance, decision) is kept through the sleep that follows it.
        """
        if reading is None:
            last = (
                self._last_message or "no balance read (the vendor's rate limit or Retry-After held it back)"
            )
            return {
                "status": "timeout",
                "message": f"connection {self.credits_conn_id!r}: deadline passed; last check: {last}",
            }
        balance, host = reading.balance, reading.host
        # each trigger raises (and so changes the traceback of) an error of its own
        error = None if reading.error is None else copy.copy(reading.error)
        result = reading.judge(gate) if error is None else gate.check(balance, error, primary=self._primary)
        if balance is not None:
            self._primary = balance.primary.name
        if reading is not self._judged:  # a read counts once toward max_unreachable_checks
            self._reach = gate.track(self._reach, error, conn_id=self.credits_conn_id, host=host)
        self._judged = reading
        if error is not None:
            hint = never_reached_hint(self._reach, gate.max_unreachable_checks, host)
            result = replace(result, message=result.message + hint)
        if result.met and gate.reserves:
            assert balance is not None and result.decision is not None
            result = await self._minus_reservations(gate, balance, result.decision.pool)
        if result.met:
            assert balance is not None and result.decision is not None
            return {
                "status": "success",
                "balance": balance.model_dump(mode="json"),
                "decision": result.decision.model_dump(mode="json"),
                "deadline": self.deadline,
            }
        if time.time() >= self.deadline:
            return {
                "status": "timeout",
                "message": f"connection {self.credits_conn_id!r}: deadline passed; last check: {result.message}",
            }
        self._last_message = result.message
        self._log_check(result)
        return None

    @property
    def log(self) -> Any:  # LoggingMixin.log's logger (its type lives in a private Airflow module)
        """The class's logger, shared by all its triggers (``LoggingMixin`` builds one per instance).

        Building a trigger's own structlog logger on its first line cost more than the line
        itself (about 90 us and a dozen objects for the garbage collector, with Airflow's
        logging set up): at 10,000 triggers starting together, most of what their first checks
        cost. The lines still reach each trigger's task log: the triggerer routes them by the
        context of the trigger's task, not by logger.
        """
        cls = type(self)
        if cls.__dict__.get("_log") is None:
            cls._log = None  # this class's own, not one a base class made (named after it)
        return cls.logger()

    def _log_check(self, result: Check) -> None:
        """Log a check that keeps the trigger waiting: when its outcome changed, else once a minute.

        A trigger polling every few seconds while nothing changes (an account waiting for a
        top-up) would otherwise write the same line thousands of times.
        """
        now = time.monotonic()
        if result.message == self._logged[0] and now - self._logged[1] < REPEAT_LOG_SECONDS:
            return
        self._logged = (result.message, now)
        log = self.log.warning if result.transient else self.log.info
        log(
            "connection %r: %s; next check in %gs",
            self.credits_conn_id,
            result.message,
            round(self._next_wait(), 1),
        )

    async def _minus_reservations(self, gate: Gate, balance: CreditBalance, pool: str) -> Check:
        """Judge ``balance`` minus the other tasks' active reservations (read in a worker thread)."""
        from airflow_provider_credits.reservation_steps import check_minus_others

        assert self.reservation is not None
        return await asyncio.to_thread(
            check_minus_others,
            gate,
            balance,
            pool,
            credits_conn_id=self.credits_conn_id,
            ticket=self.reservation,
        )

    def _next_wait(self) -> float:
        """Seconds to sleep before the next check: ``poke_interval``, but never past the deadline."""
        return max(0.0, min(self.poke_interval, self.deadline - time.time()))
