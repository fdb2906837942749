"""The sandbox's vendor modules mirror the hooks: every vendor of the registry is emulated."""

from __future__ import annotations

import subprocess
import sys

from airflow_provider_credits.sandbox import keys
from airflow_provider_credits.vendors import CREDITS_HTTP, VENDORS


def test_every_registry_vendor_has_a_sandbox_emulation_with_a_key_and_a_route() -> None:
    from airflow_provider_credits.sandbox.vendors import SANDBOX_VENDORS

    missing = set(VENDORS) - {CREDITS_HTTP.conn_type} - set(SANDBOX_VENDORS)
    assert not missing, (
        f"add an emulation of {missing} to airflow_provider_credits/sandbox/vendors/registry.py"
    )
    assert set(SANDBOX_VENDORS) == set(VENDORS) - {CREDITS_HTTP.conn_type}
    assert set(SANDBOX_VENDORS) == set(keys.SECRETS)
    for name, vendor in SANDBOX_VENDORS.items():
        assert vendor.name == name
        assert vendor.routes, name


def test_every_sandbox_vendor_has_a_seeded_account() -> None:
    from airflow_provider_credits.sandbox.state import SEED_POOLS

    accounts = {account.split(":", 1)[0] for account in SEED_POOLS}
    missing = set(keys.VENDORS) - accounts
    assert not missing, (
        f"add the sandbox account of {missing} to SEED_POOLS in airflow_provider_credits/sandbox/state.py"
    )


def test_vendor_modules_import_without_starlette() -> None:
    """Starlette is imported by the app only; the vendor modules name it in type hints alone."""
    code = (
        "import sys; sys.modules['starlette'] = None\n"
        "import airflow_provider_credits.sandbox.vendors, airflow_provider_credits.sandbox.control\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
