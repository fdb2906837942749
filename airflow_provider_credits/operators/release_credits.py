"""Release credit reservations when the gated work ends: :class:`ReleaseCreditsOperator` and :func:`release_credits`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, TriggerRule

from airflow_provider_credits.reservations import DEFAULT_TABLE, Holder, Reservation, ReservationStore
from airflow_provider_credits.templating import RejectEmptyTemplates

if TYPE_CHECKING:
    from decimal import Decimal

    from airflow.sdk import Context

log = logging.getLogger(__name__)


def _task_ids(gate_task_ids: str | Sequence[str] | None) -> list[str] | None:
    if gate_task_ids is None:
        return None
    return [gate_task_ids] if isinstance(gate_task_ids, str) else list(gate_task_ids)


def measurer(store: ReservationStore) -> Callable[[Reservation], Decimal | None]:
    """Measure a reservation's spend without doubt, or give None (unknown).

    Measured = the pool's remaining credits the grant decided on minus what the vendor reports
    now, only when the grant recorded a fresh balance, no other reservation of the pool
    overlapped in time, and the balance did not rise (a top-up hides the spend). Any failure
    (vendor or database) is logged and gives None.
    """

    def measure(reservation: Reservation) -> Decimal | None:
        from airflow_provider_credits.hooks import get_credits_hook

        if reservation.balance_before is None:
            return None
        try:
            if store.overlapping(reservation):
                log.info(
                    "reservation %s: other reservations overlapped: spend unknown", reservation.reservation_id
                )
                return None
            hook = get_credits_hook(reservation.connection_id)
            try:
                after = hook.get_balance().pool(reservation.pool).remaining
            finally:
                hook.close()
        except Exception as exc:
            log.warning("could not measure the spend of reservation %s: %s", reservation.reservation_id, exc)
            return None
        if after is None or after > reservation.balance_before:
            return None
        return reservation.balance_before - after

    return measure


def release_for(
    context: Context,
    reservation_conn_id: str,
    gate_task_ids: str | Sequence[str] | None = None,
    reservation_table: str = DEFAULT_TABLE,
    *,
    spent: Any = None,
    measure: bool = True,
) -> int:
    """Release the reservations of the running task's DAG run, recording their spend; idempotent.

    A mapped task (map index >= 0) releases only the reservations with its own map index,
    i.e. those of the gate in the same mapped task group; an unmapped one releases all.

    :param context: the running task's context.
    :param reservation_conn_id: the SQL connection holding the reservation table.
    :param gate_task_ids: the gate tasks whose reservations to release; None for all of the run.
    :param reservation_table: the reservation table.
    :param spent: the final figure the work spent (number >= 0 or numeric string); needs
        exactly one reservation to release. None: what the work reported, else measured
        (see :func:`measurer`) when ``measure``, else unknown.
    :param measure: measure the spend of reservations that reported nothing.
    :return: how many reservations this call released.
    :raises CreditsConfigError: ``spent`` is unusable, or one figure for several reservations.
    """
    me = Holder.of(context)
    store = ReservationStore(reservation_conn_id, reservation_table)
    return store.release(
        dag_id=me.dag_id,
        run_id=me.run_id,
        task_ids=_task_ids(gate_task_ids),
        map_index=me.map_index if me.map_index >= 0 else None,
        spent=spent,
        releaser=me,
        measure=measurer(store) if measure else None,
    )


def release_credits(
    reservation_conn_id: str,
    gate_task_ids: str | Sequence[str] | None = None,
    reservation_table: str = DEFAULT_TABLE,
    *,
    spent: Any = None,
    measure: bool = True,
) -> Callable[[Context], None]:
    """A task callback that releases reservations, for the task that ends the gated work.

    Use it as both ``on_success_callback`` and ``on_failure_callback`` (and
    ``on_skipped_callback``) so the credits are released whatever the outcome::

        release = release_credits("usage_db", gate_task_ids="wait_for_credits")
        enrich = PythonOperator(..., on_success_callback=release, on_failure_callback=release)

    A failure to release is logged, never raised: the reservation then expires with its TTL.

    :param reservation_conn_id: the SQL connection holding the reservation table.
    :param gate_task_ids: the gate tasks whose reservations to release; None for all of the run.
    :param reservation_table: the reservation table.
    :param spent: the final figure of what the work spent: a number, or a template rendered with
        the task's context (e.g. ``"{{ ti.xcom_pull(task_ids='enrich') }}"``); see
        :func:`release_for`. An unusable figure is logged and the spend recorded as reported
        so far (or measured, or unknown): the release itself never fails.
    :param measure: see :func:`release_for`.
    """

    def callback(context: Context) -> None:
        figure = spent
        try:
            if isinstance(figure, str) and ("{{" in figure or "{%" in figure):
                task: Any = context.get("task")
                figure = task.render_template(figure, context)
            if figure is not None:
                from airflow_provider_credits.ledger import parse_spend

                parse_spend(figure)
        except Exception as exc:
            log.warning("spent=%r is unusable (%s): releasing without it", spent, exc)
            figure = None
        try:
            released = release_for(
                context, reservation_conn_id, gate_task_ids, reservation_table, spent=figure, measure=measure
            )
        except Exception:
            log.exception("could not release credit reservations; they expire with their TTL")
            return
        log.info("released %d credit reservation(s)", released)

    return callback


class ReleaseCreditsOperator(RejectEmptyTemplates, BaseOperator):
    """Release the credit reservations made by gates of this DAG run, whatever happened to the work.

    Runs with ``trigger_rule="all_done"`` by default, so place it after the gated work:
    ``gate >> enrich >> release``. Releasing is idempotent; it returns how many reservations
    it released (0 when there were none left).

    :param reservation_conn_id: the SQL connection holding the reservation table (templated).
    :param gate_task_ids: the gate task(s) whose reservations to release; None for every
        reservation of this run (templated). Inside a mapped task group the operator releases
        only the reservations with its own map index.
    :param reservation_table: the reservation table (templated).
    :param spent: the final figure of what the gated work spent (templated, e.g.
        ``"{{ ti.xcom_pull(task_ids='enrich') }}"``); needs a single reservation to release
        (name its gate in ``gate_task_ids``). None: what the work reported
        (:func:`~airflow_provider_credits.ledger.report_spend`), else measured when possible,
        else unknown (see :func:`release_for`).
    :param measure: measure the spend of reservations that reported nothing.
    :param kwargs: :class:`~airflow.sdk.BaseOperator` arguments.
    :raises CreditsConfigError: ``reservation_conn_id`` is empty; at run time a negative or
        non-numeric ``spent``, or one figure for several reservations (nothing is released).
    """

    template_fields: Sequence[str] = ("reservation_conn_id", "gate_task_ids", "reservation_table", "spent")
    ui_color = "#e0f0d8"

    def __init__(
        self,
        *,
        reservation_conn_id: str,
        gate_task_ids: str | Sequence[str] | None = None,
        reservation_table: str = DEFAULT_TABLE,
        spent: Any = None,
        measure: bool = True,
        **kwargs: Any,
    ) -> None:
        if not reservation_conn_id or not isinstance(reservation_conn_id, str):
            from airflow_provider_credits.exceptions import CreditsConfigError

            raise CreditsConfigError(
                f"reservation_conn_id must name the SQL connection holding the reservations, got {reservation_conn_id!r}"
            )
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(**kwargs)
        self.reservation_conn_id = reservation_conn_id
        self.gate_task_ids = gate_task_ids
        self.reservation_table = reservation_table
        self.spent = spent
        self.measure = measure

    def execute(self, context: Context) -> int:
        released = release_for(
            context,
            self.reservation_conn_id,
            self.gate_task_ids,
            self.reservation_table,
            spent=self.spent,
            measure=self.measure,
        )
        self.log.info("released %d credit reservation(s)", released)
        return released
