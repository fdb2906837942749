"""CreditAlertOperator without a database: the runway threshold from the forecast."""

from __future__ import annotations

from decimal import Decimal

from airflow_provider_credits.operators.credit_alerts import PoolCheck, assess


def test_runway_threshold_uses_the_forecast() -> None:
    from airflow_provider_credits.models import CreditBalance, CreditPool

    balance = CreditBalance(vendor="v", account="a", pools=(CreditPool(name="p", remaining=700, limit=1000),))
    check = PoolCheck.parse({"credits_conn_id": "c", "min_runway_days": 7})
    assert assess(check, balance, runway_days=Decimal(3)).breached == "runway 3.0 days < 7"
    assert assess(check, balance, runway_days=Decimal(9)).state == "ok"
    assert assess(check, balance, runway_days=None).state == "ok", "unknown runway: no alert"
