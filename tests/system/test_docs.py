"""The docs' code runs, and reads the same on GitHub as in the built site.

- Python examples in README.md and docs/ run: each page's blocks in order, in one namespace,
  against the vendor sandbox (connections ``*_default`` and ``credits_db`` / ``usage_db``).
- Files shown in the docs are inlined (no ``--8<--`` includes, which GitHub shows as text);
  each inlined block must equal its file. ``python -m tests.system.test_docs --write`` refreshes them.
- The first-hour page (docs/getting-started.md) runs as a reader would follow it: its shell
  and Python blocks in order, in a fresh AIRFLOW_HOME, against the session's sandbox.

A block is marked by an HTML comment on the line just above its fence (invisible on GitHub and
in the site):

``<!-- inline: example_dags/x.py -->``
    the block is a copy of that file (checked, not run here: the file has its own tests);
``<!-- docs-test: skip -->``
    not run (installs, a server in the foreground, commands for a database we do not have);
``<!-- file: $AIRFLOW_HOME/dags/first_hour.py -->``
    first-hour page: the block is written to that file;
``<!-- docs-test: background -->``
    first-hour page: started, then the next blocks run while it does; it must succeed;
``<!-- docs-test: when-waiting -->``
    first-hour page: run once the credit gate has checked the balance twice (it is waiting).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_credits.sandbox.server import SandboxServer
from tests.support import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FIRST_HOUR = ROOT / "docs" / "getting-started.md"
FENCE = re.compile(
    r"^(?:<!-- (?P<mark>[^\n]*?) -->\n)?```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
SANDBOX_URL = "http://127.0.0.1:8900"


@dataclass(frozen=True)
class Block:
    """A fenced code block of a page and the mark above it ("" when none)."""

    lang: str
    code: str
    mark: str
    start: int  # offset of the block (its mark, if any) in the page
    end: int

    @property
    def inlined(self) -> str | None:
        """The file this block is a copy of, for ``<!-- inline: path -->``."""
        return self.mark.removeprefix("inline: ").strip() if self.mark.startswith("inline: ") else None


def blocks(text: str) -> list[Block]:
    """Every fenced code block of a Markdown text, in order."""
    return [
        Block(m["lang"], m["code"], (m["mark"] or "").strip(), m.start(), m.end())
        for m in FENCE.finditer(text)
    ]


def python_blocks(page: Path) -> list[str]:
    """The page's Python blocks that the generic runner executes: unmarked ones."""
    return [b.code for b in blocks(page.read_text()) if b.lang == "python" and not b.mark]


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p) and p != FIRST_HOUR]
INLINED = [(page, block) for page in PAGES for block in blocks(page.read_text()) if block.inlined]


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
    assert {"README.md", "hooks.md", "sensor.md", "reservations.md"} <= names
    assert {b.lang for b in blocks(FIRST_HOUR.read_text())} >= {"bash", "python"}


def test_no_page_includes_snippets() -> None:
    """``--8<--`` lines show as text on GitHub and in editors: examples are inlined instead."""
    assert [p.name for p in PAGES if "--8<--" in p.read_text()] == []


@pytest.mark.parametrize(
    ("page", "block"), INLINED, ids=[f"{p.relative_to(ROOT)}:{b.inlined}" for p, b in INLINED]
)
def test_inlined_examples_match_their_files(page: Path, block: Block) -> None:
    assert block.inlined is not None
    source = ROOT / block.inlined
    assert source.is_file(), f"{page.name} inlines {block.inlined}, which does not exist"
    assert block.code == source.read_text(), (
        f"{page.name}: the copy of {block.inlined} is out of date; run `python -m tests.system.test_docs --write`"
    )


def test_the_pages_inline_every_example_dag() -> None:
    shown = {b.inlined for _, b in INLINED}
    assert {f"example_dags/{p.name}" for p in (ROOT / "example_dags").glob("*.py")} <= shown


def write_inlined(page: Path) -> bool:
    """Refresh the page's inlined blocks from their files; True when the page changed."""
    text = page.read_text()
    for block in reversed(blocks(text)):
        if block.inlined:
            fence = text[block.start : block.end].split("\n", 2)
            head = "\n".join(fence[:2]) if block.mark else fence[0]
            text = f"{text[: block.start]}{head}\n{(ROOT / block.inlined).read_text()}```{text[block.end :]}"
    changed = text != page.read_text()
    if changed:
        page.write_text(text)
    return changed


