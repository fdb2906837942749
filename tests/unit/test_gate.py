"""The gate: threshold parsing, decide(), the error policy, error payloads, and its JSON form (to_dict, from_dict,
at_parse) that travels to the trigger."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_credits import exceptions as exc
from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.gate import (
    GATE_ARGUMENTS,
    ErrorAction,
    Gate,
    Reach,
    Thresholds,
    decide,
    display_host,
    error_action,
    error_from_payload,
    error_payload,
    parse_max_unreachable_checks,
    parse_thresholds,
)
from airflow_provider_credits.models import CreditBalance, CreditPool


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


def test_decide_percentage_needs_a_limit() -> None:
    no_limit = balance(CreditPool(name="credits", remaining=10, limit=None))
    with pytest.raises(exc.CreditsConfigError, match="min_remaining_pct needs a pool with a limit"):
        decide(no_limit, min_remaining_pct=5)
    assert decide(no_limit, min_remaining=5).met


@pytest.mark.parametrize("limit", [0, Decimal(0), Decimal("0.00"), Decimal(-5)])
@pytest.mark.parametrize("remaining", [0, 10])
def test_decide_percentage_of_a_zero_limit_is_not_enough(limit: Decimal, remaining: int) -> None:
    """A limit of 0 is a limit (Trendtrack's all-zero answer): not enough, keep waiting."""
    zero = balance(CreditPool(name="recurring", remaining=remaining, limit=limit))
    decision = decide(zero, min_remaining_pct=10)
    assert not decision.met
    assert decision.message.endswith("no percentage of it can be met)")
    assert not decide(zero, min_remaining=0, min_remaining_pct="10").met  # both must hold
    assert decide(zero, min_remaining_pct=0).met  # 0 % of anything is met


def test_decide_zero_thresholds_and_zero_reserved_are_values_not_unset() -> None:
    empty = balance(CreditPool(name="credits", remaining=0, limit=100))
    decision = decide(empty, min_remaining=0, reserved=0, reserve=0)
    assert (decision.met, decision.needed, decision.reserved) == (True, 0, 0)
    assert not decide(empty, min_remaining=0, reserve="1").met


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
    assert result.message.startswith("theirstack primary pool: 0 remaining")
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


def test_error_from_unknown_payload_type_is_a_plain_credits_error() -> None:
    again = error_from_payload({"error_type": "KeyError", "message": "odd"})
    assert type(again) is exc.CreditsError
    assert str(again) == "odd"


def test_transient_error_messages_name_the_pool() -> None:
    error = api_error(exc.CreditsServerError, 503)
    assert (
        Gate(THRESHOLDS).check(None, error).message.startswith("theirstack primary pool: balance unavailable")
    )
    assert (
        Gate(THRESHOLDS)
        .check(None, error, primary="api_credits")
        .message.startswith("theirstack pool 'api_credits': balance unavailable")
    )
    assert (
        Gate(THRESHOLDS, "ui_credits").check(None, error).message.startswith("theirstack pool 'ui_credits'")
    )
    decided = Gate(THRESHOLDS).check(MAIN, None).message
    assert decided.startswith("clodura pool 'contact_views': ")  # the same words as a decision


def test_reach_counts_only_checks_without_any_http_response() -> None:
    refused = api_error(exc.CreditsTransportError, None)
    reach = Reach().after(refused).after(refused)
    assert reach == Reach(False, 2)
    assert reach.after(api_error(exc.CreditsServerError, 503)) == Reach(True, 0)  # a 503 is an answer
    assert reach.after(None).after(refused) == Reach(True, 0)  # once reached, never counted again
    assert Reach.from_json(reach.as_json()) == reach
    assert Reach.from_json(None) == Reach.from_json({"unreachable": "x"}) == Reach()


def test_gate_fails_after_max_unreachable_checks_when_none_reached_the_vendor() -> None:
    refused = api_error(exc.CreditsTransportError, None)
    gate = Gate(THRESHOLDS, max_unreachable_checks=2)
    reach = gate.track(Reach(), refused, conn_id="ts", host="http://127.0.0.1:9")
    with pytest.raises(exc.CreditsTransportError) as raised:
        gate.track(reach, refused, conn_id="ts", host="http://127.0.0.1:9")
    message = str(raised.value)
    for part in (
        "'ts'",
        "http://127.0.0.1:9",
        "none of 2 checks",
        "max_unreachable_checks=2",
        "fail_on_transient_errors",
    ):
        assert part in message
    assert (raised.value.vendor, raised.value.path) == ("theirstack", "/v0/x")
    # one answer since the start and the count no longer applies; None never fails
    assert gate.track(Reach(True), refused, conn_id="ts", host=None) == Reach(True)
    assert Gate(THRESHOLDS, max_unreachable_checks=None).track(
        Reach(False, 99), refused, conn_id="ts", host=None
    )


@pytest.mark.parametrize("value", [0, -1, True, 2.5, "3"])
def test_max_unreachable_checks_must_be_a_positive_int(value: object) -> None:
    with pytest.raises(exc.CreditsConfigError, match="max_unreachable_checks"):
        parse_max_unreachable_checks(value)


@pytest.mark.parametrize(
    ("base_url", "shown"),
    [
        ("http://127.0.0.1:1", "http://127.0.0.1:1"),
        ("https://user:pw@api.example.com/v1?k=s", "https://api.example.com"),
        ("http://[::1]:8080/x", "http://[::1]:8080"),
        ("not a url", "not a url"),
    ],
)
def test_display_host_drops_credentials_and_path(base_url: str, shown: str) -> None:
    assert display_host(base_url) == shown


GATES = [
    Gate(Thresholds(Decimal(500), None)),
    Gate(Thresholds(Decimal("250.5"), Decimal("12.5")), "direct_dials", fail_on_transient_errors=True),
    Gate(Thresholds(None, Decimal(10)), reserve=True, max_unreachable_checks=None),
    Gate(Thresholds(Decimal(600), None), reserve=Decimal("600.25"), max_unreachable_checks=1),
]


@pytest.mark.parametrize("gate", GATES)
def test_to_dict_is_json_and_from_dict_rebuilds_the_same_gate(gate: Gate) -> None:
    data = gate.to_dict()
    assert set(data) == set(GATE_ARGUMENTS)
    assert json.loads(json.dumps(data)) == data
    assert Gate.from_dict(json.loads(json.dumps(data))) == gate


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"min_remaining": "lots"}, "min_remaining must be a number, got 'lots'"),
        ({"min_remaining": "5", "reserve": "-1"}, "reserve must not be negative"),
        ({"min_remaining": "5", "max_unreachable_checks": 0}, "max_unreachable_checks must be a positive"),
        ({}, "give min_remaining, min_remaining_pct or both"),
        ({"min_remaining": "5", "pool": "x"}, "not gate arguments: pool"),
    ],
)
def test_from_dict_validates_what_it_reads(data: dict[str, Any], match: str) -> None:
    with pytest.raises(CreditsConfigError, match=match):
        Gate.from_dict(data)


