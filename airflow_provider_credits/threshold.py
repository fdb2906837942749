"""The credit-threshold decision, shared by the sensor (poke and reschedule) and the trigger.

Everything here is pure: no I/O, no Airflow. The sensor and the trigger only differ in how
they fetch a balance (sync or async); what a balance or an error *means* is decided here once:

* :func:`parse_thresholds` validates ``min_remaining`` / ``min_remaining_pct`` (possibly
  rendered from templates as strings);
* :func:`decide` compares one pool of a balance with the thresholds;
* :func:`error_action` is the error policy (fail now, zero credits, or transient);
* :class:`Gate` combines both into the outcome of one check, and knows how many credits
  a passing check reserves (see :mod:`airflow_provider_credits.reservations`);
* :func:`error_payload` / :func:`error_from_payload` carry an error through a trigger event.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from airflow_provider_credits.exceptions import (
    CreditsConfigError,
    CreditsError,
    CreditsExhaustedError,
)
from airflow_provider_credits.models import CreditBalance, Credits

HUNDRED = Decimal(100)


def fmt(amount: Decimal) -> str:
    """Show an amount without exponent or trailing zeros (``"1000.00"`` -> ``"1000"``)."""
    return format(amount.normalize(), "f")


def parse_amount(name: str, value: Any, *, maximum: Decimal | None = None) -> Decimal | None:
    """Turn a threshold (number or numeric string, e.g. rendered from XCom) into a Decimal.

    :param name: argument name, for the error message.
    :param value: int, float, Decimal, numeric string, or None (not set).
    :param maximum: largest accepted value (100 for percentages).
    :raises CreditsConfigError: bool, not a number, NaN/infinite, negative or above ``maximum``.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise CreditsConfigError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise CreditsConfigError(f"{name} must be a number, got {value!r}") from None
    if not amount.is_finite():
        raise CreditsConfigError(f"{name} must be a finite number, got {value!r}")
    if amount < 0:
        raise CreditsConfigError(f"{name} must not be negative, got {value!r}")
    if maximum is not None and amount > maximum:
        raise CreditsConfigError(f"{name} must be at most {maximum}, got {value!r}")
    return amount


@dataclass(frozen=True)
class Thresholds:
    """Validated thresholds; either or both are set, and both must hold."""

    min_remaining: Decimal | None
    min_remaining_pct: Decimal | None

    def describe(self) -> str:
        """The thresholds in words, e.g. ``"500 and 10% of the limit"``."""
        parts = []
        if self.min_remaining is not None:
            parts.append(fmt(self.min_remaining))
        if self.min_remaining_pct is not None:
            parts.append(f"{fmt(self.min_remaining_pct)}% of the limit")
        return " and ".join(parts)

    def as_kwargs(self) -> dict[str, str | None]:
        """JSON-safe and exact (strings), for trigger kwargs."""
        return {
            "min_remaining": None if self.min_remaining is None else str(self.min_remaining),
            "min_remaining_pct": None if self.min_remaining_pct is None else str(self.min_remaining_pct),
        }


def parse_reserve(value: Any) -> Decimal | bool:
    """Validate the sensor's ``reserve`` argument (possibly rendered from a template).

    :param value: None, False or ``"false"`` (reserve nothing); True or ``"true"`` (reserve
        what the thresholds need); or an amount (number or numeric string).
    :raises CreditsConfigError: neither a bool nor a usable amount.
    """
    if value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, str) and value.strip().lower() in ("", "false", "none", "true"):
        return value.strip().lower() == "true"
    amount = parse_amount("reserve", value)
    assert amount is not None
    return amount


def parse_thresholds(min_remaining: Any, min_remaining_pct: Any) -> Thresholds:
    """Validate both thresholds (at least one must be given).

    :param min_remaining: credits that must remain, as a number or numeric string.
    :param min_remaining_pct: percentage (0-100) of the pool's limit that must remain.
    :raises CreditsConfigError: a threshold is unusable, or neither is given.
    """
    thresholds = Thresholds(
        parse_amount("min_remaining", min_remaining),
        parse_amount("min_remaining_pct", min_remaining_pct, maximum=HUNDRED),
    )
    if thresholds.min_remaining is None and thresholds.min_remaining_pct is None:
        raise CreditsConfigError("give min_remaining, min_remaining_pct or both")
    return thresholds


