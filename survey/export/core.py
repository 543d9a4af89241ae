"""Export a campaign's complete responses for analysis elsewhere (issue 4, section 3).

One row per *complete* response, written as csv, xlsx, sav (SPSS), dta (Stata),
parquet or json, with a codebook (``FILE.codebook.md`` and ``FILE.codebook.json``)
and a manifest (``FILE.manifest.json``) beside every data file::

    from survey.export import export_campaign
    result = export_campaign(db, "acme-2026q4", "sav", "acme.sav", language="ru")
    result.rows, result.sha256, result.manifest

or ``trustmeter export acme-2026q4 --format sav -o acme.sav --language ru``.

Columns, in order
-----------------
``row``
    1..n, a per-export row number in response order. The internal ``response_id``
    is *not* exported: with the database it leads to the invitation and its token
    hash, i.e. to the person invited. ``row`` lets researchers refer to a case
    without that link.
``respondent``
    An anonymous random key (16 hex digits) shared by the rows of one person: with
    brands, each brand a person rates is one row, and their rows share this key. It is
    drawn at random when the person starts, never derived from the response id, the
    invitation or a token.
``campaign``, ``period``, ``language``, ``direction``, ``duration_s``
    Metadata. Start/completion timestamps are not exported either: exact times are
    quasi-identifiers (they match invitation use times and mail or web logs);
    ``period`` gives the wave and ``duration_s`` the time taken.
declared URL parameters
    One text column each, named by the parameter (``param_<name>`` if the name
    clashes with an export column). In a campaign with brands, ``brand`` is one of
    them: the rated brand's slug (its display names are the value labels in sav, and
    the codebook's ``values`` in every format).
``brand_position``
    The rating's place (1, 2, ...) in the person's random brand order; empty when the
    brand came from the link or invitation (or the campaign has no brands).
``longstring``, ``irv``, ``attention_passed``, ``quality_flags``, ``flagged``, ``na_items``
    Quality indicators computed when the response was completed
    (:func:`survey.storage.store.quality_flags`; named as in
    :func:`survey.storage.store.load_campaign_frame`): ``quality_flags`` lists the raised flags
    (``straightline``, ``longstring``, ``attention_failed``, ``speeder``),
    ``flagged`` is 1 when any is raised. ``na_items`` lists the items answered
    "not applicable". Sample-relative screens (IRV outliers, Mahalanobis distance;
    :func:`analysis.careless.careless`) depend on the analysed sample and are left to
    the analysis.
one column per item
    Named by item id, in instrument order, holding the raw codes as stored (not
    reverse-keyed; checklist items 1 = yes, 0 = no).
``<DIM>_score`` per trust dimension and ``trust_index``
    As :func:`analysis.scores.score` defines them: the mean of the answered,
    reverse-keyed items when at least ``ceil(0.75 k)`` are answered, and the mean
    of the dimension scores mapped to 0-100.

Missing values
--------------
"No answer" and "not applicable" are both empty in csv, xlsx, parquet and json
(system missing; ``na_items`` tells them apart). In SPSS files an N/A answer is
the user-missing code :data:`NA_CODE` (-9, declared missing and labelled), in Stata
files the extended missing value ``.a`` (labelled); "no answer" is system missing.

Memory
------
Every format is written while the rows are read, one chunk of :data:`CHUNK_ROWS` at
a time, so memory does not grow with the number of responses.
The rows are read by a child process (:mod:`survey.storage.arrow_reader`, ADBC SQLite)
as Arrow record batches of one chunk, while this process frames and writes the
previous chunk; its snapshot must hold the same responses as the export's
(:func:`survey.storage.exports.read_batches`). SPSS and Stata files are written by
pyreadstat one chunk at a time and the pieces joined (:mod:`survey.export.statfiles`;
no maintained, permissively licensed library appends rows to a .sav or .dta): the
chunks wait in a nameless spool file on disk, not in memory. Should a piece's
dictionary ever differ from the first's, that export is rebuilt in memory and says
so (``constant_memory`` false). The ``excluded_careless`` column comes from a cache kept
by data version (:mod:`survey.storage.careless_cache`); when the data changed since
it was filled, the screening runs first, one period at a time.

Measured with 1,000,000 complete responses (59 columns; ``make bench``, 2026-12-02,
2-core machine under load 3; the peak RSS an export adds in this process, against 57 MiB
for reading and framing one 50,000-row chunk; the reading child's own peak is about
150 MiB): csv 6.4 s / 103 MiB (1.24x ``sqlite3 -csv`` on wall time, 1.6x on CPU time
with the child's), parquet 5.9 s / 127 MiB, json 9.9 s / 80 MiB; sav 27 s / 83 MiB
and dta 26 s / 92 MiB streamed (579 / 581 MiB when they were built in memory); the
careless screening, when stale, 39 s / 426 MiB.

csv is UTF-8 without a byte-order mark, text quoted, missing values empty. Its
cells are written verbatim (a URL parameter value such as ``=1+1`` stays as
it is, as data tools expect); in xlsx every text cell is stored as text, never as a
formula, so opening the workbook cannot run respondent-supplied formulas.

Every file is written to a temporary file in the target directory and renamed into
place when complete, so a failed export never leaves a half-written file under the
final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import struct
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlite_utils import Database

from analysis.data import reverse_key
from analysis.headline import careless_exclusions
from analysis.scores import resolve_min_items
from instruments.model import Instrument, Scale
from survey.export import labels as texts
from survey.export.neutralise import (
    FORMULA_PREFIXES,
    NOTE_NEUTRALISED,
    NOTE_RAW,
    QUOTE,
    neutralise_frame,
)
from survey.storage import careless_cache, exports, packing
from survey.storage.db import open_db
from survey.storage.files import private_mode

FORMATS = ("csv", "xlsx", "sav", "dta", "parquet", "json")
#: Formats written in constant memory: all (sav and dta by survey/export/statfiles.py).
STREAMED_FORMATS = FORMATS
NEUTRALISED_FORMATS = ("csv", "xlsx")  # formula-looking text prefixed with ' (neutralise.py)
CHUNK_ROWS = 50_000

#: times an export takes its snapshot and the reader's again when responses arrived
#: between the two (:class:`survey.storage.exports.SnapshotChanged`)
SNAPSHOT_ATTEMPTS = 5
#: SPSS user-missing code for "not applicable" (lowered if a scale reaches it).
NA_CODE = -9
#: Stata extended missing value for "not applicable".
NA_STATA = "a"
NOT_SHOWN_CODE = -8  # SPSS user-missing "not shown" (show_if false), see _not_shown_code
NOT_SHOWN_STATA = "b"
XLSX_MAX_ROWS = 1_048_575  # 2**20 rows per sheet, less the header
STATA_LABEL_MAX = 80  # characters
SPSS_LABEL_MAX_BYTES = 255
SPSS_VALUE_LABEL_MAX_BYTES = 120

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_campaign` wrote."""

    path: Path
    format: str
    rows: int
    sha256: str
    codebook_md: Path
    codebook_json: Path
    manifest: Path
    columns: tuple[str, ...] = ()
    constant_memory: bool = True

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "format": self.format,
            "rows": self.rows,
            "sha256": self.sha256,
            "codebook_md": str(self.codebook_md),
            "codebook_json": str(self.codebook_json),
            "manifest": str(self.manifest),
            "columns": list(self.columns),
            "constant_memory": self.constant_memory,
        }


