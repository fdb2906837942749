"""The reservation steps of a gate without a database: a ticket needs the task instance."""

from __future__ import annotations

import pytest

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.reservation_steps import GateReservations
from airflow_provider_credits.reservations import ReservationStore
from tests.support.reservations import CONNECTION


def test_a_ticket_needs_a_task_instance() -> None:
    with pytest.raises(CreditsConfigError, match="needs the task instance"):
        GateReservations(ReservationStore("db"), CONNECTION).ticket({})
