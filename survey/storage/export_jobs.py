"""Researchers' exports as background jobs: the ``export_jobs`` table.

A researcher's export is one row here plus one outbox row of kind ``export``
(:mod:`survey.storage.outbox`), inserted in the same transaction, so the shared
outbox worker (:mod:`survey.worker`) runs it. The row carries what the page shows:
state, rows done of the total, and when finished the archive's file name (inside the
exports folder, see :func:`survey.export.jobs.exports_dir`), its size and when it is
deleted.

States::

    queued -> running -> done -> expired (file deleted)
                     \\-> failed

Nothing personal is stored: the requesting username (as in the audit log), the
campaign, format, period and label language.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from survey.storage import outbox
from survey.storage.db import write_transaction

KIND = "export"
STATES = ("queued", "running", "done", "failed", "expired")

SCHEMA = [
    """
    CREATE TABLE export_jobs (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
        slug TEXT NOT NULL,
        format TEXT NOT NULL,
        period TEXT,
        language TEXT NOT NULL,
        raw_formulas INTEGER NOT NULL DEFAULT 0,
        requested_by TEXT,
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'running', 'done', 'failed', 'expired')),
        rows_done INTEGER NOT NULL DEFAULT 0,
        rows_total INTEGER,
        file_name TEXT,
        download_name TEXT,
        size_bytes INTEGER,
        sha256 TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        expires_at TEXT
    )
    """,
    "CREATE INDEX export_jobs_campaign ON export_jobs (campaign_id, id)",
    "CREATE INDEX export_jobs_expiry ON export_jobs (state, expires_at)",
]

_COLUMNS = (
    "id",
    "campaign_id",
    "slug",
    "format",
    "period",
    "language",
    "raw_formulas",
    "requested_by",
    "state",
    "rows_done",
    "rows_total",
    "file_name",
    "download_name",
    "size_bytes",
    "sha256",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "expires_at",
)


def apply_schema(db: Database) -> None:
    """Create the table (migration ``0007_export_jobs``)."""
    for sql in SCHEMA:
        db.execute(sql)


def _now() -> str:
    return outbox.iso(datetime.now(UTC))


def _rows(cur) -> list[dict]:
    return [dict(zip(_COLUMNS, r, strict=True)) for r in cur.fetchall()]


def database_file(db: Database) -> str:
    """The path of ``db``'s main database file ('' for an in-memory database)."""
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2] if row else ""


def create(
    db: Database,
    campaign: dict,
    fmt: str,
    *,
    period: str | None,
    language: str,
    requested_by: str | None,
    raw_formulas: bool = False,
) -> dict:
    """Queue an export of ``campaign``: the job row and its outbox row, atomically."""
    now = _now()
    with write_transaction(db):
        cur = db.execute(
            "INSERT INTO export_jobs (campaign_id, slug, format, period, language, "
            "raw_formulas, requested_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                campaign["id"],
                campaign["slug"],
                fmt,
                period,
                language,
                int(raw_formulas),
                requested_by,
                now,
            ],
        )
        job_id = cur.lastrowid
        outbox.enqueue(
            db,
            KIND,
            {"export_job": job_id},
            key=f"{KIND}:{job_id}",
            campaign_id=campaign["id"],
            max_attempts=1,
        )
    job = get(db, job_id)
    assert job is not None
    return job


def get(db: Database, job_id: int) -> dict | None:
    rows = _rows(
        db.execute(f"SELECT {', '.join(_COLUMNS)} FROM export_jobs WHERE id = ?", [job_id])
    )
    return rows[0] if rows else None


def for_campaign(db: Database, campaign_id: int, limit: int = 10) -> list[dict]:
    """The campaign's latest export jobs, newest first."""
    return _rows(
        db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM export_jobs WHERE "
            "campaign_id = ? ORDER BY id DESC LIMIT ?",
            [campaign_id, limit],
        )
    )


def start(db: Database, job_id: int) -> dict | None:
    """Mark a queued (or interrupted: running again after a crash) job running."""
    with write_transaction(db):
        db.execute(
            "UPDATE export_jobs SET state = 'running', started_at = ?, rows_done = 0, "
            "error = NULL WHERE id = ? AND state IN ('queued', 'running')",
            [_now(), job_id],
        )
    return get(db, job_id)


def progress(db: Database, job_id: int, rows_done: int, rows_total: int) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE export_jobs SET rows_done = ?, rows_total = ? WHERE id = ? AND "
            "state = 'running'",
            [rows_done, rows_total, job_id],
        )


def finish(
    db: Database,
    job_id: int,
    *,
    file_name: str,
    download_name: str,
    size_bytes: int,
    rows: int,
    sha256: str,
    keep_s: float,
) -> None:
    """The archive is written: keep it until now + ``keep_s``. ``sha256`` is the data
    file's (as in its manifest)."""
    now = datetime.now(UTC)
    with write_transaction(db):
        db.execute(
            "UPDATE export_jobs SET state = 'done', file_name = ?, download_name = ?, "
            "size_bytes = ?, sha256 = ?, rows_done = ?, rows_total = ?, "
            "finished_at = ?, expires_at = ? WHERE id = ?",
            [
                file_name,
                download_name,
                size_bytes,
                sha256,
                rows,
                rows,
                outbox.iso(now),
                outbox.iso(now + timedelta(seconds=keep_s)),
                job_id,
            ],
        )


def fail(db: Database, job_id: int, error: str) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE export_jobs SET state = 'failed', error = ?, finished_at = ? "
            "WHERE id = ? AND state IN ('queued', 'running')",
            [error[:1000], _now(), job_id],
        )


def due_for_deletion(db: Database, now: datetime | None = None) -> list[dict]:
    """Finished jobs whose file's time is up."""
    when = outbox.iso(now or datetime.now(UTC))
    return _rows(
        db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM export_jobs WHERE "
            "state = 'done' AND expires_at <= ? ORDER BY id",
            [when],
        )
    )


def mark_expired(db: Database, job_ids: Iterable[int]) -> None:
    ids = list(job_ids)
    if not ids:
        return
    with write_transaction(db):
        db.execute(
            f"UPDATE export_jobs SET state = 'expired' WHERE id IN "
            f"({', '.join('?' * len(ids))}) AND state = 'done'",
            ids,
        )


def live_file_names(db: Database) -> set[str]:
    """File names of the jobs whose files are kept (running or done)."""
    return {
        r[0]
        for r in db.execute(
            "SELECT file_name FROM export_jobs WHERE state = 'done' AND file_name IS NOT NULL"
        ).fetchall()
    }