def _tr(table: Mapping[str, str], lang: str) -> str:
    return table.get(lang) or table.get("en") or next(iter(table.values()), "")


@dataclass(frozen=True)
class Column:
    """One exported variable and its codebook entry."""

    name: str
    kind: str  # meta | param | quality | item | score
    type: str  # integer | number | string
    label: Mapping[str, str]
    values: Mapping[int | str, Mapping[str, str]] = field(default_factory=dict)
    allowed: tuple[int, int] | None = None
    na: bool = False  # "not applicable" is a possible answer
    construct: str | None = None
    reverse: bool | None = None
    block: str | None = None
    block_kind: str | None = None
    block_name: Mapping[str, str] | None = None
    source: str | None = None  # the frame/SQL field it comes from
    note: str | None = None
    conditional: bool = False  # has a show_if: may be "not shown"

    def label_in(self, lang: str) -> str:
        return _tr(self.label, lang)

    def value_labels(self, lang: str) -> dict[int | str, str]:
        return {code: _tr(lab, lang) for code, lab in self.values.items()}


def _scale_values(scale: Scale, langs: Sequence[str]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    for code in scale.codes:
        labs = {lang: scale.label(lang, code) for lang in langs if scale.label(lang, code)}
        if labs:
            out[code] = labs
    return out


def _meta_label(name: str, langs: Sequence[str]) -> dict[str, str]:
    return texts.in_languages(texts.META[name], langs)


def brand_values(campaigns: Sequence[Mapping]) -> dict[str, dict[str, str]]:
    """``{slug: {lang: display name}}`` of the campaigns' brands, in declaration order."""
    out: dict[str, dict[str, str]] = {}
    for c in campaigns:
        for b in c.get("brands") or ():
            out.setdefault(b["slug"], {}).update(
                {lang: n for lang, n in b.get("names", {}).items() if n}
            )
    return out


def build_columns(
    inst: Instrument,
    params: Sequence[str],
    brands: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Column]:
    """The export's variables, in file order, for an instrument and declared params;
    ``brands`` (:func:`brand_values`) label the values of the ``brand`` param."""
    langs = list(inst.languages)
    yn = texts.yes_no(langs)
    cols = [
        Column("row", "meta", "integer", _meta_label("row", langs)),
        Column(
            "respondent",
            "meta",
            "string",
            _meta_label("respondent", langs),
            note="anonymous random key; the rows of one person (one per brand rated) share it",
        ),
        Column("campaign", "meta", "string", _meta_label("campaign", langs)),
        Column("period", "meta", "string", _meta_label("period", langs)),
        Column("language", "meta", "string", _meta_label("language", langs)),
        Column("direction", "meta", "string", _meta_label("direction", langs)),
        Column("duration_s", "meta", "number", _meta_label("duration_s", langs)),
    ]
    taken = {c.name.lower() for c in cols} | {
        "longstring",
        "irv",
        "attention_passed",
        "quality_flags",
        "flagged",
        "na_items",
        "not_shown_items",
        "brand_position",
        "excluded_careless",
        "trust_index",
    }
    taken |= {i.lower() for i in inst.item_ids} | {
        _score_name(b.id).lower() for b in inst.dimensions
    }
    for p in params:
        name = p if p.lower() not in taken else f"param_{p}"
        if p == "brand" and brands:
            cols.append(
                Column(
                    name,
                    "param",
                    "string",
                    texts.in_languages(texts.PARAM, langs, name=p),
                    values={slug: dict(names) for slug, names in brands.items()},
                    source=p,
                    note="the rated brand's slug; its display names are the value labels",
                )
            )
            continue
        cols.append(
            Column(
                name, "param", "string", texts.in_languages(texts.PARAM, langs, name=p), source=p
            )
        )
    cols += [
        Column(
            "brand_position",
            "meta",
            "integer",
            _meta_label("brand_position", langs),
            note="1-based place of this rating in the respondent's random brand order; "
            "empty when the brand came from the link or invitation",
        ),
        Column("longstring", "quality", "integer", _meta_label("longstring", langs)),
        Column("irv", "quality", "number", _meta_label("irv", langs)),
        Column(
            "attention_passed",
            "quality",
            "integer",
            _meta_label("attention_passed", langs),
            values=yn,
            allowed=(0, 1),
            note="missing when the instrument has no attention check",
        ),
        Column(
            "quality_flags",
            "quality",
            "string",
            _meta_label("quality_flags", langs),
            note="straightline, longstring, attention_failed, speeder "
            "(survey.storage.store.quality_flags)",
        ),
        Column(
            "flagged",
            "quality",
            "integer",
            _meta_label("flagged", langs),
            values=yn,
            allowed=(0, 1),
        ),
        Column("na_items", "quality", "string", _meta_label("na_items", langs)),
        Column(
            "not_shown_items",
            "quality",
            "string",
            _meta_label("not_shown_items", langs),
            note="items whose show_if was false: never asked (empty in their column; "
            "SPSS user-missing -8, Stata .b)",
        ),
        Column(
            "excluded_careless",
            "quality",
            "integer",
            _meta_label("excluded_careless", langs),
            values=yn,
            allowed=(0, 1),
            note="1 = excluded from the Trust Index and the report as careless: flagged by "
            "at least 2 of the careless-responding indicators (longstring, response "
            "variability, Mahalanobis distance, attention check, speeding), screened "
            "among the complete responses of the same period "
            "(analysis.headline.careless_exclusions, the dashboard's count)",
        ),
    ]
    checklist = set(inst.checklist.item_ids) if inst.checklist is not None else set()
    attention = {a.id for a in inst.attention_checks}
    for item in inst.iter_items():
        block = inst.block_of(item.id)
        scale = inst.scale_for(item.id)
        if item.id in checklist:
            values, allowed, na = yn, (0, 1), False
            bid, bkind, bname = inst.checklist.id, "checklist", dict(inst.checklist.prompt)
        else:
            values, allowed, na = (
                _scale_values(scale, langs),
                (scale.min, scale.max),
                scale.not_applicable,
            )
            if block is not None:
                bid, bkind, bname = block.id, block.kind, dict(block.name)
            elif item.id in attention:
                bid, bkind, bname = None, "attention_check", None
            else:
                bid, bkind, bname = None, "single_item", None
        note = (
            f"attention check: the instructed answer is {item.expected}"
            if item.id in attention
            else None
        )
        cols.append(
            Column(
                item.id,
                "item",
                "integer",
                dict(item.text),
                values=values,
                allowed=allowed,
                na=na,
                construct=item.construct,
                reverse=item.reverse,
                block=bid,
                block_kind=bkind,
                block_name=bname,
                note=note,
                conditional=bool(inst.conditions_for(item.id)),
            )
        )
    for item in inst.text_items:  # open answers: string variables, never scored
        cols.append(
            Column(
                item.id,
                "text",
                "string",
                dict(item.text),
                construct=item.construct,
                conditional=bool(inst.conditions_for(item.id)),
                note=f"open text, at most {item.max_length} characters; control "
                "characters and bidi overrides removed",
            )
        )
    for b in inst.dimensions:
        cols.append(
            Column(
                _score_name(b.id),
                "score",
                "number",
                {
                    lang: texts.translate(texts.SCORE, lang, name=_tr(b.name, lang))
                    for lang in langs
                },
                block=b.id,
                block_kind="dimension",
                block_name=dict(b.name),
                source=b.id,
                note=f"mean of the answered reverse-keyed items "
                f"{', '.join(b.item_ids)} when at least "
                f"{resolve_min_items(None, len(b.item_ids))} are answered",
            )
        )
    lo, hi = inst.scale.min, inst.scale.max
    cols.append(
        Column(
            "trust_index",
            "score",
            "number",
            _meta_label("trust_index", langs),
            note=f"(mean of the dimension scores - {lo}) / ({hi} - {lo}) * 100; "
            "missing unless every dimension has a score",
        )
    )
    seen: dict[str, str] = {}
    for c in cols:
        if c.name.lower() in seen:
            raise ValueError(f"export column {c.name!r} clashes with {seen[c.name.lower()]!r}")
        seen[c.name.lower()] = c.name
    return cols


def _score_name(block_id: str) -> str:
    name = f"{block_id}_score"
    return name if len(name) <= 32 else f"{block_id[:26]}_score"


# ----- scores ---------------------------------------------------------------------
def dimension_scores(items: pd.DataFrame, inst: Instrument) -> pd.DataFrame:
    """Per-row dimension scores and ``trust_index`` of float item columns (NaN = missing).

    The same rules as :func:`analysis.scores.score` (whose ``frame`` the tests
    compare this with), built from its helpers, but without the sample summary:
    ``score`` needs at least two scored respondents, while an export chunk may hold
    one.
    """
    x = reverse_key(items[list(inst.dimension_item_ids)], inst)
    out: dict[str, pd.Series] = {}
    for b in inst.dimensions:
        sub = x[list(b.item_ids)]
        s = sub.mean(axis=1, skipna=True)
        s[sub.notna().sum(axis=1) < resolve_min_items(None, len(b.item_ids))] = np.nan
        out[_score_name(b.id)] = s
    frame = pd.DataFrame(out, index=items.index)
    lo, hi = inst.scale.min, inst.scale.max
    raw = frame.mean(axis=1, skipna=False)
    frame["trust_index"] = (raw - lo) / (hi - lo) * 100
    return frame


def code_scores(values: np.ndarray, missing: np.ndarray, inst: Instrument) -> dict[str, np.ndarray]:
    """:func:`dimension_scores` (same columns, same float results) from an integer code
    matrix (one column per instrument item, in order) and its missing mask, in numpy:
    the export's chunks, where pandas' row means took 1.1 s per million rows. Sums run
    over the same items in the same order as pandas' (``tests/export/test_export_reader.
    py`` checks equality)."""
    col = {iid: j for j, iid in enumerate(inst.item_ids)}
    reverse = set(inst.reversed_item_ids)
    out: dict[str, np.ndarray] = {}
    for b in inst.dimensions:
        idx = [col[i] for i in b.item_ids]
        x = values[:, idx].astype(np.float64)
        for k, iid in enumerate(b.item_ids):
            if iid in reverse:
                x[:, k] = inst.scale_for(iid).reverse(x[:, k])
        gone = missing[:, idx]
        x[gone] = 0.0
        answered = (~gone).sum(axis=1)
        total = x[:, 0].copy()
        for k in range(1, len(idx)):  # left to right, as pandas adds a row's columns
            total += x[:, k]
        with np.errstate(invalid="ignore", divide="ignore"):
            score = total / answered
        score[answered < resolve_min_items(None, len(idx))] = np.nan
        out[_score_name(b.id)] = score
    lo, hi = inst.scale.min, inst.scale.max
    parts = list(out.values())
    raw = parts[0].copy()
    for p in parts[1:]:
        raw += p
    raw /= len(parts)
    out["trust_index"] = (raw - lo) / (hi - lo) * 100
    return out


def response_rows(
    db: Database, slug: str, response_ids: Sequence[int], *, first_row: int = 0
) -> tuple[pd.DataFrame, list[Column]]:
    """Export rows (the columns of :func:`build_columns`) of some complete responses of
    one campaign, in the order of ``response_ids``; ``row`` counts from ``first_row + 1``.
    For the API's JSON Lines pulls: the same columns and the same absence of
    identifiers as a file export."""
    sel = exports.select(db, [slug], None)
    columns = build_columns(sel.inst, sel.params, brand_values(sel.campaigns))
    batch = exports.batch_of(db, sel, response_ids)
    if not batch.num_rows:
        return pd.DataFrame({c.name: [] for c in columns}), columns
    return _chunk_frame(batch, first_row, sel, columns, careless_ids(db, sel)), columns


def careless_ids(
    db: Database, sel: exports.Selection, *, unstored: list | None = None
) -> frozenset[int]:
    """Ids of the selected campaigns' complete responses excluded as careless (the
    dashboard's rule: :func:`analysis.headline.careless_exclusions`).

    Cached by data version (:mod:`survey.storage.careless_cache`): computed once per
    change of the campaigns' responses, one period at a time (the rule screens within a
    period, so only one period's items are in memory at once). Stored only when called
    outside a transaction; inside one, a computed result is appended to ``unstored`` (if
    given) as ``(selection, version, ids)`` for the caller to store after it
    (:func:`export_campaign` does, after its read snapshot)."""
    selection, version = careless_cache.key(db, sel.campaigns)
    cached = careless_cache.get(db, selection, version)
    if cached is not None:
        return frozenset(cached.tolist())
    excluded: list[int] = []
    for frame in careless_cache.period_frames(db, sel.campaigns, sel.inst, sel.table):
        mask = careless_exclusions(frame, sel.inst)
        excluded += frame["response_id"].to_numpy()[mask].tolist()
    if not careless_cache.put(db, selection, version, excluded) and unstored is not None:
        unstored.append((selection, version, excluded))
    return frozenset(excluded)


def _text_map(arr, convert: Callable[[str | None], str]) -> pd.api.extensions.ExtensionArray:
    """A text column from a repetitive Arrow string column: each distinct value (``None``
    for NULL) converted once by ``convert``, then expanded."""
    import pyarrow as pa

    enc = arr.dictionary_encode(null_encoding="encode")
    uniques = [convert(u) for u in enc.dictionary.to_pylist()]
    return pd.array(pa.array(uniques, type=pa.string()).take(enc.indices), dtype="str")


def _json_list(value: str | None) -> str:
    """``["a", "b"]`` (a JSON list of ids, as ``responses.flags``/``na_items`` hold)
    -> ``a,b``; NULL -> ``""``."""
    return re.sub(r'[\[\]" ]', "", value if value is not None else "[]")


def _sorted_set(value: str | None) -> str:
    return ",".join(sorted(set(value.split(",")))) if value else ""


def _masked_int(arr, dtype: str) -> pd.api.extensions.ExtensionArray:
    """A nullable integer column (``Int8``/``Int16``) from an Arrow int64 column; a
    value that does not fit is an error, not a wrapped number."""
    import pyarrow as pa

    small = arr.cast({"Int8": pa.int8(), "Int16": pa.int16()}[dtype])  # raises on overflow
    mask = small.is_null().to_numpy(zero_copy_only=False)
    values = small.fill_null(0).to_numpy(zero_copy_only=False)
    return pd.arrays.IntegerArray(values, mask)


def _packed_answers(arr, lows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Decode the packed answers column (Arrow strings) without a Python string per row:
    its UTF-8 data buffer holds the rows' packed characters end to end."""
    n = len(arr)
    if arr.null_count:
        raise ValueError("packed answers missing in a row")
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=arr.offset + n + 1)
    lo, hi = int(offsets[arr.offset]), int(offsets[arr.offset + n])
    data = arr.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8, count=hi)[lo:] if hi else np.empty(0, np.uint8)
    values, missing, _ = packing.unpack_utf8(raw, lows, rows=n)
    return values, missing


