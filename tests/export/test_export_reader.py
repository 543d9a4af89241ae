"""Exports through the Arrow reader (survey.storage.arrow_reader): typed whatever the
first chunk holds, one snapshot with the export's, the child process ended on every
path, its errors clear, and the careless exclusions cached after the snapshot."""

from __future__ import annotations

import json
import os
import sqlite3

import pandas as pd
import pytest

from survey import demo
from survey.export import core, export_campaign
from survey.storage import arrow_reader, careless_cache, exports, store
from survey.storage.db import init_db, open_db

N_NULL = 60_000
TEXTS = ["=HYPERLINK(1)", "@me", "Отлично «ok»", "ترجمه خوب", "-1", "plain"]


@pytest.fixture(scope="module")
def late_values(tmp_path_factory):
    """A campaign whose first 60,000 complete responses have no params, respondent,
    brand position or open text, and whose later ones have them; durations whole
    numbers first, fractions later."""
    path = tmp_path_factory.mktemp("late") / "late.db"
    with open_db(path) as db:
        init_db(db)
        demo.fill_demo(db, "late", N_NULL + len(TEXTS), seed=5)
        inst = store.campaign_instrument(db, store.get_campaign(db, "late"))
        text_item = inst.text_item_ids[0]
        ids = [
            r[0]
            for r in db.execute(
                "SELECT id FROM responses WHERE status = 'complete' ORDER BY id"
            ).fetchall()
        ]
    con = sqlite3.connect(path)
    with con:
        early = ids[N_NULL - 1]
        con.execute(
            "UPDATE responses SET params = '{}', respondent = NULL, brand_position = NULL, "
            "duration_s = 60 WHERE id <= ?",
            [early],
        )
        for k, rid in enumerate(ids[N_NULL:]):
            con.execute(
                "UPDATE responses SET params = ?, respondent = ?, brand_position = ?, "
                "duration_s = ? WHERE id = ?",
                [
                    json.dumps({"segment": TEXTS[k], "channel": k}, ensure_ascii=False),
                    f"key-{k}",
                    k + 1,
                    10.5 + k,
                    rid,
                ],
            )
            con.execute(
                "INSERT INTO text_answers (response_id, item_id, value) VALUES (?, ?, ?)",
                [rid, text_item, TEXTS[k]],
            )
    con.close()
    return path, text_item


def test_values_after_60000_null_rows(late_values, tmp_path):
    path, text_item = late_values
    res = export_campaign(path, "late", "csv", tmp_path / "late.csv")
    got = pd.read_csv(res.path, keep_default_na=False, dtype=str)
    assert len(got) == res.rows == N_NULL + len(TEXTS)
    head, tail = got.iloc[:N_NULL], got.iloc[N_NULL:]
    for c in ("segment", "channel", "respondent", "brand_position", text_item):
        assert (head[c] == "").all(), c
    assert (head["duration_s"] == "60").all()
    neutral = ["'" + t if t[0] in "=@-" else t for t in TEXTS]
    assert tail["segment"].tolist() == neutral
    assert tail[text_item].tolist() == neutral
    assert tail["channel"].tolist() == [str(k) for k in range(len(TEXTS))]  # JSON numbers
    assert tail["respondent"].tolist() == [f"key-{k}" for k in range(len(TEXTS))]
    assert tail["brand_position"].tolist() == [str(k + 1) for k in range(len(TEXTS))]
    assert tail["duration_s"].tolist() == [str(10.5 + k) for k in range(len(TEXTS))]
    parquet = pd.read_parquet(export_campaign(path, "late", "parquet", tmp_path / "l.pq").path)
    assert parquet["segment"].iloc[N_NULL:].tolist() == TEXTS
    assert parquet["brand_position"].iloc[N_NULL:].tolist() == list(range(1, len(TEXTS) + 1))


@pytest.fixture()
def small(tmp_path):
    path = tmp_path / "s.db"
    with open_db(path) as db:
        init_db(db)
        demo.fill_demo(db, "small", 300, seed=2)
    return path


def _children() -> set[int]:
    """This process's child processes (Linux)."""
    out: set[int] = set()
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
            out |= {int(p) for p in f.read().split()}
    return out


def _leftovers(d) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_an_aborted_export_leaves_no_child_and_no_file(small, tmp_path):
    before = _children()
    out = tmp_path / "out"
    out.mkdir()

    def abort(done, total):
        raise KeyboardInterrupt  # as a cancelled job or Ctrl-C would

    with pytest.raises(KeyboardInterrupt):
        export_campaign(small, "small", "csv", out / "x.csv", chunk_rows=50, progress=abort)
    assert _children() == before
    assert _leftovers(out) == []


def test_a_reader_failure_is_a_clear_error(small, tmp_path, monkeypatch):
    before = _children()
    out = tmp_path / "out"
    out.mkdir()
    real = exports._select_sql
    monkeypatch.setattr(
        exports,
        "_select_sql",
        lambda sel, *a, **kw: (real(sel, *a, **kw)[0].replace("text_answers", "no_tbl"), []),
    )
    with pytest.raises(arrow_reader.ReaderError, match="no such table: no_tbl"):
        export_campaign(small, "small", "csv", out / "x.csv")
    assert isinstance(arrow_reader.ReaderError("x"), OSError)  # callers' OSError handling
    assert _children() == before
    assert _leftovers(out) == []


