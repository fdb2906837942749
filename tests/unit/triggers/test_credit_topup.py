"""CreditTopupTrigger without a database: its arguments, and which side of the threshold a balance is on."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.triggers.credit_topup import ABOVE, BELOW, CreditTopupTrigger, next_side


def test_bad_arguments() -> None:
    with pytest.raises(CreditsConfigError, match="rearm_below"):
        CreditTopupTrigger(credits_conn_id="c", threshold=10, rearm_below=20, state_conn_id="db")
    with pytest.raises(CreditsConfigError, match="direction"):
        CreditTopupTrigger(credits_conn_id="c", threshold=10, direction="down", state_conn_id="db")
    with pytest.raises(CreditsConfigError, match="threshold"):
        CreditTopupTrigger(credits_conn_id="c", threshold="lots", state_conn_id="db")


def test_next_side() -> None:
    t, r = Decimal(1000), Decimal(800)
    assert next_side(Decimal(1000), None, t, r) == ABOVE
    assert next_side(Decimal(900), None, t, r) == BELOW
    assert next_side(Decimal(900), ABOVE, t, r) == ABOVE
    assert next_side(Decimal(799), ABOVE, t, r) == BELOW