def _chunk_frame(
    batch,
    first_row: int,
    sel: exports.Selection,
    columns: Sequence[Column],
    careless: frozenset[int],
) -> pd.DataFrame:
    """One chunk of rows (an Arrow record batch of :func:`survey.storage.exports.fields`)
    -> the export frame (compact nullable dtypes). The leading response ids only join
    ``careless`` (ids excluded as careless) and go."""
    inst = sel.inst
    n = batch.num_rows
    col = batch.column
    out: dict[str, Any] = {"row": np.arange(first_row + 1, first_row + n + 1, dtype=np.int64)}
    out["respondent"] = pd.array(col("respondent"), dtype="str")
    for name in ("campaign", "period", "language", "direction"):
        out[name] = pd.array(col(name), dtype="str")
    out["duration_s"] = col("duration_s").to_numpy(zero_copy_only=False)  # NULL -> NaN
    for c in columns:
        if c.kind == "param":
            out[c.name] = pd.array(col(f"param:{c.name}"), dtype="str")
    out["brand_position"] = _masked_int(col("brand_position"), "Int16")
    out["longstring"] = _masked_int(col("longstring"), "Int16")
    out["irv"] = col("irv").to_numpy(zero_copy_only=False)  # NULL -> NaN
    out["attention_passed"] = _masked_int(col("attention_passed"), "Int8")
    flags = _text_map(col("flags"), _json_list)
    out["quality_flags"] = flags
    out["flagged"] = pd.array((pd.Series(flags) != "").astype("int8"), dtype="Int8")
    out["na_items"] = _text_map(col("na_items"), _json_list)
    out["not_shown_items"] = _text_map(col("not_shown_items"), _sorted_set)
    for c in columns:
        if c.kind == "text":
            out[c.name] = pd.array(col(f"text:{c.name}"), dtype="str")
    id_array = col("response_id").to_numpy()
    excluded = np.fromiter(careless, dtype=np.int64, count=len(careless))
    out["excluded_careless"] = pd.arrays.IntegerArray(
        np.isin(id_array, excluded).astype(np.int8), np.zeros(n, dtype=bool)
    )
    items = list(inst.item_ids)
    values, missing = _packed_answers(col("answers"), sel.lows)
    # one conversion for all items, columns contiguous (each item's array a row of these)
    codes_t = np.ascontiguousarray(values.T, dtype=np.int16)
    missing_t = np.ascontiguousarray(missing.T)
    for j, iid in enumerate(items):
        out[iid] = pd.arrays.IntegerArray(codes_t[j], missing_t[j])
    out.update(code_scores(values, missing, inst))
    return pd.DataFrame({c.name: out[c.name] for c in columns})


