"""The Credits app in-process on an in-memory SQLite database, its authentication replaced (Airflow's,
on real databases: tests/integration/plugins): the page, its files, the JSON API's envelope and
errors, the budgets setting, and the self-contained page ``make demo`` writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from airflow_provider_credits.plugins import data
from airflow_provider_credits.plugins.app import (
    DataSource,
    DataUnavailable,
    create_app,
    render_page,
    write_page,
)
from airflow_provider_credits.storage.database import Database
from tests.support.dashboard import NOW


class MemorySource(DataSource):
    """A data source that is the given database."""

    def __init__(self, db: Database) -> None:
        super().__init__("memory_db", data.Tables())
        self.db = db

    def database(self) -> Database:
        return self.db


pytestmark = pytest.mark.usefixtures("fresh_catalog")


@pytest.fixture
def client(seeded_memory_db: Database) -> Iterator[TestClient]:
    with TestClient(
        create_app(MemorySource(seeded_memory_db), clock=lambda: NOW, auth=lambda: None)
    ) as test_client:
        yield test_client


def test_the_api_wraps_rows_in_an_envelope(client: TestClient) -> None:
    body = client.get("/api/balances", params={"vendor": "clay"}).json()
    assert (body["generated_at"], body["conn_id"]) == ("2026-11-30T12:00:00Z", "memory_db")
    assert [(r["vendor"], r["remaining"]) for r in body["data"]] == [("clay", 800.0)]
    history = client.get("/api/history", params={"vendor": "clay"}).json()
    assert history["since"] == "2026-09-01T12:00:00Z"  # 90 days before now by default
    assert client.get("/api/status").json()["state"] == "ok"


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        ("/api/usage", {"since": "soon"}, "since must be an ISO 8601 date or time"),
        ("/api/history", {"since": "2026-11-30", "until": "2026-11-01"}, "until must be later than since"),
    ],
)
def test_a_bad_time_range_is_a_400_saying_why(
    client: TestClient, path: str, params: dict, detail: str
) -> None:
    answer = client.get(path, params=params)
    assert answer.status_code == 400 and detail in answer.json()["detail"]


def test_the_page_and_its_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "window.CREDITS_DATA = null;" in page.text
    script = client.get("/static/credits.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/secrets.txt").status_code == 404


def test_a_source_that_cannot_be_read_is_a_503_with_its_state(memory_db: Database) -> None:
    class Missing(MemorySource):
        def database(self) -> Database:
            raise DataUnavailable("missing_connection", "create it")

    app = create_app(Missing(memory_db), clock=lambda: NOW, auth=lambda: None)
    with TestClient(app) as client:
        answer = client.get("/api/reservations")
    assert answer.status_code == 503
    assert answer.json() == {
        "detail": {"state": "missing_connection", "conn_id": "memory_db", "message": "create it"}
    }


@pytest.mark.parametrize("raw", ['["my_dag"]', '{"my_dag": "lots"}', '{"my_dag": true}', "{not json"])
def test_budgets_must_be_a_json_object_of_numbers(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CREDITS__DASHBOARD_BUDGETS", raw)
    with pytest.raises(DataUnavailable, match="must be a JSON object of numbers") as info:
        DataSource("db").budgets()
    assert info.value.state == "bad_config"


def test_budgets_per_dag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CREDITS__DASHBOARD_BUDGETS", '{"my_dag": 5000, "team": 2.5}')
    assert DataSource("db").budgets() == {"my_dag": 5000, "team": 2.5}


def test_the_self_contained_page_embeds_the_data_script_and_styles(
    seeded_memory_db: Database, tmp_path: Path
) -> None:
    page = write_page(
        seeded_memory_db, data.Tables(), tmp_path / "credits.html", now=NOW, budgets={"lead_scoring": 100}
    )

    html = page.read_text()
    assert 'src="static/' not in html and 'href="static/' not in html
    embedded = json.loads(
        html.split("window.CREDITS_DATA = ", 1)[1].split(";</script>", 1)[0].replace("<\\/", "</")
    )
    assert embedded["conn_id"] == "memory" and embedded["generated_at"] == "2026-11-30T12:00:00Z"
    assert {r["key"] for r in embedded["spend"]} == {"credit_gated_enrichment", "lead_scoring"}


def test_embedded_data_cannot_close_the_script_tag() -> None:
    html = render_page({"note": "</script><script>alert(1)</script>"})
    assert "</script><script>alert(1)" not in html and "<\\/script>" in html
