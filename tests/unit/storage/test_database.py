"""The one place that knows databases apart, without a database: driver errors become typed, safe messages."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_credits.exceptions import CreditsStorageError
from airflow_provider_credits.storage import database as storage


class FakeHook:
    def __init__(self, url: str) -> None:
        self.url = url

    def get_sqlalchemy_engine(self, engine_kwargs: dict[str, Any] | None = None) -> sa.Engine:
        return sa.create_engine(self.url, **(engine_kwargs or {}))

    def get_conn_id(self) -> str:
        return "warehouse"


def test_a_driver_error_is_typed_names_the_table_and_never_the_password() -> None:
    db = storage.Database(FakeHook("postgresql+psycopg://loader:hunter2secret@db.example:5432/credits"))
    driver_error = RuntimeError('could not connect as "loader" with password hunter2secret')

    with pytest.raises(CreditsStorageError) as excinfo, db.errors("writing balances", "credit_balances"):
        raise sa.exc.OperationalError("INSERT INTO credit_balances ...", {"remaining": 5}, driver_error)

    message = str(excinfo.value)
    assert "writing balances failed on table credit_balances" in message
    assert "connection 'warehouse'" in message
    assert "hunter2secret" not in message and "***" in message
    assert "remaining" not in message  # the statement's values stay out
    assert excinfo.value.__cause__ is driver_error


@pytest.mark.parametrize(
    ("password", "min_length", "shown"),
    [
        ("lock", None, "canceling statement due to lock timeout (as lock)"),  # shorter than 5: as is
        ("locks", None, "canceling statement due to lock timeout (as ***)"),
        ("lock", "4", "canceling statement due to *** timeout (as ***)"),  # the [logging] setting
        ("S3cr3t-Tr0ub4dor", None, "canceling statement due to lock timeout (as ***)"),
    ],
)
def test_a_password_is_redacted_as_airflow_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, password: str, min_length: str | None, shown: str
) -> None:
    """Airflow leaves secrets shorter than ``[logging] min_length_masked_secret`` unmasked: a short one
    would hide ordinary words of the message, and the *** would tell which word the password is."""
    if min_length is not None:
        monkeypatch.setenv("AIRFLOW__LOGGING__MIN_LENGTH_MASKED_SECRET", min_length)
    db = storage.Database(FakeHook(f"postgresql+psycopg://loader:{password}@db.example:5432/credits"))
    driver_error = RuntimeError(f"canceling statement due to lock timeout (as {password})")

    with pytest.raises(CreditsStorageError) as excinfo, db.errors("writing balances", "credit_balances"):
        raise sa.exc.OperationalError("LOCK TABLE credit_balances", None, driver_error)

    assert str(excinfo.value).endswith(f"RuntimeError: {shown}")
