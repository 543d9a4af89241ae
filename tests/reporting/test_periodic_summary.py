"""The periodic report's plain-language findings, drivers, priority matrix and brand
benchmark (analysis.periodic with analysis.findings / drivers / benchmark)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from reference_data import instrument, raw_data

from analysis.benchmark import cluster_robust_pairwise
from analysis.drivers import drivers
from analysis.periodic import periodic_report, render_html


@pytest.fixture(scope="module")
def base():
    df, inst = raw_data(), instrument()
    return df, inst


def _two_periods(df, inst, shift: float) -> pd.DataFrame:
    """2026-Q3 as it is, and a copy of it as 2026-Q4 with every trust item moved by
    ``shift`` towards more trust (reverse-keyed items the other way), clipped to 1..7."""
    q3 = df[df["period"] == "2026-Q3"].copy()
    q4 = q3.copy()
    q4["period"] = "2026-Q4"
    q4["response_id"] = q4["response_id"].astype(str) + "b"
    for iid in inst.dimension_item_ids:
        s = -shift if iid in inst.reversed_item_ids else shift
        q4[iid] = np.clip(q4[iid] + s, 1, 7)
    return pd.concat([q3, q4], ignore_index=True)


@pytest.mark.parametrize(
    "shift, words", [(0.6, "Trust rose"), (-0.6, "Trust fell"), (0.0, "no significant change")]
)
def test_first_sentence_rise_fall_no_change(base, shift, words):
    df, inst = base
    r = periodic_report(_two_periods(df, inst, shift), inst, n_boot=20)
    c = r.change["trust_index"]
    first = r.key_findings[0]
    assert words in first
    assert "since 2026-Q3" in first and f"n = {r.focus_index['n']}" in first
    assert f"{r.focus_index['mean']:.1f} in 2026-Q4" in first
    if shift:
        assert c["p"] < 0.05 and (c["diff"] > 0) == (shift > 0)
        assert f"{abs(c['diff']):.1f} points" in first and "(significant" in first
    else:
        assert c["diff"] == pytest.approx(0, abs=1e-9)
        assert "+0.0 points" in first or "-0.0 points" in first
    assert 3 <= len(r.key_findings) <= 5
    # the findings come first in the text and in the HTML
    assert r.summary().splitlines()[3] == f"* {first}"
    html = render_html(r)
    assert html.index(str(escape(first))) < html.index("<h2>Trust Index</h2>")


def test_only_one_period_says_so(base):
    df, inst = base
    r = periodic_report(df[df["period"] == "2026-Q1"], inst, n_boot=20)
    assert "there is no earlier period to compare with" in r.key_findings[0]


def test_findings_name_dimensions_not_codes_and_define_pct_trusting(base):
    df, inst = base
    r = periodic_report(df, inst, n_boot=20)
    text = " ".join(r.key_findings)
    assert not re.search(r"\b(REL|HON|COM|EMP|CON|LOY|RISK)\b", text)
    pt = r.index[r.focus]["pct_trusting"]
    assert f"{pt['pct']:.0f}% of customers trust" in text
    assert "mean dimension score of 6 or more on the 1-7 scale" in text
    pr = r.priority
    top = pr["dimensions"][pr["most_important"]]["name"]
    low = pr["dimensions"][pr["lowest"]]["name"]
    imp = {k: v["importance_pct"] for k, v in pr["dimensions"].items()}
    near = [k for k in imp if imp[k] >= max(imp.values()) - 2.0]
    outcome = pr["outcome_name"].lower()
    if len(near) == 1:
        assert f"{top} drives {outcome} most" in text
    else:  # near-equal shares are not ranked in words
        assert f"drive {outcome} about equally" in text and f"{top} drives" not in text
        assert all(pr["dimensions"][k]["name"] in text for k in near)
    assert f"{low} scores lowest" in text


def test_priority_matrix_from_the_numbers(base):
    df, inst = base
    r = periodic_report(df, inst, n_boot=20)
    pr = r.priority
    d = r.drivers[pr["outcome"]]["overall"]
    dims = r.index[r.focus]["dimensions"]
    assert pr["outcome"] == inst.outcomes[0].id  # the first outcome block by default
    for k, row in pr["dimensions"].items():
        assert row["importance_pct"] == pytest.approx(100 * d["lmg"][k] / d["r2"])
        assert row["score"] == dims[k]["mean"]
        important = row["importance_pct"] > 100 / 5
        weak = row["score"] < np.mean([dims[j]["mean"] for j in dims])
        assert (row["quadrant"] == "fix first") == (important and weak)
    assert pr["fix_first"] == sorted(
        [k for k in pr["dimensions"] if pr["dimensions"][k]["quadrant"] == "fix first"],
        key=lambda k: -pr["dimensions"][k]["importance_pct"],
    )


def test_fix_first_called_out(base):
    """Make honesty the weakest and the strongest driver of loyalty in the focus period."""
    df, inst = base
    df = df.copy()
    q4 = df["period"] == "2026-Q4"
    rng = np.random.default_rng(5)
    hon = rng.integers(1, 6, int(q4.sum())).astype(float)
    for iid in ("HON1", "HON2", "HON4"):
        df.loc[q4, iid] = np.clip(hon + rng.integers(-1, 2, len(hon)), 1, 7)
    df.loc[q4, "HON3"] = 8 - df.loc[q4, "HON1"]  # reverse-keyed
    for iid in ("LOY1", "LOY2", "LOY3"):
        df.loc[q4, iid] = np.clip(np.round(hon + 1 + rng.normal(0, 0.5, len(hon))), 1, 7)
    r = periodic_report(df, inst, n_boot=20)
    pr = r.priority
    assert pr["outcome"] == "LOY" and pr["most_important"] == "HON" == pr["lowest"]
    assert pr["fix_first"][0] == "HON"
    name = pr["dimensions"]["HON"]["name"]
    assert any(f"{name} drives loyalty most" in s and "fix it first" in s for s in r.key_findings)
    html = render_html(r)
    assert str(escape(f"Fix first: {name}")) in html


def test_drivers_in_report_json_equal_the_drivers_of_the_focus_period(base):
    df, inst = base
    r = periodic_report(df, inst, segment="segment", n_boot=30, seed=4)
    out = r.to_dict()
    assert set(out["drivers"]) == {b.id for b in inst.outcomes}
    # the focus period's analysed rows: complete, careless excluded per period
    from analysis.careless import careless

    q4 = df[df["period"] == r.focus].reset_index(drop=True)
    q4 = q4[~careless(q4, inst).excluded.to_numpy()]
    alone = drivers(q4, inst, segment="segment", n_boot=30, seed=4).to_dict()
    for oid, v in alone.items():
        assert out["drivers"][oid]["overall"]["n"] == v["overall"]["n"]
        assert out["drivers"][oid]["overall"]["lmg"] == pytest.approx(v["overall"]["lmg"])
        for dim, ci in v["overall"]["lmg_ci95"].items():
            assert out["drivers"][oid]["overall"]["lmg_ci95"][dim] == pytest.approx(ci)
        assert set(out["drivers"][oid]["by_segment"]) == set(v["by_segment"])
    json.dumps(out, allow_nan=False)


@pytest.fixture(scope="module")
def branded(base):
    """The synthetic survey as a brand study: segment -> brand, pairs of rows share a
    respondent key, and a brand of 12 ratings that must be suppressed."""
    df, inst = base
    df = df.rename(columns={"segment": "brand"}).copy()
    df["respondent"] = "p" + (df.index // 2).astype(str)
    q4 = np.flatnonzero((df["period"] == "2026-Q4").to_numpy())
    df.loc[q4[:12], "brand"] = "tiny"
    r = periodic_report(
        df, inst, segment="brand", respondent_column="respondent", n_boot=100, seed=2
    )
    return df, inst, r


def test_brand_benchmark_uses_cluster_robust_ses(branded):
    df, inst, r = branded
    b = r.benchmark
    assert b["respondent_column"] == "respondent" and b["method"].startswith("CR1")
    shown = b["brands"]
    assert "tiny" not in shown and len(shown) >= 2
    # the same figures as cluster_robust_pairwise on the analysed focus rows
    assert b["clusters"] < b["n"]
    assert len(b["pairwise"]) == len(shown) * (len(shown) - 1) // 2
    p = [q["p"] for q in b["pairwise"]]
    from analysis.compare import holm

    assert [q["p_holm"] for q in b["pairwise"]] == pytest.approx(list(holm(p)))
    seg = r.segments["focus"]
    for q in b["pairwise"]:
        assert q["diff"] == pytest.approx(
            seg[q["b"]]["trust_index"]["mean"] - seg[q["a"]]["trust_index"]["mean"]
        )
    ranks = sorted(shown, key=lambda s: -seg[s]["trust_index"]["mean"])
    assert [b["rank"][s]["rank"] for s in ranks] == list(range(1, len(shown) + 1))
    for s in shown:
        lo, hi = b["rank"][s]["rank_ci95"]
        assert 1 <= lo <= b["rank"][s]["rank"] <= hi <= len(shown)
    assert b["invariance"]["supported"] in (True, False)
    assert b["invariance"]["statement"].startswith("Brand comparisons are")


def test_brand_benchmark_suppression_and_privacy(branded):
    df, inst, r = branded
    out = r.to_dict()
    assert out["segments"]["focus"]["tiny"]["trust_index"] == {"suppressed": True}
    for v in out["drivers"].values():
        assert v["by_segment"]["tiny"] == {"suppressed": True}
    assert "tiny" not in json.dumps(out["benchmark"])
    assert "tiny" not in json.dumps(out["priority"])
    blob = json.dumps(out) + render_html(r)
    assert not re.search(r"\bp\d+\b", blob)  # no respondent key reaches the output


def test_benchmark_figures_match_the_direct_computation(branded):
    df, inst, r = branded
    b = r.benchmark
    from analysis.careless import careless
    from analysis.scores import score

    q4 = df[df["period"] == r.focus].reset_index(drop=True)
    q4 = q4[~careless(q4, inst).excluded.to_numpy()].reset_index(drop=True)
    ti = score(q4, inst).frame["trust_index"]
    keep = q4["brand"].isin(b["brands"]).to_numpy()
    direct = cluster_robust_pairwise(
        ti[keep], q4["brand"][keep], q4["respondent"][keep], b["brands"]
    )
    for g, e in zip(b["pairwise"], direct["pairs"], strict=True):
        assert g["se"] == pytest.approx(e["se"], rel=1e-12)


def test_brand_section_in_html(branded):
    _, _, r = branded
    html = render_html(r)
    assert "Brand benchmark" in html or "brand benchmark" in html
    assert r.benchmark["invariance"]["statement"] in html
    w = r.benchmark["wald"]
    assert f"F({w['df'][0]}, {w['df'][1]}) = {w['F']:.2f}" in html
    # the Welch ANOVA needs independent groups: one rating per respondent, said so
    a, nest = r.segments["welch_anova"], r.settings["nesting"]
    assert a["one_rating_per_respondent"] and a["n"] <= nest["n_used"] < nest["n_ratings"]
    assert "this test needs independent groups" in html
    assert f"{nest['n_dropped']} of\n{nest['n_ratings']} ratings left out" in html
    for q in r.benchmark["pairwise"]:
        assert f"{q['b']} vs {q['a']}" in html


def test_level_axes_start_at_the_scale_minimum(base):
    """Trust Index and % trusting from 0, NPS from -100, dimension scores from the
    scale's minimum: small changes are not drawn as large ones."""
    from analysis.periodic import charts

    df, inst = base
    r = periodic_report(df, inst, segment="segment", n_boot=0)
    ch = charts(r)

    def ticks(svg: str) -> list[float]:
        return [
            float(t)
            for t in re.findall(
                r"text-anchor='(?:end|middle)' fill='#555'>"
                r"(-?[\d.]+)</text>",
                svg,
            )
        ]

    assert min(ticks(ch["trend"].svg)) == 0 and max(ticks(ch["trend"].svg)) == 100
    assert min(ticks(ch["trusting"].svg)) == 0
    assert min(ticks(ch["nps"].svg)) == -100
    assert min(ticks(ch["segment_trend"].svg)) == 0
    assert min(ticks(ch["dimension_change"].svg)) == r.scale[0]
    assert min(ticks(ch["dimensions"].svg)) == r.scale[0]
    # the priority matrix's score axis is zoomed, so it draws and states a break
    pm = ch["priority"].svg
    assert "axis broken: starts at" in pm and "Fix first" in pm
    for d, name in r.dimension_names.items():
        assert f">{name}</text>" in ch["dimension_change"].svg
        assert f">{d}</text>" not in ch["dimension_change"].svg


