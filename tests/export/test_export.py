"""survey.export: every format round-trips, labels, codebook, manifest, filters, no
identifiers, atomic writes and CLI errors. Data are built through the store API."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from click.testing import CliRunner
from store_fixtures import small_instrument

from analysis.scores import score
from survey import export as ex
from survey.cli import main
from survey.quality import response_quality
from survey.storage import store
from survey.storage.db import connect, init_db, open_db

FORMATS = ex.FORMATS
FIRST_RESPONSE_ID = 7_340_001  # distinctive ids, so a byte scan for them means something
FIRST_INVITATION_ID = 5_120_001


def _fill(db, campaign, inst, rng, n, *, invitations=(), periods=(None,), partial=0):
    """``n`` complete and ``partial`` started responses with random answers, some N/A."""
    ids = []
    for k in range(n + partial):
        lang = rng.choice(campaign["languages"])
        params = {"segment": rng.choice(["new", "loyal"])}
        if "channel" in campaign["params"] and rng.random() < 0.7:
            params["channel"] = rng.choice(["web", "store"])
        rid = store.start_response(
            db,
            campaign,
            language=lang,
            direction="rtl" if lang == "fa" else "ltr",
            params=params,
            item_order=None,
            invitation=invitations[k] if k < len(invitations) else None,
            period=periods[k % len(periods)],
        )
        answers, na = {}, []
        for iid in inst.item_ids:
            scale = inst.scale_for(iid)
            lo, hi = (0, 1) if scale is None else (scale.min, scale.max)
            u = rng.random()
            if u < 0.06:
                continue  # unanswered
            if u < 0.12 and scale is not None and scale.not_applicable:
                na.append(iid)
                continue
            answers[iid] = rng.randint(lo, hi)
        store.save_page(db, rid, 0, answers, na_items=na)
        if k < n:
            assert store.complete_response(db, rid, quality=response_quality)
        ids.append(rid)
    return ids


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A database with campaigns ``ct`` (two periods, invitations, partial responses),
    ``ct-q1`` (same instrument) and ``mini`` (another instrument)."""
    d = tmp_path_factory.mktemp("exportdb")
    path = d / "t.db"
    rng = random.Random(20261122)
    with open_db(path) as db:
        init_db(db)
        ct = store.create_campaign(
            db,
            slug="ct",
            instrument="customer-trust",
            period="2026-Q4",
            params=["segment", "channel"],
        )
        q1 = store.create_campaign(
            db, slug="ct-q1", instrument="customer-trust", period="2027-Q1", params=["segment"]
        )
        mini = store.create_campaign(
            db, slug="mini", instrument=small_instrument(d), period="2026-Q4", params=["segment"]
        )
        # a placeholder invitation and response make later ids distinctive 7-digit numbers
        db.execute(
            "INSERT INTO invitations (id, campaign_id, token_sha256, created_at) "
            "VALUES (?, ?, 'placeholder', '2026-01-01')",
            [FIRST_INVITATION_ID - 1, ct["id"]],
        )
        db.execute(
            "INSERT INTO responses (id, campaign_id, period, language, started_at) "
            "VALUES (?, ?, '2026-Q4', 'en', '2026-01-01')",
            [FIRST_RESPONSE_ID - 1, q1["id"]],
        )
        db.conn.commit()
        invs = store.create_invitations(db, "ct", 6, {"channel": "email"})
        inst = store.campaign_instrument(db, ct)
        ct_ids = _fill(
            db, ct, inst, rng, 30, invitations=invs, periods=(None, "2026-Q3"), partial=4
        )
        q1_ids = _fill(db, q1, inst, rng, 8)
        _fill(db, mini, store.campaign_instrument(db, mini), rng, 5)
        times = [
            v for r in db.execute("SELECT started_at, completed_at FROM responses") for v in r if v
        ]
    return {
        "path": path,
        "tokens": [i["token"] for i in invs],
        "hashes": [store.hash_token(i["token"]) for i in invs],
        "invitation_ids": [i["id"] for i in invs],
        "ct_ids": ct_ids,
        "q1_ids": q1_ids,
        "times": times,
    }


