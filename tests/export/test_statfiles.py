"""survey.export.statfiles: sav and dta written one chunk at a time are the files the
in-memory writers (``core._SavWriter`` / ``core._DtaWriter``) write from the same chunks.

Both writers get the same chunks (real export dtypes: taken from a frame built by the
export path, ``core.response_rows``), with Persian and Russian text, text widths that
change from chunk to chunk, an open-text column empty in the first chunk and up to the
instrument's 1,000 characters later, N/A and not-shown codes, brands; also 0 rows, one
chunk, one-row chunks. The files must be equal byte for byte apart from the creation
time, and read back (pyreadstat, pandas.read_stata) with the same values and metadata.
A subprocess test checks that the streamed writer's peak memory does not grow with the
rows, and that the same check fails on the in-memory writer.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from brand_fixtures import BRANDS, brand_campaign

from survey.export import core
from survey.export import statfiles as sf
from survey.storage import store
from survey.storage.db import init_db, open_db

ROOT = Path(__file__).resolve().parents[2]
PERSIAN = "اعتماد به این شرکت زیاد است"
RUSSIAN = "Доверие к этой компании высокое"
WRITERS = {
    "sav": (core._SavWriter, sf.StreamedSavWriter),
    "dta": (core._DtaWriter, sf.StreamedDtaWriter),
}


class _Capture(core._Writer):
    """Keeps what the export path hands a writer: its arguments and the chunk frames."""

    seen: list = []

    def write(self, frame: pd.DataFrame) -> None:
        _Capture.seen.append((self, frame))


def build_setup(d: Path) -> dict:
    """A customer-trust campaign with brands (open text, conditional items, N/A): its
    selection, export columns and one frame built by the export path (for the dtypes)."""
    path = d / "s.db"
    with open_db(path) as db:
        init_db(db)
        store.create_campaign(
            db, slug="plain", instrument="customer-trust", period="2026-Q4", params=[]
        )
        inst = store.campaign_instrument(db, store.get_campaign(db, "plain"))
        made = brand_campaign(db, inst, "brands", people=3, per_person=2, seed=5)
    saved, _Capture.seen = core._WRITERS["csv"], []
    core._WRITERS["csv"] = _Capture
    try:
        core.export_campaign(path, "brands", "csv", d / "capture.csv")
    finally:
        core._WRITERS["csv"] = saved
    (writer, proto), *_ = _Capture.seen
    assert list(proto.columns) == writer.names
    return {
        "path": path,
        "sel": writer.sel,
        "columns": writer.columns,
        "proto": proto,
        "inst": writer.sel.inst,
        "brands": made["brand"],
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return build_setup(tmp_path_factory.mktemp("statfiles"))


def make_chunk(setup: dict, n: int, first_row: int, seed: int, text: str) -> pd.DataFrame:
    """``n`` export rows with the dtypes of the real frame. ``text`` sets the open-text
    and parameter values: "none" (all missing), "short", "long" (up to the instrument's
    maximum, Persian: 2 bytes a character), "wide" (3-byte characters, 1,000 of them)."""
    rng = np.random.default_rng(seed)
    proto, columns = setup["proto"], setup["columns"]
    words = [PERSIAN, RUSSIAN, "fair", "ok", "=1+1", "Zürich café"]
    items = [c for c in columns if c.kind == "item"]
    na_lists: list[list[str]] = [[] for _ in range(n)]
    hidden_lists: list[list[str]] = [[] for _ in range(n)]
    out: dict[str, object] = {}
    for c in columns:
        dtype = proto[c.name].dtype
        if c.name == "row":
            values: list = list(range(first_row + 1, first_row + n + 1))
        elif c.kind == "item":
            lo, hi = c.allowed
            values = [int(v) for v in rng.integers(lo, hi + 1, n)]
            for k in range(n):
                u = rng.random()
                if u < 0.08:
                    values[k] = None
                elif u < 0.2 and c.na:
                    values[k] = None
                    na_lists[k].append(c.name)
                elif u < 0.35 and c.conditional:
                    values[k] = None
                    hidden_lists[k].append(c.name)
        elif c.kind == "text":
            if text == "none":
                values = [None] * n
            elif text == "short":
                values = [str(rng.choice(words)) if rng.random() < 0.7 else None for _ in range(n)]
            else:
                char = "ب" if text == "long" else "€"  # 2 and 3 UTF-8 bytes
                limit = 1000
                values = [char * int(rng.integers(1, limit)) for _ in range(n)]
                values[0] = char * limit
        elif c.name == "brand":
            values = [str(rng.choice([b["slug"] for b in BRANDS])) for _ in range(n)]
        elif c.kind == "param":
            values = [None] * n if text == "none" else [RUSSIAN * (1 + seed % 3)] * n
        elif c.name == "respondent":
            values = [rng.bytes(8).hex() for _ in range(n)]
        elif c.name == "language":
            values = [str(rng.choice(["en", "ru", "fa"])) for _ in range(n)]
        elif c.name == "direction":
            values = ["ltr"] * n
        elif c.name in ("na_items", "not_shown_items", "quality_flags"):
            continue  # below
        elif c.type == "string":
            values = [f"{c.name}-{seed}"] * n
        elif c.type == "number":
            values = [float(v) if v > 0.1 else np.nan for v in rng.random(n) * 100]
        else:  # integer meta and quality columns
            values = [int(v) if v else None for v in rng.integers(0, 3, n)]
        out[c.name] = pd.Series(values, dtype=dtype)
    out["na_items"] = pd.Series([",".join(x) for x in na_lists], dtype=proto["na_items"].dtype)
    out["not_shown_items"] = pd.Series(
        [",".join(sorted(x)) for x in hidden_lists], dtype=proto["not_shown_items"].dtype
    )
    out["quality_flags"] = pd.Series(
        [str(rng.choice(["", "speeder", "straightline,speeder"])) for _ in range(n)],
        dtype=proto["quality_flags"].dtype,
    )
    frame = pd.DataFrame(out)[[c.name for c in columns]]
    assert list(frame.dtypes) == list(proto.dtypes)
    assert items and (n < 5 or (any(na_lists) and any(hidden_lists)))
    return frame


def write_both(setup, fmt: str, tmp: Path, plan: list[tuple[int, str]], prepare=None):
    """Feed both writers the same chunks (fresh copies: ``mark_na`` changes them)."""
    old, new = WRITERS[fmt]
    a = old(tmp / f"mem.{fmt}", setup["columns"], "ru", setup["sel"], core.NA_CODE)
    b = new(tmp / f"stream.{fmt}", setup["columns"], "ru", setup["sel"], core.NA_CODE)
    done, chunks = 0, []
    for seed, (n, text) in enumerate(plan):
        chunk = make_chunk(setup, n, done, seed, text)
        if prepare is not None:
            chunk = prepare(chunk)
        chunks.append(chunk.copy())
        a.write(chunk.copy())
        b.write(chunk)
        done += n
    a.close()
    b.close()
    return a, b, chunks


def masked(path: Path, fmt: str) -> bytes:
    """The file's bytes with the creation time blanked."""
    data = bytearray(path.read_bytes())
    if fmt == "sav":
        data[92:109] = bytes(17)
    else:
        m = re.search(rb"<timestamp>.*?</timestamp>", bytes(data[:4096]), re.S)
        data[m.start() : m.end()] = bytes(m.end() - m.start())
    return bytes(data)


