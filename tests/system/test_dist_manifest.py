"""The wheel manifest check of ``make dist`` (scripts/check_dist.py), on file lists."""

from __future__ import annotations

import pytest

from scripts.check_dist import check_sdist_contents, check_wheel_contents, pattern_regex, read_manifest
from tests.support import ROOT

PACKAGE = ROOT / "airflow_provider_credits"
DIST_INFO = [
    f"airflow_provider_credits-0.2.0.dist-info/{name}"
    for name in ("METADATA", "WHEEL", "RECORD", "entry_points.txt")
]


def source_wheel() -> list[str]:
    """The file list a wheel built from this tree should have."""
    files = [p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(str(p.relative_to(ROOT)) for p in files if p.suffix not in (".pyc", ".pyo")) + DIST_INFO


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("airflow_provider_credits/*.py", "airflow_provider_credits/models.py", True),
        ("airflow_provider_credits/*.py", "airflow_provider_credits/hooks/clay.py", False),
        ("airflow_provider_credits/**/*.py", "airflow_provider_credits/hooks/clay.py", True),
        ("airflow_provider_credits/**/*.py", "airflow_provider_credits/a/b/c.py", True),
        ("airflow_provider_credits/**/*.py", "airflow_provider_credits/hooks/clay.pyc", False),
        ("x-*.dist-info/METADATA", "x-0.2.0.dist-info/METADATA", True),
    ],
)
def test_pattern_regex(pattern: str, name: str, matches: bool) -> None:
    assert bool(pattern_regex(pattern).match(name)) is matches


def test_the_manifest_covers_every_file_of_the_package() -> None:
    """Adding a module or a data file needs no manifest change unless it is a new kind of file."""
    assert check_wheel_contents(source_wheel(), read_manifest()) == []
    assert "airflow_provider_credits/py.typed" in read_manifest()


def test_tests_caches_and_unlisted_files_are_refused() -> None:
    names = [
        *source_wheel(),
        "tests/test_x.py",
        "airflow_provider_credits/__pycache__/models.cpython-311.pyc",
        "airflow_provider_credits/notes.txt",
    ]
    problems = check_wheel_contents(names, read_manifest())
    assert "tests/test_x.py: tests are not shipped" in problems
    assert "airflow_provider_credits/__pycache__/models.cpython-311.pyc: never belongs in a wheel" in problems
    assert "airflow_provider_credits/notes.txt: not in wheel_manifest.txt" in problems


def test_a_listed_file_missing_from_the_wheel_is_reported() -> None:
    names = [n for n in source_wheel() if not n.endswith("py.typed")]
    assert check_wheel_contents(names, read_manifest()) == [
        "airflow_provider_credits/py.typed: listed in wheel_manifest.txt but not in the wheel"
    ]


def test_sdist_without_environments_or_caches() -> None:
    top = "airflow_provider_credits-0.2.0"
    clean = [
        f"{top}/{n}"
        for n in (
            "pyproject.toml",
            "README.md",
            "airflow_provider_credits/__init__.py",
            "airflow_provider_credits/py.typed",
        )
    ]
    assert check_sdist_contents(clean) == []
    dirty = [*clean, f"{top}/.venv-compat-3.1.8/bin/python", f"{top}/tests/__pycache__/x.pyc"]
    assert check_sdist_contents(dirty) == [
        f"{n}: never belongs in an sdist"
        for n in (".venv-compat-3.1.8/bin/python", "tests/__pycache__/x.pyc")
    ]
