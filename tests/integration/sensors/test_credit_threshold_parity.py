"""Reservations, budgets and runway through poke, reschedule and deferrable mode end the same way (SQLite)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_credits import exceptions as exc
from airflow_provider_credits.reservations import Holder, Reservation, ReservationStore
from airflow_provider_credits.version_compat import AirflowSensorTimeout, AirflowSkipException
from tests.support.databases import Database
from tests.support.fake_vendor import (
    CONN_ID,
    FakeVendor,
    credits,
)
from tests.support.reservations import expiring, hold
from tests.support.sensor_modes import MODES, Outcome, run_sensor

FAST = {"poke_interval": 0.05, "timeout": 10}


#: a gate that waits until its timeout: long enough for the first check (with its reservation
#: transaction, on a loaded machine) to end well before it, so that a second check always comes
TIMING_OUT = {"poke_interval": 0.05, "timeout": 2}

#: the TTL of another task's reservation that expires while the gate waits: held (for an hour)
#: through the gate's first balance read, expired at its second one. Not a real short TTL: on a
#: loaded machine the gate's first check could come after it ran out, and never wait.
UNTIL_SECOND_READ = None


@dataclass
class ReservationScenario:
    #: other tasks' reservations before the sensor starts: (task_id, amount, ttl seconds or
    #: UNTIL_SECOND_READ)
    others: tuple[tuple[str, int, float | None], ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: on success: the final decision's (reserved, needed), the amount reserved, the tasks counted
    decided: tuple[int, int, int, list[str]] | None = None
    error: type[BaseException] | None = None
    #: exact vendor requests (None: at least two, it kept checking)
    requests: int | None = 1


RESERVATION_SCENARIOS = {
    "counts_others_reservations": ReservationScenario(
        (("other", 300, 3600),), decided=(300, 600, 600, ["other"])
    ),
    "explicit_amount_alone": ReservationScenario(
        (("other", 200, 3600),),
        {"min_remaining": None, "reserve": "700"},  # a rendered template
        decided=(200, 700, 700, ["other"]),
    ),
    "waits_until_others_expire": ReservationScenario(
        (("killed_run", 500, UNTIL_SECOND_READ),), decided=(0, 600, 600, []), requests=2
    ),
    "times_out_while_others_hold_the_credits": ReservationScenario(
        (("other", 500, 3600),), TIMING_OUT, error=AirflowSensorTimeout, requests=None
    ),
}


def run_reserving(
    mode: str, store: ReservationStore, kwargs: dict[str, Any]
) -> tuple[Outcome, Reservation | None]:
    """Run a gate needing and reserving 600 credits in ``mode``; its outcome and its reservation."""
    outcome = run_sensor(
        mode,
        **{
            "credits_conn_id": CONN_ID,
            "min_remaining": 600,
            "reservation_conn_id": store.conn_id,
            **FAST,
            **kwargs,
        },
    )
    return outcome, store.get(Holder("parity_dag", "run_1", f"wait_{mode}").reservation_id)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(RESERVATION_SCENARIOS))
def test_reservations_end_the_same_in_every_mode(
    vendor: FakeVendor, sqlite_db: Database, name: str, mode: str
) -> None:
    scenario = RESERVATION_SCENARIOS[name]
    store = ReservationStore(sqlite_db.conn_id)
    expire = []
    for task_id, amount, ttl in scenario.others:
        held = hold(store, amount, task_id, ttl=timedelta(seconds=ttl or 3600), connection_id=CONN_ID)
        if ttl is UNTIL_SECOND_READ:
            assert held.reservation is not None
            expire.append(held.reservation.reservation_id)
    script = vendor.script(credits(1000), expiring(store, expire))

    outcome, mine = run_reserving(mode, store, scenario.kwargs)
    if scenario.error is not None:
        assert outcome.error_type is scenario.error, outcome.error
        assert mine is None  # nothing reserved
    else:
        assert outcome.error is None, outcome.error
        assert scenario.decided is not None
        reserved, needed, amount, counted = scenario.decided
        decision, reservation = outcome.value["decision"], outcome.value["reservation"]
        assert (decision["reserved"], decision["needed"], decision["met"]) == (reserved, needed, True)
        assert (reservation["amount"], reservation["task_id"], reservation["pool"]) == (
            amount,
            f"wait_{mode}",
            "api_credits",
        )
        assert [c["task_id"] for c in reservation["counted"]] == counted
        assert reservation["reservation_conn_id"] == sqlite_db.conn_id
        assert mine is not None and mine.released_at is None and mine.amount == amount
    if scenario.requests is not None:
        assert script.calls == scenario.requests
    else:
        assert script.calls >= 2  # it kept checking


@dataclass
class LedgerScenario:
    #: this DAG's other runs before the sensor starts: (amount reserved, ttl seconds or
    #: UNTIL_SECOND_READ, spent and released?)
    others: tuple[tuple[int, float | None, int | None], ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: the pool's burn per day in the stored history (None: no history at all)
    burn: int | None = None
    granted: bool = True
    error: type[BaseException] | None = None
    #: what the refusal XCom says blocked the gate (None: no refusal was pushed)
    blocked_by: str | None = None
    match: str = ""
    #: exact vendor requests (None: at least two, it kept checking)
    requests: int | None = 1


BUDGET = {"budget": 800, "budget_period": "day"}


SCRIPTED_RUNWAY = {"min_runway": timedelta(days=7)}


LEDGER_SCENARIOS = {
    "within_budget": LedgerScenario(((100, 3600, None),), BUDGET),
    "budget_waits_until_others_expire": LedgerScenario(
        ((300, UNTIL_SECOND_READ, None),), BUDGET, blocked_by="budget", requests=2
    ),
    "budget_wait_times_out": LedgerScenario(
        ((300, 3600, None),),
        {**BUDGET, **TIMING_OUT},
        granted=False,
        error=AirflowSensorTimeout,
        blocked_by="budget",
        requests=None,
    ),
    "budget_fails": LedgerScenario(
        ((300, 3600, None),),
        {**BUDGET, "budget_refusal": "fail"},
        granted=False,
        error=exc.CreditsBudgetError,
        blocked_by="budget",
        match="refused by the budget, not the balance",
    ),
    "budget_skips": LedgerScenario(
        ((300, 3600, None),),
        {**BUDGET, "budget_refusal": "skip"},
        granted=False,
        error=AirflowSkipException,
        blocked_by="budget",
        match="refused by the budget, not the balance",
    ),
    "spend_already_recorded_counts": LedgerScenario(
        ((300, 3600, 250),),  # released with 250 spent: nothing outstanding, 250 + 600 > 800
        {**BUDGET, "budget_refusal": "fail"},
        granted=False,
        error=exc.CreditsBudgetError,
        blocked_by="budget",
        match="refused by the budget",
    ),
    "shared_budget_key_of_another_dag_is_not_mine": LedgerScenario(
        ((300, 3600, None),), {**BUDGET, "budget_key": "marketing", "budget_refusal": "fail"}
    ),
    "runway_holds": LedgerScenario(kwargs=SCRIPTED_RUNWAY, burn=50),  # 1000 - 600 >= 7 x 50
    "runway_refuses": LedgerScenario(
        kwargs={**SCRIPTED_RUNWAY, "poke_interval": 0.05, "timeout": 2},  # the first history read is slow
        burn=100,  # 1000 - 600 < 7 x 100
        granted=False,
        error=AirflowSensorTimeout,
        blocked_by="runway",
        requests=None,
    ),
    "runway_unknown_does_not_hold": LedgerScenario(kwargs={**SCRIPTED_RUNWAY, "min_runway": 7}, burn=0),
}


def _history(database: Database, burn: int) -> None:
    """Balance snapshots of the parity connection's pool, falling by ``burn`` a day for 10 days
    (none when ``burn`` is 0: the tables exist, the history is too short)."""
    from airflow_provider_credits.models import utcnow
    from airflow_provider_credits.storage.database import Database as Storage
    from airflow_provider_credits.storage.tables import BALANCES, USAGE

    db = Storage(database.hook())
    db.prepare([BALANCES, USAGE], create=True)
    now = utcnow()
    rows = [
        {
            "connection_id": CONN_ID,
            "pool": "api_credits",
            "fetched_at": now - timedelta(days=10 - n),
            "logical_date": now,
            "dag_id": "usage",
            "run_id": "r",
            "vendor": "theirstack",
            "account": CONN_ID,
            "unit": "credits",
            "remaining": 1000 + burn * (10 - n),
            "credit_limit": None,
            "used": None,
            "period_start": None,
            "period_end": None,
        }
        for n in range(11 if burn else 0)
    ]
    if rows:
        with db.begin() as conn:
            conn.execute(BALANCES.insert(), rows)
    db.dispose()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(LEDGER_SCENARIOS))
def test_budgets_and_runway_end_the_same_in_every_mode(
    vendor: FakeVendor, sqlite_db: Database, name: str, mode: str
) -> None:
    from airflow_provider_credits.ledger import Budget
    from tests.support.reservations import balance, gate

    scenario = LEDGER_SCENARIOS[name]
    store = ReservationStore(sqlite_db.conn_id)
    expire = []
    for n, (amount, ttl, spent) in enumerate(scenario.others):
        other = Holder("parity_dag", f"run_0{n}", "wait")
        attempt = store.reserve(
            gate=gate(amount),
            balance=balance(10**9),
            connection_id=CONN_ID,
            holder=other,
            ttl=timedelta(seconds=ttl or 3600),
            budget=Budget.build(10**6, "day"),
        )
        assert attempt.granted and attempt.reservation is not None
        if spent is not None:
            store.release(dag_id=other.dag_id, run_id=other.run_id, spent=spent)
        if ttl is UNTIL_SECOND_READ:
            expire.append(attempt.reservation.reservation_id)
    if scenario.burn is not None:
        _history(sqlite_db, scenario.burn)
    script = vendor.script(credits(1000), expiring(store, expire))

    outcome, mine = run_reserving(mode, store, scenario.kwargs)
    assert outcome.error_type is scenario.error, outcome.error
    assert scenario.match in str(outcome.error or "")
    if scenario.granted:
        assert outcome.value["reservation"]["amount"] == 600
        assert mine is not None and mine.released_at is None and mine.amount == 600
    else:
        assert mine is None  # nothing reserved
    refusal = outcome.xcoms.get("credit_gate_refusal")
    assert (refusal or {}).get("blocked_by") == scenario.blocked_by, refusal
    if scenario.requests is not None:
        assert script.calls == scenario.requests
    else:
        assert script.calls >= 2  # it kept checking