META_FIELDS = (
    "column_names",
    "column_labels",
    "file_label",
    "number_rows",
    "variable_value_labels",
    "value_labels",
    "variable_to_label",
    "missing_ranges",
    "missing_user_values",
    "variable_measure",
    "original_variable_types",
    "readstat_variable_types",
    "variable_storage_width",
    "variable_display_width",
)


def assert_same_reading(a: Path, b: Path, fmt: str) -> None:
    """pyreadstat (sav with user-missing codes), and for dta pandas.read_stata with the
    extended missing values (pyreadstat 1.3.8's ``read_dta(user_missing=True)`` returns
    uninitialised numbers for system-missing cells of integer columns: the same file
    read twice differs, so dta is read without it)."""
    read = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    kw = {"user_missing": True} if fmt == "sav" else {}
    (da, ma), (db, mb) = read(a, **kw), read(b, **kw)
    pd.testing.assert_frame_equal(da, db)
    for f in META_FIELDS:
        assert getattr(ma, f) == getattr(mb, f), f
    if fmt == "dta":
        pa_, pb_ = (
            pd.read_stata(p, convert_categoricals=False, convert_missing=True).map(str)
            for p in (a, b)
        )
        pd.testing.assert_frame_equal(pa_, pb_)
        with pd.io.stata.StataReader(a) as ra, pd.io.stata.StataReader(b) as rb:
            assert ra.value_labels() == rb.value_labels()
            assert ra.variable_labels() == rb.variable_labels()