class ThresholdDecision(BaseModel):
    """Whether one pool has enough credits, with the numbers that led there (JSON-ready).

    :param met: True when ``remaining - reserved >= needed``.
    :param pool: the pool's name.
    :param unit: the pool's unit (credits, requests, ...).
    :param remaining: credits the vendor reports as remaining.
    :param limit: the pool's limit, when the vendor says.
    :param reserved: credits already reserved by others, not available to this task.
    :param needed: the credits that must be available.
    :param message: the decision in one human line.
    """

    model_config = ConfigDict(frozen=True)

    met: bool
    pool: str
    unit: str
    remaining: Credits
    limit: Credits | None
    reserved: Credits
    needed: Credits
    message: str


def decide(
    balance: CreditBalance,
    *,
    min_remaining: Any = None,
    min_remaining_pct: Any = None,
    credit_pool: str | None = None,
    reserved: Any = 0,
    reserve: Any = None,
) -> ThresholdDecision:
    """Decide whether ``credit_pool`` of ``balance`` has enough credits.

    :param balance: the account's balance.
    :param min_remaining: credits that must remain (number or numeric string).
    :param min_remaining_pct: percentage of the pool's limit that must remain.
    :param credit_pool: pool name; None for the balance's primary pool.
    :param reserved: credits already reserved by others, subtracted from remaining.
    :param reserve: credits this task is about to reserve; ``needed`` is at least this much.
    :raises CreditsConfigError: bad thresholds, unknown pool (names the existing ones), a pool
        without a remaining amount, or a percentage on a pool without a limit.
    """
    thresholds = parse_thresholds(min_remaining, min_remaining_pct)
    held = parse_amount("reserved", reserved) or Decimal(0)
    claim = parse_amount("reserve", reserve)
    pool = balance.pool(credit_pool)
    where = f"{balance.vendor} pool {pool.name!r}"
    if pool.remaining is None:
        raise CreditsConfigError(
            f"{where} does not report how many credits remain, so it cannot be gated on; "
            f"pools of this account: {', '.join(balance.pool_names)}",
            vendor=balance.vendor,
        )
    needed = thresholds.min_remaining or Decimal(0)
    if thresholds.min_remaining_pct is not None:
        if not pool.limit:
            raise CreditsConfigError(
                f"min_remaining_pct needs a pool with a limit, but {where} reports none; "
                "use min_remaining instead",
                vendor=balance.vendor,
            )
        needed = max(needed, pool.limit * thresholds.min_remaining_pct / HUNDRED)
    if claim is not None:
        needed = max(needed, claim)
    available = pool.remaining - held
    met = available >= needed
    of_limit = f" of {fmt(pool.limit)}" if pool.limit is not None else ""
    minus = f", {fmt(held)} reserved" if held else ""
    verdict = "enough" if met else "not enough"
    why = f" ({thresholds.describe()})" if thresholds.min_remaining_pct is not None else ""
    return ThresholdDecision(
        met=met,
        pool=pool.name,
        unit=pool.unit,
        remaining=pool.remaining,
        limit=pool.limit,
        reserved=held,
        needed=needed,
        message=(
            f"{where}: {fmt(pool.remaining)}{of_limit} {pool.unit} remaining{minus}, "
            f"needed {fmt(needed)}{why}: {verdict}"
        ),
    )


class ErrorAction(enum.Enum):
    """What a failed balance read means for the gate."""

    FAIL = "fail"
    """Waiting cannot fix it (auth, permission, bad request, schema drift, bad config): fail now."""
    NO_CREDITS = "no_credits"
    """The vendor says the account is out of credits (402): count as zero and keep waiting."""
    RETRY = "retry"
    """Rate limit, 5xx or network trouble: log and check again at the next interval."""


