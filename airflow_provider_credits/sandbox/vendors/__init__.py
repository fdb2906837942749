"""The vendors the sandbox emulates, one module per vendor as in :mod:`airflow_provider_credits.hooks`.

:data:`SANDBOX_VENDORS` maps each vendor name to its
:class:`~airflow_provider_credits.sandbox.vendors.base.SandboxVendor` (routes, auth, error body,
headers), in the order the app registers their routes.
"""

from __future__ import annotations

from airflow_provider_credits.sandbox.vendors.base import SandboxVendor
from airflow_provider_credits.sandbox.vendors.clay import CLAY
from airflow_provider_credits.sandbox.vendors.clodura import CLODURA
from airflow_provider_credits.sandbox.vendors.registry import REGISTRY_VENDORS
from airflow_provider_credits.sandbox.vendors.theirstack import THEIRSTACK
from airflow_provider_credits.sandbox.vendors.trendtrack import TRENDTRACK

#: vendor name -> its emulation.
SANDBOX_VENDORS: dict[str, SandboxVendor] = {
    vendor.name: vendor for vendor in (CLAY, CLODURA, THEIRSTACK, TRENDTRACK, *REGISTRY_VENDORS.values())
}

__all__ = ["SANDBOX_VENDORS", "SandboxVendor"]
