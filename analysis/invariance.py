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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis import _sem
from analysis.moments import Moments

__all__ = ["InvarianceResult", "measurement_invariance",
           "CFI_DROP", "RMSEA_RISE", "SRMR_RISE_METRIC", "SRMR_RISE_SCALAR",
           "CONFIGURAL_MIN_CFI", "CONFIGURAL_MAX_RMSEA"]

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


@dataclass(frozen=True)
class InvarianceResult:
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (plain floats, lists and dicts; NaN becomes ``None``)."""
        return _sem.jsonable({
            "group": self.group, "groups": self.groups, "dropped_groups": self.dropped_groups,
            "configural": self.configural, "metric": self.metric, "scalar": self.scalar,
            "delta": self.delta, "decisions": self.decisions, "level": self.level,
            "verdict": self.verdict, "warnings": list(self.warnings),
        })

    def summary(self) -> str:
        """Readable text report: the three models, the changes, the decisions, the verdict."""
        f = _sem.fmt
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
            lines.append(f"  {prev + ' -> ' + lv:<22}{d['cfi']:>+8.3f}{d['rmsea']:>+8.3f}"
                         f"{d['srmr']:>+8.3f}{d['chisq']:>10.3f}{d['df']:>5}{f(d['p']):>8}")
        lines += ["", "  Rule (Chen 2007): a step fails if dCFI <= -0.010 and dRMSEA >= +0.015.",
                  "", "  " + self.verdict]
        if self.warnings:
            lines += ["", "  warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def _fit_level(level: str, groups: list[_sem.GroupStats], factors: list[str],
               items: list[str], assign: list[int]) -> tuple[dict[str, Any], list[str]]:
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
    return out, warns


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
      compare fit-change criteria);
    * the steps are sequential: a step cannot hold if the one before it failed.

    References
    ----------
    Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement
    invariance. *Structural Equation Modeling, 14*, 464-504.
    Meade, A. W., Johnson, E. C., & Braddy, P. W. (2008). Power and sensitivity of
    alternative fit indices in tests of measurement invariance. *Journal of Applied
    Psychology, 93*, 568-592.
    Meredith, W. (1993). Measurement invariance, factor analysis and factorial
    invariance. *Psychometrika, 58*, 525-543.
    Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in covariance
    structure analysis. *Structural Equation Modeling, 6*, 1-55.
    Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
    *Journal of Statistical Software, 48*(2), 1-36.

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
    with _sem.single_thread_blas():
        for lv in _LEVELS:
            fits[lv], w = _fit_level(lv, groups, factors, items, assign)
            warns += w

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

    verdict = _verdict(level, group, fits, delta)
    return InvarianceResult(
        group=str(group), groups={gs.name: gs.n for gs in groups}, dropped_groups=dropped,
        configural=fits["configural"], metric=fits["metric"], scalar=fits["scalar"],
        delta=delta, decisions=decisions, level=level, verdict=verdict,
        warnings=tuple(warns))


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
