"""The benchmarks at smoke sizes: they must run and produce sane structure and counts (no timings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench_check, bench_dashboard, bench_import, bench_sql, bench_triggers, run

pytestmark = pytest.mark.integration


def test_import_bench_measures_both_sides() -> None:
    results = bench_import.run(quick=True)
    for name in ("credits sensor", "http sensor (baseline)"):
        target = results["targets"][name]
        assert target["ms"]["median"] > 0
        assert target["new_modules"]["median"] >= 1
    assert "credits sensor" in results["ratios"]
    assert "## 1." in bench_import.render(results)


def test_trigger_bench_counts_requests_per_account_and_interval() -> None:
    results = bench_triggers.run(quick=True)
    table = results["table"]
    for impl in bench_triggers.IMPLS:
        assert table[impl]["10x1"]["errors"] == []
    # before issue 17 (and the http baseline): one request per trigger and check
    for impl in ("per_trigger", "http"):
        assert table[impl]["10x1"]["requests"]["median"] == table[impl]["10x1"]["expected"]["median"] > 0
    assert (
        table["per_trigger"]["10x2"]["requests"]["median"]
        == table["per_trigger"]["10x2"]["expected"]["median"]
    )
    # shared: the 10 triggers of an account send one read per interval (plus a last check at a deadline)
    for key in ("10x1", "10x2"):
        assert 1 <= table["credits"][key]["requests_per_account_interval"]["median"] <= 1.5
        assert table["credits"][key]["events"]["median"] == 10  # each trigger ends at its deadline
    assert "http" not in table or "10x2" not in table["http"]
    text = bench_triggers.render(results)
    assert "## 2." in text and "requests / account / interval" in text


def test_sql_bench_writes_every_row() -> None:
    results = bench_sql.run(quick=True)
    sqlite = results["throughput"]["sqlite"]
    assert sqlite["operator"]["counts_ok"] and sqlite["executemany"]["counts_ok"]
    assert sqlite["ratio_vs_executemany"] > 0
    assert sqlite["paired_ratios"] == [
        pytest.approx(
            sqlite["operator"]["rows_per_s"]["median"] / sqlite["executemany"]["rows_per_s"]["median"]
        )
    ]  # one repeat: one pair
    assert {int(n) for n in results["memory"]} == {200, 2000}
    assert all(r["count"] == r["written"] for r in results["memory"].values())
    text = bench_sql.render(results)
    assert "## 3." in text and "per pair" in text


def test_sql_throughput_target_needs_the_paired_median_the_medians_and_the_best_runs() -> None:
    def results(pairs: list[float] | None, medians: tuple[float, float], best: tuple[float, float]) -> Any:
        def path(median: float, high: float) -> dict[str, Any]:
            return {"rows_per_s": {"median": median, "min": median, "max": high}}

        entry = {
            "operator": path(medians[0], best[0]),
            "executemany": path(medians[1], best[1]),
            "ratio_vs_executemany": medians[0] / medians[1],
        }
        if pairs is not None:
            entry["paired_ratios"] = pairs
        memory = {"10": {"peak_rss_growth_mb": 1.0}}
        return {"throughput": {"sqlite": entry}, "memory": memory}

    def met(*args: Any) -> bool:
        (throughput, _memory) = bench_sql.targets(results(*args)).values()
        return throughput

    assert met([0.6, 0.8, 0.9], (80, 100), (90, 120))
    assert not met([0.6, 0.65, 0.9], (80, 100), (90, 120))  # the pairs' median misses
    assert not met([0.8, 0.8, 0.8], (69, 100), (90, 120))  # the medians miss
    assert not met([0.8, 0.8, 0.8], (80, 100), (80, 130))  # the best runs miss (a lucky baseline run)
    assert met(None, (80, 100), (90, 120))  # results written before pairs: the other two measures


def test_check_bench_counts_one_request_per_check() -> None:
    results = bench_check.run(quick=True)
    for mode in bench_check.MODES:
        assert results["modes"][mode]["requests_per_check"]["median"] == 1.0
    assert results["target_met"]["exactly 1 request per check (sync and async)"]
    assert "## 4." in bench_check.render(results)


def test_header_names_machine_and_load() -> None:
    text = run.header(run.machine(), ["import: 1.00 / 1.00 / 1.00"], 60.0, quick=True)
    assert "load average" in text and "Python" in text
    assert isinstance(run.ROOT, Path)


def test_dashboard_bench_times_every_route() -> None:
    results = bench_dashboard.run(quick=True)
    sqlite = results["databases"]["sqlite"]
    assert set(sqlite["routes"]) == set(bench_dashboard.ROUTES)
    assert all(r["calls"] == 3 and r["p95_ms"] > 0 for r in sqlite["routes"].values())
    assert sqlite["counts"]["usage"] == 2_000
    assert "## 5." in bench_dashboard.render(results)