def assert_matches_input(path: Path, fmt: str, chunks: list[pd.DataFrame], setup) -> None:
    """Not only equal to the reference: the rows are the input rows."""
    if fmt == "sav":
        df, meta = pyreadstat.read_sav(path, user_missing=True)
    else:
        df, meta = pyreadstat.read_dta(path)
        codes = pd.read_stata(path, convert_categoricals=False, convert_missing=True)
    whole = pd.concat(chunks, ignore_index=True)
    assert meta.number_rows == len(whole) == len(df)
    assert df["row"].tolist() == list(range(1, len(whole) + 1))
    for name in ("OPEN_REASON", "brand", "language"):
        assert _texts(df[name]) == _texts(whole[name]), name
    flagged_cells = 0
    for item in [c.name for c in setup["columns"] if c.kind == "item" and c.na]:
        flagged = whole["na_items"].str.split(",").apply(lambda x, i=item: i in x).to_numpy()
        flagged_cells += flagged.sum()
        if fmt == "sav":
            assert (df.loc[flagged, item] == core.NA_CODE).all()
        else:
            assert [str(v) for v in codes.loc[flagged, item]] == [".a"] * flagged.sum()
        answered = whole[item].notna().to_numpy()
        assert (df.loc[answered, item].to_numpy() == whole.loc[answered, item].to_numpy()).all()
    hidden_cells = 0
    for item in [c.name for c in setup["columns"] if c.kind == "item" and c.conditional]:
        hidden = whole["not_shown_items"].str.split(",").apply(lambda x, i=item: i in x)
        hidden = hidden.to_numpy()
        hidden_cells += hidden.sum()
        if fmt == "sav":
            assert (df.loc[hidden, item] == core.NOT_SHOWN_CODE).all()
        else:
            assert [str(v) for v in codes.loc[hidden, item]] == [".b"] * hidden.sum()
    assert (flagged_cells > 0 and hidden_cells > 0) or len(whole) < 5


def _texts(s: pd.Series) -> list[str | None]:
    """Text values, missing and empty alike None (sav/dta store a missing text as "")."""
    return [None if pd.isna(v) or v == "" else v for v in s.tolist()]


PLANS = {
    "several chunks, widths change, text empty in the first": [
        (7, "none"),
        (5, "short"),
        (9, "long"),
        (4, "short"),
    ],
    "one chunk": [(6, "short")],
    "one-row chunks": [(1, "short"), (1, "none"), (1, "long")],
}


@pytest.mark.parametrize("fmt", ["sav", "dta"])
@pytest.mark.parametrize("plan", list(PLANS), ids=lambda p: p.split(",")[0].replace(" ", "-"))
def test_streamed_file_is_the_in_memory_file(setup, tmp_path, fmt, plan):
    mem, streamed, chunks = write_both(setup, fmt, tmp_path, PLANS[plan])
    assert streamed.constant_memory and streamed.fallback_reason is None
    assert masked(streamed.path, fmt) == masked(mem.path, fmt)
    assert_same_reading(mem.path, streamed.path, fmt)
    assert_matches_input(streamed.path, fmt, chunks, setup)
    assert not list(tmp_path.glob(".*")), "spool or piece files left behind"


