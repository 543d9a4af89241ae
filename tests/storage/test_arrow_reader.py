"""survey.storage.arrow_reader: rows read by a child process through ADBC SQLite, typed
whatever the first rows hold, in batches of exactly chunk_rows, and the child ended on
every path (end, early close, error) with its error raised here."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from survey.storage.arrow_reader import ArrowRows, ReaderError

N_NULL = 60_000  # more than the driver's first batch (BATCH_ROWS = 50,000)
N_LATER = 7
TEXTS = ["=1+1", "@x", "Отлично «ok»", "ترجمه", 'a "q", b\nc', "", "-2"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Column ``s`` (TEXT) and ``i`` (INTEGER) NULL in the first 60,000 rows, then
    values; ``f`` (REAL column; integers stored as such by a NUMERIC column) ints then
    floats; ``n`` (no declared type) integers then a float."""
    path = tmp_path_factory.mktemp("reader") / "t.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, i INTEGER, f NUMERIC, n)")
    rows = [(k, None, None, k, k) for k in range(1, N_NULL + 1)]
    rows += [
        (N_NULL + 1 + j, TEXTS[j], j - 3, 0.5 + j, 1.25 if j == 2 else j) for j in range(N_LATER)
    ]
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return path, rows


SQL = "SELECT id, s, i, f, n FROM t WHERE id > ? ORDER BY id"
NAMES = ["id", "s", "i", "f", "n"]
TYPES = ["int64", "string", "int64", "float64", "float64"]


def _gone(pid: int) -> bool:
    """The child has ended and was reaped (no zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_types_hold_whatever_the_first_batch(table):
    path, rows = table
    with ArrowRows(path, SQL, [0], NAMES, TYPES, 50_000, pre=[("SELECT count(*) FROM t", [])]) as r:
        assert r.pre == [[[len(rows)]]]
        batches = list(r)
        pid = r._proc.pid
    assert [b.num_rows for b in batches] == [50_000, N_NULL + N_LATER - 50_000]
    assert [str(t) for t in batches[0].schema.types] == ["int64", "string", "int64"] + [
        "double"
    ] * 2
    got = [row for b in batches for row in zip(*(c.to_pylist() for c in b.columns), strict=True)]
    want = [(k, s, i, float(f), float(n)) for k, s, i, f, n in rows]
    assert got == want
    assert got[N_NULL][1] == "=1+1" and got[-1][2] == 3 and got[N_NULL + 2][4] == 1.25
    assert _gone(pid)


def test_control_the_bare_driver_fails_on_this_table(table):
    """Without the typed first row the driver types ``s`` from 50,000 NULLs as int64 and
    stops at the first string (run in a child: never two SQLite copies in one process)."""
    path, _ = table
    code = (
        "import sys, adbc_driver_sqlite.dbapi as d\n"
        "c = d.connect(sys.argv[1]).cursor()\n"
        "c.adbc_statement.set_options(**{'adbc.sqlite.query.batch_rows': '50000'})\n"
        "c.execute('SELECT id, s FROM t ORDER BY id'); c.fetch_arrow_table()\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert done.returncode != 0 and "Type mismatch in column 1" in done.stderr


def test_exact_chunks_and_bound_arguments(table):
    path, rows = table
    with ArrowRows(path, SQL, [N_NULL - 10], NAMES, TYPES, 4) as r:
        sizes = [b.num_rows for b in r]
    assert sizes == [4, 4, 4, 4, 1]
    sql = "SELECT id, s FROM t WHERE s = ? OR i = ? OR f = ? ORDER BY id"
    with ArrowRows(path, sql, ["ترجمه", -3, 4.5], ["id", "s"], ["int64", "string"], 10) as r:
        got = [x for b in r for x in b.column(0).to_pylist()]
    assert got == [N_NULL + 1, N_NULL + 4, N_NULL + 5]


def test_an_empty_result(table):
    path, _ = table
    with ArrowRows(path, SQL, [10**9], NAMES, TYPES, 100) as r:
        assert list(r) == []


def test_a_child_error_is_raised_here_and_the_child_ended(table):
    path, _ = table
    r = ArrowRows(path, "SELECT id FROM nowhere", [], ["id"], ["int64"], 10)
    pid = r._proc.pid
    with pytest.raises(ReaderError, match="no such table: nowhere"):
        list(r)
    r.close()
    assert _gone(pid)


def test_closed_early_the_child_is_killed_and_reaped(table):
    path, _ = table
    with ArrowRows(path, SQL, [0], NAMES, TYPES, 1_000) as r:
        pid = r._proc.pid
        next(iter(r))
    assert _gone(pid)


def test_an_exception_in_the_parent_ends_the_child(table):
    path, _ = table
    with pytest.raises(KeyError), ArrowRows(path, SQL, [0], NAMES, TYPES, 1_000) as r:
        pid = r._proc.pid
        raise KeyError("parent failed")
    assert _gone(pid)


def test_bad_input_is_a_clear_error(tmp_path, table):
    path, _ = table
    with pytest.raises(ReaderError, match="is not a file"):
        ArrowRows(tmp_path / "missing.db", SQL, [0], NAMES, TYPES, 10)
    with pytest.raises(ValueError, match="column types"):
        ArrowRows(path, SQL, [0], NAMES, ["int64", "text", "int64", "float64", "float64"], 10)
    with pytest.raises(ValueError, match="cannot bind bytes"):
        ArrowRows(path, SQL, [b"bytes"], NAMES, TYPES, 10)


def test_the_database_is_opened_read_only(table):
    path, _ = table
    with pytest.raises(ReaderError, match="readonly|read-only|read only"):
        with ArrowRows(path, SQL, [0], NAMES, TYPES, 10, pre=[("DELETE FROM t", [])]) as r:
            list(r)
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == N_NULL + N_LATER
    con.close()
