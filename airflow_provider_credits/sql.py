"""Kept for imports written before 0.2: the storage layer lives in :mod:`airflow_provider_credits.storage`.

``TableName`` and ``TableSchemaError`` are re-exported from their new homes; :func:`as_utc`
normalizes datetimes for the storage layer.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_provider_credits.exceptions import TableSchemaError
from airflow_provider_credits.storage.names import TableName

__all__ = ["TableName", "TableSchemaError", "as_utc"]


def as_utc(value: datetime) -> datetime:
    """A plain (not pendulum) aware datetime in UTC; naive values are taken as UTC."""
    if type(value) is datetime and value.tzinfo is timezone.utc:
        return value  # already one (datetimes are immutable)
    v = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=timezone.utc)
