"""UsageToSqlOperator against real SQLite, PostgreSQL and MariaDB/MySQL (the ``database`` fixture)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from airflow.sdk import Asset

from airflow_provider_credits.exceptions import CreditsConfigError, CreditsServerError, TableSchemaError
from airflow_provider_credits.models import UsageRecord
from tests.support.databases import Database, as_decimal, as_utc
from tests.support.usage_fakes import DAY, JAN1, FakeVendor, Target, context, daily_amount


@pytest.fixture
def target(database: Database) -> Target:
    return Target(database)


def test_first_run_creates_tables_and_writes_balances_and_zero_filled_usage(target, vendors):
    summary = target.run(JAN1, JAN1 + 3 * DAY)

    assert summary == {
        target.balances: 2,
        target.usage: 6,
        "counts": {
            target.balances: {"inserted": 2, "updated": 0, "unchanged": 0},
            target.usage: {"inserted": 6, "updated": 0, "unchanged": 0},
        },
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

    assert target.counts() == (4, 4)  # usage rows overwritten; a second balance snapshot added
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


def test_a_templated_table_name_is_validated_when_rendered(target, vendors):
    op = target.operator(usage_table="{{ params.table }}")
    op.usage_table = "x; DROP TABLE y"  # what rendering produced

    with pytest.raises(TableSchemaError):
        op.execute(context(JAN1, JAN1 + DAY))
    assert vendors["theirstack_default"].usage_calls == []  # refused before any vendor call


def test_a_templated_table_rendered_to_the_other_tables_name_is_refused(target, vendors):
    op = target.operator(usage_table="{{ params.table }}")
    op.usage_table = op.balances_table  # what rendering produced

    with pytest.raises(CreditsConfigError, match="name two tables"):
        op.execute(context(JAN1, JAN1 + DAY))
    assert vendors["theirstack_default"].usage_calls == []


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


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every statement the bulk upsert sends: (sql, params) where params is a list for executemany."""
    from airflow_provider_credits.storage import database

    calls: list[tuple[str, Any]] = []
    real = database.send

    def record(conn: Any, sql: str, params: Any) -> int:
        calls.append((sql, params))
        return real(conn, sql, params)

    monkeypatch.setattr(database, "send", record)
    return calls


def usage_row(dimension: str, amount: Any = 1, start: datetime = JAN1) -> dict[str, Any]:
    return {
        "vendor": "v", "account": "a", "pool": "p", "dimension": dimension, "period_start": start,
        "period_end": start + DAY, "amount": Decimal(amount), "unit": "credits", "fetched_at": JAN1,
    }  # fmt: skip


def upsert(db: Database, rows: Any, chunk_size: int = 5000) -> Any:
    """Upsert ``rows`` into a fresh usage table of ``db``; return the counts and the table name."""
    from airflow_provider_credits.storage.database import Database as Storage
    from airflow_provider_credits.storage.names import TableName
    from airflow_provider_credits.storage.tables import USAGE, table

    t = table(USAGE, TableName(db.table("u")))
    storage = Storage(db.hook())
    storage.prepare([t], create=True)
    with storage.begin(exclusive=True) as conn:
        return storage.upsert_many(conn, t, rows, chunk_size), t.name