def test_analyze_period_chart_starts_at_zero():
    from analysis.html import charts
    from analysis.report import analyze

    df, inst = raw_data(), instrument()
    rep = analyze(df, inst, period="period", n_iter=5, n_boot=0)
    svg = charts(rep)["period"].svg
    assert ">0</text>" in svg and ">100</text>" in svg


def test_incident_sentence_from_the_rates():
    from analysis.findings import _incident_sentence

    def inc(prev: float, cur: float, other=(10.0, 10.5)):
        r = {
            "BR_FEE": {"Q3": {"pct": prev}, "Q4": {"pct": cur}},
            "BR_ADS": {"Q3": {"pct": other[0]}, "Q4": {"pct": other[1]}},
        }
        return {
            "items": ["BR_FEE", "BR_ADS"],
            "rates": r,
            "labels": {
                "BR_FEE": "A hidden fee or an unexpected charge",
                "BR_ADS": "Misleading advertising",
            },
        }

    s = _incident_sentence(inc(8.0, 16.1), "Q4", "Q3")
    assert s == (
        "Reports of \u201ca hidden fee or an unexpected charge\u201d doubled since Q3 "
        "(8.0% to 16.1% of customers)."
    )
    assert "rose 3.0-fold" in _incident_sentence(inc(5.0, 15.0), "Q4", "Q3")
    assert "halved" in _incident_sentence(inc(16.0, 8.0), "Q4", "Q3")
    s = _incident_sentence(inc(8.0, 9.0, other=(20.0, 14.0)), "Q4", "Q3")
    assert s.startswith("Reports of \u201cmisleading advertising\u201d fell since Q3")
    # a suppressed rate is never used
    x = inc(8.0, 16.1)
    x["rates"]["BR_FEE"]["Q4"] = {"suppressed": True}
    assert "hidden fee" not in _incident_sentence(x, "Q4", "Q3")
    assert _incident_sentence(None, "Q4", "Q3") is None
    # no previous period: the most reported incident
    assert (
        "most reported incident in Q4 is \u201cmisleading advertising\u201d"
        in _incident_sentence(inc(8.0, 9.0), "Q4", None)
    )
