"""``python -m airflow_provider_credits.sandbox`` without serving: its options, the scenarios its help
lists, and a clear exit 2 on options it cannot start with (serving: tests/integration/sandbox/test_cli.py)."""

from __future__ import annotations

import pytest

from airflow_provider_credits.sandbox import __main__ as cli
from airflow_provider_credits.sandbox.faults import SCENARIOS


def test_the_help_lists_every_fault_scenario_with_its_defaults() -> None:
    epilog = cli._parser().epilog or ""
    assert all(name in epilog for name in SCENARIOS)
    assert "[retry_after=1]" in epilog


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("sandbox.lan", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert cli._is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (
            ["--port", "0", "--fault", "clay:meteor"],
            "sandbox: cannot start: scenario: unknown fault scenario 'meteor'",
        ),
        (
            ["--port", "0", "--fault", "clay"],
            "sandbox: cannot start: --fault 'clay': expected vendor:scenario",
        ),
        (["--port", "0", "--seed-file", "{seed_file}"], "a seed file holds a JSON object"),
    ],
)
def test_options_it_cannot_start_with_exit_2_saying_why(
    argv: list[str], words: str, tmp_path, capsys
) -> None:
    seed_file = tmp_path / "seed.json"
    seed_file.write_text("[1, 2]")
    assert cli.main([arg.format(seed_file=seed_file) for arg in argv]) == 2
    assert words in capsys.readouterr().err


def test_an_unknown_clodura_plan_is_refused_by_the_parser(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--clodura-plan", "gold"])
    assert exit_.value.code == 2 and "invalid choice: 'gold'" in capsys.readouterr().err
