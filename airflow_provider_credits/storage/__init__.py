"""Storage of balances, usage and reservations: SQLAlchemy Core tables and the code that writes them.

Importing this package is cheap (DAG files import the operators at every parse); SQLAlchemy is
imported on first use of an attribute below.

* :data:`metadata`: a SQLAlchemy ``MetaData`` holding every table the package writes, under
  its default name (``credit_balances``, ``credit_usage``, ``credit_reservations``,
  ``credit_reservations_locks``). Create them with ``metadata.create_all(engine)`` or put them
  under Alembic (``target_metadata = metadata``); see docs/storage.md.
* :mod:`~airflow_provider_credits.storage.tables`: the table definitions, and
  :func:`~airflow_provider_credits.storage.tables.table` for the same table under another name.
* :mod:`~airflow_provider_credits.storage.database`: the one place that knows databases apart
  (upserts, locks, transactions, error mapping).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_credits.storage.names import TableName

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    metadata: MetaData

__all__ = ["TableName", "metadata"]


def __getattr__(name: str) -> Any:
    if name == "metadata":
        from airflow_provider_credits.storage.tables import metadata

        return metadata
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
