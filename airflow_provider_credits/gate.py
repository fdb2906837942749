"""The credit gate: what the sensor (poke and reschedule) and its trigger wait for.

Everything here is pure: no I/O, no Airflow, and no pydantic class built at import (the sensor
imports this module at every DAG parse: its decision, :class:`ThresholdDecision`, is a model
of :mod:`airflow_provider_credits.models`, imported when a balance is judged). The sensor and the trigger only differ in how
they fetch a balance (sync or async); what a balance or an error *means* is decided here once:

* :class:`Gate` is the validated, frozen gate, built once from the sensor's arguments
  (:meth:`Gate.build`, :meth:`Gate.at_parse`) and handed to the trigger as
  :meth:`Gate.to_dict`; it turns one balance read into a :class:`Check`, and knows how many
  credits a passing check reserves (see :mod:`airflow_provider_credits.reservation_steps`);
* :func:`decide` compares one pool of a balance with thresholds given as plain values;
* :func:`parse_thresholds`, :func:`parse_reserve`, :func:`parse_max_unreachable_checks`
  validate the arguments (possibly rendered from templates as strings);
* :func:`error_action` is the error policy (fail now, zero credits, or transient);
* :func:`error_payload` / :func:`error_from_payload` carry an error through a trigger event.

This module was ``airflow_provider_credits.threshold``, which still imports (deprecated).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_credits.amounts import fmt, parse_amount
from airflow_provider_credits.exceptions import (
    CreditsConfigError,
    CreditsError,
    CreditsExhaustedError,
    CreditsTransportError,
)

if TYPE_CHECKING:
    from airflow_provider_credits.models import CreditBalance, ThresholdDecision

__all__ = [
    "DEFAULT_MAX_UNREACHABLE_CHECKS",
    "GATE_ARGUMENTS",
    "Check",
    "ErrorAction",
    "Gate",
    "GateSettings",
    "Reach",
    "ThresholdDecision",
    "Thresholds",
    "decide",
    "display_host",
    "error_action",
    "error_from_payload",
    "error_payload",
    "never_reached_error",
    "never_reached_hint",
    "parse_amount",
    "parse_max_unreachable_checks",
    "parse_reserve",
    "parse_thresholds",
    "result_value",
]

HUNDRED = Decimal(100)

#: default of the sensor's ``max_unreachable_checks``: checks in a row that got no HTTP
#: response at all, with none ever getting one since the task (try) started, before it fails.
DEFAULT_MAX_UNREACHABLE_CHECKS = 5


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
        without a remaining amount, or a percentage on a pool whose vendor reports no limit
        (a limit of 0 is a limit: a percentage of it is never met, the gate keeps waiting).
    """
    return _decide(
        balance,
        parse_thresholds(min_remaining, min_remaining_pct),
        credit_pool,
        parse_amount("reserved", reserved) or Decimal(0),
        parse_amount("reserve", reserve),
    )


def _decide(
    balance: CreditBalance,
    thresholds: Thresholds,
    credit_pool: str | None,
    held: Decimal,
    claim: Decimal | None,
) -> ThresholdDecision:
    """:func:`decide` on validated arguments (what a :class:`Gate` calls: it validated them once)."""
    from airflow_provider_credits.models import ThresholdDecision

    pool = balance.pool(credit_pool)
    where = f"{balance.vendor} pool {pool.name!r}"
    if pool.remaining is None and pool.limit is None and pool.used is not None:
        raise CreditsConfigError(
            f"{where} is unlimited or does not say: the vendor reports {fmt(pool.used)} {pool.unit} used "
            "but no limit and no remaining amount (a null limit means no cap, e.g. an unlimited Tavily "
            "plan), so there is no remaining amount to gate on; gate on another pool or drop the gate; "
            f"pools of this account: {', '.join(balance.pool_names)}",
            vendor=balance.vendor,
        )
    if pool.remaining is None:
        raise CreditsConfigError(
            f"{where} does not report how many credits remain, so it cannot be gated on; "
            f"pools of this account: {', '.join(balance.pool_names)}",
            vendor=balance.vendor,
        )
    needed = thresholds.min_remaining if thresholds.min_remaining is not None else Decimal(0)
    # A percentage of a limit of 0 (Trendtrack reports all zeros before a plan is set up) is
    # never met: 10% of nothing is 0, yet the pool has nothing to spend. Keep waiting: a plan
    # change may raise the limit. Only a missing limit (None) cannot be gated by percentage.
    no_limit_left: Decimal | None = None  # the limit, when a percentage of it can never be met
    if thresholds.min_remaining_pct is not None:
        if pool.limit is None:
            raise CreditsConfigError(
                f"min_remaining_pct needs a pool with a limit, but {where} reports none; "
                "use min_remaining instead",
                vendor=balance.vendor,
            )
        needed = max(needed, pool.limit * thresholds.min_remaining_pct / HUNDRED)
        if pool.limit <= 0 and thresholds.min_remaining_pct > 0:
            no_limit_left = pool.limit
    if claim is not None:
        needed = max(needed, claim)
    available = pool.remaining - held
    met = available >= needed and no_limit_left is None
    of_limit = f" of {fmt(pool.limit)}" if pool.limit is not None else ""
    minus = f", {fmt(held)} reserved" if held else ""
    verdict = "enough" if met else "not enough"
    if no_limit_left is not None:
        verdict = f"not enough (the pool's limit is {fmt(no_limit_left)}, so no percentage of it can be met)"
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