def _na_mask(
    frame: pd.DataFrame, items: Sequence[str], status: str = "na_items"
) -> dict[str, np.ndarray]:
    """``{item: bool array}`` of the cells answered "not applicable" in a chunk (of the
    items not shown with ``status="not_shown_items"``)."""
    masks = {i: np.zeros(len(frame), dtype=bool) for i in items}
    if not items:
        return masks
    s = frame[status].to_numpy()
    for pos in np.flatnonzero(frame[status].fillna("").to_numpy(dtype=object) != ""):
        for iid in str(s[pos]).split(","):
            if iid in masks:
                masks[iid][pos] = True
    return masks


# ----- writers ---------------------------------------------------------------------
class _Writer(ABC):
    """Writes one export format chunk by chunk."""

    constant_memory = True
    raw_formulas = False  # csv/xlsx: keep formula-looking text verbatim (see neutralise.py)

    def __init__(
        self, path: Path, columns: Sequence[Column], lang: str, sel: exports.Selection, na_code: int
    ):
        self.path, self.columns, self.lang, self.sel, self.na_code = (
            path,
            columns,
            lang,
            sel,
            na_code,
        )
        self.names = [c.name for c in columns]

    def neutralised(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with formula-looking text prefixed by ``'`` unless ``raw_formulas``."""
        if self.raw_formulas:
            return frame
        return neutralise_frame(frame, [c.name for c in self.columns if c.type == "string"])

    @abstractmethod
    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk of rows."""

    def close(self) -> None:  # noqa: B027 - optional hook: writers with a file to finish override it
        """Finish the file (default: nothing to finish)."""

    def abort(self) -> None:
        self.close()


def _arrow_schema(columns: Sequence[Column], lang: str, inst: Instrument):
    """The Arrow schema of the export (compact integer types, labels as field metadata)."""
    import pyarrow as pa

    fields = []
    for c in columns:
        if c.type == "integer":
            t = pa.int16() if c.kind in ("item", "quality") else pa.int64()
        else:
            t = pa.string() if c.type == "string" else pa.float64()
        fields.append(pa.field(c.name, t, metadata={"label": c.label_in(lang)}))
    return pa.schema(
        fields, metadata={"trustmeter.instrument": inst.key, "trustmeter.language": lang}
    )


#: Rows of a chunk that the json and xlsx writers turn into Python objects at once: a
#: whole chunk's json text (with its copies) took several times the chunk's memory, and
#: its xlsx cell values as much again as the chunk (2.0x a chunk at 1M rows).
PIECE_ROWS = 5_000


def _pieces(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    """``frame`` in slices of :data:`PIECE_ROWS` rows."""
    for start in range(0, len(frame), PIECE_ROWS):
        yield frame.iloc[start : start + PIECE_ROWS]


class _CsvWriter(_Writer):
    """UTF-8 csv through Arrow's C++ writer (about 15 times faster than
    ``DataFrame.to_csv``): text quoted, missing values empty, floats in their
    shortest round-trip form."""

    def __init__(self, *a):
        super().__init__(*a)
        import pyarrow as pa
        import pyarrow.csv as pcsv

        self.pa = pa
        self.schema = _arrow_schema(self.columns, self.lang, self.sel.inst)
        self.text_names = [c.name for c in self.columns if c.type == "string"]
        self.fh = open(self.path, "wb")
        self.fh.write((",".join(self.names) + "\n").encode("utf-8"))  # names are plain ids
        self.writer = pcsv.CSVWriter(
            self.fh,
            self.schema,
            write_options=pcsv.WriteOptions(include_header=False, quoting_style="needed"),
        )

    def write(self, frame: pd.DataFrame) -> None:
        table = self.pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        if not self.raw_formulas:
            table = self._neutralised(table)
        self.writer.write_table(table)

    def _neutralised(self, table):
        """:func:`~survey.export.neutralise.neutralise_frame` on the Arrow columns (in
        C++: 0.5 s less per million rows than through pandas): text that starts with a
        formula prefix gets a leading ``'``."""
        import pyarrow.compute as pc

        pattern = "^[" + "".join(re.escape(p) for p in FORMULA_PREFIXES) + "]"
        for name in self.text_names:
            k = table.schema.get_field_index(name)
            col = table.column(k)
            hit = pc.match_substring_regex(col, pattern)
            if not pc.any(hit).as_py():
                continue
            fixed = pc.if_else(hit, pc.binary_join_element_wise(QUOTE, col, ""), col)
            table = table.set_column(k, table.schema.field(k), fixed)
        return table

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self.fh.close()


