"""Live figures of a campaign for the researcher pages: counts, careless exclusions and
the Trust Index.

Careless respondents are screened over the campaign's complete responses with
:func:`analysis.careless.careless` and excluded when at least 2 indicators flag them,
the rule of ``trustmeter analyze``. The Trust Index (mean and 95% CI,
:func:`analysis.scores.score`) is computed over the remaining responses and is
suppressed when fewer than the campaign's ``min_segment_n`` respondents have one.

Results are cached per process, keyed by the database, the campaign and the number
and last id of its responses, so a page reload without new responses does not
recompute them, and a new response always does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from sqlite_utils import Database

from analysis._result import AnalysisError
from analysis.careless import careless
from analysis.scores import score
from survey.storage import store

CACHE_SIZE = 64
_cache: OrderedDict[Hashable, Any] = OrderedDict()
_lock = threading.Lock()


def cached(key: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``key`` (a small LRU shared by the process's threads)."""
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = compute()
    with _lock:
        _cache[key] = value
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def campaign_stats(db: Database, campaign: dict) -> dict:
    """Counts and Trust Index of a campaign (see the module docstring).

    Keys: ``started``, ``completed``, ``in_progress``, ``completion_rate``,
    ``careless`` (excluded, ``None`` when screening was not possible), ``analysed``,
    ``trust_index`` (``{"n", "mean", "ci95"}``, ``{"suppressed": True}``, or ``None``)
    and ``note`` (why a figure is missing, or ``None``).
    """
    return cached(("stats", *store.data_version(db, campaign)), lambda: _compute(db, campaign))


def _compute(db: Database, campaign: dict) -> dict:
    out: dict[str, Any] = dict(store.campaign_counts(db, campaign["slug"]))
    out.update(careless=None, analysed=None, trust_index=None, note=None)
    if out["completed"] == 0:
        out["note"] = "no complete responses yet"
        return out
    frame, inst = store.load_campaign_frame(db, campaign["slug"])
    try:
        excluded = careless(frame, inst).excluded.to_numpy(dtype=bool)
        out["careless"] = int(excluded.sum())
    except (AnalysisError, ValueError, np.linalg.LinAlgError) as e:
        excluded = np.zeros(len(frame), dtype=bool)
        out["note"] = f"careless screening not possible ({e})"
    kept = frame.loc[~excluded]
    out["analysed"] = int(len(kept))
    k = int(campaign["min_segment_n"] or 30)
    try:
        ti = score(kept, inst).trust_index
    except (AnalysisError, ValueError) as e:
        out["note"] = out["note"] or str(e)
        return out
    if ti.suppressed or ti.n is None or ti.n < k:
        out["trust_index"] = {"suppressed": True}
        out["note"] = out["note"] or f"Trust Index suppressed: fewer than {k} respondents"
    else:
        out["trust_index"] = {"n": ti.n, "mean": ti.mean, "ci95": list(ti.ci95)}
    return out
