"""Validated table names (no SQLAlchemy here: the operators import this at DAG-parse time)."""

from __future__ import annotations

from typing import Any, NamedTuple


def is_identifier(name: Any) -> bool:
    """Whether ``name`` matches ``[A-Za-z_][A-Za-z0-9_]{0,62}`` (no regex: this runs at DAG parse)."""
    return isinstance(name, str) and name.isascii() and name.isidentifier() and len(name) <= 63


class TableName(NamedTuple):
    """A validated, optionally schema-qualified table name."""

    table: str
    schema: str | None = None

    @classmethod
    def parse(cls, name: str) -> TableName:
        """Parse ``table`` or ``schema.table``, refusing anything but plain identifiers.

        :param name: the table name as the user wrote it.
        :raises TableSchemaError: a part is not ``[A-Za-z_][A-Za-z0-9_]*`` (at most 63 characters).
        """
        parts = name.split(".") if isinstance(name, str) else [name]
        if len(parts) > 2 or not all(map(is_identifier, parts)):
            from airflow_provider_credits.exceptions import TableSchemaError

            raise TableSchemaError(
                f"invalid table name {name!r}: use 'table' or 'schema.table' made of letters, digits "
                "and underscores (not starting with a digit, at most 63 characters each)"
            )
        return cls(parts[-1], parts[0] if len(parts) == 2 else None)

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table