@pytest.fixture
def db(data):
    conn = connect(data["path"])
    yield conn
    conn.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_back(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(
            path,
            keep_default_na=False,
            na_values=[""],
            dtype={"quality_flags": str, "na_items": str, "segment": str, "channel": str},
        )
    if fmt == "json":
        return pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "xlsx":
        return pd.read_excel(path, sheet_name="data")
    if fmt == "sav":
        return pyreadstat.read_sav(path)[0]
    return pyreadstat.read_dta(path)[0]


def text(s: pd.Series) -> list[str]:
    return ["" if pd.isna(v) else str(v) for v in s]


def expected(db, slugs, periods=None):
    frame, inst = store.load_campaign_frame(db, slugs)
    if periods:
        frame = frame[frame["period"].isin(periods)].reset_index(drop=True)
    return frame, inst


def check_round_trip(got: pd.DataFrame, exp: pd.DataFrame, inst, columns) -> None:
    assert list(got.columns) == list(columns)
    n = len(exp)
    assert len(got) == n
    assert got["row"].astype(int).tolist() == list(range(1, n + 1))
    for c in (
        "campaign",
        "period",
        "language",
        "direction",
        "segment",
        "channel",
        "quality_flags",
        "na_items",
    ):
        if c in got.columns:
            assert text(got[c]) == text(exp[c]), c
    np.testing.assert_allclose(got["duration_s"].astype(float), exp["duration_s"], rtol=1e-12)
    np.testing.assert_allclose(pd.to_numeric(got["irv"]).astype(float), exp["irv"], rtol=1e-12)
    assert (
        pd.to_numeric(got["longstring"]).astype(float).tolist()
        == exp["longstring"].astype(float).tolist()
    )
    att = exp["attention_passed"].astype("Float64").astype(float)
    np.testing.assert_array_equal(pd.to_numeric(got["attention_passed"]).astype(float), att)
    assert (
        pd.to_numeric(got["flagged"]).astype(int).tolist()
        == (exp["quality_flags"] != "").astype(int).tolist()
    )
    for iid in inst.item_ids:  # raw codes; N/A and unanswered both missing here
        np.testing.assert_array_equal(
            pd.to_numeric(got[iid]).astype(float).to_numpy(), exp[iid].to_numpy(), err_msg=iid
        )
    ref = score(exp, inst).frame
    for b in inst.dimensions:
        np.testing.assert_allclose(got[f"{b.id}_score"].astype(float), ref[b.id], rtol=1e-12)
    np.testing.assert_allclose(got["trust_index"].astype(float), ref["trust_index"], rtol=1e-12)


# ----- every format ----------------------------------------------------------------
@pytest.fixture(scope="module")
def exports(data, tmp_path_factory):
    """Every format of campaign ``ct`` (English labels), chunked in 7-row pieces."""
    out = tmp_path_factory.mktemp("exports")
    results = {
        f: ex.export_campaign(data["path"], "ct", f, out / f"ct.{f}", chunk_rows=7) for f in FORMATS
    }
    return out, results


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_with_codebook_and_manifest(fmt, exports, db):
    out, results = exports
    r = results[fmt]
    exp, inst = expected(db, "ct")
    assert r.rows == len(exp) == 30  # the 4 started responses are not exported
    assert r.path == out / f"ct.{fmt}" and r.format == fmt
    assert r.constant_memory == (fmt in ex.STREAMED_FORMATS)
    got = read_back(r.path, fmt)
    check_round_trip(got, exp, inst, r.columns)

    manifest = json.loads(r.manifest.read_text(encoding="utf-8"))
    assert manifest["sha256"] == r.sha256 == sha256(r.path)
    assert manifest["rows"] == 30 and manifest["format"] == fmt
    assert manifest["columns"] == list(r.columns) == list(got.columns)
    assert manifest["filters"] == {"campaigns": ["ct"], "periods": None, "status": "complete"}
    assert manifest["instrument"] == {"id": "customer-trust", "version": inst.version}
    assert manifest["trustmeter_version"] == ex.trustmeter_version() != "unknown"
    assert manifest["exported_at"].endswith("Z")

    cb = json.loads(r.codebook_json.read_text(encoding="utf-8"))
    assert [v["name"] for v in cb["variables"]] == list(got.columns)
    rel1 = next(v for v in cb["variables"] if v["name"] == "REL1")
    assert rel1["label"] == dict(inst.item("REL1").text)
    assert set(rel1["label"]) == {"en", "ru", "fa"}
    assert rel1["allowed"] == {"min": 1, "max": 7} and len(rel1["values"]) == 7
    assert rel1["construct"] == "integrity" and rel1["reverse_keyed"] is False
    assert rel1["block"] == "REL" and rel1["block_kind"] == "dimension"
    assert rel1["instrument"] == {"id": "customer-trust", "version": inst.version}
    assert rel1["not_applicable"] is True
    md = r.codebook_md.read_text(encoding="utf-8")
    for c in got.columns:
        assert f"| `{c}` |" in md
    # nothing else left in the directory: no temporary files
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(f"ct.{fmt}")) == sorted(
        [f"ct.{fmt}", f"ct.{fmt}.codebook.md", f"ct.{fmt}.codebook.json", f"ct.{fmt}.manifest.json"]
    )
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]