def error_action(error: Exception, *, fail_on_transient_errors: bool = False) -> ErrorAction:
    """The error policy, shared by the sensor and the trigger.

    :param error: what the balance read raised.
    :param fail_on_transient_errors: fail fast on 429/5xx/timeouts instead of waiting.
    """
    if isinstance(error, CreditsExhaustedError):
        return ErrorAction.NO_CREDITS
    if isinstance(error, CreditsError) and error.transient and not fail_on_transient_errors:
        return ErrorAction.RETRY
    return ErrorAction.FAIL


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``met`` with its ``decision``, or not met and why (``message``)."""

    met: bool
    message: str
    decision: ThresholdDecision | None = None
    transient: bool = False


class GateSettings(Protocol):
    """The arguments a gate is built from: the sensor's and the trigger's attributes."""

    min_remaining: Any
    min_remaining_pct: Any
    credit_pool: str | None
    fail_on_transient_errors: bool


@dataclass(frozen=True)
class Gate:
    """What the sensor and the trigger wait for, and how one balance read is judged.

    Built with :meth:`of` from a sensor or trigger; its optional ``reserve`` attribute says
    whether (and how much) a passing check reserves.

    :param thresholds: validated thresholds.
    :param credit_pool: pool name; None for the primary pool.
    :param fail_on_transient_errors: raise 429/5xx/network errors instead of waiting.
    :param reserve: False (no reservation), True (reserve what the thresholds need) or an amount.
    """

    thresholds: Thresholds
    credit_pool: str | None = None
    fail_on_transient_errors: bool = False
    reserve: Decimal | bool = False

    @classmethod
    def of(cls, settings: GateSettings) -> Gate:
        """Build the gate of a sensor or trigger, validating its (rendered) thresholds.

        :param settings: the sensor or the trigger.
        :raises CreditsConfigError: a threshold is unusable.
        """
        thresholds = parse_thresholds(settings.min_remaining, settings.min_remaining_pct)
        # a template that renders to "" (e.g. "{{ params.pool or '' }}") means the primary pool
        return cls(
            thresholds,
            settings.credit_pool or None,
            settings.fail_on_transient_errors,
            parse_reserve(getattr(settings, "reserve", None)),
        )

    @property
    def reserves(self) -> bool:
        """Whether passing this gate records a reservation."""
        return self.reserve is not False

    def judge(self, balance: CreditBalance, reserved: Decimal = Decimal(0)) -> ThresholdDecision:
        """Decide on ``balance`` with ``reserved`` credits held by others (see :func:`decide`).

        :param balance: the balance read.
        :param reserved: credits of other tasks' active reservations.
        """
        return decide(
            balance,
            min_remaining=self.thresholds.min_remaining,
            min_remaining_pct=self.thresholds.min_remaining_pct,
            credit_pool=self.credit_pool,
            reserved=reserved,
            reserve=None if isinstance(self.reserve, bool) else self.reserve,
        )

    def amount(self, decision: ThresholdDecision) -> Decimal:
        """The credits a passing check reserves: the explicit amount, or what was needed.

        :param decision: a decision of this gate.
        """
        return decision.needed if isinstance(self.reserve, bool) else self.reserve

    def check(self, balance: CreditBalance | None, error: CreditsError | None) -> Check:
        """Turn one balance read (its result or its error) into a :class:`Check`.

        :param balance: the balance read, or None when the read failed.
        :param error: the read's error, or None when it succeeded.
        :raises CreditsError: the error, when the policy says to fail; or a config error from :func:`decide`.
        """
        if error is not None:
            action = error_action(error, fail_on_transient_errors=self.fail_on_transient_errors)
            if action is ErrorAction.FAIL:
                raise error
            pool = repr(self.credit_pool) if self.credit_pool else "primary"
            if action is ErrorAction.NO_CREDITS:
                needed = self.thresholds.describe()
                return Check(False, f"pool {pool}: 0 remaining (vendor answered {error}), needed {needed}")
            return Check(False, f"pool {pool}: balance unavailable, transient error: {error}", transient=True)
        if balance is None:
            raise ValueError("check() needs a balance or an error")
        decision = self.judge(balance)
        return Check(decision.met, decision.message, decision)


def result_value(
    balance: dict[str, Any], decision: dict[str, Any], reservation: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The sensor's XCom: the balance (JSON) with the decision under ``"decision"``.

    :param balance: ``CreditBalance.model_dump(mode="json")``.
    :param decision: ``ThresholdDecision.model_dump(mode="json")``.
    :param reservation: the reservation made and those counted (JSON), under ``"reservation"``
        when the gate reserves.
    """
    value = {**balance, "decision": decision}
    if reservation is not None:
        value["reservation"] = reservation
    return value


#: error attribute -> payload key (``status`` is the event's own key, so HTTP status is ``http_status``)
def error_payload(error: CreditsError) -> dict[str, Any]:
    """Describe ``error`` for a trigger event (see :meth:`CreditsError.to_payload`)."""
    return error.to_payload()


def error_from_payload(payload: dict[str, Any]) -> CreditsError:
    """Rebuild the error a trigger event describes (see :meth:`CreditsError.from_payload`)."""
    return CreditsError.from_payload(payload)
