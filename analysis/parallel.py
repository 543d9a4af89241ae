"""Horn's parallel analysis as ``psych::fa.parallel``: factor and component solutions.

The observed eigenvalues are psych's:

* **components**: eigenvalues of the correlation matrix;
* **factors** (``smc=False``, psych's default): eigenvalues of the correlation matrix
  with the communalities of a one-factor minimum-residual (minres) solution on the
  diagonal, i.e. ``fa(r, nfactors = 1, fm = "minres", rotate = "none")$values``; with
  ``smc=True``, squared multiple correlations on the diagonal instead.

The minres fit follows psych's ``fa`` step by step (start ``1 − SMC``, L-BFGS-B on the
sum of squared off-diagonal residuals with psych's gradient, bounds ``[0.005, max(SMC, 1)]``,
``parscale = 0.01``, R's ``optim`` defaults ``factr = 1e7``, ``lmm = 5``), so that the
observed factor eigenvalues agree with R to rounding, not merely to the optimiser's
tolerance.

Random eigenvalues come from correlation matrices of ``n`` independent normal rows
(psych's ``sim = TRUE`` part), each reduced the same way as the observed matrix. Instead
of simulating ``n`` raw rows per iteration (cost O(n k^2)), each random correlation
matrix is drawn directly: the cross-product matrix of ``n`` independent standard-normal
rows is Wishart(n - 1, I), which the Bartlett (1933) decomposition produces from ``k``
chi-square and ``k(k-1)/2`` normal variates, so the cost per draw does not depend on
``n``. psych also resamples the observed columns; its decision (in ``fa = "both"``)
uses the simulated matrices only, so the resampling is not repeated here.

The suggested number of factors (components) is the count of leading observed
eigenvalues above the ``quantile`` (default .95, as psych 2.2.9 always applies
``quant``) of the random ones, R's ``quantile`` type 7.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from ._fa import check_corr
from ._result import AnalysisError, Result, fmt
from .factorability import as_moments, checked_corr
from .moments import Moments

__all__ = [
    "ParallelAnalysisResult",
    "parallel_analysis",
    "random_correlations",
    "minres_one_factor_values",
]

_FA = ("both", "fa", "pc")


@dataclass(frozen=True)
class ParallelAnalysisResult(Result):
    """Observed versus random eigenvalues. See :func:`parallel_analysis`.

    ``n_factors`` is the factor solution's suggestion (``psych``'s ``nfact``; None when
    ``fa="pc"``), ``n_components`` the component solution's (``ncomp``; None when
    ``fa="fa"``). ``observed``/``simulated_*`` are the component eigenvalues, the
    ``*_fa`` ones the factor eigenvalues (empty tuples for a solution not computed).
    ``method`` states in words how the numbers were obtained.
    """

    n_factors: int | None
    n_components: int | None
    kind: str
    method: str
    smc: bool
    observed: tuple[float, ...]
    simulated_mean: tuple[float, ...]
    simulated_quantile: tuple[float, ...]
    observed_fa: tuple[float, ...]
    simulated_mean_fa: tuple[float, ...]
    simulated_quantile_fa: tuple[float, ...]
    quantile: float
    n_iter: int
    seed: int | None
    n: int
    correlations: str

    def summary(self) -> str:
        sug = []
        if self.n_factors is not None:
            sug.append(f"{self.n_factors} factor(s)")
        if self.n_components is not None:
            sug.append(f"{self.n_components} component(s)")
        q = int(round(self.quantile * 100))
        lines = [
            f"Parallel analysis (as psych::fa.parallel): suggests {' and '.join(sug)}",
            f"  {self.method}",
        ]
        show = max((self.n_factors or 0), (self.n_components or 0)) + 2
        show = min(max(show, 3), len(self.observed or self.observed_fa))
        head = "  #  "
        if self.observed:
            head += f" {'PC obs':>8} {'rand q' + str(q):>9}"
        if self.observed_fa:
            head += f" {'FA obs':>8} {'rand q' + str(q):>9}"
        lines.append(head)
        for i in range(show):
            row = f"  {i + 1:<3}"
            if self.observed:
                row += f" {fmt(self.observed[i]):>8} {fmt(self.simulated_quantile[i]):>9}"
            if self.observed_fa:
                row += f" {fmt(self.observed_fa[i]):>8} {fmt(self.simulated_quantile_fa[i]):>9}"
            lines.append(row)
        return "\n".join(lines)


def random_correlations(k: int, n: int, n_iter: int, rng: np.random.Generator) -> np.ndarray:
    """``n_iter`` correlation matrices of ``n`` rows of ``k`` independent normals.

    Draws ``W = A A^T ~ Wishart(n - 1, I_k)`` by the Bartlett decomposition
    (``A`` lower triangular, ``A_ii^2 ~ chi2(n - 1 - i)``, ``A_ij ~ N(0, 1)`` below
    the diagonal) and scales it to a correlation matrix. Shape ``(n_iter, k, k)``.
    """
    df = n - 1
    a = np.zeros((n_iter, k, k))
    il = np.tril_indices(k, -1)
    a[:, il[0], il[1]] = rng.standard_normal((n_iter, len(il[0])))
    idx = np.arange(k)
    a[:, idx, idx] = np.sqrt(rng.chisquare(df - idx, size=(n_iter, k)))
    w = a @ np.swapaxes(a, 1, 2)
    d = np.sqrt(np.einsum("tii->ti", w))
    return w / (d[:, :, None] * d[:, None, :])


def _smc(r: np.ndarray) -> np.ndarray:
    """Squared multiple correlations ``1 − 1/diag(R⁻¹)`` (psych's ``smc``)."""
    return 1.0 - 1.0 / np.einsum("...ii->...i", np.linalg.inv(r))


def _smc_reduce(r: np.ndarray) -> np.ndarray:
    """Correlation matrices with squared multiple correlations on the diagonal."""
    out = r.copy()
    k = r.shape[-1]
    out[..., np.arange(k), np.arange(k)] = _smc(r)
    return out


def _first_loading(psi: np.ndarray, s: np.ndarray) -> np.ndarray:
    m = s.copy()
    m[np.diag_indices_from(m)] -= psi
    w, v = np.linalg.eigh(m)
    return v[:, -1] * np.sqrt(max(w[-1], 0.0))


def minres_one_factor_values(r: np.ndarray) -> np.ndarray:
    """Eigenvalues of ``r`` with one-factor minres communalities on the diagonal.

    psych's ``fa(r, nfactors = 1, fm = "minres", rotate = "none")$values``: uniquenesses
    ``ψ`` minimise the sum of squared below-diagonal residuals of the first principal
    axis of ``r − diag(ψ)``, by L-BFGS-B from ``1 − SMC`` with psych's gradient
    ``diag(λλᵀ + ψ − r)`` and R ``optim``'s settings; the loadings are the first
    eigenvector of ``r − diag(ψ)`` times the square root of its eigenvalue.
    """
    k = r.shape[0]
    sm = _smc(r)
    upper = max(float(sm.max()), 1.0)
    scale = 0.01  # optim's parscale: the optimiser works on ψ / 0.01
    il = np.tril_indices(k, -1)

    def f(z: np.ndarray) -> float:
        lam = _first_loading(z * scale, r)
        res = (r - np.outer(lam, lam))[il]
        return float(res @ res)

    def grad(z: np.ndarray) -> np.ndarray:
        psi = z * scale
        lam = _first_loading(psi, r)
        return (lam**2 + psi - np.diag(r)) * scale

    start = (np.diag(r) - sm) / scale
    res = optimize.minimize(
        f,
        start,
        jac=grad,
        method="L-BFGS-B",
        bounds=[(0.005 / scale, upper / scale)] * k,
        options={"maxcor": 5, "ftol": 1e7 * np.finfo(float).eps, "gtol": 0.0, "maxiter": 100},
    )
    lam = _first_loading(res.x * scale, r)
    red = r.copy()
    red[np.diag_indices_from(red)] = lam**2
    return np.linalg.eigvalsh(red)[::-1]


def _pairwise(data: pd.DataFrame) -> tuple[np.ndarray, int, list[str]]:
    """Pairwise-complete Pearson correlations (R ``cor(x, use = "pairwise")``) and nrow."""
    cols = list(data.columns)
    try:
        x = data.apply(pd.to_numeric, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (ValueError, TypeError):
        raise AnalysisError("parallel analysis needs numeric item columns") from None
    n, k = x.shape
    if k < 3:
        raise AnalysisError(f"parallel analysis needs at least 3 items, got {k}")
    complete = int((~np.isnan(x)).all(axis=1).sum())
    need = max(10, k + 2)
    if complete < need:
        raise AnalysisError(
            f"too few rows complete across the {k} items ({complete}; need at least {need})"
        )
    sd = np.nanstd(x, axis=0)
    const = [c for c, s in zip(cols, sd, strict=True) if not s > 0]
    if const:
        raise AnalysisError(f"constant item(s) {', '.join(map(str, const))}: remove them")
    r = pd.DataFrame(x, columns=cols).corr(min_periods=3).to_numpy()
    if np.isnan(r).any():
        raise AnalysisError(
            "some pairs of items have fewer than 3 rows answered together; "
            "their correlation is undefined"
        )
    check_corr(r, cols)
    return r, n, cols


def parallel_analysis(
    data: pd.DataFrame | Moments,
    *,
    n_iter: int = 20,
    seed: int | None = 0,
    quantile: float = 0.95,
    fa: str = "both",
    smc: bool = False,
    kind: str | None = None,
) -> ParallelAnalysisResult:
    """Horn's (1965) parallel analysis as ``psych::fa.parallel``.

    Parameters
    ----------
    data : DataFrame or Moments
        Item responses. A DataFrame gives pairwise-complete correlations and ``n`` =
        its number of rows, as psych's default ``use = "pairwise"``; :class:`Moments`
        give the correlations of the complete rows they summarise.
    n_iter : int, default 20 (psych's)
        Random correlation matrices drawn.
    seed : int or None, default 0
        Seed of the random draws (the results are reproducible for a given seed).
    quantile : float, default .95
        Observed eigenvalues are compared with this quantile of the random ones.
    fa : {"both", "fa", "pc"}, default "both"
        Factor solution, component solution or both (psych's ``fa``).
    smc : bool, default False
        Factor eigenvalues from the matrix with squared multiple correlations on the
        diagonal (psych's ``SMC = TRUE``) instead of one-factor minres communalities.
    kind : {"pc", "fa"}, optional
        Older spelling of ``fa``.

    Returns
    -------
    ParallelAnalysisResult
        ``n_factors`` (psych's ``nfact``) and ``n_components`` (``ncomp``).

    R: ``psych::fa.parallel(x, fa = "both", fm = "minres", SMC = FALSE, n.iter = 20,
    quant = .95)``. The observed eigenvalues agree with R to rounding; the random ones
    only in distribution (R simulates raw rows and uses its own random numbers).

    References
    ----------
    Horn, J. L. (1965). A rationale and test for the number of factors in factor
    analysis. *Psychometrika*, 30(2), 179-185. https://doi.org/10.1007/BF02289447

    Glorfeld, L. W. (1995). An improvement on Horn's parallel analysis methodology
    for selecting the correct number of factors to retain. *Educational and
    Psychological Measurement*, 55(3), 377-393.

    Revelle, W. (2022). psych: Procedures for psychological, psychometric, and
    personality research (R package version 2.2.9), ``fa.parallel``.
    """
    if kind is not None:
        fa = kind
    if fa not in _FA:
        raise AnalysisError(f"unknown fa {fa!r} (use 'both', 'fa' or 'pc')")
    if isinstance(quantile, bool) or not isinstance(quantile, int | float) or not 0 < quantile < 1:
        raise AnalysisError(f"quantile must be between 0 and 1, got {quantile!r}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int | np.integer) or n_iter < 1:
        raise AnalysisError(f"n_iter must be a positive integer, got {n_iter!r}")
    if isinstance(data, pd.DataFrame):
        r, n, _ = _pairwise(data)
        corr_words = "pairwise-complete Pearson correlations"
    else:
        m = as_moments(data)
        r = checked_corr(m)
        n = m.n
        corr_words = "Pearson correlations of the complete rows"
    k = r.shape[0]
    rng = np.random.default_rng(seed)
    sims = random_correlations(k, n, n_iter, rng)

    def decide(obs: np.ndarray, sim: np.ndarray) -> tuple[int, np.ndarray]:
        q = np.quantile(sim, quantile, axis=0)
        above = obs > q
        return (int(np.argmin(above)) if not above.all() else k), q

    empty: tuple[float, ...] = ()
    n_comp = n_fact = None
    pc = pc_mean = pc_q = fa_obs = fa_mean = fa_q = empty
    if fa in ("both", "pc"):
        obs = np.linalg.eigvalsh(r)[::-1]
        sim = np.linalg.eigvalsh(sims)[:, ::-1]
        n_comp, q = decide(obs, sim)
        pc, pc_mean, pc_q = _tup(obs), _tup(sim.mean(axis=0)), _tup(q)
    if fa in ("both", "fa"):
        if smc:
            obs = np.linalg.eigvalsh(_smc_reduce(r))[::-1]
            sim = np.linalg.eigvalsh(_smc_reduce(sims))[:, ::-1]
        else:
            obs = minres_one_factor_values(r)
            sim = np.array([minres_one_factor_values(s) for s in sims])
        n_fact, q = decide(obs, sim)
        fa_obs, fa_mean, fa_q = _tup(obs), _tup(sim.mean(axis=0)), _tup(q)
    parts = []
    if fa in ("both", "fa"):
        parts.append(
            "factors: eigenvalues with "
            + (
                "squared multiple correlations on the diagonal (SMC)"
                if smc
                else "one-factor minres communalities on the diagonal"
            )
        )
    if fa in ("both", "pc"):
        parts.append("components: eigenvalues of the correlation matrix")
    method = (
        f'Horn\'s parallel analysis as psych::fa.parallel (fa = "{fa}", '
        f"{'SMC' if smc else 'fm = minres'}); {'; '.join(parts)}; {corr_words}, "
        f"n = {n}; compared with the {quantile:g} quantile of the eigenvalues of "
        f"{n_iter} random normal correlation matrices (seed {seed})."
    )
    return ParallelAnalysisResult(
        n_factors=n_fact,
        n_components=n_comp,
        kind=fa,
        method=method,
        smc=bool(smc),
        observed=pc,
        simulated_mean=pc_mean,
        simulated_quantile=pc_q,
        observed_fa=fa_obs,
        simulated_mean_fa=fa_mean,
        simulated_quantile_fa=fa_q,
        quantile=float(quantile),
        n_iter=int(n_iter),
        seed=seed,
        n=int(n),
        correlations=corr_words,
    )


def _tup(a: np.ndarray) -> tuple[float, ...]:
    return tuple(map(float, a))
