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
from typing import Any

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
    estimator: str = "ml"
    missing: str = "listwise"
    n_rows: int | None = None
    se_type: str = "expected"
    chisq_scaled: float = float("nan")
    df_scaled: float = float("nan")
    p_scaled: float = float("nan")
    scaling_factor: float = float("nan")
    baseline_chisq_scaled: float = float("nan")
    baseline_scaling_factor: float = float("nan")
    cfi_scaled: float = float("nan")
    tli_scaled: float = float("nan")
    rmsea_scaled: float = float("nan")
    cfi_robust: float = float("nan")
    tli_robust: float = float("nan")
    rmsea_robust: float = float("nan")
    unrestricted_loglik: float = float("nan")
    parameters: tuple[dict[str, Any], ...] = ()
    r2: dict[str, float] = field(default_factory=dict)
    modification_indices: tuple[dict[str, Any], ...] = ()
    composite_reliability_fl: dict[str, float] = field(default_factory=dict)
    ave_fl: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """Readable text report: fit, loadings, reliability, factor correlations, warnings."""
        f = fmt
        lo, hi = self.rmsea_ci90
        how = "FIML" if self.missing == "fiml" else "listwise"
        lines = [
            f"Confirmatory factor analysis ({str(self.estimator).upper()}, {how}), "
            f"n = {self.n}, {len(self.factors)} factors, {len(self.items)} items"
            + ("" if self.converged else "  ** NOT CONVERGED **"),
            f"  chi2({self.df}) = {self.chisq:.3f}, p {fmt_p(self.p)}"
            + (
                f"; scaled chi2 = {self.chisq_scaled:.3f} (scaling factor "
                f"{f(self.scaling_factor)}), p {fmt_p(self.p_scaled)}"
                if np.isfinite(self.chisq_scaled)
                else ""
            ),
            f"  CFI = {f(self.cfi)}, TLI = {f(self.tli)}, "
            f"RMSEA = {f(self.rmsea)} [90% CI {f(lo)}, {f(hi)}], SRMR = {f(self.srmr)}",
            f"  logL = {self.loglik:.3f}, AIC = {self.aic:.3f}, BIC = {self.bic:.3f}, "
            f"free parameters = {self.npar}",
        ]
        if np.isfinite(self.cfi_scaled):
            lines.append(
                f"  scaled: CFI = {f(self.cfi_scaled)}, TLI = {f(self.tli_scaled)}, "
                f"RMSEA = {f(self.rmsea_scaled)}"
                + (
                    f"; robust: CFI = {f(self.cfi_robust)}, TLI = {f(self.tli_robust)}"
                    f", RMSEA = {f(self.rmsea_robust)}"
                    if np.isfinite(self.cfi_robust)
                    else ""
                )
            )
        lines += [
            "",
            f"  {'factor':<10}{'item':<12}{'loading':>9}{'std':>8}",
        ]
        for fac in self.factors:
            for it in self.model[fac]:
                lines.append(
                    f"  {fac:<10}{it:<12}{self.loadings[it]:>9.3f}{f(self.std_loadings[it]):>8}"
                )
        lines += ["", f"  {'factor':<10}{'CR':>8}{'AVE':>8}{'variance':>10}"]
        for fac in self.factors:
            lines.append(
                f"  {fac:<10}{f(self.composite_reliability[fac]):>8}"
                f"{f(self.ave[fac]):>8}{f(self.factor_variances[fac]):>10}"
            )
        if len(self.factors) > 1:
            lines += ["", "  factor correlations"]
            lines.append("  " + " " * 10 + "".join(f"{c:>8}" for c in self.factors))
            for a in self.factors:
                lines.append(
                    f"  {a:<10}"
                    + "".join(f"{f(self.factor_correlations[a][b]):>8}" for b in self.factors)
                )
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
    raise ValueError(
        f"data must be a pandas DataFrame or a Moments object, not {type(data).__name__}"
    )


