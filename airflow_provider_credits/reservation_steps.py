"""The reservation steps of a reserving gate: :class:`CreditThresholdSensor` and its trigger.

Built only on :class:`~airflow_provider_credits.reservations.ReservationStore`'s public
methods (``reserve``, ``active``), so the store's storage can change underneath:

* on the worker, :class:`GateReservations` reserves atomically against a balance just read
  (a poke, or the balance a trigger's success event carries) and builds the sensor's XCom;
* a deferred gate hands its trigger a :class:`ReservationTicket` (where the reservations
  live, and which one is the gate's own), with which the trigger subtracts the other tasks'
  active reservations before it reports success (:func:`check_minus_others`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.gate import Check, result_value
from airflow_provider_credits.reservations import (
    DEFAULT_TABLE,
    DEFAULT_TTL,
    Holder,
    ReservationStore,
    RunwayNeed,
    total,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from airflow_provider_credits.gate import Gate, ThresholdDecision
    from airflow_provider_credits.ledger import Budget
    from airflow_provider_credits.models import CreditBalance
    from airflow_provider_credits.reservations import Refusal, Reservation


class ReservationTicket(BaseModel):
    """What a deferred reserving gate hands its trigger (JSON: :meth:`to_dict` / :meth:`from_dict`).

    :param conn_id: the common-sql connection holding the reservation table.
    :param table: the reservation table (``table`` or ``schema.table``).
    :param reservation_id: the gate's own reservation (:attr:`Holder.reservation_id`), which
        the trigger does not subtract.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    conn_id: str
    table: str = DEFAULT_TABLE
    reservation_id: str

    def to_dict(self) -> dict[str, str]:
        """``{"conn_id", "table", "reservation_id"}``, all strings."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReservationTicket:
        """Read :meth:`to_dict` back; other keys (e.g. ``reserve``, which the trigger reads) are ignored.

        :raises CreditsConfigError: a key is missing or not a string.
        """
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            fields = ", ".join(str(error["loc"][0]) for error in exc.errors() if error["loc"])
            raise CreditsConfigError(f"unusable reservation ticket ({fields}): {dict(data)!r}") from None

    def held_by_others(self, credits_conn_id: str, pool: str) -> list[Reservation]:
        """The other tasks' active reservations of a connection's pool (a plain read, no lock).

        :param credits_conn_id: the credits connection.
        :param pool: the pool's (resolved) name.
        """
        store = ReservationStore(self.conn_id, self.table)
        return store.active(credits_conn_id, pool, exclude=self.reservation_id)


def check_minus_others(
    gate: Gate, balance: CreditBalance, pool: str, *, credits_conn_id: str, ticket: ReservationTicket
) -> Check:
    """Judge ``balance`` minus the other tasks' active reservations (blocking: the trigger runs it
    in a thread). The reservation itself is made on the worker, atomically, when the task resumes.

    :param gate: the trigger's gate.
    :param balance: the balance just read.
    :param pool: the pool's resolved name (from the decision without reservations).
    :param credits_conn_id: the credits connection.
    :param ticket: the gate's ticket.
    """
    active = ticket.held_by_others(credits_conn_id, pool)
    decision = gate.judge(balance, reserved=total(active))
    return Check(decision.met, _with_count(decision, active), decision)


def _with_count(decision: ThresholdDecision, counted: Sequence[Reservation]) -> str:
    return f"{decision.message} ({len(counted)} active reservation{'' if len(counted) == 1 else 's'})"


@dataclass(frozen=True)
class History:
    """Where the runway gate reads a pool's history: the tables ``UsageToSqlOperator`` writes.

    :param conn_id: the common-sql connection holding them.
    :param balances_table: the balance snapshots table.
    :param usage_table: the usage table.
    """

    conn_id: str
    balances_table: str = "credit_balances"
    usage_table: str = "credit_usage"

    def burn_per_day(self, credits_conn_id: str, pool: str) -> Decimal | None:
        """The pool's burn rate (:func:`airflow_provider_credits.storage.history.runway`); None
        when there is too little history, or nothing burns.

        :raises CreditsStorageError: the database failed (a missing table included).
        """
        from airflow_provider_credits.models import utcnow
        from airflow_provider_credits.storage.database import Database
        from airflow_provider_credits.storage.history import runway
        from airflow_provider_credits.storage.names import TableName
        from airflow_provider_credits.storage.tables import BALANCES, USAGE, table

        db = Database(ReservationStore(self.conn_id).hook)
        _, forecast = runway(
            db,
            connection_id=credits_conn_id,
            pool=pool,
            now=utcnow(),
            balances=table(BALANCES, TableName.parse(self.balances_table)),
            usage=table(USAGE, TableName.parse(self.usage_table)),
        )
        return None if forecast is None else forecast.burn_per_day


@dataclass(frozen=True)
class Reserved:
    """The outcome of :meth:`GateReservations.reserve`.

    :param value: the sensor's XCom value when granted (the balance, ``"decision"`` and
        ``"reservation"``); None when others hold too much (keep waiting).
    :param message: one line for the task log.
    :param refusal: when a budget or the runway (not the balance) refused.
    """

    value: dict[str, Any] | None
    message: str
    refusal: Refusal | None = None


@dataclass(frozen=True)
class GateReservations:
    """A reserving sensor's steps on the worker.

    :param store: the reservation store.
    :param credits_conn_id: the credits connection the gate reads.
    :param ttl: how long a reservation counts unless released.
    :param budget: the budget the gate enforces, if any.
    :param min_runway_days: the runway (days of burn) the pool must keep after reserving.
    :param history: where the pool's history (balances and usage) is read for the runway.
    """

    store: ReservationStore
    credits_conn_id: str
    ttl: timedelta = DEFAULT_TTL
    budget: Budget | None = None
    min_runway_days: Decimal | None = None
    history: History | None = None

    def ticket(self, context: Mapping[str, Any]) -> ReservationTicket:
        """The ticket a deferring gate hands its trigger.

        :param context: the task context (its ``ti`` owns the reservation).
        :raises CreditsConfigError: the context has no task instance.
        """
        return ReservationTicket(
            conn_id=self.store.conn_id,
            table=self.store.table,
            reservation_id=Holder.of(context).reservation_id,
        )

    def reserve(self, gate: Gate, balance: CreditBalance, context: Mapping[str, Any]) -> Reserved:
        """Reserve atomically against ``balance`` (see :meth:`ReservationStore.reserve`).

        :param gate: the sensor's gate (``gate.reserves``).
        :param balance: the balance just read, on the worker or by the trigger.
        :param context: the task context (its ``ti`` owns the reservation).
        :raises CreditsConfigError: the context has no task instance, or the store's connection
            is no SQL database.
        """
        runway = None
        if self.min_runway_days is not None:
            burn = (self.history or History(self.store.conn_id)).burn_per_day(
                self.credits_conn_id, balance.pool(gate.credit_pool).name
            )
            runway = RunwayNeed(self.min_runway_days, burn)
        attempt = self.store.reserve(
            gate=gate,
            balance=balance,
            connection_id=self.credits_conn_id,
            holder=Holder.of(context),
            ttl=self.ttl,
            budget=self.budget,
            runway=runway,
        )
        mine = attempt.reservation
        if attempt.refusal is not None:
            return Reserved(None, f"{attempt.decision.message}; {attempt.refusal.message}", attempt.refusal)
        if mine is None:
            return Reserved(None, _with_count(attempt.decision, attempt.counted))
        value = result_value(
            balance.model_dump(mode="json"),
            attempt.decision.model_dump(mode="json"),
            attempt.as_xcom(self.store.conn_id, self.store.table),
        )
        until = mine.expires_at.isoformat()
        unknown = (
            "; runway unknown (too little history, or nothing burning): not gated on it"
            if runway is not None and runway.burn_per_day is None
            else ""
        )
        return Reserved(
            value,
            f"{attempt.decision.message}; reserved {mine.amount} {attempt.decision.unit} until {until} "
            f"(reservation {mine.reservation_id}){unknown}",
        )
