"""An export as one ZIP archive (data file, codebooks, manifest): what the campaign
page's export button downloads and ``GET /api/v1/campaigns/<slug>/export`` returns."""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from sqlite_utils import Database

from survey.export.core import ExportResult, export_campaign


def write_archive(result: ExportResult, target: str | Path | IO[bytes]) -> None:
    """Write an export's files into a ZIP at ``target`` (a path or a binary file), under
    the names the manifest refers to: FILE, FILE.codebook.md, FILE.codebook.json and
    the manifest."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path in (result.path, result.codebook_md, result.codebook_json, result.manifest):
            z.write(path, path.name)


def export_zip(
    db: Database,
    slug: str,
    fmt: str,
    *,
    period: str | None = None,
    language: str = "en",
    raw_formulas: bool = False,
) -> tuple[IO[bytes], ExportResult, str]:
    """Export campaign ``slug`` (one ``period`` or all) as ``fmt`` into a ZIP archive.

    Returns ``(archive, result, download_name)``: ``archive`` is an anonymous temporary
    file positioned at its start (the caller sends and closes it), ``result`` the
    :class:`~survey.export.core.ExportResult` (its paths are gone: they were in a
    temporary folder) and ``download_name`` e.g. ``acme-2026-Q4-csv.zip``. Raises what
    :func:`~survey.export.core.export_campaign` raises (``ValueError``, ``LookupError``).
    """
    periods: Sequence[str] | None = [period] if period else None
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{slug}-{period}" if period else slug)
    work = Path(tempfile.mkdtemp(prefix="trustmeter-export-"))
    try:
        result = export_campaign(
            db,
            slug,
            fmt,
            work / f"{stem}.{fmt}",
            periods=periods,
            language=language,
            raw_formulas=raw_formulas,
        )
        archive = tempfile.TemporaryFile(prefix="trustmeter-export-", suffix=".zip")
        try:
            write_archive(result, archive)
            archive.seek(0)
        except BaseException:
            archive.close()
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return archive, result, f"{stem}-{fmt}.zip"
