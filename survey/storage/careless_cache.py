"""The careless-respondent exclusions of exported campaigns, cached by data version.

Every export writes ``excluded_careless`` (:func:`analysis.headline.careless_exclusions`,
the dashboard's rule). Screening needs every complete response of a period at once
(medians, covariance), so computing it on each export cost more than writing the
rows. The excluded response ids are kept here, keyed by the exported campaigns and
by :func:`survey.storage.store.data_version` of each (responses' count, last id, last
completion, settings): a new or deleted response changes the version and the
exclusions are computed again.

``careless_exclusions_cache``: one row per campaign selection (the sorted campaign
ids); ``ids`` is the excluded response ids as little-endian int64 bytes. Only response
ids are stored (no answers, nothing personal); deleting a campaign's responses changes
its data version, so stale rows are never read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlite_utils import Database

from instruments.model import Instrument
from survey.storage import packing, store
from survey.storage.db import write_transaction

#: bump when the screening rule or its inputs change, so that old rows are not read
RULE_VERSION = 1
FETCH_ROWS = 100_000

SCHEMA = [
    """
    CREATE TABLE careless_exclusions_cache (
        selection TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        ids BLOB NOT NULL,
        computed_at TEXT NOT NULL
    )
    """,
]


def apply_schema(db: Database) -> None:
    for sql in SCHEMA:
        db.execute(sql)


def key(db: Database, campaigns: Sequence[Mapping]) -> tuple[str, str]:
    """``(selection, version)`` of a set of campaigns (exported together)."""
    cs = sorted(campaigns, key=lambda c: c["id"])
    selection = ",".join(str(c["id"]) for c in cs)
    version = json.dumps(
        [RULE_VERSION] + [list(store.data_version(db, c)) for c in cs], default=str
    )
    return selection, version


def get(db: Database, selection: str, version: str) -> np.ndarray | None:
    """The cached excluded ids (sorted int64), or ``None`` when absent or stale."""
    try:
        row = db.execute(
            "SELECT version, ids FROM careless_exclusions_cache WHERE selection = ?",
            [selection],
        ).fetchone()
    except sqlite3.OperationalError:  # a database migrated before 0013: no cache
        return None
    if row is None or row[0] != version:
        return None
    return np.frombuffer(row[1], dtype="<i8").astype(np.int64)


def put(db: Database, selection: str, version: str, ids: Sequence[int] | np.ndarray) -> bool:
    """Store the excluded ids; ``False`` (nothing written) inside an open transaction
    (a read snapshot cannot take the write lock safely) or when the database cannot be
    written (read-only file, busy, not migrated): the cache is an optimisation only."""
    if db.conn.in_transaction:
        return False
    blob = np.sort(np.asarray(ids, dtype="<i8")).tobytes()
    try:
        with write_transaction(db):
            db.execute(
                "INSERT INTO careless_exclusions_cache (selection, version, ids, computed_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (selection) DO UPDATE SET "
                "version = excluded.version, ids = excluded.ids, "
                "computed_at = excluded.computed_at",
                [selection, version, blob, datetime.now(UTC).isoformat(timespec="seconds")],
            )
    except sqlite3.OperationalError:
        return False
    return True


def period_frames(
    db: Database, campaigns: Sequence[Mapping], inst: Instrument, table: str
) -> Iterator[pd.DataFrame]:
    """The complete responses of ``campaigns``, one period at a time, as the columns
    the careless screening reads: ``response_id``, ``period``, ``duration_s`` and one
    float column per item (NaN = missing), ordered by id - the rows and values of
    :func:`survey.storage.store.load_campaign_frame` restricted to one period.

    One pass over the rows keeps the answers packed (one byte per answer,
    :mod:`survey.storage.packing`); only one period's float matrix exists at a time."""
    ids = [int(c["id"]) for c in campaigns]
    items = list(inst.item_ids)
    lows = store.item_lows(inst, items)
    packed = store.packed_answers_sql(db, inst, table)
    sql = (
        f"SELECT r.id, r.duration_s, r.period, {packed} FROM responses r "
        f"LEFT JOIN {packing.quote(table)} a ON a.response_id = r.id "
        f"WHERE r.campaign_id IN ({', '.join('?' * len(ids))}) AND r.status = 'complete' "
        "AND r.period IS NOT NULL ORDER BY r.id"
    )
    parts: dict[str, tuple[list, list, list]] = {}
    cur = db.conn.execute(sql, ids)
    try:
        while chunk := cur.fetchmany(FETCH_ROWS):
            a = np.array(chunk, dtype=object).reshape(len(chunk), 4)
            del chunk
            codes, periods = pd.factorize(a[:, 2])
            for k, period in enumerate(periods):
                rows = codes == k
                rid, dur, packs = parts.setdefault(str(period), ([], [], []))
                rid.append(a[rows, 0].astype(np.int64))
                dur.append(a[rows, 1].astype(float))  # None -> NaN
                packs.append("".join(a[rows, 3].tolist()))
            del a
    finally:
        cur.close()
    for period in list(parts):
        rid, dur, packs = parts.pop(period)
        codes, missing, _ = packing.unpack("".join(packs), lows)
        del packs
        x = packing.as_float(codes, missing)
        del codes, missing
        cols: dict = {
            "response_id": np.concatenate(rid),
            "period": pd.array([period] * int(x.shape[0]), dtype="str"),
            "duration_s": np.concatenate(dur),
        }
        for j, item in enumerate(items):
            cols[item] = x[:, j]
        del x
        yield pd.DataFrame(cols)
