"""Reading complete responses for exports and the API's pulls.

Exports read through :mod:`survey.storage.arrow_reader` (a child process that runs the
SELECT with ADBC SQLite and streams Arrow record batches; :func:`read_batches`); the
API's pulls of a few rows read here (:func:`batch_of`). Both give the same columns
(:func:`fields`) from the same SQL (:func:`_select_sql`).

Only the response fields an export may carry are read: identifiers (response id,
invitation, times, item order) never leave this module except the row order. Answers
travel packed (:mod:`survey.storage.packing`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from instruments.model import Instrument
from survey.storage import packing, store

#: the first columns of :func:`read_batches`' rows, before the declared params, the items
#: not shown, the open texts and the packed answers (:func:`fields`)
#: (the response id comes first only so that callers can join per-response figures, such as
#: the careless exclusions, to the rows; it is never exported)
ROW_FIELDS = (
    "response_id",
    "campaign",
    "period",
    "language",
    "direction",
    "duration_s",
    "longstring",
    "irv",
    "attention_passed",
    "flags",
    "na_items",
    "respondent",  # the anonymous key grouping one person's brand ratings (migration 0010)
    "brand_position",  # the rating's place in the person's random brand order, or NULL
)


@dataclass(frozen=True)
class Selection:
    """The complete responses to export: campaigns of one instrument version, periods."""

    campaigns: tuple[dict, ...]
    inst: Instrument
    table: str
    params: tuple[str, ...]
    periods: tuple[str, ...] | None
    #: SQL of every item's answer packed (store.packed_answers_sql: the answer table's
    #: stored column when it is current)
    answers_sql: str

    @property
    def lows(self) -> list[int]:
        return store.item_lows(self.inst, self.inst.item_ids)


def select(db: Database, slugs: Sequence[str], periods: Sequence[str] | None) -> Selection:
    """Resolve campaign slugs and periods; unknown ones are errors that list the known."""
    if not slugs:
        raise ValueError("no campaign given")
    cs = []
    for s in dict.fromkeys(slugs):
        c = store.get_campaign(db, s)
        if c is None:
            known = [r[0] for r in db.execute("SELECT slug FROM campaigns ORDER BY slug")]
            raise LookupError(
                f"unknown campaign {s!r}"
                + (
                    f" (campaigns: {', '.join(known)})"
                    if known
                    else " (the database has no campaigns)"
                )
            )
        cs.append(c)
    versions = {(c["instrument_id"], c["instrument_version"]) for c in cs}
    if len(versions) > 1:
        raise ValueError(
            "campaigns " + ", ".join(c["slug"] for c in cs) + " use different "
            "instrument versions ("
            + ", ".join(sorted(f"{i}@{v}" for i, v in versions))
            + "); export them separately"
        )
    inst = store.campaign_instrument(db, cs[0])
    table = store.answers_table(db, inst)
    params = tuple(dict.fromkeys(p for c in cs for p in c["params"]))
    if periods:
        periods = tuple(dict.fromkeys(str(p) for p in periods))
        ids = [c["id"] for c in cs]
        have = {
            r[0]
            for r in db.execute(
                f"SELECT DISTINCT period FROM responses WHERE campaign_id IN "
                f"({', '.join('?' * len(ids))})",
                ids,
            )
        } | {c["period"] for c in cs}
        unknown = [p for p in periods if p not in have]
        if unknown:
            raise LookupError(
                f"unknown period(s) {', '.join(map(repr, unknown))} for campaign(s) "
                f"{', '.join(c['slug'] for c in cs)} (periods: "
                f"{', '.join(sorted(have))})"
            )
    else:
        periods = None
    answers_sql = store.packed_answers_sql(db, inst, table)
    return Selection(tuple(cs), inst, table, params, periods, answers_sql)


def _where(sel: Selection, bounds: tuple | None = None) -> tuple[str, list]:
    """The selected responses; with ``bounds`` (:func:`_bounds`) only those up to that
    last id and last completion."""
    ids = [c["id"] for c in sel.campaigns]
    where = f"r.campaign_id IN ({', '.join('?' * len(ids))}) AND r.status = 'complete'"
    args: list[Any] = list(ids)
    if sel.periods:
        where += f" AND r.period IN ({', '.join('?' * len(sel.periods))})"
        args += list(sel.periods)
    if bounds is not None:
        where += " AND r.id <= ? AND r.completed_at <= ?"
        args += list(bounds)
    return where, args


#: the Arrow type of each of :data:`ROW_FIELDS` (params, not-shown items, open texts and
#: the packed answers that follow are text)
ROW_TYPES = dict(
    zip(
        ROW_FIELDS,
        (
            "int64",
            *["string"] * 4,
            "float64",
            "int64",
            "float64",
            "int64",
            *["string"] * 3,
            "int64",
        ),
        strict=True,
    )
)
_CASTS = {"int64": "INTEGER", "float64": "REAL", "string": "TEXT"}


def fields(sel: Selection) -> list[tuple[str, str]]:
    """``(name, type)`` of the columns of :func:`_select_sql`: :data:`ROW_FIELDS`, then
    ``param:<name>`` per declared param, ``not_shown_items`` (comma-separated, unsorted,
    NULL if none), ``text:<item>`` per open-text item, and ``answers`` (packed)."""
    return (
        list(ROW_TYPES.items())
        + [(f"param:{p}", "string") for p in sel.params]
        + [("not_shown_items", "string")]
        + [(f"text:{t}", "string") for t in sel.inst.text_item_ids]
        + [("answers", "string")]
    )


def _select_sql(
    sel: Selection, ids: Sequence[int] | None = None, bounds: tuple | None = None
) -> tuple[str, list]:
    texts = list(sel.inst.text_item_ids)
    where, args = _where(sel, bounds)
    if ids is not None:
        where += f" AND r.id IN ({', '.join('?' * len(ids))})"
        args += [int(i) for i in ids]
    # every column cast to its declared type (json_extract gives numbers for JSON numbers;
    # a REAL column may hold integers): one SQLite type per column, whatever the data
    cols = [
        f"CAST({e} AS {_CASTS[t]})"
        for e, t in zip(
            [
                "r.id",
                "c.slug",
                "r.period",
                "r.language",
                "r.direction",
                "r.duration_s",
                "r.longstring",
                "r.irv",
                "r.attention_passed",
                "r.flags",
                "r.na_items",
                "r.respondent",
                "r.brand_position",
            ],
            ROW_TYPES.values(),
            strict=True,
        )
    ]
    cols += [f"CAST(json_extract(r.params, '$.{p}') AS TEXT)" for p in sel.params]
    cols.append(
        "(SELECT group_concat(s.item_id, ',') FROM item_states s "
        "WHERE s.response_id = r.id AND s.state = 'not_shown')"
    )
    cols += [
        "(SELECT t.value FROM text_answers t WHERE t.response_id = r.id AND t.item_id = ?)"
        for _ in texts
    ]
    cols.append(sel.answers_sql)
    sql = (
        f"SELECT {', '.join(cols)} FROM responses r JOIN campaigns c ON c.id = r.campaign_id "
        f"LEFT JOIN {packing.quote(sel.table)} a ON a.response_id = r.id WHERE {where} "
        "ORDER BY r.id"
    )
    return sql, [*texts, *args]


def _bounds(db: Database, sel: Selection, exact: bool = False) -> tuple:
    """``(last id, last completion)`` of the selected responses in ``db``'s snapshot. The
    reader child's query is limited to them, so that responses completed after this
    snapshot (respondents keep answering while an export starts) are left out there
    as here; only an erasure in between still tells the two snapshots apart.

    The last id comes from the index. The last completion is, unless ``exact``, the
    clock's time now, read in the snapshot: every response in it completed before, and
    it costs no scan (``MAX(completed_at)`` reads every row: 0.6 s at 1M). Data stamped
    in the future would then differ from the snapshot; :func:`read_batches` is called
    again with ``exact`` after a :class:`SnapshotChanged`."""
    where, args = _where(sel)
    if exact:
        last_id, last_completed = db.execute(
            f"SELECT MAX(r.id), MAX(r.completed_at) FROM responses r WHERE {where}", args
        ).fetchone()
    else:
        last_id, last_completed = db.execute(
            f"SELECT MAX(r.id), strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') FROM responses r "
            f"WHERE {where}",
            args,
        ).fetchone()
    return (last_id or 0, last_completed or "")


def _fingerprint_sql(sel: Selection, bounds: tuple | None = None) -> tuple[str, list]:
    where, args = _where(sel, bounds)
    # from the (campaign_id, status) index alone: no table row is read
    return f"SELECT COUNT(*), COALESCE(SUM(r.id), 0) FROM responses r WHERE {where}", args


def fingerprint(db: Database, sel: Selection) -> tuple[int, int]:
    """``(rows, sum of their ids)`` of the selected responses: what tells two snapshots
    of them apart (a response added, completed or erased)."""
    sql, args = _fingerprint_sql(sel)
    return tuple(db.execute(sql, args).fetchone())


def count(db: Database, sel: Selection) -> int:
    """Number of rows :func:`read_batches` yields."""
    return fingerprint(db, sel)[0]


class SnapshotChanged(OSError):
    """The reader's snapshot holds other responses than the caller's (they changed
    between the two): start again."""


def _db_file(db: Database) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    path = row[2] if row else ""
    if not path:
        raise ValueError(
            "exports read the database file in a separate process; this database has no "
            "file (in memory)"
        )
    return path


class Batches:
    """The rows of :func:`read_batches`: :meth:`total` (checks the snapshots agree),
    then iterate for the record batches."""

    def __init__(self, db: Database, sel: Selection, rows):
        self._db, self._sel, self._rows = db, sel, rows
        self._total: int | None = None

    def total(self) -> int:
        """The number of rows; :class:`SnapshotChanged` if the child's snapshot holds
        other responses than ``db``'s current read transaction."""
        if self._total is None:
            mine = list(fingerprint(self._db, self._sel))
            theirs = self._rows.pre[0][0] if self._rows.pre and self._rows.pre[0] else None
            if theirs != mine:
                raise SnapshotChanged(
                    f"responses changed while the export started ({mine} -> {theirs})"
                )
            self._total = mine[0]
        return self._total

    def __iter__(self) -> Iterator:
        self.total()
        last = None  # ids must increase (the SQL's ORDER BY under UNION ALL)
        for batch in self._rows:
            ids = batch.column(0).to_numpy()
            if len(ids):
                if (last is not None and ids[0] <= last) or bool((ids[1:] <= ids[:-1]).any()):
                    raise RuntimeError("the reader returned responses out of id order")
                last = ids[-1]
            yield batch