def parse_max_unreachable_checks(value: Any) -> int | None:
    """Validate ``max_unreachable_checks``: a positive int, or None (wait until the timeout).

    :raises CreditsConfigError: a bool, a non-integer or a number below 1.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CreditsConfigError(f"max_unreachable_checks must be a positive integer or None, got {value!r}")
    return value


def display_host(base_url: str) -> str:
    """``scheme://host[:port]`` of a connection's base URL: no user info, path or query."""
    parts = urlsplit(base_url)
    if not parts.scheme or not parts.hostname:
        return base_url
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True)
class Reach:
    """Whether any check since the task (try) started reached the vendor (got any HTTP
    response), and how many checks got none.

    The sensor keeps it for the try (in poke mode on the instance, in reschedule mode in the
    task state store, in deferrable mode passed to the trigger, which keeps counting).
    """

    reached: bool = False
    unreachable: int = 0

    def after(self, error: CreditsError | None) -> Reach:
        """The state after a check that ended with ``error`` (None: the vendor answered)."""
        if self.reached:
            return self
        if isinstance(error, CreditsTransportError):
            return replace(self, unreachable=self.unreachable + 1)
        return Reach(reached=True)

    def as_json(self) -> dict[str, Any]:
        return {"reached": self.reached, "unreachable": self.unreachable}

    @classmethod
    def from_json(cls, value: Any) -> Reach:
        """Rebuild from :meth:`as_json`; anything unreadable is a fresh state."""
        if not isinstance(value, dict):
            return cls()
        count = value.get("unreachable")
        return cls(value.get("reached") is True, count if isinstance(count, int) and count >= 0 else 0)


def never_reached_hint(reach: Reach, limit: int | None, host: str | None) -> str:
    """What a check's message adds while no check has reached the vendor ("" once one has)."""
    if reach.reached or not reach.unreachable:
        return ""
    bound = (
        f"fails after {limit}" if limit is not None else "max_unreachable_checks=None: waits until timeout"
    )
    return (
        f"; no check has reached the vendor since the task started ({reach.unreachable} so far, {bound}): "
        f"if this persists, check the connection's host{f' ({host})' if host else ''}"
    )


def never_reached_error(
    error: CreditsError, reach: Reach, *, conn_id: str, host: str | None, limit: int | None
) -> CreditsTransportError:
    """The error that ends a gate whose checks never reached the vendor (same on worker and trigger).

    :param error: the last check's error (a :class:`CreditsTransportError`); its class-specific
        text differs between the sync and async transports, so only its kind is quoted.
    :param reach: the state, with ``reach.unreachable`` checks that got no HTTP response.
    :param conn_id: the vendor connection.
    :param host: the connection's host (see :func:`display_host`), None when unknown.
    :param limit: the sensor's ``max_unreachable_checks``.
    """
    kind = "timed out" if "timed out" in error.message.split(":", 1)[0] else "got no response"
    at = f" (host {host})" if host else ""
    return CreditsTransportError(
        f"connection {conn_id!r}{at}: none of {reach.unreachable} checks since the task started "
        f"reached the vendor (each {kind}). A vendor that never answered once is most likely a "
        "configuration mistake: check the connection's host and port, and that this machine can "
        f"reach it. max_unreachable_checks={limit} sets how many such checks fail the task "
        "(None waits until the timeout); fail_on_transient_errors=True fails at the first one",
        vendor=error.vendor,
        method=error.method,
        path=error.path,
    )


#: the keyword arguments of :meth:`Gate.build`, and the keys of :meth:`Gate.to_dict`.
GATE_ARGUMENTS = (
    "min_remaining",
    "min_remaining_pct",
    "credit_pool",
    "fail_on_transient_errors",
    "reserve",
    "max_unreachable_checks",
)
#: the gate arguments a sensor renders from templates.
TEMPLATED = ("min_remaining", "min_remaining_pct", "credit_pool", "reserve")


