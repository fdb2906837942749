"""The sandbox's state: seeded balances and history, spending, top-ups, faults and the request log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_provider_credits.sandbox.state import SandboxState


def test_seed_makes_history_deterministic(tmp_path: Path) -> None:
    one, same, other = SandboxState(seed=7), SandboxState(seed=7), SandboxState(seed=8)
    assert one.to_json()["history"] == same.to_json()["history"] != other.to_json()["history"]
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(
        json.dumps({"seed": 8, "pools": {"clay": {"credits": {"remaining": 5}}}, "clodura_plan": "prospect"})
    )
    loaded = SandboxState.from_file(seed_file)
    assert loaded.pool("clay").remaining == 5
    assert loaded.clodura_plan == "prospect"

    def not_clodura(state: SandboxState) -> dict[Any, float]:
        return {key: amount for key, amount in state.history.items() if key[0] != "clodura"}

    assert not_clodura(loaded) == not_clodura(other)  # the file's seed; the plan changes only Clodura
    assert SandboxState.from_file(seed_file, clodura_plan="unified").clodura_plan == "unified"  # options win
    seed_file.write_text(json.dumps(one.to_json()))  # a saved state reloads as it was
    assert SandboxState.from_file(seed_file, seed=99).to_json()["pools"] == one.to_json()["pools"]
