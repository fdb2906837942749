"""UsageToSqlOperator against real SQLite, PostgreSQL and MariaDB/MySQL (the ``database`` fixture)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import Asset

from airflow_provider_credits.exceptions import CreditsServerError
from airflow_provider_credits.models import UsageRecord
from airflow_provider_credits.operators.usage_to_sql import UsageToSqlOperator
from airflow_provider_credits.sql import TableName, TableSchemaError, upsert_rows
from tests.operators.fakes import FakeVendor, daily_amount
from tests.plugins.databases import Database, as_decimal, as_utc

DAY = timedelta(days=1)
JAN1 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def context(start: datetime | None, end: datetime | None, logical: datetime | None = None) -> dict[str, Any]:
    """The parts of a task context the operator reads."""
    logical = logical or end
    return {
        "data_interval_start": start,
        "data_interval_end": end,
        "logical_date": logical,
        "dag_run": SimpleNamespace(run_after=logical),
        "outlet_events": OutletEvents(),
    }


class OutletEvents(dict):
    """``context["outlet_events"]``: like Airflow's accessor, keyed by the asset's name and URI
    (an ``Asset`` is not hashable on Airflow 3.1)."""

    def __getitem__(self, asset: Any) -> Any:
        return self.setdefault((asset.name, asset.uri), SimpleNamespace())


class Target:
    """The two tables of one test on one database, and the operator writing them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.balances, self.usage = db.table("bal"), db.table("use")

    def operator(self, credits: str | list[str] = "theirstack_default", **kwargs: Any) -> UsageToSqlOperator:
        kwargs.setdefault("balances_table", self.balances)
        kwargs.setdefault("usage_table", self.usage)
        return UsageToSqlOperator(
            task_id="store", credits_conn_id=credits, sql_conn_id=self.db.conn_id, **kwargs
        )

    def run(
        self, start: datetime, end: datetime, credits: str | list[str] = "theirstack_default", **kwargs: Any
    ):
        return self.operator(credits, **kwargs).execute(context(start, end))

    def usage_rows(self) -> dict[tuple[str, str, str, datetime | None], Decimal | None]:
        rows = self.db.query(
            f"SELECT vendor, pool, dimension, period_start, period_end, amount FROM {self.usage}"
        )
        return {
            (v, p, d, as_utc(s)): as_decimal(a) for v, p, d, s, e, a in rows if as_utc(e) - as_utc(s) == DAY
        }

    def balance_rows(self) -> dict[tuple[str, str, datetime | None], tuple[Any, ...]]:
        rows = self.db.query(
            f"SELECT connection_id, pool, logical_date, vendor, account, unit, remaining, credit_limit, used "
            f"FROM {self.balances}"
        )
        return {
            (c, p, as_utc(ld)): (v, a, u, as_decimal(r), as_decimal(lim), as_decimal(used))
            for c, p, ld, v, a, u, r, lim, used in rows
        }

    def counts(self) -> tuple[int, int]:
        return self.db.count(self.balances), self.db.count(self.usage)


@pytest.fixture
def target(database: Database) -> Target:
    return Target(database)


def test_first_run_creates_tables_and_writes_balances_and_zero_filled_usage(target, vendors):
    summary = target.run(JAN1, JAN1 + 3 * DAY)

    assert summary == {
        target.balances: 2,
        target.usage: 6,
        "start": "2026-01-01T00:00:00+00:00",
        "end": "2026-01-04T00:00:00+00:00",
    }
    assert target.balance_rows() == {
        ("theirstack_default", "api_credits", JAN1 + 3 * DAY): (
            "theirstack", "acct-theirstack_default", "credits", Decimal(980), Decimal(1000), Decimal(10)
        ),
        ("theirstack_default", "ui_credits", JAN1 + 3 * DAY): (
            "theirstack", "acct-theirstack_default", "credits", Decimal(979), Decimal(1000), Decimal(11)
        ),
    }  # fmt: skip
    usage = target.usage_rows()
    assert usage[("theirstack", "api_credits", "", JAN1)] == Decimal("1.25")
    assert usage[("theirstack", "ui_credits", "", JAN1 + 2 * DAY)] == 0  # a zero day is a row, not a gap
    assert len(usage) == 6


