"""The layout of the tests (docs/architecture.md, "Tests"): every module of the package has its unit
tests in ``tests/unit/<package path>/test_<module>.py`` (a file with at least one test in it), unit
test files are named after a module of their package, and test packages share helpers through
``tests/support`` only."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT

PACKAGE = ROOT / "airflow_provider_credits"
TESTS = ROOT / "tests"
UNIT = TESTS / "unit"

#: modules without a unit test module of their own, each with the reason
WITHOUT_UNIT_TESTS = {
    "operators/__init__.py": "a docstring only (the operators are imported from their modules)",
    "sensors/__init__.py": "a docstring only (the sensor is imported from its module)",
    "triggers/__init__.py": "a docstring only (the triggers are imported from their modules)",
}
#: files of tests/unit that test the tests, not a module
NOT_A_MODULE = {"test_layout.py": "this check"}


def module_name(path: Path) -> str:
    """The name a module's unit test file is made of: ``clay`` for ``hooks/clay.py``, the package's
    own name for an ``__init__.py`` (``hooks`` for ``hooks/__init__.py``), ``main`` for ``__main__.py``."""
    if path.name == "__init__.py":
        return path.parent.name
    return path.stem.strip("_")


def unit_test_file(module: Path) -> Path:
    """``tests/unit/<package path>/test_<module>.py`` of a module of the package."""
    package_dir = module.parent.relative_to(PACKAGE)
    return UNIT / package_dir / f"test_{module_name(module)}.py"


def has_tests(path: Path) -> bool:
    """Whether the test file ``path`` defines a test pytest collects: a ``test…`` function, or a
    ``test…`` method of a ``Test…`` class (pytest's default names)."""

    def is_test(node: ast.stmt) -> bool:
        return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test")

    return any(
        is_test(node)
        or (isinstance(node, ast.ClassDef) and node.name.startswith("Test") and any(map(is_test, node.body)))
        for node in ast.parse(path.read_text(), str(path)).body
    )


def test_every_module_has_its_unit_test_module() -> None:
    modules = {str(m.relative_to(PACKAGE)): m for m in sorted(PACKAGE.rglob("*.py"))}
    missing = [
        f"{name} -> {unit_test_file(module).relative_to(ROOT)}"
        + ("" if not unit_test_file(module).is_file() else " (no test in it)")
        for name, module in modules.items()
        if name not in WITHOUT_UNIT_TESTS
        and not (unit_test_file(module).is_file() and has_tests(unit_test_file(module)))
    ]
    assert missing == [], (
        "modules without unit tests (write them, or allow-list with a reason): " + ", ".join(missing)
    )
    stale = [
        name for name in WITHOUT_UNIT_TESTS if name not in modules or unit_test_file(modules[name]).is_file()
    ]
    assert stale == [], f"allow-listed modules that are gone or have unit tests now: {stale}"


def test_a_unit_test_module_counts_only_with_a_test_in_it(tmp_path: Path) -> None:
    files = {
        "empty": "",
        "helpers_only": "import pytest\n\n\ndef helper() -> None:\n    pass\n",
        "class_without_tests": "class TestNothing:\n    def helper(self) -> None:\n        pass\n",
        "function": "def test_it() -> None:\n    pass\n",
        "coroutine": "async def test_it() -> None:\n    pass\n",
        "method": "class TestIt:\n    def test_it(self) -> None:\n        pass\n",
    }
    for name, text in files.items():
        (tmp_path / f"test_{name}.py").write_text(text)

    assert {name for name in files if has_tests(tmp_path / f"test_{name}.py")} == {
        "function",
        "coroutine",
        "method",
    }


def test_unit_test_files_mirror_the_package_and_are_named_after_a_module() -> None:
    problems = []
    for path in sorted(UNIT.rglob("*.py")):
        relative = path.relative_to(UNIT)
        package_dir = PACKAGE / relative.parent
        if not package_dir.is_dir():
            problems.append(f"{relative}: airflow_provider_credits/{relative.parent} is no package")
            continue
        if path.name in ("__init__.py", "conftest.py") or (
            relative.parent == Path() and path.name in NOT_A_MODULE
        ):
            continue
        names = {module_name(m) for m in package_dir.glob("*.py")}
        stem = path.stem.removeprefix("test_")
        if not path.name.startswith("test_"):
            problems.append(f"{relative}: helpers belong in tests/support, not in tests/unit")
        elif not any(stem == name or stem.startswith(f"{name}_") for name in names):
            problems.append(
                f"{relative}: test_<module>.py or test_<module>_<aspect>.py, <module> one of {sorted(names)}"
            )
    assert problems == []


def imported_modules(path: Path) -> list[str]:
    """Every ``tests.…`` module ``path`` imports, at any depth of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "tests"]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "tests"
        ):
            module = str(node.module)
            package = TESTS.parent.joinpath(*module.split(".")).is_dir()
            found += [f"{module}.{alias.name}" for alias in node.names] if package else [module]
    return found


def test_test_packages_import_helpers_from_tests_support_only() -> None:
    """Other imports of test code are limited to helper modules of the importing file's own package
    (e.g. tests/system/production/stack.py): never another test package, a conftest or a test module."""
    problems = []
    for path in sorted(TESTS.rglob("*.py")):
        if "fixtures" in path.relative_to(TESTS).parts:
            continue
        own_package = ".".join(path.parent.relative_to(TESTS.parent).parts)
        for module in imported_modules(path):
            if module == "tests.support" or module.startswith("tests.support."):
                continue
            parent, _, name = module.rpartition(".")
            if parent == own_package and not name.startswith("test_") and name != "conftest":
                continue
            problems.append(f"{path.relative_to(ROOT)} imports {module}")
    assert problems == [], "import shared helpers from tests.support: " + "; ".join(problems)


def test_the_session_plugins_are_support_modules() -> None:
    tree = ast.parse((TESTS / "conftest.py").read_text())
    (plugins,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", "") == "pytest_plugins" for t in node.targets)
    ]
    names = ast.literal_eval(plugins)
    assert names and all(name.startswith("tests.support.") for name in names)
    assert all((TESTS / "support" / f"{name.rpartition('.')[2]}.py").is_file() for name in names)