def cfa(
    data: pd.DataFrame | Moments,
    model: Mapping[str, Sequence[str]],
    *,
    estimator: str = "ml",
    missing: str = "listwise",
) -> CFAResult:
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
    miss = str(missing).lower()
    if miss == "ml":  # lavaan's name
        miss = "fiml"
    if miss not in ("listwise", "fiml"):
        raise ValueError(f"unknown missing-data method {missing!r} (use 'listwise' or 'fiml')")
    if est_name == "wlsmv":
        if miss != "listwise":
            raise ValueError("estimator 'wlsmv' supports missing='listwise' only")
        from .ordinal import cfa_wlsmv

        return cfa_wlsmv(data, model)
    if est_name not in ("ml", "mlr"):
        raise ValueError(f"unknown estimator {estimator!r} (use 'ml', 'mlr' or 'wlsmv')")
    factors, items, assign = _sem.parse_model(model)
    p, m = len(items), len(factors)
    if (est_name == "mlr" or miss == "fiml") and not isinstance(data, pd.DataFrame):
        raise ValueError(
            f"estimator={est_name!r} with missing={miss!r} needs the raw data "
            "(a DataFrame), not only their moments"
        )
    if miss == "fiml":
        return _cfa_fiml(data, model, factors, items, assign, robust=est_name == "mlr")
    spec = _sem.build_spec(assign, m)
    df = p * (p + 1) // 2 - spec.npar
    if df < 0:
        raise ValueError(
            f"the model is not identified: {spec.npar} free parameters for "
            f"{p * (p + 1) // 2} covariances (df = {df}); a single factor needs at least "
            f"3 items"
        )
    mo = _moments_for(data, items)
    n_rows = len(data) if isinstance(data, pd.DataFrame) else mo.n
    need = max(spec.npar, 3 * p)
    if mo.n < need:
        raise ValueError(
            f"too few complete rows: {mo.n}; this model has {spec.npar} free parameters "
            f"and {p} items, so at least {need} complete rows are needed"
        )
    extra: dict[str, Any] = {}
    with _sem.single_thread_blas():
        cov = mo.cov(ddof=0)
        gs = _sem.group_stats("", mo.n, mo.mean, cov, items)
        x0 = _sem.start_values(spec, [gs], assign)
        est = _sem.estimate(spec, [gs], x0)
        fm = _sem.fit_measures(spec, [gs], est)
        mats = _sem.matrices(spec, est.x, 0)
        _, ds, _ = _sem._derivatives(spec, mats, 0)
        if est_name == "ml":
            # expected information (lavaan's default for complete data): vcov = 2 I⁻¹ / N
            _, info = _sem.gradient_information(spec, [gs], est.x)
            vcov = _safe_inv(info) * 2.0 / mo.n
            se_type = "expected"
        else:
            from . import _robust

            raw = _complete_rows(data, items)
            hess = _robust.numeric_hessian(lambda z: _sem.gradient(spec, [gs], z), est.x)
            rob = _robust.mlr(raw - mo.mean, cov, mats.sigma, ds, hess, fm.df, fm.baseline_df)
            vcov = rob.vcov
            se_type = "robust.huber.white"
            extra = _scaled_measures(
                fm, rob.scaling_factor, rob.baseline_scaling_factor, rob.trace_ugamma, mo.n
            )
        # lavaan's modindices() uses the expected information for ML and MLR alike
        mi = _modification_indices(spec, mats, cov, ds, assign, factors, items, mo.n)
    return _result(
        spec,
        est,
        fm,
        mats,
        vcov,
        cov,
        factors,
        items,
        assign,
        model,
        n=mo.n,
        n_rows=n_rows,
        estimator=est_name,
        missing="listwise",
        se_type=se_type,
        mi=mi,
        extra=extra,
    )


def _safe_inv(a: np.ndarray) -> np.ndarray:
    try:
        out = np.linalg.inv(a)
    except np.linalg.LinAlgError:
        out = np.linalg.pinv(a)
    return (out + out.T) / 2.0


