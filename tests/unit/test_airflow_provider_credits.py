"""The package itself: a PEP 440 version that the provider info reports, and an import that imports nothing else."""

from __future__ import annotations

import subprocess
import sys

from packaging.version import Version

import airflow_provider_credits
from airflow_provider_credits.get_provider_info import get_provider_info


def test_the_version_is_pep_440_and_the_one_airflow_is_told() -> None:
    version = airflow_provider_credits.__version__
    assert str(Version(version)) == version
    assert get_provider_info()["versions"] == [version]


def test_importing_the_package_imports_no_submodule_and_no_airflow() -> None:
    code = (
        "import sys, airflow_provider_credits\n"
        "print(sorted(m for m in sys.modules if m.startswith(('airflow_provider_credits.', 'airflow.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
