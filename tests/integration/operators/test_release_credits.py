"""ReleaseCreditsOperator and the release_credits callback: idempotent, scoped to the run (and map index)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_credits.operators.release_credits import ReleaseCreditsOperator, release_credits
from airflow_provider_credits.reservations import ReservationStore
from tests.support.databases import Database
from tests.support.reservations import CONNECTION, POOL, hold, new_store
from tests.support.sensor_modes import FakeTaskInstance


def context(task_id: str = "release", map_index: int = -1, run_id: str = "run_1") -> Any:
    ti = FakeTaskInstance(task_id, run_id=run_id, map_index=map_index)
    ti.dag_id = "dag"
    return {"ti": ti}


def active(store: ReservationStore) -> set[tuple[str, str, int]]:
    return {(r.run_id, r.task_id, r.map_index) for r in store.active(CONNECTION, POOL)}


@pytest.fixture
def held(database: Database) -> ReservationStore:
    store = new_store(database)
    for run_id, task_id, map_index in [
        ("run_1", "gate_a", -1),
        ("run_1", "gate_b", -1),
        ("run_1", "batch.gate", 0),
        ("run_1", "batch.gate", 1),
        ("run_2", "gate_a", -1),
    ]:
        hold(store, 100, task_id, run_id=run_id, map_index=map_index)
    return store


def test_operator_releases_the_named_gates_of_its_run_once(
    held: ReservationStore, database: Database
) -> None:
    release = ReleaseCreditsOperator(
        task_id="release",
        reservation_conn_id=database.conn_id,
        gate_task_ids="gate_a",
        reservation_table=held.table,
    )

    assert release.trigger_rule == "all_done"
    assert release.execute(context()) == 1
    assert release.execute(context()) == 0  # twice is harmless
    assert ("run_1", "gate_a", -1) not in active(held)
    assert ("run_2", "gate_a", -1) in active(held)  # another run's gate keeps its credits


def test_operator_without_gates_releases_the_whole_run(held: ReservationStore, database: Database) -> None:
    release = ReleaseCreditsOperator(
        task_id="release", reservation_conn_id=database.conn_id, reservation_table=held.table
    )

    assert release.execute(context()) == 4
    assert active(held) == {("run_2", "gate_a", -1)}


def test_mapped_release_only_frees_its_own_map_index(held: ReservationStore, database: Database) -> None:
    release = ReleaseCreditsOperator(
        task_id="batch.release",
        reservation_conn_id=database.conn_id,
        gate_task_ids=["batch.gate"],
        reservation_table=held.table,
    )

    assert release.execute(context("batch.release", map_index=1)) == 1
    assert ("run_1", "batch.gate", 0) in active(held)
    assert ("run_1", "batch.gate", 1) not in active(held)


def test_callback_releases_whatever_the_outcome_and_twice_is_harmless(
    held: ReservationStore, database: Database
) -> None:
    callback = release_credits(
        database.conn_id, gate_task_ids=["gate_a", "gate_b"], reservation_table=held.table
    )

    callback(context("enrich"))  # as on_success_callback
    callback(context("enrich"))  # and again, e.g. as on_failure_callback of a retry

    assert active(held) == {("run_1", "batch.gate", 0), ("run_1", "batch.gate", 1), ("run_2", "gate_a", -1)}
