"""Live figures of a campaign for the researcher pages, ``campaign list`` and the API:
counts, careless exclusions and the headline Trust Index.

The headline is :func:`analysis.headline.headline`: the latest period, careless
respondents excluded (screened within each period, as the periodic report does), with
its period and n; suppressed when fewer than the campaign's ``min_segment_n``
respondents have a score. ``careless`` counts every complete response excluded, over
all periods: what the exports' ``excluded_careless`` column adds up to.

Results are cached per process, keyed by the database, the campaign and the number
and last id of its responses, so a page reload without new responses does not
recompute them, and a new response always does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from sqlite_utils import Database

from analysis.headline import careless_exclusions, headline
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
    ``screened_out``, ``careless`` (excluded, ``None`` when screening was not possible),
    ``analysed``,
    ``trust_index`` (``{"n", "mean", "ci95"}``, ``{"suppressed": True}``, or ``None``)
    and ``note`` (why a figure is missing, or ``None``).
    """
    return cached(("stats", *store.data_version(db, campaign)), lambda: _compute(db, campaign))


def _compute(db: Database, campaign: dict) -> dict:
    out: dict[str, Any] = dict(store.campaign_counts(db, campaign["slug"]))
    out.update(careless=None, analysed=None, trust_index=None, period=None, note=None)
    if out["completed"] == 0:
        out["note"] = "no complete responses yet"
        return out
    frame, inst = store.load_campaign_frame(db, campaign["slug"])
    k = int(campaign["min_segment_n"] or 30)
    out["careless"] = int(careless_exclusions(frame, inst).sum())
    h = headline(frame, inst, min_n=k)
    out["period"] = h.period
    out["analysed"] = None if h.period is None else h.completed - h.excluded_careless
    if h.suppressed:
        out["trust_index"] = {"suppressed": True, "period": h.period}
        out["note"] = f"Trust Index suppressed: fewer than {k} respondents in {h.period}"
    elif h.mean is None:
        out["note"] = h.note
    else:
        out["trust_index"] = {"period": h.period, "n": h.n, "mean": h.mean, "ci95": list(h.ci95)}
    return out
