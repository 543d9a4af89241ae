"""Brand ratings nested in respondents in the periodic report and ``trustmeter analyze``
(issue 11, item 1: "cluster-robust standard errors, or one rating per respondent").

People rate 2 or 3 brands each (a person effect plus a brand effect, so ratings of one
person are correlated); a few come with one brand from the link. The report:

* uses ``brand`` as its segment by default and ``respondent`` as the cluster key;
* gives CR1 standard errors equal to a direct sandwich computation (X'X)^-1 B (X'X)^-1
  written out here with the design matrix (``tests/analysis/test_benchmark.py`` checks
  the same estimator against R's ``sandwich::vcovCL`` via ``make_drivers.R``);
* runs the invariance check, reliability, CFA and Welch's ANOVA on one rating per
  respondent (n = the number of respondents: the first in each random order), and says
  so in the JSON, the HTML and the text summary.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from brand_fixtures import brand_campaign
from click.testing import CliRunner
from store_fixtures import small_instrument

from analysis.data import check_items, dimension_model, reverse_key
from analysis.invariance import measurement_invariance
from analysis.nesting import one_per_respondent
from analysis.scores import score
from survey.cli import main
from survey.reporting.periodic import build_report, render_html
from survey.storage import store
from survey.storage.db import init_db, open_db

PEOPLE = 240
LINK_PEOPLE = 10  # with one brand from the link (no brand position)


@pytest.fixture(scope="module")
def brand_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("brandreport")
    path = d / "b.db"
    with open_db(path) as db:
        init_db(db)
        inst = small_instrument(d)
        made = brand_campaign(
            db, inst, people=PEOPLE, per_person=(2, 3), seed=42, param_brand_people=LINK_PEOPLE
        )
        frame, inst = store.load_campaign_frame(db, "brands")
    return path, inst, made, frame


@pytest.fixture(scope="module")
def report(brand_db):
    path, *_ = brand_db
    with open_db(path) as db:
        return build_report(db, ["brands"], keep_careless=True)


def _direct_cr1(y: np.ndarray, brand: np.ndarray, cluster: np.ndarray, names: list[str]):
    """CR1 covariance of the brand means from the design matrix, written out:
    V = c (X'X)^-1 [sum_g X_g' e_g e_g' X_g] (X'X)^-1, c = G/(G-1) (N-1)/(N-K)."""
    x = (brand[:, None] == np.array(names)[None, :]).astype(float)
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    e = y - x @ beta
    groups = pd.factorize(cluster)[0]
    meat = np.zeros((len(names), len(names)))
    for g in range(groups.max() + 1):
        s = x[groups == g].T @ e[groups == g]
        meat += np.outer(s, s)
    n, k, gg = len(y), len(names), groups.max() + 1
    return beta, gg / (gg - 1) * (n - 1) / (n - k) * xtx_inv @ meat @ xtx_inv, gg


def test_the_report_compares_brands_with_cr1_clustered_by_respondent(report, brand_db):
    _, inst, made, frame = brand_db
    r = report
    assert r.settings["segment"] == "brand"  # the default for a campaign with brands
    assert r.settings["respondent_column"] == "respondent"
    b = r.benchmark
    assert b["method"].startswith("CR1") and b["respondent_column"] == "respondent"
    assert sorted(b["brands"]) == ["acme", "nova", "zeta"]
    # every rating, clustered by person: G = the people who rated a shown brand
    assert b["n"] == len(frame) and b["clusters"] == PEOPLE
    ti = score(frame, inst).frame["trust_index"].to_numpy()
    ok = ~np.isnan(ti)
    assert ok.all()
    beta, v, g = _direct_cr1(
        ti[ok], frame["brand"].to_numpy()[ok], frame["respondent"].to_numpy()[ok], b["brands"]
    )
    assert g == b["clusters"]
    for q in b["pairwise"]:
        i, j = b["brands"].index(q["a"]), b["brands"].index(q["b"])
        assert q["diff"] == pytest.approx(beta[j] - beta[i], rel=1e-12)
        assert q["se"] == pytest.approx(np.sqrt(v[i, i] + v[j, j] - 2 * v[i, j]), rel=1e-10)
        assert q["df"] == g - 1
    # nesting matters here: the CR1 SEs differ from the independent-rows (HC1) ones
    _, v_hc1, _ = _direct_cr1(
        ti[ok], frame["brand"].to_numpy()[ok], np.arange(int(ok.sum())), b["brands"]
    )
    q = b["pairwise"][0]
    i, j = b["brands"].index(q["a"]), b["brands"].index(q["b"])
    hc1 = np.sqrt(v_hc1[i, i] + v_hc1[j, j] - 2 * v_hc1[i, j])
    assert abs(q["se"] / hc1 - 1) > 0.05


def test_tests_needing_independent_rows_use_one_rating_per_respondent(report, brand_db):
    _, inst, made, frame = brand_db
    r = report
    nest = r.settings["nesting"]
    assert nest["n_ratings"] == len(frame) and nest["n_respondents"] == PEOPLE
    assert nest["n_used"] == PEOPLE and nest["n_dropped"] == len(frame) - PEOPLE
    # the rating kept: position 1 of each random order (or the only, link-given one)
    one = one_per_respondent(frame, "respondent", "brand_position").mask
    pos = frame["brand_position"]
    assert (one == ((pos == 1) | pos.isna()).to_numpy()).all()
    # reliability and CFA on those rows
    assert r.psychometrics["n"] == PEOPLE
    assert r.psychometrics["one_rating_per_respondent"]["n_used"] == PEOPLE
    # the invariance check across brand: one rating per respondent, as a direct run
    inv = r.benchmark["invariance"]
    assert inv["n"] == PEOPLE and inv["one_rating_per_respondent"]["n_used"] == PEOPLE
    first = frame.loc[one].reset_index(drop=True)
    items = list(inst.dimension_item_ids)
    scored = reverse_key(check_items(first, inst).frame, inst)[items]
    direct = measurement_invariance(
        scored.assign(brand=first["brand"].to_numpy()),
        dimension_model(inst),
        "brand",
        min_group_n=30,
    )
    assert sum(direct.groups.values()) == PEOPLE
    assert inv["level"] == direct.level
    # Welch's ANOVA across brands on the same rows
    a = r.segments["welch_anova"]
    assert a["one_rating_per_respondent"] and a["n"] == PEOPLE
    assert not any("approximate" in n for n in r.notes)
    assert any(
        f"{len(frame)} ratings from {PEOPLE} respondents" in n
        and f"({r.benchmark['clusters']} clusters)" in n
        and f"{PEOPLE} used, {len(frame) - PEOPLE} left out" in n
        for n in r.notes
    )


def test_the_html_and_the_summary_say_the_ratings_are_nested(report, brand_db):
    r = report
    html = render_html(r)
    b = r.benchmark
    assert "ratings nested in respondents" in html
    assert f"n = {b['n']} ratings from {b['clusters']} respondents, G = {b['clusters']}" in html
    assert "CR1" in html
    assert f"one rating per respondent:\nn = {PEOPLE}" in html
    assert "Reliability, the CFA and the\ninvariance checks assume independent rows" in html
    text = r.summary()
    assert "Brand benchmark" in text
    assert f"{b['n']} ratings from {b['clusters']} respondents, ratings nested" in text
    assert f"G = {b['clusters']} clusters" in text and "CR1" in text
    # no respondent key reaches the output
    blob = "\n".join([html, text, json.dumps(r.to_dict())])
    assert not [k for k in brand_db[3]["respondent"] if k in blob]


def test_a_campaign_without_brands_keeps_its_segment_default(tmp_path):
    """No brands: no default segment and no nesting (every response is its own person)."""
    path = tmp_path / "nb.db"
    with open_db(path) as db:
        init_db(db)
        inst = small_instrument(tmp_path)
        brand_campaign(db, inst, "plain", people=60, per_person=1, seed=3)
        db.execute("UPDATE campaigns SET brands = '[]', brands_per_respondent = NULL")
        db.conn.commit()
        r = build_report(db, ["plain"], keep_careless=True)
    assert r.settings["segment"] is None and r.benchmark is None
    assert r.settings["nesting"]["n_dropped"] == 0
    assert r.psychometrics["one_rating_per_respondent"] is None


def test_analyze_cli_uses_one_rating_per_respondent_across_brands(brand_db, tmp_path):
    path, inst, made, frame = brand_db
    out = tmp_path / "a.json"
    res = CliRunner().invoke(
        main,
        [
            "analyze",
            "brands",
            "--db",
            str(path),
            "--segment",
            "brand",
            "--group",
            "brand",
            "--keep-careless",
            "--n-boot",
            "0",
            "--json",
            str(out),
            "--html",
            str(tmp_path / "a.html"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert f"{PEOPLE} used, {len(frame) - PEOPLE} left out" in res.output
    rep = json.loads(out.read_text())
    assert rep["settings"]["respondent_column"] == "respondent"
    nest = rep["settings"]["nesting"]
    assert nest["n_used"] == PEOPLE and nest["n_ratings"] == len(frame)
    assert sum(rep["invariance"]["groups"].values()) == PEOPLE
    anova = rep["trust_index"]["segment_anova"]
    assert sum(anova["n"].values()) == PEOPLE
    # the segment table still describes every rating
    assert sum(g["n"] for g in rep["trust_index"]["by_segment"].values()) == len(frame)
    html = (tmp_path / "a.html").read_text(encoding="utf-8")
    left = len(frame) - PEOPLE
    assert "this test uses one rating per respondent (the first in each" in html
    assert f"n = {PEOPLE}, {left} left out." in html
    assert f"use one rating per respondent\n(n = {PEOPLE}, {left} left out)" in html


def test_the_period_index_and_the_headline_use_cr1_intervals_by_respondent(report, brand_db):
    """Ratings nested in respondents: the focus period's Trust Index interval is the
    CR1 one of analysis.compare (checked against R in tests/analysis/
    test_cluster_means.py), here recomputed from the scores with the respondents as
    clusters; the live headline gives the same interval; the report says so."""
    from analysis.compare import mean_ci_clustered
    from analysis.headline import headline

    path, inst, _, frame = brand_db
    ti = score(frame, inst).frame["trust_index"].to_numpy()
    ok = ~np.isnan(ti)
    direct = mean_ci_clustered(ti[ok], frame["respondent"].to_numpy()[ok])
    got = report.index[report.focus]["trust_index"]
    assert got["clusters"] == direct.clusters == PEOPLE
    assert got["n"] == direct.n and got["mean"] == pytest.approx(direct.mean, rel=1e-12)
    assert got["se_cr1"] == pytest.approx(direct.se, rel=1e-12)
    assert got["ci95"] == pytest.approx(list(direct.ci95), rel=1e-12)
    # wider than the interval that takes the ratings as independent
    sd = float(np.std(ti[ok], ddof=1))
    assert got["se_cr1"] > 1.2 * sd / np.sqrt(ok.sum())
    assert any(
        "CR1 cluster-robust standard errors (respondents as clusters)" in n for n in report.notes
    )
    h = headline(frame, inst, min_n=30, keep_careless=True)
    assert h.ci95 == pytest.approx(tuple(direct.ci95), rel=1e-12) and h.n == direct.n
