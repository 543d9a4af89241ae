"""The answer tables' stored packed column (packing.STORED_COLUMN): SQLite keeps it equal
to packing the row's answers on every write, the migration adds it to tables made
before it existed, and the matrix loader reads it with the same result as packing in
its query."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from survey.demo import fill_demo
from survey.storage import careless_cache, migrations, packing, store
from survey.storage.db import init_db, open_db, write_transaction
from tests.store_fixtures import small_instrument


def _table(lows: list[int], highs: list[int]) -> tuple[sqlite3.Connection, list[str]]:
    con = sqlite3.connect(":memory:")
    cols = [f"c{j}" for j in range(len(lows))]
    defs = [
        f"{c} INTEGER CHECK ({c} BETWEEN {lo} AND {hi})"
        for c, lo, hi in zip(cols, lows, highs, strict=True)
    ]
    con.execute(
        "CREATE TABLE a (response_id INTEGER PRIMARY KEY, "
        + ", ".join(defs)
        + ", "
        + packing.stored_column_ddl(cols, lows)
        + ")"
    )
    return con, cols


@pytest.mark.parametrize("wide", [False, True])
def test_stored_column_follows_inserts_upserts_and_updates(wide):
    lows, highs = [1, 0, -9], [7, 10, 9]
    if wide:  # codes beyond ASCII travel as other characters
        lows, highs = [*lows, -500], [*highs, 50_000]
    con, cols = _table(lows, highs)
    rng = np.random.default_rng(5)

    def row():
        return [
            None if rng.random() < 0.2 else int(rng.integers(lo, hi + 1))
            for lo, hi in zip(lows, highs, strict=True)
        ]

    ids = [1, 2, 63, 64, 4096, packing.MAX_ID]
    marks = ", ".join("?" * (len(cols) + 1))
    con.executemany(
        f"INSERT INTO a (response_id, {', '.join(cols)}) VALUES ({marks})",
        [[i, *row()] for i in ids],
    )
    # a page saved again (upsert), one answer changed, one withdrawn
    con.execute(
        f"INSERT INTO a (response_id, {cols[0]}) VALUES (2, ?) "
        f"ON CONFLICT (response_id) DO UPDATE SET {cols[0]} = excluded.{cols[0]}",
        [highs[0]],
    )
    con.execute(f"UPDATE a SET {cols[1]} = NULL WHERE response_id = 63")
    computed = packing.pack_sql(cols, lows, row_id="a.response_id")
    rows = con.execute(
        f"SELECT response_id, {packing.quote(packing.STORED_COLUMN)}, {computed} FROM a "
        "ORDER BY response_id"
    ).fetchall()
    assert [r[0] for r in rows] == ids
    assert all(stored == fresh for _, stored, fresh in rows)
    x, got = packing.unpack_float("".join(r[1] for r in rows), lows, with_ids=True)
    values = con.execute(f"SELECT {', '.join(cols)} FROM a ORDER BY response_id").fetchall()
    want = np.array([[np.nan if v is None else v for v in r] for r in values], dtype=float)
    assert np.array_equal(x, want, equal_nan=True) and got.tolist() == ids
    assert x[1, 0] == highs[0] and np.isnan(x[2, 1])


def test_unpack_float_picks_columns_in_the_order_asked():
    con, cols = _table([1, 0, -9], [7, 10, 9])
    con.executemany(
        "INSERT INTO a (response_id, c0, c1, c2) VALUES (?, ?, ?, ?)",
        [[1, 3, None, -9], [2, 7, 10, 4], [3, None, 0, None]],
    )
    text = "".join(t for (t,) in con.execute("SELECT _packed FROM a ORDER BY response_id"))
    whole, ids = packing.unpack_float(text, [1, 0, -9], with_ids=True)
    picked, ids2 = packing.unpack_float(text, [1, 0, -9], with_ids=True, columns=[2, 0])
    assert np.array_equal(picked, whole[:, [2, 0]], equal_nan=True)
    assert picked.tolist()[1] == [4.0, 7.0] and ids.tolist() == ids2.tolist() == [1, 2, 3]


def _rebuild(db, inst, table: str, stored: str | None = None) -> None:
    """Make ``table`` again from its rows: as answer tables were made before the stored
    column (``stored`` None), or with the stored column defined as ``stored``."""
    ddl = store._answers_ddl(inst, "rebuilt")
    cut = ddl.index(",\n    " + packing.quote(packing.STORED_COLUMN))
    new_ddl = ddl[:cut] + (f",\n    {stored}" if stored else "") + "\n)"
    names = ", ".join(packing.quote(c) for c in ["response_id", *inst.item_ids])
    with write_transaction(db):
        db.execute(new_ddl)
        db.execute(f"INSERT INTO rebuilt ({names}) SELECT {names} FROM {packing.quote(table)}")
        db.execute(f"DROP TABLE {packing.quote(table)}")
        db.execute(f"ALTER TABLE rebuilt RENAME TO {packing.quote(table)}")


def _loads(db, inst, some: list[str]) -> dict:
    """What every bulk loader reads of campaign "old"."""
    cs, _, table = store._campaigns_and_instrument(db, "old")
    periods = pd.concat(careless_cache.period_frames(db, cs, inst, table))
    return {
        "matrix": [
            store.load_campaign_matrix(db, "old"),
            store.load_campaign_matrix(db, "old", some, complete_only=False),
        ],
        "frame": store.load_campaign_frame(db, "old", complete_only=False)[0],
        "periods": periods.sort_values("response_id", ignore_index=True),
    }


def test_migration_adds_the_column_and_loads_do_not_change(tmp_path):
    inst = small_instrument(tmp_path)
    with open_db(tmp_path / "t.db") as db:
        init_db(db)
        fill_demo(db, "old", 300, seed=4, instrument=inst)
        table = store.answers_table(db, inst)
        assert store.has_stored_column(db, inst, table)
        # a complete response without any answers row still gets a row of NaN
        rid = db.execute(
            "SELECT id FROM responses WHERE status = 'complete' ORDER BY id LIMIT 1 OFFSET 7"
        ).fetchone()[0]
        with write_transaction(db):
            db.execute(f"DELETE FROM {packing.quote(table)} WHERE response_id = ?", [rid])
        items = list(inst.item_ids)
        some = [items[-1], items[0], items[4]]
        new_path = _loads(db, inst, some)
        before_rows = db.execute(
            f"SELECT * FROM {packing.quote(table)} ORDER BY response_id"
        ).fetchall()

        _rebuild(db, inst, table)
        assert not store.has_stored_column(db, inst, table)
        old_path = _loads(db, inst, some)
        # the migration, as an older database meets this version
        with write_transaction(db):
            db.execute("DELETE FROM _sqlite_migrations WHERE name = '0014_packed_answers'")
        assert migrations.apply(db) == ["0014_packed_answers"]
        assert store.has_stored_column(db, inst, table)
        assert (
            db.execute(f"SELECT * FROM {packing.quote(table)} ORDER BY response_id").fetchall()
            == before_rows
        )
        migrated = _loads(db, inst, some)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for (x_new, ids_new, it_new), (x_old, ids_old, it_old), (x_mig, ids_mig, it_mig) in zip(
        new_path["matrix"], old_path["matrix"], migrated["matrix"], strict=True
    ):
        assert it_new == it_old == it_mig
        assert np.array_equal(x_new, x_old, equal_nan=True)
        assert np.array_equal(x_mig, x_old, equal_nan=True)
        assert np.array_equal(ids_new, ids_old) and np.array_equal(ids_mig, ids_old)
    for loaded in (new_path, migrated):  # the frame and the careless screening's periods
        pd.testing.assert_frame_equal(loaded["frame"], old_path["frame"])
        pd.testing.assert_frame_equal(loaded["periods"], old_path["periods"])
    frame = new_path["frame"]
    assert frame.loc[frame["response_id"] == rid, items].isna().all(axis=None)
    assert len(new_path["periods"]) == 300 and new_path["periods"][items].notna().any(axis=None)
    x, ids, _ = new_path["matrix"][0]
    assert rid in ids.tolist() and np.isnan(x[ids.tolist().index(rid)]).all()
    assert x.shape[1] == len(inst.item_ids) and np.nanmax(x[:, items.index("NPS")]) > 7


def test_migration_leaves_a_table_that_is_not_the_instruments(tmp_path):
    """Columns that are not the instrument's items (hand-altered): no rebuild; loads
    pack in the query as before."""
    inst = small_instrument(tmp_path)
    with open_db(tmp_path / "t.db") as db:
        init_db(db)
        fill_demo(db, "odd", 50, seed=1, instrument=inst)
        table = store.answers_table(db, inst)
        _rebuild(db, inst, table)
        with write_transaction(db):
            db.execute(f"ALTER TABLE {packing.quote(table)} ADD COLUMN note TEXT")
            assert store.add_stored_column(db, inst, table) is False
        assert not store.has_stored_column(db, inst, table)
        x, ids, items = store.load_campaign_matrix(db, "odd")
        assert len(ids) == 50 and items == list(inst.item_ids)


def test_a_stored_column_packed_otherwise_is_not_trusted(tmp_path):
    """A ``_packed`` column whose expression is not this code's (other offsets): the
    loader packs in its query, so the numbers stay right."""
    inst = small_instrument(tmp_path)
    with open_db(tmp_path / "t.db") as db:
        init_db(db)
        fill_demo(db, "drift", 80, seed=2, instrument=inst)
        table = store.answers_table(db, inst)
        want = store.load_campaign_matrix(db, "drift")
        lows = [lo - 1 for lo in store.item_lows(inst, inst.item_ids)]
        _rebuild(db, inst, table, packing.stored_column_ddl(inst.item_ids, lows))
        assert not store.has_stored_column(db, inst, table)
        got = store.load_campaign_matrix(db, "drift")
    assert np.array_equal(got[0], want[0], equal_nan=True) and np.array_equal(got[1], want[1])


def test_exports_read_the_stored_column_with_the_same_bytes(tmp_path):
    """The export's SELECT copies the stored column (exports.Selection.answers_sql); a
    table without it is packed in the query, and the files are the same."""
    from survey.export import export_campaign
    from survey.storage import exports

    inst = small_instrument(tmp_path)
    path = tmp_path / "t.db"
    with open_db(path) as db:
        init_db(db)
        fill_demo(db, "ex", 120, seed=6, instrument=inst)
        table = store.answers_table(db, inst)
        assert packing.STORED_COLUMN in exports.select(db, ["ex"], None).answers_sql
    export_campaign(path, "ex", "csv", tmp_path / "with.csv")
    with open_db(path) as db:
        _rebuild(db, inst, table)
        assert packing.STORED_COLUMN not in exports.select(db, ["ex"], None).answers_sql
    export_campaign(path, "ex", "csv", tmp_path / "without.csv")
    with_column = (tmp_path / "with.csv").read_bytes()
    assert with_column == (tmp_path / "without.csv").read_bytes()
    assert with_column.count(b"\n") == 121
