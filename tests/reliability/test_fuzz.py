"""Property tests: any vendor answer gives a valid model or a CreditsApiError; the gate's decision is sound.

Responses are fed through the hooks' real ``get_balance`` / ``get_usage`` (HTTP read, JSON
decoding, schema validation, vendor mapping) over an in-memory transport. Examples per property:
``CREDITS_FUZZ_EXAMPLES`` (default 120; ``make fuzz`` runs thousands).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_credits.exceptions import CreditsApiError, CreditsConfigError, CreditsError
from airflow_provider_credits.gate import Gate, Thresholds, decide, error_action, parse_thresholds
from airflow_provider_credits.hooks import get_credits_hook
from airflow_provider_credits.hooks.base import CreditsHook
from airflow_provider_credits.models import CreditBalance, CreditPool, UsageRecord
from airflow_provider_credits.vendors import VendorSpec, declarative_vendors

EXAMPLES = int(os.environ.get("CREDITS_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
BASE_URL = "http://fuzz.test"
SECRET = "fuzz-SECRET-0123456789"

# ------------------------------------------------------------------ strategies

NUMBER_STRINGS = st.sampled_from(
    [
        *("0", "-0", "1000", "25000.00", " 12 ", "1e3", "1E-7", "1e999999999", "-1e999999999", "NaN"),
        *("-Infinity", "inf", "0x10", "1_000", "", "1,000", "12abc", "9" * 40, "-" + "9" * 30),
    ]
)
NUMBERISH = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    NUMBER_STRINGS,
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
DATEISH = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()).map(
        datetime.isoformat
    ),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(datetime.isoformat),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2025-02-30",
            "2025-06-01",
            "yesterday",
            "",
        ]
    ),
    st.integers(min_value=-(10**12), max_value=10**13),
    st.text(max_size=12),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def shaped(numbers: list[str], dates: list[str] = (), texts: list[str] = ()) -> st.SearchStrategy[Any]:
    """Dicts with (some of) a vendor's own keys, holding unusual values, plus unknown keys."""
    fields = {**dict.fromkeys(numbers, NUMBERISH), **dict.fromkeys(dates, DATEISH)}
    fields.update(dict.fromkeys(texts, st.one_of(st.text(max_size=6), NUMBERISH)))
    return st.builds(
        lambda known, extra: {**extra, **known},
        st.fixed_dictionaries({}, optional=fields),
        st.dictionaries(st.text(max_size=6), JSON, max_size=2),
    )


TRENDTRACK_QUOTA = shaped(["limit", "used", "remaining"])
TRENDTRACK = st.builds(
    lambda body, workspace, credits: {**body, "workspace": workspace, "credits": credits},
    shaped([], ["currentPeriodStart"], ["requestId"]),
    st.one_of(shaped([], texts=["id", "slug"]), JSON),
    st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "totalRemaining": NUMBERISH,
                "balance": NUMBERISH,
                "recurring": st.one_of(st.none(), TRENDTRACK_QUOTA),
                "topup": st.one_of(st.none(), shaped(["balance"])),
            },
        ),
        JSON,
    ),
)
CLAY_ENTRY = shaped(
    ["creditsUsed", "credits"], ["date", "periodStart", "periodEnd"], ["userId", "integration"]
)


