"""Is a single index justified? A second-order CFA, omega L1/L2 and omega hierarchical.

An instrument that adds its dimensions into one index (e.g. a Trust Index) claims that
one general construct runs through them. Three pieces of evidence, each reproducing R:

* :func:`second_order_cfa`: a general factor ``G`` over the dimensions (``G =~ dim1 +
  dim2 + ...`` on top of the measurement model), fitted by normal-theory ML with lavaan's
  defaults (marker loadings fixed to 1 at both levels, first-order disturbances
  uncorrelated) and lavaan's fit measures, so ``lavaan::cfa(model2, data)`` gives the same
  χ², CFI, TLI, RMSEA, SRMR, AIC, BIC. With 3 dimensions the second level is just
  identified (the model is equivalent to the correlated-factors model and its extra
  structure is not testable); with fewer it is not identified and is not fitted.
* The model's ``semTools::reliabilityL2(fit, "G")``: omega L1 (the proportion of the
  total-score variance due to ``G``), omega L2 (the proportion of the variance of the
  sum of the dimension factors due to ``G``) and partial omega L1 (as omega L1 with the
  dimension-specific variance removed from the denominator).
* :func:`omega_hierarchical`: ``psych::omega`` (Schmid-Leiman on a minres EFA with
  ``nfactors`` = number of dimensions, oblimin rotation, a one-factor minres fit of the
  factor correlations, items flipped to positive general loadings): omega_h, omega total
  and the explained common variance (ECV).

:func:`single_index` combines them with this stated rule (Reise, Bonifay & Haviland
2013; Rodriguez, Reise & Haviland 2016; Chen 2007): a single index is **supported** when
the second-order model converged to a proper solution, every dimension loads at least
.50 (standardized) on ``G``, its CFI is no more than .010 below the correlated-factors
model's (testable with 4 or more dimensions), and omega_h is at least .70; it is
**weakly supported** when everything holds except that omega_h is between .50 and .70;
otherwise it is **not supported**.

References
----------
Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement
invariance. *Structural Equation Modeling, 14*, 464-504.
Jorgensen, T. D., et al. (2022). semTools: Useful tools for structural equation modeling.
Raykov, T., & Marcoulides, G. A. (2012). Evaluation of validity and reliability for
hierarchical scales using latent variable modeling. *Structural Equation Modeling, 19*,
495-508.
Reise, S. P., Bonifay, W. E., & Haviland, M. G. (2013). Scoring and modeling
psychological measures in the presence of multidimensionality. *Journal of Personality
Assessment, 95*, 129-140.
Rodriguez, A., Reise, S. P., & Haviland, M. G. (2016). Evaluating bifactor models:
calculating and interpreting statistical indices. *Psychological Methods, 21*, 137-150.
Schmid, J., & Leiman, J. M. (1957). The development of hierarchical factor solutions.
*Psychometrika, 22*, 53-61.
Zinbarg, R. E., Revelle, W., Yovel, I., & Li, W. (2005). Cronbach's α, Revelle's β, and
McDonald's ωH. *Psychometrika, 70*, 123-133.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from . import _sem
from ._fa import fit_factors
from ._result import AnalysisError, Result, fmt
from .moments import Moments

__all__ = [
    "HierarchyResult",
    "OmegaResult",
    "SecondOrderResult",
    "omega_hierarchical",
    "second_order_cfa",
    "single_index",
]

#: The rule's thresholds.
MIN_G_LOADING = 0.50
MIN_OMEGA_H = 0.70
WEAK_OMEGA_H = 0.50
MAX_CFI_DROP = 0.010


def _moments(data: pd.DataFrame | Moments, items: Sequence[str]) -> Moments:
    if isinstance(data, Moments):
        absent = [c for c in items if c not in data.columns]
        if absent:
            raise AnalysisError(f"items not in the moments: {', '.join(map(str, absent))}")
        return data.subset(items)
    if isinstance(data, pd.DataFrame):
        absent = [c for c in items if c not in data.columns]
        if absent:
            raise AnalysisError(f"items not in the data: {', '.join(map(str, absent))}")
        return Moments.from_frame(data, items)
    raise AnalysisError(
        f"data must be a pandas DataFrame or a Moments object, not {type(data).__name__}"
    )


# ------------------------------------------------------------------------------------
# second-order CFA
# ------------------------------------------------------------------------------------
class _Model:
    """Σ = Λ Φ Λᵀ + diag(θ), Φ = φ_G γγᵀ + diag(ψ); markers: first item per factor, first γ."""

    def __init__(self, assign: Sequence[int], m: int):
        self.assign = np.asarray(assign)
        self.p, self.m = len(assign), m
        first = [int(np.flatnonzero(self.assign == j)[0]) for j in range(m)]
        self.lam_free = [(i, int(self.assign[i])) for i in range(self.p) if i not in first]
        self.first = first
        nl = len(self.lam_free)
        self.sl_lam = slice(0, nl)
        self.sl_theta = slice(nl, nl + self.p)
        self.sl_gamma = slice(nl + self.p, nl + self.p + m - 1)
        self.i_phig = nl + self.p + m - 1
        self.sl_psi = slice(self.i_phig + 1, self.i_phig + 1 + m)
        self.npar = self.i_phig + 1 + m

    def unpack(self, x: np.ndarray):
        lam = np.zeros((self.p, self.m))
        for j, i in enumerate(self.first):
            lam[i, j] = 1.0
        rows, cols = zip(*self.lam_free, strict=True) if self.lam_free else ((), ())
        lam[list(rows), list(cols)] = x[self.sl_lam]
        theta = x[self.sl_theta]
        gamma = np.concatenate([[1.0], x[self.sl_gamma]])
        phig = x[self.i_phig]
        psi = x[self.sl_psi]
        phi = phig * np.outer(gamma, gamma) + np.diag(psi)
        sigma = lam @ phi @ lam.T + np.diag(theta)
        return lam, theta, gamma, phig, psi, phi, sigma

    def objective(self, x: np.ndarray, s: np.ndarray, logdet_s: float) -> float:
        sigma = self.unpack(x)[-1]
        try:
            c = linalg.cho_factor(sigma, lower=True)
        except (linalg.LinAlgError, ValueError):
            return np.inf
        logdet = 2.0 * float(np.sum(np.log(np.diag(c[0]))))
        return logdet + float(np.trace(linalg.cho_solve(c, s))) - logdet_s - self.p

    def gradient(self, x: np.ndarray, s: np.ndarray) -> np.ndarray:
        lam, theta, gamma, phig, psi, phi, sigma = self.unpack(x)
        try:
            si = linalg.inv(sigma)
        except (linalg.LinAlgError, ValueError):
            return np.zeros(self.npar)
        g = si - si @ s @ si
        g = (g + g.T) / 2.0
        out = np.zeros(self.npar)
        dlam = 2.0 * g @ lam @ phi
        if self.lam_free:
            rows, cols = zip(*self.lam_free, strict=True)
            out[self.sl_lam] = dlam[list(rows), list(cols)]
        out[self.sl_theta] = np.diag(g)
        h = lam.T @ g @ lam
        out[self.sl_gamma] = (2.0 * phig * (h @ gamma))[1:]
        out[self.i_phig] = float(gamma @ h @ gamma)
        out[self.sl_psi] = np.diag(h)
        return out


def _hessian(model: _Model, x: np.ndarray, s: np.ndarray) -> np.ndarray:
    k = x.size
    h = np.zeros((k, k))
    for j in range(k):
        e = 1e-6 * max(1.0, abs(x[j]))
        xp, xm = x.copy(), x.copy()
        xp[j] += e
        xm[j] -= e
        h[:, j] = (model.gradient(xp, s) - model.gradient(xm, s)) / (2 * e)
    return (h + h.T) / 2.0


@dataclass(frozen=True)
class SecondOrderResult(Result):
    """A second-order CFA (see :func:`second_order_cfa`); fit measures as lavaan's."""

    n: int
    general: str
    factors: tuple[str, ...]
    identified: str
    chisq: float
    df: int
    p: float
    cfi: float
    tli: float
    rmsea: float
    rmsea_ci90: tuple[float, float]
    srmr: float
    loglik: float
    aic: float
    bic: float
    npar: int
    std_loadings: dict[str, float]
    second_order_loadings: dict[str, float]
    std_second_order_loadings: dict[str, float]
    disturbances: dict[str, float]
    general_variance: float
    omega_l1: float
    omega_l2: float
    partial_omega_l1: float
    converged: bool
    warnings: tuple[str, ...] = field(default=())
    estimator: str = "ml"  # normal-theory ML on the Pearson covariances
    missing: str = "listwise"

    def summary(self) -> str:
        f = fmt
        lo, hi = self.rmsea_ci90
        lines = [
            f"Second-order CFA (ML): {self.general} over {', '.join(self.factors)}, "
            f"n = {self.n}" + ("" if self.converged else "  ** NOT CONVERGED **"),
            f"  chi2({self.df}) = {self.chisq:.3f}, CFI = {f(self.cfi)}, "
            f"TLI = {f(self.tli)}, RMSEA = {f(self.rmsea)} [{f(lo)}, {f(hi)}], "
            f"SRMR = {f(self.srmr)}",
        ]
        if self.identified != "over-identified":
            lines.append(f"  note: {self.identified}")
        lines.append(
            "  standardized loadings on "
            + self.general
            + ": "
            + ", ".join(f"{k} {f(v)}" for k, v in self.std_second_order_loadings.items())
        )
        lines.append(
            f"  omega L1 = {f(self.omega_l1)}, omega L2 = {f(self.omega_l2)}, "
            f"partial omega L1 = {f(self.partial_omega_l1)} (semTools::reliabilityL2)"
        )
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def second_order_cfa(
    data: pd.DataFrame | Moments, model: Mapping[str, Sequence[str]], *, general: str = "G"
) -> SecondOrderResult:
    """Fit ``G =~ dim1 + dim2 + ...`` over the correlated-factors model, as lavaan.

    R::

        model2 <- paste(model, "G =~ REL + HON + COM + EMP + CON", sep = "\\n")
        fit <- lavaan::cfa(model2, data = d); fitMeasures(fit)
        semTools::reliabilityL2(fit, "G")

    Uses the rows complete on all the model's items (listwise). Raises
    :class:`AnalysisError` for fewer than 3 dimensions (a second-order factor over 2 is
    not identified without constraints), an invalid model or unusable data.
    """
    try:
        factors, items, assign = _sem.parse_model(model)
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    m, p = len(factors), len(items)
    if m < 3:
        raise AnalysisError(
            f"a second-order factor needs at least 3 dimensions (the model has "
            f"{m}); with 2 it is not identified"
        )
    if general in factors or general in items:
        raise AnalysisError(f"the general factor's name {general!r} is already used in the model")
    mo = _moments(data, items)
    spec_model = _Model(assign, m)
    if mo.n < max(spec_model.npar, 3 * p):
        raise AnalysisError(
            f"too few complete rows for the second-order model: {mo.n} "
            f"(need at least {max(spec_model.npar, 3 * p)})"
        )
    with _sem.single_thread_blas():
        try:
            gs = _sem.group_stats("", mo.n, mo.mean, mo.cov(ddof=0), items)
        except ValueError as exc:
            raise AnalysisError(str(exc)) from None
        s, logdet_s = gs.cov, gs.logdet
        # starts: the correlated-factors solution, then one principal-axis factor of Φ
        spec = _sem.build_spec(assign, m)
        est1 = _sem.estimate(spec, [gs], _sem.start_values(spec, [gs], assign))
        mats = _sem.matrices(spec, est1.x, 0)
        gamma0, phig0, psi0 = _phi_start(mats.phi)
        x = np.zeros(spec_model.npar)
        x[spec_model.sl_lam] = [mats.lam[i, j] for i, j in spec_model.lam_free]
        x[spec_model.sl_theta] = np.maximum(mats.theta, 1e-3 * np.diag(s))
        x[spec_model.sl_gamma] = gamma0[1:]
        x[spec_model.i_phig] = phig0
        x[spec_model.sl_psi] = psi0
        x, converged, gmax = _minimise(spec_model, x, s, logdet_s)
        fmin = spec_model.objective(x, s, logdet_s)
    lam, theta, gamma, phig, psi, phi, sigma = spec_model.unpack(x)
    n = int(mo.n)
    df = p * (p + 1) // 2 - spec_model.npar
    x2 = max(n * fmin, 0.0)
    x2b = float(n * (np.sum(np.log(np.diag(s))) - logdet_s))
    dfb = p * (p - 1) // 2
    t1 = max(x2 - df, 0.0)
    t2 = max(x2 - df, x2b - dfb, 0.0)
    cfi = 1.0 if np.isclose(t1, 0.0) and np.isclose(t2, 0.0) else 1.0 - t1 / t2
    if df > 0:
        a, b = x2b / dfb - x2 / df, x2b / dfb - 1.0
        tli = 1.0 if (a < 0 and b < 0) else a / b
        rmsea = float(np.sqrt(max(x2 / n / df - 1.0 / n, 0.0)))
        pval = float(stats.chi2.sf(x2, df))
    else:
        tli, rmsea, pval = 1.0, 0.0, float("nan")
    ci = _sem.rmsea_ci(x2, df, n)
    gm = _sem.GroupMatrices(lam, phi, theta, np.zeros(p), np.zeros(m), sigma, np.zeros(p))
    srmr = _sem.srmr_group(gs, gm, False)
    logl = -n / 2.0 * (p * _sem._LOG_2PI + fmin + logdet_s + p)
    npar = spec_model.npar
    sd_y = np.sqrt(np.diag(sigma))
    with np.errstate(invalid="ignore", divide="ignore"):
        sd_f = np.sqrt(np.diag(phi))
        std1 = {
            it: float(lam[i, assign[i]] * sd_f[assign[i]] / sd_y[i]) for i, it in enumerate(items)
        }
        std2 = {f: float(gamma[j] * np.sqrt(phig) / sd_f[j]) for j, f in enumerate(factors)}
    # semTools::reliabilityL2
    l1load = lam @ gamma
    common_l1 = float(np.sum(l1load)) ** 2 * phig
    error_l1 = float(np.sum(theta))
    unique_l1 = float(sum(np.sum(lam[:, j]) ** 2 * psi[j] for j in range(m)))
    common_l2 = float(np.sum(gamma)) ** 2 * phig
    error_l2 = float(np.sum(psi))
    warns: list[str] = []
    if not converged:
        warns.append(
            f"the second-order model did not converge (max |gradient| = {gmax:.2g}); "
            "results are not trustworthy"
        )
    for i, it in enumerate(items):
        if theta[i] < 0:
            warns.append(f"Heywood case: negative residual variance for {it} ({theta[i]:.4g})")
    for j, f in enumerate(factors):
        if psi[j] < 0:
            warns.append(
                f"Heywood case: negative disturbance variance of {f} under {general} ({psi[j]:.4g})"
            )
        if np.isfinite(std2[f]) and abs(std2[f]) > 1:
            warns.append(f"Heywood case: standardized loading of {f} on {general} is {std2[f]:.4g}")
    if phig < 0:
        warns.append(f"the variance of {general} is negative ({phig:.4g})")
    identified = (
        "over-identified"
        if m >= 4
        else "just identified at the second level: with 3 dimensions the second-order "
        "model is equivalent to the correlated-factors model (same fit), so the "
        "general factor's structure is not testable"
    )
    return SecondOrderResult(
        n=n,
        general=general,
        factors=tuple(factors),
        identified=identified,
        chisq=float(x2),
        df=int(df),
        p=pval,
        cfi=float(cfi),
        tli=float(tli),
        rmsea=rmsea,
        rmsea_ci90=ci,
        srmr=float(srmr),
        loglik=float(logl),
        aic=float(-2 * logl + 2 * npar),
        bic=float(-2 * logl + npar * np.log(n)),
        npar=int(npar),
        std_loadings=std1,
        second_order_loadings={f: float(gamma[j]) for j, f in enumerate(factors)},
        std_second_order_loadings=std2,
        disturbances={f: float(psi[j]) for j, f in enumerate(factors)},
        general_variance=float(phig),
        omega_l1=common_l1 / (common_l1 + unique_l1 + error_l1),
        omega_l2=common_l2 / (common_l2 + error_l2),
        partial_omega_l1=common_l1 / (common_l1 + error_l1),
        converged=bool(converged),
        warnings=tuple(warns),
    )