def test_chunked_and_single_chunk_exports_are_identical(data, exports, tmp_path):
    out, results = exports
    whole = ex.export_campaign(data["path"], "ct", "csv", tmp_path / "whole.csv")
    assert whole.sha256 == results["csv"].sha256
    assert (tmp_path / "whole.csv").read_bytes() == results["csv"].path.read_bytes()


def test_scores_equal_analysis_scores(db):
    frame, inst = store.load_campaign_frame(db, ["ct", "ct-q1"])
    mine = ex.dimension_scores(frame[list(inst.item_ids)], inst)
    ref = score(frame, inst).frame
    for b in inst.dimensions:
        np.testing.assert_allclose(mine[f"{b.id}_score"], ref[b.id], rtol=1e-15)
    np.testing.assert_allclose(mine["trust_index"], ref["trust_index"], rtol=1e-15)
    assert mine["trust_index"].notna().sum() >= 2
    assert mine["trust_index"].isna().sum() >= 1  # some rows miss a dimension score


# ----- labels ------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["ru", "fa"])
def test_sav_and_dta_carry_variable_and_value_labels(data, db, tmp_path, lang):
    inst = store.campaign_instrument(db, store.get_campaign(db, "ct"))
    exp, _ = expected(db, "ct")
    sav = ex.export_campaign(data["path"], "ct", "sav", tmp_path / "x.sav", language=lang)
    dta = ex.export_campaign(data["path"], "ct", "dta", tmp_path / "x.dta", language=lang)
    yes_no = {"ru": {0: "Нет", 1: "Да"}, "fa": {0: "خیر", 1: "بله"}}[lang]
    scale = {c: inst.scale.label(lang, c) for c in inst.scale.codes}
    nps = inst.item("NPS").scale
    for res, reader in ((sav, pyreadstat.read_sav), (dta, pyreadstat.read_dta)):
        df, meta = reader(res.path, user_missing=True)
        labels = meta.column_names_to_labels
        vl = meta.variable_value_labels
        assert labels["REL1"] == inst.item("REL1").text[lang]
        assert (
            labels["trust_index"]
            == {"ru": "Индекс доверия (0–100)", "fa": "شاخص اعتماد (۰ تا ۱۰۰)"}[lang]
        )
        assert {
            int(k): v for k, v in vl["REL1"].items() if not isinstance(k, str) and k >= 1
        } == scale
        assert {int(k): v for k, v in vl["BR_FEE"].items()} == yes_no  # checklist yes/no
        assert {int(k): v for k, v in vl["NPS"].items()} == {
            c: nps.label(lang, c) for c in (0, 10)
        }  # NPS end labels
        assert {int(k): v for k, v in vl["attention_passed"].items()} == yes_no
        # N/A answers: SPSS user-missing -9, Stata extended missing .a, both labelled
        na_code = ex.NA_CODE if res.format == "sav" else "a"
        # the "not applicable" label respondents saw (the instrument's own)
        assert vl["REL1"][na_code] == inst.scale.not_applicable_label[lang]
        n_marked = 0
        for iid in ("REL1", "HON2", "NPS", "PROP4", "ATT1"):
            is_na = exp["na_items"].str.split(",").apply(lambda s, i=iid: i in s).to_numpy()
            col = df[iid].to_numpy(dtype=object)
            marked = np.array([v == na_code for v in col])
            assert (marked == is_na).all(), iid
            n_marked += int(marked.sum())
        assert n_marked >= 3
        assert max(len(v) for v in labels.values()) <= (80 if res.format == "dta" else 255)
    _, meta = pyreadstat.read_sav(sav.path, user_missing=True)
    assert meta.missing_ranges["REL1"] == [{"lo": -9.0, "hi": -9.0}]
    assert meta.variable_measure["REL1"] == "ordinal"
    _, meta = pyreadstat.read_dta(dta.path)
    # value-label sets are named after their variable (pyreadstat alone says "REL10")
    assert meta.variable_to_label["REL1"] == "REL1"
    assert meta.variable_to_label["BR_FEE"] == "BR_FEE"
    assert set(meta.variable_to_label) == set(meta.variable_to_label.values())


