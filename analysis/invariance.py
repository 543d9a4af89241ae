"""Multi-group measurement invariance (configural, metric, scalar) that reproduces lavaan.

Can scores be compared across groups, e.g. the languages a questionnaire was answered
in? Meredith (1993) defines a ladder of nested multi-group CFA models:

* **configural**: the same items load on the same factors in every group; all
  parameters free per group;
* **metric** (weak): loadings equal across groups, so relationships (correlations,
  regression slopes, trends) are comparable;
* **scalar** (strong): loadings and item intercepts equal, latent means free in groups
  2..G, so score *levels* are comparable.

Each model is fitted jointly across groups by maximum likelihood with a mean
structure, exactly as::

    # R
    cfa(model, data = d, group = "language")
    cfa(model, data = d, group = "language", group.equal = "loadings")
    cfa(model, data = d, group = "language", group.equal = c("loadings", "intercepts"))
    fitMeasures(fit, c("chisq", "df", "cfi", "tli", "rmsea", "srmr"))

and the steps are judged with the change-in-fit rule of Chen (2007).

Because fit-index changes can miss a single non-invariant item among many, the scalar
model also gets per-item intercept diagnostics: the mean residual of every item in
every group and the score (Lagrange multiplier) test for releasing each intercept
equality -- Sörbom's (1989) modification index (Saris, Satorra & Sörbom 1987), as
lavaan's ``lavTestScore(fit_scalar)`` -- which point at the items a partial scalar
model (Byrne, Shavelson & Muthén 1989; ``semTools::partialInvariance``, or
``group.partial`` in lavaan) would free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis import _sem
from analysis._result import Result, fmt
from analysis.moments import Moments

__all__ = ["InvarianceResult", "measurement_invariance",
           "CFI_DROP", "RMSEA_RISE", "SRMR_RISE_METRIC", "SRMR_RISE_SCALAR",
           "CONFIGURAL_MIN_CFI", "CONFIGURAL_MAX_RMSEA", "ALPHA"]

#: A step fails when CFI drops by at least this much (ΔCFI ≤ −0.010) ...
CFI_DROP = -0.010
#: ... together with RMSEA rising by at least this much (ΔRMSEA ≥ +0.015) (Chen 2007).
RMSEA_RISE = 0.015
#: Chen's (2007) SRMR criteria, reported but not used in the decision.
SRMR_RISE_METRIC = 0.030
SRMR_RISE_SCALAR = 0.010
#: The configural model must fit at least acceptably for any comparison to make sense.
CONFIGURAL_MIN_CFI = 0.90
CONFIGURAL_MAX_RMSEA = 0.08

_LEVELS = ("configural", "metric", "scalar")
#: Significance level of the χ² difference test and of the Holm-adjusted item tests
#: that trigger the cautions in the verdict.
ALPHA = 0.05
_SHOW = 5          # items shown in summary()
_NAME_MAX = 3      # items named in the verdict


@dataclass(frozen=True)
class InvarianceResult(Result):
    """Result of :func:`measurement_invariance`.

    Attributes
    ----------
    group : str
        The grouping column.
    groups : dict
        Group name -> number of complete rows used (in order of first appearance, as
        lavaan orders groups; the first group is the reference for latent means).
    dropped_groups : dict
        Group name -> complete rows, for groups left out for having fewer than
        ``min_group_n`` complete rows.
    configural, metric, scalar : dict
        Fit of each model: ``chisq, df, p, cfi, tli, rmsea, rmsea_ci90, srmr, npar,
        loglik, aic, bic, converged``.
    delta : dict
        ``{"metric": ..., "scalar": ...}``, each the change from the previous model:
        ``cfi, rmsea, srmr`` (later minus earlier) and the χ² difference test
        ``chisq, df, p``.
    decisions : dict
        ``{"configural": ..., "metric": ..., "scalar": ...}``, each ``"holds"`` or
        ``"fails"`` (see :func:`measurement_invariance` for the rules).
    level : str
        Highest level that holds: ``"scalar"``, ``"metric"``, ``"configural"`` or
        ``"none"``.
    verdict : str
        Plain-words conclusion.
    warnings : tuple of str
        Non-convergence, Heywood cases, non-positive-definite latent covariances.
    intercept_diagnostics : tuple of dict
        One entry per item, most non-invariant first (empty if the scalar model did
        not converge), from the scalar model:

        * ``item``, ``dimension``;
        * ``lm``, ``df`` (G − 1), ``p``: score test for freeing the item's intercept in
          every group (``lavTestScore(fit, release = <its G − 1 constraints>)``);
          ``p_holm``: ``p`` Holm-adjusted across the items;
        * ``group_max``: the group whose own intercept release has the largest
          univariate score statistic (df 1; ``lavTestScore(fit)$uni``), and for that
          group ``lm_group_max``, ``residual`` (observed mean − scalar-model mean, item
          units), ``std_residual`` (divided by the item's pooled within-group SD) and
          ``epc`` (expected change of that group's intercept relative to the other
          groups if it were freed; Saris, Satorra & Sörbom 1987);
        * ``lm_by_group``, ``residual_by_group``, ``std_residual_by_group``: the same
          for every group.
    partial_scalar : tuple of dict
        The forward search for a partial scalar model: items whose intercepts were
        freed one at a time while the largest score test stayed Holm-significant
        (at most three), each with ``item, dimension, group_max, std_residual, lm,
        p_holm`` (from the score tests of the model before it was freed), the
        likelihood-ratio test of freeing it ``chisq, df, p`` and the ``fit``
        (``chisq, df, cfi, rmsea``) of the model with it freed. These are the items
        the verdict names. Empty if nothing stands out.
    """

    group: str
    groups: dict[str, int]
    dropped_groups: dict[str, int]
    configural: dict[str, Any]
    metric: dict[str, Any]
    scalar: dict[str, Any]
    delta: dict[str, dict[str, float]]
    decisions: dict[str, str]
    level: str
    verdict: str
    warnings: tuple[str, ...] = field(default=())
    intercept_diagnostics: tuple[dict[str, Any], ...] = field(default=())
    partial_scalar: tuple[dict[str, Any], ...] = field(default=())

    def summary(self) -> str:
        """Readable text report: the three models, the changes, the decisions, the verdict."""
        f = fmt
        grp = ", ".join(f"{k} (n={v})" for k, v in self.groups.items())
        lines = [f"Measurement invariance across {self.group}: {grp}"]
        if self.dropped_groups:
            lines.append("  dropped (too few complete rows): " + ", ".join(
                f"{k} (n={v})" for k, v in self.dropped_groups.items()))
        lines += ["", f"  {'model':<12}{'chi2':>11}{'df':>6}{'CFI':>8}{'TLI':>8}"
                      f"{'RMSEA':>8}{'SRMR':>8}  decision"]
        for lv in _LEVELS:
            r = getattr(self, lv)
            conv = "" if r["converged"] else " (not converged)"
            lines.append(f"  {lv:<12}{r['chisq']:>11.3f}{r['df']:>6}{f(r['cfi']):>8}"
                         f"{f(r['tli']):>8}{f(r['rmsea']):>8}{f(r['srmr']):>8}  "
                         f"{self.decisions[lv]}{conv}")
        lines += ["", f"  {'change':<22}{'dCFI':>8}{'dRMSEA':>8}{'dSRMR':>8}"
                      f"{'dchi2':>10}{'ddf':>5}{'p':>8}"]
        for lv, prev in (("metric", "configural"), ("scalar", "metric")):
            d = self.delta[lv]
            lines.append(f"  {prev + ' -> ' + lv:<22}{_sgn(d['cfi']):>8}{_sgn(d['rmsea']):>8}"
                         f"{_sgn(d['srmr']):>8}{d['chisq']:>10.3f}{d['df']:>5}{f(d['p']):>8}")
        lines += ["", "  Rule (Chen 2007): a step fails if dCFI <= -0.010 and dRMSEA >= +0.015."]
        if self.intercept_diagnostics:
            lines += ["", "  Intercepts under the scalar model (score tests, as lavTestScore; "
                          "std resid = mean residual / pooled SD):",
                      f"  {'item':<10}{'LM':>9}{'df':>4}{'p':>8}{'p_holm':>8}  "
                      f"{'largest in':<12}{'LM(1)':>8}{'resid':>8}{'std':>8}{'EPC':>8}"]
            for d in self.intercept_diagnostics[:_SHOW]:
                lines.append(
                    f"  {d['item']:<10}{d['lm']:>9.2f}{d['df']:>4}{_p3(d['p']):>8}"
                    f"{_p3(d['p_holm']):>8}  {d['group_max']:<12}{d['lm_group_max']:>8.2f}"
                    f"{_sgn(d['residual']):>8}{_sgn(d['std_residual']):>8}{_sgn(d['epc']):>8}")
            rest = len(self.intercept_diagnostics) - _SHOW
            if rest > 0:
                lines.append(f"  ... {rest} more item(s), all with smaller LM")
            if self.partial_scalar:
                lines += ["", "  Partial scalar model, intercepts freed one at a time "
                              "(refit after each; LR test):"]
                for d in self.partial_scalar:
                    ft = d["fit"]
                    lines.append(
                        f"  free {d['item']:<8} dchi2({d['df']}) = {d['chisq']:.2f}, "
                        f"p {_p3(d['p'])}; then chi2({ft['df']}) = {ft['chisq']:.1f}, "
                        f"CFI {ft['cfi']:.3f}, RMSEA {ft['rmsea']:.3f}")
        lines += ["", "  " + self.verdict]
        if self.warnings:
            lines += ["", "  warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def _fit_level(level: str, groups: list[_sem.GroupStats], factors: list[str],
               items: list[str], assign: list[int]
               ) -> tuple[dict[str, Any], list[str], _sem.Spec, _sem.Estimate]:
    spec = _sem.build_spec(assign, len(factors), len(groups), meanstructure=True,
                           equal_loadings=level in ("metric", "scalar"),
                           equal_intercepts=level == "scalar")
    x0 = _sem.start_values(spec, groups, assign)
    est = _sem.estimate(spec, groups, x0)
    fm = _sem.fit_measures(spec, groups, est)
    warns: list[str] = []
    if not est.converged:
        warns.append(f"{level} model: the optimizer {est.message}")
    for g, gs in enumerate(groups):
        warns += _sem.diagnose(spec, est.x, factors, items, g,
                               prefix=f"{level} model, group {gs.name!r}: ")
    out = {
        "chisq": fm.chisq, "df": fm.df, "p": fm.pvalue, "cfi": fm.cfi, "tli": fm.tli,
        "rmsea": fm.rmsea, "rmsea_ci90": list(fm.rmsea_ci90), "srmr": fm.srmr,
        "npar": fm.npar, "loglik": fm.loglik, "aic": fm.aic, "bic": fm.bic,
        "converged": bool(est.converged),
    }
    return out, warns, spec, est


def _chen_fails(d: Mapping[str, float]) -> bool:
    return d["cfi"] <= CFI_DROP and d["rmsea"] >= RMSEA_RISE


def measurement_invariance(data: pd.DataFrame, model: Mapping[str, Sequence[str]], group: str,
                           *, min_group_n: int = 30) -> InvarianceResult:
    """Test configural, metric and scalar invariance of a CFA model across groups.

    Fits three nested multi-group ML models with a mean structure (Meredith 1993),
    each jointly across groups with marker-variable identification in every group
    (first loading of each factor fixed to 1), correlated factors, and:

    * configural: loadings, intercepts, factor (co)variances and residual variances
      free in every group, latent means 0 -- ``cfa(model, data, group = group)``;
    * metric: loadings equal across groups --
      ``cfa(..., group = group, group.equal = "loadings")``;
    * scalar: loadings and intercepts equal, latent means free in groups 2..G --
      ``cfa(..., group = group, group.equal = c("loadings", "intercepts"))``.

    Fit measures are lavaan's (``fitMeasures``): ``χ² = Σ_g N_g F_g``, CFI/TLI against
    the per-group independence model, RMSEA multiplied by ``sqrt(G)`` as lavaan does,
    SRMR averaged over groups with weights ``N_g / N`` and including mean residuals.
    The decision rule (Chen 2007) is: a step **fails if and only if ΔCFI ≤ −0.010 and
    ΔRMSEA ≥ +0.015**; see Notes.

    Parameters
    ----------
    data : pandas.DataFrame
        Item responses plus the grouping column. Rows complete on all the model's
        items and with a non-missing group are used (listwise deletion, like R's
        ``na.omit``). Reverse-keyed items must already be recoded.
    model : mapping
        Factor id -> sequence of item ids, as for :func:`analysis.cfa.cfa`.
    group : str
        Name of the grouping column (e.g. ``"language"``); it is used in the verdict.
    min_group_n : int, default 30
        Groups with fewer complete rows are dropped and listed in ``dropped_groups``.

    Returns
    -------
    InvarianceResult

    Raises
    ------
    ValueError
        Missing group or item columns, an invalid model, fewer than 2 groups left
        after dropping small ones, a kept group with too few rows for a positive-
        definite covariance matrix (at least one more than the number of items), a
        constant item or a singular covariance matrix within a group.

    Notes
    -----
    Decision rules:

    * configural holds if its model converged with CFI ≥ 0.90 and RMSEA ≤ 0.08
      (conventional "acceptable" fit; Hu & Bentler 1999 recommend CFI ≥ .95,
      RMSEA ≤ .06 for good fit);
    * metric (vs configural) and scalar (vs metric) each **fail if and only if
      ΔCFI ≤ −0.010 and ΔRMSEA ≥ +0.015** (Chen 2007; Δ = constrained minus less
      constrained), or if the constrained model did not converge. Chen also proposes
      ΔSRMR ≥ .030 for loadings and ≥ .010 for intercepts; the SRMR changes are
      reported in ``delta`` but not used in the decision, and neither is the χ²
      difference test (too sensitive at large n; Meade, Johnson & Braddy 2008
      compare fit-change criteria) -- it only adds a caution (below);
    * the steps are sequential: a step cannot hold if the one before it failed.

    Chen's rule stays the decision, but the verdict adds a caution when a step holds
    by it while its χ² difference test is significant (p < .05): fit-index changes
    average over many constraints and can hide one clearly non-invariant item. For
    the scalar step the caution names the items whose intercept score test is
    significant after Holm's adjustment across items (at most three, largest first)
    and the group where each differs most; when scalar invariance fails, the verdict
    names them as candidates for a partial scalar model (Byrne, Shavelson & Muthén
    1989).

    Intercept diagnostics (``intercept_diagnostics``), on the scalar model:

    * mean residuals ``x̄_g − μ̂_g`` per group and item, also divided by the item's
      pooled within-group SD (``sqrt(Σ_g N_g s²_g / N)``, ML variances);
    * score (Lagrange multiplier) tests, Sörbom's (1989) modification indices for
      equality constraints: from the gradient ``g`` and the *expected* information
      of the constrained ML fit (lavaan's default for ML),
      ``LM = sᵀ I⁻¹ s`` for the model with the released intercept(s) added, evaluated
      at the scalar estimates -- asymptotically the χ² difference of refitting with
      them free, without the refit. Per item (df G − 1, all of its intercepts freed):
      ``lavTestScore(fit_scalar, release = ...)``; per item and group (df 1, that
      group freed from the others): ``lavTestScore(fit_scalar)$uni`` for groups
      2..G (lavaan states the constraints against group 1; freeing group 1 from the
      others is the analogous test). Holm (1979) adjusts the per-item p-values
      across items; ``semTools::partialInvariance`` is the R route to refitting.

    References
    ----------
    Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement
    invariance. *Structural Equation Modeling, 14*, 464-504.
    Meade, A. W., Johnson, E. C., & Braddy, P. W. (2008). Power and sensitivity of
    alternative fit indices in tests of measurement invariance. *Journal of Applied
    Psychology, 93*, 568-592.
    Byrne, B. M., Shavelson, R. J., & Muthén, B. (1989). Testing for the equivalence
    of factor covariance and mean structures: the issue of partial measurement
    invariance. *Psychological Bulletin, 105*, 456-466.
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    *Scandinavian Journal of Statistics, 6*, 65-70.
    Meredith, W. (1993). Measurement invariance, factor analysis and factorial
    invariance. *Psychometrika, 58*, 525-543.
    Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in covariance
    structure analysis. *Structural Equation Modeling, 6*, 1-55.
    Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
    *Journal of Statistical Software, 48*(2), 1-36.
    Saris, W. E., Satorra, A., & Sörbom, D. (1987). The detection and correction of
    specification errors in structural equation models. *Sociological Methodology,
    17*, 105-129.
    Sörbom, D. (1989). Model modification. *Psychometrika, 54*, 371-384.

    Examples
    --------
    >>> res = measurement_invariance(df, model, "language")  # doctest: +SKIP
    >>> res.level, res.verdict                               # doctest: +SKIP
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    factors, items, assign = _sem.parse_model(model)
    if group not in data.columns:
        raise ValueError(f"group column {group!r} not in the data")
    if group in items:
        raise ValueError(f"group column {group!r} is also an item of the model")
    missing = [c for c in items if c not in data.columns]
    if missing:
        raise ValueError(f"items not in the data: {', '.join(map(str, missing))}")
    if isinstance(min_group_n, bool) or not isinstance(min_group_n, int | np.integer) \
            or min_group_n < 2:
        raise ValueError(f"min_group_n must be an integer >= 2, got {min_group_n!r}")

    p = len(items)
    df_all = data[data[group].notna()]
    labels = pd.unique(df_all[group])
    if len(labels) == 0:
        raise ValueError(f"group column {group!r} has no non-missing values")
    kept: list[tuple[str, Moments]] = []
    dropped: dict[str, int] = {}
    for lab in labels:
        mo = Moments.from_frame(df_all[df_all[group] == lab], items)
        name = str(lab)
        if mo.n < min_group_n:
            dropped[name] = int(mo.n)
        else:
            kept.append((name, mo))
    if len(kept) < 2:
        note = ", ".join(f"{k} n={v}" for k, v in dropped.items())
        raise ValueError(
            f"need at least 2 groups with >= {min_group_n} complete rows in {group!r}; "
            f"have {len(kept)}" + (f" (dropped: {note})" if dropped else ""))
    with _sem.single_thread_blas():
        groups = [_sem.group_stats(name, mo.n, mo.mean, mo.cov(ddof=0), items)
                  for name, mo in kept]
    # identification: the configural model must have df >= 0 in every group
    per_group_par = _sem.build_spec(assign, len(factors), 1, meanstructure=True).npar
    if per_group_par > p * (p + 1) // 2 + p:
        raise ValueError("the model is not identified (negative degrees of freedom); "
                         "a single factor needs at least 3 items")

    fits: dict[str, dict[str, Any]] = {}
    warns: list[str] = []
    diags: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    with _sem.single_thread_blas():
        for lv in _LEVELS:
            fits[lv], w, spec, est = _fit_level(lv, groups, factors, items, assign)
            warns += w
        if fits["scalar"]["converged"]:
            try:
                diags = _intercept_diagnostics(spec, est, groups, factors, items, assign)
                steps = _sequential_release(groups, factors, items, assign, diags,
                                            fits["scalar"])
            except (ValueError, np.linalg.LinAlgError) as exc:  # pragma: no cover
                warns.append(f"scalar model: intercept diagnostics failed ({exc})")

    delta: dict[str, dict[str, float]] = {}
    for lv, prev in (("metric", "configural"), ("scalar", "metric")):
        a, b = fits[lv], fits[prev]
        dchi, ddf = a["chisq"] - b["chisq"], a["df"] - b["df"]
        delta[lv] = {
            "cfi": a["cfi"] - b["cfi"], "rmsea": a["rmsea"] - b["rmsea"],
            "srmr": a["srmr"] - b["srmr"], "chisq": dchi, "df": ddf,
            "p": float(stats.chi2.sf(max(dchi, 0.0), ddf)) if ddf > 0 else float("nan"),
        }

    conf = fits["configural"]
    decisions: dict[str, str] = {}
    decisions["configural"] = "holds" if (
        conf["converged"] and conf["cfi"] >= CONFIGURAL_MIN_CFI
        and conf["rmsea"] <= CONFIGURAL_MAX_RMSEA) else "fails"
    prev_ok = decisions["configural"] == "holds"
    for lv in ("metric", "scalar"):
        ok = prev_ok and fits[lv]["converged"] and not _chen_fails(delta[lv])
        decisions[lv] = "holds" if ok else "fails"
        prev_ok = ok
    level = "none"
    for lv in _LEVELS:
        if decisions[lv] == "holds":
            level = lv

    verdict = _with_cautions(_verdict(level, group, fits, delta), level, decisions, group,
                             delta, steps)
    return InvarianceResult(
        group=str(group), groups={gs.name: gs.n for gs in groups}, dropped_groups=dropped,
        configural=fits["configural"], metric=fits["metric"], scalar=fits["scalar"],
        delta=delta, decisions=decisions, level=level, verdict=verdict,
        warnings=tuple(warns), intercept_diagnostics=tuple(diags),
        partial_scalar=tuple(steps))


def _verdict(level: str, group: str, fits: Mapping[str, Mapping[str, Any]],
             delta: Mapping[str, Mapping[str, float]]) -> str:
    conf = fits["configural"]
    if level == "scalar":
        return (f"Scores can be compared across {group}: loadings and intercepts are "
                f"invariant (scalar invariance holds).")
    if level == "metric":
        d = delta["scalar"]
        why = ("the scalar model did not converge" if not fits["scalar"]["converged"] else
               f"loadings are invariant, intercepts are not: ΔCFI = {d['cfi']:+.3f}, "
               f"ΔRMSEA = {d['rmsea']:+.3f}")
        return (f"Metric holds but scalar fails: compare trends within each {group}, not "
                f"levels across them ({why}).")
    if level == "configural":
        d = delta["metric"]
        why = ("the metric model (equal loadings) did not converge"
               if not fits["metric"]["converged"] else
               f"the loadings differ: ΔCFI = {d['cfi']:+.3f}, ΔRMSEA = {d['rmsea']:+.3f}")
        return (f"Only configural invariance holds: the same factor structure fits every "
                f"{group}, but {why}; neither score levels nor relationships can be "
                f"compared across {group}, so report each {group} separately.")
    why = ("did not converge" if not conf["converged"] else
           f"fits poorly (CFI = {conf['cfi']:.3f}, RMSEA = {conf['rmsea']:.3f})")
    return (f"No invariance: the factor model {why} when fitted in every {group} "
            f"(configural model), so scores cannot be compared across {group}; check the "
            f"model within each {group} first.")


# ------------------------------------------------------------------------------------
# intercept diagnostics and the cautions in the verdict
# ------------------------------------------------------------------------------------
def _sgn(v: float | None, digits: int = 3) -> str:
    """Signed number, with no sign when it rounds to zero ("0.000", never "-0.000")."""
    if v is None or not np.isfinite(v):
        return "-"
    s = f"{v:+.{digits}f}"
    return s[1:] if float(s) == 0.0 else s


def _p3(p: float) -> str:
    return "<.001" if p < 0.001 else f"{p:.3f}"


def _p_words(p: float) -> str:
    # no "<": verdicts are shown in HTML and must read the same after escaping
    return "p ≤ .001" if p < 0.001 else f"p = {p:.3f}"


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm (1979) adjusted p-values."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def _intercept_diagnostics(spec: _sem.Spec, est: _sem.Estimate, groups: list[_sem.GroupStats],
                           factors: list[str], items: list[str],
                           assign: list[int]) -> list[dict[str, Any]]:
    G = len(groups)
    st = _sem.intercept_score_tests(spec, groups, est.x)
    ntot = sum(gs.n for gs in groups)
    pooled_sd = np.sqrt(sum(gs.n * np.diag(gs.cov) for gs in groups) / ntot)
    resid = np.array([gs.mean - _sem.matrices(spec, est.x, g).mu for g, gs in enumerate(groups)])
    std = resid / pooled_sd
    df = G - 1
    tested = np.nonzero(np.isfinite(st.lm_item))[0]  # not already freed
    p = np.full(len(items), np.nan)
    p_holm = np.full(len(items), np.nan)
    p[tested] = stats.chi2.sf(st.lm_item[tested], df)
    p_holm[tested] = _holm(p[tested])
    names = [gs.name for gs in groups]
    out = []
    for i in tested[np.lexsort((tested, -st.lm_item[tested]))]:
        # the group released with the largest LM; ties (always with 2 groups, where
        # releasing either group is the same model) go to the larger |std residual|
        lm_g = np.round(st.lm_group[:, i], 8)
        g = int(np.lexsort((-np.abs(std[:, i]), -lm_g))[0])
        out.append({
            "item": items[i], "dimension": factors[assign[i]],
            "lm": float(st.lm_item[i]), "df": df, "p": float(p[i]),
            "p_holm": float(p_holm[i]),
            "group_max": names[g], "lm_group_max": float(st.lm_group[g, i]),
            "residual": float(resid[g, i]), "std_residual": float(std[g, i]),
            "epc": float(st.epc_group[g, i]),
            "lm_by_group": {n: float(st.lm_group[k, i]) for k, n in enumerate(names)},
            "residual_by_group": {n: float(resid[k, i]) for k, n in enumerate(names)},
            "std_residual_by_group": {n: float(std[k, i]) for k, n in enumerate(names)},
        })
    return out


def _sequential_release(groups: list[_sem.GroupStats], factors: list[str], items: list[str],
                        assign: list[int], diags: list[dict[str, Any]],
                        scalar: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Free intercepts one at a time while the largest score test is Holm-significant.

    The forward search of a partial scalar model (Byrne, Shavelson & Muthén 1989; the
    same idea as ``semTools::partialInvariance`` or Mplus modification indices):
    free the item with the largest score statistic if its Holm-adjusted p (across the
    items still constrained) is below ``ALPHA``, refit, recompute the score tests, and
    repeat, at most ``_NAME_MAX`` times. Refitting matters: one item's shifted
    intercept biases the latent mean of its group, so the *other* items of its
    dimension show spurious residuals of the opposite sign until it is freed. Each
    step records the likelihood-ratio χ² difference of the refit (df G − 1).
    """
    G = len(groups)
    steps: list[dict[str, Any]] = []
    free: list[int] = []
    prev_chisq = scalar["chisq"]
    current = diags
    while current and len(steps) < _NAME_MAX and current[0]["p_holm"] < ALPHA:
        top = current[0]
        free.append(items.index(top["item"]))
        spec = _sem.build_spec(assign, len(factors), G, meanstructure=True,
                               equal_loadings=True, equal_intercepts=True,
                               free_intercepts=free)
        est = _sem.estimate(spec, groups, _sem.start_values(spec, groups, assign))
        if not est.converged:
            break
        fm = _sem.fit_measures(spec, groups, est)
        dchi = prev_chisq - fm.chisq
        steps.append({
            "item": top["item"], "dimension": top["dimension"], "group_max": top["group_max"],
            "std_residual": top["std_residual"], "lm": top["lm"], "p_holm": top["p_holm"],
            "chisq": float(dchi), "df": G - 1,
            "p": float(stats.chi2.sf(max(dchi, 0.0), G - 1)),
            "fit": {"chisq": fm.chisq, "df": fm.df, "cfi": fm.cfi, "rmsea": fm.rmsea},
        })
        prev_chisq = fm.chisq
        if len(free) == len(items):
            break
        current = _intercept_diagnostics(spec, est, groups, factors, items, assign)
    return steps


def _flagged(steps: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return list(steps[:_NAME_MAX])


def _item_phrase(flag: Sequence[Mapping[str, Any]], group: str | None = None) -> str:
    """'the intercept of item X (...) differs across <group>' (without group: no verb)."""
    def one(d: Mapping[str, Any]) -> str:
        where = "higher" if d["std_residual"] > 0 else "lower"
        return (f"{d['item']} (largest in {d['group_max']}, where its mean is "
                f"{abs(d['std_residual']):.2f} SD {where} than equal intercepts imply)")
    names = [one(d) for d in flag]
    if len(flag) == 1:
        out = f"the intercept of item {names[0]}"
    else:
        out = f"the intercepts of items {', '.join(names[:-1])} and {names[-1]}"
    if group is None:
        return out
    return f"{out} {'differs' if len(flag) == 1 else 'differ'} across {group}"


def _dims_phrase(flag: Sequence[Mapping[str, Any]]) -> str:
    dims = list(dict.fromkeys(d["dimension"] for d in flag))
    if len(dims) == 1:
        return f"the {dims[0]} dimension"
    return f"the {', '.join(dims[:-1])} and {dims[-1]} dimensions"


def _with_cautions(base: str, level: str, decisions: Mapping[str, str], group: str,
                   delta: Mapping[str, Mapping[str, float]],
                   steps: Sequence[Mapping[str, Any]]) -> str:
    """The verdict with the cautions of the χ² difference tests and the score tests.

    Chen's rule still decides; a step that holds by it while its χ² difference test
    is significant gets a caution. Written without ``<``, ``&`` or quotes so that the
    verdict reads the same in HTML.
    """
    def sig(lv: str) -> bool:
        return decisions[lv] == "holds" and delta[lv]["p"] < ALPHA

    def chi(lv: str) -> str:
        d = delta[lv]
        return f"Δχ²({d['df']}) = {d['chisq']:.1f}, {_p_words(d['p'])}"

    def crit(lv: str) -> str:
        d = delta[lv]
        return f"ΔCFI {_sgn(d['cfi'])}, ΔRMSEA {_sgn(d['rmsea'])}"

    flag = _flagged(steps)
    out = [base]
    if sig("scalar"):
        head = (f"By the criteria of Chen (2007) scalar invariance holds ({crit('scalar')}), "
                f"so scores can be compared across {group}, but the χ² difference test is "
                f"significant ({chi('scalar')})")
        if flag:
            out = [f"{head}: {_item_phrase(flag, group)}. Level comparisons of "
                   f"{_dims_phrase(flag)} across {group} should be made with care."]
        else:
            out = [f"{head} and no single intercept stands out after the Holm adjustment: "
                   f"the differences are spread over the items. Level comparisons across "
                   f"{group} should be made with care."]
    if sig("metric"):
        out.append(f"{'The loadings step, too,' if sig('scalar') else 'The loadings step'} "
                   f"has a significant χ² difference test ({chi('metric')}) while its "
                   f"{crit('metric')} are within the criteria of Chen (2007): some loadings "
                   f"may differ across {group}, so relationships across {group} should "
                   f"{'also ' if sig('scalar') else ''}be compared with care.")
    if level == "metric" and flag:
        out.append(f"Score tests single out {_item_phrase(flag)}; a partial scalar "
                   f"model freeing {'this intercept' if len(flag) == 1 else 'these intercepts'} "
                   f"(Byrne, Shavelson and Muthén 1989) may allow level comparisons on the "
                   f"other items.")
    return " ".join(out)
