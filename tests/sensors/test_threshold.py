"""The pure decision module: threshold parsing, decide(), the error policy and error payloads."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from airflow_provider_credits import exceptions as exc
from airflow_provider_credits.models import CreditBalance, CreditPool
from airflow_provider_credits.threshold import (
    ErrorAction,
    Gate,
    Thresholds,
    decide,
    error_action,
    error_from_payload,
    error_payload,
    parse_thresholds,
)


def balance(*pools: CreditPool) -> CreditBalance:
    return CreditBalance(vendor="clodura", account="acct", pools=pools)


MAIN = balance(
    CreditPool(name="contact_views", remaining=Decimal("300.00"), limit=Decimal("1000")),
    CreditPool(name="direct_dials", remaining=40, limit=50),
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (500, "500"),
        (12.5, "12.5"),
        (Decimal("7"), "7"),
        ("1500", "1500"),
        (" 2.50 ", "2.50"),
        ("1e3", "1E+3"),
        (0, "0"),
    ],
)
def test_parse_accepts_numbers_and_numeric_strings(value: object, expected: str) -> None:
    assert parse_thresholds(value, None).min_remaining == Decimal(expected)


@pytest.mark.parametrize(
    ("min_remaining", "pct", "match"),
    [
        (True, None, "must be a number, got bool"),
        ("abc", None, "must be a number, got 'abc'"),
        ("None", None, "must be a number, got 'None'"),
        ("", None, "must be a number"),
        ([5], None, "must be a number, got list"),
        (float("nan"), None, "finite"),
        ("inf", None, "finite"),
        (-1, None, "must not be negative"),
        ("-0.5", None, "must not be negative"),
        (None, "100.5", "min_remaining_pct must be at most 100"),
        (None, None, "give min_remaining, min_remaining_pct or both"),
    ],
)
def test_parse_rejects_unusable_thresholds(min_remaining: object, pct: object, match: str) -> None:
    with pytest.raises(exc.CreditsConfigError, match=match):
        parse_thresholds(min_remaining, pct)


def test_thresholds_round_trip_exactly_through_kwargs() -> None:
    parsed = parse_thresholds("0.1", 12.5)
    again = parse_thresholds(**parsed.as_kwargs())
    assert again == parsed
    assert parsed.describe() == "0.1 and 12.5% of the limit"


@pytest.mark.parametrize(
    ("kwargs", "met", "needed"),
    [
        ({"min_remaining": 300}, True, 300),  # equal is enough
        ({"min_remaining": "301"}, False, 301),
        ({"min_remaining_pct": 30}, True, 300),
        ({"min_remaining_pct": "30.1"}, False, 301),
        ({"min_remaining": 100, "min_remaining_pct": 50}, False, 500),  # both must hold: the larger wins
        ({"min_remaining": 350, "min_remaining_pct": 10}, False, 350),
        ({"min_remaining": 250, "reserved": 60}, False, 250),
        ({"min_remaining": 240, "reserved": "60"}, True, 240),
    ],
)
def test_decide_on_the_primary_pool(kwargs: dict, met: bool, needed: int) -> None:
    decision = decide(MAIN, **kwargs)
    assert (decision.met, decision.pool, decision.needed) == (met, "contact_views", needed)
    assert decision.remaining == 300


def test_decide_on_a_named_pool_and_message() -> None:
    decision = decide(MAIN, min_remaining=45, credit_pool="direct_dials", reserved=2)
    assert not decision.met
    assert decision.message == (
        "clodura pool 'direct_dials': 40 of 50 credits remaining, 2 reserved, needed 45: not enough"
    )
    assert decision.model_dump(mode="json") == {
        "met": False,
        "pool": "direct_dials",
        "unit": "credits",
        "remaining": 40,
        "limit": 50,
        "reserved": 2,
        "needed": 45,
        "message": decision.message,
    }


def test_decide_unknown_pool_names_the_existing_ones() -> None:
    with pytest.raises(
        exc.UnknownCreditPoolError, match=r"'credits' does not exist.*contact_views, direct_dials"
    ):
        decide(MAIN, min_remaining=1, credit_pool="credits")


def test_decide_pool_without_remaining_is_an_error() -> None:
    unknown = balance(CreditPool(name="credits", limit=10))
    with pytest.raises(exc.CreditsConfigError, match="does not report how many credits remain"):
        decide(unknown, min_remaining=1)


@pytest.mark.parametrize("limit", [None, 0])
def test_decide_percentage_needs_a_limit(limit: int | None) -> None:
    no_limit = balance(CreditPool(name="credits", remaining=10, limit=limit))
    with pytest.raises(exc.CreditsConfigError, match="min_remaining_pct needs a pool with a limit"):
        decide(no_limit, min_remaining_pct=5)
    assert decide(no_limit, min_remaining=5).met


def test_decide_rejects_negative_reserved() -> None:
    with pytest.raises(exc.CreditsConfigError, match="reserved must not be negative"):
        decide(MAIN, min_remaining=1, reserved=-1)


def api_error(cls: type[exc.CreditsApiError], status: int | None) -> exc.CreditsApiError:
    return cls("boom", vendor="theirstack", method="GET", path="/v0/x", status=status, request_id="r1")


@pytest.mark.parametrize(
    ("error", "fail_fast", "action"),
    [
        (api_error(exc.CreditsAuthError, 401), False, ErrorAction.FAIL),
        (api_error(exc.CreditsAuthError, 403), False, ErrorAction.FAIL),
        (api_error(exc.CreditsExhaustedError, 402), False, ErrorAction.NO_CREDITS),
        (api_error(exc.CreditsExhaustedError, 402), True, ErrorAction.NO_CREDITS),
        (api_error(exc.CreditsRateLimitError, 429), False, ErrorAction.RETRY),
        (api_error(exc.CreditsServerError, 503), False, ErrorAction.RETRY),
        (api_error(exc.CreditsTransportError, None), False, ErrorAction.RETRY),
        (api_error(exc.CreditsServerError, 500), True, ErrorAction.FAIL),
        (api_error(exc.CreditsRequestError, 404), False, ErrorAction.FAIL),
        (api_error(exc.CreditsResponseError, 200), False, ErrorAction.FAIL),
        (ValueError("bug"), False, ErrorAction.FAIL),
    ],
)
def test_error_policy(error: Exception, fail_fast: bool, action: ErrorAction) -> None:
    assert error_action(error, fail_on_transient_errors=fail_fast) is action


THRESHOLDS = Thresholds(Decimal(500), None)


def test_check_counts_402_as_zero_credits() -> None:
    result = Gate(THRESHOLDS).check(None, api_error(exc.CreditsExhaustedError, 402))
    assert (result.met, result.transient, result.decision) == (False, False, None)
    assert result.message.startswith("pool primary: 0 remaining")
    assert "needed 500" in result.message


def test_check_keeps_waiting_on_transient_errors_unless_fail_fast() -> None:
    error = api_error(exc.CreditsRateLimitError, 429)
    result = Gate(THRESHOLDS, "api_credits").check(None, error)
    assert (result.met, result.transient) == (False, True)
    assert "pool 'api_credits'" in result.message
    with pytest.raises(exc.CreditsRateLimitError):
        Gate(THRESHOLDS, fail_on_transient_errors=True).check(None, error)


def test_check_raises_fatal_errors_and_decides_balances() -> None:
    with pytest.raises(exc.CreditsAuthError):
        Gate(THRESHOLDS).check(None, api_error(exc.CreditsAuthError, 401))
    result = Gate(Thresholds(Decimal(10), None), "direct_dials").check(MAIN, None)
    assert result.met and result.decision is not None and result.decision.pool == "direct_dials"


@pytest.mark.parametrize(
    "error",
    [
        api_error(cls, 400)
        for cls in (
            exc.CreditsAuthError,
            exc.CreditsExhaustedError,
            exc.CreditsRateLimitError,
            exc.CreditsServerError,
            exc.CreditsTransportError,
            exc.CreditsResponseError,
            exc.CreditsRequestError,
            exc.CreditsConfigError,
            exc.UsageNotSupportedError,
        )
    ]
    + [exc.UnknownCreditPoolError(vendor="clay", pool="x", available=["credits"])],
    ids=lambda e: type(e).__name__,
)
def test_error_payload_round_trips_through_json(error: exc.CreditsApiError) -> None:
    payload = json.loads(json.dumps(error_payload(error)))
    again = error_from_payload(payload)
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert (again.status, again.vendor, again.request_id) == (error.status, error.vendor, error.request_id)


def test_error_from_unknown_payload_type_is_the_root_error() -> None:
    again = error_from_payload({"error_type": "KeyError", "message": "odd"})
    assert type(again) is exc.CreditsError
    assert str(again) == "odd"
