"""Wait until a vendor account has enough credits: :class:`CreditThresholdSensor`."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_credits.exceptions import CreditsConfigError, CreditsError
from airflow_provider_credits.gate import (
    DEFAULT_MAX_UNREACHABLE_CHECKS,
    GATE_ARGUMENTS,
    Gate,
    Reach,
    display_host,
    error_from_payload,
    never_reached_hint,
    result_value,
)
from airflow_provider_credits.notifications import (
    WAIT_BALANCE,
    WAIT_RESERVATIONS,
    WAIT_UNAVAILABLE,
    GateNotifications,
)
from airflow_provider_credits.templating import RejectEmptyTemplates
from airflow_provider_credits.version_compat import (
    AirflowSensorTimeout,
    AirflowSkipException,
    conf,
)

if TYPE_CHECKING:
    from decimal import Decimal

    from airflow.sdk import Context

    from airflow_provider_credits.hooks.base import CreditsHook
    from airflow_provider_credits.ledger import Budget
    from airflow_provider_credits.models import CreditBalance
    from airflow_provider_credits.reservation_steps import GateReservations
    from airflow_provider_credits.reservations import Refusal, ReservationStore

#: XCom key under which a gate says a budget or the runway (not the balance) refused it.
REFUSAL_KEY = "credit_gate_refusal"
#: task state store key (with the try number) of a reschedule-mode sensor's :class:`Reach`.
REACH_KEY = "credit_threshold_reach"
#: the events :class:`CreditThresholdTrigger` sends, by status: their required keys.
EVENT_KEYS = {
    "success": ("balance", "decision", "deadline"),
    "timeout": ("message",),
    "error": ("error_type", "message"),
}


class CreditThresholdSensor(GateNotifications, RejectEmptyTemplates, BaseSensorOperator):
    """Wait until a credit pool of a vendor account has at least the credits a run needs.

    Works with any connection of type clay, clodura, theirstack or trendtrack (the hook
    is chosen from the connection's type). Each check makes exactly one vendor request. On
    success the task returns (as XCom) the balance it decided on, with the decision under
    ``"decision"``.

    Errors: auth/permission and other non-transient errors fail at once; 402 (out of credits)
    counts as zero credits and the sensor keeps waiting; 429, 5xx and network errors are logged
    and checked again at the next interval, unless ``fail_on_transient_errors`` is set.

    :param credits_conn_id: the vendor connection (templated). Required: a sensor without it
        fails when the DAG file is parsed (``TypeError: missing keyword argument
        'credits_conn_id'``); ``default_args`` may supply it.
    :param min_remaining: credits that must remain; a number or numeric string, e.g. rendered
        from XCom (templated).
    :param min_remaining_pct: percentage (0-100) of the pool's limit that must remain
        (templated). With both thresholds set, both must hold.
    :param credit_pool: the vendor's credit pool to gate on, e.g. ``"direct_dials"``; None for
        the balance's primary pool (templated). Not Airflow's ``pool`` (task slots).
    :param fail_on_transient_errors: fail at the first 429/5xx/network error instead of waiting.
    :param max_unreachable_checks: fail after this many checks that got no HTTP response at all
        (refused, unresolvable or timed-out connections) when no check has reached the vendor
        since the task (try) started: most likely a wrong host. Default 5; None waits until
        ``timeout``. Once a check got any response, network errors are waited out as usual.
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
        when missing, with its lock table ``<table>_locks`` and its ledger (``credit_ledger``
        next to ``credit_reservations``, else ``<table>_ledger``).
    :param budget: credits this DAG (or ``budget_key``) may spend per ``budget_period``
        (templated): the gate passes only if the spend recorded in the period (reported or
        measured, see :mod:`airflow_provider_credits.ledger`) plus the outstanding reservations
        plus what it reserves stays within it. Needs ``reservation_conn_id``.
    :param budget_period: ``day``, ``week`` (from Monday) or ``month``, in UTC calendar terms
        (templated; default ``month``).
    :param budget_key: a budget's name shared by several DAGs (templated); None: the DAG's own.
    :param budget_refusal: what a budget refusal means: ``wait`` (default: keep checking, until
        the next period or a release makes room), ``fail`` (:class:`CreditsBudgetError`) or
        ``skip``. The log and the XCom key ``credit_gate_refusal`` say the budget refused.
    :param min_runway: ``timedelta`` (or days as a number; templated): after what the gate
        reserves, the pool must keep at least this many days of burn, the rate forecast from
        the stored history (:mod:`airflow_provider_credits.forecast`). With too little history,
        or nothing burning, the runway does not hold the gate (logged). Needs ``reservation_conn_id``.
    :param history_conn_id: common-sql connection holding the history ``UsageToSqlOperator``
        writes (templated); default ``reservation_conn_id``.
    :param history_balances_table: the balance snapshots table (default ``credit_balances``).
    :param history_usage_table: the usage table (default ``credit_usage``).
    :param on_wait_notifiers: ``airflow.sdk.BaseNotifier`` instances called once per try when the
        gate starts waiting (its first check that is not met); their templates see
        ``credit_gate`` (see :meth:`~airflow_provider_credits.notifications.GateNotifications.gate_notification`) with ``event="waiting"`` and the ``reason``
        (:data:`~airflow_provider_credits.notifications.WAIT_REASONS`). Called on the worker in
        every mode (in deferrable mode before deferring); a failing notifier is logged, never
        fails the gate.
    :param on_pass_notifiers: notifiers called once when the gate passes after having waited
        (``event="passed"``), on the worker (in deferrable mode when the task resumes).

    Where each check runs: the vendor balance (and, for a reserving gate, the others'
    outstanding reservations) is checked on the worker in poke and reschedule mode, and by the
    trigger in deferrable mode; the budget and the runway are checked on the worker, inside the
    reserving transaction, in every mode (in deferrable mode when the task resumes after the
    trigger's success; a ``wait`` refusal defers again).
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
        "budget",
        "budget_period",
        "budget_key",
        "min_runway",
        "history_conn_id",
    )
    ui_color = "#f5e6c8"

    def __init__(
        self,
        *,
        credits_conn_id: str,
        min_remaining: Any = None,
        min_remaining_pct: Any = None,
        credit_pool: str | None = None,
        fail_on_transient_errors: bool = False,
        max_unreachable_checks: int | None = DEFAULT_MAX_UNREACHABLE_CHECKS,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        reserve: Any = None,
        reservation_conn_id: str | None = None,
        # reservations.DEFAULT_TTL and DEFAULT_TABLE, written out: that module is not imported at parse
        reservation_ttl: timedelta | float = timedelta(hours=2),
        reservation_table: str = "credit_reservations",
        budget: Any = None,
        budget_period: str = "month",
        budget_key: str | None = None,
        budget_refusal: str = "wait",
        min_runway: Any = None,
        history_conn_id: str | None = None,
        history_balances_table: str = "credit_balances",
        history_usage_table: str = "credit_usage",
        on_wait_notifiers: Any = None,
        on_pass_notifiers: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.set_notifiers(on_wait_notifiers, on_pass_notifiers)
        if (budget is not None or min_runway is not None) and not reservation_conn_id:
            raise CreditsConfigError(
                f"{self.task_id}: budget and min_runway need reservation_conn_id (a SQL connection: "
                "they count reservations and the ledger)"
            )
        if reserve is None and reservation_conn_id:
            reserve = True
        if reserve is not None and reserve is not False and not reservation_conn_id:
            raise CreditsConfigError(f"{self.task_id}: reserve needs reservation_conn_id (a SQL connection)")
        if (
            min_remaining is None
            and min_remaining_pct is None
            and reserve is not None
            and not isinstance(reserve, bool)
        ):
            min_remaining = reserve  # "reserve 600" alone means "wait for 600 and reserve them"
        self.credits_conn_id = credits_conn_id
        self.min_remaining = min_remaining
        self.min_remaining_pct = min_remaining_pct
        self.credit_pool = credit_pool
        self.fail_on_transient_errors = fail_on_transient_errors
        self.max_unreachable_checks = max_unreachable_checks
        self.deferrable = deferrable
        if deferrable and not self.poke_interval > 0:  # BaseSensorOperator allows 0 (poke mode)
            raise CreditsConfigError(
                f"{self.task_id}: a deferrable gate needs poke_interval > 0 (seconds between balance "
                f"reads in the triggerer), got {self.poke_interval!r}"
            )
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
        self.budget = budget
        self.budget_period = budget_period
        self.budget_key = budget_key
        self.budget_refusal = budget_refusal
        self.min_runway = min_runway
        self.history_conn_id = history_conn_id
        self.history_balances_table = history_balances_table
        self.history_usage_table = history_usage_table
        self._check_ledger_arguments(literal_only=True)
        # Literal arguments are checked (and the gate built) now, cheaply and without I/O;
        # templates and XComArgs once rendered, at the first check (see ``gate``).
        self._gate = Gate.at_parse(**self._gate_arguments())
        self._gate_key = self._gate_arguments() if self._gate is not None else None

    def _check_ledger_arguments(self, *, literal_only: bool = False) -> tuple[Budget | None, Decimal | None]:
        """Validate the budget and runway arguments (at parse: only those not templated).

        :raises CreditsConfigError: an unusable budget, period, refusal or runway, or a budget
            below an explicit ``reserve`` amount.
        """
        if self.budget is None and self.min_runway is None:
            return None, None  # most gates: the ledger module is not imported at parse
        from airflow_provider_credits.ledger import Budget, parse_min_runway

        def given(value: Any) -> Any:
            return None if literal_only and isinstance(value, str) and "{" in value else value

        period = given(self.budget_period) or "month"
        budget = Budget.build(
            given(self.budget), period, given(self.budget_key), self.budget_refusal
        ) if given(self.budget) is not None else None  # fmt: skip
        if self.budget is not None and budget is None:
            Budget.build(0, period, given(self.budget_key), self.budget_refusal)  # the literal ones
        runway = parse_min_runway(given(self.min_runway))
        reserve = given(self.reserve)
        if budget is not None and reserve is not None and not isinstance(reserve, bool):
            from airflow_provider_credits.gate import parse_reserve

            amount = parse_reserve(reserve)
            if not isinstance(amount, bool) and amount > budget.amount:
                raise CreditsConfigError(
                    f"{self.task_id}: budget {budget.amount} is below the {amount} credits the gate reserves: "
                    "it could never pass"
                )
        return budget, runway

    def _gate_arguments(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in GATE_ARGUMENTS}

    @property
    def gate(self) -> Gate:
        """The gate, validated once: built at construction from literal arguments, else from the
        rendered ones at the first check (and again only if they change).

        :raises CreditsConfigError: a rendered argument is unusable.
        """
        arguments = self._gate_arguments()
        if self._gate is None or arguments != self._gate_key:
            self._gate, self._gate_key = Gate.build(**arguments), arguments
        return self._gate

    @cached_property
    def reservations(self) -> ReservationStore:
        """The reservation store (built on first use, after templates are rendered)."""
        from airflow_provider_credits.reservations import ReservationStore

        if not self.reservation_conn_id:
            raise CreditsConfigError(f"{self.task_id}: reserve needs reservation_conn_id (a SQL connection)")
        return ReservationStore(self.reservation_conn_id, self.reservation_table)

    @cached_property
    def _reserving(self) -> GateReservations:
        from airflow_provider_credits.reservation_steps import GateReservations, History

        budget, runway = self._check_ledger_arguments()
        history = History(
            self.history_conn_id or self.reservations.conn_id,
            self.history_balances_table,
            self.history_usage_table,
        )
        return GateReservations(
            self.reservations,
            self.credits_conn_id,
            self.reservation_ttl,
            budget=budget,
            min_runway_days=runway,
            history=history if runway is not None else None,
        )

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the balance once and decide; logs one line when not (yet) enough."""
        from airflow_provider_credits.hooks import get_credits_hook

        gate = self.gate
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
        result = gate.check(balance, error, primary=self._primary)
        if balance is not None:
            self._primary = balance.primary.name
        host = _host(hook)
        before = self._load_reach(context)
        reach = gate.track(before, error, conn_id=self.credits_conn_id, host=host)
        if reach != before:
            self._save_reach(context, reach)
        if not result.met:
            log = self.log.warning if result.transient else self.log.info
            hint = never_reached_hint(reach, gate.max_unreachable_checks, host) if error is not None else ""
            log(
                "connection %r: %s%s; next check %s",
                self.credits_conn_id,
                result.message,
                hint,
                self._next_check(),
            )
            self._notify_wait(context, WAIT_UNAVAILABLE if result.transient else WAIT_BALANCE, result)
            return PokeReturnValue(False)
        assert balance is not None and result.decision is not None
        if gate.reserves:
            value = self._reserve(context, gate, balance)
            self._notify_pass(context, value)
            return PokeReturnValue(value is not None, value)
        self.log.info("connection %r: %s", self.credits_conn_id, result.message)
        value = result_value(balance.model_dump(mode="json"), result.decision.model_dump(mode="json"))
        self._notify_pass(context, value)
        return PokeReturnValue(True, value)

    # ------------------------------------------------------------------ reach (max_unreachable_checks)
    #
    # Poke and deferrable mode run a try in one process: the state lives on the instance (and
    # goes to the trigger). Reschedule mode runs each check in a new process and Airflow clears
    # a task's XComs at each, so the state lives in the task state store (Airflow 3.3+), under
    # a key per try: each try starts afresh, as its timeout does.

    _reach: Reach = Reach()
    _primary: str | None = None  # the primary pool's name, once a check read it (for messages)

    def _reach_key(self, context: Context) -> str:
        return f"{REACH_KEY}_try_{getattr(context.get('ti'), 'try_number', 1)}"

    def _load_reach(self, context: Context) -> Reach:
        if not self.reschedule:
            return self._reach
        store = context.get("task_state_store")
        if store is None:
            # Airflow before 3.3 has no store: only the try's first check knows that no
            # earlier check reached the vendor; later ones assume one did (never a false failure).
            ti: Any = context.get("ti")
            first = ti is None or ti.get_first_reschedule_date(context) is None
            return self._reach if first else Reach(reached=True)
        try:
            return Reach.from_json(store.get(self._reach_key(context)))
        except Exception as exc:  # the count is a hint: never fail a gate because of it
            self.log.warning("could not read the unreachable-check count: %s", exc)
            return Reach(reached=True)

    def _save_reach(self, context: Context, reach: Reach) -> None:
        self._reach = reach
        store = context.get("task_state_store") if self.reschedule else None
        if store is None:
            return
        try:
            store.set(self._reach_key(context), reach.as_json())
        except Exception as exc:
            self.log.warning("could not store the unreachable-check count: %s", exc)

    def _reserve(self, context: Context, gate: Gate, balance: CreditBalance) -> dict[str, Any] | None:
        """Reserve atomically against ``balance``; the XCom value when granted, else None (keep waiting)."""
        reserved = self._reserving.reserve(gate, balance, context)
        if reserved.refusal is not None:
            self._refused(context, reserved.refusal, reserved.message)
        if reserved.value is None:
            self.log.info(
                "connection %r: %s; next check %s", self.credits_conn_id, reserved.message, self._next_check()
            )
            why = WAIT_RESERVATIONS if reserved.refusal is None else reserved.refusal.by  # budget, runway
            self._notify_wait(context, why, reserved.message)
        else:
            self.log.info("connection %r: %s", self.credits_conn_id, reserved.message)
        return reserved.value

    def _refused(self, context: Context, refusal: Refusal, message: str) -> None:
        """Say that a budget or the runway (not the balance) refused: in the log and the XCom
        ``credit_gate_refusal``; then fail or skip when the budget's refusal says so."""
        ti: Any = context.get("ti")
        if ti is not None and hasattr(ti, "xcom_push"):
            try:
                ti.xcom_push(key=REFUSAL_KEY, value=refusal.as_xcom())
            except Exception as exc:  # the XCom is a report: never fail a gate because of it
                self.log.warning("could not push the refusal to XCom: %s", exc)
        if refusal.action == "fail":
            from airflow_provider_credits.exceptions import CreditsBudgetError

            raise CreditsBudgetError(f"connection {self.credits_conn_id!r}: {message}")
        if refusal.action == "skip":
            raise AirflowSkipException(f"connection {self.credits_conn_id!r}: {message}")

    def _next_check(self) -> str:
        if self.exponential_backoff:
            return "after an exponential backoff"
        return f"in {self.poke_interval:g}s"

    def execute(self, context: Context) -> Any:
        """Wait for the credits; the timeout clock starts now (in reschedule mode at the try's
        first check), so each try of a task with ``retries`` waits up to ``timeout`` again."""
        self._reach, self._primary = Reach(), None  # a new try: nothing has reached the vendor yet
        self._waited = False
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
        from airflow_provider_credits.triggers.credit_threshold import CreditThresholdTrigger

        gate = self.gate
        self.defer(
            trigger=CreditThresholdTrigger.for_gate(
                gate,
                credits_conn_id=self.credits_conn_id,
                poke_interval=self.poke_interval,
                deadline=deadline,
                reach=self._reach,
                reservation=self._reserving.ticket(context) if gate.reserves else None,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout),
        )

    def execute_complete(self, context: Context, event: Any = None) -> Any:
        """Resume after the trigger: return the balance, or raise what the poke path would raise.

        :param context: the task context.
        :param event: the trigger's event payload (see :class:`CreditThresholdTrigger`).
        :raises CreditsError: the event is not one the trigger sends (named in the message; not
            skipped under ``soft_fail``: that is for credits that never came, not broken plumbing).
        """
        status = self._check_event(event)
        self._waited = True  # the gate deferred: it has waited (and notified) in this try
        if status == "success":
            gate = self.gate
            self._reach = Reach(reached=True)
            if gate.reserves:
                return self._reserve_after_trigger(context, gate, event)
            self.log.info("connection %r: %s", self.credits_conn_id, event["decision"]["message"])
            value = result_value(event["balance"], event["decision"])
            self._notify_pass(context, value)
            return value
        if status == "timeout":
            self._timed_out(event["message"])
        raise error_from_payload(event)

    def _check_event(self, event: Any) -> str:
        """The status of a well-formed trigger event.

        :raises CreditsError: anything else, naming the event. A :class:`CreditsError` is no
            :class:`AirflowException`, so ``soft_fail`` does not turn it into a skip.
        """
        problem = _event_problem(event)
        if problem:
            shown = repr(event)
            shown = shown if len(shown) <= 300 else f"{shown[:300]}..."
            raise CreditsError(f"{self.task_id}: malformed trigger event ({problem}): {shown}")
        return str(event["status"])

    def _timed_out(self, message: Any) -> None:
        text = f"Sensor has timed out after {self.timeout:g}s: {message}"
        self.log.warning("connection %r: %s", self.credits_conn_id, text)  # say why before a soft_fail skip
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

        value = self._reserve(context, gate, CreditBalance.model_validate(event["balance"]))
        if value is not None:
            self._notify_pass(context, value)
            return value
        deadline = float(event["deadline"])
        left = deadline - time.time()
        if left <= 0:
            self._timed_out(
                f"connection {self.credits_conn_id!r}: deadline passed; other tasks hold the credits"
            )
        self._defer(context, deadline, left)
        return None


def _host(hook: CreditsHook | None) -> str | None:
    """The host of ``hook``'s connection, once read (for messages); None when unknown."""
    settings = None if hook is None else hook._settings
    return None if settings is None else display_host(settings.base_url)


def _event_problem(event: Any) -> str | None:
    """What makes ``event`` not one :class:`CreditThresholdTrigger` sends; None when it is one."""
    from pydantic import ValidationError

    from airflow_provider_credits.models import CreditBalance, ThresholdDecision

    status = event.get("status") if isinstance(event, dict) else None
    if not isinstance(status, str) or status not in EVENT_KEYS:
        return "not an event of CreditThresholdTrigger"
    missing = [key for key in EVENT_KEYS[status] if key not in event]
    if missing:
        return f"{status} event without {', '.join(missing)}"
    if status != "success":
        wrong = [key for key in EVENT_KEYS[status] if not isinstance(event[key], str)]
        return f"{status} event whose {', '.join(wrong)} is not text" if wrong else None
    raw_decision = event["decision"]
    if isinstance(raw_decision, dict) and set(raw_decision) - set(ThresholdDecision.model_fields):
        unknown = sorted(map(str, set(raw_decision) - set(ThresholdDecision.model_fields)))
        return f"success event whose decision has unknown keys {unknown}"
    try:
        balance = CreditBalance.model_validate(event["balance"])
        decision = ThresholdDecision.model_validate(raw_decision)
    except ValidationError as exc:
        return f"success event with an unusable balance or decision ({exc.error_count()} errors)"
    if not decision.met:
        return "success event whose decision is not met"
    if decision.remaining - decision.reserved < decision.needed:
        return "success event whose decision is met with remaining - reserved below needed"
    if decision.pool not in {pool.name for pool in balance.pools}:
        return f"success event whose decision's pool {decision.pool!r} is not in its balance"
    deadline = event["deadline"]
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not math.isfinite(deadline):
        return "success event whose deadline is not a number (finite epoch seconds)"
    return None
