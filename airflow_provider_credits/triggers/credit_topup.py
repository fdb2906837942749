"""An event trigger for ``AssetWatcher``: a credit pool crossed a threshold (a top-up): :class:`CreditTopupTrigger`.

::

    from airflow.sdk import Asset, AssetWatcher, dag

    from airflow_provider_credits.triggers.credit_topup import CreditTopupTrigger

    topped_up = Asset(
        "theirstack_credits_topped_up",
        watchers=[
            AssetWatcher(
                name="theirstack_topup",
                trigger=CreditTopupTrigger(
                    credits_conn_id="theirstack_default", threshold=1000, state_conn_id="credits_db"
                ),
            )
        ],
    )

    @dag(schedule=[topped_up])
    def enrich_after_topup(): ...

The trigger fires on a *change*, never on a level (a level that stays true would start a DAG
run at every poll): one event when the balance rises from below the threshold to at least the
threshold, and, with ``direction="both"``, one when it falls below again. The last side seen
(``above`` or ``below``) is kept in the credits database (table ``credit_alert_states``), so
it survives triggerer restarts: a top-up made while no triggerer ran is reported once when
one runs again, and a restart while the balance stays above reports nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.gate import fmt, parse_amount
from airflow_provider_credits.models import _number_to_json as _number

if TYPE_CHECKING:
    from airflow_provider_credits.hooks.base import CreditsHook
    from airflow_provider_credits.models import CreditBalance
    from airflow_provider_credits.storage.database import Database

__all__ = ["ABOVE", "BELOW", "CreditTopupTrigger", "next_side"]

ABOVE, BELOW = "above", "below"
DIRECTIONS = ("up", "both")


def next_side(remaining: Decimal, previous: str | None, threshold: Decimal, rearm_below: Decimal) -> str:
    """The side of the threshold a balance is on, with hysteresis.

    ``above`` at ``threshold`` or more; ``below`` under ``rearm_below`` (at most ``threshold``);
    in between the previous side holds (``below`` when there is none), so a balance that wobbles
    around the threshold does not fire again and again.
    """
    if remaining >= threshold:
        return ABOVE
    if remaining < rearm_below:
        return BELOW
    return previous if previous in (ABOVE, BELOW) else BELOW


class CreditTopupTrigger(BaseEventTrigger):
    """Watch one pool; yield an event each time its balance crosses ``threshold``.

    Every argument is a JSON primitive and normalized (amounts as strings such as ``"1000"``),
    so :meth:`serialize` is the same at every DAG parse: Airflow identifies a watcher by it.

    Event payload (Airflow puts it in the asset event's ``extra`` under ``"payload"``): ``{"crossing": "up" | "down", "previous":
    "below" | "above", "remaining", "limit", "threshold", "vendor", "account", "pool", "unit",
    "connection_id", "at"}`` (numbers as JSON numbers, ``at`` ISO 8601 UTC).

    The first balance a watcher ever reads only records the side: a level is no crossing.
    The side is stored before the event is yielded, so an event is never sent twice (a second
    triggerer running the same watcher during a hand-over finds the side already changed); a
    triggerer killed between storing the side and handing the event to Airflow (well under a
    second) loses that one event.

    :param credits_conn_id: the vendor connection (any credits connection type).
    :param threshold: the balance (in the pool's unit) whose upward crossing is a top-up.
    :param state_conn_id: common-sql connection of the credits database that keeps the side
        (table ``credit_alert_states``, created when missing).
    :param credit_pool: the pool; None for the primary pool.
    :param direction: ``"up"`` (events for top-ups only) or ``"both"`` (also when the balance
        falls below ``rearm_below``).
    :param rearm_below: after a top-up, the balance must fall below this before another top-up
        counts (default: ``threshold``); between the two nothing fires.
    :param poke_interval: seconds between balance reads.
    :raises CreditsConfigError: an unusable threshold, direction or interval.
    """

    def __init__(
        self,
        *,
        credits_conn_id: str,
        threshold: Any,
        state_conn_id: str,
        credit_pool: str | None = None,
        direction: str = "up",
        rearm_below: Any = None,
        poke_interval: float = 60.0,
    ) -> None:
        super().__init__()
        amount = parse_amount("threshold", threshold)
        if amount is None:
            raise CreditsConfigError("threshold is required")
        rearm = parse_amount("rearm_below", rearm_below)
        rearm = amount if rearm is None else rearm
        if rearm > amount:
            raise CreditsConfigError(f"rearm_below ({fmt(rearm)}) must not exceed threshold ({fmt(amount)})")
        if direction not in DIRECTIONS:
            raise CreditsConfigError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        if (
            isinstance(poke_interval, bool)
            or not isinstance(poke_interval, (int, float))
            or poke_interval <= 0
        ):
            raise CreditsConfigError(f"poke_interval must be a positive number, got {poke_interval!r}")
        self.credits_conn_id = credits_conn_id
        self.threshold = amount
        self.rearm_below = rearm
        self.state_conn_id = state_conn_id
        self.credit_pool = credit_pool or None
        self.direction = direction
        self.poke_interval = float(poke_interval)
        self._side: str | None = None  # the stored side, once read or written
        self._db: Database | None = None
        self._logged: str | None = None

    @property
    def watch_id(self) -> str:
        """The row key of this watcher's side (what makes two watchers of one pool different)."""
        return f"topup:{fmt(self.threshold)}:{fmt(self.rearm_below)}:{self.direction}"

    @property
    def pool_key(self) -> str:
        return self.credit_pool or "(primary)"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "credits_conn_id": self.credits_conn_id,
                "threshold": fmt(self.threshold),
                "state_conn_id": self.state_conn_id,
                "credit_pool": self.credit_pool,
                "direction": self.direction,
                "rearm_below": fmt(self.rearm_below),
                "poke_interval": self.poke_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield one event per crossing (see the class docstring)."""
        from airflow_provider_credits.hooks import aget_credits_hook
        from airflow_provider_credits.hooks.transport import KEEPALIVE_SECONDS

        hook: CreditsHook | None = None
        try:
            while True:
                balance = None
                try:
                    hook = hook or await aget_credits_hook(self.credits_conn_id)
                    balance = await hook.aget_balance()
                except Exception as exc:  # a watcher keeps watching: the next poll tries again
                    self._log_once(
                        f"connection {self.credits_conn_id!r}: balance unreadable: {type(exc).__name__}: {exc}"
                    )
                finally:
                    if hook is not None and self.poke_interval > KEEPALIVE_SECONDS:
                        await hook.aclose()
                        hook = None
                if balance is not None:
                    event = await self.observe(balance)
                    if event is not None:
                        yield TriggerEvent(event)
                await asyncio.sleep(self.poke_interval)
        finally:
            if hook is not None:
                await hook.aclose()
            if self._db is not None:
                self._db.dispose()

    async def observe(self, balance: CreditBalance) -> dict[str, Any] | None:
        """Judge one balance read; store a change of side; the event payload when one is due."""
        try:
            pool = balance.pool(self.credit_pool)
        except CreditsConfigError as exc:
            self._log_once(str(exc))
            return None
        if pool.remaining is None:
            self._log_once(f"{balance.vendor} pool {pool.name!r} reports no remaining amount")
            return None
        side = next_side(pool.remaining, self._side, self.threshold, self.rearm_below)
        if side == self._side:
            return None
        try:
            before = await asyncio.to_thread(self._store, side, pool.remaining, pool.limit)
        except Exception as exc:  # the database is down: nothing stored, the next poll sees it again
            self._log_once(
                f"could not store the balance's side in {self.state_conn_id!r}: {type(exc).__name__}: {exc}"
            )
            return None
        self._side = side
        if before is None or before not in (ABOVE, BELOW):
            self.log.info(
                "%s pool %r: %s %s (recorded; no crossing seen)",
                balance.vendor,
                pool.name,
                side,
                fmt(self.threshold),
            )
            return None
        crossing = "up" if side == ABOVE else "down"
        if crossing == "down" and self.direction != "both":
            self.log.info("%s pool %r fell below %s", balance.vendor, pool.name, fmt(self.rearm_below))
            return None
        self.log.info("%s pool %r crossed %s: %s", balance.vendor, pool.name, fmt(self.threshold), crossing)
        return {
            "crossing": crossing,
            "previous": before,
            "remaining": _number(pool.remaining),
            "limit": _number(pool.limit),
            "threshold": _number(self.threshold),
            "vendor": balance.vendor,
            "account": balance.account,
            "pool": pool.name,
            "unit": pool.unit,
            "connection_id": self.credits_conn_id,
            "at": balance.fetched_at.isoformat(),
        }

    def _store(self, side: str, remaining: Decimal, limit: Decimal | None) -> str | None:
        """Store ``side`` (in a worker thread); the side stored before when this call changed it,
        None when the stored side already was ``side`` (another instance stored it, or a restart)."""
        from airflow_provider_credits.models import utcnow
        from airflow_provider_credits.storage.alert_states import (
            StateChange,
            database_for,
            read_states,
            transition,
        )
        from airflow_provider_credits.storage.tables import ALERT_STATES

        if self._db is None:
            db = database_for(self.state_conn_id)
            db.prepare([ALERT_STATES], create=True)
            self._db = db
        key = (self.watch_id, self.credits_conn_id, self.pool_key)
        if self._side is None and read_states(self._db, [key])[key].state == side:
            return None  # after a restart: the side has not changed
        changed = transition(
            self._db, [StateChange(key, side, remaining=remaining, limit=limit)], now=utcnow()
        )
        return changed[0][0].state if changed else None

    def _log_once(self, message: str) -> None:
        """Log a problem when it first appears (not at every poll)."""
        if message != self._logged:
            self.log.warning("%s", message)
            self._logged = message
