"""The SQL of a respondent's brands (issue 11, item 1): what they ticked on the brand
page, the up-to-K brands drawn from it in random order, and their brand ratings.

One person's ratings are ``responses`` rows sharing the anonymous ``respondent`` key;
``brand_position`` is a rating's 1-based place in the order drawn (``brand_choices.rated``).
The brand of a rating is ``responses.params["brand"]``. Nothing here knows a token,
an e-mail address or an invitation's link.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlite_utils import Database

from survey.storage.db import write_transaction


class ChoiceConflict(ValueError):
    """The person's brands were already chosen (a second tab, a re-POST)."""


def get_choices(db: Database, respondent: str) -> dict | None:
    """``{"respondent", "campaign_id", "ticked", "rated", "created_at"}`` or ``None``."""
    row = db.execute(
        "SELECT respondent, campaign_id, ticked, rated, created_at FROM brand_choices "
        "WHERE respondent = ?",
        [respondent],
    ).fetchone()
    if row is None:
        return None
    keys = ("respondent", "campaign_id", "ticked", "rated", "created_at")
    out = dict(zip(keys, row, strict=True))
    out["ticked"], out["rated"] = json.loads(out["ticked"]), json.loads(out["rated"])
    return out


def record_choices(db: Database, response_id: int, ticked: list[str], rated: list[str]) -> dict:
    """Store what the person of response ``response_id`` ticked and the brands drawn
    (``rated``, in the random order they rate them), and make that response their
    first rating: ``params["brand"] = rated[0]``, ``brand_position = 1``. One
    transaction; raises :class:`ChoiceConflict` when the person already chose (nothing
    is changed then) and ``ValueError`` for a response that already has a brand."""
    if not rated or any(b not in ticked for b in rated) or len(set(rated)) != len(rated):
        raise ValueError("the brands rated must be distinct brands that were ticked")
    with write_transaction(db):
        row = db.execute(
            "SELECT respondent, campaign_id, params, status, brand_position FROM responses "
            "WHERE id = ?",
            [response_id],
        ).fetchone()
        if row is None:
            raise LookupError(f"no response {response_id}")
        respondent, campaign_id, params, status, position = row
        if get_choices(db, respondent) is not None:
            raise ChoiceConflict("the brands of this respondent were already chosen")
        params = json.loads(params) if params else {}
        if status != "started" or position is not None or params.get("brand"):
            raise ValueError(f"response {response_id} already has a brand")
        db.execute(
            "INSERT INTO brand_choices (respondent, campaign_id, ticked, rated, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                respondent,
                campaign_id,
                json.dumps(ticked),
                json.dumps(rated),
                datetime.now(UTC).isoformat(timespec="milliseconds"),
            ],
        )
        params["brand"] = rated[0]
        db.execute(
            "UPDATE responses SET params = ?, brand_position = 1 WHERE id = ?",
            [json.dumps(params, ensure_ascii=False, sort_keys=True), response_id],
        )
    return get_choices(db, respondent)


def ratings(db: Database, respondent: str) -> list[dict]:
    """A person's responses (``id``, ``status``, ``brand_position``, ``brand``), in
    rating order (position, then id)."""
    rows = db.execute(
        "SELECT id, status, brand_position, json_extract(params, '$.brand') FROM responses "
        "WHERE respondent = ? ORDER BY coalesce(brand_position, 0), id",
        [respondent],
    ).fetchall()
    keys = ("id", "status", "brand_position", "brand")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def forget_if_unused(db: Database, respondent: str | None) -> bool:
    """Delete a person's ``brand_choices`` row when none of their responses is left
    (erasure). Returns whether a row was deleted."""
    if not respondent:
        return False
    with write_transaction(db):
        left = db.execute(
            "SELECT 1 FROM responses WHERE respondent = ? LIMIT 1", [respondent]
        ).fetchone()
        if left is not None:
            return False
        cur = db.execute("DELETE FROM brand_choices WHERE respondent = ?", [respondent])
        return cur.rowcount > 0
