"""Fault scenarios the sandbox can inject, their parameters, and the pure body transformations.

A fault is switched on for a vendor (or ``"*"``) and applies to that vendor's next ``count``
requests, or until cleared. :mod:`~airflow_provider_credits.sandbox.app` applies them; the
table here is the single list of names, defaults and effects (also printed by ``--help``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Scenario:
    """A fault scenario.

    :param effect: what the client sees, in words.
    :param defaults: its parameters and their defaults (the defaults' types are enforced).
    """

    effect: str
    defaults: dict[str, Any] = field(default_factory=dict)


SCENARIOS: dict[str, Scenario] = {
    "rate_limit": Scenario(
        "429 in the vendor's style with Retry-After: <retry_after> seconds", {"retry_after": 1}
    ),
    "rate_limit_http_date": Scenario(
        "429 with Retry-After as an HTTP date <retry_after> seconds ahead", {"retry_after": 1}
    ),
    "rate_limit_no_retry_after": Scenario("429 without Retry-After (and without RateLimit-Reset)"),
    "server_error": Scenario("<status> (5xx) with the vendor's error body", {"status": 500}),
    "slow": Scenario("the normal answer after <delay> seconds", {"delay": 2.0}),
    "timeout": Scenario(
        "the normal answer after <delay> seconds: longer than a client timeout", {"delay": 60.0}
    ),
    "slow_drip": Scenario(
        "the normal body in <chunk_size>-byte chunks every <interval> seconds",
        {"chunk_size": 16, "interval": 0.05},
    ),
    "truncated": Scenario(
        "Content-Length <missing> bytes larger than the body, then the connection closes", {"missing": 100}
    ),
    "html": Scenario("an HTML error page (text/html) with status <status>", {"status": 200}),
    "malformed_json": Scenario("200 with the first half of the JSON body: not parseable"),
    "schema_drift": Scenario('200 with valid JSON of another shape: {"data": <body>, "apiVersion": "2"}'),
    "numbers_as_strings": Scenario('every number sent as a string ("1000", "25000.00")'),
    "nulls": Scenario("numbers (or only the keys in <fields>) sent as null", {"fields": []}),
    "huge_body": Scenario("the JSON body padded with whitespace to <size> bytes", {"size": 6 * 1024 * 1024}),
    "expired_cookie": Scenario("Clay: 401 for every session cookie not issued by POST /v3/auth/login"),
    "unauthorized": Scenario("401: the key was revoked (Trendtrack credential_revoked)"),
    "out_of_credits": Scenario("402 in the vendor's style (Trendtrack insufficient_credits)"),
    "forbidden": Scenario("403 in the vendor's style"),
}


#: the accepted range of each numeric parameter (inclusive); outside it, or NaN, is refused.
#: The upper bounds keep a fault a test double: a wait longer than ten minutes, a body over
#: 64 MiB or a drip chunk over 1 MiB tests nothing the smaller value does not.
BOUNDS: dict[str, tuple[float, float]] = {
    "retry_after": (0, 3600),
    "delay": (0, 600),
    "interval": (0, 60),
    "chunk_size": (1, 1024 * 1024),
    "missing": (1, 1024 * 1024 * 1024),
    "size": (0, 64 * 1024 * 1024),
}


#: statuses that cannot carry the fault's body (the server would break the connection)
_NO_BODY = frozenset({204, 205, 304})


def _coerce(scenario: str, name: str, value: Any, default: Any) -> Any:
    kind = type(default)
    try:
        if kind is list:
            return [s for s in value.split(",") if s] if isinstance(value, str) else list(value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(
            f"fault {scenario!r}: parameter {name!r} must be a {kind.__name__}, got {value!r}"
        ) from None


def resolve_params(scenario: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check a scenario name and its parameters; return every parameter with defaults filled in.

    :param scenario: a key of :data:`SCENARIOS`.
    :param params: given parameters (strings are converted, as from the command line).
    :raises ValueError: unknown scenario or parameter, or a value of the wrong type.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown fault scenario {scenario!r}; scenarios: {', '.join(SCENARIOS)}")
    defaults = SCENARIOS[scenario].defaults
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) or "none"
        raise ValueError(f"fault {scenario!r} has no parameter {', '.join(unknown)}; parameters: {allowed}")
    resolved = {name: _coerce(scenario, name, params.get(name, d), d) for name, d in defaults.items()}
    for name, (low, high) in BOUNDS.items():
        value = resolved.get(name)
        if value is not None and not low <= value <= high:  # also refuses NaN
            raise ValueError(
                f"fault {scenario!r}: parameter {name!r} must be between {low:g} and {high:g}, got {value!r}"
            )
    status, lowest = resolved.get("status"), 500 if scenario == "server_error" else 200
    if status is not None and (not lowest <= status <= 599 or status in _NO_BODY):
        raise ValueError(f"fault {scenario!r}: status {status} is out of range")
    return resolved


def _map_numbers(body: Any, change: Any, fields: frozenset[str] = frozenset(), key: str = "") -> Any:
    if isinstance(body, dict):
        return {k: _map_numbers(v, change, fields, k) for k, v in body.items()}
    if isinstance(body, list):
        return [_map_numbers(v, change, fields, key) for v in body]
    if fields:
        return change(body) if key in fields else body
    if isinstance(body, (int, float)) and not isinstance(body, bool):
        return change(body)
    return body


def _as_string(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value) if isinstance(value, int) else value


def transform_body(scenario: str, params: dict[str, Any], body: Any) -> Any:
    """Apply a scenario that rewrites a JSON body (others return ``body`` unchanged).

    :param scenario: scenario name.
    :param params: its resolved parameters.
    :param body: decoded JSON body.
    """
    if scenario == "schema_drift":
        return {"data": body, "apiVersion": "2"}
    if scenario == "numbers_as_strings":
        return _map_numbers(body, _as_string)
    if scenario == "nulls":
        return _map_numbers(body, lambda _: None, frozenset(params["fields"]))
    return body


def parse_cli_fault(spec: str) -> tuple[str, str, int | None, dict[str, str]]:
    """Parse ``vendor:scenario[:count][:name=value,...]`` from the command line.

    :param spec: e.g. ``theirstack:rate_limit:2:retry_after=0``; count ``*`` or empty: until cleared.
    :returns: vendor, scenario, count, parameters.
    """
    parts = spec.split(":")
    if len(parts) < 2 or len(parts) > 4:
        raise ValueError(f"--fault {spec!r}: expected vendor:scenario[:count][:name=value,...]")
    vendor, scenario = parts[0], parts[1]
    count: int | None = None
    params: dict[str, str] = {}
    for part in parts[2:]:
        if "=" in part:
            for pair in filter(None, part.split(",")):
                name, sep, value = pair.partition("=")
                if not sep:
                    raise ValueError(f"--fault {spec!r}: {pair!r} is not name=value")
                params[name.strip()] = value.strip()
        elif part not in ("", "*"):
            if not part.isdigit():
                raise ValueError(f"--fault {spec!r}: count must be a positive whole number or '*'")
            count = int(part)
    return vendor, scenario, count, params