def nested(leaves: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Nested dicts holding (some of) the dotted paths of ``leaves``, or any JSON in their place."""
    groups: dict[str, dict[str, st.SearchStrategy[Any]]] = {}
    for path, leaf in leaves.items():
        head, _, rest = path.partition(".")
        groups.setdefault(head, {})[rest] = leaf
    fields = {head: sub[""] if "" in sub else st.one_of(nested(sub), JSON) for head, sub in groups.items()}
    return st.builds(
        lambda known, extra: {**extra, **known},
        st.fixed_dictionaries({}, optional=fields),
        st.dictionaries(st.text(max_size=6), JSON, max_size=1),
    )


#: values a registry vendor's error fields take (errors inside an HTTP 200)
REGISTRY_ERROR_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "zerobounce": {"Credits": st.one_of(st.sampled_from([-1, "-1", "-1.0", " -1 "]), NUMBERISH)},
    "prospeo": {
        "error": st.one_of(st.booleans(), NUMBERISH),
        "error_code": st.one_of(
            st.sampled_from(["INVALID_API_KEY", "MISSING_API_KEY", "RATE_LIMITED"]), JSON
        ),
        "message": JSON,
    },
}


def registry_body(spec: VendorSpec) -> st.SearchStrategy[Any]:
    """Bodies shaped like a registry vendor's answer: its pools' paths with unusual values."""
    leaves: dict[str, st.SearchStrategy[Any]] = {}
    for pool in spec.pools:
        for field, path in pool.expressions().items():
            if field != "present" and re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", path):
                leaves[path] = DATEISH if field.startswith("period") else NUMBERISH
    leaves.update(REGISTRY_ERROR_FIELDS.get(spec.conn_type, {}))
    return nested(leaves)


BALANCE_BODIES: dict[str, st.SearchStrategy[Any]] = {
    "clay": shaped(["totalCredits", "usedCredits", "remainingCredits"], ["periodStart", "periodEnd"]),
    "clodura": shaped(["remainingCredits", "contactsView", "maxContacts", "directDials", "maxDirectDials"]),
    "theirstack": shaped(["ui_credits", "used_ui_credits", "api_credits", "used_api_credits"]),
    "trendtrack": TRENDTRACK,
    # every registry vendor, enumerated from the registry
    **{spec.conn_type: registry_body(spec) for spec in declarative_vendors()},
}
USAGE_BODIES: dict[str, st.SearchStrategy[Any]] = {
    "clay": st.one_of(
        st.builds(
            lambda b, e: {**b, "entries": e}, shaped(["totalCreditsUsed"]), st.lists(CLAY_ENTRY, max_size=5)
        ),
        shaped(["totalCreditsUsed"]),
    ),
    "theirstack": st.lists(
        shaped(["api_credits_consumed", "ui_credits_consumed"], ["period_start"]), max_size=6
    ),
}
WINDOWS = st.builds(
    lambda start, days: (start, start + timedelta(days=days)),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
    ),
    st.integers(min_value=1, max_value=40),
)

# --------------------------------------------------------------------- hooks


class Vendor:
    """A hook whose HTTP client answers every request with ``body`` (status 200)."""

    def __init__(self, hook: CreditsHook) -> None:
        self.hook = hook
        self.body = b"{}"
        self.headers: dict[bytes, bytes] = {}
        hook._settings = hook.settings
        hook._client = httpx.Client(base_url=BASE_URL, transport=httpx.MockTransport(self.answer))

    def answer(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=self.body, headers=self.headers)

    def respond(self, body: Any, headers: dict[bytes, bytes] | None = None) -> None:
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = headers or {}


@pytest.fixture(scope="module")
def vendors() -> Iterator[dict[str, Vendor]]:
    with pytest.MonkeyPatch.context() as mp:
        for vendor in BALANCE_BODIES:
            conn: dict[str, Any] = {"conn_type": vendor, "host": BASE_URL, "password": SECRET}
            if vendor == "clay":
                conn["extra"] = {"workspace_id": "ws-1"}
            mp.setenv(f"AIRFLOW_CONN_{vendor.upper()}_FUZZ", json.dumps(conn))
        made = {
            vendor: Vendor(get_credits_hook(f"{vendor}_fuzz", max_retries=0)) for vendor in BALANCE_BODIES
        }
        yield made
        for v in made.values():
            v.hook.close()


def read_balance(vendor: Vendor) -> CreditBalance | CreditsApiError:
    try:
        balance = vendor.hook.get_balance()
    except CreditsApiError as error:
        assert SECRET not in str(error)
        return error
    assert isinstance(balance, CreditBalance)
    assert balance.primary is balance.pools[0]
    amounts = [a for p in balance.pools for a in (p.remaining, p.limit, p.used) if a is not None]
    assert all(a.is_finite() for a in amounts)
    json.dumps(balance.model_dump(mode="json"))  # XCom-ready (amounts are bounded by MAX_CREDITS)
    return balance


def test_an_absurd_amount_is_refused(vendors: dict[str, Vendor]) -> None:
    vendors["clay"].respond({"remainingCredits": "1e999999999"})

    assert isinstance(read_balance(vendors["clay"]), CreditsApiError)


@pytest.mark.parametrize("vendor", list(BALANCE_BODIES))
@FUZZ
@given(data=st.data())
def test_any_balance_body_gives_a_balance_or_a_credits_error(
    vendors: dict[str, Vendor], vendor: str, data: st.DataObject
) -> None:
    body = data.draw(st.one_of(BALANCE_BODIES[vendor], JSON), label="body")
    header = data.draw(st.one_of(st.none(), NUMBER_STRINGS, st.text(max_size=6)), label="X-Credits-Remaining")
    headers = {} if header is None else {b"X-Credits-Remaining": header.encode()}
    vendors[vendor].respond(body, headers)

    read_balance(vendors[vendor])


@pytest.mark.parametrize("vendor", list(BALANCE_BODIES))
@FUZZ
@given(raw=st.one_of(st.binary(max_size=64), JSON.map(lambda v: json.dumps(v).encode()[:-1])))
def test_any_bytes_give_a_balance_or_a_credits_error(
    vendors: dict[str, Vendor], vendor: str, raw: bytes
) -> None:
    vendors[vendor].respond(raw)

    read_balance(vendors[vendor])


@pytest.mark.parametrize("vendor", list(USAGE_BODIES))
@FUZZ
@given(data=st.data())
def test_any_usage_body_gives_records_or_a_credits_error(
    vendors: dict[str, Vendor], vendor: str, data: st.DataObject
) -> None:
    body = data.draw(st.one_of(USAGE_BODIES[vendor], JSON), label="body")
    start, end = data.draw(WINDOWS, label="window")
    vendors[vendor].respond(body)

    try:
        records = vendors[vendor].hook.get_usage(start, end)
    except CreditsApiError:
        return
    assert all(isinstance(r, UsageRecord) and r.amount.is_finite() for r in records)
    assert all(r.period_end > r.period_start for r in records)
    keys = [(r.pool, r.dimension, r.period_start, r.period_end) for r in records]
    assert len(keys) == len(set(keys))  # one row per natural key: the SQL upsert cannot double count


# ------------------------------------------------------------------ threshold

AMOUNTS = st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
NON_NEGATIVE = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
PCTS = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)
LIMITS = st.decimals(
    min_value=Decimal("0.01"), max_value=10**9, places=2, allow_nan=False, allow_infinity=False
)


def balance(remaining: Decimal, limit: Decimal | None) -> CreditBalance:
    return CreditBalance(
        vendor="v", account="a", pools=(CreditPool(name="p", remaining=remaining, limit=limit),)
    )


@FUZZ
@given(
    low=AMOUNTS,
    extra=NON_NEGATIVE,
    limit=LIMITS,
    need=st.one_of(st.none(), NON_NEGATIVE),
    pct=st.one_of(st.none(), PCTS),
)
def test_decisions_are_monotonic_in_remaining_credits(
    low: Decimal, extra: Decimal, limit: Decimal, need: Decimal | None, pct: Decimal | None
) -> None:
    if need is None and pct is None:
        need = Decimal(0)
    poorer = decide(balance(low, limit), min_remaining=need, min_remaining_pct=pct)
    richer = decide(balance(low + extra, limit), min_remaining=need, min_remaining_pct=pct)

    assert not poorer.met or richer.met
    assert poorer.needed == richer.needed  # the bar does not move with the balance


@FUZZ
@given(remaining=AMOUNTS, limit=LIMITS, need=NON_NEGATIVE, pct=PCTS, reserved=NON_NEGATIVE)
def test_both_thresholds_combine_as_and(
    remaining: Decimal, limit: Decimal, need: Decimal, pct: Decimal, reserved: Decimal
) -> None:
    b = balance(remaining, limit)

    both = decide(b, min_remaining=need, min_remaining_pct=pct, reserved=reserved).met
    absolute = decide(b, min_remaining=need, reserved=reserved).met
    relative = decide(b, min_remaining_pct=pct, reserved=reserved).met

    assert both == (absolute and relative)


@FUZZ
@given(remaining=AMOUNTS, limit=st.one_of(st.none(), LIMITS), need=NON_NEGATIVE, reserved=NON_NEGATIVE)
def test_reserved_credits_reduce_the_effective_remaining(
    remaining: Decimal, limit: Decimal | None, need: Decimal, reserved: Decimal
) -> None:
    held = decide(balance(remaining, limit), min_remaining=need, reserved=reserved)
    reduced = decide(balance(remaining - reserved, limit), min_remaining=need)

    assert held.met == reduced.met == (remaining - reserved >= need)
    assert held.reserved == reserved


THRESHOLD_INPUTS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), NUMBER_STRINGS,
    st.text(max_size=8), st.decimals(), st.lists(st.integers(), max_size=1),
)  # fmt: skip


@FUZZ
@given(min_remaining=THRESHOLD_INPUTS, min_remaining_pct=THRESHOLD_INPUTS)
def test_any_threshold_input_is_valid_or_a_config_error(min_remaining: Any, min_remaining_pct: Any) -> None:
    try:
        thresholds = parse_thresholds(min_remaining, min_remaining_pct)
    except CreditsConfigError as error:
        assert str(error)  # says what is wrong
        return
    assert isinstance(thresholds, Thresholds)
    for value in (thresholds.min_remaining, thresholds.min_remaining_pct):
        assert value is None or (value.is_finite() and value >= 0)
    assert thresholds.min_remaining_pct is None or thresholds.min_remaining_pct <= 100


ERRORS = st.sampled_from(
    [
        name
        for name in dir(__import__("airflow_provider_credits.exceptions").exceptions)
        if name.startswith("Credits")
    ]
)


@FUZZ
@given(name=ERRORS, fail_fast=st.booleans(), need=NON_NEGATIVE)
def test_a_failed_read_never_opens_the_gate(name: str, fail_fast: bool, need: Decimal) -> None:
    from airflow_provider_credits import exceptions

    error = getattr(exceptions, name)("boom", vendor="v")
    gate = Gate(Thresholds(need, None), fail_on_transient_errors=fail_fast)
    try:
        check = gate.check(None, error)
    except CreditsError as raised:  # a config error is a CreditsError, not a CreditsApiError, since 0.2
        assert raised is error and error_action(error, fail_on_transient_errors=fail_fast).value == "fail"
        return
    assert not check.met
