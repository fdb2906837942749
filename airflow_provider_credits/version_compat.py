"""Everything that depends on the installed Airflow version, in one place.

The package supports Apache Airflow 3.1.8 and newer (see ``docs/versioning.md``). Code
elsewhere asks this module instead of testing versions itself, as the official providers
do with their ``version_compat.py``::

    from airflow_provider_credits.version_compat import AIRFLOW_V_3_2_PLUS

The version is read from the installed distribution's metadata (cheap, no Airflow import);
importing the module also imports ``airflow.sdk``'s exceptions and ``conf``, which the
sensor needs anyway. What differs between the supported versions:

- the task exceptions (``AirflowSensorTimeout``, ``AirflowSkipException``, ...) and ``conf``
  moved to ``airflow.sdk`` in Airflow 3.2 (task SDK 1.2); on 3.1 only ``airflow.exceptions``
  and ``airflow.configuration`` have them, and on 3.3 only the new location does;
- ``airflow.sdk.log.amask_secret`` and ``Connection.aextra_dejson()`` (masking from async
  code without blocking the event loop) exist from Airflow 3.3; before, ``mask_secret`` and
  ``Connection.extra_dejson`` are the ones to use, and they are safe in async code there:
  see :func:`amask_secret` and :func:`aextra_dejson`.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import TYPE_CHECKING, Any

MIN_AIRFLOW_VERSION = (3, 1, 8)
"""The oldest Airflow release the package is tested on and declares (``apache-airflow>=3.1.8``)."""


def parse_version(version: str) -> tuple[int, int, int]:
    """The release part of a version string as ``(major, minor, micro)``.

    Pre-releases count as their release (``3.2.0rc1`` -> ``(3, 2, 0)``), as Airflow's own
    providers treat them.

    :param version: a version string such as ``3.1.8``, ``3.2.0rc1`` or ``3.3.0.dev0``.
    :raises ValueError: when the string does not start with a ``major.minor`` number.
    """
    found = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if found is None:
        raise ValueError(f"not a version number: {version!r}")
    major, minor, micro = found.groups()
    return int(major), int(minor), int(micro or 0)


def get_airflow_version() -> tuple[int, int, int]:
    """The installed Airflow version as ``(major, minor, micro)``.

    Read from the ``apache-airflow-core`` distribution's metadata (no Airflow import);
    falls back to ``airflow.__version__`` when Airflow runs from a source tree without metadata.
    """
    try:
        return parse_version(metadata.version("apache-airflow-core"))
    except metadata.PackageNotFoundError:
        from airflow import __version__

        return parse_version(__version__)


AIRFLOW_VERSION = get_airflow_version()
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION >= (3, 2, 0)
"""Airflow 3.2 or newer: task exceptions and ``conf`` live in ``airflow.sdk``."""
AIRFLOW_V_3_3_PLUS = AIRFLOW_VERSION >= (3, 3, 0)
"""Airflow 3.3 or newer: ``amask_secret``, ``Connection.aextra_dejson`` and shared trigger streams exist."""

if TYPE_CHECKING or AIRFLOW_V_3_2_PLUS:
    from airflow.sdk import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
else:  # Airflow 3.1
    from airflow.configuration import conf
    from airflow.exceptions import (
        AirflowException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )


def mask_secret(secret: Any, name: str | None = None) -> None:
    """Register ``secret`` with Airflow's secrets masker (task logs show ``***`` instead).

    Looked up at call time, so tests can patch ``airflow.sdk.log``.

    :param secret: the value to mask (a string, or a dict/list of them).
    :param name: the field name, when known.
    """
    from airflow.sdk import log

    log.mask_secret(secret, name)


async def amask_secret(secret: Any, name: str | None = None) -> None:
    """:func:`mask_secret` for async code (triggers, async hooks).

    Airflow 3.3 has ``airflow.sdk.log.amask_secret``, which tells the task's supervisor
    without blocking the event loop. Airflow 3.1 and 3.2 have only ``mask_secret``, whose
    docstring there says it "works safely in both sync and async contexts"; it is called instead.

    :param secret: the value to mask (a string, or a dict/list of them).
    :param name: the field name, when known.
    """
    from airflow.sdk import log

    if AIRFLOW_V_3_3_PLUS:
        await log.amask_secret(secret, name)
    else:
        log.mask_secret(secret, name)


async def aextra_dejson(conn: Any) -> dict[str, Any]:
    """A connection's extras as a dict, from async code (a trigger or an async hook).

    ``await conn.aextra_dejson()`` on Airflow 3.3+ (it masks the sensitive extras with
    ``amask_secret``); ``conn.extra_dejson`` before, where no async variant exists.

    :param conn: an ``airflow.sdk.Connection``.
    """
    if AIRFLOW_V_3_3_PLUS:
        extra: dict[str, Any] = await conn.aextra_dejson()
        return extra
    return dict(conn.extra_dejson)


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "MIN_AIRFLOW_VERSION",
    "AirflowException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "TaskDeferred",
    "aextra_dejson",
    "amask_secret",
    "conf",
    "get_airflow_version",
    "mask_secret",
    "parse_version",
]
