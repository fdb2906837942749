"""Calling the user's Airflow notifiers: :func:`send`, and why a gate waits (:data:`WAIT_REASONS`).

The package writes no Slack or e-mail code: alerts and gates call any
``airflow.sdk.BaseNotifier`` the user passes (``SlackNotifier``, ``SmtpNotifier``,
``AppriseNotifier`` ...). Each call renders a fresh copy of the notifier, so one notifier
object can be called many times (a gate's "waiting" then "passed", an alert check every hour)
and each message is rendered from its own context.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_credits.exceptions import CreditsConfigError

if TYPE_CHECKING:
    from airflow.sdk import BaseNotifier

__all__ = [
    "WAITED_KEY",
    "WAIT_BALANCE",
    "WAIT_BUDGET",
    "WAIT_REASONS",
    "WAIT_RESERVATIONS",
    "WAIT_RUNWAY",
    "WAIT_UNAVAILABLE",
    "GateNotifications",
    "as_notifiers",
    "send",
]

WAIT_BALANCE = "balance"
"""The vendor's balance is below what the gate needs (or the vendor answered 402)."""
WAIT_RESERVATIONS = "reservations"
"""The balance would do, but other tasks' reservations hold part of it."""
WAIT_BUDGET = "budget"
"""The run's budget (the ledger) does not allow the spend."""
WAIT_UNAVAILABLE = "unavailable"
"""The balance could not be read for now (429, 5xx, network): the gate checks again."""
WAIT_RUNWAY = "runway"
"""After the reservation the pool would run out sooner than ``min_runway`` (the forecast)."""

#: why a gate waits: the ``reason`` a wait notification's ``credit_gate`` carries, and its
#: wording. An open set: a new kind of gate adds its reason here (a plain string).
WAIT_REASONS: dict[str, str] = {
    WAIT_BALANCE: "the vendor's balance is too low",
    WAIT_RESERVATIONS: "other tasks have reserved the credits",
    WAIT_BUDGET: "the budget does not allow it",
    WAIT_UNAVAILABLE: "the balance cannot be read right now",
    WAIT_RUNWAY: "the pool would run out too soon",
}


def as_notifiers(value: Any, argument: str) -> list[BaseNotifier]:
    """Validate a notifiers argument: None, one notifier, or a list of them.

    :param value: what the user passed.
    :param argument: the argument's name, for the error.
    :raises CreditsConfigError: an item is not an ``airflow.sdk.BaseNotifier``.
    """
    from airflow.sdk import BaseNotifier

    if value is None:
        return []
    items = [value] if isinstance(value, BaseNotifier) else list(value)
    wrong = [type(item).__name__ for item in items if not isinstance(item, BaseNotifier)]
    if wrong:
        raise CreditsConfigError(
            f"{argument} takes airflow.sdk.BaseNotifier instances (e.g. SlackNotifier, SmtpNotifier), "
            f"got {', '.join(wrong)}"
        )
    return items


def _fresh(notifier: BaseNotifier) -> BaseNotifier:
    """A copy to render: rendering replaces the template fields in place, irreversibly."""
    try:
        return copy.deepcopy(notifier)
    except Exception:  # a notifier holding a client that cannot be copied
        return copy.copy(notifier)


def send(
    notifiers: Iterable[BaseNotifier],
    context: Mapping[str, Any],
    extra: Mapping[str, Any],
    *,
    raise_errors: bool,
    log: Any = None,
) -> int:
    """Render and send every notifier with ``context`` plus ``extra`` (which the templates see).

    :param notifiers: the notifiers.
    :param context: the task's context.
    :param extra: what the notification is about, e.g. ``{"alerts": [...]}``.
    :param raise_errors: raise the first notifier error (after trying the others); otherwise log it.
    :param log: a logger for failures (``raise_errors=False``).
    :returns: how many notifiers sent without error.
    :raises Exception: a notifier's error, when ``raise_errors``.
    """
    sent, first_error = 0, None
    for notifier in notifiers:
        ctx: Any = {**context, **extra}
        fresh = _fresh(notifier)
        try:
            fresh.render_template_fields(ctx)
            fresh.notify(ctx)
            sent += 1
        except Exception as exc:
            first_error = first_error or exc
            if log is not None:
                log.warning("notifier %s failed: %s: %s", type(notifier).__name__, type(exc).__name__, exc)
    if first_error is not None and raise_errors:
        raise first_error
    return sent


#: task state store key (with the try number) of a reschedule-mode gate's "wait notified" flag.
WAITED_KEY = "credit_threshold_waited"


