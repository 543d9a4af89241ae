"""Ordinal items: polychoric correlations and the WLSMV (DWLS) confirmatory factor analysis.

Likert answers are ordered categories, not interval measurements. Following the
latent-response view (Muthén 1984), each item ``y_i`` is a coarsened standard-normal
``y*_i`` cut at thresholds ``τ_i1 < … < τ_i,K-1``; the items' association is the
correlation of the ``y*`` (the polychoric correlation, Olsson 1979), and the factor
model is fitted to those correlations.

* :func:`polychoric` reproduces lavaan's two-step estimator (``lavaan::lavCor(x,
  ordered = names(x))``; the same as ``cfa(..., ordered = TRUE)`` uses): thresholds are
  ``qnorm`` of the cumulative proportions, and each correlation is the bivariate-normal
  maximum-likelihood estimate with those thresholds fixed (Olsson 1979). With
  ``acov=True`` it also returns Γ, N times the asymptotic covariance matrix of the
  thresholds and correlations, from the case-wise scores of the univariate and bivariate
  likelihoods (Muthén 1984; Muthén, du Toit & Spisic 1997), as lavaan's ``NACOV``.
  ``psych::polychoric`` (global thresholds, ``optimize`` with its default tolerance)
  agrees with it to about 1e-4 per correlation.
* :func:`cfa_wlsmv` is ``lavaan::cfa(model, data, ordered = TRUE, estimator = "WLSMV")``
  for a simple-structure model: delta parameterization (latent-response variances 1),
  DWLS estimates (weights ``1 / diag Γ``), robust (sandwich) standard errors, and
  lavaan 0.6's default WLSMV test, the *scaled-and-shifted* χ² (Asparouhov & Muthén
  2010), whose df equal the model df. lavaan reports it as ``chisq.scaled``,
  ``df.scaled``, ``cfi.scaled``, ``tli.scaled`` and ``rmsea.scaled``; those are the
  names used here. (Mplus's older WLSMV "mean and variance adjusted" test with
  estimated df is a different statistic and is not computed.)

References
----------
Asparouhov, T., & Muthén, B. (2010). Simple second order chi-square correction.
Mplus technical appendix.
Muthén, B. (1984). A general structural equation model with dichotomous, ordered
categorical, and continuous latent variable indicators. *Psychometrika, 49*, 115-132.
Muthén, B., du Toit, S. H. C., & Spisic, D. (1997). Robust inference using weighted
least squares and quadratic estimating equations in latent variable modeling with
categorical and continuous outcomes. Unpublished manuscript.
Olsson, U. (1979). Maximum likelihood estimation of the polychoric correlation
coefficient. *Psychometrika, 44*, 443-460.
Genz, A. (2004). Numerical computation of rectangular bivariate and trivariate normal
and t probabilities. *Statistics and Computing, 14*, 251-260.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize, special, stats

from . import _sem
from ._result import AnalysisError, Result, fmt
from .cfa import CFAResult

__all__ = ["OrdinalCFAResult", "PolychoricResult", "bvn_cdf", "cfa_wlsmv", "polychoric"]

MAX_CATEGORIES = 20
_SQRT_EPS = float(np.sqrt(np.finfo(float).eps))

# Gauss-Legendre nodes and weights on (-1, 1), positive half, as in Genz's BVNU
_GL = {
    6: (
        np.array([0.9324695142031522, 0.6612093864662647, 0.2386191860831970]),
        np.array([0.1713244923791705, 0.3607615730481384, 0.4679139345726904]),
    ),
    12: (
        np.array(
            [
                0.9815606342467191,
                0.9041172563704750,
                0.7699026741943050,
                0.5873179542866171,
                0.3678314989981802,
                0.1252334085114692,
            ]
        ),
        np.array(
            [
                0.04717533638651177,
                0.1069393259953183,
                0.1600783285433464,
                0.2031674267230659,
                0.2334925365383547,
                0.2491470458134029,
            ]
        ),
    ),
    20: (
        np.array(
            [
                0.9931285991850949,
                0.9639719272779138,
                0.9122344282513259,
                0.8391169718222188,
                0.7463319064601508,
                0.6360536807265150,
                0.5108670019508271,
                0.3737060887154196,
                0.2277858511416451,
                0.07652652113349733,
            ]
        ),
        np.array(
            [
                0.01761400713915212,
                0.04060142980038694,
                0.06267204833410906,
                0.08327674157670475,
                0.1019301198172404,
                0.1181945319615184,
                0.1316886384491766,
                0.1420961093183821,
                0.1491729864726037,
                0.1527533871307259,
            ]
        ),
    ),
}


def _phi_cdf(x: np.ndarray) -> np.ndarray:
    return special.ndtr(x)


def _bvnu(dh: np.ndarray, dk: np.ndarray, r: float) -> np.ndarray:
    """P(X > dh, Y > dk) for a standard bivariate normal with correlation r (finite dh, dk).

    Genz's (2004) BVNU algorithm (Drezner & Wesolowsky 1990 with Gauss-Legendre
    quadrature), accurate to about 1e-15.
    """
    h = np.asarray(dh, float)
    k = np.asarray(dk, float)
    if r == 0.0:
        return _phi_cdf(-h) * _phi_cdf(-k)
    ar = abs(r)
    n = 6 if ar < 0.3 else (12 if ar < 0.75 else 20)
    xg, wg = _GL[n]
    w = np.concatenate([wg, wg])
    x = np.concatenate([1.0 - xg, 1.0 + xg])
    tp = 2.0 * np.pi
    hk = h * k
    if ar < 0.925:
        hs = (h * h + k * k) / 2.0
        asr = np.arcsin(r) / 2.0
        sn = np.sin(asr * x)  # (2n,)
        e = np.exp((sn[None, :] * hk[..., None] - hs[..., None]) / (1.0 - sn**2)[None, :])
        bvn = e @ w * asr / tp + _phi_cdf(-h) * _phi_cdf(-k)
        return np.clip(bvn, 0.0, 1.0)
    if r < 0:
        k = -k
        hk = -hk
    bvn = np.zeros_like(h)
    if ar < 1.0:
        a_s = 1.0 - r * r
        a = np.sqrt(a_s)
        bs = (h - k) ** 2
        c = (4.0 - hk) / 8.0
        d = (12.0 - hk) / 80.0
        asr = -(bs / a_s + hk) / 2.0
        with np.errstate(under="ignore", over="ignore"):
            bvn = np.where(
                asr > -100,
                a * np.exp(asr) * (1 - c * (bs - a_s) * (1 - d * bs) / 3.0 + c * d * a_s * a_s),
                0.0,
            )
            b = np.sqrt(bs)
            sp = np.sqrt(tp) * _phi_cdf(-b / a)
            bvn = np.where(
                hk > -100, bvn - np.exp(-hk / 2.0) * sp * b * (1 - c * bs * (1 - d * bs) / 3.0), bvn
            )
            a2 = a / 2.0
            xs = (a2 * x) ** 2  # (2n,)
            asr2 = -(bs[..., None] / xs[None, :] + hk[..., None]) / 2.0
            sp2 = 1.0 + c[..., None] * xs[None, :] * (1.0 + 5.0 * d[..., None] * xs[None, :])
            rs = np.sqrt(1.0 - xs)
            ep = np.exp(-(hk[..., None] / 2.0) * xs[None, :] / (1.0 + rs[None, :]) ** 2) / rs
            term = np.where(asr2 > -100, np.exp(asr2) * (sp2 - ep), 0.0)
            bvn = (a2 * (term @ w) - bvn) / tp
    if r > 0:
        bvn = bvn + _phi_cdf(-np.maximum(h, k))
    else:
        neg = np.where(h < 0, _phi_cdf(k) - _phi_cdf(h), _phi_cdf(-h) - _phi_cdf(-k))
        bvn = np.where(h >= k, -bvn, neg - bvn)
    return np.clip(bvn, 0.0, 1.0)


def bvn_cdf(h: Any, k: Any, r: float) -> np.ndarray:
    """Standard bivariate normal CDF ``P(X <= h, Y <= k)`` with correlation ``r``.

    Vectorised over ``h`` and ``k`` (same shape; ``±inf`` allowed) for one ``r``.
    R: ``pbivnorm::pbivnorm(h, k, r)`` (also Genz's algorithm).
    """
    h = np.asarray(h, float)
    k = np.asarray(k, float)
    h, k = np.broadcast_arrays(h, k)
    out = np.empty(h.shape)
    fin = np.isfinite(h) & np.isfinite(k)
    out[fin] = _bvnu(-h[fin], -k[fin], float(r))
    nf = ~fin
    if nf.any():
        hh, kk = h[nf], k[nf]
        v = np.where(
            (hh == -np.inf) | (kk == -np.inf),
            0.0,
            np.where(hh == np.inf, _phi_cdf(kk), _phi_cdf(hh)),
        )
        out[nf] = v
    return out


def _bvn_pdf(h: np.ndarray, k: np.ndarray, r: float) -> np.ndarray:
    """Bivariate standard normal density (0 where h or k is infinite)."""
    s = 1.0 - r * r
    with np.errstate(invalid="ignore", over="ignore"):
        q = (h * h - 2.0 * r * h * k + k * k) / s
        out = np.exp(-0.5 * q) / (2.0 * np.pi * np.sqrt(s))
    out[~(np.isfinite(h) & np.isfinite(k))] = 0.0
    return out


# ------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Coded:
    items: list[str]
    codes: np.ndarray  # (n, p) int, 0..K_i-1
    levels: list[np.ndarray]  # observed values per item, ascending
    th: list[np.ndarray]  # thresholds per item (K_i - 1)
    counts: list[np.ndarray]  # category counts per item


def _code(data: pd.DataFrame, items: Sequence[str] | None, what: str = "data") -> _Coded:
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(
            f"ordinal analysis needs the raw answers as a pandas DataFrame, "
            f"not {type(data).__name__}"
        )
    items = list(data.columns) if items is None else list(items)
    missing = [c for c in items if c not in data.columns]
    if missing:
        raise AnalysisError(f"items not in the {what}: {', '.join(map(str, missing))}")
    if len(items) < 2:
        raise AnalysisError("polychoric correlations need at least 2 items")
    sub = data[items]
    if all(
        pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in sub.dtypes
    ):
        cols = [np.asarray(sub[c].to_numpy(dtype=float)) for c in items]
    else:
        frame = sub.apply(pd.to_numeric, errors="coerce")
        bad = [c for c in items if frame[c].notna().sum() < sub[c].notna().sum()]
        if bad:
            raise AnalysisError(
                f"non-numeric answers in item(s) {', '.join(map(str, bad))}; "
                "ordinal items must be coded as numbers (e.g. 1..7)"
            )
        cols = [frame[c].to_numpy(dtype=float) for c in items]
    complete = ~np.isnan(cols[0])
    for col in cols[1:]:
        complete &= ~np.isnan(col)
    n = int(complete.sum())
    if n < 2:
        raise AnalysisError(f"too few complete rows for polychoric correlations: {n}")
    every = n == complete.size
    codes = np.empty((n, len(items)), dtype=np.int16, order="F")
    levels, ths, counts = [], [], []
    for j, it in enumerate(items):
        col = cols[j] if every else cols[j][complete]  # listwise, as lavaan's default
        lo, hi = float(col.min()), float(col.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise AnalysisError(f"item {it} has infinite answers")
        off = None
        if hi - lo <= 10_000:
            d = col - lo if lo != 0 else col
            off = d.astype(np.intp)
            if not np.array_equal(off, d):
                off = None
        if off is not None:  # integer answers: O(n) counting, no sort
            cnt_all = np.bincount(off)
            present = cnt_all > 0
            lev = lo + np.nonzero(present)[0].astype(float)
            cnt = cnt_all[present]
            if lev.size <= MAX_CATEGORIES:
                codes[:, j] = (np.cumsum(present) - 1)[off]
        else:
            lev, inv, cnt = np.unique(col, return_inverse=True, return_counts=True)
            if lev.size <= MAX_CATEGORIES:
                codes[:, j] = inv.reshape(-1)
        if lev.size < 2:
            raise AnalysisError(
                f"item {it} is constant on the {n} complete rows (every answer "
                f"is {lev[0]:g}); it has no thresholds or correlations"
            )
        if lev.size > MAX_CATEGORIES:
            raise AnalysisError(
                f"item {it} has {lev.size} distinct values on the complete rows; ordinal "
                f"(polychoric/WLSMV) analysis is for items with at most {MAX_CATEGORIES} "
                f"ordered categories"
            )
        levels.append(lev)
        counts.append(cnt)
        ths.append(special.ndtri(np.cumsum(cnt)[:-1] / n))
    return _Coded(items, codes, levels, ths, counts)


# ------------------------------------------------------------------------------------
# one pair
# ------------------------------------------------------------------------------------
def _pad(t: np.ndarray) -> np.ndarray:
    return np.concatenate([[-np.inf], t, [np.inf]])


def _cell_probs(t1: np.ndarray, t2: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell probabilities π (K1, K2) and their derivatives dπ/dρ."""
    a, b = _pad(t1), _pad(t2)
    hh, kk = np.meshgrid(a, b, indexing="ij")
    cdf = bvn_cdf(hh, kk, rho)
    pdf = _bvn_pdf(hh, kk, rho)
    pi = cdf[1:, 1:] - cdf[:-1, 1:] - cdf[1:, :-1] + cdf[:-1, :-1]
    dpi = pdf[1:, 1:] - pdf[:-1, 1:] - pdf[1:, :-1] + pdf[:-1, :-1]
    return np.maximum(pi, _SQRT_EPS), dpi  # lavaan floors π at sqrt(machine eps)


def _pair_rho(freq: np.ndarray, t1: np.ndarray, t2: np.ndarray, start: float) -> tuple[float, bool]:
    """ML polychoric correlation of one table with fixed thresholds (Olsson 1979)."""

    def negll(r: float) -> float:
        pi, _ = _cell_probs(t1, t2, r)
        return -float(np.sum(freq * np.log(pi)))

    r = float(np.clip(start, -0.99, 0.99))
    f = negll(r)
    for _ in range(100):  # Fisher scoring with step halving
        pi, dpi = _cell_probs(t1, t2, r)
        g = float(np.sum(freq * dpi / pi))
        info = float(freq.sum() * np.sum(dpi * dpi / pi))
        if not info > 0:
            break
        step = g / info
        t = 1.0
        while t > 1e-8:
            rn = float(np.clip(r + t * step, -0.999, 0.999))
            fn = negll(rn)
            if fn <= f + 1e-12 * abs(f):
                break
            t *= 0.5
        else:
            break
        moved = abs(rn - r)
        r, f = rn, fn
        if moved < 1e-10:
            return r, True
    res = optimize.minimize_scalar(
        negll, bounds=(-0.999, 0.999), method="bounded", options={"xatol": 1e-10}
    )
    return float(res.x), bool(res.success)


def _table_pearson(freq: np.ndarray) -> float:
    """Pearson correlation of the category numbers from their table (the start value)."""
    n = freq.sum()
    a = np.arange(freq.shape[0], dtype=float)
    b = np.arange(freq.shape[1], dtype=float)
    pa, pb = freq.sum(axis=1) / n, freq.sum(axis=0) / n
    ma, mb = pa @ a, pb @ b
    cov = float((a - ma) @ (freq / n) @ (b - mb))
    va, vb = float(pa @ (a - ma) ** 2), float(pb @ (b - mb) ** 2)
    r = cov / np.sqrt(va * vb) if va > 0 and vb > 0 else 0.0
    return float(r) if np.isfinite(r) and abs(r) < 1 else 0.0


def _two_by_two(
    freq: np.ndarray, t1: np.ndarray, t2: np.ndarray, start: float
) -> tuple[float, bool]:
    """:func:`_pair_rho` with lavaan's rules for 2 × 2 tables (lav_bvord_cor_twostep_fit).

    Two empty cells: ρ = ±1. One empty cell: 0.5 moved into it and the opposite
    diagonal cell, 0.5 taken from the other two (margins kept). Zero odds ratio
    contrast (``f11 f22 = f12 f21``): ρ = 0. Both thresholds 0: ρ = −cos(2π f11/N).
    Larger tables: no correction.
    """
    if freq.shape != (2, 2):
        return _pair_rho(freq, t1, t2, start)
    f = freq.copy()
    zero = np.argwhere(f == 0)
    if len(zero) == 2:
        return (1.0 if f[0, 0] > 0 else -1.0), True
    if len(zero) == 1:
        a, b = zero[0]
        sign = 1.0 if a == b else -1.0
        f += sign * 0.5 * np.array([[1.0, -1.0], [-1.0, 1.0]])
    if f[0, 0] * f[1, 1] == f[0, 1] * f[1, 0]:
        return 0.0, True
    if t1[0] == 0 and t2[0] == 0:
        return float(-np.cos(2 * np.pi * f[0, 0] / f.sum())), True
    return _pair_rho(f, t1, t2, start)


def _pair_scores(freq: np.ndarray, t1: np.ndarray, t2: np.ndarray, rho: float):
    """Cell-wise scores of the bivariate log-likelihood (lavaan's lav_bvord_cor_scores).

    Returns (s_rho (K1, K2), s_t1 (K1, K2, K1-1), s_t2 (K1, K2, K2-1)), the derivatives
    of log π_ab with respect to ρ and to each threshold, for a case in cell (a, b).
    """
    pi, dpi = _cell_probs(t1, t2, rho)
    s_rho = dpi / pi
    R = np.sqrt(1.0 - rho * rho)
    a, b = _pad(t1), _pad(t2)
    k1, k2 = t1.size + 1, t2.size + 1

    def side(ta: np.ndarray, tb_pad: np.ndarray) -> np.ndarray:
        # g[k, b] = φ(τa_k) [Φ((τb_{b+1} − ρ τa_k)/R) − Φ((τb_b − ρ τa_k)/R)]
        with np.errstate(invalid="ignore"):
            z = (tb_pad[None, :] - rho * ta[:, None]) / R
        c = _phi_cdf(z)
        return stats.norm.pdf(ta)[:, None] * (c[:, 1:] - c[:, :-1])

    g1 = side(t1, b)  # (K1-1, K2)
    g2 = side(t2, a)  # (K2-1, K1)
    s_t1 = np.zeros((k1, k2, k1 - 1))
    s_t2 = np.zeros((k1, k2, k2 - 1))
    for k in range(k1 - 1):
        s_t1[k, :, k] += g1[k]  # τ1_k is the upper bound of category k
        s_t1[k + 1, :, k] -= g1[k]  # and the lower bound of category k+1
    for k in range(k2 - 1):
        s_t2[:, k, k] += g2[k]
        s_t2[:, k + 1, k] -= g2[k]
    s_t1 /= pi[:, :, None]
    s_t2 /= pi[:, :, None]
    return s_rho, s_t1, s_t2


# ------------------------------------------------------------------------------------
# polychoric matrix
# ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PolychoricResult(Result):
    """Polychoric correlations and thresholds of ordinal items. See :func:`polychoric`.

    ``rho``: item -> item -> correlation; ``thresholds``: item -> thresholds (ascending);
    ``categories``: item -> the observed answer values in order; ``n``: complete rows used.
    ``gamma`` (when asked for): N × ACOV of ``(thresholds..., correlations...)`` in
    lavaan's order (thresholds item by item, then the lower-triangle correlations
    column by column), as a nested list; ``None`` otherwise.
    """

    items: tuple[str, ...]
    n: int
    rho: dict[str, dict[str, float]]
    thresholds: dict[str, tuple[float, ...]]
    categories: dict[str, tuple[float, ...]]
    converged: bool
    warnings: tuple[str, ...] = ()
    _matrix: np.ndarray | None = field(default=None, repr=False, compare=False)
    _gamma: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def matrix(self) -> np.ndarray:
        """The correlation matrix as a numpy array in item order."""
        return np.array(self._matrix, copy=True)

    @property
    def gamma(self) -> np.ndarray | None:
        return None if self._gamma is None else np.array(self._gamma, copy=True)

    def summary(self) -> str:
        lines = [
            f"Polychoric correlations (two-step ML, lavaan), n = {self.n} complete rows, "
            f"{len(self.items)} items"
        ]
        lines.append(" " * 10 + "".join(f"{c[:7]:>8}" for c in self.items))
        for a in self.items:
            lines.append(f"{a[:9]:<10}" + "".join(f"{fmt(self.rho[a][b]):>8}" for b in self.items))
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _lavaan_pairs(p: int) -> list[tuple[int, int]]:
    """(i, j), i > j, in lavaan's order: vech below the diagonal, column by column."""
    return [(i, j) for j in range(p) for i in range(j + 1, p)]


def _pair_tables(cd: _Coded, pairs: list[tuple[int, int]]) -> dict:
    """Bivariate frequency tables of the item pairs.

    With few response patterns possible (``Π K_j`` up to 2 million, e.g. 6 items of 7
    categories), the rows are counted once by pattern and every pair's table is summed
    from the pattern counts, so the cost is a few passes over the rows instead of three
    per pair.
    """
    n, p = cd.codes.shape
    ks = [t.size + 1 for t in cd.th]
    out: dict[tuple[int, int], np.ndarray] = {}
    if float(np.prod(np.array(ks, dtype=float))) <= 2e6 and n > 1000:
        code = np.zeros(n, dtype=np.int64)
        mult = 1
        for j in range(p):
            code += cd.codes[:, j].astype(np.int64) * mult
            mult *= ks[j]
        pat_n = np.bincount(code, minlength=mult)
        idx = np.nonzero(pat_n)[0]
        w = pat_n[idx].astype(float)
        digits = np.empty((idx.size, p), dtype=np.int64)
        rest = idx.copy()
        for j in range(p):
            digits[:, j] = rest % ks[j]
            rest //= ks[j]
        for i, j in pairs:
            out[(i, j)] = np.bincount(
                digits[:, i] * ks[j] + digits[:, j], weights=w, minlength=ks[i] * ks[j]
            ).reshape(ks[i], ks[j])
        return out
    for i, j in pairs:
        out[(i, j)] = (
            np.bincount(cd.codes[:, i] * ks[j] + cd.codes[:, j], minlength=ks[i] * ks[j])
            .reshape(ks[i], ks[j])
            .astype(float)
        )
    return out


def _polychoric_coded(
    cd: _Coded, acov: bool
) -> tuple[np.ndarray, np.ndarray | None, list[str], bool]:
    p = len(cd.items)
    n = cd.codes.shape[0]
    pairs = _lavaan_pairs(p)
    rho = np.eye(p)
    ok = True
    warns: list[str] = []
    tables = _pair_tables(cd, pairs)
    for i, j in pairs:
        freq = tables[(i, j)]
        start = _table_pearson(freq)
        r, conv = _two_by_two(freq, cd.th[i], cd.th[j], start)
        if not conv:
            ok = False
            warns.append(
                f"the polychoric correlation of {cd.items[i]} and {cd.items[j]} did not converge"
            )
        if abs(r) > 0.99:
            warns.append(
                f"the polychoric correlation of {cd.items[i]} and {cd.items[j]} "
                f"is (nearly) ±1 ({r:.4f})"
            )
        rho[i, j] = rho[j, i] = r
    if not acov:
        return rho, None, warns, ok
    # --- Muthén (1984) / lavaan's muthen1984(): Γ = N · B⁻¹ (Σ_n s_n s_nᵀ) B⁻ᵀ ---------
    nth = [t.size for t in cd.th]
    th_start = np.concatenate([[0], np.cumsum(nth)[:-1]]).astype(int)
    ntot = int(sum(nth))
    pstar = len(pairs)
    # univariate threshold scores per category: s_c[k] = (1{c=k} − 1{c=k+1}) φ(τ_k) / π_c
    uni_sc = []
    a11_inv = np.zeros((ntot, ntot))
    for i in range(p):
        t, cnt = cd.th[i], cd.counts[i]
        K = t.size + 1
        pc = np.diff(np.concatenate([[0.0], _phi_cdf(t), [1.0]]))
        s = np.zeros((K, K - 1))
        dens = stats.norm.pdf(t)
        for k in range(K - 1):
            s[k, k] += dens[k]
            s[k + 1, k] -= dens[k]
        s /= pc[:, None]
        uni_sc.append(s)
        a11 = (s * cnt[:, None]).T @ s
        sl = slice(th_start[i], th_start[i] + K - 1)
        a11_inv[sl, sl] = linalg.inv(a11)
    a21 = np.zeros((pstar, ntot))
    a22 = np.zeros(pstar)
    cell_rho = []
    for q, (i, j) in enumerate(pairs):
        freq = tables[(i, j)]
        s_rho, s_t1, s_t2 = _pair_scores(freq, cd.th[i], cd.th[j], rho[i, j])
        s_rho = np.where(freq > 0, s_rho, 0.0)
        cell_rho.append(s_rho)
        a22[q] = float(np.sum(freq * s_rho**2))
        wr = freq * s_rho
        a21[q, th_start[i] : th_start[i] + nth[i]] = np.tensordot(wr, s_t1, axes=([0, 1], [0, 1]))
        a21[q, th_start[j] : th_start[j] + nth[j]] = np.tensordot(wr, s_t2, axes=([0, 1], [0, 1]))
    if np.any(a22 <= 0):
        raise AnalysisError(
            "cannot compute the asymptotic covariance of the polychoric "
            "correlations (a bivariate table carries no information)"
        )
    gamma = np.zeros((ntot + pstar, ntot + pstar))
    block = max(500, 5_000_000 // (ntot + pstar))  # rows per pass: ~40 MB of scores
    for start in range(0, n, block):
        c = cd.codes[start : start + block]
        m = c.shape[0]
        sc_th = np.zeros((m, ntot))
        for i in range(p):
            sc_th[:, th_start[i] : th_start[i] + nth[i]] = uni_sc[i][c[:, i]]
        z = sc_th @ a11_inv
        sc_cor = np.empty((m, pstar))
        for q, (i, j) in enumerate(pairs):
            sc_cor[:, q] = cell_rho[q][c[:, i], c[:, j]]
        psi = (sc_cor - z @ a21.T) / a22[None, :]
        inf = np.hstack([z, psi])
        gamma += inf.T @ inf
    gamma *= n
    return rho, gamma, warns, ok


def polychoric(
    data: pd.DataFrame, items: Sequence[str] | None = None, *, acov: bool = False
) -> PolychoricResult:
    """Polychoric correlation matrix and thresholds of ordinal items, as lavaan computes them.

    Parameters
    ----------
    data : DataFrame
        Ordinal answers coded as numbers (e.g. 1..7); the distinct values of each item
        on the complete rows are its ordered categories. Rows with a missing answer on
        any of ``items`` are dropped (listwise).
    items : columns to use (default: all).
    acov : also compute Γ = N · ACOV(thresholds, correlations) (Muthén 1984), needed
        for WLSMV; costs a few passes over the rows.

    Returns
    -------
    PolychoricResult

    Notes
    -----
    Thresholds of item i: ``τ_ik = Φ⁻¹(P(y_i ≤ k))``. Correlation of items i, j: the
    ρ maximising ``Σ_ab n_ab log π_ab(ρ)``, ``π_ab`` the bivariate-normal probability of
    the cell with the thresholds fixed (Olsson 1979, two-step), by Fisher scoring; the
    bivariate normal CDF is Genz's (2004) algorithm. Empty cells get no correction
    (lavaan's default for tables larger than 2 × 2); cell probabilities are floored at
    1.5e-8 as in lavaan.

    R: ``lavaan::lavCor(x, ordered = names(x))`` (``lavInspect(fit, "sampstat")`` for
    the thresholds), or ``psych::polychoric(x)$rho`` (agrees to about 1e-4).
    """
    cd = _code(data, items)
    if acov:
        with _sem.single_thread_blas():
            rho, gamma, warns, ok = _polychoric_coded(cd, acov)
    else:  # no matrix algebra worth limiting BLAS threads for
        rho, gamma, warns, ok = _polychoric_coded(cd, acov)
    its = cd.items
    return PolychoricResult(
        items=tuple(its),
        n=int(cd.codes.shape[0]),
        rho={a: {b: float(rho[i, j]) for j, b in enumerate(its)} for i, a in enumerate(its)},
        thresholds={it: tuple(map(float, t)) for it, t in zip(its, cd.th, strict=True)},
        categories={it: tuple(map(float, lv)) for it, lv in zip(its, cd.levels, strict=True)},
        converged=ok,
        warnings=tuple(warns),
        _matrix=rho,
        _gamma=gamma,
    )


# ------------------------------------------------------------------------------------
# WLSMV confirmatory factor analysis
# ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OrdinalCFAResult(CFAResult):
    """A :class:`~analysis.cfa.CFAResult` from :func:`cfa_wlsmv` (ordered items, WLSMV).

    ``chisq`` is the DWLS statistic ``(N − 1) F_DWLS`` (lavaan's "standard" test),
    and ``cfi``/``tli``/``rmsea`` are computed from it; ``chisq_scaled`` with
    ``df_scaled`` (= ``df``) is lavaan's default WLSMV statistic, the scaled-and-shifted
    χ² ``a·χ² + b`` with ``a = sqrt(df / tr((UΓ)²))``, ``b = df − a·tr(UΓ)``
    (Asparouhov & Muthén 2010); ``scaling_factor`` is ``1/a`` and ``shift_parameter``
    is ``b``. ``cfi_scaled``, ``tli_scaled`` and ``rmsea_scaled`` use the scaled
    statistics of the model and of the independence baseline (lavaan's
    ``fitMeasures``). ``loglik``/``aic``/``bic`` are undefined (NaN) for DWLS.
    Loadings are on the latent-response scale (variances 1, delta parameterization);
    ``residual_variances`` are ``1 − λ²φ`` (not free parameters).
    ``composite_reliability`` and ``ave`` are on the latent-response scale:
    ``(Σλ)²φ / 1ᵀR1`` with ``R`` the polychoric matrix (semTools'
    ``compRelSEM(fit, ord.scale = FALSE)``) and ``Σλ²φ / k`` (semTools' ``AVE``).
    ``parameters``: lavaan's ``parameterEstimates(fit, standardized = TRUE)`` rows for
    loadings, (co)variances and thresholds as ``{lhs, op, rhs, est, se, z, pvalue,
    std_all}``; SEs are robust (sandwich with Γ, lavaan's ``se = "robust.sem"``).
    ``r2``: item -> R² of its latent response, ``λ²φ``.
    """

    estimator: str = "wlsmv"
    missing: str = "listwise"
    chisq_scaled: float = float("nan")
    df_scaled: float = float("nan")
    p_scaled: float = float("nan")
    scaling_factor: float = float("nan")
    shift_parameter: float = float("nan")
    baseline_chisq_scaled: float = float("nan")
    cfi_scaled: float = float("nan")
    tli_scaled: float = float("nan")
    rmsea_scaled: float = float("nan")
    parameters: tuple[dict[str, Any], ...] = ()
    r2: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, tuple[float, ...]] = field(default_factory=dict)
    modification_indices: tuple[dict[str, Any], ...] = ()

    def summary(self) -> str:
        base = super().summary()
        has_scaled = "scaled chi2" in base  # CFAResult.summary may already report it
        base = (
            base.replace("(ML)", "(WLSMV: DWLS on polychoric correlations)", 1)
            .replace("(WLSMV,", "(WLSMV: DWLS on polychoric correlations,", 1)
            .replace("  chi2(", "  unscaled DWLS chi2(", 1)
            .replace("; scaled chi2", "; scaled-shifted chi2", 1)
        )
        lines = [ln for ln in base.split("\n") if not ln.strip().startswith("logL")]
        if not has_scaled:
            lines.insert(
                3,
                f"  scaled-shifted chi2({self.df}) = {fmt(self.chisq_scaled)}, "
                f"p {'< .001' if self.p_scaled < 0.001 else '= ' + fmt(self.p_scaled)}"
                f"; CFI = {fmt(self.cfi_scaled)}, TLI = {fmt(self.tli_scaled)}, "
                f"RMSEA = {fmt(self.rmsea_scaled)} (scaled)",
            )
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class _Model:
    p: int
    m: int
    assign: np.ndarray  # item -> factor
    marker: np.ndarray  # bool per item
    lam_par: np.ndarray  # item -> parameter index (or -1 for markers)
    phi_par: np.ndarray  # (m, m) parameter index
    npar: int
    pairs: list[tuple[int, int]]


def _build_model(assign: Sequence[int], m: int, p: int) -> _Model:
    assign = np.asarray(assign)
    marker = np.zeros(p, bool)
    lam_par = -np.ones(p, int)
    k = 0
    seen: set[int] = set()
    for i, f in enumerate(assign):
        if f in seen:
            lam_par[i] = k
            k += 1
        else:
            seen.add(int(f))
            marker[i] = True
    phi_par = -np.ones((m, m), int)
    for a in range(m):  # lavaan's order: variances first, then covariances
        phi_par[a, a] = k
        k += 1
    for a in range(m):
        for b in range(a + 1, m):
            phi_par[a, b] = phi_par[b, a] = k
            k += 1
    return _Model(p, m, assign, marker, lam_par, phi_par, k, _lavaan_pairs(p))


def _unpack(md: _Model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lam = np.where(md.marker, 1.0, x[np.maximum(md.lam_par, 0)])
    phi = x[md.phi_par]
    return lam, phi


def _implied(md: _Model, x: np.ndarray) -> np.ndarray:
    lam, phi = _unpack(md, x)
    ii = np.array([i for i, _ in md.pairs])
    jj = np.array([j for _, j in md.pairs])
    return lam[ii] * lam[jj] * phi[md.assign[ii], md.assign[jj]]


def _jacobian(md: _Model, x: np.ndarray) -> np.ndarray:
    """∂σ_ij/∂θ for the correlations (pairs × structural parameters)."""
    lam, phi = _unpack(md, x)
    d = np.zeros((len(md.pairs), md.npar))
    for q, (i, j) in enumerate(md.pairs):
        fi, fj = md.assign[i], md.assign[j]
        if md.lam_par[i] >= 0:
            d[q, md.lam_par[i]] += lam[j] * phi[fi, fj]
        if md.lam_par[j] >= 0:
            d[q, md.lam_par[j]] += lam[i] * phi[fi, fj]
        d[q, md.phi_par[fi, fj]] += lam[i] * lam[j]
    return d


def _start(md: _Model, r: np.ndarray) -> np.ndarray:
    x = np.zeros(md.npar)
    for f in range(md.m):
        idx = np.nonzero(md.assign == f)[0]
        lam, _ = _sem._one_factor_paf(r[np.ix_(idx, idx)])
        lam = np.where(np.abs(lam) < 0.05, 0.05, lam)
        lm = lam[0]
        x[md.phi_par[f, f]] = lm * lm
        for i, li in zip(idx[1:], lam[1:], strict=True):
            x[md.lam_par[i]] = li / lm
    return x


def _dwls_fit(
    md: _Model, r: np.ndarray, w: np.ndarray, max_iter: int = 500
) -> tuple[np.ndarray, float, bool, int]:
    """Gauss-Newton minimisation of Σ w (r − σ(θ))² (the correlation part of F_DWLS)."""
    x = _start(md, np.asarray(r))
    rv = np.array([r[i, j] for i, j in md.pairs])

    def f_of(z: np.ndarray) -> float:
        e = rv - _implied(md, z)
        return float(np.sum(w * e * e))

    f = f_of(x)
    for it in range(1, max_iter + 1):
        e = rv - _implied(md, x)
        d = _jacobian(md, x)
        dw = d * w[:, None]
        h = d.T @ dw
        g = dw.T @ e
        try:
            step = linalg.solve(h, g, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            step = np.linalg.lstsq(h, g, rcond=None)[0]
        t = 1.0
        while t > 1e-10:
            xn = x + t * step
            fn = f_of(xn)
            if fn <= f:
                break
            t *= 0.5
        else:
            return x, f, float(np.max(np.abs(2 * g))) < 1e-6, it
        x, f = xn, fn
        if np.max(np.abs(t * step)) < 1e-11 or float(np.max(np.abs(2 * g))) < 1e-12:
            return x, f, True, it
    e = rv - _implied(md, x)
    g = (_jacobian(md, x) * w[:, None]).T @ e
    return x, f, float(np.max(np.abs(2 * g))) < 1e-6, max_iter


def _modification_indices(
    md: _Model,
    x: np.ndarray,
    rv: np.ndarray,
    w: np.ndarray,
    items: Sequence[str],
    factors: Sequence[str],
    n: int,
) -> list[dict[str, Any]]:
    """Score tests (modification indices) for each fixed cross-loading and residual covariance.

    For a parameter ψ fixed at 0, with Δ_ψ = ∂σ/∂ψ, ``s = Δ_ψᵀ W (r − σ)`` and
    ``V = Δ_ψᵀWΔ_ψ − Δ_ψᵀWΔ (ΔᵀWΔ)⁻¹ ΔᵀWΔ_ψ`` (expected DWLS information, the model's
    free parameters partialled out): ``MI = N g² / V`` and ``EPC = g / V`` with the
    gradient ``g = (N − 1)/N · s`` of lavaan's DWLS objective ``½ (N − 1)/N · F``, as
    lavaan's ``modindices()`` for DWLS (Sörbom 1989). In the delta parameterization a residual
    covariance adds to its correlation only; a cross-loading of item i on factor g adds
    ``Σ φ_g,f(j) λ_j`` to i's correlations with every other item j.
    """
    lam, phi = _unpack(md, x)
    e = rv - _implied(md, x)
    d = _jacobian(md, x)
    dw = d * w[:, None]
    i22_inv = np.linalg.pinv(d.T @ dw)
    labels: list[tuple[str, str, str]] = []
    cols: list[np.ndarray] = []
    for g, fac in enumerate(factors):
        for i, it in enumerate(items):
            if md.assign[i] == g:
                continue
            c = np.zeros(len(md.pairs))
            for q, (a, b) in enumerate(md.pairs):
                if a == i:
                    c[q] = phi[g, md.assign[b]] * lam[b]
                elif b == i:
                    c[q] = phi[g, md.assign[a]] * lam[a]
            labels.append((fac, "=~", it))
            cols.append(c)
    pair_index = {pq: q for q, pq in enumerate(md.pairs)}
    for a in range(md.p):  # lavaan's order: item j ~~ item i for j < i
        for b in range(a + 1, md.p):
            c = np.zeros(len(md.pairs))
            c[pair_index[(b, a)]] = 1.0
            labels.append((items[a], "~~", items[b]))
            cols.append(c)
    if not cols:
        return []
    de = np.column_stack(cols)
    dew = de * w[:, None]
    i12 = dew.T @ d
    v = np.sum(de * dew, axis=0) - np.sum((i12 @ i22_inv) * i12, axis=1)
    score = (n - 1) / n * (dew.T @ e)
    out = []
    for (lhs, op, rhs), sc, vv in zip(labels, score, v, strict=True):
        if not vv > np.finfo(float).eps ** (1 / 3):
            continue
        out.append(
            {"lhs": lhs, "op": op, "rhs": rhs, "mi": float(n * sc * sc / vv), "epc": float(sc / vv)}
        )
    out.sort(key=lambda r: -r["mi"])
    return out


def _scaled_shifted(t: float, df: int, u: np.ndarray, gamma: np.ndarray) -> tuple[float, ...]:
    """lavaan's scaled-shifted statistic: (stat, scaling factor 1/a, shift b)."""
    ug = u @ gamma
    tr1 = float(np.sum(u * gamma))
    tr2 = float(np.sum(ug * ug.T))
    a = np.sqrt(df / tr2)
    b = df - a * tr1
    return float(t * a + b), float(1.0 / a), float(b)


def _cfi(x2: float, df: float, xb: float, dfb: float) -> float:
    t1 = max(x2 - df, 0.0)
    t2 = max(x2 - df, xb - dfb, 0.0)
    if np.isclose(t1, 0.0) and np.isclose(t2, 0.0):
        return 1.0
    return 1.0 - t1 / t2


def _tli(x2: float, df: float, xb: float, dfb: float) -> float:
    if df <= 0:
        return 1.0
    a = xb / dfb - x2 / df
    b = xb / dfb - 1.0
    return 1.0 if (a < 0 and b < 0) else float(a / b)


def _rmsea(x2: float, df: float, n: int) -> float:
    return float(np.sqrt(max(x2 / n / df - 1.0 / n, 0.0))) if df > 0 else 0.0


def cfa_wlsmv(
    data: pd.DataFrame, model: Mapping[str, Sequence[str]], *, missing: str = "listwise"
) -> OrdinalCFAResult:
    """CFA of ordered items by WLSMV, as ``lavaan::cfa(model, data, ordered = TRUE,
    estimator = "WLSMV")`` (lavaan 0.6-14 defaults).

    Each item loads on one factor (the first item of each factor is the marker, loading 1),
    factors correlate freely. Steps:

    1. thresholds and polychoric correlations (:func:`polychoric`, two-step ML), and Γ,
       N times their asymptotic covariance (Muthén 1984);
    2. DWLS: minimise ``F = Σ w (r − σ(θ))²`` over the correlations, ``w = 1/diag Γ``
       (thresholds are saturated, so they equal the sample thresholds), with
       ``σ(θ) = (ΛΦΛᵀ)_ij`` and latent-response variances fixed to 1 (delta
       parameterization);
    3. ``χ² = (N − 1) F`` (lavaan's DWLS "standard" statistic); lavaan's default robust
       test for WLSMV, the scaled-and-shifted χ² (``chisq.scaled``, same df), with
       ``U = W − WΔ(ΔᵀWΔ)⁻¹ΔᵀW``; the independence baseline (all correlations 0) gives
       the baseline statistics for CFI and TLI;
    4. robust standard errors ``(1/(N − 1)) (ΔᵀWΔ)⁻¹ ΔᵀWΓWΔ (ΔᵀWΔ)⁻¹`` (lavaan divides
       by N − 1 for the WLS family, as in its χ²).

    Parameters
    ----------
    data : DataFrame of ordinal answers (numbers; each item's distinct values are its
        ordered categories). Reverse-keyed items should already be recoded.
    model : factor id -> item ids.
    missing : only ``"listwise"`` (rows with any missing answer on the model's items
        are dropped, lavaan's default for WLSMV).

    Returns
    -------
    OrdinalCFAResult (a :class:`~analysis.cfa.CFAResult`), with ``estimator = "wlsmv"``.

    Raises
    ------
    AnalysisError
        On an invalid or unidentified model, missing or non-numeric columns, constant
        items, items with more than 20 categories, too few complete rows, or
        ``missing="fiml"`` (full-information ML needs continuous items; use
        ``estimator="mlr"``).
    """
    if missing != "listwise":
        raise AnalysisError(
            f"missing={missing!r} is not available with the WLSMV estimator: lavaan's "
            "WLSMV uses listwise deletion (use estimator='ml' or 'mlr' for FIML)"
        )
    try:
        factors, items, assign = _sem.parse_model(model)
    except ValueError as e:
        raise AnalysisError(str(e)) from None
    p, m = len(items), len(factors)
    md = _build_model(assign, m, p)
    df = p * (p - 1) // 2 - md.npar
    if df < 0:
        raise AnalysisError(
            f"the model is not identified: {md.npar} free parameters for "
            f"{p * (p - 1) // 2} polychoric correlations (df = {df}); a single factor "
            f"needs at least 3 items"
        )
    cd = _code(data, items)
    n = int(cd.codes.shape[0])
    nth = int(sum(t.size for t in cd.th))
    need = max(md.npar + nth, 3 * p)
    if n < need:
        raise AnalysisError(
            f"too few complete rows for WLSMV: {n}; this model has {md.npar + nth} free "
            f"parameters (with thresholds) and {p} items, so at least {need} complete rows "
            f"are needed"
        )
    with _sem.single_thread_blas():
        rho, gamma, pwarn, _ = _polychoric_coded(cd, acov=True)
        g_rr = gamma[nth:, nth:]
        dg = np.diag(g_rr)
        if not np.all(np.isfinite(dg)) or np.any(dg <= 0):
            raise AnalysisError(
                "the asymptotic variances of the polychoric correlations are "
                "not all positive; WLSMV weights cannot be formed"
            )
        w = 1.0 / dg
        x, fmin, ok, iters = _dwls_fit(md, rho, w)
        dmat = _jacobian(md, x)
        dw = dmat * w[:, None]
        e_inf = dmat.T @ dw
        try:
            e_inv = linalg.inv(e_inf)
        except linalg.LinAlgError:
            e_inv = np.linalg.pinv(e_inf)
        e_inv = (e_inv + e_inv.T) / 2.0
        chisq = max((n - 1) * fmin, 0.0)
        rv = np.array([rho[i, j] for i, j in md.pairs])
        u = np.diag(w) - dw @ e_inv @ dw.T
        if df > 0:
            chisq_s, sf, shift = _scaled_shifted(chisq, df, u, g_rr)
        else:
            chisq_s, sf, shift = chisq, float("nan"), float("nan")
        xb = (n - 1) * float(np.sum(w * rv * rv))
        dfb = len(md.pairs)
        xb_s, sf_b, _ = _scaled_shifted(xb, dfb, np.diag(w), g_rr)
        vcov = e_inv @ (dw.T @ g_rr @ dw) @ e_inv / (n - 1)
    se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    th_se = np.sqrt(np.clip(np.diag(gamma[:nth, :nth]), 0.0, None) / (n - 1))
    lam, phi = _unpack(md, x)
    resid_v = 1.0 - lam**2 * phi[md.assign, md.assign]
    sd_f = np.sqrt(np.clip(np.diag(phi), 0.0, None))
    std = lam * sd_f[md.assign]
    with np.errstate(invalid="ignore", divide="ignore"):
        fcorr_m = phi / np.outer(sd_f, sd_f)

    def zp(est: float, s: float) -> tuple[float, float]:
        if not s > 0:
            return float("nan"), float("nan")
        z = est / s
        return float(z), float(2.0 * stats.norm.sf(abs(z)))

    params: list[dict[str, Any]] = []

    def row(lhs, op, rhs, est, s, std_all):
        z, pv = zp(est, s) if s is not None else (float("nan"), float("nan"))
        params.append(
            {
                "lhs": lhs,
                "op": op,
                "rhs": rhs,
                "est": float(est),
                "se": float(s) if s is not None else 0.0,
                "z": z,
                "pvalue": pv,
                "std_all": float(std_all),
            }
        )

    for f, fac in enumerate(factors):
        for i in np.nonzero(md.assign == f)[0]:
            k = md.lam_par[i]
            row(fac, "=~", items[i], lam[i], se[k] if k >= 0 else None, std[i])
    for i, it in enumerate(items):
        row(it, "~~", it, resid_v[i], None, resid_v[i])
    for a in range(m):
        for b in range(a, m):
            k = md.phi_par[a, b]
            row(factors[a], "~~", factors[b], phi[a, b], se[k], 1.0 if a == b else fcorr_m[a, b])
    pos = 0
    for i, it in enumerate(items):
        for k, t in enumerate(cd.th[i]):
            row(it, "|", f"t{k + 1}", t, th_se[pos], t)
            pos += 1

    # SRMR as lavaan's for categorical data: the correlation residuals averaged over the
    # p(p+1)/2 elements of the matrix (the diagonal residuals are 0; thresholds fit exactly)
    resid = rv - _implied(md, x)
    srmr = float(np.sqrt(np.sum(resid**2) / (p * (p + 1) / 2)))
    cr, ave = {}, {}
    for f, fac in enumerate(factors):
        idx = np.nonzero(md.assign == f)[0]
        lf = lam[idx]
        cr[fac] = float(lf.sum() ** 2 * phi[f, f] / rho[np.ix_(idx, idx)].sum())
        ave[fac] = float(np.mean(lf**2 * phi[f, f]))
    cr_fl = {}  # Fornell & Larcker (1981) from the standardized loadings
    for f, fac in enumerate(factors):
        ls = std[md.assign == f]
        cr_fl[fac] = float(ls.sum() ** 2 / (ls.sum() ** 2 + np.sum(1.0 - ls**2)))
    warns = list(pwarn)
    if not ok:
        warns.append("the DWLS optimizer did not converge; results are not trustworthy")
    for i, it in enumerate(items):
        if resid_v[i] < 0:
            warns.append(
                f"Heywood case: negative residual variance for {it} "
                f"({resid_v[i]:.4g}; standardized loading {std[i]:.4g})"
            )
    ev = np.linalg.eigvalsh(phi)
    if ev[0] <= 0:
        warns.append(
            f"latent covariance matrix is not positive definite (smallest eigenvalue "
            f"{ev[0]:.3g}): a factor variance is negative or a factor correlation is "
            f"at or beyond ±1; the factors may not be distinct"
        )
    pval = float(stats.chi2.sf(chisq, df)) if df > 0 else float("nan")
    p_s = float(stats.chi2.sf(chisq_s, df)) if df > 0 else float("nan")
    values: dict[str, Any] = dict(
        n=n,
        factors=tuple(factors),
        items=tuple(items),
        model={fac: tuple(model[fac]) for fac in factors},
        chisq=float(chisq),
        df=int(df),
        p=pval,
        cfi=_cfi(chisq, df, xb, dfb),
        tli=_tli(chisq, df, xb, dfb),
        rmsea=_rmsea(chisq, df, n - 1),
        rmsea_ci90=_sem.rmsea_ci(chisq, df, n - 1, 1),
        srmr=srmr,
        loglik=float("nan"),
        aic=float("nan"),
        bic=float("nan"),
        npar=int(md.npar + nth),
        baseline_chisq=float(xb),
        baseline_df=int(dfb),
        loadings={it: float(lam[i]) for i, it in enumerate(items)},
        std_loadings={it: float(std[i]) for i, it in enumerate(items)},
        residual_variances={it: float(resid_v[i]) for i, it in enumerate(items)},
        factor_variances={fac: float(phi[f, f]) for f, fac in enumerate(factors)},
        factor_correlations={
            a: {b: float(fcorr_m[i, j]) for j, b in enumerate(factors)}
            for i, a in enumerate(factors)
        },
        composite_reliability=cr,
        ave=ave,
        converged=bool(ok),
        iterations=int(iters),
        warnings=tuple(warns),
        estimator="wlsmv",
        missing="listwise",
        chisq_scaled=chisq_s,
        df_scaled=float(df),
        p_scaled=p_s,
        scaling_factor=sf,
        shift_parameter=shift,
        baseline_chisq_scaled=xb_s,
        cfi_scaled=_cfi(chisq_s, df, xb_s, dfb),
        tli_scaled=_tli(chisq_s, df, xb_s, dfb),
        rmsea_scaled=_rmsea(chisq_s, df, n - 1),
        parameters=tuple(params),
        r2={it: float(1.0 - resid_v[i]) for i, it in enumerate(items)},
        thresholds={it: tuple(map(float, t)) for it, t in zip(items, cd.th, strict=True)},
        modification_indices=tuple(_modification_indices(md, x, rv, w, items, factors, n)),
        # fields of CFAResult's ML/MLR side, filled where they exist
        n_rows=int(len(data)),
        se_type="robust.sem",
        baseline_scaling_factor=sf_b,
        composite_reliability_fl=cr_fl,
        ave_fl=dict(ave),
    )
    cls = OrdinalCFAResult
    kwargs = {}
    for fd in dataclasses.fields(cls):
        if fd.name in values:
            kwargs[fd.name] = values[fd.name]
        elif (
            fd.default is dataclasses.MISSING and fd.default_factory is dataclasses.MISSING
        ):  # a field added to CFAResult
            kwargs[fd.name] = None
    return cls(**kwargs)
