"""Deprecated: the storage layer lives in :mod:`airflow_provider_credits.storage`; import from the homes below.

Importing this module warns (``DeprecationWarning``) and re-exports the names it had:
``TableName`` (:mod:`airflow_provider_credits.storage.names`), ``TableSchemaError``
(:mod:`airflow_provider_credits.exceptions`) and ``as_utc`` (:mod:`airflow_provider_credits.models`).
"""

from __future__ import annotations

import warnings

from airflow_provider_credits.exceptions import TableSchemaError
from airflow_provider_credits.models import as_utc
from airflow_provider_credits.storage.names import TableName

__all__ = ["TableName", "TableSchemaError", "as_utc"]

warnings.warn(
    "airflow_provider_credits.sql is deprecated: import TableName from airflow_provider_credits.storage.names, "
    "TableSchemaError from airflow_provider_credits.exceptions, as_utc from airflow_provider_credits.models",
    DeprecationWarning,
    stacklevel=2,
)
