"""Quality indicators of one response, recorded when it completes.

The respondent flow passes :func:`response_quality` to
:func:`survey.storage.store.complete_response`, which calls it with the answers read
in the completing transaction; the indicators themselves are
:func:`analysis.careless.quality_flags`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from analysis.careless import quality_flags
from instruments.model import Instrument
from survey.storage.store import scale_item_ids


def _flatten(order: Any) -> list[str]:
    if isinstance(order, str):
        return [order]
    if isinstance(order, list | tuple):
        return [i for part in order for i in _flatten(part)]
    return []


def scale_order(inst: Instrument, item_order: Any) -> list[str]:
    """The main-scale items in the order shown (from ``item_order``, a possibly nested
    list of item ids); items it does not list follow in instrument order."""
    scale_ids = scale_item_ids(inst)
    wanted = set(scale_ids)
    shown = [i for i in dict.fromkeys(_flatten(item_order)) if i in wanted]
    seen = set(shown)
    return shown + [i for i in scale_ids if i not in seen]


def response_quality(
    inst: Instrument, answers: Mapping[str, int], item_order: Any, duration_s: float
) -> dict[str, Any]:
    """``longstring``, ``irv``, ``attention_passed`` and ``flags`` of one response."""
    order = scale_order(inst, item_order)
    x = np.array([[answers.get(i, np.nan) for i in order]], dtype=float)
    att = np.array([[answers.get(a.id, np.nan) for a in inst.attention_checks]], dtype=float)
    q = quality_flags(
        x,
        att,
        [a.expected for a in inst.attention_checks],
        np.array([duration_s]),
        np.array([len(answers)]),
    )
    return {
        "longstring": int(q["longstring"][0]),
        "irv": float(q["irv"][0]),
        "attention_passed": float(q["attention_passed"][0]),
        "flags": q["flags"][0],
    }
