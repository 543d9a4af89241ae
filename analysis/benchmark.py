"""Brand benchmark: brand means compared with cluster-robust standard errors, and ranks
with their bootstrap uncertainty.

One respondent may rate several brands, so ratings are nested in respondents and the
usual two-sample tests (which assume independent groups) understate the uncertainty
of a difference when the same people rate both brands. Here:

* **Pairwise differences** of brand means come from ``lm(y ~ 0 + brand)`` with the
  **CR1** cluster-robust covariance (Liang & Zeger 1986; the small-sample factor
  ``G/(G-1) * (N-1)/(N-K)`` of Stata and of ``sandwich::vcovCL(type = "HC1")``),
  clusters being respondents; t tests on ``G - 1`` df; Holm-adjusted
  (``p.adjust(p, "holm")``); an omnibus Wald F test of equal means on the same
  covariance (``F = W / (K - 1)`` on ``K - 1, G - 1`` df). Without a respondent key
  every rating is its own cluster (then CR1 is the HC1 heteroscedasticity-robust
  covariance).
* **Ranks** (1 = highest mean) with a 95% bootstrap interval: respondents (clusters)
  are resampled ``n_boot`` times with a fixed seed, the brands re-ranked each time,
  and the 2.5% / 97.5% quantiles of each brand's rank reported (lower / higher
  order statistic, so the interval holds whole ranks).

Reference: ``tests/reference/make_drivers.R`` computes the CR1 sandwich in base R.

References
----------
Liang, K.-Y., & Zeger, S. L. (1986). Longitudinal data analysis using generalized
linear models. *Biometrika*, 73(1), 13-22.
Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust
inference. *Journal of Human Resources*, 50(2), 317-372.
Goldstein, H., & Spiegelhalter, D. J. (1996). League tables and their limitations.
*JRSS A*, 159(3), 385-443 (intervals for ranks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._result import AnalysisError
from .compare import holm

CLUSTERING = "CR1 cluster-robust (respondents as clusters), t on G - 1 df"


def _prepare(
    values: pd.Series, groups: pd.Series, clusters: pd.Series | None, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(values, dtype=float)
    g = pd.Series(np.asarray(groups, dtype=object)).map(
        lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    )
    code = g.map({n: i for i, n in enumerate(names)}).to_numpy(dtype=float)
    ok = ~np.isnan(y) & ~np.isnan(code)
    if clusters is None:
        cl = np.arange(len(y))
    else:
        c = pd.Series(np.asarray(clusters, dtype=object))
        if c[ok].isna().any():
            raise AnalysisError("the respondent key is missing for some ratings")
        cl = c.astype(str).to_numpy()
    _, cl_code = np.unique(cl[ok], return_inverse=True)
    return y[ok], code[ok].astype(int), cl_code


def cluster_robust_means(
    values: pd.Series, groups: pd.Series, clusters: pd.Series | None, names: Sequence[str]
) -> dict[str, Any]:
    """Group means and their CR1 covariance: ``{"n", "clusters", "means", "vcov"}``."""
    y, k, c = _prepare(values, groups, clusters, names)
    n_k = np.bincount(k, minlength=len(names)).astype(float)
    if (n_k < 2).any():
        raise AnalysisError("cluster-robust comparison: every brand needs 2 or more ratings")
    n, kk, g = len(y), len(names), int(c.max()) + 1
    means = np.bincount(k, weights=y, minlength=kk) / n_k
    e = y - means[k]
    # X_c' e_c: per cluster, the residual sum of each group
    score = np.zeros((g, kk))
    np.add.at(score, (c, k), e)
    if g < 2:
        raise AnalysisError("cluster-robust comparison: fewer than 2 respondents")
    meat = score.T @ score
    bread = np.diag(1 / n_k)
    v = g / (g - 1) * (n - 1) / (n - kk) * bread @ meat @ bread
    return {"n": n, "clusters": g, "means": means, "vcov": v}


def cluster_robust_pairwise(
    values: pd.Series,
    groups: pd.Series,
    clusters: pd.Series | None,
    names: Sequence[str],
    level: float = 0.95,
) -> dict[str, Any]:
    """Every pair ``(a, b)`` of ``names`` in order: ``b - a`` with its CR1 SE, t on
    ``G - 1`` df, p, Holm-adjusted p and CI."""
    r = cluster_robust_means(values, groups, clusters, names)
    m, v, df = r["means"], r["vcov"], r["clusters"] - 1
    pairs = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            diff = float(m[j] - m[i])
            se = float(np.sqrt(v[i, i] + v[j, j] - 2 * v[i, j]))
            t = diff / se if se > 0 else float("nan")
            p = float(2 * stats.t.sf(abs(t), df)) if se > 0 else float("nan")
            h = float(stats.t.ppf(0.5 + level / 2, df) * se)
            pairs.append(
                {
                    "a": names[i],
                    "b": names[j],
                    "diff": diff,
                    "se": se,
                    "t": t,
                    "df": int(df),
                    "p": p,
                    "ci95": [diff - h, diff + h],
                }
            )
    adj = holm([q["p"] for q in pairs])
    for q, pa in zip(pairs, adj, strict=True):
        q["p_holm"] = float(pa)
    # omnibus Wald test of equal means, C b = 0 (differences from the first group),
    # as F = W / (K - 1) on (K - 1, G - 1) df
    kk = len(names)
    c = np.hstack([-np.ones((kk - 1, 1)), np.eye(kk - 1)])
    cb = c @ m
    try:
        w = float(cb @ np.linalg.solve(c @ v @ c.T, cb))
        f = w / (kk - 1)
        wald = {"F": f, "df": [kk - 1, int(df)], "p": float(stats.f.sf(f, kk - 1, df))}
    except np.linalg.LinAlgError:
        wald = None
    return {
        "n": r["n"],
        "clusters": r["clusters"],
        "wald": wald,
        "means": {s: float(x) for s, x in zip(names, m, strict=True)},
        "se": {s: float(np.sqrt(v[i, i])) for i, s in enumerate(names)},
        "pairs": pairs,
    }


def rank_intervals(
    values: pd.Series,
    groups: pd.Series,
    clusters: pd.Series | None,
    names: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int | None = 0,
) -> dict[str, dict[str, Any]]:
    """Rank of each group's mean (1 = highest) and its 95% cluster-bootstrap interval."""
    y, k, c = _prepare(values, groups, clusters, names)
    kk, g = len(names), int(c.max()) + 1
    s = np.zeros((g, kk))
    cnt = np.zeros((g, kk))
    np.add.at(s, (c, k), y)
    np.add.at(cnt, (c, k), 1.0)
    means = s.sum(axis=0) / cnt.sum(axis=0)

    def ranks(m: np.ndarray) -> np.ndarray:  # 1 = highest; ties share the better rank
        return (m[..., None, :] > m[..., :, None]).sum(axis=-1) + 1

    out = {n: {"rank": int(r), "rank_ci95": None} for n, r in zip(names, ranks(means), strict=True)}
    if n_boot <= 0:
        return out
    rng = np.random.default_rng(seed)
    boot = []
    block = max(1, min(n_boot, 2_000_000 // g))
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        draws = rng.integers(0, g, (b, g)) + g * np.arange(b)[:, None]
        w = np.bincount(draws.ravel(), minlength=b * g).reshape(b, g).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            mb = (w @ s) / (w @ cnt)
        boot.append(mb[np.isfinite(mb).all(axis=1)])
    rb = ranks(np.concatenate(boot))
    if len(rb) >= 2:
        lo = np.quantile(rb, 0.025, axis=0, method="lower")
        hi = np.quantile(rb, 0.975, axis=0, method="higher")
        for j, n in enumerate(names):
            out[n]["rank_ci95"] = [int(lo[j]), int(hi[j])]
    return out


def brand_benchmark(
    values: pd.Series,
    groups: pd.Series,
    clusters: pd.Series | None,
    shown: Sequence[str],
    *,
    column: str,
    respondent_column: str | None,
    n_boot: int = 1000,
    seed: int | None = 0,
    invariance: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The brand benchmark of a periodic report: ranks with intervals and Holm-adjusted
    CR1 pairwise differences of ``values`` among the ``shown`` (not suppressed) groups,
    and whether the invariance check supports comparing levels. ``None`` with fewer
    than two groups to compare."""
    if len(shown) < 2:
        return None
    keep = (
        pd.Series(np.asarray(groups, dtype=object)).astype(str).isin(shown).to_numpy()
        & pd.Series(np.asarray(groups, dtype=object)).notna().to_numpy()
    )
    v = pd.Series(np.asarray(values, dtype=float)[keep])
    g = pd.Series(np.asarray(groups, dtype=object)[keep])
    c = None if clusters is None else pd.Series(np.asarray(clusters, dtype=object)[keep])
    pw = cluster_robust_pairwise(v, g, c, list(shown))
    ranks = rank_intervals(v, g, c, list(shown), n_boot=n_boot, seed=seed)
    inv = invariance or {}
    level = (inv.get("invariance") or {}).get("level")
    err = (inv.get("invariance") or {}).get("error")
    supported = inv.get("levels_comparable")
    if level in ("scalar", "strict"):  # strict invariance implies scalar
        supported = True
    statement = (
        f"Invariance across {column} could not be checked ({err}): {column} comparisons "
        "are not shown to be supported."
        if err or supported is None
        else f"{column.capitalize()} comparisons are supported: scalar invariance across {column} "
        f"holds, so Trust Index and dimension levels can be compared across {column}."
        if supported
        else f"{column.capitalize()} comparisons are NOT supported: scalar invariance across "
        f"{column} does not "
        f"hold ({level} level at best), so differences in levels may reflect how the items "
        "work differently in each group rather than differences in trust."
    )
    return {
        "column": column,
        "variable": "trust_index",
        "brands": list(shown),
        "respondent_column": respondent_column,
        "method": (
            CLUSTERING
            if respondent_column
            else "no respondent key given: every rating is treated as a separate "
            "respondent (CR1 with one rating per cluster, i.e. HC1)"
        ),
        "n": pw["n"],
        "clusters": pw["clusters"],
        "pairwise": pw["pairs"],
        "adjustment": "Holm (1979)",
        "wald": pw["wald"],
        "rank": ranks,
        "ranking": sorted(shown, key=lambda s: ranks[s]["rank"]),
        "rank_method": f"1 = highest mean; 95% interval from {n_boot} bootstrap "
        "resamples of respondents",
        "invariance": {
            "level": level,
            "supported": supported,
            "statement": statement,
            "error": err,
            # rows the check used: one rating per respondent when ratings are nested
            "n": inv.get("n"),
            "one_rating_per_respondent": inv.get("one_rating_per_respondent"),
        },
    }
