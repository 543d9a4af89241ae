"""Synthetic demo data (survey.demo): structure, storage layout and speed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from store_fixtures import small_instrument

from instruments.loader import get_instrument
from survey import demo
from survey.quality import response_quality
from survey.storage import store
from survey.storage.db import init_db, open_db


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """The default instrument's demo campaign with 3000 respondents, and the fill time."""
    path = tmp_path_factory.mktemp("demo") / "d.db"
    with open_db(path) as db:
        init_db(db)
        t0 = time.perf_counter()
        summary = demo.fill_demo(db, "demo", 3000, seed=11)
        seconds = time.perf_counter() - t0
        df, inst = store.load_campaign_frame(db, "demo")
        counts = store.campaign_counts(db, "demo")
    return summary, seconds, df, inst, counts


def trust_index(df, inst):
    return df[list(inst.dimension_item_ids)].mean(axis=1)


def test_fill_is_fast_and_counts(filled):
    summary, seconds, df, _, counts = filled
    assert seconds < 15  # typically ~1 s; generous for a shared CI machine
    assert summary["completed"] == 3000 and summary["abandoned"] == 300
    assert counts == {
        "started": 3300,
        "completed": 3000,
        "in_progress": 300,
        "completion_rate": 3000 / 3300,
        "screened_out": 0,
    }
    assert len(df) == 3000


def test_periods_segments_languages(filled):
    summary, _, df, _, _ = filled
    assert summary["periods"] == demo.last_quarters(4)
    assert sorted(df["period"].unique()) == summary["periods"]
    assert set(df["segment"]) == {"new", "returning", "loyal"}
    assert set(df["channel"]) == {"web", "store", "phone"}
    assert set(df["language"]) == {"en", "ru", "fa"}
    assert (df["direction"] == "rtl").equals(df["language"] == "fa")
    # started_at lies in the response's quarter
    q = df["started_at"].dt.year.astype(str) + "-Q" + df["started_at"].dt.quarter.astype(str)
    assert (q == df["period"]).all()
    assert (df["completed_at"] > df["started_at"]).all()


def test_dimensions_correlate_more_within_than_across(filled):
    _, _, df, inst, _ = filled
    items = list(inst.dimension_item_ids)
    r = df[items].corr().to_numpy()
    block = np.array([inst.block_of(i).id for i in items])
    same = block[:, None] == block[None, :]
    off = ~np.eye(len(items), dtype=bool)
    within, across = r[same & off].mean(), r[~same].mean()
    assert 0.4 < within < 0.7 and 0.2 < across < within - 0.1


def test_segments_shift_trust_and_outcomes_follow(filled):
    _, _, df, inst, _ = filled
    t = trust_index(df, inst)
    by = t.groupby(df["segment"]).mean()
    assert by["new"] < by["returning"] < by["loyal"]
    assert np.corrcoef(t.fillna(t.mean()), df["NPS"])[0, 1] > 0.3
    risk = df[["RISK1", "RISK2"]].mean(axis=1)
    assert risk.corr(t) < -0.2 and df[["LOY1", "LOY2", "LOY3"]].mean(axis=1).corr(t) > 0.3
    breaches = df[list(inst.checklist.item_ids)].sum(axis=1)
    assert breaches.corr(t) < -0.15
    assert 0.05 < df[list(inst.checklist.item_ids)].to_numpy().mean() < 0.3


def test_careless_and_missing_answers(filled):
    _, _, df, inst, _ = filled
    flagged = df["quality_flags"] != ""
    assert 0.02 < flagged.mean() < 0.10
    assert (df["quality_flags"].str.contains("straightline")).sum() > 10
    assert (df["attention_passed"] == False).sum() > 20  # noqa: E712 (nullable boolean)
    assert df["quality_flags"].str.contains("speeder").sum() > 10
    dims = df[list(inst.dimension_item_ids)]
    assert 0.015 < dims.isna().to_numpy().mean() < 0.04
    assert (df["na_items"] != "").mean() > 0.1
    assert df["NPS"].notna().all()
    med = df["duration_s"].median()
    assert 120 < med < 600


def test_demo_rows_match_the_respondent_path(tmp_path):
    """Replaying demo respondents through start/save/complete gives the same stored
    answers and quality flags as the bulk fill."""
    inst = small_instrument(tmp_path)
    with open_db(tmp_path / "x.db") as db:
        init_db(db, register_builtin=False)
        demo.fill_demo(db, "mini", 300, seed=3, instrument=inst)
        df, _ = store.load_campaign_frame(db, "mini")
        campaign = store.get_campaign(db, "mini")
        rows = list(df[df["quality_flags"] != ""]["response_id"][:8]) + list(df["response_id"][:8])
        for rid in rows:
            orig = store.get_response(db, int(rid))
            new = store.start_response(
                db,
                campaign,
                language=orig["language"],
                direction=orig["direction"],
                params=orig["params"],
                item_order=orig["item_order"],
            )
            store.save_page(db, new, 0, orig["answers"], orig["na"])
            started = datetime.fromisoformat(store.get_response(db, new)["started_at"])
            store.complete_response(
                db,
                new,
                quality=response_quality,
                finished_at=started + timedelta(seconds=orig["duration_s"]),
            )
            got = store.get_response(db, new)
            for key in ("answers", "na", "longstring", "attention_passed", "flags", "duration_s"):
                assert got[key] == orig[key], (rid, key)
            assert got["irv"] == pytest.approx(orig["irv"], nan_ok=True)


def test_reproducible_with_seed(tmp_path):
    inst = small_instrument(tmp_path)
    a = demo.simulate(inst, 200, seed=5, periods=["A", "B", "C", "D"])
    b = demo.simulate(inst, 200, seed=5, periods=["A", "B", "C", "D"])
    np.testing.assert_array_equal(a["values"], b["values"])
    assert (a["segment"] == b["segment"]).all()


def test_fill_other_instrument_and_campaign(tmp_path):
    inst = small_instrument(tmp_path)
    with open_db(tmp_path / "x.db") as db:
        init_db(db, register_builtin=False)
        s = demo.fill_demo(
            db,
            "mini",
            500,
            seed=1,
            instrument=inst,
            periods=["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"],
        )
        assert s["campaign"] == "mini"
        demo.fill_demo(db, "mini", 100, seed=2)  # adds to the existing campaign
        df, got = store.load_campaign_frame(db, "mini")
        assert len(df) == 600 and got.id == "mini-trust"
        assert set(df["language"]) == {"en", "fa"}
        na = df[df["na_items"] != ""].iloc[0]
        assert all(np.isnan(na[i]) for i in na["na_items"].split(","))
        assert len(df[list(inst.dimension_item_ids)].dropna()) > 400


def test_errors(tmp_path):
    inst = small_instrument(tmp_path)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        demo.simulate(inst, 0)
    with open_db(tmp_path / "x.db") as db:
        init_db(db, register_builtin=False)
        with pytest.raises(ValueError, match="n must be a positive integer"):
            demo.fill_demo(db, "demo", -1, instrument=inst)
        with pytest.raises(LookupError, match="unknown instrument"):
            demo.fill_demo(db, "demo", 10, instrument="nope")


def test_quarters():
    now = datetime(2026, 2, 3, tzinfo=UTC)
    assert demo.current_quarter(now) == "2026-Q1"
    assert demo.last_quarters(4, now) == ["2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1"]


def test_default_instrument_is_customer_trust(filled):
    _, _, _, inst, _ = filled
    assert inst.id == get_instrument("customer-trust").id
