"""Kept for imports written before 0.2: the storage layer lives in :mod:`airflow_provider_credits.storage`.

``TableName``, ``TableSchemaError`` and ``as_utc`` are re-exported from their homes.
"""

from __future__ import annotations

from airflow_provider_credits.exceptions import TableSchemaError
from airflow_provider_credits.models import as_utc
from airflow_provider_credits.storage.names import TableName

__all__ = ["TableName", "TableSchemaError", "as_utc"]
