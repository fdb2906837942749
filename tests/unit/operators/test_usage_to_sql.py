"""UsageToSqlOperator without a database: arguments, table names, the usage window, the rows it maps."""

from __future__ import annotations

import re
import sys
from datetime import timedelta

import pytest

from airflow_provider_credits.exceptions import CreditsConfigError, TableSchemaError
from airflow_provider_credits.models import UsageRecord
from airflow_provider_credits.operators.usage_to_sql import UsageToSqlOperator
from tests.support.parse_imports import modules_a_parse_imports, run_time_only
from tests.support.usage_fakes import DAY, JAN1, context


@pytest.mark.parametrize(
    "name",
    ["credit_usage; DROP TABLE x", "a.b.c", "credit-usage", '"credit_usage"', "1usage", "", "x" * 64, "ü"],
)
def test_hostile_or_invalid_table_names_are_rejected(name):
    with pytest.raises(TableSchemaError, match="invalid table name"):
        UsageToSqlOperator(task_id="t", credits_conn_id="c", sql_conn_id="d", usage_table=name)


def test_connection_arguments_are_unambiguous():
    op = UsageToSqlOperator(task_id="t", credits_conn_id=["a", "b", "a"], sql_conn_id="db")

    assert (op.conn_id, op.sql_conn_id, op.credits_conn_ids) == ("db", "db", ["a", "b"])
    with pytest.raises(CreditsConfigError, match=r"credits_conn_id .* sql_conn_id"):
        UsageToSqlOperator(task_id="t", credits_conn_id="a", sql_conn_id="db", conn_id="x")
    # common-sql's habit, without sql_conn_id: the same refusal, not "missing keyword argument"
    with pytest.raises(CreditsConfigError, match=r"sql_conn_id \(the database\), not conn_id"):
        UsageToSqlOperator(task_id="t", credits_conn_id="a", conn_id="x")


def test_sql_conn_id_stays_required():
    import inspect

    assert inspect.signature(UsageToSqlOperator).parameters["sql_conn_id"].default is inspect.Parameter.empty
    with pytest.raises(TypeError, match="missing keyword argument 'sql_conn_id'"):
        UsageToSqlOperator(task_id="t", credits_conn_id="a")


@pytest.mark.parametrize("where", ["dag", "task_group", "task"])
def test_a_conn_id_in_default_args_is_not_read_and_the_error_says_so(where):
    """common-sql's operators take ``conn_id`` from ``default_args``; this one reads ``sql_conn_id``
    only. Without it, the parse fails saying that ``conn_id`` is not read (not just "missing")."""
    from airflow.sdk import DAG, TaskGroup

    defaults = {"default_args": {"conn_id": "warehouse"}}
    with (
        DAG("d", schedule=None, **(defaults if where == "dag" else {})),
        TaskGroup("g", **(defaults if where == "task_group" else {})),
        pytest.raises(TypeError, match=r"missing keyword argument 'sql_conn_id' .*does not read conn_id"),
    ):
        UsageToSqlOperator(task_id="t", credits_conn_id="a", **(defaults if where == "task" else {}))


def test_a_default_conn_id_serves_common_sql_operators_and_default_sql_conn_id_this_one():
    """One DAG's ``default_args``: ``conn_id`` for its SQLExecuteQueryOperator tasks, ``sql_conn_id``
    (or the argument itself) for this operator; neither is taken for the other."""
    from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
    from airflow.sdk import DAG

    with DAG("d", schedule=None, default_args={"conn_id": "warehouse", "sql_conn_id": "usage_db"}):
        by_default = UsageToSqlOperator(task_id="t", credits_conn_id="a")
        explicit = UsageToSqlOperator(task_id="u", credits_conn_id="a", sql_conn_id="other_db")
        query = SQLExecuteQueryOperator(task_id="q", sql="SELECT 1")
    assert (by_default.sql_conn_id, by_default.conn_id) == ("usage_db", "usage_db")
    assert (explicit.sql_conn_id, explicit.conn_id) == ("other_db", "other_db")
    assert query.conn_id == "warehouse"


def test_a_missing_database_connection_fails_before_any_vendor_call(vendors, monkeypatch):
    """Vendors limit their requests (e.g. Lusha: 5 a minute): none is spent on a run that cannot write."""
    from airflow_provider_credits.operators import usage_to_sql
    from airflow_provider_credits.version_compat import AirflowException

    hooks: list[str] = []
    fake = usage_to_sql.get_credits_hook
    monkeypatch.setattr(
        usage_to_sql, "get_credits_hook", lambda conn_id: hooks.append(conn_id) or fake(conn_id)
    )
    op = UsageToSqlOperator(task_id="t", credits_conn_id="theirstack_default", sql_conn_id="no_such_db")

    with pytest.raises(AirflowException, match="no_such_db"):
        op.execute(context(JAN1, JAN1 + DAY))
    assert hooks == []


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


def test_remembered_timestamps_stay_bounded():
    from airflow_provider_credits.storage.database import _Memo

    memo = _Memo(lambda v: v.isoformat())
    values = [memo[JAN1 + i * timedelta(seconds=1)] for i in range(10_000)]

    assert values[-1] == "2026-01-01T02:46:39+00:00"
    assert len(memo) <= 4096


