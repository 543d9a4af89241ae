"""A deterministic database of varied responses for the export golden files.

``build(path)`` makes the same database every time: one campaign with brands (so
``brand`` is a param), params with formula-looking values (``=``, ``@``) and missing
ones, three periods, "not applicable" answers, items not shown, open texts (unicode,
formula-looking), responses the careless screening excludes, durations stored as
integers and as floats, fixed respondent keys. ``tests/export/test_export_golden.py``
exports it and compares with the committed files under ``tests/export/golden/``
(written by ``python tests/export/golden_export_support.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from survey.demo import fill_demo
from survey.storage import item_states, store
from survey.storage.db import init_db, open_db

SLUG = "gold"
N = 420  # complete responses: several chunks of CHUNK
CHUNK = 97
PERIODS = ["2026-Q2", "2026-Q3", "2026-Q4"]
GOLDEN = Path(__file__).parent / "golden"
FORMATS = ("csv", "json", "parquet")
TEXTS = ("=SUM(A1)", "Отлично, «ok»", 'said "fine", then\nleft', "@mention ✓")


def build(path: str | Path) -> None:
    with open_db(path) as db:
        init_db(db)
        store.create_campaign(
            db,
            slug=SLUG,
            instrument="customer-trust",
            period=PERIODS[-1],
            params=("segment", "channel"),
            brands=["acme: en=Acme | ru=Акме", "beta: en=Beta"],
        )
        fill_demo(db, SLUG, N, seed=7, periods=PERIODS)
        inst = store.campaign_instrument(db, store.get_campaign(db, SLUG))
        ids = [
            r[0]
            for r in db.execute(
                "SELECT id FROM responses WHERE status = 'complete' ORDER BY id"
            ).fetchall()
        ]
        follow = [i for i in inst.item_ids if inst.conditions_for(i)]
        texts = list(inst.text_item_ids)
        with db.conn:
            # fixed respondent keys (the store draws random ones); some NULL
            db.execute("UPDATE responses SET respondent = printf('p%05d', id)")
            for k, rid in enumerate(ids):
                brand = ("acme", "beta", None)[k % 3]
                seg = ("=1+1", "@home", "retail", None, "смарт")[k % 5]
                params = {"brand": brand, "segment": seg, "channel": ("web", "-x", None)[k % 3]}
                params = {p: v for p, v in params.items() if v is not None}
                db.execute(
                    "UPDATE responses SET params = ?, brand_position = ?, respondent = ?, "
                    "duration_s = ? WHERE id = ?",
                    [
                        json.dumps(params, ensure_ascii=False, sort_keys=True),
                        (k % 4) or None,
                        None if k % 7 == 0 else f"p{rid:05d}",
                        # integers and floats in one REAL column, and a NULL
                        None if k % 11 == 0 else (float(100 + k) if k % 2 else 100.25 + k),
                        rid,
                    ],
                )
                if k % 5 == 1 and follow:
                    item_states.set_not_shown(db, rid, follow[: 1 + k % 2])
                if k % 4 == 2 and texts:
                    text = TEXTS[(k // 4) % 4]
                    item_states.save_texts(db, rid, {texts[0]: text})
            # straight-liners, so the careless screening excludes some
            items = [f'"{i}"' for i in inst.dimension_item_ids]
            table = store.answers_table(db, inst)
            for rid in ids[5:400:37]:
                db.execute(
                    f'UPDATE "{table}" SET '
                    + ", ".join(f"{c} = 3" for c in items)
                    + " WHERE response_id = ?",
                    [rid],
                )
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def export_all(db_path: str | Path, out_dir: Path) -> dict[str, Path]:
    from survey.export import export_campaign

    return {
        f: export_campaign(db_path, SLUG, f, out_dir / f"gold.{f}", chunk_rows=CHUNK).path
        for f in FORMATS
    }


if __name__ == "__main__":  # (re)write the golden files with the current code
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "gold.db"
        build(db_path)
        GOLDEN.mkdir(exist_ok=True)
        for fmt, p in export_all(db_path, Path(tmp)).items():
            shutil.copyfile(p, GOLDEN / f"gold.{fmt}")
            print(fmt, (GOLDEN / f"gold.{fmt}").stat().st_size, file=sys.stderr)
