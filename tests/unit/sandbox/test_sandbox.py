"""The sandbox package: importing it starts nothing and imports neither uvicorn nor Starlette."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_package_starts_nothing() -> None:
    code = (
        "import sys, threading, airflow_provider_credits.sandbox as s\n"
        "assert not {'uvicorn', 'starlette'} & set(sys.modules), sorted(sys.modules)\n"
        "assert threading.active_count() == 1\n"
        "assert s.SandboxServer.__name__ == 'SandboxServer'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