class GateNotifications:
    """The notifiers of a credit gate (mixin of
    :class:`~airflow_provider_credits.sensors.credit_threshold.CreditThresholdSensor`).

    "Once per try": poke mode keeps the flag on the instance; deferrable mode notifies the wait
    on the worker before deferring, and a resumed task has waited by definition (the sensor sets
    ``_waited`` in ``execute_complete``). Reschedule mode runs each check in a new process: the
    flag lives in the task state store (Airflow 3.3+); without a store (3.1, 3.2), a check after
    the try's first reschedule has waited (only a check that was not met reschedules), which
    gives the same answer.
    """

    on_wait_notifiers: list[BaseNotifier]
    on_pass_notifiers: list[BaseNotifier]
    _waited: bool = False
    # provided by the sensor
    reschedule: bool
    log: Any
    credits_conn_id: str
    credit_pool: str | None
    task_id: str
    dag_id: str

    def set_notifiers(self, on_wait: Any, on_pass: Any) -> None:
        """Validate and keep the two lists (see :func:`as_notifiers`)."""
        self.on_wait_notifiers = as_notifiers(on_wait, "on_wait_notifiers")
        self.on_pass_notifiers = as_notifiers(on_pass, "on_pass_notifiers")

    def _waited_key(self, context: Any) -> str:
        return f"{WAITED_KEY}_try_{getattr(context.get('ti'), 'try_number', 1)}"

    def _has_waited(self, context: Any) -> bool:
        if self._waited or not self.reschedule:
            return self._waited
        store = context.get("task_state_store")
        try:
            if store is not None:
                return store.get(self._waited_key(context)) is True
            ti: Any = context.get("ti")
            return ti is not None and ti.get_first_reschedule_date(context) is not None
        except Exception as exc:  # a hint for notifications: never fail a gate because of it
            self.log.warning("could not tell whether the gate already waited: %s", exc)
            return True  # never notify twice; at worst a wait notification is missed

    def _notify_wait(self, context: Any, reason: str, why: Any) -> None:
        """Call ``on_wait_notifiers`` at the try's first unmet check.

        :param context: the task context.
        :param reason: why the gate waits (a key of :data:`WAIT_REASONS`, or a new reason).
        :param why: the check (with ``message`` and maybe ``decision``) or a message.
        """
        if self._has_waited(context):
            return
        self._waited = True
        store = context.get("task_state_store") if self.reschedule else None
        if store is not None:
            try:
                store.set(self._waited_key(context), True)
            except Exception as exc:
                self.log.warning("could not store that the gate waited: %s", exc)
        if self.on_wait_notifiers:
            decision = getattr(why, "decision", None)
            message = getattr(why, "message", why)
            info = self.gate_notification("waiting", reason, str(message), decision)
            self._send(self.on_wait_notifiers, context, info)

    def _notify_pass(self, context: Any, value: dict[str, Any] | None) -> None:
        """Call ``on_pass_notifiers`` when a gate that waited passes.

        :param context: the task context.
        :param value: the gate's XCom value; None when it did not pass.
        """
        if value is None or not self.on_pass_notifiers or not self._has_waited(context):
            return
        decision = value.get("decision")
        info = self.gate_notification("passed", None, str((decision or {}).get("message", "")), decision)
        self._send(self.on_pass_notifiers, context, info)

    def gate_notification(
        self, event: str, reason: str | None, message: str, decision: Any
    ) -> dict[str, Any]:
        """What the notifiers' templates see as ``credit_gate``.

        :returns: ``{"event": "waiting" | "passed", "reason": "balance" | "reservations" |
            "budget" | "runway" | "unavailable" | None, "reason_text", "message", "connection_id", "pool",
            "remaining", "limit", "needed", "reserved", "task_id", "dag_id"}`` (numbers as JSON
            numbers, None when unknown).
        """
        if decision is not None and not isinstance(decision, dict):
            decision = decision.model_dump(mode="json")
        decision = decision or {}
        return {
            "event": event,
            "reason": reason,
            "reason_text": WAIT_REASONS.get(reason or "", reason),
            "message": message,
            "connection_id": self.credits_conn_id,
            "pool": decision.get("pool", self.credit_pool),
            **{key: decision.get(key) for key in ("remaining", "limit", "needed", "reserved")},
            "task_id": self.task_id,
            "dag_id": self.dag_id,
        }

    def _send(self, notifiers: list[BaseNotifier], context: Any, info: dict[str, Any]) -> None:
        self.log.info(
            "gate %s (%s): notifying %d notifier(s)", info["event"], info["reason"] or "-", len(notifiers)
        )
        send(notifiers, context, {"credit_gate": info}, raise_errors=False, log=self.log)
