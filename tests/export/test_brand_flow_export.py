"""Issue 11's export "Done when", end to end: respondents walk a brand campaign through the
HTML pages (brand page, K = 2 ratings each, the service-recovery follow-up after a
breach, an open "why"), and the export of that flow has one row per brand rating with
the brand and the anonymous respondent key, "not shown" as -8 in .sav and .b in .dta,
and the open text, neutralised in csv and xlsx."""

from __future__ import annotations

import json

import pandas as pd
import pyreadstat
import pytest
from conftest import Respondent

from survey.export import core as ex
from survey.storage import brands, store

BRANDS = ["acme: Acme", "globex: Globex", "initech: Initech"]
FOLLOW_UP = ("REC_RESOLVED", "REC_HANDLING")


def _walk(app, inst, *, seed: int, ticked: list[str], breach_in_first: bool, why: str) -> None:
    """One person: tick brands, then answer each rating; a breach only in the first."""
    state = {"rating": 0}

    def choose(name, values, rng):
        if name in inst.checklist.item_ids:
            yes = breach_in_first and state["rating"] == 1 and name == inst.checklist.item_ids[0]
            return "1" if yes else "0"
        return rng.choice([v for v in values if v != "na"])

    person = Respondent(app.test_client(), seed=seed, choose=choose)
    page = person.consent("/s/multi")
    assert page.url.endswith("/brands"), page.url
    page = person.post(page, {"brand": ticked})
    for _ in range(40):
        if page.url.endswith("/thanks"):
            return
        if page.url.split("?")[0].endswith("/1"):
            state["rating"] += 1
        if "<textarea" in page.html:
            page = person.post(page, {"OPEN_REASON": f"{why} #{state['rating']}"})
        else:
            page = person.answer_page(page)
    raise AssertionError("the questionnaire did not end")


@pytest.fixture
def flow(app, campaign, db):
    campaign(slug="multi", params=(), brands=BRANDS, brands_per_respondent=2)
    inst = store.campaign_instrument(db, store.get_campaign(db, "multi"))
    _walk(
        app,
        inst,
        seed=1,
        ticked=["acme", "globex", "initech"],
        breach_in_first=True,
        why="=HYPERLINK(1)",
    )
    _walk(app, inst, seed=2, ticked=["globex", "initech"], breach_in_first=False, why="@SUM(1)")
    _walk(app, inst, seed=3, ticked=["initech"], breach_in_first=True, why="plain")
    return app.config["DATABASE"]


def test_the_flow_exports_one_row_per_brand_rating(flow, db, tmp_path):
    out = {f: ex.export_campaign(flow, "multi", f, tmp_path / f"x.{f}") for f in ex.FORMATS}
    csv = pd.read_csv(out["csv"].path, keep_default_na=False, dtype=str)
    # 2 + 2 + 1 ratings (the third person ticked one brand), one row each
    assert len(csv) == 5
    keys = csv["respondent"].tolist()
    assert sorted(pd.Series(keys).value_counts().tolist()) == [1, 2, 2]
    # each person's rows carry the brands drawn for them, in their recorded order
    for key, rows in csv.groupby("respondent", sort=False):
        rated = brands.get_choices(db, key)["rated"]
        ordered = rows.sort_values("brand_position")
        assert ordered["brand"].tolist() == rated
        assert ordered["brand_position"].tolist() == [str(k) for k in range(1, len(rated) + 1)]
    # the anonymous key is none of the identifiers
    ids = {str(r[0]) for r in db.execute("SELECT id FROM responses")}
    assert not set(keys) & ids and "response_id" not in csv.columns

    # the follow-up: shown in each breach rating (first of persons 1 and 3), else not shown
    shown = csv["not_shown_items"] == ""
    assert shown.sum() == 2
    assert set(csv.loc[~shown, "not_shown_items"]) == {",".join(sorted(FOLLOW_UP))}
    # the open text: neutralised in csv and xlsx where a spreadsheet would run it
    why = csv["OPEN_REASON"].tolist()
    assert sum(w.startswith("'=HYPERLINK(1)") for w in why) == 2
    assert sum(w.startswith("'@SUM(1)") for w in why) == 2
    assert sum(w.startswith("plain") for w in why) == 1
    xlsx = pd.read_excel(out["xlsx"].path, sheet_name="data", dtype=str)
    assert sorted(xlsx["OPEN_REASON"]) == sorted(why)
    assert sorted(xlsx["brand"]) == sorted(csv["brand"])

    # SPSS: -8 "Not shown" (user-missing) where the follow-up was not shown
    sav, meta = pyreadstat.read_sav(out["sav"].path, user_missing=True)
    assert len(sav) == 5 and sorted(sav["brand"]) == sorted(csv["brand"])
    for iid in FOLLOW_UP:
        assert (sav[iid] == -8).sum() == 3 and (sav[iid] >= 0).sum() == 2
        assert meta.variable_value_labels[iid][-8] == "Not shown"
    assert sorted(sav["OPEN_REASON"]) == sorted(w.lstrip("'") for w in why)
    # Stata: .b
    dta, dmeta = pyreadstat.read_dta(out["dta"].path, user_missing=True)
    assert len(dta) == 5 and sorted(dta["brand"]) == sorted(csv["brand"])
    for iid in FOLLOW_UP:
        assert (dta[iid] == "b").sum() == 3
        assert dmeta.variable_value_labels[iid]["b"] == "Not shown"
    # parquet and json: one row per rating too, with brand and respondent
    pq = pd.read_parquet(out["parquet"].path)
    assert sorted(pq["brand"]) == sorted(csv["brand"]) and pq["respondent"].nunique() == 3
    rows = json.loads(out["json"].path.read_text("utf-8"))
    assert len(rows) == 5 and {r["respondent"] for r in rows} == set(keys)