def test_very_long_sav_strings_splice(setup, tmp_path):
    """1,000 Persian letters are 2,000 bytes: an SPSS very long string (8 segments)."""
    mem, streamed, chunks = write_both(
        setup, "sav", tmp_path, [(3, "short"), (4, "long"), (2, "none")]
    )
    _, meta = pyreadstat.read_sav(streamed.path)
    assert meta.variable_storage_width["OPEN_REASON"] >= 2000
    assert streamed.constant_memory
    assert masked(streamed.path, "sav") == masked(mem.path, "sav")
    assert_matches_input(streamed.path, "sav", chunks, setup)


STRL_PLAN = [(4, "wide"), (3, "short"), (5, "wide"), (2, "none"), (1, "wide")]


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_wide_texts_stream_in_sav_and_as_dta_strls(setup, tmp_path, fmt):
    """Texts up to 3,000 bytes, repeated within and across chunks: sav splices them as
    very long strings (the same bytes as the in-memory file); dta stores them as strLs,
    whose references the writer renumbers and whose string objects it gathers: not the
    same bytes (pyreadstat shares one object per distinct text over the whole file, the
    pieces one per chunk), the same values and metadata read back."""

    def no_missing_text(chunk):  # the in-memory dta writer fails on a missing strL value
        chunk["OPEN_REASON"] = chunk["OPEN_REASON"].fillna("")
        return chunk

    mem, streamed, chunks = write_both(setup, fmt, tmp_path, STRL_PLAN, no_missing_text)
    assert streamed.constant_memory and streamed.fallback_reason is None
    if fmt == "sav":
        assert masked(streamed.path, fmt) == masked(mem.path, fmt)
    else:
        refs, gsos = strl_structure(streamed.path, sum(n for n, _ in STRL_PLAN))
        assert refs and set(refs) == set(gsos)  # every reference resolves, none left over
        assert gsos == sorted(gsos, key=lambda vo: (vo[1], vo[0]))  # by observation
        whole = pd.concat(chunks, ignore_index=True)["OPEN_REASON"]
        assert whole.dropna().duplicated().any()  # a text repeated: shared objects
    assert_same_reading(mem.path, streamed.path, fmt)
    assert_matches_input(streamed.path, fmt, chunks, setup)
    assert not list(tmp_path.glob(".*"))


def strl_structure(path: Path, rows: int) -> tuple[list, list]:
    """The (v, o) references in a dta 118 file's strL cells, and its GSOs' (v, o) in
    file order."""
    data = path.read_bytes()
    with open(path, "rb") as f:
        layout = sf._dta_layout(f, rows)
    (cell,) = layout.fields["strl_cells"]  # the one text column
    refs = []
    for r in range(rows):
        at = layout.data_start + r * layout.row_bytes + cell
        v, o = (
            int.from_bytes(data[at : at + 2], "little"),
            int.from_bytes(data[at + 2 : at + 8], "little"),
        )
        if (v, o) != (0, 0):
            refs.append((v, o))
            assert 1 <= o <= r + 1  # this row (1-based) or an earlier one
    start, end = layout.fields["strls"]
    gsos, at = [], start + len(b"<strls>")
    while data[at : at + 3] == b"GSO":
        v, o, _t, length = struct.unpack_from("<IQBI", data, at + 3)
        gsos.append((v, o))
        at += 20 + length
    assert at == end - len(b"</strls>")
    return refs, gsos


