"""Optional dependencies: without an extra's packages, the error says which extra to install."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from airflow_provider_credits._extras import install_hint, needs_extra
from tests.support import ROOT

CHECK_IMPORTS = ROOT / "scripts" / "check_imports.py"


def test_needs_extra_names_the_extra_and_keeps_the_module_name() -> None:
    with pytest.raises(ModuleNotFoundError) as info, needs_extra("postgres", "writing to PostgreSQL"):
        import airflow_provider_credits_no_such_module  # noqa: F401

    assert "pip install 'airflow-provider-credits[postgres]'" in str(info.value)
    assert "writing to PostgreSQL" in str(info.value)
    assert info.value.name == "airflow_provider_credits_no_such_module"
    assert install_hint("mysql") == "pip install 'airflow-provider-credits[mysql]'"


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK_IMPORTS), *args], capture_output=True, text=True, timeout=120
    )


def test_every_public_module_imports() -> None:
    done = run_check()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "airflow_provider_credits.sandbox.app: ok" in done.stdout


def test_without_starlette_and_uvicorn_the_sandbox_names_its_extra() -> None:
    done = run_check("--block", "starlette,uvicorn", "--expect-extra", "sandbox")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "airflow_provider_credits.sandbox.app: needs an extra: the vendor sandbox needs the Python "
        "package 'starlette', which is not installed: pip install 'airflow-provider-credits[sandbox]'"
    ) in done.stdout
    assert "airflow_provider_credits.sandbox: ok" in done.stdout  # the package itself stays importable


def test_sandbox_cli_without_uvicorn_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from airflow_provider_credits.sandbox.__main__ import main\n"
        "sys.exit(main(['--port', '0']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "sandbox: cannot start:" in done.stderr
    assert "pip install 'airflow-provider-credits[sandbox]'" in done.stderr


@pytest.mark.parametrize(
    ("conn_type", "hint"),
    [
        ("oracle", "install the Airflow provider of 'oracle' connections"),
        ("postgres", "pip install 'airflow-provider-credits[postgres]'"),
    ],
)
def test_a_database_without_its_provider_names_what_to_install(
    conn_type: str, hint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow's 'Unknown hook type' becomes a CreditsConfigError that says what to install.

    oracle: no provider installed here, Airflow's real error. postgres: its provider is
    installed in the test environment, so Airflow is made to answer as without it
    (``make dist`` checks the real case in a fresh environment).
    """
    from airflow.providers.common.sql.operators.sql import BaseSQLOperator

    from airflow_provider_credits.exceptions import CreditsConfigError
    from airflow_provider_credits.reservations import ReservationStore
    from airflow_provider_credits.version_compat import AirflowException

    monkeypatch.setenv("AIRFLOW_CONN_NO_PROVIDER_DB", json.dumps({"conn_type": conn_type, "host": "db"}))
    if conn_type == "postgres":

        def unknown(cls: Any, conn_id: str, hook_params: Any = None) -> Any:
            raise AirflowException(f'Unknown hook type "{conn_type}"')

        monkeypatch.setattr(BaseSQLOperator, "get_hook", classmethod(unknown))

    with pytest.raises(CreditsConfigError) as info:
        ReservationStore("no_provider_db").hook  # noqa: B018

    assert str(info.value).endswith(
        f"connection 'no_provider_db' is of type {conn_type!r}, whose Airflow provider is not installed: {hint}"
    )