class _JsonWriter(_Writer):
    """A JSON array of row objects, streamed: ``[`` row, row, ... ``]``."""

    def __init__(self, *a):
        super().__init__(*a)
        self.fh = open(self.path, "w", encoding="utf-8", newline="\n")
        self.fh.write("[")
        self.first = True

    def write(self, frame: pd.DataFrame) -> None:
        for piece in _pieces(frame):
            text = piece.to_json(
                orient="records", lines=True, force_ascii=False, double_precision=15
            ).rstrip("\n")
            if not text:
                continue
            self.fh.write("\n" if self.first else ",\n")
            self.fh.write(text.replace("\n", ",\n"))
            self.first = False

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.write("\n]\n")
            self.fh.close()

    def abort(self) -> None:
        self.fh.close()


class _ParquetWriter(_Writer):
    def __init__(self, *a):
        super().__init__(*a)
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.schema = _arrow_schema(self.columns, self.lang, self.sel.inst)
        self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")

    def write(self, frame: pd.DataFrame) -> None:
        self.writer.write_table(
            self.pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        )

    def close(self) -> None:
        self.writer.close()


def _xlsx_width(column: Column) -> float:
    """A column width (in characters) that shows the header and typical values."""
    typical = {"integer": 6, "number": 8}.get(column.type, 14)
    return float(min(max(len(column.name), typical) + 2, 40))


class _XlsxWriter(_Writer):
    def __init__(self, *a):
        super().__init__(*a)
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.utils import get_column_letter

        self.text_cell, self.illegal = WriteOnlyCell, ILLEGAL_CHARACTERS_RE
        self.wb = Workbook(write_only=True)  # rows go to a temporary file as appended
        self.ws = self.wb.create_sheet("data")
        # write-only sheets take the view and column widths before the first row
        self.ws.freeze_panes = "A2"  # the header row stays in view
        for i, c in enumerate(self.columns, start=1):
            self.ws.column_dimensions[get_column_letter(i)].width = _xlsx_width(c)
        self.ws.append(self.names)
        self.n = 0

    def write(self, frame: pd.DataFrame) -> None:
        self.n += len(frame)
        if self.n > XLSX_MAX_ROWS:
            raise ValueError(
                f"xlsx holds at most {XLSX_MAX_ROWS:,} rows per sheet; "
                "export csv or parquet instead"
            )
        frame = self.neutralised(frame)
        for part in _pieces(frame):
            obj = part.astype(object).where(part.notna(), None)
            for row in obj.itertuples(index=False, name=None):
                self.ws.append([self.cell(v) for v in row])

    def cell(self, v: Any) -> Any:
        """A cell value; text always stays text. openpyxl would store a string that
        starts with "=" as a formula, and URL parameters come from respondents."""
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, str):
            v = self.illegal.sub("", v)
            if v.startswith("="):
                c = self.text_cell(self.ws, value=v)
                c.data_type = "s"
                return c
        return v

    def close(self) -> None:
        labels = self.wb.create_sheet("variables")
        labels.append(["variable", f"label ({self.lang})", "values"])
        for c in self.columns:
            vals = "; ".join(f"{k} = {v}" for k, v in c.value_labels(self.lang).items())
            labels.append(
                [
                    self.cell(c.name),
                    self.cell(c.label_in(self.lang)),
                    self.cell(vals) if vals else None,
                ]
            )
        self.wb.save(self.path)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.wb.close()


