"""The SQLite connection: opened, configured and closed here, and nowhere else.

Following the Flask tutorial's ``flaskr/db.py``: views call :func:`get_db`, which
opens one connection per application context, caches it on :data:`flask.g` and
closes it in ``teardown_appcontext``. The command line uses :func:`connect` (or
:func:`open_db` as a context manager) directly.

Every connection runs in WAL mode (readers never block the writer), waits up to
:data:`BUSY_TIMEOUT_MS` for a lock instead of failing at once, and enforces foreign
keys. Writes that must be all-or-nothing go through :func:`write_transaction`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext
from sqlite_utils import Database

from survey.storage.files import create_private

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

DEFAULT_DB = "trustmeter.db"
ENV_VAR = "TRUSTMETER_DB"
BUSY_TIMEOUT_MS = 10_000


def default_path() -> str:
    """The database path: ``$TRUSTMETER_DB`` when set, else ``trustmeter.db``."""
    return os.environ.get(ENV_VAR) or DEFAULT_DB


SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def connect(path: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> Database:
    """Open a configured connection to the database file at ``path``.

    The caller owns the connection and must ``close()`` it (``Database`` is also a
    context manager). Settings: ``journal_mode=WAL``, ``busy_timeout``,
    ``foreign_keys=ON`` and ``synchronous``: with WAL, ``NORMAL`` keeps every
    committed transaction when the *process* dies, but may lose the last ones on an
    operating-system crash or power loss; ``FULL`` fsyncs the WAL at every commit and
    loses nothing (the web app uses it, see :func:`get_db`).
    """
    if synchronous not in SYNCHRONOUS:
        raise ValueError(
            f"synchronous must be one of {', '.join(SYNCHRONOUS)}, got {synchronous!r}"
        )
    path = os.fspath(path)
    if path != ":memory:":
        parent = Path(path).parent
        if not parent.is_dir():
            raise ValueError(
                f"cannot create database {path!r}: directory {str(parent)!r} does not exist"
            )
        create_private(path)  # 0600 (survey.storage.files), before SQLite creates it 0644
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            # WAL is a property of the file: switch only when needed, because switching
            # can fail at once with "database is locked" while others open the file.
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
        return Database(conn)
    except BaseException:
        conn.close()
        raise


@contextlib.contextmanager
def open_db(path: str | os.PathLike[str]) -> Iterator[Database]:
    """``with open_db(path) as db:`` a connection that is closed on exit."""
    db = connect(path)
    try:
        yield db
    finally:
        db.close()


#: Writers of one process take turns here before asking SQLite for the write lock.
#: SQLite's busy handler polls with sleeps and is not fair: with many threads (gunicorn
#: gthread workers) some writers lost every race for seconds (p99 of 2-6 s in the web
#: benchmark). Re-entrant: a thread may hold write transactions on two databases.
_write_lock = threading.RLock()

#: Writers of different processes (gunicorn workers, the outbox worker, the CLI) then
#: queue on an exclusive ``flock`` of ``<database>-writelock``: a blocked writer
#: sleeps in the kernel and wakes as soon as the lock is released, instead of
#: SQLite's busy handler, which sleeps 1, 2, 5, 10 ... 100 ms between tries and made
#: a writer wait up to a quarter of a second behind a 2 ms commit (web benchmark
#: p99). The kernel releases the lock of a process that dies. SQLite's own locking
#: is unchanged (a writer that does not take this lock is still safe, just slower to
#: get its turn); where ``fcntl`` is missing (Windows) only SQLite's locking is used.
_lock_files: dict[tuple[int, str], int] = {}


def _lock_fd(db: Database) -> int | None:
    """This process's descriptor of the database's write-lock file (opened once)."""
    if fcntl is None:
        return None
    known = getattr(db, "_writelock_path", None)
    if known is None:
        try:
            known = db.conn.execute("PRAGMA database_list").fetchone()[2] or ""
        except sqlite3.Error:
            return None
        db._writelock_path = known  # the main file's path never changes for a connection
    path = known
    if not path:  # in-memory or temporary database: one connection, nothing to share
        return None
    key = (os.getpid(), path)
    fd = _lock_files.get(key)
    if fd is None:
        try:
            create_private(path + "-writelock")
            fd = os.open(path + "-writelock", os.O_RDWR | os.O_CLOEXEC)
        except OSError:  # e.g. a read-only folder: SQLite's locking alone
            return None
        _lock_files[key] = fd
    return fd


@contextlib.contextmanager
def _process_write_lock(db: Database) -> Iterator[None]:
    fd = _lock_fd(db)
    if fd is None:
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)  # releases the GIL while it waits
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def write_transaction(db: Database) -> Generator[Database, None, None]:
    """All-or-nothing writes: commit at the end of the block, roll back on any error.

    Outside a transaction this starts one with ``BEGIN IMMEDIATE``, which takes the
    write lock up front (waiting up to the busy timeout). A deferred ``BEGIN``
    followed by a read and then a write can fail with ``SQLITE_BUSY`` under
    concurrency without waiting, because its read snapshot may be stale. Inside an
    open transaction it nests with a savepoint via sqlite-utils' ``db.atomic()``.
    Threads of one process queue on a lock first (see :data:`_write_lock`).
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    with _write_lock, _process_write_lock(db):
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        try:
            db.conn.execute("COMMIT")
        except BaseException:
            db.rollback()
            raise


