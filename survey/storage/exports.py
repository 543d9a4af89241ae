"""Reading complete responses for exports and the API's pulls.

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

#: what each row of :func:`iter_rows` holds before the declared params and the packed answers
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
    return Selection(tuple(cs), inst, table, params, periods)


def _where(sel: Selection) -> tuple[str, list]:
    ids = [c["id"] for c in sel.campaigns]
    where = f"r.campaign_id IN ({', '.join('?' * len(ids))}) AND r.status = 'complete'"
    args: list[Any] = list(ids)
    if sel.periods:
        where += f" AND r.period IN ({', '.join('?' * len(sel.periods))})"
        args += list(sel.periods)
    return where, args


def _select_sql(sel: Selection, ids: Sequence[int] | None = None) -> tuple[str, list]:
    items = sel.inst.item_ids
    packed = packing.pack_sql(items, sel.lows)
    where, args = _where(sel)
    if ids is not None:
        where += f" AND r.id IN ({', '.join('?' * len(ids))})"
        args += [int(i) for i in ids]
    sql = (
        "SELECT r.id, c.slug, r.period, r.language, r.direction, r.duration_s, r.longstring, "
        "r.irv, r.attention_passed, r.flags, r.na_items, r.respondent, r.brand_position, "
        + "".join(f"json_extract(r.params, '$.{p}'), " for p in sel.params)
        + f"{packed} FROM responses r JOIN campaigns c ON c.id = r.campaign_id "
        f"LEFT JOIN {packing.quote(sel.table)} a ON a.response_id = r.id WHERE {where} "
        "ORDER BY r.id"
    )
    return sql, args


def count(db: Database, sel: Selection) -> int:
    """Number of rows :func:`iter_rows` yields."""
    where, args = _where(sel)
    return db.execute(f"SELECT COUNT(*) FROM responses r WHERE {where}", args).fetchone()[0]


def iter_rows(db: Database, sel: Selection, chunk_rows: int) -> Iterator[list[tuple]]:
    """The selected responses in id order, ``chunk_rows`` at a time: tuples of
    :data:`ROW_FIELDS`, then one value per declared param, then the packed answers."""
    sql, args = _select_sql(sel)
    cur = db.conn.execute(sql, args)
    try:
        while rows := cur.fetchmany(chunk_rows):
            yield rows
    finally:
        cur.close()


def rows_of(db: Database, sel: Selection, response_ids: Sequence[int]) -> list[tuple]:
    """The rows (as :func:`iter_rows`) of some complete responses, in the order given."""
    ids = [int(i) for i in response_ids]
    if not ids:
        return []
    sql, args = _select_sql(sel, ids)
    rows = db.execute(sql, args).fetchall()
    position = {rid: k for k, rid in enumerate(ids)}
    rows.sort(key=lambda r: position[r[0]])
    return rows


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
