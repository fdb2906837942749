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
    "WAIT_BALANCE",
    "WAIT_BUDGET",
    "WAIT_REASONS",
    "WAIT_RESERVATIONS",
    "WAIT_UNAVAILABLE",
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

#: why a gate waits: the ``reason`` a wait notification's ``credit_gate`` carries, and its
#: wording. An open set: a new kind of gate adds its reason here (a plain string).
WAIT_REASONS: dict[str, str] = {
    WAIT_BALANCE: "the vendor's balance is too low",
    WAIT_RESERVATIONS: "other tasks have reserved the credits",
    WAIT_BUDGET: "the budget does not allow it",
    WAIT_UNAVAILABLE: "the balance cannot be read right now",
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