def test_rows_are_streamed_in_chunks(sqlite_db, sent):
    pulled: list[int] = []

    def rows():
        for i in range(250):
            pulled.append(i)
            yield usage_row(str(i), i)

    seen = []
    from airflow_provider_credits.storage import database

    recording = database.send

    def spy(conn: Any, sql: str, params: Any) -> int:
        seen.append((sum(map(len, params)) if isinstance(params, list) else len(params), len(pulled)))
        return recording(conn, sql, params)

    database.send = spy
    try:
        counts, _ = upsert(sqlite_db, rows(), chunk_size=100)
    finally:
        database.send = recording

    assert counts.inserted == 250
    width = 9
    # per chunk of 100 rows: one executemany of full 111-row statements (none here) or one statement
    assert [(values // width, pulled_then) for values, pulled_then in seen] == [
        (100, 100),
        (100, 200),
        (50, 250),
    ]


def test_a_repeated_key_ends_with_its_last_row(database, sent):
    """As sequential upserts would leave it. PostgreSQL refuses a statement touching one row twice:
    only the last row is sent there; SQLite and MySQL apply the rows in order (repeats count as updates)."""
    counts, name = upsert(database, [usage_row("", 1), usage_row("", 2), usage_row("", 3)])

    assert len(sent) == 1
    assert [as_decimal(a) for (a,) in database.query(f"SELECT amount FROM {name}")] == [Decimal(3)]
    if database.kind == "postgres":
        assert counts.as_dict() == {"inserted": 1, "updated": 0, "unchanged": 0}
        assert len(sent[0][1]) == 9  # one row's values
    else:
        assert counts.as_dict() == {"inserted": 1, "updated": 2, "unchanged": 0}


def test_a_chunk_longer_than_a_statement_writes_and_counts_each_row_as_row_by_row_upserts(database, sent):
    """Statements hold 111 rows (999 values of 9 columns) on every database: a chunk of 300 rows is
    two full statements in one executemany, then the rest. A rerun that changes some rows, leaves
    the others and repeats a key in a later statement counts and writes each row once, in order."""
    from airflow_provider_credits.storage.database import Database as Storage
    from airflow_provider_credits.storage.names import TableName
    from airflow_provider_credits.storage.tables import USAGE, table

    t = table(USAGE, TableName(database.table("u")))
    storage = Storage(database.hook())
    storage.prepare([t], create=True)

    def write(rows: list[dict[str, Any]]) -> dict[str, int]:
        with storage.begin(exclusive=True) as conn:
            return storage.upsert_many(conn, t, rows).as_dict()

    assert write([usage_row(str(i), i) for i in range(300)]) == {
        "inserted": 300,
        "updated": 0,
        "unchanged": 0,
    }
    assert [len(group) for group in sent[0][1]] == [999, 999] and len(sent[1][1]) == 78 * 9
    again = [usage_row(str(i), i + 1 if i % 3 == 0 else i) for i in range(300)]  # 100 changed
    counts = write([*again, usage_row("1", 50)])  # "1" unchanged in the first statement, then changed

    # PostgreSQL sends a repeated key's last row only (see test_a_repeated_key_ends_with_its_last_row)
    unchanged = 199 if database.kind == "postgres" else 200
    assert counts == {"inserted": 0, "updated": 101, "unchanged": unchanged}
    assert len(sent) == 4
    amounts = {d: as_decimal(a) for d, a in database.query(f"SELECT dimension, amount FROM {t.name}")}
    assert len(amounts) == 300
    assert (amounts["0"], amounts["1"], amounts["2"], amounts["3"]) == (1, 50, 2, 4)


def test_a_row_of_the_wrong_shape_is_refused_before_its_chunk_is_sent(sqlite_db, sent):
    """A row missing a column, or holding one more, is refused before anything of its chunk is sent."""
    good = usage_row("x")
    short = {k: v for k, v in usage_row("y").items() if k != "fetched_at"}
    long = {**usage_row("z"), "extra": 1}

    for bad in (short, long):
        with pytest.raises(ValueError, match="every row must hold exactly the columns"):
            upsert(sqlite_db, [good, bad])
    assert sent == []


def test_sqlite_values_are_utc_text_and_numbers(sqlite_db):
    import pendulum

    plus_one = timezone(timedelta(hours=1))
    rows = [
        usage_row("a", "1.2500", datetime(2026, 1, 1, 1, 2, 3, 4, tzinfo=plus_one)),
        usage_row("b", 2, datetime(2026, 1, 1)),  # naive: UTC
        usage_row("c", 3, pendulum.datetime(2026, 7, 1, 2, tz="Europe/Paris")),
    ]
    _, name = upsert(sqlite_db, rows)

    got = dict(sqlite_db.query(f"SELECT dimension, period_start FROM {name}"))
    assert got == {
        "a": "2026-01-01 00:02:03.000004",
        "b": "2026-01-01 00:00:00.000000",
        "c": "2026-07-01 00:00:00.000000",
    }
    assert sqlite_db.query(f"SELECT typeof(amount), amount FROM {name} WHERE dimension = 'a'") == [
        ("real", 1.25)
    ]


def test_a_rerun_counts_inserted_updated_and_unchanged(target, vendors, caplog, capsys):
    first = target.run(JAN1, JAN1 + 3 * DAY)
    vendors["theirstack_default"].version = 2  # days 1 and 2 change, day 3 is zero in both versions

    second = target.run(JAN1, JAN1 + 4 * DAY)

    assert first["counts"][target.usage] == {"inserted": 6, "updated": 0, "unchanged": 0}
    assert second["counts"][target.usage] == {"inserted": 2, "updated": 4, "unchanged": 2}
    assert second["counts"][target.balances] == {"inserted": 2, "updated": 0, "unchanged": 0}
    logged = caplog.text + capsys.readouterr().out
    assert f"{target.usage}: 2 inserted, 4 updated, 2 unchanged" in logged


def test_an_unchanged_row_keeps_when_its_value_was_first_read(target, vendors):
    target.run(JAN1, JAN1 + DAY)
    before = target.db.query(f"SELECT dimension, fetched_at FROM {target.usage}")

    again = target.run(JAN1, JAN1 + DAY)

    assert again["counts"][target.usage] == {"inserted": 0, "updated": 0, "unchanged": 2}
    assert target.db.query(f"SELECT dimension, fetched_at FROM {target.usage}") == before


def test_a_rerun_for_a_past_date_adds_a_snapshot_and_never_changes_the_old_one(target, vendors):
    nov29 = datetime(2026, 11, 29, tzinfo=timezone.utc)
    ctx = context(nov29 - DAY, nov29)
    ctx["run_id"] = "scheduled__2026-11-29"
    target.operator().execute(ctx)
    old = target.snapshots()
    vendors["theirstack_default"].version = 3  # a day later the balance is lower

    rerun = context(nov29 - DAY, nov29)
    rerun["run_id"] = "manual__2026-11-30"
    target.operator().execute(rerun)  # airflow dags test <dag> 2026-11-29, run on 2026-11-30

    now = target.snapshots()
    assert now[: len(old)] == old  # the old snapshots, unchanged
    assert len(now) == 2 * len(old)
    new = now[len(old) :]
    assert {(p, ld, r) for p, _, ld, r, _ in new} == {
        ("api_credits", nov29, "manual__2026-11-30"),
        ("ui_credits", nov29, "manual__2026-11-30"),
    }
    assert all(f_new > f_old for (_, f_new, *_), (_, f_old, *_) in zip(new, old, strict=True))
    assert {rem for *_, rem in new} == {Decimal(960), Decimal(959)}


def test_a_vendor_error_names_the_connection(target, vendors):
    vendors["theirstack_default"].usage_error = CreditsServerError(
        "HTTP 503", vendor="theirstack", status=503
    )

    with pytest.raises(CreditsServerError, match="credits connection 'theirstack_default'"):
        target.run(JAN1, JAN1 + DAY)


def test_counts_are_exact_with_a_concurrent_writer(target, vendors, monkeypatch):
    """Run A pauses inside its write (after its first usage statement) while run B writes other rows."""
    import threading

    import airflow_provider_credits.storage.database as storage

    target.run(JAN1 - 10 * DAY, JAN1 - 9 * DAY)  # the tables exist
    a_paused, b_done = threading.Event(), threading.Event()
    real_send = storage.send

    def send(conn: Any, sql: str, params: Any) -> int:
        n = real_send(conn, sql, params)
        if threading.current_thread().name == "A" and target.usage in sql:
            a_paused.set()
            b_done.wait(3)  # B commits meanwhile, or waits for A (as it should)
        return n

    monkeypatch.setattr(storage, "send", send)
    counts: dict[str, Any] = {}

    def run(name: str, start: datetime, days: int) -> None:
        try:
            counts[name] = target.run(start, start + days * DAY)["counts"][target.usage]
        except Exception as exc:  # reported by the assertion below
            counts[name] = exc
        finally:
            if name == "B":
                b_done.set()

    a = threading.Thread(target=run, name="A", args=("A", JAN1, 3))
    a.start()
    assert a_paused.wait(30)
    b = threading.Thread(target=run, name="B", args=("B", JAN1 + 10 * DAY, 5))
    b.start()
    a.join(60)
    b.join(60)

    assert counts == {
        "A": {"inserted": 6, "updated": 0, "unchanged": 0},
        "B": {"inserted": 10, "updated": 0, "unchanged": 0},
    }


def test_a_write_waits_for_another_writers_table_lock_only_so_long(postgres_db, vendors, monkeypatch):
    """PostgreSQL: a writer stuck holding the table makes the run fail clearly, not hang forever."""
    import airflow_provider_credits.storage.database as storage
    from airflow_provider_credits.exceptions import CreditsStorageError

    target = Target(postgres_db)
    target.run(JAN1 - 10 * DAY, JAN1 - 9 * DAY)  # the tables exist
    before = target.counts()
    monkeypatch.setattr(storage, "WRITE_LOCK_TIMEOUT_S", 0.5)
    with (
        postgres_db.session_holding(f"LOCK TABLE {target.balances} IN SHARE ROW EXCLUSIVE MODE"),
        pytest.raises(CreditsStorageError, match=r"lock timeout"),
    ):
        target.run(JAN1, JAN1 + 3 * DAY)
    assert target.counts() == before  # nothing of the failed run was written
    assert target.run(JAN1, JAN1 + 3 * DAY)["counts"][target.usage]["inserted"] == 6  # the lock is gone


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

    assert first[target.usage] == second[target.usage]
    assert second["counts"][target.usage] == {"inserted": 0, "updated": 0, "unchanged": first[target.usage]}
    assert second["counts"][target.balances]["inserted"] == first[target.balances]  # a snapshot per read
    assert target.counts() == (2 * first[target.balances], first[target.usage])
    rows = target.db.query(f"SELECT vendor, COUNT(*) FROM {target.usage} GROUP BY vendor")
    assert {v for v, n in rows} == {"clay", "theirstack"}  # Clodura and Trendtrack have no usage API
    assert dict(rows)["theirstack"] == 7 * 2  # every day of the window, both pools, zeros included
