"""Deprecated: the gate moved to :mod:`airflow_provider_credits.gate`; import from there.

Importing this module warns (``DeprecationWarning``) and re-exports the names it had.
"""

from __future__ import annotations

import warnings

from airflow_provider_credits.gate import *  # noqa: F403
from airflow_provider_credits.gate import HUNDRED, fmt
from airflow_provider_credits.gate import __all__ as _gate_names

__all__ = [*_gate_names, "HUNDRED", "fmt"]

warnings.warn(
    "airflow_provider_credits.threshold is deprecated: import from airflow_provider_credits.gate",
    DeprecationWarning,
    stacklevel=2,
)