def test_dta_strl_equal_to_the_template_falls_back(setup, tmp_path):
    """A text equal to the template row's ("x" times the widest text's bytes) would make
    a kept row refer to the dropped template row: the writer sees it and writes the file
    in memory instead (and says so)."""
    chunks = [make_chunk(setup, 3, 0, 1, "short"), make_chunk(setup, 3, 3, 2, "short")]
    chunks[1].loc[2, "OPEN_REASON"] = "x" * 3000
    chunks[0].loc[0, "OPEN_REASON"] = "y" * 2500
    for c in chunks:  # the in-memory dta writer fails on a missing strL value
        c["OPEN_REASON"] = c["OPEN_REASON"].fillna("")
    old = core._DtaWriter(tmp_path / "mem.dta", setup["columns"], "en", setup["sel"], -9)
    new = sf.StreamedDtaWriter(tmp_path / "x.dta", setup["columns"], "en", setup["sel"], -9)
    for c in chunks:
        old.write(c.copy())
        new.write(c.copy())
    old.close()
    new.close()
    assert not new.constant_memory and "template" in new.fallback_reason
    assert masked(new.path, "dta") == masked(old.path, "dta")
    assert_matches_input(new.path, "dta", chunks, setup)


def test_dta_strl_with_missing_texts_is_written(setup, tmp_path):
    """A missing text beside a 3,000-byte one: pyreadstat cannot write a missing value in
    a strL column, so the dta writer writes it as "" (read back as "" like any missing
    text of a dta file); every other value is the input."""
    chunks = [make_chunk(setup, 4, 0, 1, "wide"), make_chunk(setup, 3, 4, 2, "none")]
    chunks[0].loc[1, "OPEN_REASON"] = None
    w = sf.StreamedDtaWriter(tmp_path / "x.dta", setup["columns"], "en", setup["sel"], -9)
    for c in chunks:
        w.write(c.copy())
    w.close()
    assert w.constant_memory and w.fallback_reason is None
    df, meta = pyreadstat.read_dta(w.path)
    assert meta.readstat_variable_types["OPEN_REASON"] == "string"
    whole = pd.concat(chunks, ignore_index=True)
    assert _texts(df["OPEN_REASON"]) == _texts(whole["OPEN_REASON"])
    assert whole["OPEN_REASON"].isna().sum() == 4 and df["OPEN_REASON"].str.len().max() == 1000
    assert_matches_input(w.path, "dta", chunks, setup)


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_zero_rows(setup, tmp_path, fmt):
    mem, streamed, _ = write_both(setup, fmt, tmp_path, [])
    assert masked(streamed.path, fmt) == masked(mem.path, fmt)
    read = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    df, meta = read(streamed.path)
    assert len(df) == 0 and meta.column_names == [c.name for c in setup["columns"]]


def test_abort_removes_the_spool_and_the_piece(setup, tmp_path):
    w = sf.StreamedSavWriter(tmp_path / "x.sav", setup["columns"], "en", setup["sel"], -9)
    w.write(make_chunk(setup, 3, 0, 1, "short"))
    assert len(list(tmp_path.glob(".*"))) == 1  # the piece file; the spool has no name
    assert all(p.stat().st_mode & 0o077 == 0 for p in tmp_path.glob(".*"))
    spool = w._spool_fh
    assert os.fstat(spool.fileno()).st_mode & 0o077 == 0 and os.fstat(spool.fileno()).st_nlink == 0
    w.abort()
    assert spool.closed and not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_a_piece_with_another_dictionary_is_not_joined(setup, tmp_path, monkeypatch, fmt):
    """Every piece is checked against the first: without the template row's widths the
    second piece's strings are wider, and the writer falls back to the in-memory file
    (and says so) instead of joining rows of another width."""
    monkeypatch.setattr(sf._Profile, "template", lambda self, chunk: chunk.iloc[[0]])
    mem, streamed, chunks = write_both(setup, fmt, tmp_path, [(3, "short"), (3, "long")])
    assert not streamed.constant_memory
    assert "another dictionary" in streamed.fallback_reason
    assert masked(streamed.path, fmt) == masked(mem.path, fmt)
    assert_matches_input(streamed.path, fmt, chunks, setup)
    assert not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_export_campaign_with_the_streamed_writers(setup, tmp_path, monkeypatch, fmt):
    """The full export path (SQL rows -> frames -> writer) in chunks of 2 rows, against
    the in-memory writer in one chunk (either may be ``core._WRITERS``' default)."""
    old, new = WRITERS[fmt]
    monkeypatch.setitem(core._WRITERS, fmt, old)
    ref = core.export_campaign(
        setup["path"], "brands", fmt, tmp_path / f"a.{fmt}", chunk_rows=6, language="fa"
    )
    monkeypatch.setitem(core._WRITERS, fmt, new)
    got = core.export_campaign(
        setup["path"], "brands", fmt, tmp_path / f"b.{fmt}", chunk_rows=2, language="fa"
    )
    assert not ref.constant_memory and got.constant_memory and got.rows == ref.rows == 6
    manifest = json.loads(got.manifest.read_text("utf-8"))
    assert manifest["constant_memory"] is True and manifest["sha256"] == got.sha256
    assert masked(got.path, fmt) == masked(ref.path, fmt)
    assert_same_reading(ref.path, got.path, fmt)
    df = (pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta)(got.path)[0]
    assert sorted(df["brand"]) == sorted(setup["brands"])
    assert df["row"].tolist() == list(range(1, 7))