@contextlib.contextmanager
def read_batches(
    db: Database, sel: Selection, chunk_rows: int, *, exact_bounds: bool = False
) -> Iterator[Batches]:
    """The selected responses in id order as Arrow record batches of ``chunk_rows`` rows
    (the last fewer), the columns of :func:`fields`, read by a child process
    (:mod:`survey.storage.arrow_reader`), which starts at once (the caller may work
    meanwhile). :meth:`Batches.total` and the iteration check that the child reads the
    same responses as ``db``'s current read transaction (:class:`SnapshotChanged` if not:
    call again in a new transaction, with ``exact_bounds``: :func:`_bounds`). The child is
    ended when the block ends."""
    from survey.storage.arrow_reader import ArrowRows

    bounds = _bounds(db, sel, exact_bounds)
    sql, args = _select_sql(sel, bounds=bounds)
    names, types = zip(*fields(sel), strict=True)
    with ArrowRows(
        _db_file(db), sql, args, names, types, chunk_rows, pre=[_fingerprint_sql(sel, bounds)]
    ) as rows:
        yield Batches(db, sel, rows)


def batch_of(db: Database, sel: Selection, response_ids: Sequence[int]):
    """The rows (as :func:`read_batches`) of some complete responses, in the order given,
    as one record batch, read here (few rows: the API's pulls)."""
    import pyarrow as pa

    ids = [int(i) for i in response_ids]
    names, types = zip(*fields(sel), strict=True)
    rows = []
    if ids:
        sql, args = _select_sql(sel, ids)
        rows = db.execute(sql, args).fetchall()
        position = {rid: k for k, rid in enumerate(ids)}
        rows.sort(key=lambda r: position[r[0]])
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pa.RecordBatch.from_arrays(
        [pa.array(list(c), type=getattr(pa, t)()) for c, t in zip(cols, types, strict=True)],
        names=list(names),
    )


@contextlib.contextmanager
def snapshot(db: Database) -> Iterator[None]:
    """A read transaction, so the count and the rows come from one snapshot."""
    if db.conn.in_transaction:
        yield
        return
    db.conn.execute("BEGIN")
    try:
        yield
    finally:
        db.conn.execute("ROLLBACK")
