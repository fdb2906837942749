"""Wait until a vendor account has enough credits: :class:`CreditThresholdSensor`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_credits.exceptions import CreditsConfigError, CreditsError
from airflow_provider_credits.reservations import DEFAULT_TABLE, DEFAULT_TTL
from airflow_provider_credits.threshold import (
    HUNDRED,
    Gate,
    error_from_payload,
    parse_amount,
    parse_reserve,
    result_value,
)
from airflow_provider_credits.version_compat import (
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
    conf,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_credits.models import CreditBalance
    from airflow_provider_credits.reservations import ReservationStore
    from airflow_provider_credits.threshold import ThresholdDecision


class CreditThresholdSensor(BaseSensorOperator):
    """Wait until a credit pool of a vendor account has at least the credits a run needs.

    Works with any connection of type clay, clodura, theirstack or trendtrack (the hook
    is chosen from the connection's type). Each check makes exactly one vendor request. On
    success the task returns (as XCom) the balance it decided on, with the decision under
    ``"decision"``.

    Errors: auth/permission and other non-transient errors fail at once; 402 (out of credits)
    counts as zero credits and the sensor keeps waiting; 429, 5xx and network errors are logged
    and checked again at the next interval, unless ``fail_on_transient_errors`` is set.

    :param credits_conn_id: the vendor connection (templated).
    :param min_remaining: credits that must remain; a number or numeric string, e.g. rendered
        from XCom (templated).
    :param min_remaining_pct: percentage (0-100) of the pool's limit that must remain
        (templated). With both thresholds set, both must hold.
    :param credit_pool: the vendor's credit pool to gate on, e.g. ``"direct_dials"``; None for
        the balance's primary pool (templated). Not Airflow's ``pool`` (task slots).
    :param fail_on_transient_errors: fail at the first 429/5xx/network error instead of waiting.
    :param deferrable: wait in the triggerer instead of a worker slot; defaults to
        ``[operators] default_deferrable``.
    :param reserve: reserve credits when the gate passes (templated): True reserves what the
        thresholds need, a number (or numeric string) reserves that many and then also is the
        least that must be available; None or False reserves nothing. With a number and no
        threshold, ``min_remaining`` is that number. Needs ``reservation_conn_id``.
    :param reservation_conn_id: common-sql connection holding the reservation table (templated).
        Setting it without ``reserve`` means ``reserve=True``. The gate then compares the
        vendor's remaining credits minus the other tasks' active reservations with what it needs.
    :param reservation_ttl: how long a reservation holds credits unless released (seconds or
        timedelta; default 2 hours). Make it longer than the gated work takes.
    :param reservation_table: the reservation table (``table`` or ``schema.table``); created
        when missing, with its lock table ``<table>_locks``.
    :param kwargs: :class:`~airflow.sdk.BaseSensorOperator` arguments (``poke_interval``,
        ``timeout``, ``mode``, ``soft_fail``, ``exponential_backoff``, ``max_wait`` ...).
    """

    template_fields: Sequence[str] = (
        "credits_conn_id",
        "min_remaining",
        "min_remaining_pct",
        "credit_pool",
        "reserve",
        "reservation_conn_id",
    )
    ui_color = "#f5e6c8"

    def __init__(
        self,
        *,
        credits_conn_id: str = "clay_default",
        min_remaining: Any = None,
        min_remaining_pct: Any = None,
        credit_pool: str | None = None,
        fail_on_transient_errors: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        reserve: Any = None,
        reservation_conn_id: str | None = None,
        reservation_ttl: timedelta | float = DEFAULT_TTL,
        reservation_table: str = DEFAULT_TABLE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if reserve is None and reservation_conn_id:
            reserve = True
        if reserve is not None and reserve is not False and not reservation_conn_id:
            raise CreditsConfigError(f"{self.task_id}: reserve needs reservation_conn_id (a SQL connection)")
        if isinstance(reserve, (int, float, Decimal)) and not isinstance(reserve, bool):
            parse_reserve(reserve)  # literal amounts are checked now
        if (
            min_remaining is None
            and min_remaining_pct is None
            and reserve is not None
            and not isinstance(reserve, bool)
        ):
            min_remaining = reserve  # "reserve 600" alone means "wait for 600 and reserve them"
        if min_remaining is None and min_remaining_pct is None:
            raise CreditsConfigError(f"{self.task_id}: give min_remaining, min_remaining_pct or both")
        # Literal numbers are checked now (cheap, no I/O); templates and XComArgs at the first poke.
        if isinstance(min_remaining, (int, float, Decimal)):
            parse_amount("min_remaining", min_remaining)
        if isinstance(min_remaining_pct, (int, float, Decimal)):
            parse_amount("min_remaining_pct", min_remaining_pct, maximum=HUNDRED)
        self.credits_conn_id = credits_conn_id
        self.min_remaining = min_remaining
        self.min_remaining_pct = min_remaining_pct
        self.credit_pool = credit_pool
        self.fail_on_transient_errors = fail_on_transient_errors
        self.deferrable = deferrable
        self.reserve = reserve
        self.reservation_conn_id = reservation_conn_id
        ttl = (
            reservation_ttl if isinstance(reservation_ttl, timedelta) else timedelta(seconds=reservation_ttl)
        )
        if ttl <= timedelta(0):
            raise CreditsConfigError(
                f"{self.task_id}: reservation_ttl must be positive, got {reservation_ttl!r}"
            )
        self.reservation_ttl = ttl
        self.reservation_table = reservation_table

    @cached_property
    def reservations(self) -> ReservationStore:
        """The reservation store (built on first use, after templates are rendered)."""
        from airflow_provider_credits.reservations import ReservationStore

        if not self.reservation_conn_id:
            raise CreditsConfigError(f"{self.task_id}: reserve needs reservation_conn_id (a SQL connection)")
        return ReservationStore(self.reservation_conn_id, self.reservation_table)

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the balance once and decide; logs one line when not (yet) enough."""
        from airflow_provider_credits.hooks import get_credits_hook

        gate = Gate.of(self)
        balance: CreditBalance | None = None
        error: CreditsError | None = None
        hook = None
        try:
            # No hook retries: the next check is the retry, so each check is one request.
            hook = get_credits_hook(self.credits_conn_id, max_retries=0)
            balance = hook.get_balance()
        except CreditsError as exc:
            error = exc  # the gate's error policy decides: fail now or check again
        finally:
            if hook is not None:
                hook.close()
        result = gate.check(balance, error)
        if not result.met:
            log = self.log.warning if result.transient else self.log.info
            log("connection %r: %s; next check %s", self.credits_conn_id, result.message, self._next_check())
            return PokeReturnValue(False)
        assert balance is not None and result.decision is not None
        if gate.reserves:
            value = self._reserve(context, gate, balance)
            if value is None:
                return PokeReturnValue(False)
            return PokeReturnValue(True, value)
        self.log.info("connection %r: %s", self.credits_conn_id, result.message)
        return PokeReturnValue(True, self._result(balance, result.decision))

    def _result(
        self, balance: CreditBalance, decision: ThresholdDecision, reservation: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return result_value(balance.model_dump(mode="json"), decision.model_dump(mode="json"), reservation)

    def _reserve(self, context: Context, gate: Gate, balance: CreditBalance) -> dict[str, Any] | None:
        """Reserve atomically against ``balance``; the XCom value when granted, else None (keep waiting)."""
        from airflow_provider_credits.reservations import Holder

        attempt = self.reservations.reserve(
            gate=gate,
            balance=balance,
            connection_id=self.credits_conn_id,
            holder=Holder.of(context),
            ttl=self.reservation_ttl,
        )
        if not attempt.granted:
            self.log.info(
                "connection %r: %s (%d active reservations); next check %s",
                self.credits_conn_id,
                attempt.decision.message,
                len(attempt.counted),
                self._next_check(),
            )
            return None
        assert attempt.reservation is not None
        self.log.info(
            "connection %r: %s; reserved %s %s until %s (reservation %s)",
            self.credits_conn_id,
            attempt.decision.message,
            attempt.reservation.amount,
            attempt.decision.unit,
            attempt.reservation.expires_at.isoformat(),
            attempt.reservation.reservation_id,
        )
        return self._result(
            balance, attempt.decision, attempt.as_xcom(self.reservations.conn_id, self.reservation_table)
        )

    def _next_check(self) -> str:
        if self.exponential_backoff:
            return "after an exponential backoff"
        return f"in {self.poke_interval:g}s"

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        deadline = time.time() + self.timeout
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        self._defer(context, deadline, self.timeout)

    def _defer(self, context: Context, deadline: float, timeout: float) -> None:
        """Hand the wait to the trigger until the absolute ``deadline`` (epoch seconds).

        :param context: the task context.
        :param deadline: the trigger's deadline.
        :param timeout: the deferral's timeout in seconds (a trigger timeout is a sensor timeout).
        """
        from airflow_provider_credits.reservations import Holder
        from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger

        gate = Gate.of(self)
        reservation = None
        if gate.reserves:
            reservation = {
                "conn_id": self.reservations.conn_id,
                "table": self.reservation_table,
                "reserve": gate.reserve if isinstance(gate.reserve, bool) else str(gate.reserve),
                "reservation_id": Holder.of(context).reservation_id,
            }
        self.defer(
            trigger=CreditThresholdTrigger(
                credits_conn_id=self.credits_conn_id,
                **gate.thresholds.as_kwargs(),
                credit_pool=self.credit_pool,
                poke_interval=self.poke_interval,
                deadline=deadline,
                fail_on_transient_errors=self.fail_on_transient_errors,
                reservation=reservation,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: return the balance, or raise what the poke path would raise.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        status = event.get("status")
        if status == "success":
            gate = Gate.of(self)
            if gate.reserves:
                return self._reserve_after_trigger(context, gate, event)
            self.log.info("connection %r: %s", self.credits_conn_id, event["decision"]["message"])
            return result_value(event["balance"], event["decision"])
        if status == "timeout":
            self._timed_out(event.get("message"))
        if status == "error":
            raise error_from_payload(event)
        raise AirflowException(f"{self.task_id}: unexpected trigger event {event!r}")

    def _timed_out(self, message: Any) -> None:
        text = f"Sensor has timed out after {self.timeout:g}s: {message}"
        if self.soft_fail:
            raise AirflowSkipException(text)
        raise AirflowSensorTimeout(text)

    def _reserve_after_trigger(self, context: Context, gate: Gate, event: dict[str, Any]) -> Any:
        """Reserve on the worker with the balance the trigger read; defer again if others got there first.

        :param context: the task context.
        :param gate: the sensor's gate.
        :param event: the trigger's success event.
        """
        from airflow_provider_credits.models import CreditBalance

        balance = CreditBalance.model_validate(event["balance"])
        value = self._reserve(context, gate, balance)
        if value is not None:
            return value
        deadline = float(event.get("deadline") or time.time())
        left = deadline - time.time()
        if left <= 0:
            self._timed_out(
                f"connection {self.credits_conn_id!r}: deadline passed; other tasks hold the credits"
            )
        self._defer(context, deadline, left)
        return None
