"""Helpers and pytest plugins shared by the test suites (the only test package others import from).

Test modules import helpers from here, never from another test package, a ``conftest.py`` or a
test module (``tests/unit/test_layout.py`` checks it). Fixtures used by several suites live in
modules here and are registered in ``tests/conftest.py``.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root folder."""
