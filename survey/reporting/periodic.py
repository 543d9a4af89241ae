"""Periodic Trust Index reports from the survey database: ``trustmeter report``.

:func:`build_report` reads campaigns with :mod:`survey.storage.store` and hands the frame
to :func:`analysis.periodic.periodic_report`; :func:`render_html` renders the result
as one self-contained HTML file. The researcher dashboard shows the same figures
by calling these two functions.

Which campaigns
    Named campaigns (``--campaign``, repeatable; they must share one instrument
    version). Without any: every campaign of the database that uses the same
    instrument version as the newest campaign, i.e. the current tracker and its
    earlier waves. Campaigns on an older instrument version are left out because
    their answers are not comparable item by item.

Suppression threshold
    ``--min-segment-n``, else the largest ``min_segment_n`` of the chosen campaigns
    (the strictest of their settings; 30 by default).

The command is meant for cron: no prompts, exit code 0 on success, a one-line
summary on stdout, ``Error: ...`` and exit code 1 on bad input (2 for usage
errors), and output files written atomically (a temporary file renamed into place).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlite_utils import Database

from analysis.periodic import PeriodicReport, periodic_report, render_html
from survey.storage import store

__all__ = ["build_report", "render_html", "resolve_campaigns", "write_atomic", "PeriodicReport"]


def resolve_campaigns(db: Database, slugs: Sequence[str] | None = None) -> list[dict]:
    """The campaigns of a report: ``slugs``, or those sharing the newest campaign's
    instrument version (see the module docstring). Raises ``LookupError`` for an
    unknown slug or an empty database, ``ValueError`` for mixed instrument versions."""
    if slugs:
        out = []
        for s in dict.fromkeys(slugs):
            c = store.get_campaign(db, s)
            if c is None:
                known = ", ".join(c["slug"] for c in store.list_campaigns(db)) or "none"
                raise LookupError(f"unknown campaign {s!r} (campaigns: {known})")
            out.append(c)
        versions = {(c["instrument_id"], c["instrument_version"]) for c in out}
        if len(versions) > 1:
            raise ValueError(
                "campaigns " + ", ".join(c["slug"] for c in out) + " use "
                "different instrument versions ("
                + ", ".join(sorted(f"{i}@{v}" for i, v in versions))
                + "); report on "
                "campaigns of one instrument version"
            )
        return out
    every = store.list_campaigns(db)  # newest first
    if not every:
        raise LookupError("the database has no campaigns")
    newest = every[0]
    key = (newest["instrument_id"], newest["instrument_version"])
    return [c for c in reversed(every) if (c["instrument_id"], c["instrument_version"]) == key]


def build_report(
    db: Database,
    slugs: Sequence[str] | None = None,
    *,
    period: str | None = None,
    segment: str | None = None,
    language: str | None = None,
    keep_careless: bool = False,
    min_segment_n: int | None = None,
) -> PeriodicReport:
    """The periodic report of campaigns ``slugs`` (default: see :func:`resolve_campaigns`).

    ``period`` is the focus period (default: the latest), ``segment`` a param the
    campaigns declare (or ``language``; default: ``brand`` when a campaign declares
    brands), ``language`` keeps only the responses given in that language. Raises
    ``LookupError``/``ValueError``/:class:`~analysis.AnalysisError` with a message for
    the researcher.

    Brand ratings are nested in respondents (one response row per brand a person
    rates, sharing ``respondent``): the report gets ``respondent_column="respondent"``
    (CR1 cluster-robust brand comparisons, cluster bootstrap) and
    ``position_column="brand_position"`` (tests that need independent rows use each
    person's first rating in their random brand order).
    """
    cs = resolve_campaigns(db, slugs)
    names = [c["slug"] for c in cs]
    if segment is None and any(c.get("brands") for c in cs):
        segment = "brand"
    if segment is not None:
        declared = list(dict.fromkeys(p for c in cs for p in c["params"]))
        if segment not in declared and segment != "language":
            raise ValueError(
                f"segment {segment!r} is not a param declared by campaign(s) "
                f"{', '.join(names)} (declared: {', '.join(declared) or 'none'}; "
                "'language' also works)"
            )
    if min_segment_n is None:
        min_segment_n = max(int(c["min_segment_n"] or 30) for c in cs)
    frame, inst = store.load_campaign_frame(db, names, complete_only=False)
    if language is not None:
        if language not in inst.languages:
            raise ValueError(
                f"language {language!r}: the instrument offers {', '.join(inst.languages)}"
            )
        frame = frame.loc[(frame["language"] == language).to_numpy()].reset_index(drop=True)
    return periodic_report(
        frame,
        inst,
        period=period,
        segment=segment,
        keep_careless=keep_careless,
        min_segment_n=min_segment_n,
        campaigns=names,
        respondent_column="respondent",
        position_column="brand_position",
    )


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename,
    so a reader (or a crash) never sees a half-written file."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: the folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
