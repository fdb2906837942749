"""The Python examples in README.md and docs/ run: each page's blocks in order, in one namespace,
against the vendor sandbox (connections ``*_default`` and ``credits_db`` / ``usage_db``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from airflow_provider_credits.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks(page: Path) -> list[str]:
    """The page's Python code blocks, except snippet includes (those are tested as files)."""
    return [b for b in BLOCK.findall(page.read_text()) if not b.lstrip().startswith("--8<--")]


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p)]


@pytest.mark.integration
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=[str(p.relative_to(ROOT)) for p in PAGES_WITH_CODE])
def test_python_examples_run(
    page: Path, sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator

    database = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "credits.db")})
    monkeypatch.setenv("AIRFLOW_CONN_CREDITS_DB", database)
    monkeypatch.setenv("AIRFLOW_CONN_USAGE_DB", database)
    namespace: dict = {"enrich": EmptyOperator(task_id="enrich"), "__name__": "docs_example"}
    for number, code in enumerate(python_blocks(page)):
        try:
            exec(compile(code, f"{page.name}[{number}]", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"{page.name} example {number} fails: {type(exc).__name__}: {exc}\n{code}")


def test_pages_with_code_are_found() -> None:
    names = {p.name for p in PAGES_WITH_CODE}
    assert {"README.md", "hooks.md", "sensor.md", "reservations.md", "getting-started.md"} <= names
