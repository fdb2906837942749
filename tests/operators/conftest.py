"""Fixtures of the operator tests."""

from __future__ import annotations

import pytest

from tests.operators.fakes import VENDORS, FakeHook, FakeVendor


@pytest.fixture
def vendors(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeVendor]:
    """Fake vendor accounts by connection id; edit them to change what the next run reads."""
    accounts = {conn_id: make() for conn_id, make in VENDORS.items()}
    monkeypatch.setattr(
        "airflow_provider_credits.operators.usage_to_sql.get_credits_hook",
        lambda conn_id: FakeHook(conn_id, accounts[conn_id]),
    )
    return accounts