def init_db(db: Database, *, register_builtin: bool = True) -> list[str]:
    """Create or upgrade the schema and register the built-in instruments.

    Safe to run repeatedly. Returns the names of the migrations that were applied
    (empty when the schema was already current).
    """
    from survey.storage import (
        migrations,  # store imports this module
        store,
    )

    applied = migrations.apply(db)
    if register_builtin:
        from instruments.loader import builtin_paths, load_instrument

        for path in builtin_paths():
            store.register_instrument(db, load_instrument(path))
    return applied


# ----- Flask integration ---------------------------------------------------------
# One connection per worker thread, kept open across requests. Opening a connection
# costs its PRAGMAs, and closing the last connection to a WAL database checkpoints
# the WAL: both were paid on every request (about a quarter of the server time).
# What a request sees is unchanged: each request starts outside any transaction
# (a request that ends inside one is rolled back at teardown, exactly what closing
# did), and every commit is still fsynced (``synchronous=FULL``).
_local = threading.local()


@dataclass
class _Cached:
    key: tuple  # (pid, path, synchronous)
    file_id: tuple | None  # (st_dev, st_ino) of the file when opened
    db: Database


def _file_id(path: str) -> tuple | None:
    if path == ":memory:":
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _discard(cached: _Cached | None) -> None:
    if cached is not None and cached.key[0] == os.getpid():  # never close a parent's
        with contextlib.suppress(sqlite3.Error):
            cached.db.close()


def get_db() -> Database:
    """The request's connection: this thread's kept-open connection, on ``flask.g``.

    The path is the app's ``DATABASE`` config key. ``synchronous`` is
    ``DATABASE_SYNCHRONOUS`` (default ``FULL``): a respondent shown "Thank you" has
    been told their answers are saved, so each commit is fsynced and survives even
    a power loss (costs one fsync of the WAL per saved page).

    The connection is cached per thread and process (a forked worker never uses its
    parent's), and reopened when the app's path or the file itself changed (a new
    file at the same path). ``DATABASE_KEEP_OPEN = False`` restores one connection
    per request.
    """
    if "db" in g:
        return g.db
    path = os.fspath(current_app.config["DATABASE"])
    synchronous = current_app.config.get("DATABASE_SYNCHRONOUS", "FULL")
    if not current_app.config.get("DATABASE_KEEP_OPEN", True):
        g.db = connect(path, synchronous=synchronous)
        g.db_owned = True
        return g.db
    key = (os.getpid(), path, synchronous)
    cached: _Cached | None = getattr(_local, "cached", None)
    if cached is not None and (cached.key != key or cached.file_id != _file_id(path)):
        _discard(cached)
        cached = _local.cached = None
    if cached is None:
        db = connect(path, synchronous=synchronous)
        cached = _local.cached = _Cached(key, _file_id(path), db)
    g.db = cached.db
    return g.db


def close_db(e: BaseException | None = None) -> None:
    """End the request's use of its connection (``teardown_appcontext``).

    A kept-open connection is rolled back if the request left a transaction open
    (what closing it would have done) and stays open for the thread's next request;
    if even the rollback fails it is closed and forgotten.
    """
    db = g.pop("db", None)
    if db is None:
        return
    if g.pop("db_owned", False):
        db.close()
        return
    try:
        if db.conn.in_transaction:
            db.conn.rollback()
    except sqlite3.Error:
        cached = getattr(_local, "cached", None)
        if cached is not None and cached.db is db:
            _local.cached = None
        _discard(cached)


def close_thread_connection() -> None:
    """Close this thread's kept-open connection, if any (tests, shutdown)."""
    _discard(getattr(_local, "cached", None))
    _local.cached = None


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database schema (same as ``trustmeter init``)."""
    applied = init_db(get_db())
    click.echo(f"Initialized the database ({len(applied)} migrations applied).")


def init_app(app: Flask) -> None:
    """Register connection teardown and the ``flask init-db`` command with ``app``."""
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