def test_stata_labels_are_cut_to_80_characters_and_kept_whole_in_the_codebook(data, db, tmp_path):
    inst = store.campaign_instrument(db, store.get_campaign(db, "ct"))
    res = ex.export_campaign(data["path"], "ct", "dta", tmp_path / "x.dta", language="en")
    long = [i for i in inst.iter_items() if len(i.text["en"]) > 80]
    assert long, "the fixture needs an item text longer than 80 characters"
    _, meta = pyreadstat.read_dta(res.path)
    cb = {v["name"]: v for v in json.loads(res.codebook_json.read_text("utf-8"))["variables"]}
    for item in long:
        cut = meta.column_names_to_labels[item.id]
        assert len(cut) == 80 and cut.endswith("…")
        assert item.text["en"].startswith(cut[:-1])
        assert cb[item.id]["label"]["en"] == item.text["en"]
        assert cb[item.id]["label_in_file"] == cut


def test_xlsx_and_parquet_carry_labels(data, exports):
    import pyarrow.parquet as pq

    out, results = exports
    schema = pq.read_schema(results["parquet"].path)
    assert (
        schema.field("REL1").metadata[b"label"].decode()
        == "This company keeps the promises it makes to me."
    )
    assert schema.field("REL1").type == "int16"
    var = pd.read_excel(results["xlsx"].path, sheet_name="variables")
    assert var["variable"].tolist() == list(results["xlsx"].columns)


# ----- filters -----------------------------------------------------------------------
def test_period_filter(data, db, tmp_path):
    exp, inst = expected(db, "ct", ["2026-Q3"])
    assert 0 < len(exp) < 30
    res = ex.export_campaign(data["path"], "ct", "csv", tmp_path / "q3.csv", periods=["2026-Q3"])
    got = read_back(res.path, "csv")
    check_round_trip(got, exp, inst, res.columns)
    assert set(got["period"]) == {"2026-Q3"}
    manifest = json.loads(res.manifest.read_text("utf-8"))
    assert manifest["filters"]["periods"] == ["2026-Q3"] and manifest["rows"] == len(exp)


