"""Issue 11 in the exports: a flow through the respondent pages (Flask test client) with
the service-recovery follow-up shown to one respondent and hidden for another, and open
"why" answers, exported in every format. "Not shown" is its own state: SPSS user-missing
-8 "Not shown", Stata ``.b``, empty plus the ``not_shown_items`` status column in csv,
parquet and json; the open text is a string variable, neutralised in csv and xlsx when it
starts with ``=``, ``+``, ``-`` or ``@``, and never among the scores."""

from __future__ import annotations

import json

import pandas as pd
import pyreadstat
import pytest
from conftest import Respondent

from survey.export import core as ex
from survey.storage import store

FOLLOW_UP = ("REC_RESOLVED", "REC_HANDLING")
WHY = {"yes": "=1+1 they hid fees", "no": "@ fair and honest", "plain": "good service"}


def _answer(app, inst, breach_yes: bool, why: str, seed: int) -> None:
    def choose(name, values, rng):
        if name in inst.checklist.item_ids:
            return "1" if breach_yes and name == inst.checklist.item_ids[0] else "0"
        return rng.choice([v for v in values if v != "na"])

    person = Respondent(app.test_client(), seed=seed, choose=choose)
    page = person.consent("/s/acme")
    while "<textarea" not in page.html:
        page = person.answer_page(page)
    assert person.post(page, {"OPEN_REASON": why}).url == "/s/acme/thanks"


@pytest.fixture
def flow(app, campaign, db):
    campaign()
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    _answer(app, inst, True, WHY["yes"], 1)
    _answer(app, inst, False, WHY["no"], 2)
    _answer(app, inst, False, WHY["plain"], 3)
    return app.config["DATABASE"], inst


def test_not_shown_and_open_text_in_every_format(flow, tmp_path):
    path, inst = flow
    out = {fmt: ex.export_campaign(path, "acme", fmt, tmp_path / f"x.{fmt}") for fmt in ex.FORMATS}
    csv = pd.read_csv(out["csv"].path, keep_default_na=False)
    assert len(csv) == 3
    shown = csv["not_shown_items"] == ""
    assert shown.tolist() == [True, False, False]
    assert set(csv.loc[~shown, "not_shown_items"]) == {",".join(sorted(FOLLOW_UP))}
    for iid in FOLLOW_UP:
        assert csv.loc[shown, iid].ne("").all() and csv.loc[~shown, iid].eq("").all()
    # the open text: a string column, neutralised where a spreadsheet would run it
    assert csv["OPEN_REASON"].tolist() == ["'" + WHY["yes"], "'" + WHY["no"], WHY["plain"]]
    xlsx = pd.read_excel(out["xlsx"].path, sheet_name="data")
    assert xlsx["OPEN_REASON"].tolist() == ["'" + WHY["yes"], "'" + WHY["no"], WHY["plain"]]
    # parquet and json keep it verbatim, with the status column
    pq = pd.read_parquet(out["parquet"].path)
    assert pq["OPEN_REASON"].tolist() == [WHY["yes"], WHY["no"], WHY["plain"]]
    assert pq["REC_RESOLVED"].isna().tolist() == [False, True, True]
    rows = json.loads(out["json"].path.read_text("utf-8"))
    assert [r["not_shown_items"] for r in rows] == csv["not_shown_items"].tolist()
    assert rows[1]["REC_RESOLVED"] is None and rows[0]["OPEN_REASON"] == WHY["yes"]
    # never a score: no score column mentions it, the frame's scores are numeric only
    assert not [c for c in csv.columns if c.startswith("OPEN_REASON_")]

    # SPSS: -8 "Not shown", declared user-missing
    df, meta = pyreadstat.read_sav(out["sav"].path, user_missing=True)
    for iid in FOLLOW_UP:
        assert df[iid].tolist()[1:] == [-8, -8] and df[iid].iloc[0] >= 0
        assert meta.variable_value_labels[iid][-8] == "Not shown"
        assert {"lo": -8.0, "hi": -8.0} in meta.missing_ranges[iid]
    assert meta.readstat_variable_types["OPEN_REASON"] == "string"
    assert df["OPEN_REASON"].tolist() == [WHY["yes"], WHY["no"], WHY["plain"]]
    plain, _ = pyreadstat.read_sav(out["sav"].path)  # user-missing read as missing
    assert plain["REC_RESOLVED"].isna().tolist() == [False, True, True]
    # Stata: .b, labelled
    df, meta = pyreadstat.read_dta(out["dta"].path, user_missing=True)
    for iid in FOLLOW_UP:
        assert df[iid].tolist()[1:] == ["b", "b"]
        assert meta.variable_value_labels[iid]["b"] == "Not shown"
    assert df["OPEN_REASON"].tolist() == [WHY["yes"], WHY["no"], WHY["plain"]]
    # the codebook documents both
    cb = {
        v["name"]: v for v in json.loads(out["csv"].codebook_json.read_text("utf-8"))["variables"]
    }
    assert cb["OPEN_REASON"]["type"] == "string" and cb["OPEN_REASON"]["kind"] == "text"
    assert "not_shown_items" in cb


def test_not_shown_is_translated_in_spss(flow, tmp_path):
    path, _ = flow
    res = ex.export_campaign(path, "acme", "sav", tmp_path / "fa.sav", language="fa")
    _, meta = pyreadstat.read_sav(res.path, user_missing=True)
    assert meta.variable_value_labels["REC_RESOLVED"][-8] == "نمایش داده نشد"
