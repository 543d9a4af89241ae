"""One headline Trust Index (latest period, careless excluded) on every screen, and the
exports' excluded_careless adding up to the dashboard's count (issue 12)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from analysis.headline import careless_exclusions, headline
from survey import create_app, demo
from survey.cli import main
from survey.export import export_campaign
from survey.reporting import live
from survey.reporting.periodic import build_report
from survey.storage import store, tokens
from survey.storage.db import init_db, open_db


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("headline") / "h.db"
    with open_db(path) as db:
        init_db(db)
        demo.fill_demo(db, "demo", 900, seed=7)
    return path


def test_the_same_headline_on_dashboard_list_api_and_report(demo_db, tmp_path):
    with open_db(demo_db) as db:
        c = store.get_campaign(db, "demo")
        stats = live.campaign_stats(db, c)
        rep = build_report(db, ["demo"]).to_dict()
        raw, _ = tokens.create_token(db, "reader", "viewer")
    dash = stats["trust_index"]
    assert dash["period"] == rep["focus"] == stats["period"]
    ti = rep["index"][rep["focus"]]["trust_index"]
    assert dash["n"] == ti["n"]
    # analysed = complete and not careless; the index needs every dimension scored
    assert stats["analysed"] == rep["quality"][rep["focus"]]["analysed"] >= dash["n"]
    assert dash["mean"] == pytest.approx(ti["mean"], rel=1e-12)
    assert dash["ci95"] == pytest.approx(ti["ci95"], rel=1e-12)

    out = CliRunner().invoke(main, ["campaign", "list", "--db", str(demo_db)])
    assert out.exit_code == 0, out.output
    # (rstrip: a trailing empty column, e.g. no brands, keeps its tab)
    header, *rows = [line.split("\t") for line in out.output.rstrip("\n").splitlines()]
    row = dict(zip(header, next(r for r in rows if r[0] == "demo"), strict=True))
    assert row["headline_period"] == dash["period"] and int(row["trust_index_n"]) == dash["n"]
    assert float(row["trust_index"]) == pytest.approx(dash["mean"], abs=5e-4)

    app = create_app({"TESTING": True, "DATABASE": str(demo_db), "SECRET_KEY": "k"})
    r = app.test_client().get("/api/v1/campaigns/demo", headers={"Authorization": f"Bearer {raw}"})
    assert r.status_code == 200, r.get_data(as_text=True)
    api = r.get_json()["trust_index"]
    assert api["period"] == dash["period"] and api["n"] == dash["n"]
    assert api["mean"] == pytest.approx(dash["mean"], rel=1e-12)


def test_headline_is_the_latest_period_and_excludes_careless(demo_db):
    with open_db(demo_db) as db:
        frame, inst = store.load_campaign_frame(db, "demo")
    h = headline(frame, inst)
    periods = sorted(frame["period"].unique())
    assert h.period == periods[-1]
    excluded = careless_exclusions(frame, inst)
    latest = (frame["period"] == h.period).to_numpy()
    assert h.completed == latest.sum() and h.excluded_careless == (latest & excluded).sum()
    assert h.excluded_careless > 0  # the demo has careless respondents
    kept = h.completed - h.excluded_careless
    assert h.n <= kept  # respondents without a score have no Trust Index
    with_all = headline(frame, inst, keep_careless=True)
    assert with_all.n > h.n


def test_exports_excluded_careless_sums_to_the_dashboards_count(demo_db, tmp_path):
    with open_db(demo_db) as db:
        stats = live.campaign_stats(db, store.get_campaign(db, "demo"))
    res = export_campaign(demo_db, "demo", "csv", tmp_path / "d.csv")
    got = pd.read_csv(res.path)
    assert set(got["excluded_careless"].unique()) <= {0, 1}
    assert int(got["excluded_careless"].sum()) == stats["careless"] > 0
    assert "excluded_careless" in res.codebook_md.read_text(encoding="utf-8")


def test_the_report_explains_when_its_header_n_and_the_index_n_differ(demo_db):
    from survey.reporting.periodic import render_html

    with open_db(demo_db) as db:
        rep = build_report(db, ["demo"])
    d = rep.to_dict()
    analysed, n = d["quality"][d["focus"]]["analysed"], d["index"][d["focus"]]["trust_index"]["n"]
    assert n < analysed  # some complete responses miss a dimension score
    assert f"{analysed} responses analysed" in rep.headline()
    assert f"(n = {n} with every dimension scored)" in rep.headline()
    html = render_html(rep)
    assert f"the Trust Index rests on the {n} of them with every dimension scored" in html
