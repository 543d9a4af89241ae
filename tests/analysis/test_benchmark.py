"""Brand benchmark (analysis.benchmark): CR1 cluster-robust comparisons against the
base-R sandwich in tests/reference/make_drivers.R, and bootstrap rank intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis._result import AnalysisError
from analysis.benchmark import cluster_robust_pairwise, rank_intervals

REF = Path(__file__).parents[1] / "reference"
BRANDS = ["Alpha", "Beta", "Gamma"]


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "data" / "drivers.csv")


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "drivers_reference.json").read_text())["cluster_robust"]


def test_cr1_agrees_with_base_r_sandwich(data, ref):
    assert ref["type"] == "CR1"
    r = ref["result"]
    got = cluster_robust_pairwise(data["trust_index"], data["brand"], data["respondent"], BRANDS)
    assert got["n"] == r["n"] and got["clusters"] == r["clusters"]
    for b in BRANDS:
        assert got["means"][b] == pytest.approx(r["means"][b], rel=1e-9)
        assert got["se"][b] == pytest.approx(r["se"][b], rel=1e-9)
    assert got["wald"]["df"] == [r["wald"]["df1"], r["wald"]["df2"]]
    assert got["wald"]["F"] == pytest.approx(r["wald"]["F"], rel=1e-6)
    assert got["wald"]["p"] == pytest.approx(r["wald"]["p"], rel=1e-6)
    assert len(got["pairs"]) == len(r["pairs"]) == 3
    for g, e in zip(got["pairs"], r["pairs"], strict=True):
        assert (g["a"], g["b"], g["df"]) == (e["a"], e["b"], e["df"])
        for key in ("diff", "se", "t", "p", "p_holm"):
            assert g[key] == pytest.approx(e[key], rel=1e-6), key


def test_clustering_matters(data):
    """Respondents rate several brands with a shared respondent effect: ignoring the
    clusters gives different (here smaller) SEs for the differences."""
    cl = cluster_robust_pairwise(data["trust_index"], data["brand"], data["respondent"], BRANDS)
    iid = cluster_robust_pairwise(data["trust_index"], data["brand"], None, BRANDS)
    assert iid["clusters"] == iid["n"]
    for a, b in zip(cl["pairs"], iid["pairs"], strict=True):
        assert a["diff"] == pytest.approx(b["diff"])
        assert a["se"] < b["se"]  # positive within-respondent correlation


def test_rank_intervals(data):
    r = rank_intervals(
        data["trust_index"], data["brand"], data["respondent"], BRANDS, n_boot=300, seed=3
    )
    # means 65.6 > 61.3 > 56.9 with SEs below 1: clear ranks
    assert {b: r[b]["rank"] for b in BRANDS} == {"Alpha": 1, "Beta": 2, "Gamma": 3}
    assert {b: tuple(r[b]["rank_ci95"]) for b in BRANDS} == {
        "Alpha": (1, 1),
        "Beta": (2, 2),
        "Gamma": (3, 3),
    }
    # two brands with equal means: both ranks uncertain
    y = data["trust_index"].where(
        data["brand"] != "Beta", data["trust_index"] + 65.5730744336569 - 61.345924497992
    )
    r2 = rank_intervals(y, data["brand"], data["respondent"], BRANDS, n_boot=300, seed=3)
    assert r2["Alpha"]["rank_ci95"] == [1, 2] and r2["Beta"]["rank_ci95"] == [1, 2]
    assert r2["Gamma"]["rank_ci95"] == [3, 3]
    assert (
        rank_intervals(
            data["trust_index"], data["brand"], data["respondent"], BRANDS, n_boot=300, seed=3
        )
        == r
    )


def test_bad_input(data):
    with pytest.raises(AnalysisError, match="2 or more ratings"):
        cluster_robust_pairwise(
            data["trust_index"], data["brand"], data["respondent"], [*BRANDS, "Nobody"]
        )
    bad = data["respondent"].where(data.index > 3, None)
    with pytest.raises(AnalysisError, match="respondent key is missing"):
        cluster_robust_pairwise(data["trust_index"], data["brand"], bad, BRANDS)
    assert np.isfinite(
        cluster_robust_pairwise(data["trust_index"], data["brand"], None, BRANDS)["pairs"][0]["p"]
    )
