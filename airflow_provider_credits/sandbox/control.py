"""The sandbox's control API (``/_sandbox/...``): what each control endpoint does to the state.

Pure Python: :mod:`airflow_provider_credits.sandbox.app` serves :data:`CONTROLS` under
:data:`CONTROL_PREFIX`, answering a :class:`~airflow_provider_credits.sandbox.state.SandboxError`
with HTTP 400 and an :class:`~airflow_provider_credits.sandbox.state.OutOfCreditsError` with the
vendor's 402. The endpoints are listed in ``docs/sandbox.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_credits.sandbox import faults
from airflow_provider_credits.sandbox.state import SandboxError, SandboxState

CONTROL_PREFIX = "/_sandbox"

#: the largest amount a control request may spend, add or set (a trillion credits)
MAX_AMOUNT = 1e12

Control = Callable[[SandboxState, "Fields", Mapping[str, str]], Any]


class Fields:
    """The JSON object of a control request, read field by field with its type checked.

    Every error is a :class:`SandboxError` naming the field and what is wrong with its value,
    e.g. ``amount: 'ten' is not a number``.

    :param body: the decoded request body.
    """

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def _get(self, name: str, required: bool) -> Any:
        value = self.body.get(name)
        if value is None and required:
            raise SandboxError("missing (required)", field=name)
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        """A string field; None when absent and not required (an empty string counts as absent)."""
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise SandboxError(f"{value!r} is not a string", field=name)
        if not value.strip() and required:
            raise SandboxError("is empty", field=name)
        return value or None

    def number(self, name: str) -> float:
        """A required finite number of at most :data:`MAX_AMOUNT` either way (a numeric string such
        as ``"250"`` is accepted)."""
        value = self._get(name, True)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SandboxError(f"{value!r} is not a number", field=name)
        try:
            number = float(value)
        except OverflowError:  # an integer beyond a float, e.g. 10**400
            raise SandboxError(f"{str(value)[:40]}... is not a finite number", field=name) from None
        except ValueError:
            raise SandboxError(f"{value!r} is not a number", field=name) from None
        if not math.isfinite(number):
            raise SandboxError(f"{value!r} is not a finite number", field=name)
        if abs(number) > MAX_AMOUNT:
            raise SandboxError(f"{value!r} is beyond the sandbox's bound of {MAX_AMOUNT:g}", field=name)
        return number

    def count(self, name: str) -> int | None:
        """An optional whole number; None when absent."""
        value = self._get(name, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise SandboxError(f"{value!r} is not a whole number", field=name)
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        """An optional JSON object; empty when absent."""
        value = self._get(name, False)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise SandboxError(f"{value!r} is not a JSON object", field=name)
        return value


def _reset(state: SandboxState, body: Fields, query: Mapping[str, str]) -> Any:
    state.reset(body.text("clodura_plan"))
    return state.to_json()


def _requests(state: SandboxState, body: Fields, query: Mapping[str, str]) -> Any:
    vendor, path = query.get("vendor"), query.get("path")
    return {
        "count": state.request_count(vendor, path),
        "by_path": {f"{v} {p}": n for (v, p), n in sorted(state.counts.items()) if vendor in (None, v)},
        "requests": [r.to_json() for r in state.requests(vendor, path)],
    }


def _clear_requests(state: SandboxState, body: Fields, query: Mapping[str, str]) -> Any:
    state.log.clear()
    state.counts.clear()
    return {"count": 0}


def _add_fault(state: SandboxState, body: Fields, query: Mapping[str, str]) -> Any:
    fault = state.add_fault(
        body.text("vendor") or "*",
        str(body.text("scenario", required=True)),
        body.count("count"),
        path=body.text("path"),
        params=body.mapping("params"),
    )
    return fault.to_json()


def _clear_faults(state: SandboxState, body: Fields, query: Mapping[str, str]) -> Any:
    state.clear_faults()
    return {"faults": []}


CONTROLS: dict[tuple[str, str], Control] = {
    ("GET", "/health"): lambda state, body, query: {"ok": True},
    ("GET", "/state"): lambda state, body, query: state.to_json(),
    ("POST", "/reset"): _reset,
    ("POST", "/spend"): lambda state, body, query: state.spend(
        str(body.text("vendor", required=True)),
        body.number("amount"),
        body.text("pool"),
        user=body.text("user_id") or "",
        integration=body.text("integration") or "",
    ),
    ("POST", "/topup"): lambda state, body, query: state.topup(
        str(body.text("vendor", required=True)), body.number("amount"), body.text("pool")
    ),
    ("POST", "/balance"): lambda state, body, query: state.set_balance(
        str(body.text("vendor", required=True)),
        str(body.text("pool", required=True)),
        body.number("remaining"),
    ),
    ("GET", "/faults"): lambda state, body, query: {"faults": [f.to_json() for f in state.faults]},
    ("POST", "/faults"): _add_fault,
    ("DELETE", "/faults"): _clear_faults,
    ("GET", "/requests"): _requests,
    ("DELETE", "/requests"): _clear_requests,
    ("GET", "/scenarios"): lambda state, body, query: {
        name: {"effect": s.effect, "params": s.defaults} for name, s in faults.SCENARIOS.items()
    },
}
