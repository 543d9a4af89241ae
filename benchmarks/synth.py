"""Synthetic survey data from a correlated five-factor model (30 items, 1..7 scale).

Each of the five factors of ``bench-instrument.yaml`` has six items, two of them
reverse-keyed (negative loadings, so reverse-keying restores a positive loading).
Latent factors correlate at ``FACTOR_R``; item responses are the common part plus
unique noise, cut into seven categories at fixed thresholds. A small share of
respondents answer at random (careless), a small share of cells is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
INSTRUMENT_YAML = HERE / "bench-instrument.yaml"
DIMS = ("ABL", "BEN", "INT", "PRD", "TRN")
PER_DIM = 6
REVERSED = (3, 6)  # item numbers (1-based) that are reverse-keyed in every dimension
ITEMS = tuple(f"{d}{j}" for d in DIMS for j in range(1, PER_DIM + 1))
FACTOR_R = 0.4
CARELESS_SHARE = 0.02
MISSING_SHARE = 0.005
PERIODS = ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4")
SEGMENTS = ("retail", "business", "premium", "online")
CUTS = np.array([-1.8, -1.1, -0.4, 0.3, 1.0, 1.7])  # 7 categories


def loadings(seed: int = 1) -> np.ndarray:
    """(30, 5) loading matrix: 0.55..0.80 on the item's own factor, signed."""
    rng = np.random.default_rng(seed)
    lam = np.zeros((len(ITEMS), len(DIMS)))
    for d in range(len(DIMS)):
        for j in range(PER_DIM):
            sign = -1.0 if (j + 1) in REVERSED else 1.0
            lam[d * PER_DIM + j, d] = sign * rng.uniform(0.55, 0.80)
    return lam


def item_matrix(n: int, seed: int = 0, *, missing: bool = True) -> np.ndarray:
    """(n, 30) float64 answers 1..7, NaN = missing; generated in chunks to bound memory."""
    rng = np.random.default_rng(seed)
    lam = loadings()
    phi = np.full((len(DIMS), len(DIMS)), FACTOR_R)
    np.fill_diagonal(phi, 1.0)
    chol = np.linalg.cholesky(phi)
    uniq = np.sqrt(1.0 - (lam**2).sum(axis=1))
    out = np.empty((n, len(ITEMS)))
    step = 200_000
    for s in range(0, n, step):
        m = min(step, n - s)
        f = rng.standard_normal((m, len(DIMS))) @ chol.T
        y = f @ lam.T + rng.standard_normal((m, len(ITEMS))) * uniq
        x = (np.searchsorted(CUTS, y) + 1).astype(float)
        care = rng.random(m) < CARELESS_SHARE
        x[care] = rng.integers(1, 8, size=(int(care.sum()), len(ITEMS)))
        if missing:
            x[rng.random((m, len(ITEMS))) < MISSING_SHARE] = np.nan
        out[s : s + m] = x
    return out


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    """A response frame like ``load_campaign_frame``'s: ids, period, segment, duration, items."""
    rng = np.random.default_rng(seed + 1)
    x = item_matrix(n, seed)
    meta = pd.DataFrame(
        {
            "response_id": np.arange(1, n + 1, dtype=np.int64),
            "period": pd.Categorical.from_codes(rng.integers(0, len(PERIODS), n), PERIODS),
            "segment": pd.Categorical.from_codes(rng.integers(0, len(SEGMENTS), n), SEGMENTS),
            "duration_s": rng.lognormal(np.log(300), 0.4, n),
        }
    )
    return pd.concat([meta, pd.DataFrame(x, columns=list(ITEMS))], axis=1)


def instrument():
    from instruments.loader import load_instrument

    return load_instrument(INSTRUMENT_YAML)
