"""Regenerate the connection-form screenshots in ``docs/img/`` from a real Airflow UI.

Run from the repository root (needs Chromium and the ``playwright`` package)::

    .venv/bin/python -m tests.system.ui.screenshots            # all four forms
    .venv/bin/python -m tests.system.ui.screenshots clodura    # just one

It migrates a throwaway AIRFLOW_HOME (SQLite), starts ``airflow api-server`` on a free
port, opens Admin → Connections → Add for each type in headless Chromium and writes
``docs/img/connection-<type>.png``: the dialog with "Standard Fields" open, stacked on the
same dialog with "Extra Fields" open.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.support import ROOT
from tests.system.ui.expected import FORMS
from tests.system.ui.pages import VIEWPORT, form_screenshot, open_add_dialog
from tests.system.ui.server import (
    CHROMIUM_ARGS,
    AirflowApiServer,
    find_chromium,
    migrate,
    missing_browser_requirements,
    standalone_airflow_env,
)

DOCS_IMG = ROOT / "docs" / "img"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("types", nargs="*", metavar="TYPE", help=f"of {', '.join(FORMS)} (default: all)")
    parser.add_argument("--out", type=Path, default=DOCS_IMG, help=f"output folder (default: {DOCS_IMG})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.types) - set(FORMS))
    if unknown:
        parser.error(f"unknown connection types: {', '.join(unknown)}")
    reason = missing_browser_requirements()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="credits-screenshots-") as home:
        env = standalone_airflow_env(Path(home))
        migrate(env)
        with AirflowApiServer(env) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_context(viewport=VIEWPORT).new_page()
                page.set_default_timeout(30_000)
                for conn_type in args.types or FORMS:
                    dialog = open_add_dialog(
                        page, server.url, FORMS[conn_type].hook_name, f"{conn_type}_default"
                    )
                    target = args.out / f"connection-{conn_type}.png"
                    target.write_bytes(form_screenshot(page, dialog))
                    print(f"wrote {target}")
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
