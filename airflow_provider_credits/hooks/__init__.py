"""Hooks for the vendors' credit APIs, and lookup of the right hook for a connection.

The table of hook class paths by connection type comes from the vendor registry
(:data:`airflow_provider_credits.vendors.HOOK_CLASS_PATHS`); the hook modules are imported
on first use so that importing this package stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from airflow_provider_credits import vendors
from airflow_provider_credits.exceptions import CreditsConfigError

__all__ = ["HOOK_CLASS_PATHS", "aget_credits_hook", "get_credits_hook", "hook_class_for"]

if TYPE_CHECKING:
    from airflow_provider_credits.hooks.base import CreditsHook

#: :data:`airflow_provider_credits.vendors.HOOK_CLASS_PATHS`, read on first use (see ``__getattr__``).
HOOK_CLASS_PATHS: dict[str, str]


def __getattr__(name: str) -> Any:
    """``HOOK_CLASS_PATHS`` on first use: the registry file is read then, not at import."""
    if name == "HOOK_CLASS_PATHS":
        return vendors.HOOK_CLASS_PATHS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def hook_class_for(conn_type: str | None, conn_id: str = "") -> type[CreditsHook]:
    """Return the hook class for a connection type.

    :param conn_type: the connection's type, e.g. ``"clodura"``.
    :param conn_id: the connection id, only used in the error message.
    :raises CreditsConfigError: the type is not one of this provider's.
    """
    paths = vendors.HOOK_CLASS_PATHS
    path = paths.get(conn_type or "")
    if path is None:
        raise CreditsConfigError(
            f"connection {conn_id!r} has type {conn_type!r}; a credits connection must have one of "
            f"the types {', '.join(sorted(paths))}"
        )
    module_name, class_name = path.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)


def get_credits_hook(conn_id: str, **hook_kwargs: Any) -> CreditsHook:
    """Build the hook of the vendor that connection ``conn_id`` is for, by its type (one connection lookup).

    :param conn_id: an Airflow connection of one of the provider's types (:data:`HOOK_CLASS_PATHS`).
    :param hook_kwargs: passed on to the hook's constructor.
    """
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    hook = hook_class_for(conn.conn_type, conn_id)(conn_id=conn_id, **hook_kwargs)
    hook.adopt_connection(conn)  # one connection lookup, not a second one on first use
    return hook


async def aget_credits_hook(conn_id: str, **hook_kwargs: Any) -> CreditsHook:
    """Async :func:`get_credits_hook`: safe to call from a trigger's event loop."""
    from airflow.sdk import BaseHook

    conn = await BaseHook.aget_connection(conn_id)
    hook = hook_class_for(conn.conn_type, conn_id)(conn_id=conn_id, **hook_kwargs)
    await hook.aadopt_connection(conn)
    return hook
