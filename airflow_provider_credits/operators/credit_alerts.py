"""Low-credit alerts through Airflow notifiers: :class:`CreditAlertOperator`.

A task people schedule (e.g. hourly, see the example DAG ``credit_watchdog``) that reads the
balances of any number of credits connections, judges each watched pool against its
thresholds (absolute, percent of the limit, runway in days from the stored history) and calls
the notifiers the user passes when a pool's state *changes*:

=============  ==========================================================================
alert state    when
=============  ==========================================================================
``low``        a threshold is broken (first seen, or after ``ok`` / ``unreadable``)
``recovered``  every threshold holds again after ``low`` or ``unreadable``
``unreadable`` the vendor could not be read (auth error, outage, 429 after retries);
               a 402 (out of credits) is ``low`` with 0 remaining, as a gate counts it
=============  ==========================================================================

The first check of a pool that is fine sends nothing. States live in the credits database
(table ``credit_alert_states``) and change transactionally
(:func:`~airflow_provider_credits.storage.alert_states.transition`): two workers or a retried
task never send the same alert twice; a notifier that fails rolls the change back, so the
next run sends it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_credits.exceptions import CreditsConfigError, CreditsError, CreditsExhaustedError
from airflow_provider_credits.gate import HUNDRED, decide, fmt, parse_amount
from airflow_provider_credits.models import _number_to_json as _number
from airflow_provider_credits.notifications import as_notifiers, send
from airflow_provider_credits.templating import RejectEmptyTemplates

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_credits.models import CreditBalance, CreditPool
    from airflow_provider_credits.storage.alert_states import StateChange, StoredState
    from airflow_provider_credits.storage.database import Database

__all__ = ["LOW", "OK", "RECOVERED", "UNREADABLE", "CreditAlertOperator", "PoolCheck", "assess"]

OK, LOW, UNREADABLE = "ok", "low", "unreadable"
"""Stored states of a watched pool."""
RECOVERED = "recovered"
"""The alert sent when a pool returns to ``ok``."""
#: the pool key of a check on the connection's primary pool (its name is unknown while unreadable)
PRIMARY = "(primary)"


@dataclass(frozen=True)
class PoolCheck:
    """One watched pool and its thresholds; a pool is low when any threshold is broken.

    :ivar credits_conn_id: the credits connection.
    :ivar credit_pool: the pool; None for the connection's primary pool.
    :ivar min_remaining: low below this many credits.
    :ivar min_remaining_pct: low below this percentage (0-100) of the pool's limit.
    :ivar min_runway_days: low when the forecast says the pool runs out within this many days
        (from the history ``UsageToSqlOperator`` stores; no alert while the forecast is unknown).
    """

    credits_conn_id: str
    credit_pool: str | None = None
    min_remaining: Decimal | None = None
    min_remaining_pct: Decimal | None = None
    min_runway_days: Decimal | None = None

    @classmethod
    def parse(cls, value: Any, defaults: dict[str, Any] | None = None) -> PoolCheck:
        """Build from a :class:`PoolCheck` or a dict with its fields (numbers may be strings).

        :param value: the check.
        :param defaults: thresholds a dict without any threshold takes.
        :raises CreditsConfigError: unknown keys, no connection, bad or no thresholds.
        """
        if isinstance(value, PoolCheck):
            value = {
                "credits_conn_id": value.credits_conn_id,
                "credit_pool": value.credit_pool,
                "min_remaining": value.min_remaining,
                "min_remaining_pct": value.min_remaining_pct,
                "min_runway_days": value.min_runway_days,
            }
        if not isinstance(value, dict):
            raise CreditsConfigError(f"a check is a dict or a PoolCheck, got {type(value).__name__}")
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise CreditsConfigError(
                f"unknown keys in check {value!r}: {', '.join(sorted(unknown))} "
                f"(known: {', '.join(cls.__dataclass_fields__)})"
            )
        conn_id = value.get("credits_conn_id")
        if not isinstance(conn_id, str) or not conn_id.strip():
            raise CreditsConfigError(f"check {value!r} needs a credits_conn_id")
        names = ("min_remaining", "min_remaining_pct", "min_runway_days")
        given = {n: value.get(n) for n in names if value.get(n) is not None}
        if not given:
            given = {n: v for n, v in (defaults or {}).items() if v is not None}
        if not given:
            raise CreditsConfigError(
                f"check on {conn_id!r} has no threshold: give min_remaining, min_remaining_pct "
                "and/or min_runway_days"
            )
        pool = value.get("credit_pool")
        return cls(
            credits_conn_id=conn_id,
            credit_pool=pool or None,
            min_remaining=parse_amount("min_remaining", given.get("min_remaining")),
            min_remaining_pct=parse_amount(
                "min_remaining_pct", given.get("min_remaining_pct"), maximum=HUNDRED
            ),
            min_runway_days=parse_amount("min_runway_days", given.get("min_runway_days")),
        )

    @property
    def pool_key(self) -> str:
        return self.credit_pool or PRIMARY

    def describe(self) -> str:
        """The thresholds in words, e.g. ``"500 credits, 10% of the limit, 7 days of runway"``."""
        parts = []
        if self.min_remaining is not None:
            parts.append(f"{fmt(self.min_remaining)} remaining")
        if self.min_remaining_pct is not None:
            parts.append(f"{fmt(self.min_remaining_pct)}% of the limit")
        if self.min_runway_days is not None:
            parts.append(f"{fmt(self.min_runway_days)} days of runway")
        return ", ".join(parts)


@dataclass(frozen=True)
class Assessment:
    """What one check found (JSON-ready through :func:`alert_of`).

    ``read`` is the pool as read (its name, unit, remaining amount and limit); None when the
    balance could not be read, or when the vendor answered 402 (then ``remaining`` is 0).
    """

    check: PoolCheck
    state: str
    vendor: str | None = None
    account: str | None = None
    read: CreditPool | None = None
    runway_days: Decimal | None = None
    runs_out_at: datetime | None = None
    breached: str | None = None
    error: str | None = None

    @property
    def remaining(self) -> Decimal | None:
        if self.read is None:
            return Decimal(0) if self.state == LOW else None  # low without a read: the vendor's 402
        return self.read.remaining

    def message(self) -> str:
        read = self.read
        where = (
            f"{self.vendor or self.check.credits_conn_id} pool {read.name if read else self.check.pool_key!r}"
        )
        if self.state == UNREADABLE:
            return f"{where} (connection {self.check.credits_conn_id!r}) cannot be read: {self.error}"
        amount = "?" if self.remaining is None else fmt(self.remaining)
        of = f" of {fmt(read.limit)}" if read and read.limit is not None else ""
        runway = f", about {self.runway_days:.1f} days left" if self.runway_days is not None else ""
        status = f"low: {self.breached}" if self.state == LOW else f"ok ({self.check.describe()})"
        return f"{where}: {amount}{of} {read.unit if read else 'credits'} remaining{runway}; {status}"


def assess(
    check: PoolCheck,
    balance: CreditBalance | None,
    *,
    error: CreditsError | None = None,
    runway_days: Decimal | None = None,
    runs_out_at: datetime | None = None,
) -> Assessment:
    """Judge one pool: ``ok``, ``low`` (naming the broken thresholds) or ``unreadable``.

    :param check: the pool and its thresholds.
    :param balance: the balance read, or None when the read failed.
    :param error: the read's error.
    :param runway_days: the forecast's days left, None when unknown (no runway alert then).
    :param runs_out_at: the forecast's run-out time.
    :raises CreditsConfigError: the pool does not exist, reports no remaining amount, or a
        percentage is asked of a pool without a limit (the gate's rules: :func:`~airflow_provider_credits.gate.decide`).
    """
    if isinstance(error, CreditsExhaustedError):  # 402: out of credits, as a gate counts it
        return Assessment(
            check,
            LOW,
            vendor=error.vendor,
            breached=f"the vendor says the account is out of credits ({error})",
        )
    if balance is None:
        return Assessment(check, UNREADABLE, error=str(error) if error else "no balance")
    pool = balance.pool(check.credit_pool)
    broken = []
    if check.min_remaining is not None or check.min_remaining_pct is not None:
        # the gate's own judgement, so an alert and a gate never disagree about "enough"
        decision = decide(
            balance,
            min_remaining=check.min_remaining,
            min_remaining_pct=check.min_remaining_pct,
            credit_pool=check.credit_pool,
        )
        if not decision.met:
            broken.append(f"{fmt(decision.remaining)} remaining < {fmt(decision.needed)} needed")
    if check.min_runway_days is not None and runway_days is not None and runway_days < check.min_runway_days:
        broken.append(f"runway {runway_days:.1f} days < {fmt(check.min_runway_days)}")
    return Assessment(
        check,
        LOW if broken else OK,
        vendor=balance.vendor,
        account=balance.account,
        read=pool,
        runway_days=runway_days,
        runs_out_at=runs_out_at,
        breached="; ".join(broken) or None,
    )


def alert_of(before: StoredState, after: Assessment) -> dict[str, Any]:
    """The alert a template sees for a state change (JSON-ready).

    Keys: ``state`` (``low``, ``recovered`` or ``unreadable``), ``previous`` (the stored state
    before: ``new``, ``ok``, ``low`` or ``unreadable``), ``vendor``, ``account``,
    ``connection_id``, ``pool``, ``unit``, ``remaining``, ``limit``, ``runway_days``,
    ``runs_out_at`` (ISO), ``threshold`` (the thresholds in words), ``breached`` (which ones
    are broken, for ``low``), ``error`` (for ``unreadable``) and ``message`` (one line).
    """
    return {
        "state": RECOVERED if after.state == OK else after.state,
        "previous": before.state,
        "vendor": after.vendor,
        "account": after.account,
        "connection_id": after.check.credits_conn_id,
        "pool": after.read.name if after.read else after.check.pool_key,
        "unit": after.read.unit if after.read else None,
        "remaining": _number(after.remaining),
        "limit": _number(after.read.limit if after.read else None),
        "runway_days": None if after.runway_days is None else round(float(after.runway_days), 2),
        "runs_out_at": None if after.runs_out_at is None else after.runs_out_at.isoformat(),
        "threshold": after.check.describe(),
        "breached": after.breached,
        "error": after.error,
        "message": after.message(),
    }


class CreditAlertOperator(RejectEmptyTemplates, BaseOperator):
    """Check credit pools and call ``notifiers`` when a pool turns low, recovers or cannot be read.

    Give the pools either as ``checks`` (one dict or :class:`PoolCheck` per pool, each with its
    thresholds) or as ``credits_conn_id`` (one or a list) with thresholds for their primary pool
    (or ``credit_pool``); both may be combined, and thresholds given here are the default of a
    check that names none.

    The notifiers' templates see ``alerts``: a list of dicts (see :func:`alert_of`: ``state``,
    ``previous``, ``vendor``, ``account``, ``connection_id``, ``pool``, ``remaining``, ``limit``,
    ``runway_days``, ``threshold``, ``breached``, ``error``, ``message`` ...), one per pool
    whose state changed in this run, and ``alert``, the first of them. Each notifier is called
    once per run with all changes, and only when something changed.

    :param notifiers: ``airflow.sdk.BaseNotifier`` instances (``SlackNotifier``,
        ``SmtpNotifier``, ...). Required.
    :param state_conn_id: common-sql connection of the credits database holding the alert
        states (table ``credit_alert_states``, created when missing) (templated).
    :param checks: the watched pools (templated): dicts with ``credits_conn_id`` and optionally
        ``credit_pool``, ``min_remaining``, ``min_remaining_pct``, ``min_runway_days``.
    :param credits_conn_id: a connection or a list of them to watch with the thresholds below
        (templated).
    :param credit_pool: the pool of ``credits_conn_id`` to watch; None for each one's primary pool.
    :param min_remaining: low below this many credits (templated).
    :param min_remaining_pct: low below this percentage of the limit (templated).
    :param min_runway_days: low when the forecast runway is shorter, in days (templated).
    :param history_conn_id: common-sql connection holding ``credit_balances`` and ``credit_usage``
        (what ``UsageToSqlOperator`` writes) for the runway forecast; defaults to ``state_conn_id``.
    :param watch_id: names this check's states (default ``"<dag_id>.<task_id>"``); two tasks with
        the same ``watch_id`` share states (and alert once between them).
    :param fail_on_unreadable: fail the task (after notifying) when a vendor cannot be read.
    :param kwargs: :class:`~airflow.sdk.BaseOperator` arguments.
    :raises CreditsConfigError: at construction: no pools, no thresholds, bad thresholds or
        notifiers that are not ``BaseNotifier``.

    Returns (XCom) ``{"states": {"<conn>/<pool>": state}, "alerts": [alert, ...]}``.
    """

    template_fields: Sequence[str] = (
        "checks",
        "credits_conn_id",
        "min_remaining",
        "min_remaining_pct",
        "min_runway_days",
        "state_conn_id",
        "history_conn_id",
    )
    ui_color = "#f7d9c4"

    def __init__(
        self,
        *,
        notifiers: Any,
        state_conn_id: str,
        checks: Sequence[dict[str, Any] | PoolCheck] | None = None,
        credits_conn_id: str | Sequence[str] | None = None,
        credit_pool: str | None = None,
        min_remaining: Any = None,
        min_remaining_pct: Any = None,
        min_runway_days: Any = None,
        history_conn_id: str | None = None,
        watch_id: str | None = None,
        fail_on_unreadable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.notifiers = as_notifiers(notifiers, "notifiers")
        if not self.notifiers:
            raise CreditsConfigError(f"{self.task_id}: give at least one notifier")
        self.state_conn_id = state_conn_id
        self.checks = list(checks or [])
        self.credits_conn_id = credits_conn_id
        self.credit_pool = credit_pool
        self.min_remaining = min_remaining
        self.min_remaining_pct = min_remaining_pct
        self.min_runway_days = min_runway_days
        self.history_conn_id = history_conn_id
        self.watch_id = watch_id
        self.fail_on_unreadable = fail_on_unreadable
        if not self.checks and not credits_conn_id:
            raise CreditsConfigError(f"{self.task_id}: give checks or credits_conn_id")
        if not _templated(self._raw_arguments()):
            self.pool_checks()  # literal arguments: fail at parse time

    def _raw_arguments(self) -> list[Any]:
        return [
            self.checks,
            self.credits_conn_id,
            self.min_remaining,
            self.min_remaining_pct,
            self.min_runway_days,
        ]

    def pool_checks(self) -> list[PoolCheck]:
        """The validated checks (after rendering).

        :raises CreditsConfigError: a check is unusable, or two name the same pool.
        """
        defaults = {
            "min_remaining": self.min_remaining,
            "min_remaining_pct": self.min_remaining_pct,
            "min_runway_days": self.min_runway_days,
        }
        found = [PoolCheck.parse(check, defaults) for check in self.checks]
        conn_ids = self.credits_conn_id
        if isinstance(conn_ids, str):
            conn_ids = [conn_ids]
        for conn_id in conn_ids or []:
            found.append(
                PoolCheck.parse({"credits_conn_id": conn_id, "credit_pool": self.credit_pool}, defaults)
            )
        keys = [(c.credits_conn_id, c.pool_key) for c in found]
        twice = sorted({f"{k[0]}/{k[1]}" for k in keys if keys.count(k) > 1})
        if twice:
            raise CreditsConfigError(f"{self.task_id}: pools watched twice: {', '.join(twice)}")
        return found

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_credits.models import utcnow
        from airflow_provider_credits.storage.alert_states import StateChange, database_for, transition
        from airflow_provider_credits.storage.tables import ALERT_STATES

        checks = self.pool_checks()
        now = utcnow()
        watch_id = self.watch_id or f"{self.dag_id}.{self.task_id}"
        db = database_for(self.state_conn_id)
        history = db if not self.history_conn_id else database_for(self.history_conn_id)
        try:
            db.prepare([ALERT_STATES], create=True)
            assessments = self._assess_all(checks, history, now)
            changes = {(watch_id, a.check.credits_conn_id, a.check.pool_key): a for a in assessments}
            sent: list[dict[str, Any]] = []

            def notify(changed: list[tuple[StoredState, StateChange]]) -> None:
                alerts = [
                    alert_of(before, changes[after.key])
                    for before, after in changed
                    if not (before.state == "new" and after.state == OK)  # a first check that is fine
                ]
                if alerts:
                    for alert in alerts:
                        self.log.warning("credit alert: %s: %s", alert["state"], alert["message"])
                    send(self.notifiers, context, {"alerts": alerts, "alert": alerts[0]}, raise_errors=True)
                    sent.extend(alerts)

            transition(
                db,
                [
                    StateChange(
                        key,
                        a.state,
                        remaining=a.remaining,
                        limit=a.read.limit if a.read else None,
                        detail=a.error if a.state == UNREADABLE else a.breached,
                    )
                    for key, a in changes.items()
                ],
                now=now,
                on_change=notify,
            )
        finally:
            db.dispose()
            if history is not db:
                history.dispose()
        for a in assessments:
            self.log.info("%s", a.message())
        if not sent:
            self.log.info("no state changed: no notification")
        unreadable = [a for a in assessments if a.state == UNREADABLE]
        if unreadable and self.fail_on_unreadable:
            raise CreditsError(f"{len(unreadable)} pool(s) unreadable: {unreadable[0].message()}")
        return {
            "states": {f"{a.check.credits_conn_id}/{a.check.pool_key}": a.state for a in assessments},
            "alerts": sent,
        }

    def _assess_all(self, checks: list[PoolCheck], history: Database, now: datetime) -> list[Assessment]:
        """Read each connection once and judge every check on it."""
        from airflow_provider_credits.hooks import get_credits_hook

        reads: dict[str, tuple[CreditBalance | None, CreditsError | None]] = {}
        out = []
        for check in checks:
            conn_id = check.credits_conn_id
            if conn_id not in reads:
                hook = None
                try:
                    hook = get_credits_hook(conn_id)
                    reads[conn_id] = (hook.get_balance(), None)
                except CreditsConfigError:
                    raise  # a wrong connection or argument: fix the DAG, not an alert
                except CreditsError as exc:
                    self.log.warning("connection %r: balance unreadable: %s", conn_id, exc)
                    reads[conn_id] = (None, exc)
                finally:
                    if hook is not None:
                        hook.close()
            balance, error = reads[conn_id]
            days = out_at = None
            if balance is not None and check.min_runway_days is not None:
                days, out_at = self._runway(history, check, balance, now)
            out.append(assess(check, balance, error=error, runway_days=days, runs_out_at=out_at))
        return out

    def _runway(
        self, db: Database, check: PoolCheck, balance: CreditBalance, now: datetime
    ) -> tuple[Decimal | None, datetime | None]:
        """Days left and run-out time from the stored history and the live balance (None: unknown)."""
        import sqlalchemy as sa

        from airflow_provider_credits.storage.history import runway
        from airflow_provider_credits.storage.tables import BALANCES, USAGE

        pool = balance.pool(check.credit_pool)
        with db.errors("looking for the usage history", BALANCES.name), db.begin() as conn:
            inspector = sa.inspect(conn)
            missing = [t.name for t in (BALANCES, USAGE) if not inspector.has_table(t.name)]
        if missing:
            self.log.warning(
                "runway of %s unknown: no table %s in %r yet (UsageToSqlOperator writes them)",
                check.credits_conn_id,
                " and ".join(missing),
                db.hook.get_conn_id(),
            )
            return None, None
        history, _ = runway(db, connection_id=check.credits_conn_id, pool=pool.name, now=now)
        found = replace(history, remaining=pool.remaining).forecast(now)
        if found is None:
            self.log.info("%s pool %r: runway unknown (too little history)", check.credits_conn_id, pool.name)
            return None, None
        return found.days_left, found.runs_out_at


def _templated(values: Any) -> bool:
    """Whether any value (nested) is a template or an XComArg, to be checked after rendering."""
    if isinstance(values, str):
        return "{{" in values or "{%" in values
    if isinstance(values, dict):
        return any(_templated(v) for v in values.values())
    if isinstance(values, (list, tuple)):
        return any(_templated(v) for v in values)
    return values is not None and not isinstance(values, (int, float, Decimal, PoolCheck))