# ----- memory -----------------------------------------------------------------------
MEASURE = r"""
import json, sys
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/export"]
from test_statfiles import WRITERS, build_setup, make_chunk
from survey.export import core

tmp, fmt = Path(sys.argv[2]), sys.argv[3]
which, rows, chunk = (int(x) for x in sys.argv[4:7])
setup = build_setup(tmp)
cls = WRITERS[fmt][which]
def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
# warm up: imports and the first pyreadstat call
w = cls(tmp / ("warm." + fmt), setup["columns"], "en", setup["sel"], core.NA_CODE)
w.write(make_chunk(setup, 50, 0, 0, "short"))
w.close()
pieces = [make_chunk(setup, chunk, 0, s, "short") for s in range(3)]  # reused, not kept
w = cls(tmp / ("out." + fmt), setup["columns"], "en", setup["sel"], core.NA_CODE)
before = status("VmRSS")
Path("/proc/self/clear_refs").write_text("5")
for k in range(rows // chunk):
    w.write(pieces[k % 3].copy())
w.close()
size = (tmp / ("out." + fmt)).stat().st_size
print(json.dumps({"growth_mb": status("VmHWM") - before, "size": size}))
"""

SMALL, LARGE, CHUNK = 20_000, 80_000, 5_000


def _growth(tmp: Path, fmt: str, which: int, rows: int) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(ROOT / "tests"), str(tmp), fmt, str(which)]
        + [str(rows), str(CHUNK)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _constant(small: dict, large: dict) -> bool:
    # 4x the rows: a writer holding every row needs about 4x the memory; allow 25% and
    # 8 MiB of allocator noise (as tests/export/test_export_memory.py)
    return large["growth_mb"] <= 1.25 * small["growth_mb"] + 8


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_streamed_peak_memory_does_not_grow_with_rows_and_in_memory_does(tmp_path):
    """20,000 and 80,000 rows in chunks of 5,000: the streamed sav and dta writers add
    the same peak RSS (measured 8.2 / 7.9 MiB sav, 9.7 / 10.4 MiB dta), the in-memory
    sav writer 4x as much for 4x the rows (4.4 / 26.7 MiB) and fails the check."""
    runs = {}
    for fmt, which in (("sav", 1), ("sav", 0), ("dta", 1)):  # 0: the positive control
        for rows in (SMALL, LARGE):
            d = tmp_path / f"{fmt}-{which}-{rows}"
            d.mkdir()
            runs[fmt, which, rows] = _growth(d, fmt, which, rows)
    for fmt in ("sav", "dta"):
        assert runs[fmt, 1, LARGE]["size"] > 3.5 * runs[fmt, 1, SMALL]["size"]  # rows written
        assert _constant(runs[fmt, 1, SMALL], runs[fmt, 1, LARGE]), runs
    assert not _constant(runs["sav", 0, SMALL], runs["sav", 0, LARGE]), runs
