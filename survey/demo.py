"""Synthetic respondents for demos, tutorials and load tests.

:func:`simulate` draws answers to any instrument from a known model, and
:func:`fill_demo` stores them through the normal table layout (``responses`` plus
the instrument's wide answer table) with one ``executemany`` per table inside one
transaction, so thousands of respondents take well under a second.

The model
---------
- Trust dimensions are correlated factors (correlations about .6) with loadings
  drawn from .60-.80; items are cut into the response scale by thresholds that
  lean towards agreement, as real satisfaction and trust data do. Reverse-keyed
  items are reversed.
- Segments shift all trust factors: ``new`` -0.35 SD, ``returning`` 0,
  ``loyal`` +0.45. Periods shift them by 0, +0.05, +0.15, -0.10 SD.
- Outcomes follow the mean trust factor (loadings .65-.85; perceived-risk blocks,
  whose id starts with ``RISK``, negatively); covariates such as propensity to
  trust correlate about .35 with it. Single items (NPS) follow trust; trust-breach
  checklist answers are more often "yes" when trust is low.
- The second item of the first dimension is 0.4 lower in Persian (``fa``), a
  deliberate non-invariance to find in the analysis.
- About 4.5% answer carelessly: straight-lining (1.5%), random answers (1%),
  speeding (1%) and failing the attention check only (1%). About 1.5% of scale
  answers are skipped and 1% marked not applicable (where the scale allows).
- About 10% of sessions are abandoned part-way (status ``started``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from scipy import stats
from sqlite_utils import Database

from analysis.careless import quality_flags
from instruments.model import Instrument, Scale
from survey.quality import scale_order
from survey.storage import store
from survey.web.i18n import direction

SEGMENTS = {"new": (0.30, -0.35), "returning": (0.45, 0.0), "loyal": (0.25, 0.45)}
CHANNELS = {"web": 0.5, "store": 0.3, "phone": 0.2}
LANGUAGE_SHARES = {"en": 0.5, "ru": 0.3, "fa": 0.2}
PERIOD_SHIFTS = (0.0, 0.05, 0.15, -0.10)
DEMO_PARAMS = ("segment", "channel")
ABANDON_RATE = 0.10
SKIP_RATE = 0.015  # answers left blank, per main-scale item
NA_RATE = 0.01  # "not applicable", per block item when the scale offers it


#: The brands of the empty ``brands-demo`` campaign that ``trustmeter run`` creates, for
#: trying the brand page (issue 11): declared as on the command line.
DEMO_BRANDS = (
    "acme: en=Acme | ru=Акме | fa=آکمه",
    "globex: en=Globex | ru=Глобекс | fa=گلوبکس",
    "initech: en=Initech | ru=Инитек | fa=اینیتک",
)
DEMO_BRANDS_SLUG = "brands-demo"


def current_quarter(now: datetime | None = None) -> str:
    """The quarter label of ``now`` (default: today, UTC), e.g. ``2026-Q4``."""
    t = now or datetime.now(UTC)
    return f"{t.year}-Q{(t.month - 1) // 3 + 1}"


def last_quarters(k: int = 4, now: datetime | None = None) -> list[str]:
    """The ``k`` quarters ending with the current one, oldest first."""
    t = now or datetime.now(UTC)
    q = t.year * 4 + (t.month - 1) // 3
    return [f"{(q - j) // 4}-Q{(q - j) % 4 + 1}" for j in range(k - 1, -1, -1)]


def _quarter_bounds(label: str, now: datetime) -> tuple[datetime, datetime]:
    try:
        year, q = label.split("-Q")
        start = datetime(int(year), 3 * (int(q) - 1) + 1, 1, tzinfo=UTC)
    except ValueError:  # not a quarter label: the last 90 days
        return now - timedelta(days=90), now
    end = datetime(start.year + (start.month == 10), (start.month + 2) % 12 + 1, 1, tzinfo=UTC)
    return start, min(end, now)


def _to_scale(z: np.ndarray, lo: int, hi: int, a: float = 3.0, b: float = 1.8) -> np.ndarray:
    """Cut a standard-normal variable into codes ``lo..hi`` leaning towards agreement.

    The codes are a discretised Beta(a, b), monotone in ``z``: code ``lo + k`` when
    ``Beta^-1(Phi(z))`` falls in ``[k/K, (k+1)/K)``, i.e. when ``z`` lies between
    the thresholds ``Phi^-1(BetaCDF(k/K))``, computed once per scale.
    """
    k = hi - lo + 1
    cuts = stats.norm.ppf(stats.beta.cdf(np.arange(1, k) / k, a, b))
    return lo + np.searchsorted(cuts, z, side="right").astype(float)


def _choice(
    rng: np.random.Generator, shares: dict[str, float], n: int, allowed: Sequence[str] | None = None
) -> np.ndarray:
    names = [k for k in shares if allowed is None or k in allowed]
    if not names:
        names = list(allowed)
        p = np.full(len(names), 1 / len(names))
    else:
        p = np.array([shares[k] for k in names])
        p = p / p.sum()
    return rng.choice(np.array(names, dtype=object), size=n, p=p)


def simulate(
    inst: Instrument,
    n: int,
    *,
    seed: int | None = None,
    languages: Sequence[str] | None = None,
    periods: Sequence[str] = ("P1", "P2", "P3", "P4"),
) -> dict[str, Any]:
    """Draw ``n`` synthetic respondents to ``inst`` (see the module docstring).

    Returns a dict of arrays, one row per respondent: ``values`` (n x items, float,
    NaN = no answer, columns in ``inst.item_ids`` order), ``na`` (bool, answered
    "not applicable"), ``segment``, ``channel``, ``language``, ``period``,
    ``duration_s`` and ``careless`` (the simulated behaviour: ``""``,
    ``straightline``, ``random``, ``speeder`` or ``attention``).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    items = list(inst.item_ids)
    col = {iid: k for k, iid in enumerate(items)}
    x = np.full((n, len(items)), np.nan)

    langs = list(languages) if languages else list(inst.languages)
    segment = _choice(rng, {k: v[0] for k, v in SEGMENTS.items()}, n)
    channel = _choice(rng, CHANNELS, n)
    language = _choice(rng, LANGUAGE_SHARES, n, langs)
    period_idx = rng.integers(0, len(periods), size=n)
    period = np.array(list(periods), dtype=object)[period_idx]
    shift = (
        np.array([SEGMENTS[s][1] for s in segment])
        + np.array(PERIOD_SHIFTS * (len(periods) // 4 + 1))[period_idx]
    )

    # correlated trust factors
    d = len(inst.dimensions)
    phi = np.full((d, d), 0.6)
    if d > 1:
        jitter = rng.uniform(-0.08, 0.08, size=(d, d))
        phi = phi + (jitter + jitter.T) / 2
    np.fill_diagonal(phi, 1.0)
    eta = rng.standard_normal((n, d)) @ np.linalg.cholesky(phi).T + shift[:, None]
    trust = eta.mean(axis=1)
    sd = trust.std()
    # one simulated respondent (demo --n 1) has no spread to standardize by
    trust_z = (trust - trust.mean()) / sd if sd > 0 else np.zeros_like(trust)

    def fill_block(block, factor, lam_range, skew=(3.0, 1.8)):
        for j, item in enumerate(block.items):
            lam = rng.uniform(*lam_range)
            z = lam * factor + np.sqrt(1 - lam**2) * rng.standard_normal(n) + 0.35
            if block is inst.dimensions[0] and j == 1:
                z = z - np.where(language == "fa", 0.4, 0.0)
            v = _to_scale(z, inst.scale.min, inst.scale.max, *skew)
            x[:, col[item.id]] = inst.scale.reverse(v) if item.reverse else v

    for k, block in enumerate(inst.dimensions):
        fill_block(block, eta[:, k], (0.6, 0.8))
    for block in inst.outcomes:
        risk = block.id.upper().startswith("RISK")
        f = (-1.0 if risk else 1.0) * 0.85 * trust_z + np.sqrt(1 - 0.85**2) * rng.standard_normal(n)
        fill_block(block, f, (0.65, 0.85), (1.8, 3.0) if risk else (3.0, 1.8))
    for block in inst.covariates:
        f = 0.35 * trust_z + np.sqrt(1 - 0.35**2) * rng.standard_normal(n)
        fill_block(block, f, (0.6, 0.75))
    for item in inst.single_items:
        z = 0.8 * trust_z + 0.6 * rng.standard_normal(n) + 0.3
        sc: Scale = item.scale or inst.scale
        x[:, col[item.id]] = _to_scale(z, sc.min, sc.max, a=3.5, b=1.6)
    for item in inst.attention_checks:
        x[:, col[item.id]] = item.expected
    if inst.checklist is not None:
        for j, item in enumerate(inst.checklist.items):
            logit = -2.2 + 0.25 * (j % 3) - 0.9 * trust_z
            x[:, col[item.id]] = rng.random(n) < 1 / (1 + np.exp(-logit))

    n_items = len(items)
    duration = rng.lognormal(np.log(6.5 * n_items), 0.35, size=n)

    # careless respondents
    u = rng.random(n)
    careless = np.full(n, "", dtype=object)
    careless[u < 0.015] = "straightline"
    careless[(u >= 0.015) & (u < 0.025)] = "random"
    careless[(u >= 0.025) & (u < 0.035)] = "speeder"
    careless[(u >= 0.035) & (u < 0.045)] = "attention"
    scale_cols = [col[i] for i in store.scale_item_ids(inst)]
    att_cols = [col[a.id] for a in inst.attention_checks]
    lo, hi = inst.scale.min, inst.scale.max
    for r in np.flatnonzero(careless == "straightline"):
        x[r, scale_cols] = rng.integers(lo, hi + 1)
        for c, a in zip(att_cols, inst.attention_checks, strict=True):
            x[r, c] = a.expected if rng.random() < 0.3 else x[r, scale_cols[0]]
        duration[r] = rng.uniform(1.0, 2.5) * n_items
    rand = np.flatnonzero(careless == "random")
    for iid in items:
        sc = inst.scale_for(iid)
        a, b = (0, 1) if sc is None else (sc.min, sc.max)
        x[rand, col[iid]] = rng.integers(a, b + 1, size=len(rand))
    duration[rand] = rng.uniform(1.5, 4.0, size=len(rand)) * n_items
    speed = careless == "speeder"
    duration[speed] = rng.uniform(0.6, 1.8, size=speed.sum()) * n_items
    for r in np.flatnonzero(careless == "attention"):
        for c, a in zip(att_cols, inst.attention_checks, strict=True):
            x[r, c] = a.expected - 1 if a.expected > lo else a.expected + 1

    # skipped and not-applicable answers on the main-scale items
    skip = np.zeros_like(x, dtype=bool)
    skip[:, scale_cols] = rng.random((n, len(scale_cols))) < SKIP_RATE
    na = np.zeros_like(x, dtype=bool)
    if inst.scale.not_applicable:
        na_cols = [col[i.id] for b in inst.blocks for i in b.items]
        na[:, na_cols] = rng.random((n, len(na_cols))) < NA_RATE
        na &= ~skip
    keep = (careless == "") | (careless == "attention")
    skip &= keep[:, None]
    na &= keep[:, None]
    x[skip | na] = np.nan
    # show_if: a question the respondent would not have been shown stays empty
    conditional = {iid: c for iid in items if (c := inst.conditions_for(iid))}
    for r in range(n) if conditional else ():
        answers = dict(zip(items, x[r].tolist(), strict=True))
        for iid, conds in conditional.items():
            if not all(c.evaluate(answers) for c in conds):
                x[r, col[iid]] = np.nan
                na[r, col[iid]] = False
    return {
        "values": x,
        "na": na,
        "segment": segment,
        "channel": channel,
        "language": language,
        "period": period,
        "duration_s": np.round(duration, 1),
        "careless": careless,
    }


def _demo_campaign(db: Database, slug: str, instrument: Instrument | str) -> dict:
    campaign = store.get_campaign(db, slug)
    if campaign is None:
        campaign = store.create_campaign(
            db,
            slug=slug,
            instrument=instrument,
            period=current_quarter(),
            params=DEMO_PARAMS,
            title="Demo: customer trust (synthetic respondents)",
        )
    return campaign


def fill_demo(
    db: Database,
    slug: str = "demo",
    n: int = 3000,
    *,
    seed: int | None = None,
    instrument: Instrument | str = "customer-trust",
    periods: Sequence[str] | None = None,
) -> dict:
    """Add ``n`` synthetic complete respondents (plus ~10% abandoned sessions) to a
    campaign, creating it (with params ``segment`` and ``channel``) if needed.

    Respondents are spread over ``periods`` (default: the four quarters ending with
    the current one), stored per response in ``responses.period``; the campaign's
    own period is the latest. Returns a summary: ``campaign``, ``completed``,
    ``abandoned``, ``periods`` and ``seconds``.
    """
    t0 = time.perf_counter()
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    campaign = _demo_campaign(db, slug, instrument)
    inst = store.campaign_instrument(db, campaign)
    now = datetime.now(UTC)
    periods = list(periods) if periods else last_quarters(4, now)
    rng = np.random.default_rng(seed)
    n_abandon = int(round(ABANDON_RATE * n))
    total = n + n_abandon
    sim = simulate(
        inst,
        total,
        seed=None if seed is None else seed + 1,
        languages=campaign["languages"],
        periods=periods,
    )
    x, na = sim["values"], sim["na"]
    items = list(inst.item_ids)
    complete = np.arange(total) < n
    rng.shuffle(complete)

    # abandoned sessions keep only their first 1..(pages-1) pages (open-text items,
    # which have no numeric column, are left to the open-text table)
    pages = [
        tuple(i for i in inst.page_item_ids(p) if i not in inst.text_item_ids) for p in inst.pages
    ] or [tuple(items)]
    col = {iid: k for k, iid in enumerate(items)}
    current_page = np.full(total, len(pages))
    for r in np.flatnonzero(~complete):
        done = int(rng.integers(0, max(len(pages) - 1, 1)))
        current_page[r] = done
        later = [col[i] for p in pages[done:] for i in p]
        x[r, later] = np.nan
        na[r, later] = False

    order = [list(p) for p in pages]
    q = quality_flags(
        x[:, [col[i] for i in scale_order(inst, order)]],
        x[:, [col[a.id] for a in inst.attention_checks]],
        [a.expected for a in inst.attention_checks],
        sim["duration_s"],
        (~np.isnan(x)).sum(axis=1),
    )

    # timestamps, spread over each period (UTC, millisecond ISO strings as the store writes)
    start = np.empty(total, dtype="datetime64[ms]")
    for p in periods:
        lo, hi = _quarter_bounds(p, now)
        rows = np.flatnonzero(sim["period"] == p)
        span_ms = max((hi - lo).total_seconds() - 3600, 1.0) * 1000
        offsets = np.sort(rng.uniform(0, span_ms, size=len(rows))).astype(np.int64)
        start[rows] = np.datetime64(lo.replace(tzinfo=None), "ms") + offsets
    end = start + np.round(sim["duration_s"] * 1000).astype(np.int64)

    def iso(a: np.ndarray) -> list[str]:
        return [t + "+00:00" for t in np.datetime_as_string(a, unit="ms").tolist()]

    def nullable(a: np.ndarray, cast=float) -> list:
        return [
            None if not c or v != v else cast(v)
            for v, c in zip(a.tolist(), complete.tolist(), strict=True)
        ]

    cache: dict[Any, str] = {}

    def enc(key: Any, value: Any) -> str:
        if key not in cache:
            cache[key] = json.dumps(value, ensure_ascii=False, sort_keys=True)
        return cache[key]

    lang = sim["language"].tolist()
    dirs = {g: direction(g) for g in set(lang)}
    params = [
        enc(("p", s, c), {"segment": s, "channel": c})
        for s, c in zip(sim["segment"].tolist(), sim["channel"].tolist(), strict=True)
    ]
    flags = [
        enc(("f", *f), f) if c else "[]" for f, c in zip(q["flags"], complete.tolist(), strict=True)
    ]
    na_json = ["[]"] * total
    for r in np.flatnonzero(na.any(axis=1)):
        na_json[r] = json.dumps([items[j] for j in np.flatnonzero(na[r])])
    ends = iso(end)
    columns = (
        [campaign["id"]] * total,
        sim["period"].tolist(),
        ["complete" if c else "started" for c in complete.tolist()],
        lang,
        [dirs[g] for g in lang],
        iso(start),
        [e if c else None for e, c in zip(ends, complete.tolist(), strict=True)],
        nullable(sim["duration_s"]),
        current_page.tolist(),
        params,
        [json.dumps(order)] * total,
        na_json,
        nullable(q["longstring"], int),
        nullable(q["irv"]),
        nullable(q["attention_passed"], int),
        flags,
    )

    # answers: integer codes, None for no answer
    vals = np.where(np.isnan(x), 0, x).astype(np.int64).astype(object)
    vals[np.isnan(x)] = None
    answer_rows = vals.tolist()
    store.insert_responses(db, inst, zip(*columns, strict=True), answer_rows)
    return {
        "campaign": campaign["slug"],
        "completed": int(complete.sum()),
        "abandoned": int((~complete).sum()),
        "periods": periods,
        "seconds": round(time.perf_counter() - t0, 2),
    }