class _InMemoryWriter(_Writer):
    """Collects the chunks; pyreadstat writes sav/dta from one DataFrame (not streamed)."""

    constant_memory = False

    def __init__(self, *a):
        super().__init__(*a)
        self.chunks: list[pd.DataFrame] = []
        self.na_items = [c.name for c in self.columns if c.kind == "item" and c.na]
        self.hidden_items = [c.name for c in self.columns if c.kind == "item" and c.conditional]

    def write(self, frame: pd.DataFrame) -> None:
        self.chunks.append(self.mark_na(frame))

    def mark_na(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    def frame(self) -> pd.DataFrame:
        """All chunks as one DataFrame, joined a column at a time: each column's chunk
        pieces are dropped once joined, so the rows exist about once (not twice, as a
        whole-frame ``concat`` of the kept chunks would need)."""
        if self.chunks:
            chunks, self.chunks = self.chunks, []
            joined: dict[str, pd.Series] = {}
            for name in list(chunks[0].columns):
                joined[name] = pd.concat([c[name] for c in chunks], ignore_index=True)
                for c in chunks:
                    del c[name]
            del chunks
            df = pd.DataFrame(joined, copy=False)
        else:
            df = pd.DataFrame(
                {
                    c.name: pd.Series([], dtype="str" if c.type == "string" else float)
                    for c in self.columns
                }
            )
        self.chunks = []
        return df

    def value_labels(
        self, extra: Mapping[str, Mapping[Any, str]] | None = None
    ) -> dict[str, dict[Any, str]]:
        out: dict[str, dict[Any, str]] = {}
        for c in self.columns:
            labs: dict[Any, str] = dict(c.value_labels(self.lang))
            labs.update((extra or {}).get(c.name, {}))
            if labs:
                out[c.name] = labs
        return out


class _SavWriter(_InMemoryWriter):
    def mark_na(self, frame: pd.DataFrame) -> pd.DataFrame:
        for iid, mask in _na_mask(frame, self.na_items).items():
            if mask.any():
                frame[iid] = frame[iid].mask(mask, self.na_code)
        ns = _not_shown_code(self.na_code)
        for iid, mask in _na_mask(frame, self.hidden_items, "not_shown_items").items():
            if mask.any():
                frame[iid] = frame[iid].mask(mask, ns)
        return frame

    def missing(self) -> dict[str, list[int]]:
        """User-missing codes per item: N/A and "not shown" where each can occur."""
        out: dict[str, list[int]] = {i: [self.na_code] for i in self.na_items}
        for i in self.hidden_items:
            out.setdefault(i, []).append(_not_shown_code(self.na_code))
        return out

    def close(self) -> None:
        import pyreadstat

        df = self.frame()
        na_label = texts.not_applicable(self.sel.inst, self.lang)
        labels = {
            n: _clip_bytes(t, SPSS_LABEL_MAX_BYTES)
            for n, t in ((c.name, c.label_in(self.lang)) for c in self.columns)
        }
        ns_label = texts.translate(texts.NOT_SHOWN, self.lang)
        extra: dict[str, dict[int, str]] = {i: {self.na_code: na_label} for i in self.na_items}
        for i in self.hidden_items:
            extra.setdefault(i, {})[_not_shown_code(self.na_code)] = ns_label
        vlabels = {
            k: {code: _clip_bytes(t, SPSS_VALUE_LABEL_MAX_BYTES) for code, t in v.items()}
            for k, v in self.value_labels(extra).items()
        }
        measure = {
            c.name: (
                "scale"
                if c.type == "number" or c.name in ("row", "longstring")
                else "ordinal"
                if c.kind == "item" and c.block_kind != "checklist"
                else "nominal"
            )
            for c in self.columns
        }
        fmt = {c.name: "F8.0" for c in self.columns if c.type == "integer"}
        pyreadstat.write_sav(
            df,
            str(self.path),
            column_labels=labels,
            variable_value_labels=vlabels,
            missing_ranges=self.missing(),
            variable_measure=measure,
            variable_format=fmt,
            file_label=_clip_bytes(f"trustmeter {self.sel.inst.key}", 64),
        )


class _DtaWriter(_InMemoryWriter):
    def mark_na(self, frame: pd.DataFrame) -> pd.DataFrame:
        hidden = _na_mask(frame, self.hidden_items, "not_shown_items")
        for iid, mask in _na_mask(frame, self.na_items).items():
            col = frame[iid].astype(object).where(frame[iid].notna(), np.nan)
            if mask.any():
                col[mask] = NA_STATA
            frame[iid] = col
        for iid, mask in hidden.items():
            if iid not in self.na_items:
                frame[iid] = frame[iid].astype(object).where(frame[iid].notna(), np.nan)
            if mask.any():
                col = frame[iid].copy()
                col[mask] = NOT_SHOWN_STATA
                frame[iid] = col
        return frame

    def close(self) -> None:
        import pyreadstat

        df = self.frame()
        na_label = texts.not_applicable(self.sel.inst, self.lang)
        labels = {c.name: _clip_chars(c.label_in(self.lang), STATA_LABEL_MAX) for c in self.columns}
        ns_label = texts.translate(texts.NOT_SHOWN, self.lang)
        extra: dict[str, dict] = {i: {NA_STATA: na_label} for i in self.na_items}
        user: dict[str, list[str]] = {i: [NA_STATA] for i in self.na_items}
        for i in self.hidden_items:
            extra.setdefault(i, {})[NOT_SHOWN_STATA] = ns_label
            user.setdefault(i, []).append(NOT_SHOWN_STATA)
        strings = {c.name for c in self.columns if c.type == "string"}
        # Stata labels numbers only: the brand names stay in the codebook
        vlabels = {k: v for k, v in self.value_labels(extra).items() if k not in strings}
        pyreadstat.write_dta(
            df,
            str(self.path),
            column_labels=labels,
            variable_value_labels=vlabels,
            missing_user_values=user,
            version=14,
            file_label=_clip_chars(f"trustmeter {self.sel.inst.key}", 80),
        )
        _name_dta_label_sets(self.path)


def _streamed(name: str) -> Callable[..., _Writer]:
    """A writer of :mod:`survey.export.statfiles`, imported on first use (it subclasses
    the writers above)."""

    def make(*args: Any) -> _Writer:
        from survey.export import statfiles

        return getattr(statfiles, name)(*args)

    return make


_WRITERS: dict[str, Callable[..., _Writer]] = {
    "csv": _CsvWriter,
    "json": _JsonWriter,
    "parquet": _ParquetWriter,
    "xlsx": _XlsxWriter,
    "sav": _streamed("StreamedSavWriter"),
    "dta": _streamed("StreamedDtaWriter"),
}


def _clip_chars(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in "…" when cut (Stata: 80 per label)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _clip_bytes(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, cut at a character boundary, ending in "…" when cut."""
    if len(text.encode("utf-8")) <= limit:
        return text
    out = text
    while len((out + "…").encode("utf-8")) > limit:
        out = out[:-1]
    return out.rstrip() + "…"


def _name_dta_label_sets(path: Path) -> None:
    """Name each value-label set after its variable, as Stata users and haven do.

    pyreadstat names the set of variable ``REL1`` ``REL10`` (variable name plus a
    counter), which reads as another item. The names are fixed-width fields in the
    ``<value_label_names>`` and ``<value_labels>`` sections of a dta 118/119 file,
    so they are rewritten in place without moving any byte.
    """
    with open(path, "r+b") as f:
        head = f.read(4096)
        m = re.search(rb"<release>(\d+)</release><byteorder>(LSF|MSF)</byteorder><K>", head)
        if m is None or int(m.group(1)) not in (118, 119):
            return
        order = "<" if m.group(2) == b"LSF" else ">"
        kfmt = "H" if int(m.group(1)) == 118 else "I"
        nvar = struct.unpack_from(order + kfmt, head, m.end())[0]
        mp = head.index(b"<map>") + len(b"<map>")
        offsets = struct.unpack_from(order + "14Q", head, mp)
        width = 129
        # variable names, to map label-set name -> variable
        f.seek(offsets[3] + len(b"<varnames>"))
        varnames = [f.read(width).split(b"\0", 1)[0] for _ in range(nvar)]
        f.seek(offsets[6] + len(b"<value_label_names>"))
        setnames = [f.read(width).split(b"\0", 1)[0] for _ in range(nvar)]
        rename = {s: v for v, s in zip(varnames, setnames, strict=True) if s}
        for k, s in enumerate(setnames):
            if s:
                f.seek(offsets[6] + len(b"<value_label_names>") + k * width)
                f.write(rename[s].ljust(width, b"\0"))
        pos = offsets[11] + len(b"<value_labels>")
        while True:
            f.seek(pos)
            if f.read(5) != b"<lbl>":
                break
            (length,) = struct.unpack(order + "i", f.read(4))
            name = f.read(width).split(b"\0", 1)[0]
            if name in rename:
                f.seek(pos + 9)
                f.write(rename[name].ljust(width, b"\0"))
            pos += 5 + 4 + width + 3 + length + len(b"</lbl>")


# ----- codebook and manifest -------------------------------------------------------
def codebook(
    columns: Sequence[Column], inst: Instrument, lang: str, fmt: str, na_code: int
) -> dict:
    """The codebook as a JSON-ready dict (see :func:`codebook_markdown`)."""
    variables = []
    for c in columns:
        v: dict[str, Any] = {"name": c.name, "kind": c.kind, "type": c.type, "label": dict(c.label)}
        if fmt == "dta" and len(c.label_in(lang)) > STATA_LABEL_MAX:
            v["label_in_file"] = _clip_chars(c.label_in(lang), STATA_LABEL_MAX)
        elif fmt == "sav" and len(c.label_in(lang).encode("utf-8")) > SPSS_LABEL_MAX_BYTES:
            v["label_in_file"] = _clip_bytes(c.label_in(lang), SPSS_LABEL_MAX_BYTES)
        if c.allowed is not None:
            v["allowed"] = {"min": c.allowed[0], "max": c.allowed[1]}
        if c.values:
            v["values"] = [{"code": code, "label": dict(lab)} for code, lab in c.values.items()]
        if c.kind == "item":
            v["not_applicable"] = c.na
            if c.na:
                v["not_applicable_code"] = _na_repr(fmt, na_code)
            v.update(
                construct=c.construct,
                reverse_keyed=bool(c.reverse),
                block=c.block,
                block_kind=c.block_kind,
            )
            if c.block_name:
                v["block_name"] = dict(c.block_name)
        elif c.block:
            v.update(block=c.block, block_kind=c.block_kind, block_name=dict(c.block_name))
        if c.kind == "param":
            v["parameter"] = c.source
        if c.note:
            v["note"] = c.note
        v["instrument"] = {"id": inst.id, "version": inst.version}
        variables.append(v)
    return {
        "instrument": {
            "id": inst.id,
            "version": inst.version,
            "title": dict(inst.title),
            "languages": list(inst.languages),
        },
        "label_language": lang,
        "format": fmt,
        "rows": "one per complete response; started (partial) responses are not exported",
        "missing_values": {
            "no_answer": "system missing (empty cell / null / SPSS sysmis / Stata .)",
            "not_applicable": _na_repr(fmt, na_code),
        },
        "variables": variables,
    }


def _na_repr(fmt: str, na_code: int) -> str:
    if fmt == "sav":
        return f"{na_code} (SPSS user-missing, labelled)"
    if fmt == "dta":
        return ".a (Stata extended missing, labelled)"
    return "system missing; the item is listed in na_items"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def codebook_markdown(cb: Mapping) -> str:
    """The codebook as Markdown: a header and one table row per variable."""
    inst = cb["instrument"]
    langs = inst["languages"]
    lang = cb["label_language"]
    lines = [
        f"# Codebook: {_md(_tr(inst['title'], lang))}",
        "",
        f"- Instrument: `{inst['id']}` version {inst['version']}",
        f"- Format: {cb['format']}; labels in the file: {lang}",
        f"- Rows: {cb['rows']}",
        f"- No answer: {cb['missing_values']['no_answer']}",
        f"- Not applicable: {cb['missing_values']['not_applicable']}",
        "",
        "| Variable | Type | "
        + " | ".join(f"Label ({la})" for la in langs)
        + " | Values | Construct | Reverse-keyed | Block |",
        "|---|---|" + "---|" * len(langs) + "---|---|---|---|",
    ]
    for v in cb["variables"]:
        values = "; ".join(f"{x['code']} = {_tr(x['label'], lang)}" for x in v.get("values", []))
        if "allowed" in v:
            rng = f"{v['allowed']['min']}..{v['allowed']['max']}"
            values = f"{rng}: {values}" if values else rng
        if v.get("not_applicable"):
            values += f"; N/A = {v['not_applicable_code']}"
        block = v.get("block") or v.get("block_kind") or ""
        if v.get("block_name"):
            block = f"{block} ({_tr(v['block_name'], lang)})"
        label = [_md(v["label"].get(la, "")) for la in langs]
        if v.get("label_in_file"):
            label.append(f"(in file: {_md(v['label_in_file'])})")
        rev = {True: "yes", False: "no"}.get(v.get("reverse_keyed"), "")
        lines.append(
            f"| `{v['name']}` | {v['type']} | "
            + " | ".join(label[: len(langs)])
            + (f" {label[-1]}" if len(label) > len(langs) else "")
            + f" | {_md(values)} | {v.get('construct') or ''} | {rev} | {_md(block)} |"
        )
    if cb.get("formulas"):
        lines[lines.index("", 2) : lines.index("", 2)] = [f"- Formulas: {cb['formulas']}"]
    notes = [v for v in cb["variables"] if v.get("note")]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- `{v['name']}`: {_md(v['note'])}" for v in notes]
    return "\n".join(lines) + "\n"


def trustmeter_version() -> str:
    try:
        return metadata.version("trustmeter")
    except metadata.PackageNotFoundError:
        return "unknown"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----- the export ------------------------------------------------------------------
def _check_output(out: Path) -> None:
    if out.exists() and out.is_dir():
        raise ValueError(f"output {str(out)!r} is a directory; give a file name")
    if not out.parent.is_dir():
        raise ValueError(f"cannot write {str(out)!r}: directory {str(out.parent)!r} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise ValueError(
            f"cannot write {str(out)!r}: directory {str(out.parent)!r} is not writable"
        )
    if out.exists() and not os.access(out, os.W_OK):
        raise ValueError(f"cannot write {str(out)!r}: the file exists and is not writable")


def _not_shown_code(na_code: int) -> int:
    """SPSS code of "not shown": -8 next to N/A's -9 (both below every scale code)."""
    return NOT_SHOWN_CODE if na_code == NA_CODE else na_code - 1


def _na_code(inst: Instrument) -> int:
    lowest = min([inst.scale.min] + [i.scale.min for i in inst.iter_items() if i.scale])
    return NA_CODE if lowest > NA_CODE else lowest - 1


def _temp(out: Path, suffix: str) -> Path:
    """An empty temporary file beside ``out``, 0600 (0640 with
    ``$TRUSTMETER_GROUP_READABLE``: :mod:`survey.storage.files`), renamed into place once
    written: exports hold answers, so they are not world-readable."""
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix + ".part", dir=out.parent)
    try:
        os.fchmod(fd, private_mode())
    finally:
        os.close(fd)
    return Path(name)


def _use_system_allocator() -> None:
    """Arrow's buffers from the C library's allocator instead of its default (mimalloc or
    jemalloc), which keeps freed chunks' pages mapped: the peak memory of a 1M-row
    parquet export fell from 132 to 100 MiB and of xlsx from 120 to 112 MiB (``make
    bench``, one run each, 2026-12-02). Process-wide; an explicit
    ``ARROW_DEFAULT_MEMORY_POOL`` is respected."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def export_campaign(
    db: Database | str | os.PathLike[str],
    slug: str | Sequence[str],
    fmt: str,
    out_path: str | os.PathLike[str],
    *,
    periods: Sequence[str] | None = None,
    language: str = "en",
    progress: ProgressFn | None = None,
    chunk_rows: int = CHUNK_ROWS,
    raw_formulas: bool = False,
) -> ExportResult:
    """Export the complete responses of one or more campaigns to ``out_path``.

    Parameters
    ----------
    db : Database or path of the database file
    slug : a campaign slug, or several campaigns that share an instrument version
        (e.g. the waves of a tracker).
    fmt : one of :data:`FORMATS`.
    out_path : the data file; ``.codebook.md``, ``.codebook.json`` and
        ``.manifest.json`` are written beside it (``FILE.codebook.md`` etc.).
    periods : keep only responses of these periods (default: all).
    language : the language of the variable and value labels in sav/dta/xlsx/parquet
        (the codebook lists every language).
    progress : called as ``progress(rows_done, rows_total)`` after each chunk.
    raw_formulas : csv and xlsx prefix text that starts with =, +, -, @, tab or CR with
        ``'`` (OWASP CSV injection; :mod:`survey.export.neutralise`) unless this is true.

    Returns
    -------
    ExportResult

    Raises
    ------
    LookupError
        Unknown campaign or period.
    ValueError
        Unknown format or language, unusable output path, too many rows for xlsx.
    OSError
        Writing failed; no file is left under the final names.

    Notes
    -----
    Every format streams in constant memory (see the module docstring).
    """
    _use_system_allocator()
    if not isinstance(db, Database):
        path = os.fspath(db)
        if not Path(path).is_file():
            raise LookupError(f"database {path!r} does not exist")
        with open_db(path) as conn:
            return export_campaign(
                conn,
                slug,
                fmt,
                out_path,
                periods=periods,
                language=language,
                progress=progress,
                chunk_rows=chunk_rows,
                raw_formulas=raw_formulas,
            )
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    out = Path(out_path).absolute()
    _check_output(out)
    slugs = [slug] if isinstance(slug, str) else list(slug)
    unstored: list = []  # careless exclusions computed in the snapshot, stored after it
    own_snapshot = not db.conn.in_transaction
    for attempt in range(1, SNAPSHOT_ATTEMPTS + 1):
        with exports.snapshot(db), contextlib.ExitStack() as reader:
            sel = exports.select(db, slugs, periods)
            inst = sel.inst
            if language not in inst.languages:
                raise ValueError(
                    f"language {language!r}: the instrument {inst.key} offers "
                    f"{', '.join(inst.languages)}"
                )
            # the child process that reads the rows starts now, and works while this one
            # reads the careless exclusions; it is ended with the block
            chunks = reader.enter_context(
                exports.read_batches(db, sel, chunk_rows, exact_bounds=attempt > 1)
            )
            columns = build_columns(inst, sel.params, brand_values(sel.campaigns))
            na_code = _na_code(inst)
            careless = careless_ids(db, sel, unstored=unstored)
            try:
                total = chunks.total()
            except exports.SnapshotChanged:  # the child's snapshot is not ours
                if attempt == SNAPSHOT_ATTEMPTS or not own_snapshot:
                    raise
                continue  # a response came in between: take both snapshots again
            if fmt == "xlsx" and total > XLSX_MAX_ROWS:
                raise ValueError(
                    f"{total:,} rows do not fit in xlsx (at most {XLSX_MAX_ROWS:,} per "
                    "sheet); export csv or parquet instead"
                )
            temps: list[Path] = []
            try:
                data_tmp = _temp(out, "")
                temps.append(data_tmp)
                writer = _WRITERS[fmt](data_tmp, columns, language, sel, na_code)
                writer.raw_formulas = bool(raw_formulas)
                done = 0
                try:
                    for batch in chunks:
                        writer.write(_chunk_frame(batch, done, sel, columns, careless))
                        done += batch.num_rows
                        del batch  # before the next chunk is read: one chunk at a time
                        if progress is not None:
                            progress(done, total)
                except BaseException:
                    writer.abort()
                    raise
                writer.close()
                if progress is not None and done == 0:
                    progress(0, total)
                digest = _sha256(data_tmp)
                cb = codebook(columns, inst, language, fmt, na_code)
                if fmt in NEUTRALISED_FORMATS:
                    cb["formulas"] = NOTE_RAW if raw_formulas else NOTE_NEUTRALISED
                md_path, cbj_path, man_path = (
                    Path(f"{out}.codebook.md"),
                    Path(f"{out}.codebook.json"),
                    Path(f"{out}.manifest.json"),
                )
                manifest = {
                    "file": out.name,
                    "format": fmt,
                    "rows": done,
                    "sha256": digest,
                    "exported_at": datetime.now(UTC)
                    .isoformat(timespec="seconds")
                    .replace("+00:00", "Z"),
                    "filters": {
                        "campaigns": [c["slug"] for c in sel.campaigns],
                        "periods": list(sel.periods) if sel.periods else None,
                        "status": "complete",
                    },
                    "instrument": {"id": inst.id, "version": inst.version},
                    "label_language": language,
                    "trustmeter_version": trustmeter_version(),
                    "constant_memory": writer.constant_memory,
                    "missing_values": cb["missing_values"],
                    "formulas_neutralised": fmt in NEUTRALISED_FORMATS and not raw_formulas,
                    "columns": [c.name for c in columns],
                    "codebook": [md_path.name, cbj_path.name],
                }
                texts = {
                    md_path: codebook_markdown(cb),
                    cbj_path: json.dumps(cb, ensure_ascii=False, indent=2) + "\n",
                    man_path: json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                }
                staged = {}
                for final, text in texts.items():
                    tmp = _temp(out, Path(final.name).suffix)
                    temps.append(tmp)
                    tmp.write_text(text, encoding="utf-8")
                    staged[final] = tmp
                os.replace(data_tmp, out)
                for final, tmp in staged.items():
                    os.replace(tmp, final)
            finally:
                for t in temps:
                    with contextlib.suppress(FileNotFoundError):
                        t.unlink()
        break
    for selection, version, ids in unstored[-1:]:  # the snapshot has ended: a write is safe
        careless_cache.put(db, selection, version, ids)
    return ExportResult(
        path=out,
        format=fmt,
        rows=done,
        sha256=digest,
        codebook_md=md_path,
        codebook_json=cbj_path,
        manifest=man_path,
        columns=tuple(c.name for c in columns),
        constant_memory=writer.constant_memory,
    )
