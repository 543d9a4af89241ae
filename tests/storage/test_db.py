"""Connections, migrations and transactions (survey.storage.db, survey.storage.migrations)."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from flask import Flask

from instruments.loader import builtin_paths, load_instrument
from survey.storage import db as dbmod
from survey.storage import migrations, store


def schema(db):
    return db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_connection_settings(tmp_path):
    with dbmod.open_db(tmp_path / "x.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == dbmod.BUSY_TIMEOUT_MS
    with pytest.raises(sqlite3.ProgrammingError):
        db.execute("SELECT 1")  # closed on exit


def test_connect_to_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        dbmod.connect(tmp_path / "nope" / "x.db")


def test_default_path_honours_env(monkeypatch):
    monkeypatch.delenv("TRUSTMETER_DB", raising=False)
    assert dbmod.default_path() == "trustmeter.db"
    monkeypatch.setenv("TRUSTMETER_DB", "/data/t.db")
    assert dbmod.default_path() == "/data/t.db"


def test_migrations_twice_is_a_no_op(tmp_path):
    with dbmod.open_db(tmp_path / "x.db") as db:
        expected = migrations.pending(db)
        assert expected[:3] == ["0001_initial", "0002_researchers", "0003_contacts_outbox"]
        assert expected == sorted(expected) and len(set(expected)) == len(expected)
        assert migrations.apply(db) == expected
        first = schema(db)
        assert migrations.apply(db) == []
        assert schema(db) == first
        assert not migrations.pending(db)
        n_applied = db.execute("SELECT COUNT(*) FROM _sqlite_migrations").fetchone()[0]
        assert n_applied == len(expected)
    with dbmod.open_db(tmp_path / "x.db") as db:  # also from a new connection
        assert migrations.apply(db) == [] and schema(db) == first


def test_schema_tables_and_index(tmp_path):
    with dbmod.open_db(tmp_path / "x.db") as db:
        migrations.apply(db)
        assert {"instruments", "campaigns", "invitations", "responses"} <= set(db.table_names())
        idx = {i.name: i.columns for i in db["responses"].indexes}
        assert idx["idx_responses_campaign_status"] == ["campaign_id", "status"]


def test_init_db_registers_builtin_instruments_idempotently(tmp_path):
    with dbmod.open_db(":memory:") as fresh:
        every = migrations.pending(fresh)
    with dbmod.open_db(tmp_path / "x.db") as db:
        assert dbmod.init_db(db) == every
        first = schema(db)
        assert dbmod.init_db(db) == []
        assert schema(db) == first
        got = {(r["id"], r["version"]) for r in store.list_instruments(db)}
        want = {(i.id, i.version) for i in map(load_instrument, builtin_paths())}
        assert got == want


def test_foreign_keys_are_enforced(tmp_path):
    with dbmod.open_db(tmp_path / "x.db") as db:
        migrations.apply(db)
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            db.execute(
                "INSERT INTO responses (campaign_id, period, language, started_at) "
                "VALUES (999, 'p', 'en', 'now')"
            )


def test_write_transaction_commits_or_rolls_back_everything(tmp_path):
    with dbmod.open_db(tmp_path / "x.db") as db:
        db.execute("CREATE TABLE t (x INTEGER)")
        with pytest.raises(RuntimeError):
            with dbmod.write_transaction(db):
                db.execute("INSERT INTO t VALUES (1)")
                raise RuntimeError("boom")
        assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
        with dbmod.write_transaction(db):
            db.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(RuntimeError):  # a nested block is a savepoint
                with dbmod.write_transaction(db):
                    db.execute("INSERT INTO t VALUES (2)")
                    raise RuntimeError("inner")
        assert [r[0] for r in db.execute("SELECT x FROM t")] == [1]
        assert not db.conn.in_transaction


def test_flask_get_db_is_cached_per_context_and_closed(tmp_path):
    """DATABASE_KEEP_OPEN = False: one connection per application context, closed after."""
    app = Flask(__name__)
    app.config["DATABASE"] = str(tmp_path / "x.db")
    app.config["DATABASE_KEEP_OPEN"] = False
    dbmod.init_app(app)
    with app.app_context():
        db = dbmod.get_db()
        assert dbmod.get_db() is db
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.ProgrammingError):
        db.execute("SELECT 1")


def test_flask_get_db_keeps_one_connection_per_thread(tmp_path):
    """The default: the thread's connection outlives the request, starts each request
    outside a transaction (an unfinished one is rolled back, as closing did), keeps
    synchronous=FULL, and is reopened for another path or a new file at the same path."""
    app = Flask(__name__)
    app.config["DATABASE"] = str(tmp_path / "x.db")
    dbmod.init_app(app)
    try:
        with app.app_context():
            db = dbmod.get_db()
            db.execute("CREATE TABLE t (x INTEGER)")
            db.conn.commit()
            db.execute("BEGIN")
            db.execute("INSERT INTO t VALUES (1)")  # never committed
            assert db.conn.in_transaction
        with app.app_context():
            assert dbmod.get_db() is db  # the same connection, still open
            assert not db.conn.in_transaction
            assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
            assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        # another thread gets its own connection
        other = []

        def in_thread():
            with app.app_context():
                other.append(dbmod.get_db())
            dbmod.close_thread_connection()

        t = threading.Thread(target=in_thread)
        t.start()
        t.join()
        assert other and other[0] is not db
        # a new database file at the same path: reopened, the old connection closed
        (tmp_path / "x.db").unlink()
        for extra in ("-wal", "-shm"):
            (tmp_path / f"x.db{extra}").unlink(missing_ok=True)
        with dbmod.open_db(tmp_path / "x.db") as fresh:
            fresh.execute("CREATE TABLE u (y INTEGER)")
            fresh.conn.commit()
        with app.app_context():
            db2 = dbmod.get_db()
            assert db2 is not db
            assert db2.execute("SELECT name FROM sqlite_master").fetchall() == [("u",)]
        with pytest.raises(sqlite3.ProgrammingError):
            db.execute("SELECT 1")
        # another path: another connection
        app.config["DATABASE"] = str(tmp_path / "y.db")
        with app.app_context():
            assert dbmod.get_db() is not db2
    finally:
        dbmod.close_thread_connection()


def test_flask_init_db_command(tmp_path):
    app = Flask(__name__)
    app.config["DATABASE"] = str(tmp_path / "x.db")
    dbmod.init_app(app)
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Initialized" in result.output
    with dbmod.open_db(tmp_path / "x.db") as db:
        assert not migrations.pending(db)


def test_writers_of_different_processes_queue_on_the_write_lock_file(tmp_path):
    """A writer waits on ``<db>-writelock`` (an exclusive flock, as another process's
    writer holds it) instead of SQLite's sleeping busy handler, and goes on as soon as
    the lock is released."""
    import fcntl
    import os
    import time

    path = str(tmp_path / "t.db")
    db = dbmod.connect(path)
    db.execute("CREATE TABLE t (x INTEGER)")
    done = threading.Event()

    def writer():
        own = dbmod.connect(path)
        with dbmod.write_transaction(own):
            own.execute("INSERT INTO t VALUES (1)")
        own.close()
        done.set()

    # another open file description of the lock file conflicts like another process
    fd = os.open(path + "-writelock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        t = threading.Thread(target=writer)
        t.start()
        assert not done.wait(0.5), "the writer did not wait for the held write lock"
        released = time.monotonic()
        fcntl.flock(fd, fcntl.LOCK_UN)
        assert done.wait(5)
        assert time.monotonic() - released < 0.5
        t.join()
    finally:
        os.close(fd)
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    assert oct(os.stat(path + "-writelock").st_mode & 0o777) == "0o600"
    db.close()
