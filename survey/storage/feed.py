"""The completion order of responses, for the API's incremental pulls (``since``).

Every response gets a completion number ``seq`` when it becomes complete (table
``response_completions``, kept by triggers; see :mod:`survey.storage.api_schema`).
Numbers follow commit order, so a pull that returns the responses numbered above a
cursor, in number order, and then continues from the last number it returned sees
every completed response exactly once, even while new ones arrive.
"""

from __future__ import annotations

from sqlite_utils import Database


def completions_since(
    db: Database, campaign_id: int, since: int, limit: int
) -> list[tuple[int, int]]:
    """``[(seq, response_id)]`` of the campaign's completions after ``since``, in order,
    at most ``limit``."""
    return [
        (r[0], r[1])
        for r in db.execute(
            "SELECT seq, response_id FROM response_completions WHERE campaign_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            [campaign_id, int(since), int(limit)],
        ).fetchall()
    ]


def completions_before(db: Database, campaign_id: int, seq: int) -> int:
    """How many of the campaign's responses were completed up to and including ``seq``."""
    return db.execute(
        "SELECT COUNT(*) FROM response_completions WHERE campaign_id = ? AND seq <= ?",
        [campaign_id, int(seq)],
    ).fetchone()[0]


def last_seq(db: Database) -> int:
    """The highest completion number so far (0 when none)."""
    return db.execute("SELECT coalesce(max(seq), 0) FROM response_completions").fetchone()[0]
