"""The error tree: one root, transient visible in the classes, one way to carry an error."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_credits import exceptions
from airflow_provider_credits.exceptions import (
    CreditsApiError,
    CreditsAuthError,
    CreditsConfigError,
    CreditsError,
    CreditsExhaustedError,
    CreditsRateLimitError,
    CreditsRequestError,
    CreditsResponseError,
    CreditsServerError,
    CreditsStorageError,
    CreditsTransientError,
    CreditsTransportError,
    TableSchemaError,
    UnknownCreditPoolError,
    UsageNotSupportedError,
)

ALL = [getattr(exceptions, name) for name in exceptions.__all__]


def test_every_public_error_descends_from_the_root() -> None:
    assert set(ALL) == {
        cls for cls in vars(exceptions).values() if isinstance(cls, type) and issubclass(cls, CreditsError)
    }
    assert all(issubclass(cls, CreditsError) for cls in ALL)


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (CreditsApiError, CreditsError),
        (CreditsConfigError, CreditsError),
        (CreditsStorageError, CreditsError),
        (CreditsTransientError, CreditsApiError),
        (CreditsRateLimitError, CreditsTransientError),
        (CreditsServerError, CreditsTransientError),
        (CreditsTransportError, CreditsTransientError),
        (UnknownCreditPoolError, CreditsConfigError),
        (TableSchemaError, CreditsStorageError),
        (UsageNotSupportedError, CreditsApiError),
    ],
)
def test_tree(cls: type, parent: type) -> None:
    assert issubclass(cls, parent)


def test_configuration_and_storage_are_not_vendor_call_errors() -> None:
    assert not issubclass(CreditsConfigError, CreditsApiError)
    assert not issubclass(CreditsStorageError, CreditsApiError)
    # argument checks that raised ValueError before keep matching ``except ValueError``
    assert issubclass(CreditsConfigError, ValueError)
    assert issubclass(TableSchemaError, ValueError)


def test_transient_flag_is_exactly_the_transient_subtree() -> None:
    for cls in ALL:
        assert cls.transient is issubclass(cls, CreditsTransientError), cls


def _samples() -> list[CreditsError]:
    context = dict(vendor="theirstack", method="GET", path="/v0/x", status=503, code="E1", request_id="r-1")
    return [
        CreditsError("plain"),
        CreditsAuthError("bad key", **context),
        CreditsExhaustedError("empty", vendor="clay", status=402),
        CreditsRateLimitError("slow down", **context),
        CreditsServerError("down", **context),
        CreditsTransportError("refused", vendor="clodura", method="GET", path="/p"),
        CreditsResponseError("html", **context),
        CreditsRequestError("404", **context),
        UsageNotSupportedError("no usage", vendor="trendtrack"),
        CreditsConfigError("no key", vendor="clodura"),
        UnknownCreditPoolError(vendor="trendtrack", pool="x", available=["credits", "topup"]),
        CreditsStorageError("insert into t failed"),
        TableSchemaError("t lacks column pool"),
    ]


@pytest.mark.parametrize("error", _samples(), ids=lambda e: type(e).__name__)
def test_payload_round_trip_keeps_class_message_and_context(error: CreditsError) -> None:
    payload = error.to_payload()
    again = CreditsError.from_payload(payload)
    assert type(again) is type(error)
    assert str(again) == str(error)
    for name in ("message", "vendor", "method", "path", "status", "code", "request_id"):
        assert getattr(again, name) == getattr(error, name)
    assert again.to_payload() == payload


@pytest.mark.parametrize("error", _samples(), ids=lambda e: type(e).__name__)
def test_pickle_round_trip(error: CreditsError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)


def test_unknown_pool_error_keeps_its_fields() -> None:
    error = UnknownCreditPoolError(vendor="trendtrack", pool="x", available=["credits", "topup"])
    again = CreditsError.from_payload(error.to_payload())
    assert isinstance(again, UnknownCreditPoolError)
    assert (again.pool, again.available) == ("x", ["credits", "topup"])


def test_payload_status_does_not_clash_with_an_event_status() -> None:
    payload = CreditsServerError("down", status=503).to_payload()
    assert "status" not in payload and payload["http_status"] == 503


@pytest.mark.parametrize("error_type", ["NoSuchError", None, "ValueError", "Exception"])
def test_unknown_error_type_becomes_the_root_class(error_type: str | None) -> None:
    again = CreditsError.from_payload({"error_type": error_type, "message": "m", "vendor": "clay"})
    assert type(again) is CreditsError
    assert str(again) == "[clay] m"


MALFORMED_PAYLOADS = {
    "available not a list": {"error_type": "UnknownCreditPoolError", "message": "m", "available": 5},
    "available of numbers": {"error_type": "UnknownCreditPoolError", "message": "m", "available": [1, 2]},
    "available an object": {"error_type": "UnknownCreditPoolError", "message": "m", "available": {"a": None}},
    "pool an object": {"error_type": "UnknownCreditPoolError", "message": "m", "pool": {"x": 1}},
    "vendor a list": {"error_type": "CreditsError", "message": "m", "vendor": ["a"]},
    "http_status text": {"error_type": "CreditsAuthError", "message": "m", "http_status": "abc"},
    "http_status a bool": {"error_type": "CreditsServerError", "message": "m", "http_status": True},
    "not a dict": ["error"],
}  # fmt: skip


@pytest.mark.parametrize("payload", list(MALFORMED_PAYLOADS.values()), ids=list(MALFORMED_PAYLOADS))
def test_from_payload_never_raises_on_a_malformed_payload(payload: object) -> None:
    again = CreditsError.from_payload(payload)  # type: ignore[arg-type]
    assert isinstance(again, CreditsError)
    assert again.status is None or isinstance(again.status, int)
    assert again.vendor is None or isinstance(again.vendor, str)
    assert all(isinstance(name, str) for name in getattr(again, "available", []))


def test_from_payload_falls_back_to_the_root_class_when_a_subclass_cannot_be_rebuilt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> CreditsError:
        raise KeyError("pool")

    monkeypatch.setattr(UnknownCreditPoolError, "_from_extra", classmethod(broken))
    again = CreditsError.from_payload({"error_type": "UnknownCreditPoolError", "message": "m", "vendor": "v"})
    assert type(again) is CreditsError and str(again) == "[v] m"
