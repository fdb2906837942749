"""Release credit reservations when the gated work ends: :class:`ReleaseCreditsOperator` and :func:`release_credits`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, TriggerRule

from airflow_provider_credits.reservations import DEFAULT_TABLE, Holder, ReservationStore
from airflow_provider_credits.templating import RejectEmptyTemplates

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)


def _task_ids(gate_task_ids: str | Sequence[str] | None) -> list[str] | None:
    if gate_task_ids is None:
        return None
    return [gate_task_ids] if isinstance(gate_task_ids, str) else list(gate_task_ids)


def release_for(
    context: Context,
    reservation_conn_id: str,
    gate_task_ids: str | Sequence[str] | None = None,
    reservation_table: str = DEFAULT_TABLE,
) -> int:
    """Release the reservations of the running task's DAG run; idempotent.

    A mapped task (map index >= 0) releases only the reservations with its own map index,
    i.e. those of the gate in the same mapped task group; an unmapped one releases all.

    :param context: the running task's context.
    :param reservation_conn_id: the SQL connection holding the reservation table.
    :param gate_task_ids: the gate tasks whose reservations to release; None for all of the run.
    :param reservation_table: the reservation table.
    :return: how many reservations this call released.
    """
    me = Holder.of(context)
    return ReservationStore(reservation_conn_id, reservation_table).release(
        dag_id=me.dag_id,
        run_id=me.run_id,
        task_ids=_task_ids(gate_task_ids),
        map_index=me.map_index if me.map_index >= 0 else None,
    )


def release_credits(
    reservation_conn_id: str,
    gate_task_ids: str | Sequence[str] | None = None,
    reservation_table: str = DEFAULT_TABLE,
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
    """

    def callback(context: Context) -> None:
        try:
            released = release_for(context, reservation_conn_id, gate_task_ids, reservation_table)
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
    :param kwargs: :class:`~airflow.sdk.BaseOperator` arguments.
    :raises CreditsConfigError: ``reservation_conn_id`` is empty.
    """

    template_fields: Sequence[str] = ("reservation_conn_id", "gate_task_ids", "reservation_table")
    ui_color = "#e0f0d8"

    def __init__(
        self,
        *,
        reservation_conn_id: str,
        gate_task_ids: str | Sequence[str] | None = None,
        reservation_table: str = DEFAULT_TABLE,
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

    def execute(self, context: Context) -> int:
        released = release_for(context, self.reservation_conn_id, self.gate_task_ids, self.reservation_table)
        self.log.info("released %d credit reservation(s)", released)
        return released
