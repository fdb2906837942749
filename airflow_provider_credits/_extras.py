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