def test_rerun_of_the_same_run_overwrites_rows_without_duplicating(target, vendors):
    target.run(JAN1, JAN1 + 2 * DAY)
    first_fetch = target.db.query(f"SELECT MAX(fetched_at) FROM {target.usage}")[0][0]
    vendors["theirstack_default"].version = 2  # the vendor corrected its numbers

    target.run(JAN1, JAN1 + 2 * DAY)

    assert target.counts() == (2, 4)
    assert target.usage_rows()[("theirstack", "api_credits", "", JAN1 + DAY)] == daily_amount(JAN1 + DAY, 2)
    assert target.balance_rows()[("theirstack_default", "api_credits", JAN1 + 2 * DAY)][3] == Decimal(970)
    assert as_utc(target.db.query(f"SELECT MIN(fetched_at) FROM {target.usage}")[0][0]) > as_utc(first_fetch)


def test_overlapping_windows_upsert_the_overlap(target, vendors):
    target.run(JAN1, JAN1 + 3 * DAY)
    vendors["theirstack_default"].version = 5

    target.run(JAN1 + DAY, JAN1 + 4 * DAY)

    usage = target.usage_rows()
    assert len(usage) == 8  # 4 distinct days x 2 pools
    assert usage[("theirstack", "api_credits", "", JAN1)] == daily_amount(JAN1, 1)
    assert usage[("theirstack", "api_credits", "", JAN1 + DAY)] == daily_amount(JAN1 + DAY, 5)
    assert target.db.count(target.balances) == 4  # one snapshot per pool and run


def test_four_vendors_including_those_without_usage_history(target, vendors):
    summary = target.run(JAN1, JAN1 + 2 * DAY, credits=list(vendors))

    assert summary[target.balances] == 1 + 2 + 2 + 4
    assert summary[target.usage] == 2 * 2 + 2 * 2  # clay: 2 dimensions; theirstack: 2 pools
    assert target.counts() == (9, 8)
    rows = target.db.query(f"SELECT DISTINCT vendor FROM {target.balances}")
    assert {r[0] for r in rows} == {"clay", "clodura", "theirstack", "trendtrack"}
    rows = target.db.query(f"SELECT DISTINCT vendor, dimension FROM {target.usage}")
    assert set(rows) == {("clay", ""), ("clay", "enrichment"), ("theirstack", "")}
    assert vendors["clodura_default"].usage_calls == []


@pytest.mark.parametrize("failure", ["database", "vendor"])
def test_a_failing_run_leaves_the_tables_as_they_were(target, vendors, failure):
    target.run(JAN1, JAN1 + 3 * DAY)
    before = target.usage_rows(), target.balance_rows()
    theirstack = vendors["theirstack_default"]
    theirstack.version = 9
    if failure == "database":  # NOT NULL violation after several chunks were sent
        broken = UsageRecord.model_construct(
            vendor="theirstack", account="x", pool="api_credits", dimension="broken",
            period_start=JAN1, period_end=JAN1 + DAY, amount=None, unit="credits",
        )  # fmt: skip
        theirstack.extra_usage.append(broken)
    else:  # the second vendor fails after the first was read
        vendors["clay_default"].usage_error = CreditsServerError("HTTP 503", vendor="clay", status=503)

    with pytest.raises(Exception) as excinfo:
        target.run(JAN1, JAN1 + 3 * DAY, credits=["theirstack_default", "clay_default"], chunk_size=2)

    if failure == "vendor":
        assert isinstance(excinfo.value, CreditsServerError)
    assert (target.usage_rows(), target.balance_rows()) == before