def _complete_rows(data: pd.DataFrame, items: Sequence[str]) -> np.ndarray:
    x = data[list(items)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    return x[~np.isnan(x).any(axis=1)]


def _scaled_measures(
    fm: _sem.FitMeasures, c: float, cb: float, trace_ug: float, n: int
) -> dict[str, Any]:
    """lavaan's scaled and robust fit measures from the scaling factors (one group)."""
    from scipy import stats

    x2, df, x2b, dfb = fm.chisq, fm.df, fm.baseline_chisq, fm.baseline_df
    x2s, x2bs = x2 / c, x2b / cb

    def cfi(t, d, tb, db, ch=1.0, chb=1.0):
        t1 = max(t - ch * d, 0.0)
        t2 = max(t - ch * d, tb - chb * db, 0.0)
        return 1.0 if np.isclose(t1, 0) and np.isclose(t2, 0) else 1.0 - t1 / t2

    def tli(t, d, tb, db, ch=1.0, chb=1.0):
        t1 = (t - ch * d) * db
        t2 = (tb - chb * db) * d
        return 1.0 - t1 / t2 if d > 0 and abs(t2) > 0 else 1.0

    def rmsea(t, d, ch=1.0):
        return float(np.sqrt(max(t / n / d - ch / n, 0.0))) if d > 0 else 0.0

    return dict(
        chisq_scaled=x2s,
        df_scaled=float(df),
        p_scaled=float(stats.chi2.sf(x2s, df)) if df > 0 else float("nan"),
        scaling_factor=c,
        baseline_chisq_scaled=x2bs,
        baseline_scaling_factor=cb,
        cfi_scaled=cfi(x2s, df, x2bs, dfb),
        tli_scaled=tli(x2s, df, x2bs, dfb),
        rmsea_scaled=rmsea(x2, trace_ug) if trace_ug > 0 else float("nan"),
        cfi_robust=cfi(x2, df, x2b, dfb, c, cb),
        tli_robust=tli(x2, df, x2b, dfb, c, cb),
        rmsea_robust=rmsea(x2, df, c),
    )


def _param_rows(
    spec: _sem.Spec,
    mats: _sem.GroupMatrices,
    vcov: np.ndarray,
    x: np.ndarray,
    factors: Sequence[str],
    items: Sequence[str],
    assign: Sequence[int],
) -> tuple[dict[str, Any], ...]:
    """lavaan's parameterEstimates(standardized = TRUE) rows for =~ and ~~."""
    from scipy import stats

    se_all = np.sqrt(np.maximum(np.diag(vcov), 0.0))
    sd_y = np.sqrt(np.diag(mats.sigma))
    sd_f = np.sqrt(np.maximum(np.diag(mats.phi), 0.0))

    def row(lhs, op, rhs, idx, est, std):
        if idx < 0:
            se, z, pv = 0.0, float("nan"), float("nan")
        else:
            se = float(se_all[idx])
            z = float(est / se) if se > 0 else float("nan")
            pv = float(2.0 * stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan")
        return {
            "lhs": lhs,
            "op": op,
            "rhs": rhs,
            "est": float(est),
            "se": se,
            "z": z,
            "pvalue": pv,
            "std_all": float(std),
        }

    rows = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, it in enumerate(items):
            f = assign[i]
            lam = mats.lam[i, f]
            rows.append(
                row(factors[f], "=~", it, int(spec.lam_idx[0, i, f]), lam, lam * sd_f[f] / sd_y[i])
            )
        for i, it in enumerate(items):
            rows.append(
                row(
                    it,
                    "~~",
                    it,
                    int(spec.theta_idx[0, i]),
                    mats.theta[i],
                    mats.theta[i] / sd_y[i] ** 2,
                )
            )
        for a, fa in enumerate(factors):
            rows.append(row(fa, "~~", fa, int(spec.phi_idx[0, a, a]), mats.phi[a, a], 1.0))
        for a, fa in enumerate(factors):
            for b in range(a + 1, len(factors)):
                rows.append(
                    row(
                        fa,
                        "~~",
                        factors[b],
                        int(spec.phi_idx[0, a, b]),
                        mats.phi[a, b],
                        mats.phi[a, b] / (sd_f[a] * sd_f[b]),
                    )
                )
    return tuple(rows)


def _candidates(mats, assign, factors, items):
    """Cross-loadings and residual covariances that could be freed, with their ∂Σ."""
    p = len(items)
    a_mat = mats.lam @ mats.phi
    cands: list[tuple[str, str, str]] = []
    dsc = []
    for f, fac in enumerate(factors):
        for i, it in enumerate(items):
            if assign[i] == f:
                continue
            d = np.zeros((p, p))
            d[i, :] += a_mat[:, f]
            d[:, i] += a_mat[:, f]
            cands.append((fac, "=~", it))
            dsc.append(d)
    for i in range(p):
        for j in range(i + 1, p):
            d = np.zeros((p, p))
            d[i, j] = d[j, i] = 1.0
            cands.append((items[i], "~~", items[j]))
            dsc.append(d)
    return cands, np.array(dsc).reshape(len(cands), p, p)


def _mi_rows(cands, score, info, k_free) -> tuple[dict[str, Any], ...]:
    """Univariate score tests from the score and the total information over free + candidate
    parameters: ``mi = s²/v``, ``epc = s/v``, ``v = I_cc − I_c1 I_11⁻¹ I_1c``."""
    i11 = info[:k_free, :k_free]
    i21 = info[k_free:, :k_free]
    v = np.diag(info)[k_free:] - np.einsum("kj,kj->k", i21 @ _safe_inv(i11), i21)
    sc = score[k_free:]
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for (lhs, op, rhs), sk, vk in zip(cands, sc, v, strict=True):
            ok = vk > 1e-12 * max(1.0, abs(info[0, 0]))
            out.append(
                {
                    "lhs": lhs,
                    "op": op,
                    "rhs": rhs,
                    "mi": float(sk**2 / vk) if ok else float("nan"),
                    "epc": float(sk / vk) if ok else float("nan"),
                }
            )
    out.sort(key=lambda r: -(r["mi"] if np.isfinite(r["mi"]) else -1.0))
    return tuple(out)


def _modification_indices_fiml(pats, mats, ds, dm, assign, factors, items):
    """lavaan's ``modindices(fit)`` after FIML: the score of the observed-data log-likelihood
    and lavaan's expected information for incomplete data (each pattern's normal-theory
    information of its observed items at the implied moments, weighted by its rows)."""
    from . import _fiml

    p = len(items)
    cands, dsc = _candidates(mats, assign, factors, items)
    if not cands:
        return ()
    ds_all = np.concatenate([ds, dsc])
    dm_all = np.concatenate([dm, np.zeros((len(cands), p))])
    g_s, g_m = _fiml.gradient(pats, mats.mu, mats.sigma)
    score = np.einsum("kij,ij->k", ds_all, g_s) + dm_all @ g_m
    w_vec = np.zeros((p * p, p * p))
    w_mu = np.zeros((p, p))
    for b in pats.blocks:
        si, _ = _fiml._block_inv(b, mats.sigma, logdet=False)
        q = b.obs.shape[1]
        vidx = (b.obs[:, :, None] * p + b.obs[:, None, :]).reshape(len(b.n), q * q)
        w_mu += _fiml._scatter(p, b.obs, b.n[:, None, None] * si)
        step = max(1, int(4e6 // (q * q) ** 2))  # chunks bound the Kronecker products
        for s0 in range(0, len(b.n), step):
            sl = slice(s0, s0 + step)
            kr = (
                0.5
                * b.n[sl, None, None]
                * np.einsum("pij,pkl->pikjl", si[sl], si[sl]).reshape(-1, q * q, q * q)
            )
            idx = vidx[sl][:, :, None] * (p * p) + vidx[sl][:, None, :]
            w_vec += np.bincount(idx.ravel(), weights=kr.ravel(), minlength=(p * p) ** 2).reshape(
                p * p, p * p
            )
    jv = ds_all.reshape(len(ds_all), p * p)
    info = jv @ w_vec @ jv.T + dm_all @ w_mu @ dm_all.T
    return _mi_rows(cands, score, (info + info.T) / 2.0, ds.shape[0])


def _modification_indices(spec, mats, cov, ds, assign, factors, items, n):
    """lavaan's ``modindices(fit)`` for cross-loadings and residual covariances (expected
    information, complete data), sorted largest first: ``mi = N g² / v``, ``epc = −g/v``
    with ``g`` the derivative of lavaan's ``F/2`` for the added parameter and ``v`` its
    information conditional on the free parameters (Sörbom 1989)."""
    cands, dsc = _candidates(mats, assign, factors, items)
    if not cands:
        return ()
    si = np.linalg.inv(mats.sigma)
    si = (si + si.T) / 2.0
    mres = si - si @ cov @ si
    g = 0.5 * np.einsum("kij,ij->k", dsc, mres)
    bf = np.matmul(si, ds).reshape(ds.shape[0], -1)
    bft = np.matmul(si, ds).transpose(0, 2, 1).reshape(ds.shape[0], -1)
    bc = np.matmul(si, dsc)
    bcf = bc.reshape(len(cands), -1)
    bct = bc.transpose(0, 2, 1).reshape(len(cands), -1)
    i11 = 0.5 * bf @ bft.T
    i21 = 0.5 * bcf @ bft.T
    i22 = 0.5 * np.einsum("kj,kj->k", bcf, bct)
    v = i22 - np.einsum("kj,kj->k", i21 @ _safe_inv(i11), i21)
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for (lhs, op, rhs), gk, vk in zip(cands, g, v, strict=True):
            mi = n * gk**2 / vk if vk > 1e-12 else float("nan")
            epc = -gk / vk if vk > 1e-12 else float("nan")
            out.append({"lhs": lhs, "op": op, "rhs": rhs, "mi": float(mi), "epc": float(epc)})
    out.sort(key=lambda r: -(r["mi"] if np.isfinite(r["mi"]) else -1.0))
    return tuple(out)


def _result(
    spec,
    est,
    fm,
    mats,
    vcov,
    cov,
    factors,
    items,
    assign,
    model,
    *,
    n,
    n_rows,
    estimator,
    missing,
    se_type,
    mi,
    extra,
    unrestricted_loglik=None,
) -> CFAResult:
    std = _sem.standardized_loadings(mats)
    loadings = {it: float(mats.lam[i, assign[i]]) for i, it in enumerate(items)}
    std_loadings = {it: float(std[i, assign[i]]) for i, it in enumerate(items)}
    resid = {it: float(mats.theta[i]) for i, it in enumerate(items)}
    fvar = {fac: float(mats.phi[j, j]) for j, fac in enumerate(factors)}
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.diag(mats.phi))
        corr = mats.phi / np.outer(sd, sd)
    fcorr = {
        a: {b: float(corr[i, j]) for j, b in enumerate(factors)} for i, a in enumerate(factors)
    }
    # semTools 0.5-6: compRelSEM = (Σλ)²φ / 1ᵀS1 and AVE = Σλ²φ / tr(S) over the factor's
    # items, S the sample covariance (divisor N; the EM estimate with FIML)
    cr: dict[str, float] = {}
    ave: dict[str, float] = {}
    cr_fl: dict[str, float] = {}
    ave_fl: dict[str, float] = {}
    for f, fac in enumerate(factors):
        idx = [i for i in range(len(items)) if assign[i] == f]
        lam = mats.lam[idx, f]
        phi = mats.phi[f, f]
        block = cov[np.ix_(idx, idx)]
        cr[fac] = float(np.sum(lam) ** 2 * phi / np.sum(block))
        ave[fac] = float(np.sum(lam**2) * phi / np.trace(block))
        lstd = np.array([std_loadings[items[i]] for i in idx])
        s = float(np.sum(lstd))
        cr_fl[fac] = s**2 / (s**2 + float(np.sum(1.0 - lstd**2)))
        ave_fl[fac] = float(np.mean(lstd**2))
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = {it: float(1.0 - mats.theta[i] / mats.sigma[i, i]) for i, it in enumerate(items)}

    warns: list[str] = []
    if not est.converged:
        warns.append(f"the optimizer {est.message}; results are not trustworthy")
    warns += _sem.diagnose(spec, est.x, factors, items)
    if warns:
        warns.append(
            "composite reliability and AVE come from an improper or unconverged "
            "solution: do not interpret them"
        )
    return CFAResult(
        n=int(n),
        factors=tuple(factors),
        items=tuple(items),
        model={f: tuple(model[f]) for f in factors},
        chisq=fm.chisq,
        df=fm.df,
        p=fm.pvalue,
        cfi=fm.cfi,
        tli=fm.tli,
        rmsea=fm.rmsea,
        rmsea_ci90=fm.rmsea_ci90,
        srmr=fm.srmr,
        loglik=fm.loglik,
        aic=fm.aic,
        bic=fm.bic,
        npar=fm.npar,
        baseline_chisq=fm.baseline_chisq,
        baseline_df=fm.baseline_df,
        loadings=loadings,
        std_loadings=std_loadings,
        residual_variances=resid,
        factor_variances=fvar,
        factor_correlations=fcorr,
        composite_reliability=cr,
        ave=ave,
        converged=bool(est.converged),
        iterations=int(est.iterations),
        warnings=tuple(warns),
        estimator=estimator,
        missing=missing,
        n_rows=int(n_rows),
        se_type=se_type,
        parameters=_param_rows(spec, mats, vcov, est.x, factors, items, assign),
        r2=r2,
        modification_indices=mi,
        composite_reliability_fl=cr_fl,
        ave_fl=ave_fl,
        unrestricted_loglik=(
            fm.unrestricted_loglik if unrestricted_loglik is None else unrestricted_loglik
        ),
        **extra,
    )


def _fiml_corrected(
    spec, mats, gs, ds, dm, n, df, dfb, wm, wmi, jm, jsat, mub, sb, robust
) -> dict[str, float]:
    """lavaan's robust CFI, TLI and RMSEA after FIML (``lav_fit_fiml_corrected``; Zhang &
    Savalei's FIML-corrected statistics, version V3 with MLR and V6 with ML).

    The model's estimates are compared with the EM (saturated) moments as if those were
    complete-data moments (``XX3 = N F_ML``), and the correction ``k`` combines the
    observed-data h1 information ``Wm``, its first-order version ``Jm``, the complete-data
    information ``Wc`` at the EM moments and ``U = Wm − Wm Δ (ΔᵀWmΔ)⁻¹ Δᵀ Wm``:
    ``k = tr(Wc Wm⁻¹ U Wm⁻¹)`` (V6) or ``tr(U Wm⁻¹ Wc Wm⁻¹ U Γ)``, ``Γ = Wm⁻¹ Jm Wm⁻¹`` (V3);
    ``ĉ = k/df``. The same for the independence model gives ``ĉ_0``.
    """
    p = spec.p
    li, lj = np.tril_indices(p)
    si = _safe_inv(gs.cov)
    wc_full = np.zeros((p + p * p, p + p * p))
    wc_full[:p, :p] = si
    wc_full[p:, p:] = 0.5 * np.einsum("ac,bd->abcd", si, si).reshape(p * p, p * p)
    wc = jsat.T @ wc_full @ jsat
    gamma = wmi @ jm @ wmi

    def k_hat(delta):
        u = wm - wm @ delta @ _safe_inv(delta.T @ wm @ delta) @ delta.T @ wm
        if robust:
            return float(np.trace(u @ wmi @ wc @ wmi @ u @ gamma))
        return float(np.trace(wc @ wmi @ u @ wmi))

    delta = np.concatenate([dm.T, ds[:, li, lj].T])
    xx3 = n * _sem._group_f(spec, gs, mats)
    c3 = k_hat(delta) / df if df > 0 else float("nan")
    delta_b = np.zeros((p + li.size, 2 * p))
    delta_b[np.arange(p), np.arange(p)] = 1.0
    diag_pos = p + np.flatnonzero(li == lj)
    delta_b[diag_pos, p + li[li == lj]] = 1.0
    fb = (
        float(np.sum(np.log(sb)))
        + float(np.sum(np.diag(gs.cov) / sb))
        - gs.logdet
        - p
        + float(np.sum((gs.mean - mub) ** 2 / sb))
    )
    xx3b = n * fb
    c3b = k_hat(delta_b) / dfb if dfb > 0 else float("nan")

    def cfi(t, d, tb, db, ch, chb):
        t1 = max(t - ch * d, 0.0)
        t2 = max(t - ch * d, tb - chb * db, 0.0)
        return 1.0 if np.isclose(t1, 0) and np.isclose(t2, 0) else 1.0 - t1 / t2

    t1, t2 = (xx3 - c3 * df) * dfb, (xx3b - c3b * dfb) * df
    return {
        "cfi_robust": cfi(xx3, df, xx3b, dfb, c3, c3b),
        "tli_robust": 1.0 - t1 / t2 if df > 0 and abs(t2) > 0 else 1.0,
        "rmsea_robust": (float(np.sqrt(max(xx3 / n / df - c3 / n, 0.0))) if df > 0 else 0.0),
    }


def _cfa_fiml(data: pd.DataFrame, model, factors, items, assign, *, robust: bool) -> CFAResult:
    """FIML (lavaan ``missing = "ml"``), with ML (observed-information SEs) or MLR."""
    from scipy import optimize, stats

    from . import _fiml, _robust

    absent = [c for c in items if c not in data.columns]
    if absent:
        raise ValueError(f"items not in the data: {', '.join(map(str, absent))}")
    p, m = len(items), len(factors)
    spec = _sem.build_spec(assign, m, meanstructure=True)
    df = p * (p + 1) // 2 + p - spec.npar
    if df < 0:
        raise ValueError(
            f"the model is not identified (df = {df}); a single factor needs at least 3 items"
        )
    x = data[list(items)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    pats = _fiml.patterns(x)
    n = pats.nobs
    need = max(spec.npar, 3 * p)
    if n < need:
        raise ValueError(
            f"too few rows with any answer: {n}; this model has {spec.npar} "
            f"free parameters and {p} items, so at least {need} are needed"
        )
    for j, it in enumerate(items):
        col = x[:, j][~np.isnan(x[:, j])]
        if col.size < 2 or np.ptp(col) == 0:
            raise ValueError(
                f"item {it} is constant or has fewer than 2 numeric answers ({col.size} answered)"
            )
    with _sem.single_thread_blas():
        mu1, sig1, ll1, em_ok = _fiml.em(pats, p)
        gs = _sem.group_stats("", n, mu1, sig1, items)

        def f_obj(z):
            mt = _sem.matrices(spec, z, 0)
            ll = _fiml.loglik(pats, mt.mu, mt.sigma)
            return -ll / n if np.isfinite(ll) else np.inf

        def f_grad(z):
            mt = _sem.matrices(spec, z, 0)
            try:
                g_s, g_m = _fiml.gradient(pats, mt.mu, mt.sigma)
            except (np.linalg.LinAlgError, ValueError):
                return np.zeros_like(z)
            _, ds_, dm_ = _sem._derivatives(spec, mt, 0)
            return -(np.einsum("kij,ij->k", ds_, g_s) + dm_ @ g_m) / n

        x0 = _sem.start_values(spec, [gs], assign)
        with np.errstate(invalid="ignore", over="ignore"):
            res = optimize.minimize(
                f_obj, x0, jac=f_grad, method="BFGS", options={"gtol": 1e-9, "maxiter": 5000}
            )
        xh = res.x
        hess = _robust.numeric_hessian(f_grad, xh)
        for _ in range(5):  # Newton polish on the numeric Hessian
            step = np.linalg.solve(hess, f_grad(xh))
            xn = xh - step
            if not f_obj(xn) <= f_obj(xh) + 1e-15:
                break
            xh = xn
            if np.max(np.abs(step)) < 1e-10:
                break
        gmax = float(np.max(np.abs(f_grad(xh))))
        ok = gmax < 1e-6 and em_ok
        est = _sem.Estimate(
            xh,
            float(f_obj(xh)),
            ok,
            int(res.nit),
            gmax,
            "converged" if ok else f"did not converge (max |gradient| = {gmax:.2g})",
        )
        mats = _sem.matrices(spec, xh, 0)
        ll0 = -n * est.fmin
        x2 = max(2.0 * (ll1 - ll0), 0.0)
        llb = _fiml.independence_loglik(pats, p)
        x2b = 2.0 * (ll1 - llb)
        dfb = p * (p - 1) // 2
        t1, t2 = max(x2 - df, 0.0), max(x2 - df, x2b - dfb, 0.0)
        cfi = 1.0 if np.isclose(t1, 0.0) and np.isclose(t2, 0.0) else 1.0 - t1 / t2
        if df > 0:
            a, b = x2b / dfb - x2 / df, x2b / dfb - 1.0
            tli = 1.0 if (a < 0 and b < 0) else a / b
            rmsea = float(np.sqrt(max(x2 / n / df - 1.0 / n, 0.0)))
        else:
            tli, rmsea = 1.0, 0.0
        fm = _sem.FitMeasures(
            float(x2),
            int(df),
            float(stats.chi2.sf(x2, df)) if df > 0 else float("nan"),
            float(x2b),
            int(dfb),
            float(cfi),
            float(tli),
            rmsea,
            _sem.rmsea_ci(x2, df, n, 1),
            _sem.srmr_group(gs, mats, True),
            float(ll0),
            float(ll1),
            float(-2 * ll0 + 2 * spec.npar),
            float(-2 * ll0 + spec.npar * np.log(n)),
            int(spec.npar),
            int(n),
            1,
        )
        _, ds, dm = _sem._derivatives(spec, mats, 0)
        mi = _modification_indices_fiml(pats, mats, ds, dm, assign, factors, items)
        a_inv = _safe_inv(hess)  # unit observed information is the Hessian of −log L / N
        # the saturated (h1) model at the EM estimates: observed information and scores
        dss, dms = _fiml.saturated_derivatives(p)
        jsat = _fiml.saturated_jacobian(p)
        wm = jsat.T @ _fiml.observed_information_full(pats, mu1, sig1) @ jsat / n
        wmi = _safe_inv(wm)
        jm = _fiml.score_crossprod(pats, mu1, sig1, dss, dms) / n
        # the independence model by FIML: each item's observed mean and ML variance
        mub = np.array([np.nanmean(x[:, j]) for j in range(p)])
        sb = np.array([np.nanmean((x[:, j] - mub[j]) ** 2) for j in range(p)])
        nobs = np.array([np.sum(~np.isnan(x[:, j])) for j in range(p)])
        ab = np.concatenate([nobs / sb, nobs / (2 * sb**2)]) / n  # its unit information
        extra: dict[str, Any] = {}
        if not robust:
            vcov = a_inv / n
            se_type = "observed"
        else:
            b0 = _fiml.score_crossprod(pats, mats.mu, mats.sigma, ds, dm) / n
            vcov = a_inv @ b0 @ a_inv / n
            se_type = "robust.huber.white"
            # Yuan-Bentler (Mplus) trace: h1 part from the saturated model at the EM
            # estimates (observed information and first-order scores), h0 part the model's
            tr_h1 = float(np.sum(jm * wmi.T))
            tr_ug = tr_h1 - float(np.sum(b0 * a_inv.T))
            c = tr_ug / df if df > 0 else float("nan")
            dsb = np.zeros((2 * p, p, p))
            dmb = np.zeros((2 * p, p))
            dmb[np.arange(p), np.arange(p)] = 1.0
            dsb[p + np.arange(p), np.arange(p), np.arange(p)] = 1.0
            bb = _fiml.score_crossprod(pats, mub, np.diag(sb), dsb, dmb)
            tr_hb = float(np.sum(np.diag(bb) / n / ab))
            cb = (tr_h1 - tr_hb) / dfb if dfb > 0 else float("nan")
            extra = _scaled_measures(fm, c, cb, tr_ug, n)
        extra.update(
            _fiml_corrected(spec, mats, gs, ds, dm, n, df, dfb, wm, wmi, jm, jsat, mub, sb, robust)
        )
    return _result(
        spec,
        est,
        fm,
        mats,
        vcov,
        sig1,
        factors,
        items,
        assign,
        model,
        n=n,
        n_rows=len(data),
        estimator="mlr" if robust else "ml",
        missing="fiml",
        se_type=se_type,
        mi=mi,
        extra=extra,
        unrestricted_loglik=ll1,
    )
