"""ReservationStore and its CLI without a database: holders, reservation ids, table names, usage errors."""

from __future__ import annotations

import pytest

from airflow_provider_credits.exceptions import CreditsConfigError, TableSchemaError
from airflow_provider_credits.reservations import Holder, ReservationStore, main
from tests.support.reservations import holder


@pytest.mark.parametrize("name", ["credit reservations", "x; DROP TABLE y", "a.b.c", "t" * 60])
def test_unsafe_or_too_long_table_names_are_refused(name: str) -> None:
    with pytest.raises(TableSchemaError, match="invalid table name"):
        ReservationStore("any", name).table_name  # noqa: B018
        ReservationStore("any", name).lock_table_name  # noqa: B018


def test_holder_needs_a_task_instance() -> None:
    with pytest.raises(CreditsConfigError, match="task instance"):
        Holder.of({})


def test_reservation_ids_are_deterministic_per_task_instance() -> None:
    assert holder("a").reservation_id == holder("a").reservation_id
    ids = {
        holder("a").reservation_id,
        holder("a", map_index=0).reservation_id,
        holder("a", run_id="r2").reservation_id,
    }
    assert len(ids) == 3


@pytest.mark.parametrize(
    "args",
    [
        ["release", "--conn-id", "c"],  # which reservations?
        ["release", "--conn-id", "c", "--id", "x", "--dag-id", "d"],
        ["release", "--conn-id", "c", "--run-id", "r"],
        ["list"],
        ["drop", "--conn-id", "c"],
    ],
)
def test_wrong_usage_exits_2(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