def test_an_existing_table_missing_columns_is_a_clear_error(target, vendors):
    target.db.run(
        f"CREATE TABLE {target.usage} (vendor VARCHAR(32), account VARCHAR(128), amount NUMERIC(18,4))"
    )
    target.db.run(f"INSERT INTO {target.usage} (vendor, account, amount) VALUES ('old', 'a', 1)")

    with pytest.raises(TableSchemaError, match=r"lacks the required columns pool, dimension, period_start"):
        target.run(JAN1, JAN1 + DAY)

    assert target.db.query(f"SELECT vendor FROM {target.usage}") == [("old",)]


def test_an_existing_table_without_the_unique_key_is_refused(target, vendors):
    columns = "vendor, account, pool, dimension, period_start, period_end, amount, unit, fetched_at"
    types = (
        "VARCHAR(32), VARCHAR(128), VARCHAR(64), VARCHAR(191), {ts}, {ts}, NUMERIC(18,4), VARCHAR(32), {ts}"
    )
    ts = {"postgres": "TIMESTAMP WITH TIME ZONE", "mysql": "DATETIME(6)"}.get(target.db.kind, "TIMESTAMP")
    ddl = ", ".join(
        f"{c} {t}" for c, t in zip(columns.split(", "), types.format(ts=ts).split(", "), strict=True)
    )
    target.db.run(f"CREATE TABLE {target.usage} ({ddl})")

    # MySQL would silently insert duplicates: refused up front; the others refuse the upsert
    with pytest.raises(TableSchemaError if target.db.kind == "mysql" else Exception):
        target.run(JAN1, JAN1 + DAY)

    assert target.db.count(target.usage) == 0


def test_create_tables_false_never_creates(target, vendors):
    with pytest.raises(TableSchemaError, match="create_tables=True"):
        target.run(JAN1, JAN1 + DAY, create_tables=False)

    target.run(JAN1, JAN1 + DAY)
    assert target.run(JAN1, JAN1 + DAY, create_tables=False)[target.usage] == 2


def test_schema_qualified_table_names(target, vendors):
    schema = {"sqlite": "main", "postgres": "public", "mysql": "test"}[target.db.kind]

    summary = target.run(JAN1, JAN1 + DAY, usage_table=f"{schema}.{target.usage}")

    assert summary[f"{schema}.{target.usage}"] == 2
    assert target.db.count(target.usage) == 2


@pytest.mark.parametrize(
    "name",
    ["credit_usage; DROP TABLE x", "a.b.c", "credit-usage", '"credit_usage"', "1usage", "", "x" * 64, "ü"],
)
def test_hostile_or_invalid_table_names_are_rejected(name):
    with pytest.raises(TableSchemaError, match="invalid table name"):
        UsageToSqlOperator(task_id="t", credits_conn_id="c", sql_conn_id="d", usage_table=name)


def test_a_templated_table_name_is_validated_when_rendered(target, vendors):
    op = target.operator(usage_table="{{ params.table }}")
    op.usage_table = "x; DROP TABLE y"  # what rendering produced

    with pytest.raises(TableSchemaError):
        op.execute(context(JAN1, JAN1 + DAY))
    assert vendors["theirstack_default"].usage_calls == []  # refused before any vendor call


def test_outlet_events_and_openlineage(target, vendors):
    asset = Asset("credits_usage")
    op = target.operator(outlets=[asset])
    ctx = context(JAN1, JAN1 + DAY)

    summary = op.execute(ctx)
    lineage = op.get_openlineage_facets_on_complete(None)

    assert ctx["outlet_events"][asset].extra == summary
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        ("https://api.theirstack.example", "acct-theirstack_default")
    ]
    assert [d.name.rsplit(".", 1)[-1] for d in lineage.outputs] == [target.balances, target.usage]
    assert all(d.namespace.startswith(target.db.kind) for d in lineage.outputs)