def test_several_campaigns_of_one_instrument(data, db, tmp_path):
    exp, inst = expected(db, ["ct", "ct-q1"])
    res = ex.export_campaign(data["path"], ["ct", "ct-q1"], "parquet", tmp_path / "all.parquet")
    got = read_back(res.path, "parquet")
    check_round_trip(got, exp, inst, res.columns)
    assert got["campaign"].value_counts().to_dict() == {"ct": 30, "ct-q1": 8}
    assert json.loads(res.manifest.read_text("utf-8"))["filters"]["campaigns"] == ["ct", "ct-q1"]


def test_started_responses_are_not_exported(data, db, tmp_path):
    statuses = dict(
        db.execute(
            "SELECT r.status, COUNT(*) FROM responses r JOIN campaigns c ON c.id = r.campaign_id "
            "WHERE c.slug = 'ct' GROUP BY r.status"
        ).fetchall()
    )
    assert statuses == {"complete": 30, "started": 4}
    res = ex.export_campaign(data["path"], "ct", "json", tmp_path / "x.json")
    assert res.rows == 30 == len(json.loads(res.path.read_text("utf-8")))


def test_empty_selection_writes_header_only(data, db, tmp_path):
    with open_db(data["path"]) as conn:
        store.create_campaign(conn, slug="empty", instrument="customer-trust", period="P1")
    for fmt in ("csv", "sav", "json", "parquet"):
        res = ex.export_campaign(data["path"], "empty", fmt, tmp_path / f"e.{fmt}")
        assert res.rows == 0
        got = read_back(res.path, fmt)
        assert len(got) == 0
        if fmt != "json":
            assert list(got.columns) == list(res.columns)


# ----- no identifiers ----------------------------------------------------------------
def test_no_identifier_leaves(data, db, exports, tmp_path):
    out, results = exports
    rows = db.execute("SELECT id, invitation_id FROM responses").fetchall()
    response_ids = {r[0] for r in rows}
    invitation_ids = set(data["invitation_ids"]) | {r[1] for r in rows if r[1]}
    assert min(response_ids) >= FIRST_RESPONSE_ID - 1 and min(invitation_ids) >= FIRST_INVITATION_ID
    used = [r for r in rows if r[1] in set(data["invitation_ids"])]
    assert len(used) == 6  # the fixture really has responses bound to invitations
    secrets = [
        *data["hashes"],
        *data["tokens"],
        *data["times"],
        *map(str, response_ids),
        *map(str, invitation_ids),
    ]
    assert len(secrets) > 100
    files = [p for p in out.iterdir()]
    assert len(files) == 4 * len(FORMATS)
    for p in files:
        blobs = [p.read_bytes()]
        if p.suffix == ".xlsx":
            with zipfile.ZipFile(p) as z:
                blobs += [z.read(n) for n in z.namelist()]
        for blob in blobs:
            for s in secrets:
                assert s.encode() not in blob, (p.name, s)
    numeric_ids = response_ids | invitation_ids
    for fmt, r in results.items():
        got = read_back(r.path, fmt)
        bad = [
            c
            for c in got.columns
            if any(
                w in c.lower()
                for w in (
                    "token",
                    "invitation",
                    "response_id",
                    "ip",
                    "agent",
                    "started",
                    "completed",
                )
            )
        ]
        assert bad == []
        for c in got.columns:
            vals = set(pd.to_numeric(got[c], errors="coerce").dropna().tolist())
            assert not vals & numeric_ids, (fmt, c)


