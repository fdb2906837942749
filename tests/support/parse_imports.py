"""What parsing a DAG file imports: the modules a fresh interpreter adds to ``sys.modules`` while
it runs a DAG file's code, after ``airflow.sdk`` (which every DAG file imports anyway).

DAG files import and build the package's sensor and operators at every parse (docs/architecture.md,
"Cheap imports"); what only a running task needs must not be imported then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support import ROOT

#: modules no DAG parse needs: the package's run-time modules (pydantic models, the vendor
#: registry, hooks, reservations, storage) and the outside libraries only tasks use
RUN_TIME_ONLY = (
    "airflow_provider_credits.models",
    "airflow_provider_credits.vendors",
    "airflow_provider_credits.hooks",
    "airflow_provider_credits.reservations",
    "airflow_provider_credits.reservation_steps",
    "airflow_provider_credits.storage.tables",
    "airflow_provider_credits.storage.database",
    "airflow_provider_credits.triggers",
    "sqlalchemy",
    "alembic",
    "jmespath",
    "httpx",
    "aiohttp",
)


def modules_a_parse_imports(dag_code: str) -> list[str]:
    """The modules that running ``dag_code`` in a fresh interpreter imports after ``airflow.sdk``.

    :param dag_code: the DAG file's code (``DAG`` is already imported from ``airflow.sdk``).
    :returns: their names, sorted.
    """
    script = (
        "import json, sys\n"
        "import airflow.sdk\n"
        "from airflow.sdk import DAG\n"
        "before = set(sys.modules)\n"
        f"{dag_code}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


#: what Airflow's providers manager imports when something makes it discover the providers
#: during a parse (common-sql's hooks module does at import, in the versions of Airflow 3.1): it
#: calls our ``get_provider_info``, which reads the vendor registry. Not ours to avoid.
PROVIDER_DISCOVERY = {"airflow_provider_credits.get_provider_info": ("airflow_provider_credits.vendors",)}


def run_time_only(modules: list[str]) -> list[str]:
    """Those of ``modules`` that are (in) :data:`RUN_TIME_ONLY`, but for those that Airflow's
    provider discovery imported (:data:`PROVIDER_DISCOVERY`)."""
    discovered = {m for trigger, pulled in PROVIDER_DISCOVERY.items() if trigger in modules for m in pulled}
    return [
        m
        for m in modules
        if m not in discovered and any(m == r or m.startswith(f"{r}.") for r in RUN_TIME_ONLY)
    ]