# ------------------------------------------------------------------ the first-hour page


def _page_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a new shell: no Airflow settings of the test session, the venv first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path)
    return env


def _run_shell(code: str, env: dict[str, str], cwd: Path, name: str) -> dict[str, str]:
    """Run a shell block; return the environment it leaves (its exports carry to the next block)."""
    dump = cwd / ".env-after"
    script = f"set -euo pipefail\n{code}\nenv -0 > {dump}\n"
    done = subprocess.run(
        ["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (
        f"{name} fails ({done.returncode}):\n{code}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return dict(item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item)


def _wait_until_gate_waits(sandbox: SandboxServer, background: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while sandbox.request_count("theirstack", path="/v0/billing/credit-balance") < 2:
        assert background.poll() is None, (
            f"the DAG run ended before the gate waited:\n{log.read_text()[-4000:]}"
        )
        assert time.monotonic() < deadline, f"the gate never checked twice:\n{log.read_text()[-4000:]}"
        time.sleep(0.5)


def _finish(background: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    while background:
        process, log = background.pop()
        assert process.wait(timeout=300) == 0, f"a background command failed:\n{log.read_text()[-6000:]}"


@pytest.mark.e2e
@pytest.mark.integration
def test_first_hour_page_runs_as_written(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Follow docs/getting-started.md: fresh AIRFLOW_HOME, pasted connections, the DAG, a top-up."""
    env = _page_env(tmp_path)
    background: list[tuple[subprocess.Popen[bytes], Path]] = []
    ran = []
    for number, block in enumerate(blocks(FIRST_HOUR.read_text())):
        name = f"{FIRST_HOUR.name} block {number}"
        code = block.code.replace(SANDBOX_URL, sandbox.url).replace("localhost:8900", sandbox.url)
        if block.mark == "docs-test: skip" or block.lang not in ("bash", "python"):
            continue
        if block.mark.startswith("file: "):
            target = Path(
                os.path.expandvars(
                    block.mark.removeprefix("file: ").replace("$AIRFLOW_HOME", env["AIRFLOW_HOME"])
                )
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code)
        elif block.mark == "docs-test: background":
            log = tmp_path / f"background-{number}.log"
            with open(log, "wb") as out:
                process = subprocess.Popen(
                    ["bash", "-c", f"set -euo pipefail\n{code}"],
                    env=env,
                    cwd=tmp_path,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            background.append((process, log))
        elif block.lang == "python":
            done = subprocess.run(
                [sys.executable, "-c", code],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, (
                f"{name} fails:\n{code}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        else:
            if block.mark == "docs-test: when-waiting":
                assert background, f"{name}: nothing is waiting"
                _wait_until_gate_waits(sandbox, *background[-1])
            env = _run_shell(code, env, tmp_path, name)
            if block.mark == "docs-test: when-waiting":  # the reader waits for the run to end
                _finish(background)
        ran.append(block.mark or block.lang)
    _finish(background)
    assert {"docs-test: background", "docs-test: when-waiting"} <= set(ran)
    assert any(m.startswith("file: ") for m in ran)
    # What the page says happened: the gate waited, resumed after the top-up, the data landed.
    run_log = "".join(log.read_text() for log in sorted(tmp_path.glob("background-*.log")))
    waited = [line for line in run_log.splitlines() if "connection 'theirstack_default'" in line]
    assert "next check in 5s" in waited[0] and "100 " in waited[0] and "api_credits" in waited[0]
    assert "Pausing task as DEFERRED" in run_log
    with sqlite3.connect(tmp_path / "usage.db") as db:
        (remaining,) = db.execute(
            "SELECT remaining FROM credit_balances WHERE pool = 'api_credits'"
        ).fetchone()
        today = db.execute(
            "SELECT amount FROM credit_usage WHERE pool = 'api_credits' AND substr(period_start, 1, 10) = ?",
            (datetime.now(timezone.utc).date().isoformat(),),
        ).fetchone()
    assert remaining == 100 + 2000 - 250
    assert today is not None and today[0] >= 250


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(
            "usage: python -m tests.system.test_docs --write   (refresh the inlined example files in docs/)"
        )
    for page in PAGES:
        if write_inlined(page):
            print(f"updated {page.relative_to(ROOT)}")


# Pages that name the vendors must name all of them: the registry grows, the prose must follow.
@pytest.mark.parametrize("page", ["sensor.md", "versioning.md"])
def test_pages_name_every_connection_type(page: str) -> None:
    from airflow_provider_credits.vendors import VENDORS

    text = (ROOT / "docs" / page).read_text()
    assert [t for t in VENDORS if f"`{t}`" not in text] == []


def test_sandbox_page_shows_every_default_connection() -> None:
    from airflow_provider_credits.sandbox import keys

    text = (ROOT / "docs" / "sandbox.md").read_text()
    assert [v for v in keys.VENDORS if f"export AIRFLOW_CONN_{v.upper()}_DEFAULT=" not in text] == []


def test_pages_give_one_python_range() -> None:
    """README, getting started and the versions page state the same supported Python range."""
    ranges = {
        name: set(
            re.findall(r"Python\W+(3\.\d+ to 3\.\d+|3\.\d+ and newer|3\.\d+\+)", (ROOT / name).read_text())
        )
        for name in ("README.md", "docs/getting-started.md", "docs/versioning.md")
    }
    assert all(ranges.values()), ranges
    assert len(set().union(*ranges.values())) == 1, ranges


def drawn_tree(text: str) -> dict[str, tuple[str | None, str]]:
    """The error tree drawn in ``text`` (a docs page or a docstring): class name -> (parent, note)."""
    root = re.search(r"^([ \t]*)CreditsError\n", text, re.MULTILINE)
    assert root is not None, "no error tree drawn"
    margin = len(root[1])
    tree: dict[str, tuple[str | None, str]] = {"CreditsError": (None, "")}
    path = ["CreditsError"]
    for line in text[root.end() :].splitlines():
        found = re.match(r"^([│├└─ ]+)(\w+)\s*(.*)$", line[margin:])
        if found is None:
            break
        depth = len(found[1]) // 4
        path = [*path[:depth], found[2]]
        tree[found[2]] = (path[-2], found[3])
    return tree


@pytest.mark.parametrize("where", ["docs/hooks.md", "airflow_provider_credits/exceptions.py"])
def test_the_drawn_error_tree_is_the_class_tree(where: str) -> None:
    """Every error class drawn under its parent; other bases (``ValueError`` ...) said in its note."""
    from airflow_provider_credits import exceptions

    classes = {name: getattr(exceptions, name) for name in exceptions.__all__}
    expected = {}
    for name, cls in classes.items():
        parents = [b.__name__ for b in cls.__bases__ if issubclass(b, exceptions.CreditsError)]
        also = [b.__name__ for b in cls.__bases__ if not issubclass(b, exceptions.CreditsError)]
        expected[name] = (parents[0] if parents else None, [b for b in also if b != "Exception"])
    drawn = drawn_tree((ROOT / where).read_text())
    assert {name: parent for name, (parent, _) in drawn.items()} == {
        name: parent for name, (parent, _) in expected.items()
    }
    assert [
        f"{name}: also a {base}"
        for name, (_, also) in expected.items()
        for base in also
        if f"also a {base}" not in drawn[name][1]
    ] == []


def module_map_names() -> set[str]:
    """The modules docs/architecture.md's module map names in its first column, as paths under the
    package: a file name alone is in the folder of the path before it in the same cell
    (``hooks/clay.py``, ``clodura.py``); a folder is named as ``x/``."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("## Module map") :]
    section = section[: section.index("\n## ")]
    names = set()
    for row in re.findall(r"^\| (`[^|]*?) \|", section, re.MULTILINE):
        folder = ""
        for name in re.findall(r"`([^`]+)`", row):
            if "/" in name:
                folder = name[: name.rindex("/") + 1]
                name = name.removeprefix(folder)
            names.add(f"{folder}{name}")
    return names


def test_the_module_map_names_every_module_of_the_package() -> None:
    package = ROOT / "airflow_provider_credits"
    modules = {str(m.relative_to(package)) for m in package.rglob("*.py")}
    named = module_map_names()
    folders = {n for n in named if n.endswith("/")}
    covered = (named - folders) | {f"{f}__init__.py" for f in folders}  # `x/` stands for its __init__.py
    assert sorted(modules - covered) == [], "modules missing from docs/architecture.md's module map"
    assert sorted(n for n in named - modules if not (package / n).exists()) == [], "named, but not there"
