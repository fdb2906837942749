"""CloduraHook: the balance in each plan's schema, and the credits endpoint."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.vendor_api import (
    NO_PERIOD,
    assert_balance,
    assert_endpoint,
    assert_unusable_balance,
    load,
)

# body, response headers, account, pools as (name, remaining, limit, used, (period_start, period_end))
BALANCES = {
    "prospect-documented": (
        load("clodura", "prospect"), {}, "clodura_test",
        [("contact_views", 858, 1000, 142, NO_PERIOD), ("direct_dials", 162, 200, 38, NO_PERIOD)],
    ),
    "prospect-pro-all-strings": (
        {"contactsView": "0", "maxContacts": "2000", "directDials": "5", "maxDirectDials": "100"}, {},
        "clodura_test",
        [("contact_views", 2000, 2000, 0, NO_PERIOD), ("direct_dials", 95, 100, 5, NO_PERIOD)],
    ),
    "prospect-without-dials": (
        {"contactsView": 10, "maxContacts": "1000", "directDials": None, "maxDirectDials": None}, {},
        "clodura_test",
        [("contact_views", 990, 1000, 10, NO_PERIOD), ("direct_dials", None, None, None, NO_PERIOD)],
    ),
    "unified": (
        load("clodura", "unified"), {}, "clodura_test", [("credits", 2500, None, None, NO_PERIOD)],
    ),
    "unified-string": (
        {"remainingCredits": "2500.00"}, {}, "clodura_test", [("credits", 2500, None, None, NO_PERIOD)],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("body", "headers", "account", "pools"), list(BALANCES.values()), ids=list(BALANCES))
def test_balance(mode, api, make_hook, body, headers, account, pools):
    assert_balance(mode, api, make_hook("clodura"), body, headers, account, pools)


# body, response headers, words the error must contain
BAD_BODIES = {
    "unknown-plan": ({"credits": 5, "plan": "enterprise"}, {}, ["unknown credits schema", "'credits'", "'plan'"]),
    "empty-object": ({}, {}, ["unknown credits schema", "fields seen: none"]),
    "max-contacts-not-a-number": ({"contactsView": 1, "maxContacts": "lots"}, {}, ["maxContacts"]),
    "list": ([{"remainingCredits": 1}], {}, ["CloduraCredits", "fields seen: list"]),
}  # fmt: skip


@pytest.mark.parametrize(("body", "headers", "words"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_unusable_balance_body_is_a_response_error(mode, api, make_hook, body, headers, words):
    assert_unusable_balance(mode, api, make_hook("clodura"), body, headers, words)


# hook method, args, HTTP method, path, fixture, expected query, probe(result), expected
ENDPOINTS = [
    ("get_credits", (), "GET", "/api/v1/credits", "prospect", {},
     lambda r: (r.contactsView, r.maxContacts, r.directDials, r.maxDirectDials), (142, Decimal(1000), 38, 200)),
    ("get_credits", (), "GET", "/api/v1/credits", "unified", {},
     lambda r: (r.remainingCredits, r.maxContacts), (Decimal(2500), None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "args", "http_method", "path", "fixture", "query", "probe", "expected"),
    [pytest.param(*row, id=f"{row[0]}-{row[4]}") for row in ENDPOINTS],
)
def test_endpoint(mode, api, make_hook, method, args, http_method, path, fixture, query, probe, expected):
    hook = make_hook("clodura")
    assert_endpoint(mode, api, hook, (method, args), (http_method, path, query), fixture, probe, expected)
