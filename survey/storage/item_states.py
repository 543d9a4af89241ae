"""Open-text answers and "not shown" items of responses (issue 11; migration
``0007_brands_text_responses``).

* ``text_answers``: one row per answered open-text item (``type: text``) of a
  response: the cleaned text. Open texts are never in the numeric answers table, so
  no score, index or psychometric path can read them.
* ``item_states``: one row per item a response did *not see* because its ``show_if``
  was false (``state = 'not_shown'``). In the numeric answers table such an item is
  ``NULL`` like an unanswered one; this table tells them apart ("not applicable"
  stays in ``responses.na_items``).

Both are keyed by ``response_id``, so erasing a response (:mod:`survey.storage.erasure`)
deletes their rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from sqlite_utils import Database

from survey.storage.db import write_transaction

NOT_SHOWN = "not_shown"

SCHEMA = [
    """
    CREATE TABLE text_answers (
        response_id INTEGER NOT NULL REFERENCES responses (id),
        item_id TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (response_id, item_id)
    )
    """,
    """
    CREATE TABLE item_states (
        response_id INTEGER NOT NULL REFERENCES responses (id),
        item_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('not_shown')),
        PRIMARY KEY (response_id, item_id)
    )
    """,
]


def apply_schema(db: Database) -> None:
    for sql in SCHEMA:
        db.execute(sql)


def save_texts(db: Database, response_id: int, texts: Mapping[str, str | None]) -> None:
    """Store open-text answers (already cleaned and length-checked by the caller);
    ``None`` or ``""`` deletes the item's answer."""
    if not texts:
        return
    with write_transaction(db):
        for item_id, value in texts.items():
            if value:
                db.execute(
                    "INSERT INTO text_answers (response_id, item_id, value) "
                    "VALUES (?, ?, ?) ON CONFLICT (response_id, item_id) "
                    "DO UPDATE SET value = excluded.value",
                    [response_id, item_id, value],
                )
            else:
                db.execute(
                    "DELETE FROM text_answers WHERE response_id = ? AND item_id = ?",
                    [response_id, item_id],
                )


def texts_of(db: Database, response_id: int) -> dict[str, str]:
    return dict(
        db.execute(
            "SELECT item_id, value FROM text_answers WHERE response_id = ? ORDER BY item_id",
            [response_id],
        ).fetchall()
    )


def set_not_shown(db: Database, response_id: int, item_ids: Iterable[str]) -> None:
    """Replace the response's set of items not shown."""
    with write_transaction(db):
        db.execute(
            "DELETE FROM item_states WHERE response_id = ? AND state = ?", [response_id, NOT_SHOWN]
        )
        if ids := list(dict.fromkeys(item_ids)):  # one statement for all of them
            db.execute(
                "INSERT INTO item_states (response_id, item_id, state) "
                "SELECT ?, value, ? FROM json_each(?)",
                [response_id, NOT_SHOWN, json.dumps(ids)],
            )


def not_shown_of(db: Database, response_id: int) -> list[str]:
    return [
        r[0]
        for r in db.execute(
            "SELECT item_id FROM item_states WHERE response_id = ? AND state = ? ORDER BY item_id",
            [response_id, NOT_SHOWN],
        ).fetchall()
    ]


def not_shown_by_response(db: Database, response_ids: Iterable[int]) -> dict[int, set[str]]:
    """``{response_id: {item ids not shown}}`` for many responses (exports)."""
    ids = [int(i) for i in response_ids]
    out: dict[int, set[str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = db.execute(
            f"SELECT response_id, item_id FROM item_states WHERE state = ? AND response_id IN "
            f"({', '.join('?' * len(chunk))})",
            [NOT_SHOWN, *chunk],
        ).fetchall()
        for rid, item_id in rows:
            out.setdefault(rid, set()).add(item_id)
    return out


def texts_by_response(db: Database, response_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """``{response_id: {item_id: text}}`` for many responses (exports)."""
    ids = [int(i) for i in response_ids]
    out: dict[int, dict[str, str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = db.execute(
            f"SELECT response_id, item_id, value FROM text_answers WHERE response_id IN "
            f"({', '.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
        for rid, item_id, value in rows:
            out.setdefault(rid, {})[item_id] = value
    return out
