"""Automatic, idempotent upgrades of tables written by older versions of the package.

Two upgrades so far, run on the first use of an old table:

* ``credit_balances`` before 0.2 was keyed by ``(connection_id, pool, logical_date)``, so a
  re-run for a past date overwrote that date's snapshot with a balance read today. Now it is
  keyed by ``(connection_id, pool, fetched_at)`` (when the balance was read) and records the
  run that read it in ``dag_id`` and ``run_id`` (NULL for rows written before). The upgrade
  adds the two columns and replaces the primary key; every row is kept. SQLite cannot alter a
  primary key: Alembic's batch mode copies the table into a new one and renames it, in the
  same transaction.

* ``credit_reservations`` before 0.2 had no ledger columns: the upgrade adds ``spent``,
  ``spent_source``, ``budget_key`` and ``balance_before`` (all nullable; NULL spent is 0).

Alembic (an Airflow dependency) issues the DDL, so each database gets its own dialect.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from airflow_provider_credits.storage.tables import BALANCES, RESERVATIONS

#: columns added to the reservation table by 0.2 (the ledger)
RESERVATION_LEDGER_COLUMNS = ("spent", "spent_source", "budget_key", "balance_before")


def _is_reservations(t: sa.Table) -> bool:
    return [c.name for c in t.columns] == [c.name for c in RESERVATIONS.columns]


def _missing_reservation_columns(inspector: sa.Inspector, t: sa.Table) -> list[str]:
    columns = {c["name"].lower() for c in inspector.get_columns(t.name, schema=t.schema)}
    if not {"reservation_id", "amount", "released_at"} <= columns:
        return []  # not ours to upgrade: the column check will name what is missing
    return [name for name in RESERVATION_LEDGER_COLUMNS if name not in columns]


def _is_balances(t: sa.Table) -> bool:
    return [c.name for c in t.columns] == [c.name for c in BALANCES.columns]


def _pk(inspector: sa.Inspector, t: sa.Table) -> dict[str, Any]:
    return dict(inspector.get_pk_constraint(t.name, schema=t.schema))


def needs_upgrade(inspector: sa.Inspector, t: sa.Table) -> bool:
    """Whether the existing table ``t`` has an older layout that :func:`upgrade` brings up to date.

    :param inspector: an inspector on the connection.
    :param t: the table as this version defines it (possibly under a custom name).
    """
    if _is_reservations(t):
        return bool(_missing_reservation_columns(inspector, t))
    if not _is_balances(t):
        return False
    columns = {c["name"].lower() for c in inspector.get_columns(t.name, schema=t.schema)}
    if not {"connection_id", "pool", "logical_date", "fetched_at"} <= columns:
        return False  # not ours to upgrade: the column check will name what is missing
    key = {c.lower() for c in _pk(inspector, t)["constrained_columns"]}
    return not {"dag_id", "run_id"} <= columns or key != {c.name for c in t.primary_key.columns}


def upgrade(conn: sa.Connection, inspector: sa.Inspector, t: sa.Table) -> None:
    """Bring an old ``credit_balances`` or ``credit_reservations`` table to the current layout, keeping every row.

    Runs inside the caller's transaction (PostgreSQL and SQLite roll DDL back on failure; MySQL
    commits each DDL statement).
    """
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    if _is_reservations(t):
        op = Operations(MigrationContext.configure(conn))
        for name in _missing_reservation_columns(inspector, t):
            op.add_column(t.name, sa.Column(name, t.c[name].type, nullable=True), schema=t.schema)
        return
    columns = {c["name"].lower() for c in inspector.get_columns(t.name, schema=t.schema)}
    pk = _pk(inspector, t)
    key = [c.name for c in t.primary_key.columns]
    op = Operations(MigrationContext.configure(conn))
    missing = [name for name in ("dag_id", "run_id") if name not in columns]
    if conn.dialect.name == "sqlite":
        # SQLite cannot alter a primary key: copy into a table with the new key (the existing
        # columns as this version defines them), then rename it, in this transaction
        current = sa.Table(
            t.name,
            sa.MetaData(),
            *(
                sa.Column(c.name, c.type, nullable=c.nullable, primary_key=c.primary_key)
                for c in t.columns
                if c.name in columns
            ),
            schema=t.schema,
        )
        with op.batch_alter_table(t.name, schema=t.schema, recreate="always", copy_from=current) as batch:
            for name in missing:
                batch.add_column(sa.Column(name, t.c[name].type, nullable=True))
        return
    with op.batch_alter_table(t.name, schema=t.schema) as batch:
        for name in missing:
            batch.add_column(sa.Column(name, t.c[name].type, nullable=True))
        if {c.lower() for c in pk["constrained_columns"]} != set(key):
            if pk["constrained_columns"]:  # MySQL: an upgrade cut after its DROP left no key
                batch.drop_constraint(pk.get("name") or "PRIMARY", type_="primary")
            batch.create_primary_key(f"{t.name}_pkey", key)
