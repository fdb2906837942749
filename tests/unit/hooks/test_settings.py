"""Connection settings judged by the form the UI shows: masked placeholders, numeric bounds, labels.

Every case is derived from the provider info (each connection type, each secret field, each
numeric field), so a connection type or field added later is covered without editing here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import respx

from airflow_provider_credits.exceptions import CreditsConfigError
from airflow_provider_credits.get_provider_info import get_provider_info
from airflow_provider_credits.hooks.settings import connection_form, is_masked_placeholder
from tests.support.vendor_api import (
    BASE_URL,
    MODES,
    VENDOR_BY_TYPE,
    invoke,
    mock_async_transport,
)

CONNECTION_TYPES = {e["connection-type"]: e for e in get_provider_info()["connection-types"]}
STANDARD_LABELS = {"password": "Password", "login": "Login"}
LOGIN = "me@example.com"


def label_of(conn_type: str, name: str) -> str:
    """The label the form shows, read straight from the provider info."""
    entry = CONNECTION_TYPES[conn_type]
    if name in entry["conn-fields"]:
        return entry["conn-fields"][name]["label"]
    return entry["ui-field-behaviour"].get("relabeling", {}).get(name, STANDARD_LABELS[name])


def secret_fields(conn_type: str) -> list[str]:
    fields = CONNECTION_TYPES[conn_type]["conn-fields"]
    return ["password", *(n for n, f in fields.items() if f["schema"].get("format") == "password")]


def number_fields(conn_type: str) -> dict[str, dict[str, Any]]:
    fields = CONNECTION_TYPES[conn_type]["conn-fields"]
    return {n: f["schema"] for n, f in fields.items() if {"number", "integer"} & set(f["schema"]["type"])}


@pytest.fixture
def vendor_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.MockRouter]:
    """Every request succeeds with the vendor's balance body: only a refusal can fail a test."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        mock_async_transport(router, monkeypatch)
        yield router


def answer_every_request(router: respx.MockRouter, conn_type: str) -> None:
    router.route().respond(json=VENDOR_BY_TYPE[conn_type].balance_body)


# ------------------------------------------------------------------ placeholders

PLACEHOLDERS = {"***": "***", "padded": "  ***  ", "longer": "********"}


def placeholder_cases() -> Iterator[Any]:
    for conn_type in CONNECTION_TYPES:
        for field in secret_fields(conn_type):
            for name, value in PLACEHOLDERS.items():
                yield pytest.param(conn_type, field, value, id=f"{conn_type}-{field}-{name}")
        if conn_type == "clay":  # the cookie may be pasted with its name in front
            yield pytest.param("clay", "password", "claysession=***", id="clay-password-claysession=***")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("conn_type", "field", "value"), list(placeholder_cases()))
def test_masked_placeholder_is_refused_before_any_request(
    mode, vendor_api, make_hook, conn_type, field, value
):
    answer_every_request(vendor_api, conn_type)
    if field == "password":
        hook = make_hook(conn_type, password=value)
    else:  # with a working password and a login, so that only the placeholder is wrong
        hook = make_hook(conn_type, login=LOGIN, extra={field: value})

    with pytest.raises(CreditsConfigError) as info:
        invoke(mode, hook, "get_balance")

    message = str(info.value)
    assert repr(hook.conn_id) in message
    assert repr(label_of(conn_type, field)) in message
    assert "masked placeholder" in message
    assert not vendor_api.calls


@pytest.mark.parametrize("mode", MODES)
def test_masked_placeholder_in_a_legacy_prefixed_extra_is_refused(mode, vendor_api, make_hook):
    answer_every_request(vendor_api, "clay")
    hook = make_hook("clay", login=LOGIN, extra={"extra__clay__account_password": "***"})

    with pytest.raises(CreditsConfigError, match=r"'Account password \(optional\)'.*masked placeholder"):
        invoke(mode, hook, "get_balance")

    assert not vendor_api.calls


@pytest.mark.parametrize("conn_type", list(CONNECTION_TYPES))
def test_secret_fields_are_derived_from_the_form(conn_type):
    assert connection_form(conn_type).secret_fields == tuple(secret_fields(conn_type))


def test_what_counts_as_the_placeholder():
    """Only asterisks, three or more, around blanks: a real secret containing ``***`` is kept."""
    assert all(is_masked_placeholder(v) for v in ("***", " **** ", "\t***\n", "*" * 40))
    assert not any(is_masked_placeholder(v) for v in ("", "**", "sk-***", "***a", "* * *", None, 3))


# ------------------------------------------------------------------ numeric extras


