"""ReleaseCreditsOperator and the release_credits callback without a database: arguments, a callback
that never raises."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_credits.operators.release_credits import ReleaseCreditsOperator, release_credits
from tests.support.sensor_modes import FakeTaskInstance


def context(task_id: str = "release", map_index: int = -1, run_id: str = "run_1") -> Any:
    ti = FakeTaskInstance(task_id, run_id=run_id, map_index=map_index)
    ti.dag_id = "dag"
    return {"ti": ti}


def test_callback_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    callback = release_credits("no_such_connection")

    callback(context("enrich"))  # the reservation then expires with its TTL

    assert "could not release credit reservations" in caplog.text


@pytest.mark.parametrize("conn_id", ["", None])
def test_operator_needs_a_reservation_connection(conn_id: Any) -> None:
    from airflow_provider_credits.exceptions import CreditsConfigError

    with pytest.raises(CreditsConfigError, match="reservation_conn_id"):
        ReleaseCreditsOperator(task_id="release", reservation_conn_id=conn_id)
