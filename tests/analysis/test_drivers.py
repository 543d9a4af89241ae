"""Driver analysis (analysis.drivers) against base R (tests/reference/make_drivers.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis._result import AnalysisError
from analysis.drivers import (
    DriverResult,
    drivers,
    drivers_from_scores,
    lmg_from_corr,
    relative_importance,
)

REF = Path(__file__).parents[1] / "reference"
DIMS = ["REL", "HON", "COM", "EMP", "CON"]
OUTCOMES = ["TRUST", "LOY", "RISK"]


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "drivers_reference.json").read_text())


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "data" / "drivers.csv")


@pytest.fixture(scope="module")
def result(data):
    return drivers_from_scores(
        data,
        OUTCOMES,
        DIMS,
        segment=data["brand"],
        n_boot=200,
        seed=1,
        cluster=data["respondent"],
        min_n=30,
    )


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def _groups(ref):
    for y, v in ref["drivers"].items():
        yield y, "overall", v["overall"]
        for seg, d in v["by_segment"].items():
            yield y, seg, d


def test_lmg_r2_betas_agree_with_base_r(result, ref):
    out = result.to_dict()
    assert set(out) == set(OUTCOMES)
    checked = 0
    for y, seg, d in _groups(ref):
        got = out[y]["overall"] if seg == "overall" else out[y]["by_segment"][seg]
        assert got["n"] == d["n"]
        assert _rel(got["r2"], d["r2"]) < 1e-6
        for dim in DIMS:
            assert _rel(got["lmg"][dim], d["lmg"][dim]) < 1e-6, (y, seg, dim)
            assert _rel(got["std_beta"][dim], d["std_beta"][dim]) < 1e-6, (y, seg, dim)
        checked += 1
    assert checked == 12  # 3 outcomes x (overall + 3 brands)


def test_drivers_differ_by_segment(ref, result):
    """The reference data are built so: honesty drives Alpha, reliability Beta, empathy
    Gamma; the estimated top driver of TRUST per brand says the same."""
    top = {s: result.outcomes["TRUST"].by_segment[s].ranking[0] for s in ("Alpha", "Beta", "Gamma")}
    assert top == {"Alpha": "HON", "Beta": "REL", "Gamma": "EMP"}
    for s, dim in top.items():
        assert ref["drivers"]["TRUST"]["by_segment"][s]["lmg"][dim] == max(
            ref["drivers"]["TRUST"]["by_segment"][s]["lmg"].values()
        )


def test_shares_sum_to_r2(result):
    for od in result.outcomes.values():
        for d in [od.overall, *od.by_segment.values()]:
            assert isinstance(d, DriverResult)
            assert sum(d.lmg.values()) == pytest.approx(d.r2, rel=1e-12)


def test_json_shape(result):
    d = result.to_dict()["LOY"]
    assert set(d) == {"overall", "by_segment"}
    assert set(d["by_segment"]) == {"Alpha", "Beta", "Gamma"}
    one = d["overall"]
    assert set(one) == {"n", "r2", "lmg", "std_beta", "lmg_ci95"}
    assert set(one["lmg_ci95"]) == set(DIMS)
    json.dumps(result.to_dict(), allow_nan=False)


def test_bootstrap_ci_covers_estimate_and_is_reproducible(data, result):
    for od in result.outcomes.values():
        for d in [od.overall, *od.by_segment.values()]:
            for dim in DIMS:
                lo, hi = d.lmg_ci95[dim]
                assert lo < hi
                assert lo <= d.lmg[dim] <= hi
    again = drivers_from_scores(
        data, ["TRUST"], DIMS, n_boot=200, seed=1, cluster=data["respondent"]
    )
    assert again.outcomes["TRUST"].overall.lmg_ci95 == result.outcomes["TRUST"].overall.lmg_ci95
    other = drivers_from_scores(
        data, ["TRUST"], DIMS, n_boot=200, seed=2, cluster=data["respondent"]
    )
    assert other.outcomes["TRUST"].overall.lmg_ci95 != result.outcomes["TRUST"].overall.lmg_ci95


def test_bootstrap_matches_a_plain_resampling_loop(data):
    """The weighted-sum bootstrap equals refitting on resampled rows (same draws)."""
    sub = data[["TRUST", *DIMS]].dropna().reset_index(drop=True)
    res = relative_importance(sub, "TRUST", DIMS, n_boot=50, seed=7)
    rng = np.random.default_rng(7)
    draws = rng.integers(0, len(sub), (50, len(sub)))
    shares = np.array(
        [lmg_from_corr(np.corrcoef(sub.to_numpy()[i], rowvar=False))[1] for i in draws]
    )
    q = np.quantile(shares, [0.025, 0.975], axis=0)
    for j, dim in enumerate(DIMS):
        assert res.lmg_ci95[dim] == pytest.approx((q[0, j], q[1, j]), rel=1e-9)


def test_small_segments_suppressed(data):
    seg = data["brand"].where(data.index >= 20, "Tiny")
    res = drivers_from_scores(data, ["TRUST"], DIMS, segment=seg, n_boot=0, min_n=30)
    assert res.to_dict()["TRUST"]["by_segment"]["Tiny"] == {"suppressed": True}
    assert "n" in res.to_dict()["TRUST"]["by_segment"]["Alpha"]


def test_bootstrap_skipped_above_max_boot_n(data):
    res = drivers_from_scores(
        data, ["TRUST"], DIMS, segment=data["brand"], n_boot=20, max_boot_n=500
    )
    d = res.to_dict()["TRUST"]
    assert d["overall"]["lmg_ci95"]["REL"] == [None, None]  # 1217 rows > 500
    assert d["by_segment"]["Alpha"]["lmg_ci95"]["REL"][0] is not None
    assert any("no bootstrap" in n and "overall" in n for n in res.notes)


def test_bad_input_clear_errors(data):
    with pytest.raises(AnalysisError, match="not in the data"):
        relative_importance(data, "NOPE", DIMS)
    with pytest.raises(AnalysisError, match="no variation"):
        relative_importance(data.assign(CON=1.0), "TRUST", DIMS)
    with pytest.raises(AnalysisError, match="collinear"):
        relative_importance(data.assign(CON=data["REL"] + data["HON"]), "TRUST", DIMS)
    with pytest.raises(AnalysisError, match="complete rows"):
        relative_importance(data.head(5), "TRUST", DIMS)
    with pytest.raises(AnalysisError, match="n_boot"):
        relative_importance(data, "TRUST", DIMS, n_boot=-1)


def test_drivers_from_items_on_the_synthetic_survey():
    """The instrument-level entry point scores outcome blocks and dimensions itself."""
    from reference_data import instrument, raw_data

    df, inst = raw_data(), instrument()
    res = drivers(df, inst, segment="segment", n_boot=50, seed=0)
    out = res.to_dict()
    assert set(out) == {b.id for b in inst.outcomes}
    for v in out.values():
        assert set(v["by_segment"]) == set(df["segment"].dropna().astype(str))
        o = v["overall"]
        assert 0 < o["r2"] < 1
        assert sum(o["lmg"].values()) == pytest.approx(o["r2"], rel=1e-12)
    assert "Drivers" in res.summary()


def test_analyze_json_has_drivers_per_segment():
    """``trustmeter analyze`` (analysis.report.analyze) carries ``drivers`` in its JSON."""
    from reference_data import instrument, raw_data

    from analysis.report import analyze

    df, inst = raw_data(), instrument()
    rep = analyze(df, inst, segment="segment", keep_careless=True, n_iter=5, n_boot=40)
    out = rep.to_dict()["drivers"]
    assert set(out) == {b.id for b in inst.outcomes}
    for v in out.values():
        assert set(v["by_segment"]) == set(df["segment"].dropna().astype(str))
        assert sum(v["overall"]["lmg"].values()) == pytest.approx(v["overall"]["r2"], rel=1e-12)
    # the same figures as the stand-alone function on the same rows
    alone = drivers(df, inst, segment="segment", n_boot=40, seed=0)
    for oid, v in alone.to_dict().items():
        assert out[oid]["overall"]["lmg"] == pytest.approx(v["overall"]["lmg"], rel=1e-9)
        assert out[oid]["overall"]["lmg_ci95"] == v["overall"]["lmg_ci95"]
    assert any(v.startswith("Drivers of") for v in rep.verdicts)