def bad_numbers(schema: dict[str, Any]) -> dict[str, Any]:
    """Values the field's form would never save, each with a readable id."""
    bad: dict[str, Any] = {
        "nan": "nan",
        "inf": "inf",
        "-inf": "-inf",
        "Infinity": "Infinity",
        "json-true": True,
        "json-false": False,
    }
    if "maximum" in schema:
        bad["above-maximum"] = str(schema["maximum"] + 1)
        bad["above-maximum-exponent"] = f"1e{len(str(int(schema['maximum'])))}"
    if schema.get("minimum", 0) > 0:
        bad["below-minimum"] = str(schema["minimum"] / 2)
        bad["zero"] = 0
    if "integer" in schema["type"]:
        bad["fraction"] = "2.5"
    return bad


def number_cases() -> Iterator[Any]:
    for conn_type in CONNECTION_TYPES:
        for field, schema in number_fields(conn_type).items():
            for name, value in bad_numbers(schema).items():
                yield pytest.param(conn_type, field, value, id=f"{conn_type}-{field}-{name}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("conn_type", "field", "value"), list(number_cases()))
def test_numeric_extra_outside_its_form_field_is_refused(
    mode, vendor_api, make_hook, conn_type, field, value
):
    answer_every_request(vendor_api, conn_type)
    hook = make_hook(conn_type, extra={field: value})

    with pytest.raises(CreditsConfigError) as info:
        invoke(mode, hook, "get_balance")

    message = str(info.value)
    assert repr(hook.conn_id) in message
    assert f"extra {field!r}" in message
    assert repr(label_of(conn_type, field)) in message
    assert not vendor_api.calls


# values the UI, the CLI or a hand-written JSON may save, and what the hook uses
ACCEPTED = {
    "ui-string": ({"timeout": "30", "max_retries": "3", "retry_max_seconds": "60"}, (30.0, 3, 60.0)),
    "padded-string": ({"timeout": " 30 ", "max_retries": " 3 "}, (30.0, 3, 120.0)),
    "whole-float-for-integer": ({"max_retries": "3.0", "timeout": 2.5}, (2.5, 3, 120.0)),
    "exponent": ({"timeout": "1e1", "max_retries": "1e1"}, (10.0, 10, 120.0)),
    "the-bounds": ({"timeout": 1, "max_retries": 0, "retry_max_seconds": 0}, (1.0, 0, 0.0)),
    "blank-means-default": ({"timeout": "  "}, (30.0, 4, 120.0)),
}  # fmt: skip


@pytest.mark.parametrize(("extra", "expected"), list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_numbers_as_saved_keep_working(make_hook, extra, expected):
    settings = make_hook("clodura", extra=extra).settings

    assert (settings.timeout, settings.max_retries, settings.retry_max_seconds) == expected
    assert type(settings.max_retries) is int


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": math.nan},
        {"max_retries": math.inf},
        {"retry_max_seconds": math.inf},
        {"max_retries": True},
    ],
)
def test_unusable_hook_arguments_are_refused(mode, vendor_api, make_hook, kwargs):
    answer_every_request(vendor_api, "clodura")
    [name] = kwargs

    with pytest.raises(CreditsConfigError, match=f"hook argument {name!r}"):
        invoke(mode, make_hook("clodura", **kwargs), "get_balance")

    assert not vendor_api.calls


def test_a_sub_second_timeout_stays_possible_in_code(make_hook):
    assert make_hook("clodura", timeout=0.5).settings.timeout == 0.5


@pytest.mark.parametrize("conn_type", list(CONNECTION_TYPES))
def test_runtime_bounds_are_the_form_bounds(conn_type):
    form = connection_form(conn_type)
    for field, schema in number_fields(conn_type).items():
        spec = form.number_fields[field]
        assert (spec.minimum, spec.maximum) == (schema.get("minimum"), schema.get("maximum"))
        assert spec.integer is ("number" not in schema["type"])


# ------------------------------------------------------------------ labels in messages


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("conn_type", list(CONNECTION_TYPES))
def test_missing_secret_is_named_by_its_form_label(mode, vendor_api, make_hook, conn_type):
    answer_every_request(vendor_api, conn_type)

    with pytest.raises(CreditsConfigError) as info:
        invoke(mode, make_hook(conn_type, password=""), "get_balance")

    message = str(info.value)
    assert repr(label_of(conn_type, "password")) in message
    assert "password field" not in message
    assert not vendor_api.calls


def test_clay_sign_in_fields_are_named_by_their_form_labels(make_hook):
    with pytest.raises(CreditsConfigError) as info:
        make_hook("clay").login()

    for field in ("login", "account_password"):
        assert repr(label_of("clay", field)) in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_clay_workspace_is_named_by_its_form_label(mode, vendor_api, make_hook):
    answer_every_request(vendor_api, "clay")

    with pytest.raises(CreditsConfigError) as info:
        invoke(mode, make_hook("clay", extra={"workspace_id": None}), "get_balance")

    assert repr(label_of("clay", "workspace_id")) in str(info.value)
    assert not vendor_api.calls


