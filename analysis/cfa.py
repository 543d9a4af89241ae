"""Maximum-likelihood confirmatory factor analysis (CFA) that reproduces R's lavaan.

One call fits a correlated-factors measurement model in which every item loads on
exactly one factor, and returns lavaan's fit measures, the standardized solution,
composite reliability and average variance extracted. The estimator is the normal-
theory maximum likelihood of Jöreskog (1969) with lavaan 0.6 conventions (see
:mod:`analysis._sem`), so the numbers match::

    # R
    model <- 'REL =~ REL1 + REL2 + REL3 + REL4
              HON =~ HON1 + HON2 + HON3 + HON4'
    fit <- lavaan::cfa(model, data = d)
    fitMeasures(fit, c("chisq", "df", "pvalue", "cfi", "tli", "rmsea",
                       "rmsea.ci.lower", "rmsea.ci.upper", "srmr", "aic", "bic"))
    standardizedSolution(fit)

    # Python
    from analysis.cfa import cfa
    res = cfa(d, {"REL": ["REL1", "REL2", "REL3", "REL4"],
                  "HON": ["HON1", "HON2", "HON3", "HON4"]})
    res.to_dict()

Only the sufficient statistics (n, means, covariances) are used, so a
:class:`~analysis.moments.Moments` object (e.g. from a SQL aggregate or merged chunks)
gives exactly the same result as the raw data, at a cost that does not depend on n.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import _sem
from analysis._result import Result, fmt, fmt_p
from analysis.moments import Moments

__all__ = ["CFAResult", "cfa"]


@dataclass(frozen=True)
class CFAResult(Result):
    """Result of :func:`cfa`.

    Attributes
    ----------
    n : int
        Number of complete rows used (listwise over the model's items).
    factors, items : tuple of str
        Factors and items in model order.
    model : dict
        Factor id -> tuple of item ids.
    chisq, df, p : float, int, float
        Likelihood-ratio χ² = N·F_ML against the saturated model, its degrees of
        freedom and p-value (``NaN`` when ``df == 0``).
    cfi : float
        Comparative fit index (Bentler 1990) against the independence baseline.
    tli : float
        Tucker-Lewis index (Tucker & Lewis 1973), the non-normed fit index.
    rmsea : float
        Root mean square error of approximation (Steiger 1990),
        ``sqrt(max(χ²/N/df − 1/N, 0))``.
    rmsea_ci90 : tuple of float
        90% confidence interval of the RMSEA from the non-central χ² distribution
        (Browne & Cudeck 1993).
    srmr : float
        Standardized root mean square residual as lavaan's ``srmr`` (``srmr_bentler``):
        covariance residuals divided by the *sample* standard deviations, averaged over
        the p(p+1)/2 non-duplicated elements. Hu & Bentler (1999) suggest CFI/TLI ≥ .95,
        RMSEA ≤ .06 and SRMR ≤ .08 for good fit.
    loglik, aic, bic : float
        Log-likelihood of the model (lavaan's ``logl``; the means are saturated),
        ``AIC = −2 logL + 2·npar`` and ``BIC = −2 logL + npar·log N``.
    npar : int
        Number of free parameters as lavaan counts them: loadings (minus one marker
        per factor), factor variances and covariances, residual variances.
    baseline_chisq, baseline_df : float, int
        χ² and df of the independence (baseline) model used by CFI and TLI.
    loadings : dict
        Item -> unstandardized loading (the marker item of each factor is fixed to 1).
    std_loadings : dict
        Item -> completely standardized loading (lavaan's ``std.all``).
    residual_variances : dict
        Item -> unstandardized residual (unique) variance.
    factor_variances : dict
        Factor -> estimated variance.
    factor_correlations : dict
        Factor -> factor -> correlation (full symmetric matrix, 1 on the diagonal).
    composite_reliability : dict
        Factor -> composite (construct) reliability of Fornell & Larcker (1981),
        ``(Σλ)² / ((Σλ)² + Σ(1 − λ²))`` from the standardized loadings λ.
    ave : dict
        Factor -> average variance extracted (Fornell & Larcker 1981), ``mean(λ²)``.
    converged : bool
        Whether the optimiser reached a stationary point.
    iterations : int
        Fisher-scoring iterations used.
    warnings : tuple of str
        Non-convergence, Heywood cases (negative residual variance or a standardized
        loading beyond ±1) and a non-positive-definite latent covariance matrix.
    """

    n: int
    factors: tuple[str, ...]
    items: tuple[str, ...]
    model: dict[str, tuple[str, ...]]
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
    baseline_chisq: float
    baseline_df: int
    loadings: dict[str, float]
    std_loadings: dict[str, float]
    residual_variances: dict[str, float]
    factor_variances: dict[str, float]
    factor_correlations: dict[str, dict[str, float]]
    composite_reliability: dict[str, float]
    ave: dict[str, float]
    converged: bool
    iterations: int
    warnings: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """Readable text report: fit, loadings, reliability, factor correlations, warnings."""
        f = fmt
        lo, hi = self.rmsea_ci90
        lines = [
            f"Confirmatory factor analysis (ML), n = {self.n}, "
            f"{len(self.factors)} factors, {len(self.items)} items"
            + ("" if self.converged else "  ** NOT CONVERGED **"),
            f"  chi2({self.df}) = {self.chisq:.3f}, p {fmt_p(self.p)}",
            f"  CFI = {f(self.cfi)}, TLI = {f(self.tli)}, "
            f"RMSEA = {f(self.rmsea)} [90% CI {f(lo)}, {f(hi)}], SRMR = {f(self.srmr)}",
            f"  logL = {self.loglik:.3f}, AIC = {self.aic:.3f}, BIC = {self.bic:.3f}, "
            f"free parameters = {self.npar}",
            "",
            f"  {'factor':<10}{'item':<12}{'loading':>9}{'std':>8}",
        ]
        for fac in self.factors:
            for it in self.model[fac]:
                lines.append(f"  {fac:<10}{it:<12}{self.loadings[it]:>9.3f}"
                             f"{f(self.std_loadings[it]):>8}")
        lines += ["", f"  {'factor':<10}{'CR':>8}{'AVE':>8}{'variance':>10}"]
        for fac in self.factors:
            lines.append(f"  {fac:<10}{f(self.composite_reliability[fac]):>8}"
                         f"{f(self.ave[fac]):>8}{f(self.factor_variances[fac]):>10}")
        if len(self.factors) > 1:
            lines += ["", "  factor correlations"]
            lines.append("  " + " " * 10 + "".join(f"{c:>8}" for c in self.factors))
            for a in self.factors:
                lines.append(f"  {a:<10}" + "".join(
                    f"{f(self.factor_correlations[a][b]):>8}" for b in self.factors))
        if self.warnings:
            lines += ["", "  warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def _moments_for(data: pd.DataFrame | Moments, items: Sequence[str]) -> Moments:
    if isinstance(data, Moments):
        missing = [c for c in items if c not in data.columns]
        if missing:
            raise ValueError(f"items not in the moments: {', '.join(map(str, missing))}")
        return data.subset(items)
    if isinstance(data, pd.DataFrame):
        missing = [c for c in items if c not in data.columns]
        if missing:
            raise ValueError(f"items not in the data: {', '.join(map(str, missing))}")
        return Moments.from_frame(data, items)
    raise ValueError(f"data must be a pandas DataFrame or a Moments object, "
                     f"not {type(data).__name__}")


def cfa(data: pd.DataFrame | Moments, model: Mapping[str, Sequence[str]], *,
        estimator: str = "ml") -> CFAResult:
    """Fit a correlated-factors CFA by maximum likelihood, as ``lavaan::cfa(model, data)``.

    ``estimator="wlsmv"`` treats the items as ordered categories instead: polychoric
    correlations and DWLS with the scaled-shifted χ², as ``lavaan::cfa(model, data,
    ordered = TRUE, estimator = "WLSMV")``; see :func:`analysis.ordinal.cfa_wlsmv`
    (needs the raw answers as a DataFrame, not Moments).

    Each factor is measured by its own items (simple structure, no cross-loadings and
    no correlated residuals). Identification is by marker variable: the first item of
    each factor has its loading fixed to 1. Factors are free to correlate. There is
    no mean structure (the means are saturated), as in lavaan's default for a single
    group with complete data.

    Estimation is normal-theory maximum likelihood (Jöreskog 1969): it minimises
    ``F = log|Σ(θ)| + tr(S Σ(θ)⁻¹) − log|S| − p`` where ``S`` is the covariance matrix
    with divisor N, by Fisher scoring with an analytic gradient from one-factor-per-
    block starting values; ``χ² = N·F_min``. Fit measures follow lavaan's
    ``fitMeasures()``: CFI (Bentler 1990) and TLI (Tucker & Lewis 1973) against the
    independence model, RMSEA (Steiger 1990) with its 90% CI (Browne & Cudeck 1993),
    SRMR, log-likelihood, AIC and BIC; see Hu & Bentler (1999) for cut-offs.
    Composite reliability and AVE follow Fornell & Larcker (1981).

    Parameters
    ----------
    data : pandas.DataFrame or Moments
        Item responses (one column per item; the rows complete on all the model's
        items are used, i.e. listwise deletion like R's ``na.omit``), or their
        sufficient statistics. With a :class:`Moments` over more columns, the model's
        items are taken with :meth:`Moments.subset` (rows complete on all of the
        Moments' columns). Reverse-keyed items must already be recoded.
    model : mapping
        Factor id -> sequence of item ids, e.g. ``{"REL": ["REL1", "REL2", "REL3"]}``.
        The R equivalent is the lavaan syntax ``REL =~ REL1 + REL2 + REL3``.

    Returns
    -------
    CFAResult
        Frozen result with ``to_dict()`` and ``summary()``.

    Raises
    ------
    ValueError
        On an invalid model (empty, a factor with fewer than 2 items, an item on two
        factors, negative degrees of freedom), missing columns, too few complete rows
        (fewer than the number of free parameters or fewer than 3 per item), a
        constant item, or a singular (non-positive-definite) sample covariance matrix.

    Notes
    -----
    Non-convergence, Heywood cases and a non-positive-definite latent covariance
    matrix do not raise: they are reported in ``warnings``, as lavaan does.

    References
    ----------
    Bentler, P. M. (1990). Comparative fit indexes in structural models.
    *Psychological Bulletin, 107*, 238-246.
    Browne, M. W., & Cudeck, R. (1993). Alternative ways of assessing model fit. In
    K. A. Bollen & J. S. Long (Eds.), *Testing structural equation models*
    (pp. 136-162). Sage.
    Fornell, C., & Larcker, D. F. (1981). Evaluating structural equation models with
    unobservable variables and measurement error. *Journal of Marketing Research, 18*,
    39-50.
    Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in covariance
    structure analysis. *Structural Equation Modeling, 6*, 1-55.
    Jöreskog, K. G. (1969). A general approach to confirmatory maximum likelihood
    factor analysis. *Psychometrika, 34*, 183-202.
    Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
    *Journal of Statistical Software, 48*(2), 1-36.
    Steiger, J. H. (1990). Structural model evaluation and modification: An interval
    estimation approach. *Multivariate Behavioral Research, 25*, 173-180.
    Tucker, L. R., & Lewis, C. (1973). A reliability coefficient for maximum likelihood
    factor analysis. *Psychometrika, 38*, 1-10.

    Examples
    --------
    >>> res = cfa(df, {"F1": ["a", "b", "c"], "F2": ["d", "e", "f"]})  # doctest: +SKIP
    >>> res.cfi, res.rmsea_ci90, res.std_loadings["b"]                   # doctest: +SKIP
    """
    est_name = str(estimator).lower()
    if est_name == "wlsmv":
        from .ordinal import cfa_wlsmv

        return cfa_wlsmv(data, model)
    if est_name != "ml":
        raise ValueError(f"unknown estimator {estimator!r} (use 'ml' or 'wlsmv')")
    factors, items, assign = _sem.parse_model(model)
    p, m = len(items), len(factors)
    spec = _sem.build_spec(assign, m)
    df = p * (p + 1) // 2 - spec.npar
    if df < 0:
        raise ValueError(
            f"the model is not identified: {spec.npar} free parameters for "
            f"{p * (p + 1) // 2} covariances (df = {df}); a single factor needs at least "
            f"3 items")
    mo = _moments_for(data, items)
    need = max(spec.npar, 3 * p)
    if mo.n < need:
        raise ValueError(
            f"too few complete rows: {mo.n}; this model has {spec.npar} free parameters "
            f"and {p} items, so at least {need} complete rows are needed")
    with _sem.single_thread_blas():
        gs = _sem.group_stats("", mo.n, mo.mean, mo.cov(ddof=0), items)
        x0 = _sem.start_values(spec, [gs], assign)
        est = _sem.estimate(spec, [gs], x0)
        fm = _sem.fit_measures(spec, [gs], est)
    mats = _sem.matrices(spec, est.x, 0)
    std = _sem.standardized_loadings(mats)

    loadings = {it: float(mats.lam[i, assign[i]]) for i, it in enumerate(items)}
    std_loadings = {it: float(std[i, assign[i]]) for i, it in enumerate(items)}
    resid = {it: float(mats.theta[i]) for i, it in enumerate(items)}
    fvar = {fac: float(mats.phi[j, j]) for j, fac in enumerate(factors)}
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.diag(mats.phi))
        corr = mats.phi / np.outer(sd, sd)
    fcorr = {a: {b: float(corr[i, j]) for j, b in enumerate(factors)}
             for i, a in enumerate(factors)}
    cr: dict[str, float] = {}
    ave: dict[str, float] = {}
    for fac in factors:
        lam = np.array([std_loadings[it] for it in model[fac]])
        s = float(np.sum(lam))
        cr[fac] = s**2 / (s**2 + float(np.sum(1.0 - lam**2)))
        ave[fac] = float(np.mean(lam**2))

    warns: list[str] = []
    if not est.converged:
        warns.append(f"the optimizer {est.message}; results are not trustworthy")
    warns += _sem.diagnose(spec, est.x, factors, items)

    return CFAResult(
        n=int(mo.n), factors=tuple(factors), items=tuple(items),
        model={f: tuple(model[f]) for f in factors},
        chisq=fm.chisq, df=fm.df, p=fm.pvalue, cfi=fm.cfi, tli=fm.tli, rmsea=fm.rmsea,
        rmsea_ci90=fm.rmsea_ci90, srmr=fm.srmr, loglik=fm.loglik, aic=fm.aic, bic=fm.bic,
        npar=fm.npar, baseline_chisq=fm.baseline_chisq, baseline_df=fm.baseline_df,
        loadings=loadings, std_loadings=std_loadings, residual_variances=resid,
        factor_variances=fvar, factor_correlations=fcorr, composite_reliability=cr,
        ave=ave, converged=bool(est.converged), iterations=int(est.iterations),
        warnings=tuple(warns),
    )