def test_connection_arguments_are_unambiguous():
    op = UsageToSqlOperator(task_id="t", credits_conn_id=["a", "b", "a"], sql_conn_id="db")

    assert (op.conn_id, op.sql_conn_id, op.credits_conn_ids) == ("db", "db", ["a", "b"])
    with pytest.raises(TypeError, match=r"credits_conn_id .* sql_conn_id"):
        UsageToSqlOperator(task_id="t", credits_conn_id="a", sql_conn_id="db", conn_id="x")


@pytest.mark.parametrize(
    ("interval", "start", "end", "expected"),
    [
        ((JAN1, JAN1 + DAY), None, None, (JAN1, JAN1 + DAY)),
        ((None, None), None, None, (JAN1 + 4 * DAY, JAN1 + 5 * DAY)),  # manual run: the day before
        ((JAN1 + 5 * DAY, JAN1 + 5 * DAY), None, None, (JAN1 + 4 * DAY, JAN1 + 5 * DAY)),  # empty interval
        (
            (JAN1, JAN1 + DAY),
            "2025-12-01",
            "2025-12-02T12:00:00+02:00",
            (JAN1 - 31 * DAY, JAN1 - 30 * DAY + timedelta(hours=10)),
        ),
    ],
)
def test_usage_window(interval, start, end, expected):
    op = UsageToSqlOperator(task_id="t", credits_conn_id="c", sql_conn_id="d", start=start, end=end)

    assert op.window(context(*interval, logical=JAN1 + 5 * DAY)) == expected


