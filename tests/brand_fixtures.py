"""Brand campaigns for the data-side tests (exports, frame, report, API): people who
each rate several brands, one complete response row per rating, sharing an anonymous
``respondent`` key, with ``brand_position`` the place in the person's random order.

Answers are correlated within a person: latent = brand effect + person effect + noise,
so clustering matters for the standard errors. Rows go in through
:func:`survey.storage.store.insert_responses` (no web flow needed); the campaign is
created with ``brand`` as a declared param and its brands set in ``campaigns.brands``.
"""

from __future__ import annotations

import json

import numpy as np

from instruments.model import Instrument
from survey.storage import store
from survey.storage.db import write_transaction

BRANDS = [
    {"slug": "acme", "names": {"en": "Acme", "ru": "Акме", "fa": "آکمه"}},
    {"slug": "zeta", "names": {"en": "Zeta Bank", "ru": "Зета Банк", "fa": "بانک زتا"}},
    {"slug": "nova", "names": {"en": "Nova", "ru": "Нова", "fa": "نوا"}},
]
BRAND_EFFECTS = {"acme": 0.5, "zeta": -0.4, "nova": 0.0}


def brand_campaign(
    db,
    inst: Instrument,
    slug: str = "brands",
    *,
    people: int = 40,
    per_person: int | tuple[int, ...] = 2,
    seed: int = 0,
    person_sd: float = 0.8,
    period: str = "2026-Q4",
    param_brand_people: int = 0,
) -> dict:
    """Create a brand campaign and ``people`` persons who each rate ``per_person``
    brands (an int, or a tuple cycled over persons, e.g. ``(2, 3)``) drawn in random
    order; the last ``param_brand_people`` persons instead come with one brand from the
    link (``brand_position`` NULL). Returns ``{"ids", "respondent", "brand",
    "position", "campaign"}``: per inserted row, in insertion (= id) order."""
    store.create_campaign(db, slug=slug, instrument=inst, period=period, params=["brand"])
    k = per_person if isinstance(per_person, int) else max(per_person)
    with write_transaction(db):
        db.execute(
            "UPDATE campaigns SET brands = ?, brands_per_respondent = ? WHERE slug = ?",
            [json.dumps(BRANDS, ensure_ascii=False), k, slug],
        )
    c = store.get_campaign(db, slug)
    rng = np.random.default_rng(seed)
    slugs = [b["slug"] for b in BRANDS]
    counts = (per_person,) if isinstance(per_person, int) else tuple(per_person)
    items = list(inst.item_ids)
    dim_items = set(inst.dimension_item_ids)
    reverse = {i.id for i in inst.iter_items() if i.reverse}
    attention = {a.id: a.expected for a in inst.attention_checks}
    checklist = set(inst.checklist.item_ids) if inst.checklist is not None else set()
    rows, answers, keys, places, brands = [], [], [], [], []
    for person in range(people):
        key = rng.bytes(8).hex()
        u = rng.normal(0, person_sd)
        if person >= people - param_brand_people:
            chosen, pos = [str(rng.choice(slugs))], [None]
        else:
            chosen = [str(b) for b in rng.permutation(slugs)[: counts[person % len(counts)]]]
            pos = list(range(1, len(chosen) + 1))
        for brand, place in zip(chosen, pos, strict=True):
            latent = BRAND_EFFECTS[brand] + u + rng.normal(0, 0.5)
            a: list[int | None] = []
            for iid in items:
                if iid in attention:
                    a.append(attention[iid])
                elif iid in checklist:
                    a.append(int(rng.random() < 0.1))
                else:
                    lo, hi = inst.scale_for(iid).min, inst.scale_for(iid).max
                    z = latent + rng.normal(0, 0.7)
                    if iid in reverse:
                        z = -z
                    mid = (lo + hi) / 2
                    step = (hi - lo) / 4 if iid not in dim_items else 1.0
                    a.append(int(np.clip(round(mid + z * step), lo, hi)))
            answers.append(a)
            rows.append(
                (
                    c["id"],
                    period,
                    "complete",
                    "en",
                    "ltr",
                    "2026-11-01T10:00:00.000+00:00",
                    "2026-11-01T10:05:00.000+00:00",
                    300.0,
                    9,
                    json.dumps({"brand": brand}),
                    "[]",
                    "[]",
                    1,
                    1.0,
                    1 if attention else None,
                    "[]",
                )
            )
            keys.append(key)
            places.append(place)
            brands.append(brand)
    ids = store.insert_responses(db, inst, rows, answers, respondents=keys, brand_positions=places)
    return {
        "ids": ids,
        "respondent": keys,
        "brand": brands,
        "position": places,
        "campaign": c,
    }
