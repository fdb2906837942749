"""Optional dependencies: an import that needs an extra names the extra to install."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

DISTRIBUTION = "airflow-provider-credits"


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra``, e.g. ``pip install 'airflow-provider-credits[sandbox]'``.

    :param extra: an extra of the distribution (``sandbox``, ``postgres``, ``mysql``, ...).
    """
    return f"pip install '{DISTRIBUTION}[{extra}]'"


@contextmanager
def needs_extra(extra: str, feature: str) -> Iterator[None]:
    """Turn a missing module inside the ``with`` block into an error that says what to install.

    :param extra: the extra that brings the missing modules.
    :param feature: what needs them, for the message (e.g. ``the vendor sandbox``).
    :raises ModuleNotFoundError: naming the missing module and the extra (``exc.name`` is kept).
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{feature} needs the Python package {exc.name!r}, which is not installed: {install_hint(extra)}",
            name=exc.name,
        ) from exc


#: connection type -> the extra that installs its Airflow provider.
SQL_EXTRAS = {"postgres": "postgres", "postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite"}


@contextmanager
def sql_provider_needed(conn_id: str | None) -> Iterator[None]:
    """Turn Airflow's ``Unknown hook type "postgres"`` into an error that says what to install.

    Airflow raises that when the connection's type belongs to a provider that is not
    installed (``pip install airflow-provider-credits`` alone brings none of the database
    providers but common-sql).

    :param conn_id: the SQL connection, for the message.
    :raises CreditsConfigError: naming the connection, its type and ``pip install
        'airflow-provider-credits[postgres]'`` (or ``[mysql]``, ``[sqlite]``); other errors pass unchanged.
    """
    import re

    try:
        yield
    except Exception as exc:
        found = re.search(r'Unknown hook type "([^"]*)"', str(exc))
        if found is None:
            raise
        from airflow_provider_credits.exceptions import CreditsConfigError

        conn_type = found.group(1)
        extra = SQL_EXTRAS.get(conn_type)
        hint = install_hint(extra) if extra else f"install the Airflow provider of {conn_type!r} connections"
        raise CreditsConfigError(
            f"connection {conn_id!r} is of type {conn_type!r}, whose Airflow provider is not installed: {hint}"
        ) from exc