def test_rows_are_streamed_in_chunks():
    pulled, chunks = [], []

    def rows():
        for i in range(25):
            pulled.append(i)
            yield ("v", "a", "p", str(i), JAN1, JAN1 + DAY, Decimal(i), "credits", JAN1)

    from airflow_provider_credits.operators.usage_to_sql import USAGE
    from airflow_provider_credits.sql import POSTGRES

    width = len(USAGE.columns)

    class Cursor:
        def executemany(self, sql, groups):
            chunks.append((sum(len(g) for g in groups) // width, len(pulled)))

        def execute(self, sql, values):
            assert sql.count("(%s") == len(values) // width  # one VALUES group per row sent
            chunks.append((len(values) // width, len(pulled)))

    hook = SimpleNamespace(placeholder="%s")
    written = upsert_rows(Cursor(), hook, POSTGRES, TableName("u"), USAGE, rows(), chunk_size=10)

    assert written == 25
    assert chunks == [(10, 10), (10, 20), (5, 25)]  # never more than one chunk pulled ahead


def test_one_statement_never_carries_a_key_twice_and_the_last_row_wins():
    """PostgreSQL refuses a multi-row upsert touching one row twice; sequential upserts keep the last."""
    from airflow_provider_credits.operators.usage_to_sql import USAGE
    from airflow_provider_credits.sql import POSTGRES

    sent: list[list] = []

    class Cursor:
        def executemany(self, sql, groups):
            sent.extend(groups)

        def execute(self, sql, values):
            sent.append(values)

    def row(amount):
        return ("v", "a", "p", "", JAN1, JAN1 + DAY, Decimal(amount), "credits", JAN1)

    hook = SimpleNamespace(placeholder="%s")
    written = upsert_rows(Cursor(), hook, POSTGRES, TableName("u"), USAGE, [row(1), row(2), row(3)])

    assert written == 1
    assert sent == [list(row(3))]


def test_a_row_of_the_wrong_width_is_refused_before_its_chunk_is_sent():
    """Rows are flattened a chunk at a time: a short row must not shift the values of the next ones."""
    from airflow_provider_credits.operators.usage_to_sql import USAGE
    from airflow_provider_credits.sql import POSTGRES

    sent: list = []

    class Cursor:
        def executemany(self, sql, groups):
            sent.extend(groups)

        def execute(self, sql, values):
            sent.append(values)

    good = ("v", "a", "p", "x", JAN1, JAN1 + DAY, Decimal(1), "credits", JAN1)
    short = ("v", "a", "p", "y", JAN1, JAN1 + DAY, Decimal(1), "credits")
    long = ("v", "a", "p", "z", JAN1, JAN1 + DAY, Decimal(1), "credits", JAN1, "extra")
    hook = SimpleNamespace(placeholder="%s")

    with pytest.raises(ValueError, match="9 values"):  # together the right number of values, misplaced
        upsert_rows(Cursor(), hook, POSTGRES, TableName("u"), USAGE, [good, short, long])
    assert sent == []


def test_sqlite_values_are_utc_text_and_numeric_text():
    import pendulum

    from airflow_provider_credits.sql import SQLITE

    adapt = SQLITE.adapters()
    plus_one = timezone(timedelta(hours=1))

    assert adapt.timestamp(datetime(2026, 1, 1, 1, 2, 3, 4, tzinfo=plus_one)) == "2026-01-01 00:02:03.000004"
    assert adapt.timestamp(datetime(2026, 1, 1)) == "2026-01-01 00:00:00.000000"  # naive: UTC
    assert adapt.timestamp(JAN1 + timedelta(microseconds=5)) == "2026-01-01 00:00:00.000005"
    assert (
        adapt.timestamp(pendulum.datetime(2026, 7, 1, 2, tz="Europe/Paris")) == "2026-07-01 00:00:00.000000"
    )
    assert adapt.timestamp(None) is None
    assert adapt.number(Decimal("1.2500")) == "1.2500"
    assert adapt.number(None) is None


def test_remembered_timestamps_stay_bounded():
    from airflow_provider_credits.sql import SQLITE

    adapt = SQLITE.adapters()
    values = [adapt.timestamp(JAN1 + i * timedelta(seconds=1)) for i in range(10_000)]

    assert values[-1] == "2026-01-01 02:46:39.000000"
    assert len(adapt.timestamp.__self__) <= 4096  # the memo behind the adapter


def test_usage_rows_follow_every_change_of_period():
    """Consecutive rows of one period share converted values; any change of start or end is seen."""
    from airflow_provider_credits.operators.usage_to_sql import _Fetched, _usage_rows
    from airflow_provider_credits.sql import SQLITE

    def record(start: datetime, end: datetime) -> UsageRecord:
        return UsageRecord(
            vendor="v", account="a", pool="p", period_start=start, period_end=end, amount=Decimal(1)
        )

    periods = [(JAN1, JAN1 + DAY), (JAN1, JAN1 + DAY), (JAN1, JAN1 + 2 * DAY), (JAN1 + DAY, JAN1 + 2 * DAY)]
    fetched = _Fetched("c", SimpleNamespace(), [record(s, e) for s, e in periods], JAN1, "")

    rows = list(_usage_rows([fetched], SQLITE.adapters()))

    text = SQLITE.timestamp
    assert [(r[4], r[5]) for r in rows] == [(text(s), text(e)) for s, e in periods]


def test_a_long_window_in_small_chunks(target, vendors):
    vendors["theirstack_default"] = FakeVendor(
        "theirstack", ("api_credits",), ("api_credits",), dimensions=tuple(f"key{i}" for i in range(5))
    )

    summary = target.run(JAN1, JAN1 + 200 * DAY, chunk_size=64)

    assert summary[target.usage] == target.db.count(target.usage) == 1000


@pytest.mark.integration
def test_the_real_hooks_against_the_sandbox(target, sandbox):
    credits = ["clay_default", "clodura_default", "theirstack_default", "trendtrack_default"]
    end = datetime.combine(datetime.now(timezone.utc).date(), datetime.min.time(), timezone.utc)

    first = target.run(end - 7 * DAY, end, credits=credits)
    second = target.run(end - 7 * DAY, end, credits=credits)

    assert first == second
    assert target.counts() == (first[target.balances], first[target.usage])
    rows = target.db.query(f"SELECT vendor, COUNT(*) FROM {target.usage} GROUP BY vendor")
    assert {v for v, n in rows} == {"clay", "theirstack"}  # Clodura and Trendtrack have no usage API
    assert dict(rows)["theirstack"] == 7 * 2  # every day of the window, both pools, zeros included
