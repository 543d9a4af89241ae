"""The storage API (survey.storage.store) on temporary database files."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from store_fixtures import small_instrument

from analysis.careless import quality_flags
from survey.quality import response_quality
from survey.storage import store
from survey.storage.db import connect, init_db, open_db


@pytest.fixture
def inst(tmp_path):
    return small_instrument(tmp_path)


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "t.db"
    with open_db(path) as db:
        init_db(db, register_builtin=False)
    return path


@pytest.fixture
def db(db_path):
    d = connect(db_path)
    yield d
    d.close()


@pytest.fixture
def campaign(db, inst):
    return store.create_campaign(
        db, slug="c1", instrument=inst, period="2026-Q4", params=["segment", "channel"]
    )


def same(a, b):
    """Same instrument content (``source`` differs between a file and the database)."""
    return a.key == b.key and a.raw == b.raw and a.item_ids == b.item_ids


def start(db, campaign, **kw):
    args = dict(language="en", direction="ltr", params={}, item_order=None)
    args.update(kw)
    return store.start_response(db, campaign, **args)


FULL = {
    "REL1": 4,
    "REL2": 5,
    "REL3": 2,
    "HON1": 4,
    "HON2": 3,
    "HON3": 2,
    "LOY1": 5,
    "LOY2": 4,
    "NPS": 9,
    "ATT1": 4,
    "BR1": 0,
    "BR2": 1,
}


# ----- instruments ---------------------------------------------------------------
def test_register_instrument_is_idempotent_and_stores_yaml(db, inst):
    store.register_instrument(db, inst)
    store.register_instrument(db, inst)
    rows = store.list_instruments(db)
    assert [(r["id"], r["version"]) for r in rows] == [("mini-trust", "1.0.0")]
    assert rows[0]["answers_table"] == "answers_mini_trust_v1_0_0"
    text, digest = db.execute("SELECT yaml, sha256 FROM instruments").fetchone()
    import hashlib

    assert hashlib.sha256(text.encode()).hexdigest() == digest
    assert "mini-trust" in text
    cols = [c.name for c in db["answers_mini_trust_v1_0_0"].columns]
    assert cols == ["response_id", *inst.item_ids]
    assert same(store.load_instrument(db, "mini-trust", "1.0.0"), inst)


def test_register_changed_content_same_version_is_refused(db, inst, tmp_path):
    store.register_instrument(db, inst)
    (tmp_path / "x").mkdir()
    changed = small_instrument(tmp_path / "x")
    changed = dataclasses.replace(changed, raw={**changed.raw, "description": "v"})
    with pytest.raises(ValueError, match="already registered with different content"):
        store.register_instrument(db, changed)


def test_new_version_gets_its_own_table(db, inst, tmp_path):
    store.register_instrument(db, inst)
    store.register_instrument(db, small_instrument(tmp_path, version="1.1.0"))
    assert db["answers_mini_trust_v1_1_0"].exists()
    assert store.resolve_instrument(db, "mini-trust").version == "1.1.0"
    assert store.resolve_instrument(db, "mini-trust@1.0.0").version == "1.0.0"


def test_load_unknown_instrument(db):
    with pytest.raises(LookupError, match="not registered"):
        store.load_instrument(db, "nope", "1")
    with pytest.raises(LookupError, match="unknown instrument 'nope'"):
        store.resolve_instrument(db, "nope")


# ----- campaigns -----------------------------------------------------------------
def test_create_and_get_campaign(db, campaign, inst):
    c = store.get_campaign(db, "c1")
    assert c == campaign
    assert c["params"] == ["segment", "channel"]
    assert c["languages"] == ["en", "fa"]
    assert c["status"] == "open" and c["min_segment_n"] == 30
    assert (c["instrument_id"], c["instrument_version"]) == ("mini-trust", "1.0.0")
    assert same(store.campaign_instrument(db, c), inst)
    assert store.get_campaign(db, "nope") is None
    assert [x["slug"] for x in store.list_campaigns(db)] == ["c1"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"slug": "Bad Slug"}, "campaign slug 'Bad Slug'"),
        ({"slug": "c1"}, "already exists"),
        ({"period": ""}, "period"),
        ({"period": "2026\x1fQ4"}, "printable"),
        ({"params": ["Segment"]}, "param name 'Segment'"),
        ({"params": ["status"]}, "reserved"),
        ({"params": ["rel1"]}, "reserved"),
        ({"params": ["a", "a"]}, "twice"),
        ({"languages": ["de"]}, "offers en, fa"),
        ({"min_segment_n": 0}, "min_segment_n"),
        ({"opens_at": "2026-13-01"}, "opens_at"),
        ({"opens_at": "2026-10-02", "closes_at": "2026-10-01"}, "must be after"),
    ],
)
def test_create_campaign_errors(db, campaign, inst, kwargs, message):
    args = {"slug": "c2", "instrument": inst, "period": "2026-Q4", **kwargs}
    with pytest.raises(ValueError, match=message):
        store.create_campaign(db, **args)


def test_is_open_and_close(db, inst):
    c = store.create_campaign(
        db, slug="w", instrument=inst, period="P", opens_at="2026-10-01", closes_at="2026-12-31"
    )
    assert c["opens_at"].startswith("2026-10-01T00:00:00")
    assert c["closes_at"].startswith("2027-01-01T00:00:00")  # closes date is inclusive
    assert not store.is_open(c, datetime(2026, 9, 30, 23, 59, tzinfo=UTC))
    assert store.is_open(c, datetime(2026, 10, 1, tzinfo=UTC))
    assert store.is_open(c, datetime(2026, 12, 31, 23, 59))
    assert not store.is_open(c, datetime(2027, 1, 1, tzinfo=UTC))
    store.close_campaign(db, "w")
    assert store.get_campaign(db, "w")["status"] == "closed"
    assert not store.is_open(store.get_campaign(db, "w"), datetime(2026, 11, 1, tzinfo=UTC))
    with pytest.raises(LookupError, match="unknown campaign 'zz'"):
        store.close_campaign(db, "zz")


# ----- invitations ---------------------------------------------------------------
def test_invitation_tokens_are_stored_hashed(db_path, db, campaign):
    invs = store.create_invitations(db, "c1", 3, {"segment": "loyal"})
    assert len({i["token"] for i in invs}) == 3
    assert all(len(i["token"]) >= 40 for i in invs)
    stored = [r[0] for r in db.execute("SELECT token_sha256 FROM invitations ORDER BY id")]
    assert stored == [store.hash_token(i["token"]) for i in invs]
    db.close()
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob("t.db*"))
    for i in invs:
        assert i["token"].encode() not in raw
        assert store.hash_token(i["token"]).encode() in raw


def test_find_invitation(db, campaign):
    (inv,) = store.create_invitations(db, "c1", 1, {"segment": "loyal"})
    found = store.find_invitation(db, inv["token"])
    assert found["id"] == inv["id"] and found["campaign"] == "c1"
    assert found["params"] == {"segment": "loyal"} and found["response_id"] is None
    assert store.find_invitation(db, inv["token"] + "x") is None
    assert store.find_invitation(db, "") is None


def test_starting_an_invitation_twice_resumes_the_first_session(db, campaign):
    # a double-click on "start" or a second tab must not leave an orphan session
    (inv,) = store.create_invitations(db, "c1", 1)
    invitation = store.find_invitation(db, inv["token"])
    first = start(db, campaign, invitation=invitation)
    again = start(db, campaign, invitation=invitation)
    assert again == first
    assert (
        db.execute(
            "SELECT COUNT(*) FROM responses WHERE invitation_id = ?", [inv["id"]]
        ).fetchone()[0]
        == 1
    )
    assert store.campaign_counts(db, "c1")["started"] == 1


@pytest.mark.parametrize(
    "slug, count, params, exc, message",
    [
        ("c1", 0, None, ValueError, "count must be a positive integer"),
        ("c1", -3, None, ValueError, "count must be a positive integer"),
        ("c1", 2, {"region": "x"}, ValueError, "does not declare the param"),
        ("zz", 2, None, LookupError, "unknown campaign 'zz'"),
    ],
)
def test_create_invitations_errors(db, campaign, slug, count, params, exc, message):
    with pytest.raises(exc, match=message):
        store.create_invitations(db, slug, count, params)


# ----- responses -----------------------------------------------------------------
def test_response_lifecycle(db, campaign):
    (raw,) = store.create_invitations(db, "c1", 1, {"segment": "loyal"})
    inv = store.find_invitation(db, raw["token"])
    assert store.response_for_invitation(db, inv) is None
    rid = start(
        db,
        campaign,
        language="fa",
        direction="rtl",
        params={"segment": "new", "channel": "web"},
        item_order=[["REL2", "REL1", "REL3"]],
        invitation=inv,
    )
    r = store.get_response(db, rid)
    assert r["status"] == "started" and r["current_page"] == 0 and r["answers"] == {}
    assert r["params"] == {"segment": "loyal", "channel": "web"}  # invitation wins
    assert r["language"] == "fa" and r["direction"] == "rtl" and r["period"] == "2026-Q4"
    assert store.response_for_invitation(db, inv)["id"] == rid

    store.save_page(db, rid, 0, {"REL1": 4, "REL2": 4, "REL3": None}, na_items=["HON2"])
    r = store.get_response(db, rid)
    assert r["answers"] == {"REL1": 4, "REL2": 4} and r["na"] == ["HON2"]
    assert r["current_page"] == 1
    store.save_page(db, rid, 1, {k: v for k, v in FULL.items() if k != "HON2"})
    store.save_page(db, rid, 1, {"REL1": 5})  # going back and changing an answer
    r = store.get_response(db, rid)
    assert r["answers"] == {**{k: v for k, v in FULL.items() if k != "HON2"}, "REL1": 5}
    assert r["na"] == ["HON2"] and r["current_page"] == 2

    t0 = datetime.fromisoformat(r["started_at"])
    assert store.complete_response(
        db, rid, quality=response_quality, finished_at=t0 + timedelta(seconds=300)
    )
    r = store.get_response(db, rid)
    assert r["status"] == "complete" and r["duration_s"] == 300
    assert r["attention_passed"] is True and r["flags"] == []
    assert store.find_invitation(db, raw["token"])["response_id"] == rid
    assert store.response_for_invitation(db, inv)["id"] == rid
    # completing twice changes nothing; a used invitation cannot start another response
    assert store.complete_response(db, rid) is False
    assert store.get_response(db, rid)["completed_at"] == r["completed_at"]
    with pytest.raises(ValueError, match="already been used"):
        start(db, campaign, invitation=store.find_invitation(db, raw["token"]))
    with pytest.raises(ValueError, match="already complete"):
        store.save_page(db, rid, 0, {"REL1": 1})


def test_na_is_recorded_distinctly_and_cleared_by_answering(db, campaign):
    rid = start(db, campaign)
    store.save_page(db, rid, 0, {"REL1": 3}, na_items=["REL2", "HON1"])
    store.save_page(db, rid, 0, {"HON1": 2})
    r = store.get_response(db, rid)
    assert r["na"] == ["REL2"] and r["answers"] == {"REL1": 3, "HON1": 2}


@pytest.mark.parametrize(
    "answers, na, message",
    [
        ({"XX1": 3}, (), "has no item 'XX1'"),
        ({"REL1": 6}, (), r"REL1: 6 is not a code 1..5"),
        ({"REL1": 0}, (), r"REL1: 0 is not a code 1..5"),
        ({"NPS": 11}, (), r"NPS: 11 is not a code 0..10"),
        ({"BR1": 2}, (), r"BR1: 2 is not a code 0..1"),
        ({"REL1": "3"}, (), "REL1: '3' is not a code"),
        ({"REL1": True}, (), "REL1: True is not a code"),
        ({}, ("NPS",), "no 'not applicable' option"),
        ({}, ("BR1",), "no 'not applicable' option"),
        ({"REL1": 3}, ("REL1",), "both answered and marked not applicable"),
    ],
)
def test_save_page_errors(db, campaign, answers, na, message):
    rid = start(db, campaign)
    with pytest.raises(ValueError, match=message):
        store.save_page(db, rid, 0, answers, na)
    assert store.get_response(db, rid)["answers"] == {}


def test_start_response_errors(db, campaign, inst):
    with pytest.raises(ValueError, match="language 'de'"):
        start(db, campaign, language="de")
    with pytest.raises(ValueError, match="direction"):
        start(db, campaign, direction="up")
    with pytest.raises(ValueError, match="does not declare the param"):
        start(db, campaign, params={"utm_source": "x"})
    with pytest.raises(ValueError, match="JSON"):
        start(db, campaign, item_order={1, 2})
    with pytest.raises(LookupError, match="unknown response"):
        store.get_response(db, 999)
    other = store.create_campaign(db, slug="c2", instrument=inst, period="P")
    (inv,) = store.create_invitations(db, "c2", 1)
    with pytest.raises(ValueError, match="another campaign"):
        start(db, campaign, invitation=store.find_invitation(db, inv["token"]))
    store.close_campaign(db, "c2")
    with pytest.raises(ValueError, match="not open"):
        start(db, other)


def test_declared_params_filters_request_args(campaign):
    args = {"segment": " loyal ", "channel": "", "utm_source": "mail"}
    assert store.declared_params(campaign, args) == {"segment": "loyal"}


def test_quality_flags_on_completion(db, campaign):
    rid = start(db, campaign, item_order=[["HON1", "REL1"]])
    straight = {k: (3 if k not in ("NPS", "BR1", "BR2") else 0) for k in FULL}
    store.save_page(db, rid, 0, straight)
    t0 = datetime.fromisoformat(store.get_response(db, rid)["started_at"])
    assert store.complete_response(
        db, rid, quality=response_quality, finished_at=t0 + timedelta(seconds=10)
    )
    r = store.get_response(db, rid)
    assert r["longstring"] == 8 and r["irv"] == 0.0 and r["attention_passed"] is False
    assert r["flags"] == ["straightline", "longstring", "attention_failed", "speeder"]


def test_quality_flags_vectorised():
    nan = np.nan
    x = np.array([[1, 1, nan, 1, 2, 2, 3, 4], [1, 2, 3, 4, 5, 1, 2, 3], [nan] * 8, [5] * 8])
    q = quality_flags(
        x, np.array([[4], [3], [nan], [4]]), [4], np.array([100, 100, 5, 5]), np.array([8, 8, 0, 8])
    )
    assert q["longstring"].tolist() == [3, 1, 0, 8]  # missing answers are skipped
    np.testing.assert_allclose(
        q["irv"][:2],
        [np.std([1, 1, 1, 2, 2, 3, 4], ddof=1), np.std([1, 2, 3, 4, 5, 1, 2, 3], ddof=1)],
    )
    assert np.isnan(q["irv"][2]) and q["irv"][3] == 0
    assert q["attention_passed"][[0, 1, 3]].tolist() == [1.0, 0.0, 1.0]
    assert np.isnan(q["attention_passed"][2])  # an unanswered check is not a failure
    assert q["flags"] == [[], ["attention_failed"], [], ["straightline", "longstring", "speeder"]]


# ----- transactions and concurrency ------------------------------------------------
def test_failure_mid_save_page_leaves_nothing_half_written(db, campaign):
    rid = start(db, campaign)
    store.save_page(db, rid, 0, {"REL1": 2})
    # a trigger makes the second write of save_page (the responses update) fail
    db.execute(
        "CREATE TRIGGER boom BEFORE UPDATE OF na_items ON responses "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="injected failure"):
        store.save_page(db, rid, 1, {"REL1": 5, "REL2": 5}, na_items=["HON1"])
    r = store.get_response(db, rid)
    assert r["answers"] == {"REL1": 2} and r["na"] == [] and r["current_page"] == 1
    assert not db.conn.in_transaction


def test_failure_mid_completion_leaves_nothing_half_written(db, campaign):
    (raw,) = store.create_invitations(db, "c1", 1)
    inv = store.find_invitation(db, raw["token"])
    rid = start(db, campaign, invitation=inv)
    store.save_page(db, rid, 0, FULL)
    db.execute(
        "CREATE TRIGGER boom BEFORE UPDATE ON invitations "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="injected failure"):
        store.complete_response(db, rid)
    r = store.get_response(db, rid)
    assert r["status"] == "started" and r["completed_at"] is None and r["irv"] is None
    assert store.find_invitation(db, raw["token"])["response_id"] is None


def _race(db_path, fn, args_list):
    """Run ``fn(db, *args)`` in one thread per args, each with its own connection."""
    barrier = threading.Barrier(len(args_list))
    results, errors = [None] * len(args_list), []

    def run(k, args):
        try:
            with open_db(db_path) as d:
                barrier.wait()
                results[k] = fn(d, *args)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k, a)) for k, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_one_token_concurrent_completions_store_exactly_one(db_path, db, campaign):
    (raw,) = store.create_invitations(db, "c1", 1)
    inv = store.find_invitation(db, raw["token"])
    # several browsers opened the same link and each answered everything
    rids = [start(db, campaign, invitation=inv) for _ in range(6)]
    for rid in rids:
        store.save_page(db, rid, 0, FULL)
    results = _race(db_path, store.complete_response, [(rid,) for rid in rids])
    assert sorted(results) == [False] * 5 + [True]
    winner = rids[results.index(True)]
    statuses = dict(db.execute("SELECT id, status FROM responses").fetchall())
    assert [rid for rid, s in statuses.items() if s == "complete"] == [winner]
    assert store.find_invitation(db, raw["token"])["response_id"] == winner
    assert store.campaign_counts(db, "c1")["completed"] == 1


def test_concurrent_completion_of_one_response_counts_once(db_path, db, campaign):
    rid = start(db, campaign)
    store.save_page(db, rid, 0, FULL)
    results = _race(db_path, store.complete_response, [(rid,)] * 4)
    assert sorted(results) == [False, False, False, True]


def test_concurrent_page_saves_do_not_fail(db_path, db, campaign):
    rids = [start(db, campaign) for _ in range(4)]
    _race(
        db_path,
        lambda d, rid: [store.save_page(d, rid, p, FULL) for p in range(10)],
        [(rid,) for rid in rids],
    )
    assert all(store.get_response(db, rid)["current_page"] == 10 for rid in rids)


# ----- reading for analysis --------------------------------------------------------
def _fill(db, campaign, n, seed=1):
    rng = np.random.default_rng(seed)
    ids = []
    for k in range(n):
        rid = start(
            db,
            campaign,
            language=["en", "fa"][k % 2],
            params={"segment": ["new", "loyal"][k % 2]} if k % 3 else {},
        )
        ans = {i: int(rng.integers(1, 6)) for i in FULL}
        ans.update(NPS=int(rng.integers(0, 11)), BR1=k % 2, BR2=0)
        if k % 4 == 0:
            ans["REL2"] = None
        if k % 5 == 0:
            ans["HON3"] = None
        store.save_page(db, rid, 0, ans, na_items=["HON3"] if k % 5 == 0 else ())
        if k % 7:
            store.complete_response(db, rid, quality=response_quality)
        ids.append(rid)
    return ids


def test_load_campaign_frame_shape_and_types(db, campaign, inst):
    _fill(db, campaign, 30)
    df, got = store.load_campaign_frame(db, "c1")
    assert same(got, inst)
    assert len(df) == 30 - 5  # every 7th is left unfinished
    assert list(df.columns) == [
        *store.FRAME_META[:1],
        *store.FRAME_META[2:],
        "segment",
        "channel",
        *inst.item_ids,
    ]
    assert df["response_id"].dtype == np.int64 and df["response_id"].is_monotonic_increasing
    assert all(df[i].dtype == np.float64 for i in inst.item_ids)
    assert isinstance(df["started_at"].dtype, pd.DatetimeTZDtype)
    assert df["attention_passed"].dtype == "boolean"
    assert df["longstring"].dtype == "Int64"
    assert set(df["campaign"]) == {"c1"} and set(df["period"]) == {"2026-Q4"}
    assert df["channel"].isna().all()
    assert df["segment"].isna().sum() == sum(1 for k in range(30) if k % 7 and k % 3 == 0)
    # values round-trip exactly, NULL as NaN, N/A listed
    for rid in df["response_id"].sample(5, random_state=1):
        r = store.get_response(db, int(rid))
        row = df.set_index("response_id").loc[rid]
        for i in inst.item_ids:
            assert (row[i] == r["answers"][i]) if i in r["answers"] else np.isnan(row[i])
        assert row["na_items"] == ",".join(r["na"])
        assert row["started_at"] == pd.Timestamp(r["started_at"])
        assert row["completed_at"] == pd.Timestamp(r["completed_at"])
        assert row["duration_s"] == r["duration_s"] and row["irv"] == r["irv"]
        assert row["longstring"] == r["longstring"]
        assert row["attention_passed"] == r["attention_passed"]
        assert row["segment"] == r["params"].get("segment", pd.NA)
        assert row["quality_flags"] == ",".join(r["flags"])
    all_rows, _ = store.load_campaign_frame(db, "c1", complete_only=False)
    assert len(all_rows) == 30 and all_rows.columns[1] == "status"


def test_load_campaign_frame_empty(db, campaign, inst):
    df, _ = store.load_campaign_frame(db, "c1")
    assert len(df) == 0 and list(df.columns)[-len(inst.item_ids) :] == list(inst.item_ids)
    with pytest.raises(LookupError, match="unknown campaign"):
        store.load_campaign_frame(db, "zz")


def test_load_frame_of_several_campaigns(db, campaign, inst):
    c2 = store.create_campaign(db, slug="c2", instrument=inst, period="2027-Q1", params=["segment"])
    _fill(db, campaign, 7)
    _fill(db, c2, 7)
    df, _ = store.load_campaign_frame(db, ["c1", "c2"])
    assert df.groupby("period").size().to_dict() == {"2026-Q4": 6, "2027-Q1": 6}


def test_campaign_counts(db, campaign):
    assert store.campaign_counts(db, "c1") == {
        "started": 0,
        "completed": 0,
        "in_progress": 0,
        "completion_rate": None,
        "screened_out": 0,
    }
    _fill(db, campaign, 14)
    assert store.campaign_counts(db, "c1") == {
        "started": 14,
        "completed": 12,
        "in_progress": 2,
        "completion_rate": 12 / 14,
        "screened_out": 0,
    }


@pytest.mark.slow
def test_load_campaign_frame_is_fast(tmp_path):
    """50k responses x 38 items: about 0.5 s of CPU on a quiet machine (1M: about 10 s)."""
    from survey import demo

    with open_db(tmp_path / "big.db") as db:
        init_db(db)
        demo.fill_demo(db, "big", 50_000, seed=1)
        t0 = time.process_time()
        df, inst = store.load_campaign_frame(db, "big")
        cpu = time.process_time() - t0

    meta = len(store.FRAME_META) - 1  # no status column
    assert df.shape == (50_000, meta + 2 + len(inst.item_ids) + len(inst.text_item_ids))
    assert cpu < 8
