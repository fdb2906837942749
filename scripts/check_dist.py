"""``make dist``: check the built sdist and wheel as a user would receive them.

Run after ``python -m build`` and ``twine check`` (the Makefile does both first):

1. the wheel holds exactly what ``scripts/wheel_manifest.txt`` allows (the package, ``py.typed``,
   no tests, no caches) and the sdist holds no virtual environments, caches or build output;
2. the wheel (not editable) is installed with the ``[sqlite]`` extra and a pinned Airflow into
   a fresh virtual environment, ``.venv-dist``, with no development dependency;
3. there, from outside the source tree: ``airflow providers list`` shows the provider and its
   version; every module imports, or fails naming the extra to install (also with Starlette and
   uvicorn hidden: ``[sandbox]``); ``python -m airflow_provider_credits.sandbox`` starts and
   answers; ``airflow dags test`` runs ``example_dags/credit_usage_collection.py`` against it
   into a SQLite usage database, which then holds every vendor's balances.

Exit code 0 when all of it holds; every step prints one line, and a failing step prints why.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "scripts" / "wheel_manifest.txt"
DIST = "airflow-provider-credits"
PACKAGE = "airflow_provider_credits"
EXAMPLE_DAG = ROOT / "example_dags" / "credit_usage_collection.py"
DAG_ID = "credit_usage_collection"
#: the vendors the example DAG collects (every registry vendor; ``credits_http`` has no default account)
VENDORS = set(re.findall(r'"(\w+)_default"', EXAMPLE_DAG.read_text()))
# Never in a wheel or an sdist, whatever the manifest says.
FORBIDDEN = re.compile(
    r"(^|/)(__pycache__|\.venv[^/]*|\.mypy_cache|\.ruff_cache|\.pytest_cache|\.hypothesis|\.site|dist|build)(/|$)|\.py[co]$"
)
DEV_PACKAGES = ("pytest", "respx", "hypothesis", "mypy", "ruff", "mkdocs", "playwright")


class CheckFailed(Exception):
    """A check did not hold; the message says which and why."""


PASSED: list[str] = []


def step(message: str) -> None:
    """Report a check that held."""
    PASSED.append(message)
    print(f"check_dist: {message}", flush=True)


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A manifest line as a regex: ``*`` stays inside a folder, ``**/`` spans folders."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def read_manifest(path: Path = MANIFEST) -> list[str]:
    """The manifest's patterns (comments and blank lines dropped)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def check_wheel_contents(names: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """Problems of a wheel's file list against the manifest (empty when it matches).

    :param names: the wheel's file names.
    :param patterns: the manifest's patterns.
    """
    problems = [f"{name}: never belongs in a wheel" for name in names if FORBIDDEN.search(name)]
    problems += [f"{name}: tests are not shipped" for name in names if re.search(r"(^|/)tests?/", name)]
    regexes = [(p, pattern_regex(p)) for p in patterns]
    problems += [
        f"{name}: not in {MANIFEST.name}" for name in names if not any(r.match(name) for _, r in regexes)
    ]
    problems += [
        f"{p}: listed in {MANIFEST.name} but not in the wheel"
        for p, r in regexes
        if not any(r.match(n) for n in names)
    ]
    return problems


def check_sdist_contents(names: Sequence[str]) -> list[str]:
    """Problems of an sdist's file list (empty when it is clean)."""
    top = names[0].split("/", 1)[0] if names else ""
    inner = [name.split("/", 1)[1] for name in names if "/" in name]
    problems = [f"{name}: never belongs in an sdist" for name in inner if FORBIDDEN.search(name)]
    for needed in ("pyproject.toml", "README.md", f"{PACKAGE}/__init__.py", f"{PACKAGE}/py.typed"):
        if needed not in inner:
            problems.append(f"{top}/{needed}: missing from the sdist")
    return problems


def run(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path, timeout: float) -> str:
    """Run ``cmd``; return its output, or raise :class:`CheckFailed` with the output's tail."""
    done = subprocess.run(
        list(cmd), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if done.returncode:
        tail = (done.stdout + done.stderr)[-4000:]
        raise CheckFailed(f"{' '.join(map(str, cmd))} exited {done.returncode}:\n{tail}")
    return done.stdout + done.stderr


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points Python or Airflow at the source tree."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_", "AIRFLOW__", "PYTHON", "VIRTUAL_ENV")) and k != "CI"
    }
    env.update(extra)
    return env


