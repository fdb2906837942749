"""The one place that knows databases apart, without a database server: driver errors become typed,
safe messages; timestamps read as the same ISO 8601 text on every database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_credits.exceptions import CreditsStorageError
from airflow_provider_credits.storage import database as storage
from airflow_provider_credits.storage.tables import BALANCES


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


def test_iso_utc_is_utc_text_with_microseconds_only_when_present() -> None:
    assert (
        storage.iso_utc(datetime(2026, 11, 30, 13, tzinfo=timezone(timedelta(hours=1))))
        == "2026-11-30T12:00:00Z"
    )
    assert (
        storage.iso_utc(datetime(2026, 11, 30, 12, 0, 0, 500)) == "2026-11-30T12:00:00.000500Z"
    )  # naive: UTC
    assert storage.iso_utc(None) is None


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc),
        datetime(2026, 11, 30, 13, 4, 5, 60, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 1, 2, 3, 4, 5, 999999),  # naive: UTC
    ],
)
def test_sqlite_timestamps_read_as_text_equal_the_datetime_formatted(moment: datetime) -> None:
    engine = sa.create_engine("sqlite://")
    BALANCES.create(engine)
    row = {
        "connection_id": "c",
        "pool": "credits",
        "fetched_at": moment,
        "logical_date": moment,
        "vendor": "v",
        "account": "a",
        "unit": "credits",
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(BALANCES).values(row))
        expression, to_text = storage.utc_text(conn, BALANCES.c.fetched_at)
        (stored,) = conn.execute(sa.select(expression)).scalars().all()
    assert isinstance(stored, str)  # read as the stored text, no datetime made
    assert to_text(stored) == storage.iso_utc(moment)
    assert to_text(None) is None


def test_server_databases_read_timestamps_as_datetimes_formatted_by_iso_utc() -> None:
    postgres = SimpleNamespace(dialect=SimpleNamespace(name="postgresql"))
    expression, to_text = storage.utc_text(postgres, BALANCES.c.fetched_at)  # type: ignore[arg-type]
    assert expression is BALANCES.c.fetched_at
    assert to_text is storage.iso_utc


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


class _MysqlclientError(Exception):
    """What mysqlclient and PyMySQL raise: the error number first."""


class _ConnectorError(Exception):
    """What mysql-connector raises: the number as ``errno``."""

    def __init__(self, errno: int, msg: str) -> None:
        super().__init__(msg)
        self.errno = errno


@pytest.mark.parametrize(
    ("driver_error", "ran_out"),
    [
        (_MysqlclientError(1205, "Lock wait timeout exceeded; try restarting transaction"), True),
        (_ConnectorError(1205, "Lock wait timeout exceeded; try restarting transaction"), True),
        (_MysqlclientError(1213, "Deadlock found when trying to get lock"), False),
        (_MysqlclientError("1205 is not an error number here"), False),
        (RuntimeError("connection refused"), False),
    ],
    ids=["mysqlclient", "mysql-connector", "deadlock", "text", "other"],
)
def test_a_mysql_lock_wait_that_ran_out_is_known_by_every_driver(
    driver_error: Exception, ran_out: bool
) -> None:
    """MySQL/MariaDB error 1205: a bounded lock wait that ran out is not tried again (the bound would
    multiply), seen in SQLAlchemy's error or in the CreditsStorageError raised from the driver's."""
    assert (
        storage._lock_wait_ran_out(sa.exc.OperationalError("CREATE INDEX ix", None, driver_error)) is ran_out
    )
    wrapped = CreditsStorageError("creating or upgrading table t ...")
    wrapped.__cause__ = driver_error
    assert storage._lock_wait_ran_out(wrapped) is ran_out
