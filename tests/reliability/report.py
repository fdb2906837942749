"""Run the fault matrix against a fresh sandbox and print its figures as a Markdown table.

    .venv/bin/python -m tests.reliability.report            # print the table
    .venv/bin/python -m tests.reliability.report --write    # also replace it in docs/reliability.md

The cells and their expectations are those of ``test_fault_matrix.py`` (``matrix.py``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

BEGIN, END = "<!-- fault-matrix:begin -->", "<!-- fault-matrix:end -->"
DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


def _isolate_airflow() -> None:
    home = Path(tempfile.mkdtemp(prefix="credits-reliability-"))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        }
    )


def table() -> str:
    """Run every cell; return the Markdown table (one row per scenario, and a total)."""
    from airflow_provider_credits.sandbox.server import SandboxServer
    from tests.reliability.matrix import SURFACES, cells, closed_port_url, connection_env, problems, run_cell

    rows: dict[str, dict[str, list[int | float | str]]] = defaultdict(lambda: defaultdict(list))
    vendors: set[str] = set()
    failures: list[str] = []
    with SandboxServer() as sandbox:
        os.environ.update(connection_env(sandbox, closed_port_url()))
        for cell in cells():
            vendors.add(cell.vendor)
            result = run_cell(sandbox, cell)
            found = problems(result)
            failures += [f"{cell.id}: {p}" for p in found]
            row = rows[cell.scenario.name]
            row["cells"].append(1)
            row["ok"].append(0 if found else 1)
            row["requests"].append(result.attempts if cell.scenario.refused else result.requests)
            row["seconds"].append(result.seconds)
            row["surfaces"].append(cell.surface)
            row["outcomes"].append(
                f"{'hook' if cell.surface in ('sync', 'async') else 'sensor'}: {cell.scenario.describe(cell.surface)}"
            )
    lines = [
        "| scenario | expected outcome | cells | as expected | vendor requests | slowest cell |",
        "|---|---|---:|---:|---:|---:|",
    ]
    total = defaultdict(float)
    for name, row in rows.items():
        outcomes = "; ".join(dict.fromkeys(map(str, row["outcomes"])))
        n, ok, req, slow = len(row["cells"]), sum(row["ok"]), sum(row["requests"]), max(row["seconds"])
        lines.append(f"| {name} | {outcomes} | {n} | {ok} | {req} | {slow:.2f} s |")
        total["cells"] += n
        total["ok"] += ok
        total["requests"] += req
    lines.append(
        f"| **total** ({len(rows)} scenarios x {len(vendors)} vendors x {len(SURFACES)} surfaces, where applicable) | | "
        f"**{total['cells']:.0f}** | **{total['ok']:.0f}** | **{total['requests']:.0f}** | |"
    )
    if failures:
        lines += ["", "Cells not as expected:", "", *(f"- {f}" for f in failures)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    _isolate_airflow()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    text = table()
    print(text)
    if "--write" in argv:
        doc = DOC.read_text()
        head, _, rest = doc.partition(BEGIN)
        _, _, tail = rest.partition(END)
        DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    return 0 if "not as expected" not in text else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
