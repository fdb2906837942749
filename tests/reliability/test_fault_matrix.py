"""Every sandbox fault, for every vendor, through the sync and async hook and the sensor's three modes.

Each cell must end in success (after transient faults) or in the documented
:class:`~airflow_provider_credits.exceptions.CreditsApiError` subclass naming the vendor, the
endpoint and the status, after exactly the documented number of vendor requests (read from the
sandbox's request log and cross-checked with the client's own count). See ``matrix.py``;
``report.py`` publishes the same cells' figures in ``docs/reliability.md``.
"""

from __future__ import annotations

import pytest

from airflow_provider_credits.sandbox.server import SandboxServer
from tests.reliability.matrix import SCENARIOS, SURFACES, VENDORS, Cell, cells, problems, run_cell

pytestmark = pytest.mark.integration

CELLS = cells()


def test_the_matrix_covers_every_fault_vendor_and_surface() -> None:
    from airflow_provider_credits.sandbox.faults import SCENARIOS as SANDBOX_FAULTS

    used = {fault.scenario for scenario in SCENARIOS for fault in scenario.faults}
    assert used == set(SANDBOX_FAULTS)  # every fault the sandbox can inject is exercised
    assert {(c.surface, c.vendor) for c in CELLS} == {(s, v) for s in SURFACES for v in VENDORS}


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_fault_cell(matrix_sandbox: SandboxServer, cell: Cell) -> None:
    result = run_cell(matrix_sandbox, cell)

    assert problems(result) == [], f"{cell.id}: {result.requests} requests, {result.seconds:.2f}s"