@pytest.mark.parametrize("mode", MODES)
def test_theirstack_time_zone_is_named_by_its_form_label(mode, vendor_api, make_hook):
    answer_every_request(vendor_api, "theirstack")
    hook = make_hook("theirstack", extra={"timezone": "Mars/Olympus"})

    with pytest.raises(CreditsConfigError) as info:
        invoke(
            mode,
            hook,
            "get_usage",
            datetime(2025, 7, 1, tzinfo=timezone.utc),
            datetime(2025, 7, 2, tzinfo=timezone.utc),
        )

    assert repr(label_of("theirstack", "timezone")) in str(info.value)
    assert not vendor_api.calls


BAD_HOSTS = {
    "port-not-a-number": "http://h:abc",
    "unclosed-ipv6": "http://[::1",
    "label-over-63": "https://" + "a" * 64 + ".example.com",
    "newline": "https://api.example.com\nx",
    "port-out-of-range": "http://127.0.0.1:99999",
    "other-scheme": "ftp://api.example.com",
}


@pytest.mark.parametrize("host", list(BAD_HOSTS.values()), ids=list(BAD_HOSTS))
@pytest.mark.parametrize("mode", MODES)
def test_an_unusable_host_is_a_config_error_naming_the_connection(
    make_hook, monkeypatch: pytest.MonkeyPatch, mode: str, host: str
) -> None:
    with respx.mock(assert_all_called=False) as router:
        mock_async_transport(router, monkeypatch)
        route = router.route().respond(200, json={})
        hook = make_hook("theirstack", host=host)
        with pytest.raises(
            CreditsConfigError, match=r"connection '.*': the Host field .* is not a usable URL"
        ):
            invoke(mode, hook, "get_balance")
        assert not route.called


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("api.example.com", None, "https://api.example.com"),
        ("http://127.0.0.1:8900/", None, "http://127.0.0.1:8900"),
        ("http://127.0.0.1", 8900, "http://127.0.0.1:8900"),
        ("", None, "https://default.example"),
    ],
)
def test_usable_hosts_become_base_urls(host: str, port: int | None, expected: str) -> None:
    from airflow_provider_credits.hooks.settings import base_url

    assert base_url(host, port, "https://default.example") == expected


@pytest.mark.parametrize(
    "value", ["\uff13\uff10", "\u0663\u0660", "\u0e53"], ids=["fullwidth", "arabic-indic", "thai"]
)
def test_digits_of_other_scripts_are_not_numbers(make_hook, value: str) -> None:
    hook = make_hook("theirstack", extra={"timeout": value, "max_retries": value})
    with pytest.raises(CreditsConfigError, match="must be a number"):
        _ = hook.settings


def test_a_zero_timeout_argument_is_refused_not_replaced_by_the_default(make_hook) -> None:
    with pytest.raises(CreditsConfigError, match="'timeout' must be above 0"):
        _ = make_hook("theirstack", timeout=0).settings
    assert make_hook("theirstack", timeout=0.25).settings.timeout == 0.25


DEFAULT_BASE_URLS = {
    "clay": "https://api.clay.com",
    "clodura": "https://api.clodura.ai",
    "theirstack": "https://api.theirstack.com",
    "trendtrack": "https://api.trendtrack.io",
}


@pytest.mark.parametrize(("conn_type", "base_url"), list(DEFAULT_BASE_URLS.items()))
@pytest.mark.parametrize("host", ["", "{base}", "{bare}/"], ids=["empty-host", "full-url", "no-scheme"])
def test_base_url_from_connection_host(make_hook, conn_type, base_url, host):
    """An empty host means the vendor's real API; a host without a scheme gets https."""
    vendor = VENDOR_BY_TYPE[conn_type]
    host = host.format(base=base_url, bare=base_url.removeprefix("https://"))
    with respx.mock(base_url=base_url) as router:
        route = router.get(vendor.balance_path).respond(json=vendor.balance_body)
        make_hook(conn_type, host=host).get_balance()

    assert route.call_count == 1


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("http://127.0.0.1", 8900, "http://127.0.0.1:8900"),
        ("http://proxy.internal/clodura", 8443, "http://proxy.internal:8443/clodura"),
        ("http://127.0.0.1:8900", 1234, "http://127.0.0.1:8900"),
    ],
    ids=["port-added", "port-before-path", "port-in-host-wins"],
)
def test_connection_port_goes_into_the_base_url(monkeypatch, host, port, expected):
    from airflow_provider_credits.hooks.clodura import CloduraHook

    conn = {"conn_type": "clodura", "host": host, "port": port, "password": "port-test-key-123"}
    monkeypatch.setenv("AIRFLOW_CONN_CLODURA_PORT", json.dumps(conn))
    assert CloduraHook(conn_id="clodura_port").settings.base_url == expected
