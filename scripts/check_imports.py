"""Import every module of the installed package; an import may only fail by naming the extra to install.

Run it with the Python of the environment under test, from outside the source tree, so
that the installed package is the one imported::

    python scripts/check_imports.py                       # every module imports
    python scripts/check_imports.py --block starlette,uvicorn --expect-extra sandbox

``--block`` makes the named top-level packages unimportable (as if not installed);
``--expect-extra`` then requires at least one module to fail with a message that names
``pip install 'airflow-provider-credits[EXTRA]'``. Exit code 0 when every module either
imports or fails with such a message; 1 otherwise. Prints one line per module.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.abc
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

PACKAGE = "airflow_provider_credits"
HINT = "pip install 'airflow-provider-credits["
#: modules only Airflow's API server imports, and the packages of Airflow's own that they need
SERVER_ONLY = {"airflow_provider_credits.plugins.app": {"fastapi", "starlette"}}


class Blocker(importlib.abc.MetaPathFinder):
    """A finder that makes the named top-level packages unimportable."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked)", name=fullname)
        return None


def module_names() -> list[str]:
    """Every module and subpackage of the package, found from its installed location."""
    package = importlib.import_module(PACKAGE)
    names = [PACKAGE]
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{PACKAGE}."):
        names.append(info.name)
    return sorted(names)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block", default="", help="comma-separated top-level packages to hide")
    parser.add_argument("--expect-extra", help="an extra that some module must name when it fails")
    args = parser.parse_args(argv)

    names = module_names()  # before blocking: walking imports only the packages themselves
    blocked = {name for name in args.block.split(",") if name}
    if blocked:
        for loaded in [m for m in sys.modules if m.split(".")[0] in blocked]:
            del sys.modules[loaded]
        sys.meta_path.insert(0, Blocker(blocked))
    package = importlib.import_module(PACKAGE)
    print(f"{PACKAGE} {getattr(package, '__version__', '?')} from {package.__file__}")

    bad, named = [], set()
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            message = str(exc)
            if HINT in message:
                named.add(message.split(HINT, 1)[1].split("]", 1)[0])
                print(f"  {name}: needs an extra: {message}")
            elif SERVER_ONLY.get(name, set()) & blocked:
                print(f"  {name}: API server only (needs Airflow's {', '.join(sorted(SERVER_ONLY[name]))})")
            else:
                bad.append(name)
                print(f"  {name}: FAILED without naming an extra: {type(exc).__name__}: {message}")
        else:
            print(f"  {name}: ok")
    if args.expect_extra and args.expect_extra not in named:
        print(f"no module named the extra [{args.expect_extra}] although {sorted(blocked)} are missing")
        return 1
    if bad:
        print(f"{len(bad)} modules fail to import without saying which extra to install: {bad}")
        return 1
    print(f"{len(names)} modules checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