def test_at_parse_builds_literal_gates_and_waits_for_templates() -> None:
    assert Gate.at_parse(min_remaining=500, credit_pool=None) == GATES[0]
    assert Gate.at_parse(min_remaining="{{ params.need }}") is None
    assert Gate.at_parse(min_remaining=500, credit_pool="api_credits") is None  # strings render
    # a templated threshold counts as given; literal arguments beside it are checked now
    assert Gate.at_parse(min_remaining_pct="{{ params.pct }}") is None
    with pytest.raises(CreditsConfigError, match="min_remaining must not be negative"):
        Gate.at_parse(min_remaining=-5, credit_pool="{{ params.pool }}")
    with pytest.raises(CreditsConfigError, match="max_unreachable_checks"):
        Gate.at_parse(min_remaining="{{ x }}", max_unreachable_checks=0)


@pytest.mark.parametrize("amount", [10**14, "1e20", "1e999999999", Decimal("100000000000000.5")])
@pytest.mark.parametrize("argument", ["min_remaining", "reserve"])
def test_amounts_of_ten_to_the_fourteen_or_more_are_refused_at_parse_time(
    argument: str, amount: object
) -> None:
    """Credit amounts are capped below 10^14 everywhere: a larger threshold could never be compared."""
    from airflow_provider_credits.gate import Gate

    kwargs = {"min_remaining": 1, argument: amount}
    with pytest.raises(CreditsConfigError, match="below 10\\^14"):
        Gate.build(**kwargs)


def test_threshold_decision_is_the_models_and_other_names_are_attribute_errors() -> None:
    """The decision is a pydantic model in ``models`` (the gate builds none at import); the gate
    still names it."""
    import airflow_provider_credits.gate as gate_module
    from airflow_provider_credits.models import ThresholdDecision

    assert gate_module.ThresholdDecision is ThresholdDecision
    assert "ThresholdDecision" in dir(gate_module)
    with pytest.raises(AttributeError, match="has no attribute 'Decision'"):
        gate_module.Decision  # noqa: B018