def _phi_start(phi: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Starting γ (first = 1), φ_G and ψ from one principal factor of the factor correlations.

    Works from any first-order solution, even an improper one (negative factor variances or
    correlations beyond ±1 are clipped).
    """
    d = np.sqrt(np.maximum(np.diag(phi), 1e-4))
    r = np.clip(phi / np.outer(d, d), -0.95, 0.95)
    np.fill_diagonal(r, 1.0)
    w, v = np.linalg.eigh(r)
    load = np.clip(v[:, -1] * np.sqrt(max(w[-1], 1e-6)), -0.95, 0.95)
    if load[0] < 0:
        load = -load
    if abs(load[0]) < 0.05:  # keep the marker away from 0
        load[0] = 0.05
    raw = load * d
    return raw / raw[0], float(raw[0] ** 2), np.maximum(d**2 * (1.0 - load**2), 1e-4)


def _minimise(
    model: _Model, x: np.ndarray, s: np.ndarray, logdet_s: float
) -> tuple[np.ndarray, bool, float]:
    """BFGS on the analytic gradient, then Newton steps on a numerical Hessian."""

    def f(z):
        return model.objective(z, s, logdet_s)

    if not np.isfinite(f(x)):
        raise AnalysisError(
            "the second-order model's starting values give a "
            "non-positive-definite implied covariance matrix"
        )
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        res = optimize.minimize(
            f,
            x,
            jac=lambda z: model.gradient(z, s),
            method="BFGS",
            options={"gtol": 1e-9, "maxiter": 10000},
        )
    if np.isfinite(res.fun) and res.fun <= f(x):
        x = res.x
    fx = f(x)
    for _ in range(20):
        g = model.gradient(x, s)
        if np.max(np.abs(g)) < 1e-10:
            break
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", linalg.LinAlgWarning)
                step = linalg.solve(_hessian(model, x, s), g, assume_a="sym")
        except (linalg.LinAlgError, linalg.LinAlgWarning, ValueError):
            break  # singular Hessian (e.g. an empirically unidentified model)
        t = 1.0
        while t > 1e-8:
            xn = x - t * step
            fn = f(xn)
            if np.isfinite(fn) and fn <= fx + 1e-14:
                break
            t *= 0.5
        else:
            break
        x, fx = xn, fn
    gmax = float(np.max(np.abs(model.gradient(x, s))))
    return x, gmax < 1e-6, gmax


# ------------------------------------------------------------------------------------
# omega hierarchical (psych::omega)
# ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OmegaResult(Result):
    """``psych::omega`` on the Pearson correlations (see :func:`omega_hierarchical`)."""

    n: int
    nfactors: int
    omega_h: float
    omega_total: float
    omega_limit: float
    ecv: float
    alpha: float
    g_loadings: dict[str, float]  # after flipping (psych's ``schmid$sl[, "g"]``)
    flipped: tuple[str, ...]
    method: str
    warnings: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        return (
            f"Omega hierarchical (psych::omega, {self.method}), n = {self.n}: "
            f"omega_h = {fmt(self.omega_h)}, omega total = {fmt(self.omega_total)}, "
            f"ECV = {fmt(self.ecv)}" + "".join(f"\n  warning: {w}" for w in self.warnings)
        )


def omega_hierarchical(
    data: pd.DataFrame | Moments, items: Sequence[str] | None = None, *, nfactors: int = 3
) -> OmegaResult:
    """McDonald's omega hierarchical by Schmid-Leiman, as ``psych::omega(R, nfactors)``.

    A minres EFA of the Pearson correlations with ``nfactors`` factors is rotated by
    oblimin; a one-factor minres fit of the factor correlations gives the general
    loadings of the factors (with 2 factors, psych's ``option = "equal"``: both
    ``sqrt(|r|)``); the items' general loadings are their pattern loadings times those.
    Items whose general loading is negative are flipped, as psych's ``flip = TRUE``. Then
    ``omega_h = (Σ g)² / V``, ``omega_total = (V − Σ u²) / V`` with ``V`` the sum of the
    (flipped) correlation matrix and ``u²`` the minres uniquenesses, and
    ``ECV = Σ g² / (Σ g² + Σ s²)`` with ``s`` the residualised group loadings.
    """
    if items is None:
        items = list(data.columns)
    items = list(items)
    mo = _moments(data, items)
    p = len(items)
    if nfactors < 2:
        raise AnalysisError(
            "omega hierarchical needs at least 2 factors (with 1 it is not "
            "meaningful; use omega total)"
        )
    dof = ((p - nfactors) ** 2 - (p + nfactors)) // 2
    if dof < 0:
        raise AnalysisError(
            f"{p} items are too few for a {nfactors}-factor EFA (its degrees of "
            f"freedom would be {dof}); omega hierarchical is not identified"
        )
    if mo.n <= p:
        raise AnalysisError(
            f"too few complete rows ({mo.n}) for {p} items: the correlation "
            "matrix needs more rows than items"
        )
    try:
        r = mo.corr()
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    warns: list[str] = []
    loadings, uniq, phi = fit_factors(r, nfactors, "minres", "oblimin")
    if nfactors > 2:
        gl, _, _ = fit_factors(phi, 1, "minres", None)
        gload = gl[:, 0]
    else:
        r12 = phi[0, 1]
        gload = np.array([np.sqrt(abs(r12)), np.sign(r12) * np.sqrt(abs(r12))])
        warns.append(
            "with 2 factors the general factor is not identified: both factors' "
            "general loadings are set equal (psych's option = 'equal')"
        )
    g = loadings @ gload
    if g.sum() < 0:  # the overall sign is arbitrary: flip only items against the majority
        g = -g
    key = np.where(g < 0, -1.0, 1.0)
    rf = r * np.outer(key, key)
    g = g * key
    vt = float(rf.sum())
    gsq = float(g.sum()) ** 2
    u = float(np.sum(uniq))
    uniq2 = np.clip(loadings**2 * (1.0 - gload[None, :] ** 2), 0.0, None)
    ecv = float(np.sum(g**2) / (np.sum(g**2) + np.sum(uniq2)))
    if np.any(uniq < 0):
        warns.append("Heywood case in the EFA (a communality above 1): omega is not interpretable")
    return OmegaResult(
        n=int(mo.n),
        nfactors=int(nfactors),
        omega_h=gsq / vt,
        omega_total=(vt - u) / vt,
        omega_limit=gsq / (vt - u),
        ecv=ecv,
        alpha=(vt - float(np.trace(rf))) / vt * p / (p - 1),
        g_loadings={it: float(g[i]) for i, it in enumerate(items)},
        flipped=tuple(it for i, it in enumerate(items) if key[i] < 0),
        method=f"Schmid-Leiman, minres, oblimin, {nfactors} factors, Pearson correlations",
        warnings=tuple(warns),
    )


# ------------------------------------------------------------------------------------
# the verdict
# ------------------------------------------------------------------------------------
RULE = (
    "a single index is supported when the second-order model converged to a proper "
    "solution, every dimension loads at least .50 (standardized) on the general factor, "
    "the second-order model's CFI is no more than .010 below the correlated-factors "
    "model's (Chen 2007; testable with 4 or more dimensions) and omega hierarchical is "
    "at least .70 (Reise, Bonifay & Haviland 2013); weakly supported when only omega "
    "hierarchical falls short, between .50 and .70; otherwise not supported"
)


@dataclass(frozen=True)
class HierarchyResult(Result):
    """The evidence for one index over the dimensions, and the decision (see :data:`RULE`)."""

    index_name: str
    decision: str  # "supported", "weakly supported", "not supported", "not evaluated"
    reasons: tuple[str, ...]
    rule: str
    second_order: SecondOrderResult | None
    omega: OmegaResult | None
    correlated_cfi: float | None
    errors: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        head = {
            "supported": f"A single {self.index_name} is supported",
            "weakly supported": f"A single {self.index_name} is only weakly supported",
            "not supported": f"A single {self.index_name} is not supported",
            "not evaluated": f"Whether a single {self.index_name} is justified was not evaluated",
        }[self.decision]
        return head + ": " + "; ".join(self.reasons) + "."

    def summary(self) -> str:
        parts = [f"Single index ({self.index_name}): {self.decision}", f"  rule: {self.rule}"]
        parts += [f"  - {r}" for r in self.reasons]
        for x in (self.second_order, self.omega):
            if x is not None:
                parts.append(x.summary())
        parts += [f"  error: {e}" for e in self.errors]
        return "\n".join(parts)


def single_index(
    data: pd.DataFrame | Moments,
    model: Mapping[str, Sequence[str]],
    *,
    cfa_result: Any = None,
    index_name: str = "index",
) -> HierarchyResult:
    """Fit the second-order model and psych's omega, and decide by :data:`RULE`.

    ``cfa_result`` (the correlated-factors :func:`analysis.cfa.cfa` of the same data) gives
    the CFI the second-order model is compared with when it is an ML (or MLR) fit on the
    same complete rows; otherwise (no result, WLSMV, FIML, other rows) the correlated-factors
    model is refitted here by ML, listwise, so that both CFIs are comparable. Everything
    here is normal-theory ML / Pearson on the rows complete on all the model's items,
    whatever estimator the main CFA used.
    """
    m = len(model)
    items = [it for f in model for it in model[f]]
    errors: list[str] = []
    if m < 3:
        return HierarchyResult(
            index_name,
            "not evaluated",
            (f"the instrument has {m} dimension(s); a general factor over them needs at least 3",),
            RULE,
            None,
            None,
            None,
        )
    so: SecondOrderResult | None = None
    om: OmegaResult | None = None
    try:
        so = second_order_cfa(data, model)
    except ValueError as exc:  # AnalysisError, or a numerical failure
        errors.append(f"second-order model not fitted: {exc}")
    try:
        om = omega_hierarchical(data, items, nfactors=m)
    except ValueError as exc:  # AnalysisError, or a numerical failure
        errors.append(f"omega hierarchical not computed: {exc}")
    # compare like with like: normal-theory ML on the same complete rows
    cfi1 = None
    if (
        so is not None
        and hasattr(cfa_result, "cfi")
        and getattr(cfa_result, "estimator", "ml") in ("ml", "mlr")
        and getattr(cfa_result, "missing", "listwise") == "listwise"
        and getattr(cfa_result, "n", None) == so.n
    ):
        cfi1 = cfa_result.cfi
    if cfi1 is None and so is not None:
        from .cfa import cfa as _cfa

        try:
            cfi1 = _cfa(data, model).cfi
        except ValueError:
            cfi1 = None
    if so is None or om is None:
        return HierarchyResult(
            index_name, "not evaluated", tuple(errors), RULE, so, om, cfi1, tuple(errors)
        )
    reasons: list[str] = []
    ok = True
    if not so.converged or so.warnings:
        ok = False
        reasons.append(
            "the second-order solution is improper or did not converge ("
            + "; ".join(so.warnings)
            + ")"
        )
    low = {f: v for f, v in so.std_second_order_loadings.items() if not v >= MIN_G_LOADING}
    if low:
        ok = False
        reasons.append(
            "standardized loadings on the general factor below .50: "
            + ", ".join(f"{f} {fmt(v, 2)}" for f, v in low.items())
        )
    else:
        reasons.append(
            "every dimension loads at least .50 on the general factor ("
            + ", ".join(f"{fmt(v, 2)}" for v in so.std_second_order_loadings.values())
            + ")"
        )
    if so.df > 0 and m >= 4 and cfi1 is not None:
        drop = so.cfi - cfi1
        if drop < -MAX_CFI_DROP:
            ok = False
            reasons.append(
                f"the second-order model fits worse than the correlated-factors "
                f"model (CFI {fmt(so.cfi)} vs {fmt(cfi1)}, change {drop:+.3f})"
            )
        else:
            reasons.append(
                f"the second-order model fits about as well as the correlated-"
                f"factors model (CFI {fmt(so.cfi)} vs {fmt(cfi1)})"
            )
    elif m == 3:
        reasons.append(
            "with 3 dimensions the second-order model is just identified at the "
            "second level (same fit as the correlated-factors model): its fit "
            "cannot support or contradict a general factor"
        )
    reasons.append(
        f"omega hierarchical = {fmt(om.omega_h, 2)} (omega total "
        f"{fmt(om.omega_total, 2)}, ECV {fmt(om.ecv, 2)}); omega L1 = "
        f"{fmt(so.omega_l1, 2)}, omega L2 = {fmt(so.omega_l2, 2)}"
    )
    if ok and om.omega_h >= MIN_OMEGA_H:
        decision = "supported"
    elif ok and om.omega_h >= WEAK_OMEGA_H:
        decision = "weakly supported"
        reasons.append(
            "omega hierarchical is below .70: the general factor explains only "
            "part of the index's variance"
        )
    else:
        decision = "not supported"
        if om.omega_h < WEAK_OMEGA_H:
            reasons.append(
                "omega hierarchical is below .50: less than half of the index's "
                "variance reflects one general factor"
            )
    return HierarchyResult(index_name, decision, tuple(reasons), RULE, so, om, cfi1, tuple(errors))