@pytest.mark.parametrize(
    "kwargs",
    [
        {"credits_conn_id": ""},
        {"credits_conn_id": []},
        {"chunk_size": 0},
        {"chunk_size": "10"},
        {"conn_id": "x"},
        {"balances_table": "counts"},  # a key of the summary beside the tables' row counts
        {"usage_table": "end"},
        {"balances_table": "credits", "usage_table": "credits"},
        {"sql_conn_id": ""},  # the run would read the vendors first, then find no database
        {"sql_conn_id": " "},
        {"sql_conn_id": None},
    ],
)
def test_bad_arguments_are_config_errors(kwargs):
    args = {"task_id": "t", "credits_conn_id": "c", "sql_conn_id": "d", **kwargs}
    with pytest.raises(CreditsConfigError):
        UsageToSqlOperator(**args)


def test_the_database_connection_is_one_templated_field_named_sql_conn_id(monkeypatch):
    op = UsageToSqlOperator(task_id="t", credits_conn_id="c", sql_conn_id="{{ params.db }}")
    assert "sql_conn_id" in op.template_fields
    assert "conn_id" not in op.template_fields

    op.render_template_fields({"params": {"db": "usage_db"}})

    # common-sql reads the id under its own name: both names give the rendered value
    assert (op.sql_conn_id, op.conn_id) == ("usage_db", "usage_db")
    monkeypatch.setenv("AIRFLOW_CONN_USAGE_DB", "sqlite:///:memory:")
    assert op.get_db_hook().get_conn_id() == "usage_db"


def test_an_empty_window_is_a_config_error():
    op = UsageToSqlOperator(
        task_id="t", credits_conn_id="c", sql_conn_id="d", start="2026-01-02", end="2026-01-01"
    )
    with pytest.raises(CreditsConfigError, match="empty usage window"):
        op.window(context(JAN1, JAN1 + DAY))


@pytest.mark.parametrize(
    ("start", "end", "bad"),
    [
        ("garbage", None, "start"),
        ("2026-13-01", None, "start"),
        ("2026-01-01T00:00:00+99:00", None, "start"),
        ("0001-01-01T00:00:00+05:00", None, "start"),
        (None, "not a date", "end"),
    ],
)
def test_an_unreadable_window_bound_is_a_config_error_naming_it(start, end, bad):
    op = UsageToSqlOperator(task_id="t", credits_conn_id="c", sql_conn_id="d", start=start, end=end)
    value = start if bad == "start" else end
    with pytest.raises(CreditsConfigError, match=rf"^{bad} .*{re.escape(repr(value))}"):
        op.window(context(JAN1, JAN1 + DAY))


def test_usage_records_map_onto_the_usage_table():
    """The operator copies a record's fields into a row: they must stay the table's columns."""
    from airflow_provider_credits.storage.tables import USAGE

    assert [*UsageRecord.model_fields, "fetched_at"] == [c.name for c in USAGE.columns]


@pytest.mark.parametrize(("database", "expected"), [(None, "test"), ("other", "other")])
def test_openlineage_outputs_on_mysql_are_in_the_database_written(monkeypatch, database, expected):
    """MySQL has no schemas: an unqualified table is in the connection's database, or ``database=``'s."""
    from airflow_provider_credits.storage.names import TableName

    monkeypatch.setenv("AIRFLOW_CONN_USAGE_MY", "mysql://root@db.example:3306/test")
    op = UsageToSqlOperator(task_id="t", credits_conn_id="c", sql_conn_id="usage_my", database=database)
    op._lineage = ([("https://api.theirstack.example", "acct")], [TableName("b"), TableName("u", "s")])

    lineage = op.get_openlineage_facets_on_complete(None)

    assert [(d.namespace, d.name) for d in lineage.outputs] == [
        ("mysql://db.example:3306", f"{expected}.b"),
        ("mysql://db.example:3306", "s.u"),
    ]


@pytest.mark.parametrize(
    ("balances", "usage"),
    [
        ("credits", "public.credits"),  # the default schema spelled out (PostgreSQL; main. on SQLite)
        ("Credits", "credits"),  # one table where names ignore case (SQLite, MySQL on Windows)
        ("s.credits", "S.CREDITS"),
        ("credits", "other.credits"),  # "other" may be the connection's default schema
    ],
)
def test_names_that_may_denote_one_table_are_refused(balances, usage):
    with pytest.raises(CreditsConfigError, match=r"may be one table: .* name two tables"):
        UsageToSqlOperator(
            task_id="t", credits_conn_id="c", sql_conn_id="d", balances_table=balances, usage_table=usage
        )


@pytest.mark.parametrize(("balances", "usage"), [("a.credits", "b.credits"), ("credits", "usage")])
def test_tables_of_one_name_in_two_named_schemas_are_two_tables(balances, usage):
    op = UsageToSqlOperator(
        task_id="t", credits_conn_id="c", sql_conn_id="d", balances_table=balances, usage_table=usage
    )
    assert (op.balances_table, op.usage_table) == (balances, usage)


def test_openlineage_on_start_is_empty_lineage_not_none(monkeypatch):
    """None makes OpenLineage warn "returns non-valid metadata: None" at every run."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    op = UsageToSqlOperator(task_id="t", credits_conn_id="c", sql_conn_id="d")

    assert op.get_openlineage_facets_on_start() == OperatorLineage()
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", None)  # not installed
    assert op.get_openlineage_facets_on_start() is None


def test_a_dag_parse_imports_no_run_time_module():
    """Importing and building the operator (every DAG parse) imports no models, storage tables or SQLAlchemy."""
    imported = modules_a_parse_imports(
        "from airflow_provider_credits.operators.usage_to_sql import UsageToSqlOperator\n"
        "with DAG('parse', schedule=None):\n"
        "    UsageToSqlOperator(task_id='u', credits_conn_id=['a', 'b'], sql_conn_id='db', usage_table='s.usage')\n"
    )
    assert "airflow_provider_credits.operators.usage_to_sql" in imported
    assert run_time_only(imported) == []
