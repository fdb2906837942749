"""version_compat: the one place that knows which Airflow is installed."""

from __future__ import annotations

import re
from importlib import metadata

import pytest

from airflow_provider_credits import version_compat
from airflow_provider_credits.version_compat import (
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_V_3_3_PLUS,
    AIRFLOW_VERSION,
    MIN_AIRFLOW_VERSION,
    parse_version,
)
from tests.support import ROOT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.1.8", (3, 1, 8)),
        ("3.2.0rc1", (3, 2, 0)),
        ("3.3.0.dev0", (3, 3, 0)),
        ("3.2", (3, 2, 0)),
        ("10.0.1+astro.1", (10, 0, 1)),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", ["", "main", "three.one"])
def test_parse_version_refuses_what_is_not_a_version(text: str) -> None:
    with pytest.raises(ValueError, match="not a version number"):
        parse_version(text)


def test_flags_follow_the_installed_airflow() -> None:
    import airflow

    assert parse_version(airflow.__version__) == AIRFLOW_VERSION
    assert (AIRFLOW_VERSION >= (3, 2, 0)) is AIRFLOW_V_3_2_PLUS
    assert (AIRFLOW_VERSION >= (3, 3, 0)) is AIRFLOW_V_3_3_PLUS
    assert AIRFLOW_VERSION >= MIN_AIRFLOW_VERSION


def test_falls_back_to_airflow_version_without_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(version_compat.metadata, "version", missing)
    assert version_compat.get_airflow_version() == parse_version(airflow.__version__)


def test_exceptions_are_the_ones_the_task_runner_catches() -> None:
    """The sensor raises these; the installed task runner must recognise them."""
    module = "airflow.sdk.exceptions" if AIRFLOW_V_3_2_PLUS else "airflow.exceptions"
    for name in ("AirflowException", "AirflowSensorTimeout", "AirflowSkipException", "TaskDeferred"):
        assert getattr(version_compat, name).__module__ == module, name


def test_pyproject_declares_the_tested_floor() -> None:
    floors = re.findall(r'^\s*"apache-airflow>=([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert floors == [".".join(map(str, MIN_AIRFLOW_VERSION))]
    makefile = (ROOT / "Makefile").read_text()
    compat = re.search(r"^COMPAT_AIRFLOW_VERSIONS\s*\?=\s*(.+)$", makefile, re.M)
    assert compat is not None
    assert ".".join(map(str, MIN_AIRFLOW_VERSION)) in compat.group(1).split()  # the floor is tested


async def test_async_masking_registers_the_secret() -> None:
    from airflow.sdk import log

    await version_compat.amask_secret("compat-secret-4242")
    assert log.redact("token compat-secret-4242") == "token ***"


async def test_aextra_dejson_reads_the_extras() -> None:
    from airflow.sdk import Connection

    conn = Connection(conn_id="x", conn_type="theirstack", extra='{"workspace_id": "ws-1"}')
    assert await version_compat.aextra_dejson(conn) == {"workspace_id": "ws-1"}
