"""Researchers' exports in the background: the outbox handler of kind ``export``.

The campaign page's export button queues a job (:func:`queue`); the shared outbox
worker (:mod:`survey.worker`, started by ``trustmeter serve`` or run as ``trustmeter
worker``) builds the ZIP archive (data file, codebooks, manifest: the same files as
:func:`survey.export.archive.export_zip`) into the exports folder, reporting rows done
after every chunk; the job page refreshes itself (``<meta http-equiv="refresh">``)
until the link to the file appears. The file is kept for :func:`keep_seconds`
(``$TRUSTMETER_EXPORT_KEEP_HOURS``, default 24 hours), then the worker deletes it.

The long-running worker process runs at a lower CPU priority (``nice`` +10, see
:func:`survey.worker.run_forever`), so that respondents' pages keep their latency
while it exports.

Progress and state are written through a second connection: the export reads one
snapshot for its whole run, and a write inside that read transaction would both hold
the write lock for minutes and fail once respondents have written meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from sqlite_utils import Database

from survey import worker
from survey.export.archive import write_archive
from survey.export.core import ExportResult, export_campaign
from survey.storage import export_jobs, outbox
from survey.storage.db import connect

log = logging.getLogger("trustmeter.export")

KEEP_ENV = "TRUSTMETER_EXPORT_KEEP_HOURS"
DIR_ENV = "TRUSTMETER_EXPORT_DIR"
DEFAULT_KEEP_HOURS = 24.0
#: seconds between progress writes (and lease extensions) at most
PROGRESS_EVERY_S = 1.0


def keep_seconds() -> float:
    """How long a finished export is kept: ``$TRUSTMETER_EXPORT_KEEP_HOURS`` (default 24)."""
    raw = os.environ.get(KEEP_ENV)
    if not raw:
        return DEFAULT_KEEP_HOURS * 3600
    try:
        hours = float(raw)
    except ValueError:
        raise ValueError(f"{KEEP_ENV} must be a number of hours, got {raw!r}") from None
    if not hours > 0:
        raise ValueError(f"{KEEP_ENV} must be > 0, got {raw!r}")
    return hours * 3600


def exports_dir(db_file: str) -> Path:
    """The folder of finished exports: ``$TRUSTMETER_EXPORT_DIR``, else ``DB.exports``
    beside the database file (created 0700)."""
    raw = os.environ.get(DIR_ENV)
    path = Path(raw) if raw else Path(f"{os.path.abspath(db_file)}.exports")
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _stem(slug: str, period: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{slug}-{period}" if period else slug)


def download_name(slug: str, period: str | None, fmt: str) -> str:
    """The archive's name for the browser, as the synchronous export names it."""
    return f"{_stem(slug, period)}-{fmt}.zip"


def file_path(db: Database, job: dict) -> Path | None:
    """The finished archive of ``job``, or None when there is none (any more)."""
    name = job.get("file_name")
    if job.get("state") != "done" or not name or "/" in name or name.startswith("."):
        return None
    path = exports_dir(export_jobs.database_file(db)) / name
    return path if path.is_file() else None


def build_archive(db: Database, job: dict, out: Path, progress=None) -> ExportResult:
    """Write ``job``'s export as a ZIP archive at ``out`` (0600); return the export's
    result (its paths are gone: they were in a work folder)."""
    stem = _stem(job["slug"], job["period"])
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=out.parent))
    try:
        kwargs = {"raw_formulas": True} if job.get("raw_formulas") else {}
        result = export_campaign(
            db,
            job["slug"],
            job["format"],
            work / f"{stem}.{job['format']}",
            periods=[job["period"]] if job["period"] else None,
            language=job["language"],
            progress=progress,
            **kwargs,
        )
        tmp = out.with_name(f".{out.name}.part")
        try:
            write_archive(result, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, out)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


class ExportHandler:
    """Runs one export job per outbox row (``{"export_job": id}``)."""

    def deliver(self, db: Database, job: outbox.Job) -> str:
        job_id = job.payload.get("export_job")
        if not isinstance(job_id, int):
            raise worker.PermanentFailure("export job id missing from the outbox payload")
        db_file = export_jobs.database_file(db)
        status = connect(db_file)  # progress and state: see the module docstring
        try:
            row = export_jobs.start(status, job_id)
            if row is None or row["state"] != "running":
                raise worker.PermanentFailure(f"export job {job_id} is not queued")
            folder = exports_dir(db_file)
            name = f"export-{job_id}-{secrets.token_hex(8)}.zip"
            last = [0.0]

            def progress(done: int, total: int) -> None:
                now = time.monotonic()
                if now - last[0] >= PROGRESS_EVERY_S or done >= total:
                    last[0] = now
                    export_jobs.progress(status, job_id, done, total)
                    outbox.extend_lease(status, job)

            try:
                keep_s = keep_seconds()
                result = build_archive(db, row, folder / name, progress)
            except (ValueError, LookupError, OSError) as e:
                export_jobs.fail(status, job_id, str(e))
                raise worker.PermanentFailure(str(e)) from None
            except BaseException as e:
                export_jobs.fail(status, job_id, f"{type(e).__name__}: {e}")
                raise worker.PermanentFailure(f"{type(e).__name__}: {e}") from None
            export_jobs.finish(
                status,
                job_id,
                file_name=name,
                download_name=download_name(row["slug"], row["period"], row["format"]),
                size_bytes=(folder / name).stat().st_size,
                rows=result.rows,
                sha256=result.sha256,
                keep_s=keep_s,
            )
            log.info("export job %d: %d rows, %s", job_id, result.rows, row["format"])
            return f"{result.rows} rows"
        finally:
            status.close()


def delete_expired(db: Database) -> int:
    """Delete the files of finished exports whose time is up (a periodic task of the
    worker); also stray files no job refers to. Returns the number of files deleted."""
    folder = exports_dir(export_jobs.database_file(db))
    due = export_jobs.due_for_deletion(db)
    deleted = 0
    for job in due:
        name = job["file_name"]
        if name and "/" not in name:
            with contextlib.suppress(FileNotFoundError):
                (folder / name).unlink()
                deleted += 1
    export_jobs.mark_expired(db, [j["id"] for j in due])
    keep = export_jobs.live_file_names(db)
    cutoff = time.time() - 3600  # leftovers of a crashed run (".part", ".work-")
    for path in folder.iterdir():
        if path.name in keep:
            continue
        try:
            old = path.stat().st_mtime < cutoff
        except FileNotFoundError:
            continue
        if old:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            deleted += 1
    return deleted


worker.register(export_jobs.KIND, ExportHandler)
worker.register_periodic(60.0, delete_expired)
