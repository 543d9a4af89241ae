"""load_campaign_frame's brand columns (``respondent``, ``brand_position``, the ``brand``
param) and the issue 11 leftovers: ``not_shown_items`` and one text column per open-text
item, which no numeric path accepts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from brand_fixtures import brand_campaign
from store_fixtures import small_instrument

from analysis.data import AnalysisError, check_items
from analysis.scores import score
from survey.quality import response_quality
from survey.storage import item_states, store
from survey.storage.db import init_db, open_db


@pytest.fixture
def db(tmp_path):
    with open_db(tmp_path / "f.db") as conn:
        init_db(conn)
        yield conn


def test_brand_ratings_share_the_respondent_key(db, tmp_path):
    inst = small_instrument(tmp_path)
    made = brand_campaign(db, inst, people=12, per_person=(2, 3), seed=5, param_brand_people=2)
    df, _ = store.load_campaign_frame(db, "brands")
    assert df["response_id"].tolist() == made["ids"]
    assert df["respondent"].tolist() == made["respondent"]
    assert df["brand"].tolist() == made["brand"]
    assert df["brand_position"].dtype == "Int64"
    assert df["brand_position"].isna().tolist() == [p is None for p in made["position"]]
    assert df["brand_position"].fillna(0).tolist() == [p or 0 for p in made["position"]]
    cols = list(df.columns)
    assert cols.index("na_items") < cols.index("not_shown_items") < cols.index("respondent")
    assert cols.index("respondent") < cols.index("brand_position") < cols.index("brand")
    # 10 people chose brands (2 or 3 each, positions 1..k), 2 came with a brand param
    sizes = df.groupby("respondent", sort=False).size()
    assert len(sizes) == 12 and sorted(sizes.tolist()) == [1, 1] + [2] * 5 + [3] * 5
    for _, g in df.dropna(subset=["brand_position"]).groupby("respondent"):
        assert g["brand_position"].tolist() == list(range(1, len(g) + 1))
        assert g["brand"].is_unique
    # the keys are random 16-hex strings, not the response ids
    assert all(len(k) == 16 for k in df["respondent"])
    assert not set(df["respondent"]) & {str(i) for i in df["response_id"]}


def test_rows_without_a_key_get_a_random_one(db, tmp_path):
    """Bulk rows without respondents (imports, the demo) get distinct random keys."""
    inst = small_instrument(tmp_path)
    c = store.create_campaign(db, slug="plain", instrument=inst, period="2026-Q4")
    row = (c["id"], "2026-Q4", "complete", "en", "ltr", "2026-11-01T10:00:00+00:00")
    row += ("2026-11-01T10:05:00+00:00", 300.0, 1, "{}", "[]", "[]", 1, 1.0, None, "[]")
    answers = [[1 if i.startswith("BR") else 3 for i in inst.item_ids]] * 4
    store.insert_responses(db, inst, [row] * 4, answers)
    df, _ = store.load_campaign_frame(db, "plain")
    assert df["respondent"].notna().all() and df["respondent"].nunique() == 4
    assert df["brand_position"].isna().all()
    with pytest.raises(ValueError, match="4 responses but 3 respondents"):
        store.insert_responses(db, inst, [row] * 4, answers, respondents=["a"] * 3)


def _start(db, campaign, inst, answers):
    rid = store.start_response(
        db, campaign, language="en", direction="ltr", params=None, item_order=None
    )
    store.save_page(db, rid, 0, answers)
    assert store.complete_response(db, rid, quality=response_quality)
    return rid


def test_not_shown_items_and_open_texts(db):
    c = store.create_campaign(db, slug="ct", instrument="customer-trust", period="2026-Q4")
    inst = store.campaign_instrument(db, c)
    texts = list(inst.text_item_ids)
    assert texts, "customer-trust has an open-text item"
    hidden = sorted(i for i in inst.item_ids if inst.conditions_for(i))
    assert hidden, "customer-trust has conditional (show_if) items"
    answers = {}
    for i in inst.item_ids:
        scale = inst.scale_for(i)
        answers[i] = 0 if scale is None else scale.min
    ids = [_start(db, c, inst, {k: v for k, v in answers.items() if k not in hidden})]
    item_states.set_not_shown(db, ids[0], reversed(hidden))  # stored in any order
    item_states.save_texts(db, ids[0], {texts[0]: "=1+1 they hid fees"})
    ids.append(_start(db, c, inst, answers))  # everything shown, no open text
    ids.append(_start(db, c, inst, answers))
    item_states.save_texts(db, ids[2], {texts[0]: "good service"})
    df, _ = store.load_campaign_frame(db, "ct")
    assert df["not_shown_items"].tolist() == [",".join(hidden), "", ""]
    # the text columns come after the numeric items, in instrument order
    assert list(df.columns)[-len(inst.item_ids) - len(texts) :] == [*inst.item_ids, *texts]
    assert df[texts[0]].tolist()[0] == "=1+1 they hid fees"
    assert pd.isna(df[texts[0]].iloc[1]) and df[texts[0]].iloc[2] == "good service"
    assert pd.api.types.is_string_dtype(df[texts[0]])
    for i in hidden:
        assert np.isnan(df[i].iloc[0]) and df[i].iloc[1] == answers[i]
    # started responses too
    everything, _ = store.load_campaign_frame(db, "ct", complete_only=False)
    assert everything["not_shown_items"].tolist() == df["not_shown_items"].tolist()
    # never numbers: the analysis refuses an open-text column, and scores ignore it
    with pytest.raises(AnalysisError, match="open-text"):
        check_items(df, inst, [*inst.dimension_item_ids, texts[0]])
    assert texts[0] not in check_items(df, inst).frame.columns
    assert score(df, inst).frame.shape[0] == 3


def test_frame_without_text_items_has_no_text_columns(db, tmp_path):
    inst = small_instrument(tmp_path)
    assert not inst.text_item_ids
    brand_campaign(db, inst, people=3)
    df, _ = store.load_campaign_frame(db, "brands")
    assert list(df.columns)[-len(inst.item_ids) :] == list(inst.item_ids)
    assert (df["not_shown_items"] == "").all()