def _complete_one(path, completed_at_sql: str) -> None:
    con = sqlite3.connect(path)
    with con:
        con.execute(
            f"UPDATE responses SET status = 'complete', completed_at = {completed_at_sql} "
            "WHERE id = (SELECT min(id) FROM responses WHERE status = 'started')"
        )
    con.close()


def test_responses_completed_after_the_snapshot_are_left_out(small, tmp_path, monkeypatch):
    """Respondents keep completing while an export starts: the child reads only up to the
    snapshot's last id and completion time, so the export holds the snapshot's rows."""
    with open_db(small) as db:
        n = exports.count(db, exports.select(db, ["small"], None))
    real = arrow_reader.ArrowRows.__init__
    calls = []

    def completing_now(self, *a, **kw):
        _complete_one(small, "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '+1 second')")
        calls.append(1)
        real(self, *a, **kw)

    monkeypatch.setattr(arrow_reader.ArrowRows, "__init__", completing_now)
    res = export_campaign(small, "small", "csv", tmp_path / "x.csv", chunk_rows=64)
    assert len(calls) == 1 and res.rows == n == len(pd.read_csv(res.path))
    with open_db(small) as db:  # the new completions are there, for the next export
        assert exports.count(db, exports.select(db, ["small"], None)) == n + 1


def test_a_response_between_the_two_snapshots_starts_again(small, tmp_path, monkeypatch):
    """A change the bounds cannot leave out (here a completion stamped before the last
    one) makes the snapshots differ: the export takes both again."""
    with open_db(small) as db:
        n = exports.count(db, exports.select(db, ["small"], None))
    real = arrow_reader.ArrowRows.__init__
    calls = []

    def completing_one_first(self, *a, **kw):
        if not calls:  # a response completes after the export's snapshot began
            _complete_one(small, "started_at")
        calls.append(1)
        real(self, *a, **kw)

    monkeypatch.setattr(arrow_reader.ArrowRows, "__init__", completing_one_first)
    res = export_campaign(small, "small", "csv", tmp_path / "x.csv", chunk_rows=64)
    assert len(calls) == 2  # the first reader saw one more response than the snapshot
    assert res.rows == n + 1 == len(pd.read_csv(res.path))
    manifest = json.loads(res.manifest.read_text())
    assert manifest["rows"] == n + 1


def test_responses_that_keep_changing_are_an_error(small, tmp_path, monkeypatch):
    real = arrow_reader.ArrowRows.__init__

    def always_one_more(self, *a, **kw):
        _complete_one(small, "started_at")
        real(self, *a, **kw)

    monkeypatch.setattr(arrow_reader.ArrowRows, "__init__", always_one_more)
    with pytest.raises(exports.SnapshotChanged, match="responses changed"):
        export_campaign(small, "small", "csv", tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_careless_exclusions_are_cached_after_the_export(small, tmp_path):
    with open_db(small) as db:
        sel = exports.select(db, ["small"], None)
        selection, version = careless_cache.key(db, sel.campaigns)
        assert careless_cache.get(db, selection, version) is None
    res = export_campaign(small, "small", "csv", tmp_path / "x.csv")
    with open_db(small) as db:
        cached = careless_cache.get(db, selection, version)
        assert cached is not None
        assert frozenset(cached.tolist()) == core.careless_ids(db, sel)
    assert int(pd.read_csv(res.path)["excluded_careless"].sum()) == len(cached)


def test_completions_stamped_in_the_future_are_exported(small, tmp_path, monkeypatch):
    """The first bound (the clock's time) would leave out a response stamped later than
    now; the snapshots then differ and the second attempt bounds by the exact last
    completion."""
    con = sqlite3.connect(small)
    with con:
        con.execute(
            "UPDATE responses SET completed_at = '2099-01-01T00:00:00.000+00:00' WHERE id = "
            "(SELECT max(id) FROM responses WHERE status = 'complete')"
        )
    con.close()
    with open_db(small) as db:
        n = exports.count(db, exports.select(db, ["small"], None))
    exact = []
    real = exports.read_batches

    def spy(*a, **kw):
        exact.append(kw.get("exact_bounds"))
        return real(*a, **kw)

    monkeypatch.setattr(exports, "read_batches", spy)
    res = export_campaign(small, "small", "csv", tmp_path / "x.csv")
    assert exact == [False, True] and res.rows == n == len(pd.read_csv(res.path))


def test_code_scores_equal_dimension_scores_exactly():
    """The chunks' numpy scores are the pandas ones (analysis' rules), bit for bit, with
    reversed items, missing answers and too few answers."""
    import numpy as np

    from instruments.loader import get_instrument

    inst = get_instrument("customer-trust")
    rng = np.random.default_rng(11)
    n = 5_000
    codes = rng.integers(inst.scale.min, inst.scale.max + 1, size=(n, len(inst.item_ids)))
    missing = rng.random(codes.shape) < 0.2
    missing[:50] = True  # rows with no answer at all
    floats = pd.DataFrame(np.where(missing, np.nan, codes).astype(float), columns=inst.item_ids)
    want = core.dimension_scores(floats, inst)
    got = core.code_scores(codes, missing, inst)
    assert list(got) == list(want.columns)
    assert inst.reversed_item_ids  # the rule is exercised
    for c in want.columns:
        assert np.array_equal(got[c], want[c].to_numpy(), equal_nan=True), c
    assert np.isnan(got["trust_index"][:50]).all() and not np.isnan(got["trust_index"]).all()