def _is_literal(value: Any) -> bool:
    """Whether a templated argument is final as given: a number, bool or None (strings render)."""
    return value is None or isinstance(value, (bool, int, float, Decimal))


class GateSettings(Protocol):
    """The arguments a gate is built from: the sensor's and the trigger's attributes."""

    min_remaining: Any
    min_remaining_pct: Any
    credit_pool: str | None
    fail_on_transient_errors: bool


@dataclass(frozen=True)
class Gate:
    """What the sensor and the trigger wait for, and how one balance read is judged.

    Frozen and validated: built once with :meth:`build` from the sensor's arguments (at
    construction when they are literal, see :meth:`at_parse`; else once rendered), handed to
    the trigger as :meth:`to_dict`. Its ``reserve`` says whether (and how much) a passing
    check reserves.

    :param thresholds: validated thresholds.
    :param credit_pool: pool name; None for the primary pool.
    :param fail_on_transient_errors: raise 429/5xx/network errors instead of waiting.
    :param reserve: False (no reservation), True (reserve what the thresholds need) or an amount.
    :param max_unreachable_checks: fail after this many checks that got no HTTP response, when
        none has since the task started (None: wait until the timeout).
    """

    thresholds: Thresholds
    credit_pool: str | None = None
    fail_on_transient_errors: bool = False
    reserve: Decimal | bool = False
    max_unreachable_checks: int | None = DEFAULT_MAX_UNREACHABLE_CHECKS

    @classmethod
    def build(
        cls,
        *,
        min_remaining: Any = None,
        min_remaining_pct: Any = None,
        credit_pool: str | None = None,
        fail_on_transient_errors: bool = False,
        reserve: Any = None,
        max_unreachable_checks: Any = DEFAULT_MAX_UNREACHABLE_CHECKS,
    ) -> Gate:
        """Validate the sensor's gate arguments (literal, or rendered from templates) into a gate.

        The one place they are checked: the sensor and the trigger judge with the result.

        :param min_remaining: credits that must remain (number or numeric string).
        :param min_remaining_pct: percentage (0-100) of the pool's limit that must remain.
        :param credit_pool: pool name; None for the primary pool (an empty name is refused: it
            would silently mean the primary pool).
        :param fail_on_transient_errors: raise 429/5xx/network errors instead of waiting.
        :param reserve: see :func:`parse_reserve`.
        :param max_unreachable_checks: see :func:`parse_max_unreachable_checks`.
        :raises CreditsConfigError: an argument is unusable, or no threshold is given.
        """
        if credit_pool is not None and not str(credit_pool).strip():
            raise CreditsConfigError(
                f"credit_pool is {credit_pool!r}: name a pool, or leave credit_pool out (None) to gate "
                "on the vendor's primary pool"
            )
        return cls(
            parse_thresholds(min_remaining, min_remaining_pct),
            credit_pool,
            bool(fail_on_transient_errors),
            parse_reserve(reserve),
            parse_max_unreachable_checks(max_unreachable_checks),
        )

    @classmethod
    def at_parse(cls, **arguments: Any) -> Gate | None:
        """The gate of a sensor's arguments as the DAG file gives them (no I/O).

        Built now when no gate argument is a string or an unresolved value (an ``XComArg``):
        those are rendered at run time, when the sensor calls :meth:`build` with them. Literal
        arguments are checked now either way, with the same code (the others stand in as "0").

        :param arguments: the keyword arguments of :meth:`build`.
        :returns: the gate, or None until the templates are rendered.
        :raises CreditsConfigError: a literal argument is unusable, or no threshold is given.
        """
        pool = arguments.get("credit_pool")
        if isinstance(pool, str) and not pool.strip():  # renders to itself: refuse it now
            cls.build(**{**arguments, "min_remaining": "0", "min_remaining_pct": None, "reserve": None})
        pending = {name for name in TEMPLATED if not _is_literal(arguments.get(name))}
        gate = cls.build(**{**arguments, **dict.fromkeys(pending, "0")})
        return None if pending else gate

    @classmethod
    def of(cls, settings: GateSettings) -> Gate:
        """:meth:`build` from the attributes of an object with the sensor's argument names.

        :param settings: e.g. the sensor, after its templates are rendered.
        :raises CreditsConfigError: an argument is unusable.
        """
        return cls.build(
            **{name: getattr(settings, name) for name in GATE_ARGUMENTS if hasattr(settings, name)}
        )

    def to_dict(self) -> dict[str, Any]:
        """The gate as JSON primitives, exact (amounts as strings); :meth:`from_dict` reads it back.

        :returns: ``min_remaining``, ``min_remaining_pct`` (strings or None), ``credit_pool``,
            ``fail_on_transient_errors``, ``reserve`` (False, True or an amount string) and
            ``max_unreachable_checks``: the keyword arguments of :meth:`build`.
        """
        return {
            **self.thresholds.as_kwargs(),
            "credit_pool": self.credit_pool,
            "fail_on_transient_errors": self.fail_on_transient_errors,
            "reserve": self.reserve if isinstance(self.reserve, bool) else str(self.reserve),
            "max_unreachable_checks": self.max_unreachable_checks,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Gate:
        """Rebuild a gate from :meth:`to_dict` (validated: the data may come from a database row).

        :param data: :meth:`to_dict`'s keys; missing ones take :meth:`build`'s defaults.
        :raises CreditsConfigError: a value is unusable, or a key is not a gate argument.
        """
        unknown = set(data) - set(GATE_ARGUMENTS)
        if unknown:
            raise CreditsConfigError(f"not gate arguments: {', '.join(sorted(unknown))}")
        return cls.build(**data)

    @property
    def reserves(self) -> bool:
        """Whether passing this gate records a reservation."""
        return self.reserve is not False

    def judge(self, balance: CreditBalance, reserved: Decimal = Decimal(0)) -> ThresholdDecision:
        """Decide on ``balance`` with ``reserved`` credits held by others (see :func:`decide`).

        :param balance: the balance read.
        :param reserved: credits of other tasks' active reservations.
        """
        claim = None if isinstance(self.reserve, bool) else self.reserve
        return _decide(balance, self.thresholds, self.credit_pool, reserved, claim)

    def amount(self, decision: ThresholdDecision) -> Decimal:
        """The credits a passing check reserves: the explicit amount, or what was needed.

        :param decision: a decision of this gate.
        """
        return decision.needed if isinstance(self.reserve, bool) else self.reserve

    def pool_label(self, vendor: str | None, primary: str | None = None) -> str:
        """The pool as a decision's message names it, for checks that read no balance.

        :param vendor: the vendor, when known.
        :param primary: the primary pool's name, when an earlier check read it.
        :returns: e.g. ``"theirstack pool 'api_credits'"`` (as a decision names it), or
            ``"theirstack primary pool"`` when no pool was named and no balance was read yet.
        """
        prefix = f"{vendor} " if vendor else ""
        name = self.credit_pool or primary
        return f"{prefix}pool {name!r}" if name else f"{prefix}primary pool"

    def track(self, reach: Reach, error: CreditsError | None, *, conn_id: str, host: str | None) -> Reach:
        """Count a check that :meth:`check` let through; fail when no check ever reached the vendor.

        :param reach: the state before this check.
        :param error: this check's error, None when the vendor answered.
        :param conn_id: the vendor connection, for the error.
        :param host: the connection's host, for the error.
        :returns: the state after this check.
        :raises CreditsTransportError: the ``max_unreachable_checks``-th check in a row got no
            HTTP response and none has since the task started (see :func:`never_reached_error`).
        """
        reach = reach.after(error)
        limit = self.max_unreachable_checks
        if error is not None and not reach.reached and limit is not None and reach.unreachable >= limit:
            raise never_reached_error(error, reach, conn_id=conn_id, host=host, limit=limit)
        return reach

    def check(
        self, balance: CreditBalance | None, error: CreditsError | None, *, primary: str | None = None
    ) -> Check:
        """Turn one balance read (its result or its error) into a :class:`Check`.

        :param balance: the balance read, or None when the read failed.
        :param error: the read's error, or None when it succeeded.
        :param primary: the primary pool's name, when an earlier check read it (for messages).
        :raises CreditsError: the error, when the policy says to fail; or a config error from :func:`decide`.
        """
        if error is not None:
            action = error_action(error, fail_on_transient_errors=self.fail_on_transient_errors)
            if action is ErrorAction.FAIL:
                raise error
            pool = self.pool_label(error.vendor, primary)
            if action is ErrorAction.NO_CREDITS:
                needed = self.thresholds.describe()
                return Check(False, f"{pool}: 0 remaining (vendor answered {error}), needed {needed}")
            return Check(False, f"{pool}: balance unavailable, transient error: {error}", transient=True)
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


def __getattr__(name: str) -> Any:
    # ThresholdDecision is a pydantic model: it lives in ``models`` so that importing the gate
    # (the sensor does at every DAG parse) builds no pydantic class.
    if name == "ThresholdDecision":
        from airflow_provider_credits.models import ThresholdDecision

        return ThresholdDecision
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "ThresholdDecision"])
