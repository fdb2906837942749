"""Fixtures for the reservation tests: a store on a fresh table of each database."""

from __future__ import annotations

import pytest

from airflow_provider_credits.reservations import ReservationStore
from tests.plugins.databases import Database


def new_store(db: Database) -> ReservationStore:
    """A store on unique tables of ``db`` (both dropped when the test ends)."""
    name = db.table("res")
    db._tables.append(f"{name}_locks")  # the lock table, dropped too
    db._tables.append(f"{name}_ledger")  # and the ledger
    return ReservationStore(db.conn_id, name)


@pytest.fixture
def store(database: Database) -> ReservationStore:
    """A reservation store on SQLite, PostgreSQL and MariaDB in turn."""
    return new_store(database)