# ----- failures ----------------------------------------------------------------------
def test_a_failed_export_leaves_no_file_and_keeps_the_old_one(data, tmp_path, monkeypatch):
    out = tmp_path / "x.csv"
    out.write_text("old\n")
    calls = []

    def boom(self, frame):
        calls.append(len(frame))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return original(self, frame)

    original = ex._CsvWriter.write
    monkeypatch.setattr(ex._CsvWriter, "write", boom)
    with pytest.raises(OSError, match="No space"):
        ex.export_campaign(data["path"], "ct", "csv", out, chunk_rows=5)
    assert calls == [5, 5]
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["nope", "-o", "{d}/x.csv"], 1, "unknown campaign 'nope'"),
        (["ct", "-o", "{d}/x.pdf"], 2, "cannot tell the format"),
        (["ct", "--format", "pdf", "-o", "{d}/x.csv"], 2, "Invalid value for '--format'"),
        (["ct", "--period", "1999-Q1", "-o", "{d}/x.csv"], 1, "unknown period(s) '1999-Q1'"),
        (["ct", "-o", "{d}/missing-dir/x.csv"], 1, "does not exist"),
        (["ct", "--format", "csv", "-o", "{d}"], 1, "is a directory"),
        (["ct", "--language", "de", "-o", "{d}/x.csv"], 1, "language 'de'"),
        (["ct", "mini", "-o", "{d}/x.csv"], 1, "different instrument versions"),
        (["ct", "-o", "{d}/x.csv", "--db", "{d}/no.db"], 1, "database"),
    ],
)
def test_cli_errors(data, tmp_path, args, code, message):
    args = [a.format(d=tmp_path) for a in args]
    if "--db" not in args:
        args += ["--db", str(data["path"])]
    r = CliRunner().invoke(main, ["export", *args])
    assert r.exit_code == code, r.output
    assert "Error:" in r.output and message in r.output
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)
    assert [p.name for p in tmp_path.iterdir()] == []
    assert not (tmp_path / "no.db").exists()


def test_cli_export_with_env_db_progress_and_inferred_format(data, tmp_path, monkeypatch):
    monkeypatch.setenv("TRUSTMETER_DB", str(data["path"]))
    out = tmp_path / "x.sav"
    r = CliRunner().invoke(
        main, ["export", "ct", "--period", "2026-Q4", "-o", str(out), "--language", "fa"]
    )
    assert r.exit_code == 0, r.output
    assert "Exported" in r.stdout and "complete responses" in r.stdout
    assert "not streamed" not in r.stdout  # sav is streamed (survey/export/statfiles.py)
    assert "Exporting sav" in r.stderr
    df, meta = pyreadstat.read_sav(out)
    assert set(df["period"]) == {"2026-Q4"}
    assert meta.column_names_to_labels["period"] == "دوره"
    manifest = json.loads(out.with_name("x.sav.manifest.json").read_text("utf-8"))
    assert manifest["sha256"] == sha256(out) and manifest["label_language"] == "fa"


def test_progress_reports_rows(data, tmp_path):
    seen = []
    ex.export_campaign(
        data["path"],
        "ct",
        "csv",
        tmp_path / "x.csv",
        chunk_rows=8,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(8, 30), (16, 30), (24, 30), (30, 30)]


# ----- R haven -----------------------------------------------------------------------
HAVEN_SCRIPT = r"""
library(haven)
s <- read_sav(commandArgs(TRUE)[1], user_na = TRUE)
d <- read_dta(commandArgs(TRUE)[2])
cat(nrow(s), nrow(d), "\n")
cat(attr(s$REL1, "label"), "\n", attr(d$REL1, "label"), "\n", sep = "")
cat(names(attr(s$REL1, "labels"))[1], names(attr(d$REL1, "labels"))[1], "\n", sep = "|")
cat(sum(s$REL1 == -9, na.rm = TRUE), sum(is_tagged_na(d$REL1, "a")), "\n")
cat(paste(attr(s$NPS, "labels"), collapse = ","), "\n")
"""


def _haven_available() -> str | None:
    if shutil.which("Rscript") is None:
        return "Rscript is not installed (apt-get install r-cran-haven)"
    r = subprocess.run(["Rscript", "-e", "library(haven)"], capture_output=True, timeout=60)
    return None if r.returncode == 0 else "the R package haven is not installed"


