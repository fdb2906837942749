"""Bad DAG arguments fail at parse time or at first use, with a message that says what to fix.

Each row: what the user got wrong, when it must fail (``parse``: building the task in the DAG
file; ``first use``: the first check or run, before any vendor request), the error class, and
the words of the message that name the fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_credits.exceptions import CreditsConfigError, TableSchemaError, UnknownCreditPoolError
from airflow_provider_credits.gate import decide
from airflow_provider_credits.hooks import get_credits_hook
from airflow_provider_credits.models import CreditBalance, CreditPool
from airflow_provider_credits.operators.usage_to_sql import UsageToSqlOperator
from airflow_provider_credits.sensors.credit_threshold import CreditThresholdSensor
from airflow_provider_credits.version_compat import AirflowException
from tests.reliability.matrix import count_attempts
from tests.support.sensor_modes import run_sensor

NOWHERE = "http://127.0.0.1:9"  # discard port: a request would fail, and none may be made
JAN1 = datetime(2026, 1, 1, tzinfo=timezone.utc)
JAN2 = datetime(2026, 1, 2, tzinfo=timezone.utc)
CONNECTIONS: dict[str, dict[str, Any]] = {
    "not_credits": {"conn_type": "http", "host": NOWHERE},
    "clay_no_workspace": {"conn_type": "clay", "host": NOWHERE, "password": "cookie-1234567"},
    "clodura_no_key": {"conn_type": "clodura", "host": NOWHERE},
    "theirstack_mars": {
        "conn_type": "theirstack",
        "host": NOWHERE,
        "password": "key-12345678",
        "extra": {"timezone": "Mars/Olympus_Mons"},
    },
    "theirstack_slow": {
        "conn_type": "theirstack",
        "host": NOWHERE,
        "password": "key-12345678",
        "extra": {"timeout": "soon"},
    },
    "theirstack_ok": {"conn_type": "theirstack", "host": NOWHERE, "password": "key-12345678"},
}


def sensor(**kwargs: Any) -> CreditThresholdSensor:
    return CreditThresholdSensor(task_id="gate", **{"credits_conn_id": "theirstack_ok", **kwargs})


def operator(**kwargs: Any) -> UsageToSqlOperator:
    return UsageToSqlOperator(
        task_id="store", **{"credits_conn_id": "theirstack_ok", "sql_conn_id": "db", **kwargs}
    )


def poke(**kwargs: Any) -> Any:
    outcome = run_sensor(
        "poke", **{"credits_conn_id": "theirstack_ok", "poke_interval": 0.01, "timeout": 5, **kwargs}
    )
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


def window(**kwargs: Any) -> Any:
    return operator(**kwargs).window({"logical_date": JAN2})  # type: ignore[typeddict-item]


@dataclass(frozen=True)
class Case:
    mistake: str
    when: str  # "parse" or "first use"
    action: Callable[[], Any]
    error: type[Exception]
    fix: tuple[str, ...]


ONE_POOL = CreditBalance(vendor="clodura", account="a", pools=(CreditPool(name="credits", remaining=5),))
CASES = [
    Case("unknown connection type", "first use", lambda: poke(credits_conn_id="not_credits", min_remaining=1),
         CreditsConfigError, ("'not_credits'", "'http'", "clay, clodura, credits_http", "theirstack, trendtrack, zerobounce")),
    Case("Clay connection without workspace id", "first use", lambda: get_credits_hook("clay_no_workspace").get_balance(),
         CreditsConfigError, ("workspace_id extra", "set it to the Clay workspace")),
    Case("connection without API key", "first use", lambda: get_credits_hook("clodura_no_key").get_balance(),
         CreditsConfigError, ("no API key", "'API key' field")),
    Case("negative min_remaining", "parse", lambda: sensor(min_remaining=-5),
         CreditsConfigError, ("min_remaining must not be negative", "-5")),
    Case("negative min_remaining from a template", "first use", lambda: poke(min_remaining="-5"),
         CreditsConfigError, ("min_remaining must not be negative",)),
    Case("percentage above 100", "parse", lambda: sensor(min_remaining_pct=150),
         CreditsConfigError, ("min_remaining_pct must be at most 100",)),
    Case("threshold that is not a number", "first use", lambda: poke(min_remaining="lots"),
         CreditsConfigError, ("min_remaining must be a number", "'lots'")),
    Case("no threshold at all", "parse", lambda: sensor(),
         CreditsConfigError, ("give min_remaining, min_remaining_pct or both",)),
    Case("sensor without credits_conn_id", "parse", lambda: CreditThresholdSensor(task_id="gate", min_remaining=1),  # type: ignore[call-arg]
         TypeError, ("missing keyword argument 'credits_conn_id'",)),
    Case("unknown credit pool", "first use", lambda: decide(ONE_POOL, min_remaining=1, credit_pool="dials"),
         UnknownCreditPoolError, ("'dials' does not exist", "this account has: credits")),
    Case("percentage on a pool without a limit", "first use", lambda: decide(ONE_POOL, min_remaining_pct=10),
         CreditsConfigError, ("use min_remaining instead",)),
    Case("hostile balances table", "parse", lambda: operator(balances_table="credits; DROP TABLE users"),
         TableSchemaError, ("invalid table name", "use 'table' or 'schema.table'")),
    Case("hostile usage table", "parse", lambda: operator(usage_table='usage" --'),
         TableSchemaError, ("invalid table name", "letters, digits and underscores")),
    Case("three-part table name", "parse", lambda: operator(usage_table="db.schema.usage"),
         TableSchemaError, ("use 'table' or 'schema.table'",)),
    Case("operator window ending before it starts", "first use", lambda: window(start=JAN2, end=JAN1),
         CreditsConfigError, ("empty usage window", "is not after start")),
    Case("hook window ending before it starts", "first use", lambda: get_credits_hook("theirstack_ok").get_usage(JAN2, JAN1),
         CreditsConfigError, ("usage window is empty", "is not after start")),
    Case("naive datetime for the hook", "first use",
         lambda: get_credits_hook("theirstack_ok").get_usage(datetime(2026, 1, 1), JAN2),
         CreditsConfigError, ("is naive", "pass a timezone-aware datetime")),
    Case("time zone that does not exist", "first use", lambda: get_credits_hook("theirstack_mars").get_usage(JAN1, JAN2),
         CreditsConfigError, ("'Mars/Olympus_Mons' is not an IANA time zone", "e.g. UTC")),
    Case("timeout extra that is not a number", "first use", lambda: get_credits_hook("theirstack_slow").get_balance(),
         CreditsConfigError, ("extra 'timeout' must be a number", "'soon'")),
    Case("conn_id instead of credits_conn_id/sql_conn_id", "parse", lambda: operator(conn_id="db"),
         CreditsConfigError, ("takes credits_conn_id (the vendor) and sql_conn_id (the database)",)),
    Case("conn_id instead of sql_conn_id", "parse",
         lambda: UsageToSqlOperator(task_id="store", credits_conn_id="theirstack_ok", conn_id="db"),
         CreditsConfigError, ("takes credits_conn_id (the vendor) and sql_conn_id (the database), not conn_id",)),
    Case("empty sql_conn_id", "parse", lambda: operator(sql_conn_id=""),
         CreditsConfigError, ("sql_conn_id must name the database connection",)),
    Case("database connection that does not exist", "first use",
         lambda: operator(sql_conn_id="no_such_db").execute(  # type: ignore[arg-type]
             {"data_interval_start": JAN1, "data_interval_end": JAN2, "logical_date": JAN2}),
         AirflowException, ("no_such_db",)),
    Case("no vendor connection", "parse", lambda: operator(credits_conn_id=[]),
         CreditsConfigError, ("credits_conn_id must name at least one vendor connection",)),
    Case("chunk size of zero", "parse", lambda: operator(chunk_size=0),
         CreditsConfigError, ("chunk_size must be at least 1",)),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.mistake for c in CASES])
def test_a_bad_argument_fails_early_with_the_fix_in_the_message(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    for conn_id, conn in CONNECTIONS.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))

    with count_attempts() as attempts, pytest.raises(case.error) as excinfo:
        case.action()

    message = str(excinfo.value)
    assert [fix for fix in case.fix if fix not in message] == [], message
    assert attempts.count == 0  # refused before any vendor request


def test_a_naive_operator_window_is_read_as_utc() -> None:
    """The operator (unlike the hooks) accepts naive datetimes, as Airflow does, and reads them as UTC."""
    start, end = window(start=datetime(2026, 1, 1), end="2026-01-02T00:00:00")

    assert (start, end) == (JAN1, JAN2)