def find_artifacts(dist: Path, version: str) -> tuple[Path, Path]:
    wheels = sorted(dist.glob(f"{PACKAGE}-{version}-*.whl"))
    sdists = sorted(dist.glob(f"{PACKAGE}-{version}.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise CheckFailed(f"expected one wheel and one sdist of {version} in {dist}, found {wheels + sdists}")
    return wheels[0], sdists[0]


def package_version() -> str:
    found = re.search(r'^__version__ = "([^"]+)"', (ROOT / PACKAGE / "__init__.py").read_text(), re.M)
    if not found:
        raise CheckFailed(f"no __version__ in {PACKAGE}/__init__.py")
    return found.group(1)


def make_venv(venv: Path, wheel: Path, airflow_version: str, work: Path) -> Path:
    """A fresh virtual environment with the wheel, its ``[sqlite]`` extra and Airflow; its python."""
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv)], cwd=work, timeout=120)
    python = venv / "bin" / "python"
    run(
        [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        cwd=work,
        env=clean_env(),
        timeout=300,
    )
    run(
        [str(python), "-m", "pip", "install", "-q", f"{wheel}[sqlite]", f"apache-airflow=={airflow_version}"],
        cwd=work,
        env=clean_env(),
        timeout=1200,
    )
    return python


def check_installed(python: Path, version: str, work: Path) -> None:
    """The wheel is installed as a regular (not editable) package, without development tools."""
    code = (
        "import importlib.metadata as m, importlib.util as u, json, airflow_provider_credits as p\n"
        "dev = [n for n in json.loads(__import__('sys').argv[1]) if u.find_spec(n)]\n"
        "print(json.dumps({'file': p.__file__, 'version': m.version('airflow-provider-credits'), 'dev': dev}))"
    )
    out = run([str(python), "-c", code, json.dumps(DEV_PACKAGES)], cwd=work, env=clean_env(), timeout=120)
    info = json.loads(out.strip().splitlines()[-1])
    site = str(python.parent.parent)
    if not info["file"].startswith(site) or "site-packages" not in info["file"]:
        raise CheckFailed(f"the package is imported from {info['file']}, not from {site}'s site-packages")
    if info["version"] != version:
        raise CheckFailed(f"installed version {info['version']}, expected {version}")
    if info["dev"]:
        raise CheckFailed(f"development packages in the fresh environment: {info['dev']}")


def check_missing_sql_providers(python: Path, work: Path, env: dict[str, str]) -> None:
    """With only ``[sqlite]`` installed, a PostgreSQL or MySQL connection names the extra to install."""
    for conn_type in ("postgres", "mysql"):
        code = (
            "from airflow_provider_credits.exceptions import CreditsConfigError\n"
            "from airflow_provider_credits.reservations import ReservationStore\n"
            "try:\n    ReservationStore('db').hook\nexcept CreditsConfigError as exc:\n    print(exc)\n"
        )
        conn = json.dumps({"conn_type": conn_type, "host": "127.0.0.1"})
        out = run([str(python), "-c", code], cwd=work, env={**env, "AIRFLOW_CONN_DB": conn}, timeout=300)
        if f"pip install '{DIST}[{conn_type}]'" not in out:
            raise CheckFailed(
                f"a {conn_type} connection without its provider does not name the extra:\n{out[-2000:]}"
            )


def start_sandbox(
    python: Path, work: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[str], str, dict[str, str]]:
    """Start ``python -m airflow_provider_credits.sandbox --port 0``; its process, URL and AIRFLOW_CONN_* values."""
    proc = subprocess.Popen(
        [str(python), "-m", f"{PACKAGE}.sandbox", "--port", "0", "--log-level", "warning"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url, conns, lines = None, {}, []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if found := re.search(r"serving on (http://\S+)", line):
            url = found.group(1)
        if found := re.match(r"export (AIRFLOW_CONN_\w+)='(.*)'$", line.strip()):
            conns[found.group(1)] = found.group(2)
        if url and {f"AIRFLOW_CONN_{v.upper()}_DEFAULT" for v in VENDORS} <= conns.keys():
            return proc, url, conns
    proc.kill()
    raise CheckFailed("the sandbox did not start:\n" + "".join(lines)[-3000:])


def check_dist(airflow_version: str, venv: Path, dist: Path, keep: bool) -> None:
    version = package_version()
    wheel, sdist = find_artifacts(dist, version)

    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        entry_points = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    if problems := check_wheel_contents(names, read_manifest()):
        raise CheckFailed(f"{wheel.name} does not match {MANIFEST.name}:\n  " + "\n  ".join(problems))
    if "provider_info = airflow_provider_credits.get_provider_info:get_provider_info" not in entry_points:
        raise CheckFailed(f"{wheel.name} lacks the apache_airflow_provider entry point:\n{entry_points}")
    step(f"{wheel.name}: {len(names)} files, as {MANIFEST.relative_to(ROOT)} allows")
    with tarfile.open(sdist) as tf:
        if problems := check_sdist_contents(tf.getnames()):
            raise CheckFailed(f"{sdist.name}:\n  " + "\n  ".join(problems))
    step(f"{sdist.name}: clean (no virtual environments, caches or build output)")

    work = Path(tempfile.mkdtemp(prefix="credits-dist-check-"))
    try:
        started = time.monotonic()
        python = make_venv(venv, wheel.resolve(), airflow_version, work)
        check_installed(python, version, work)
        step(
            f"installed {wheel.name}[sqlite] and apache-airflow=={airflow_version} into a fresh {venv.name} "
            f"in {time.monotonic() - started:.0f} s (no development packages)"
        )
        bin_dir = python.parent
        home = work / "airflow"
        dags = work / "dags"
        dags.mkdir(parents=True)
        usage_db = work / "usage.db"
        env = clean_env(
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__DAGS_FOLDER=str(dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
            AIRFLOW_CONN_USAGE_DB=json.dumps({"conn_type": "sqlite", "host": str(usage_db)}),
            PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        )

        out = run([str(bin_dir / "airflow"), "providers", "list"], cwd=work, env=env, timeout=300)
        if not re.search(rf"{re.escape(DIST)}\s*\|[^\n]*\|\s*{re.escape(version)}\b", out):
            raise CheckFailed(f"airflow providers list does not show {DIST} {version}:\n{out[-3000:]}")
        step(f"airflow providers list: {DIST} {version}")

        checker = str(ROOT / "scripts" / "check_imports.py")
        out = run([str(python), checker], cwd=work, env=env, timeout=300)
        step(f"every module imports from the wheel ({out.strip().splitlines()[-1]})")
        run(
            [str(python), checker, "--block", "starlette,uvicorn", "--expect-extra", "sandbox"],
            cwd=work,
            env=env,
            timeout=300,
        )
        step(
            "without Starlette and uvicorn, the sandbox says: pip install 'airflow-provider-credits[sandbox]'"
        )

        check_missing_sql_providers(python, work, env)
        step(
            "PostgreSQL and MySQL connections without their providers say: pip install '...[postgres]' / '[mysql]'"
        )

        proc, url, conns = start_sandbox(python, work, env)
        try:
            with urllib.request.urlopen(f"{url}/_sandbox/health", timeout=10) as response:
                health = json.load(response)
            if not health.get("ok"):
                raise CheckFailed(f"the sandbox's health check answered {health}")
            step(f"python -m {PACKAGE}.sandbox serves on {url} and answers")

            run([str(bin_dir / "airflow"), "db", "migrate"], cwd=work, env=env, timeout=600)
            shutil.copy(EXAMPLE_DAG, dags / EXAMPLE_DAG.name)
            started = time.monotonic()
            out = run(
                [str(bin_dir / "airflow"), "dags", "test", DAG_ID, "2026-01-02"],
                cwd=work,
                env={**env, **conns},
                timeout=600,
            )
            with sqlite3.connect(usage_db) as db:
                balances = {v for (v,) in db.execute("SELECT DISTINCT vendor FROM credit_balances")}
                usage = db.execute("SELECT COUNT(*) FROM credit_usage").fetchone()[0]
            if balances != VENDORS or not usage:
                raise CheckFailed(
                    f"after airflow dags test {DAG_ID}: balances of {sorted(balances)}, {usage} usage rows\n{out[-3000:]}"
                )
            step(
                f"airflow dags test {DAG_ID}: balances of all four vendors and {usage} usage rows written "
                f"({time.monotonic() - started:.0f} s)"
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not keep:
            shutil.rmtree(venv, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every check; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--airflow-version", default="3.3.2", help="Airflow to install with the wheel")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="folder holding the built files")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv-dist", help="the fresh environment")
    parser.add_argument("--keep", action="store_true", help="keep the environment afterwards")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        check_dist(args.airflow_version, args.venv, args.dist, args.keep)
    except (CheckFailed, subprocess.TimeoutExpired) as exc:
        print(f"check_dist: FAILED: {exc}")
        print(f"check_dist: {len(PASSED)} passed, 1 failed")
        return 1
    print(f"check_dist: all checks held in {time.monotonic() - started:.0f} s")
    print(f"check_dist: {len(PASSED)} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