def test_sav_and_dta_open_in_r_haven(data, db, tmp_path):
    reason = _haven_available()
    if reason:
        pytest.skip(reason)
    inst = store.campaign_instrument(db, store.get_campaign(db, "ct"))
    exp, _ = expected(db, "ct")
    sav = ex.export_campaign(data["path"], "ct", "sav", tmp_path / "x.sav", language="ru")
    dta = ex.export_campaign(data["path"], "ct", "dta", tmp_path / "x.dta", language="ru")
    script = tmp_path / "check.R"
    script.write_text(HAVEN_SCRIPT, encoding="utf-8")
    r = subprocess.run(
        ["Rscript", str(script), str(sav.path), str(dta.path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    n_na = int(exp["na_items"].str.split(",").apply(lambda s: "REL1" in s).sum())
    assert lines[0].split() == ["30", "30"]
    assert lines[1] == lines[2] == inst.item("REL1").text["ru"]
    assert lines[3] == f"{inst.scale.label('ru', 1)}|{inst.scale.label('ru', 1)}|"
    assert lines[4].split() == [str(n_na), str(n_na)]
    assert lines[5].strip() == "0,10"


def test_xlsx_never_stores_respondent_text_as_a_formula(data, tmp_path):
    from openpyxl import load_workbook

    evil = '=HYPERLINK("http://example.invalid","x")'
    with open_db(data["path"]) as conn:
        c = store.create_campaign(
            conn, slug="inj", instrument="customer-trust", period="P1", params=["segment"]
        )
        rid = store.start_response(
            conn,
            c,
            language="en",
            direction="ltr",
            params={"segment": evil + "\x01"},
            item_order=None,
        )
        store.save_page(conn, rid, 0, {"REL1": 3})
        store.complete_response(conn, rid)
    res = ex.export_campaign(data["path"], "inj", "xlsx", tmp_path / "x.xlsx")
    wb = load_workbook(res.path, read_only=True)
    try:
        header, row = list(wb["data"].iter_rows(max_row=2))
        cell = row[[h.value for h in header].index("segment")]
        # text, never a formula; OWASP prefix ' (neutralise.py); control character dropped
        assert cell.value == "'" + evil and cell.data_type == "s"
        assert row[[h.value for h in header].index("REL1")].value == 3
    finally:
        wb.close()
    csv = ex.export_campaign(data["path"], "inj", "csv", tmp_path / "x.csv")
    assert read_back(csv.path, "csv")["segment"].tolist() == ["'" + evil + "\x01"]  # OWASP
    csv = ex.export_campaign(data["path"], "inj", "csv", tmp_path / "r.csv", raw_formulas=True)
    assert read_back(csv.path, "csv")["segment"].tolist() == [evil + "\x01"]  # verbatim


def test_library_errors_name_the_problem_and_write_nothing(data, tmp_path):
    out = tmp_path / "x.csv"
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        ex.export_campaign(data["path"], "ct", "pdf", out)
    with pytest.raises(LookupError, match="unknown campaign 'nope'"):
        ex.export_campaign(data["path"], "nope", "csv", out)
    with pytest.raises(LookupError, match="unknown period"):
        ex.export_campaign(data["path"], "ct", "csv", out, periods=["2027-Q1"])
    with pytest.raises(ValueError, match="language 'de'"):
        ex.export_campaign(data["path"], "ct", "csv", out, language="de")
    with pytest.raises(ValueError, match="chunk_rows"):
        ex.export_campaign(data["path"], "ct", "csv", out, chunk_rows=0)
    assert list(tmp_path.iterdir()) == []


def test_cli_export_progress_off_a_terminal_is_a_line_every_ten_percent(
    data, tmp_path, monkeypatch
):
    import survey.cli.data as cli_data

    real = cli_data.export_campaign
    monkeypatch.setattr(
        cli_data, "export_campaign", lambda *a, **kw: real(*a, **kw, chunk_rows=3)
    )  # 10 chunks of 30
    r = CliRunner().invoke(
        main, ["export", "ct", "--db", str(data["path"]), "-o", str(tmp_path / "x.csv")]
    )
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("Exporting csv:")]
    assert lines == [f"Exporting csv: {10 * k}% ({3 * k:,} of 30 rows)" for k in range(1, 11)]
