"""The exports' careless exclusions: computed one period at a time, cached by data
version, and always equal to what analysis.headline.careless_exclusions gives on the
whole campaign frame (the dashboard's rule)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.headline import careless_exclusions
from survey import demo
from survey.export import core, export_campaign
from survey.storage import careless_cache, erasure, exports, store
from survey.storage.db import init_db, open_db


def _truth(db, slugs) -> frozenset[int]:
    frame, inst = store.load_campaign_frame(db, slugs)
    return frozenset(frame["response_id"].to_numpy()[careless_exclusions(frame, inst)].tolist())


@pytest.fixture()
def two_campaigns(tmp_path):
    path = tmp_path / "c.db"
    with open_db(path) as db:
        init_db(db)
        demo.fill_demo(db, "wave-a", 700, seed=3)
        demo.fill_demo(db, "wave-b", 500, seed=4)
    return path


def test_equal_to_the_headline_rule_and_served_from_the_cache(two_campaigns, monkeypatch):
    with open_db(two_campaigns) as db:
        for slugs in (["wave-a"], ["wave-a", "wave-b"]):
            sel = exports.select(db, slugs, None)
            truth = _truth(db, slugs)
            assert len(truth) > 5  # the demo has careless respondents
            assert core.careless_ids(db, sel) == truth
        # cached: a second call does not screen again
        frames = careless_cache.period_frames

        def no_screening(*a, **k):
            raise AssertionError("screened again although nothing changed")

        monkeypatch.setattr(careless_cache, "period_frames", no_screening)
        sel = exports.select(db, ["wave-a"], None)
        assert core.careless_ids(db, sel) == _truth(db, ["wave-a"])

        # new responses change the data version: screened again, and right
        monkeypatch.setattr(careless_cache, "period_frames", frames)
        demo.fill_demo(db, "wave-a", 60, seed=5)
        calls = []
        monkeypatch.setattr(
            careless_cache, "period_frames", lambda *a: calls.append(1) or frames(*a)
        )
        after = core.careless_ids(db, sel)
        assert calls and after == _truth(db, ["wave-a"])

        # a deleted (erased) excluded response leaves the cached set
        gone = min(after)
        erasure.delete_response(db, gone)
        again = core.careless_ids(db, sel)
        assert gone not in again and again == _truth(db, ["wave-a"])


def test_the_export_column_marks_exactly_the_excluded_rows(two_campaigns, tmp_path):
    with open_db(two_campaigns) as db:
        truth = _truth(db, ["wave-a"])
        n = store.campaign_counts(db, "wave-a")["completed"]
    res = export_campaign(two_campaigns, "wave-a", "csv", tmp_path / "a.csv")
    got = pd.read_csv(res.path)
    assert len(got) == n and int(got["excluded_careless"].sum()) == len(truth)
    # exported again (now from the cache): the same file content
    res2 = export_campaign(two_campaigns, "wave-a", "csv", tmp_path / "a2.csv")
    assert res2.sha256 == res.sha256


def test_no_write_inside_a_transaction(two_campaigns):
    with open_db(two_campaigns) as db:
        sel = exports.select(db, ["wave-b"], None)
        selection, version = careless_cache.key(db, sel.campaigns)
        with exports.snapshot(db):
            ids = core.careless_ids(db, sel)  # computed, but not stored in the snapshot
        assert careless_cache.get(db, selection, version) is None
        assert careless_cache.put(db, selection, version, sorted(ids))
        got = careless_cache.get(db, selection, version)
        assert got is not None and frozenset(got.tolist()) == ids
        assert careless_cache.get(db, selection, version + "x") is None
