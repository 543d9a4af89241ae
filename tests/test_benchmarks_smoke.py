"""The benchmark harness still runs (tiny sizes): ``make bench`` must not rot.

Speed itself is measured by ``make bench``, never asserted in tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.web import FLOORS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench_env(tmp_path_factory):
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BENCH_SCALE": "tiny",
        "BENCH_CACHE": str(tmp_path_factory.mktemp("bench-cache")),
    }


def run_bench(bench_env: dict, tmp_path: Path, sections: str, *, timeout: float) -> Path:
    """``python -m benchmarks`` with ``BENCH_ONLY=sections``; the results file written."""
    out = tmp_path / "results.json"
    env = {**bench_env, "BENCH_OUT": str(out), "BENCH_ONLY": sections}
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return out


def test_harness_tiny(bench_env, tmp_path):
    out = run_bench(bench_env, tmp_path, "analysis,web", timeout=120)
    res = json.loads(out.read_text())
    size = res["analysis"]["sizes"]["2000"]
    assert size["analysis.trustmeter"]["wall_median"] > 0
    assert size["analysis.trustmeter"]["extra"]["n_complete"] > 1000
    web = res["web"]
    assert web["survey"]["completed_per_s"] > 0 and web["survey"]["errors"] == 0
    assert web["trivial"]["requests_per_s"] > 0
    for floor in FLOORS:  # benchmarks/floor_app.py, walked alike
        assert web[floor]["completed_per_s"] > 0 and web[floor]["errors"] == 0
        assert web[f"ratio_{floor}"] > 0
    assert "survey flow requests" in res["table"] and "floor, pages prerendered" in res["table"]


def test_harness_respondents_during_exports(bench_env, tmp_path):
    """The section that times respondents while two exports run against a real server
    (``benchmarks/exports_live.py``) still runs; its figures are ``make bench``'s."""
    out = run_bench(bench_env, tmp_path, "web_exports", timeout=240)
    we = json.loads(out.read_text())["web_exports"]
    for window in ("baseline", "during_exports"):
        assert we[window]["completed_per_s"] > 0 and we[window]["errors"] == 0
    assert len(we["export_progress"]) == 2
    own, with_children = (
        we["export_worker_cpu_s_in_window"],
        we["export_worker_and_children_cpu_s_in_window"],
    )
    assert own is not None and with_children is not None and with_children >= own >= 0
    assert we["export_progress"][0]["state_before"] in ("running", "done")
    assert "exports running" in json.loads(out.read_text())["table"]


def test_matrix_loader_matches_frame(bench_env, monkeypatch):
    from benchmarks import data
    from survey.storage.db import open_db
    from survey.storage.store import load_campaign_frame, load_campaign_matrix

    monkeypatch.setenv("BENCH_CACHE", bench_env["BENCH_CACHE"])
    with open_db(data.db_path(300)) as db:
        x, ids, items = load_campaign_matrix(db, data.SLUG)
        df, inst = load_campaign_frame(db, data.SLUG)
        sub, _, _ = load_campaign_matrix(db, data.SLUG, items[3:1:-1])
        every, every_ids, _ = load_campaign_matrix(db, data.SLUG, complete_only=False)
    assert items == list(inst.item_ids)
    np.testing.assert_array_equal(ids, df["response_id"].to_numpy())
    np.testing.assert_array_equal(x, df[items].to_numpy(dtype=float))
    np.testing.assert_array_equal(sub, df[items[3:1:-1]].to_numpy(dtype=float))
    assert len(every_ids) > len(ids) and np.isnan(x).any()


def test_export_and_load_sections_tiny(bench_env, tmp_path):
    """Every export format is timed and its peak RSS growth compared with one chunk's;
    the xlsx is read back whole with openpyxl read-only."""
    import shutil

    if not shutil.which("sqlite3"):
        pytest.skip("the sqlite3 command is not installed (the export baseline)")
    out = run_bench(bench_env, tmp_path, "load,export", timeout=300)
    res = json.loads(out.read_text())
    assert res["load"]["tasks"]["load.matrix"]["ratio_to_baseline"] > 0
    tasks = res["export"]["tasks"]
    n = res["export"]["n"]
    for fmt in ("csv", "sav", "dta", "parquet", "json", "xlsx"):
        t = tasks[f"export.{fmt}"]
        assert t["extra"]["rows"] == n, fmt
        assert t["peak_growth_mb"] >= 0 and t["peak_vs_chunk"] >= 0, fmt
    assert tasks["export.xlsx_readback"]["extra"]["rows"] == n
    assert tasks["export.chunk"]["extra"]["rows"] == n  # tiny: one chunk holds every row
    assert tasks["export.careless"]["extra"]["excluded"] > 0
    assert "peak RSS growth" in res["table"] and "export xlsx" in res["table"]
