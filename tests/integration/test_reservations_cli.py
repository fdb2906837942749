"""``python -m airflow_provider_credits.reservations list|release``: no SQL needed to see and free held credits."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from airflow_provider_credits.reservations import Holder, ReservationStore, main
from tests.support.databases import Database
from tests.support.reservations import hold, new_store


@pytest.fixture
def held(database: Database) -> ReservationStore:
    store = new_store(database)
    hold(store, 100, "gate", run_id="run_1")
    hold(store, 250, "gate", run_id="run_2")
    hold(store, 40, "gate", run_id="run_3", connection_id="another_account")
    return store


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_prints_the_active_reservations(held, capsys):
    code, out, _ = cli(capsys, "list", "--conn-id", held.conn_id, "--table", held.table)

    assert code == 0
    header, rule, *rows = out.splitlines()[:5]
    assert header.split()[:4] == ["reservation_id", "connection_id", "pool", "amount"]
    assert set(rule) == {"-", " "}
    assert {(r.split()[1], r.split()[3], r.split()[5]) for r in rows} == {
        ("credits_test", "100", "run_1"),
        ("credits_test", "250", "run_2"),
        ("another_account", "40", "run_3"),
    }
    assert "3 active reservation(s), 390 credits held" in out


def test_list_of_one_credits_connection(held, capsys):
    code, out, _ = cli(
        capsys, "list", "--conn-id", held.conn_id, "--table", held.table, "--vendor-conn", "another_account"
    )

    assert code == 0
    assert "1 active reservation(s), 40 credits held" in out


def test_release_by_id_then_by_run_then_by_dag(held, capsys):
    one = Holder("dag", "run_1", "gate").reservation_id

    assert cli(capsys, "release", "--conn-id", held.conn_id, "--table", held.table, "--id", one)[:2] == (
        0,
        "released 1 reservation(s)\n",
    )
    code, _, err = cli(capsys, "release", "--conn-id", held.conn_id, "--table", held.table, "--id", one)
    assert code == 1 and "nothing matched" in err  # already released
    args = ("release", "--conn-id", held.conn_id, "--table", held.table, "--dag-id", "dag")
    assert cli(capsys, *args, "--run-id", "run_2")[0] == 0
    assert {r.run_id for r in held.list_active()} == {"run_3"}
    assert cli(capsys, *args)[1] == "released 1 reservation(s)\n"
    assert held.list_active() == []
    assert cli(capsys, "list", "--conn-id", held.conn_id, "--table", held.table)[1].startswith(
        "no active reservations"
    )


def test_errors_exit_1_with_a_message(sqlite_db, capsys):
    code, _, err = cli(capsys, "list", "--conn-id", "no_such_connection")
    assert code == 1 and "no_such_connection" in err

    code, _, err = cli(capsys, "list", "--conn-id", sqlite_db.conn_id, "--table", "absent")
    assert code == 1 and "TableSchemaError" in err and "absent" in err


def test_runs_as_a_module(sqlite_db, capsys):
    store = new_store(sqlite_db)
    hold(store, 70, "gate")

    done = subprocess.run(
        [sys.executable, "-m", "airflow_provider_credits.reservations", "list", "--conn-id", sqlite_db.conn_id,
         "--table", store.table],
        capture_output=True, text=True, env=os.environ.copy(), timeout=120,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "1 active reservation(s), 70 credits held" in done.stdout
