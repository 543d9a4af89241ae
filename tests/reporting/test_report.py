"""``trustmeter report``: the periodic Trust Index report (issue 4, section 4).

The database is a temporary file filled with :mod:`survey.demo` (4 quarters, 3
segments, 3 languages, careless respondents, breach checklist) plus a small
segment ``vip`` (12 respondents, stored through the store API) that must be
suppressed everywhere. Figures are checked against direct calls of the analysis
package on the same frame.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.testing import assert_allclose

from analysis.careless import careless
from analysis.compare import group_table, holm, pairwise_welch
from analysis.scores import nps, pct_trusting, proportion, score
from survey import demo
from survey.cli import main
from survey.quality import response_quality
from survey.reporting.periodic import build_report, resolve_campaigns
from survey.storage import store
from survey.storage.db import init_db, open_db
from tests.store_fixtures import small_instrument

DIMS = ["REL", "HON", "COM", "EMP", "CON"]
N_VIP = 12


def _add_vip(db, n: int, seed: int) -> None:
    """``n`` complete respondents of segment ``vip`` in the campaign's period, through
    the store API, with answers drawn from the demo model (attentive respondents)."""
    camp = store.get_campaign(db, "demo")
    inst = store.campaign_instrument(db, camp)
    sim = demo.simulate(inst, 4 * n, seed=seed, languages=["en"])
    rows = np.flatnonzero(sim["careless"] == "")[:n]
    items = list(inst.item_ids)
    # numeric items only: open-text items (customer-trust 1.1.0's OPEN_REASON) have no column
    pages = [[i for i in inst.page_item_ids(p) if i in items] for p in inst.pages]
    for r in rows:
        rid = store.start_response(
            db,
            camp,
            language="en",
            direction="ltr",
            params={"segment": "vip", "channel": "web"},
            item_order=[list(p) for p in pages],
        )
        for k, page in enumerate(pages):
            answers = {
                i: int(sim["values"][r, items.index(i)])
                for i in page
                if not np.isnan(sim["values"][r, items.index(i)])
            }
            store.save_page(db, rid, k, answers)
        assert store.complete_response(db, rid, quality=response_quality)


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dbfile(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "trust.db"
    with open_db(path) as db:
        init_db(db)
        demo.fill_demo(db, "demo", 1600, seed=11)
        _add_vip(db, N_VIP, seed=5)
    return path


@pytest.fixture(scope="module")
def frame(dbfile):
    with open_db(dbfile) as db:
        return store.load_campaign_frame(db, "demo")


def _invoke(dbfile: Path, *args: str, env: dict | None = None):
    """``trustmeter report`` on campaign demo (unless ``args`` choose the campaigns)."""
    chosen = "--campaign" in args or "--all-campaigns" in args
    return CliRunner().invoke(
        main,
        ["report", "--db", str(dbfile), *([] if chosen else ["--campaign", "demo"]), *args],
        env=env,
    )


def _run(dbfile: Path, out: Path, *args: str):
    res = _invoke(dbfile, *args, "--json", str(out / "r.json"), "--html", str(out / "r.html"))
    assert res.exit_code == 0, res.output
    return (
        res,
        json.loads((out / "r.json").read_text(encoding="utf-8")),
        (out / "r.html").read_text(encoding="utf-8"),
    )


@pytest.fixture(scope="module")
def default(dbfile, tmp_path_factory):
    return _run(dbfile, tmp_path_factory.mktemp("default"), "--segment", "segment")


# ----- figures agree with direct analysis calls ------------------------------------------
def _kept(frame, period):
    """The analysed responses of one period: careless screened within the period."""
    df, inst = frame
    sub = df[df["period"] == period]
    return sub[~careless(sub, inst).excluded.to_numpy()], inst


def test_index_per_period_matches_analysis(default, frame):
    _, out, _ = default
    df, _ = frame
    periods = sorted(df["period"].unique())
    assert out["periods"] == periods and out["focus"] == periods[-1]
    assert out["previous"] == periods[-2]
    for p in periods:
        kept, inst = _kept(frame, p)
        sc = score(kept, inst)
        got = out["index"][p]
        ti = sc.trust_index
        assert got["trust_index"]["n"] == ti.n
        assert_allclose(
            [got["trust_index"]["mean"], *got["trust_index"]["ci95"]],
            [ti.mean, *ti.ci95],
            rtol=1e-12,
        )
        for d in DIMS:
            g = sc.dimensions[d]
            assert got["dimensions"][d]["n"] == g.n
            assert_allclose(
                [got["dimensions"][d]["mean"], *got["dimensions"][d]["ci95"]],
                [g.mean, *g.ci95],
                rtol=1e-12,
            )
        pt = pct_trusting(sc)
        assert got["pct_trusting"]["n"] == pt.n
        assert_allclose(
            [got["pct_trusting"]["pct"], *got["pct_trusting"]["ci95"]],
            [pt.pct, *pt.ci95],
            rtol=1e-12,
        )
        n = nps(kept["NPS"].dropna())
        assert got["nps"]["n"] == n.n
        assert_allclose([got["nps"]["nps"], *got["nps"]["ci95"]], [n.nps, *n.ci95], rtol=1e-12)
        q = out["quality"][p]
        assert q["completed"] == int((df["period"] == p).sum())
        assert q["analysed"] == len(kept) and q["excluded"] == q["completed"] - len(kept)
        assert q["excluded"] > 0  # the demo has careless respondents in every period


def test_change_versus_previous_period_matches_welch_and_holm(default, frame):
    _, out, _ = default
    prev, focus = out["previous"], out["focus"]
    (kp, inst), (kf, _) = _kept(frame, prev), _kept(frame, focus)
    both = pd.concat([kp, kf])
    sc = score(both, inst).frame
    per = both["period"].rename("period")
    ch = out["change"]
    assert (ch["from"], ch["to"]) == (prev, focus)
    c = pairwise_welch(sc["trust_index"], per, min_n=30).comparisons[0]  # focus - previous
    assert (c.a, c.b) == (prev, focus)
    got = ch["trust_index"]
    assert_allclose(
        [got["diff"], *got["ci95"], got["t"], got["df"], got["p"], got["hedges_g"]],
        [c.diff, *c.ci95, c.t, c.df, c.p, c.hedges_g],
        rtol=1e-10,
    )
    raw = [pairwise_welch(sc[d], per, min_n=30).comparisons[0] for d in DIMS]
    adj = holm([r.p for r in raw])
    for d, r, pa in zip(DIMS, raw, adj, strict=True):
        g = ch["dimensions"][d]
        assert_allclose(
            [g["diff"], g["p"], g["p_holm"], g["hedges_g"]],
            [r.diff, r.p, pa, r.hedges_g],
            rtol=1e-10,
        )
    assert any(g["p_holm"] > g["p"] for g in ch["dimensions"].values())


def test_incident_rates_and_gap_match_analysis(default, frame):
    _, out, _ = default
    inc = out["incidents"]
    df, inst = frame
    ids = list(inst.checklist.item_ids)
    assert inc["items"] == ids
    for p in out["periods"]:
        kept, _ = _kept(frame, p)
        for i in ids:
            r = proportion(kept[i].dropna() == 1, name=i, definition="yes")
            got = inc["rates"][i][p]
            assert (got["n"], got["count"]) == (r.n, r.count)
            assert_allclose([got["pct"], *got["ci95"]], [r.pct, *r.ci95], rtol=1e-12)
    kept, _ = _kept(frame, out["focus"])
    ti = score(kept, inst).frame["trust_index"]
    x = kept[ids]
    grp = pd.Series(
        np.where((x == 1).any(axis=1), "yes", np.where((x == 0).all(axis=1), "no", None)),
        index=kept.index,
    )
    c = pairwise_welch(ti, grp, min_n=30).comparisons[0]
    g = inc["gap"]["comparison"]
    assert (g["a"], g["b"]) == ("no", "yes")
    assert_allclose([g["diff"], *g["ci95"], g["p"]], [c.diff, *c.ci95, c.p], rtol=1e-10)
    assert g["diff"] < 0  # the demo makes breaches more likely when trust is low
    tab = group_table(ti, grp, min_n=30, order=["no", "yes"])
    assert inc["gap"]["incident"]["n"] == tab.groups[1].n


def test_reliability_and_invariance_summary(default):
    res, out, html = default
    ps = out["psychometrics"]
    assert ps["period"] == out["focus"]
    assert set(ps["reliability"]) == set(DIMS)
    for r in ps["reliability"].values():
        assert 0.5 < r["alpha"] < 1 and r["alpha_ci95"][0] < r["alpha"] < r["alpha_ci95"][1]
        assert 0.5 < r["omega_total"] < 1
    assert ps["cfa"]["cfi"] > 0.9
    inv = ps["invariance"]
    assert inv["group"] == "language" and set(inv["groups"]) == {"en", "ru", "fa"}
    assert inv["level"] in ("strict", "scalar", "metric", "configural", "none")
    assert ps["levels_comparable"] == (inv["level"] in ("scalar", "strict"))
    assert inv["verdict"] in html


def test_levels_warning_when_scalar_invariance_fails(frame):
    """A language shift on several items of one period breaks scalar invariance; the
    report then says that levels should not be compared across languages."""
    from analysis.periodic import periodic_report, render_html

    df, inst = frame
    df = df.copy()
    fa = df["language"] == "fa"
    for col in ("REL1", "REL2", "HON1", "COM3", "EMP2", "CON4"):
        df.loc[fa, col] = np.clip(df.loc[fa, col] - 2, 1, 7)
    rep = periodic_report(df, inst, campaigns=["demo"])
    ps = rep.psychometrics
    assert ps["invariance"]["level"] != "scalar" and ps["levels_comparable"] is False
    assert "should not be compared across language" in ps["statement"]
    html = render_html(rep)
    assert "Do not compare levels across language" in html


# ----- suppression ---------------------------------------------------------------------------
def test_small_segment_is_suppressed_everywhere(default, frame):
    res, out, html = default
    seg = out["segments"]
    assert seg["names"] == ["loyal", "new", "returning", "vip"]
    vip = seg["focus"]["vip"]
    assert vip["trust_index"] == {"suppressed": True}
    assert vip["pct_trusting"] == {"suppressed": True} and vip["nps"] == {"suppressed": True}
    assert all(v == {"suppressed": True} for v in vip["dimensions"].values())
    assert all(v == {"suppressed": True} for v in seg["trend"]["vip"].values())
    # nothing else in the JSON mentions vip with a figure
    blob = json.dumps(out)
    # names list, focus key, trend key, and one suppressed drivers cell per outcome
    assert blob.count('"vip"') == 1 + 2 + len(out["drivers"])
    assert all(v["by_segment"]["vip"] == {"suppressed": True} for v in out["drivers"].values())
    # HTML: every table row of vip says suppressed, and no chart carries a vip value
    rows = re.findall(r"<tr><td class=\"l\">vip</td>(.*?)</tr>", html, flags=re.S)
    # segment table, segment-by-period table, drivers-by-segment table of each outcome
    assert len(rows) == 2 + len(out["drivers"])
    for row in rows:
        cells = re.sub(r"<[^>]+>", " ", row)
        assert "suppressed (n &lt; 30)" in cells and not re.search(r"\d", cells.replace("30", ""))
    assert "<title>vip" not in html  # no data point of vip in any chart
    assert re.search(r">vip</text>\s*<text[^>]*>suppressed[^<]*</text>", html)
    df, _ = frame
    assert int((df["segment"] == "vip").sum()) == N_VIP
    assert f"vip (n = {N_VIP})" not in html and f"vip</td><td>{N_VIP}" not in html
    assert "vip" not in res.output


def test_complementary_suppression_hides_the_smallest_other_segment(default, frame):
    """Without it the vip n and mean would follow from the period total minus the
    segments shown; the smallest other segment is suppressed too."""
    _, out, html = default
    focus = out["index"][out["focus"]]["trust_index"]
    cells = {s: g["trust_index"] for s, g in out["segments"]["focus"].items()}
    assert cells["vip"] == {"suppressed": True}
    shown = {s: g for s, g in cells.items() if "n" in g}
    hidden = [s for s in cells if s not in shown]
    assert len(hidden) == 2 and len(shown) == 2
    smallest = min(
        (s for s in cells if s != "vip"),
        key=lambda s: int(
            ((frame[0]["segment"] == s) & (frame[0]["period"] == out["focus"])).sum()
        ),
    )
    assert cells[smallest] == {"suppressed": True, "complementary": True}
    assert focus["n"] - sum(g["n"] for g in shown.values()) >= 30  # only a combined figure
    assert "suppressed (protects a smaller group)" in html
    assert any("complementary suppression" in n for n in out["notes"])
    row = re.search(rf"<tr><td class=\"l\">{smallest}</td>(.*?)</tr>", html, flags=re.S)[1]
    assert "protects a smaller group" in row and not re.search(r"\d", re.sub(r"<[^>]+>", "", row))
    # earlier periods have no vip respondents: nothing needs protecting there
    first = out["periods"][0]
    assert all("n" in out["segments"]["trend"][s][first] for s in ("loyal", "new", "returning"))


def test_protect_rule():
    from analysis.periodic import _protect

    assert _protect({"a": 5, "b": 40, "c": 50}, 30) == {"a": "n", "b": "complementary"}
    assert _protect({"a": 5, "b": 6, "c": 100, "d": 200}, 30) == {
        "a": "n",
        "b": "n",
        "c": "complementary",
    }
    assert _protect({"a": 0, "b": 40, "c": 50}, 30) == {"a": "n"}
    assert _protect({"a": 40, "b": 50}, 30) == {}
    assert _protect({"a": 10, "b": 50}, 30) == {"a": "n", "b": "complementary"}


def test_min_segment_n_lowers_the_threshold(dbfile, frame, tmp_path):
    res, out, html = _run(
        dbfile, tmp_path, "--segment", "segment", "--min-segment-n", "5", "--keep-careless"
    )
    df, inst = frame
    vip = df[(df["segment"] == "vip") & (df["period"] == out["focus"])]
    ti = score(vip, inst).trust_index
    got = out["segments"]["focus"]["vip"]["trust_index"]
    assert got["n"] == ti.n and got["n"] >= 5
    assert_allclose(got["mean"], ti.mean, rtol=1e-12)
    assert out["settings"]["min_segment_n"] == 5 and out["settings"]["keep_careless"] is True
    assert all(q["excluded"] == 0 for q in out["quality"].values())
    assert f'<tr><td class="l">vip</td><td>{ti.n}</td><td>{ti.mean:.1f}</td>' in html


# ----- the HTML file ---------------------------------------------------------------------------
def test_html_is_self_contained_and_prints(default):
    _, out, html = default
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") >= 6
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "<iframe" not in html.lower() and "<img" not in html.lower()
    for attr in re.findall(r"\b(?:src|href)\s*=\s*['\"]([^'\"]*)", html, flags=re.I):
        assert not attr.lower().startswith(("http:", "https:", "//")), attr
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "@media print" in html and "size: A4" in html and "break-inside: avoid" in html
    ti = out["index"][out["focus"]]["trust_index"]
    assert f"{ti['mean']:.1f}" in html


# ----- the command: cron-friendliness -------------------------------------------------------------
def test_success_prints_one_line_and_writes_atomically(dbfile, tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    target.write_text("old", encoding="utf-8")
    monkeypatch.setenv("TRUSTMETER_DB", str(dbfile))
    res = CliRunner().invoke(main, ["report", "--all-campaigns", "--json", str(target)])  # env db
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("report demo ")
    assert "Trust Index" in lines[0] and f"wrote {target}" in lines[0]
    assert json.loads(target.read_text(encoding="utf-8"))["campaigns"] == ["demo"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temp file left


def test_without_output_files_prints_the_text_summary(dbfile):
    res = _invoke(dbfile, "--period", demo.last_quarters(4)[1])
    assert res.exit_code == 0, res.output
    assert "Trust Index report for" in res.output and "Change" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--campaign", "nope"], "unknown campaign 'nope'"),
        (["--period", "1999-Q1"], "unknown period '1999-Q1'"),
        (["--segment", "colour"], "segment 'colour' is not a param declared"),
        (["--html", "/nonexistent-dir/r.html"], "cannot write /nonexistent-dir/r.html"),
    ],
)
def test_bad_input_is_an_error_not_a_traceback(dbfile, args, message):
    res = _invoke(dbfile, *args)
    assert res.exit_code == 1, res.output
    assert f"Error: {message}" in res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)


def test_missing_database_and_no_complete_responses(tmp_path):
    res = _invoke(tmp_path / "none.db")
    assert res.exit_code == 1 and "Error: no database at" in res.output
    (tmp_path / "garbage.db").write_text("not a database", encoding="utf-8")
    res = _invoke(tmp_path / "garbage.db")
    assert res.exit_code == 1 and "Error: cannot read the database" in res.output
    assert isinstance(res.exception, SystemExit)
    path = tmp_path / "empty.db"
    with open_db(path) as db:
        init_db(db)
        camp = store.create_campaign(
            db, slug="empty", instrument="customer-trust", period="2026-Q4"
        )
        store.start_response(db, camp, language="en", direction="ltr", params=None, item_order=None)
    res = _invoke(path, "--campaign", "empty")
    assert res.exit_code == 1 and "Error: there are no complete responses" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(main, ["report", "--db", str(path), "--min-segment-n", "1"])
    assert res.exit_code == 2  # a usage error


# ----- the period filter -------------------------------------------------------------------------
def test_period_filter_reports_an_earlier_period(dbfile, default, tmp_path):
    _, full, _ = default
    periods = full["periods"]
    res, out, html = _run(dbfile, tmp_path, "--period", periods[1], "--segment", "segment")
    assert out["focus"] == periods[1] and out["previous"] == periods[0]
    assert out["periods"] == periods[:2]
    assert set(out["index"]) == set(periods[:2]) and set(out["quality"]) == set(periods[:2])
    assert (out["change"]["from"], out["change"]["to"]) == (periods[0], periods[1])
    # careless screening is per period, so a period's figures do not depend on later ones
    for p in periods[:2]:
        assert out["index"][p] == full["index"][p]
    assert out["psychometrics"]["period"] == periods[1]
    # vip answered only in the latest period, which this report leaves out
    assert out["segments"]["names"] == ["loyal", "new", "returning"]
    assert f"<th>{periods[2]}</th>" not in html and f">{periods[2]}</text>" not in html
    assert periods[1] in res.output
    assert any("later period" in n for n in out["notes"])


# ----- which campaigns ---------------------------------------------------------------
def test_default_campaigns_share_the_newest_instrument(tmp_path):
    path = tmp_path / "two.db"
    with open_db(path) as db:
        init_db(db)
        demo.fill_demo(db, "wave1", 200, seed=3)
        store.create_campaign(db, slug="wave2", instrument="customer-trust", period="2027-Q1")
        assert [c["slug"] for c in resolve_campaigns(db)] == ["wave1", "wave2"]
        store.create_campaign(
            db, slug="mini", instrument=small_instrument(tmp_path), period="2027-Q1"
        )
        assert [c["slug"] for c in resolve_campaigns(db)] == ["mini"]
        assert [c["slug"] for c in resolve_campaigns(db, ["wave2", "wave1"])] == ["wave2", "wave1"]
        with pytest.raises(ValueError, match="different instrument versions"):
            build_report(db, ["wave1", "mini"])
        rep = build_report(db, ["wave1", "wave2"], segment="language")
        assert rep.campaigns == ("wave1", "wave2") and rep.settings["segment"] == "language"


def test_everything_suppressed_still_renders(dbfile):
    """A threshold above every group: no mean, share or NPS anywhere, and the HTML
    still renders (charts without a single figure are left out)."""
    from analysis.periodic import render_html

    with open_db(dbfile) as db:
        rep = build_report(db, segment="segment", min_segment_n=10**6)
    out = rep.to_dict()
    for part in ("index", "change", "segments", "incidents"):
        blob = json.dumps(out[part])
        assert '"mean"' not in blob and '"pct"' not in blob and '"nps": {"n"' not in blob
    assert out["change"] is None and out["incidents"]["gap"]["comparison"] is None
    html = render_html(rep)
    assert "Trust Index by period" not in html and "suppressed (n &lt; 1000000)" in html
    assert "Trust Index suppressed" in rep.headline()


def test_dot_compare_chart_marks_missing_points_and_escapes():
    from analysis.svg import dot_compare_chart

    out = dot_compare_chart(
        ["A&B", "C"],
        {"2026-Q3": [(5.0, 4.8, 5.2), None], "<Q4>": [(5.1, 4.9, 5.3), (4.0, 3.5, 4.5)]},
        title="t",
        note_missing="suppressed (n < 30)",
    ).svg
    assert out.startswith("<svg") and out.endswith("</svg>")
    assert "A&amp;B" in out and "&lt;Q4&gt;" in out and "<Q4>" not in out
    assert out.count("<circle") == 3 + 2  # three points, two legend dots
    assert "2026-Q3: suppressed (n &lt; 30)" in out


# ----- choosing campaigns; e-mailing the report ----------------------------------------------
def test_without_campaign_it_is_a_usage_error_listing_the_campaigns(tmp_path):
    path = tmp_path / "two.db"
    with open_db(path) as db:
        init_db(db)
        demo.fill_demo(db, "trust", 120, seed=3, periods=["2026-Q4"])
        store.create_campaign(
            db,
            slug="bigfive",
            period="2026-Q4",
            instrument=str(ROOT / "instruments/examples/big-five-demo.yaml"),
        )
    res = CliRunner().invoke(main, ["report", "--db", str(path)])
    assert res.exit_code == 2, res.output
    assert "--campaign SLUG" in res.output and "--all-campaigns" in res.output
    assert "trust\tcustomer-trust@" in res.output and "bigfive\tbig-five-demo@" in res.output
    res = CliRunner().invoke(main, ["report", "--db", str(path), "--all-campaigns"])
    assert res.exit_code == 2 and "would mix instrument versions" in res.output, res.output
    res = CliRunner().invoke(
        main, ["report", "--db", str(path), "--campaign", "trust", "--all-campaigns"]
    )
    assert res.exit_code == 2 and "not both" in res.output
    res = CliRunner().invoke(
        main, ["report", "--db", str(path), "--campaign", "trust", "--min-segment-n", "5"]
    )
    assert res.exit_code == 0, res.output


def test_mail_to_sends_the_html_report_through_a_real_smtp_server(dbfile, monkeypatch):
    from smtp_support import SmtpServer

    server = SmtpServer().start()
    try:
        monkeypatch.setenv("TRUSTMETER_SMTP_URL", server.url)
        monkeypatch.setenv("TRUSTMETER_MAIL_FROM", "Trust team <trust@example.org>")
        res = _invoke(dbfile, "--mail-to", "ana@example.org", "--mail-to", "bo@example.net")
        assert res.exit_code == 0, res.output
        assert "e-mailed to 2 recipient(s)" in res.output
        server.inbox.wait_for(2, timeout=30)
    finally:
        server.stop()
    got = {m.rcpt_tos[0]: m.message for m in server.inbox.messages}
    assert set(got) == {"ana@example.org", "bo@example.net"}
    msg = got["ana@example.org"]
    assert msg["Subject"].startswith("Trust Index report demo ")
    html = msg.get_body(("html",)).get_content()
    assert "<svg" in html and "Trust Index" in html
    assert "Trust Index" in msg.get_body(("plain",)).get_content()
    (att,) = list(msg.iter_attachments())
    assert att.get_filename().startswith("trust-report-") and att.get_content_type() == "text/html"


def test_mail_to_errors_are_clear(dbfile, monkeypatch):
    monkeypatch.delenv("TRUSTMETER_SMTP_URL", raising=False)
    res = _invoke(dbfile, "--mail-to", "not-an-address")
    assert res.exit_code == 2 and "is not an e-mail address" in res.output
    res = _invoke(dbfile, "--mail-to", "ana@example.org")
    assert res.exit_code == 1 and "TRUSTMETER_SMTP_URL is not set" in res.output
    assert "Traceback" not in res.output
