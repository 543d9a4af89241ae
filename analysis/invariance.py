"""Multi-group measurement invariance (configural, metric, scalar, strict) as lavaan.

Can scores be compared across groups, e.g. the languages a questionnaire was answered
in? Meredith (1993) defines a ladder of nested multi-group CFA models:

* **configural**: the same items load on the same factors in every group; all
  parameters free per group;
* **metric** (weak): loadings equal across groups, so relationships (correlations,
  regression slopes, trends) are comparable;
* **scalar** (strong): loadings and item intercepts equal, latent means free in groups
  2..G, so score *levels* (latent means) are comparable;
* **strict**: residual variances equal as well, so observed-score variances and
  reliabilities are comparable too.

Each model is fitted jointly across groups by maximum likelihood with a mean
structure, exactly as::

    # R
    cfa(model, data = d, group = "language")
    cfa(model, data = d, group = "language", group.equal = "loadings")
    cfa(model, data = d, group = "language", group.equal = c("loadings", "intercepts"))
    cfa(model, data = d, group = "language",
        group.equal = c("loadings", "intercepts", "residuals"))
    fitMeasures(fit, c("chisq", "df", "cfi", "tli", "rmsea", "srmr"))
    lavTestLRT(fit_configural, fit_metric)

Each step is judged by its change against the step before it with the rule of Chen
(2007), ΔCFI ≤ −.010 meaning non-invariance; ΔRMSEA and ΔSRMR are reported as
supporting evidence and the χ² difference test beside them. A step that fails gets a
partial model (Byrne, Shavelson & Muthén 1989): the loading (metric) or intercept
(scalar) whose equality constraints have the largest score test (``lavTestScore``) is
freed, the model refitted, and so on, at most three times, until Chen's rule holds.

Because fit-index changes can miss a single non-invariant item among many, the scalar
model also gets per-item intercept diagnostics: the mean residual of every item in
every group and the score (Lagrange multiplier) test for releasing each intercept
equality -- Sörbom's (1989) modification index (Saris, Satorra & Sörbom 1987), as
lavaan's ``lavTestScore(fit_scalar)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, stats

from analysis import _robust, _sem
from analysis._result import Result, fmt
from analysis.moments import Moments

__all__ = [
    "InvarianceResult",
    "measurement_invariance",
    "sb2001_difference",
    "CFI_DROP",
    "RMSEA_RISE",
    "SRMR_RISE_METRIC",
    "SRMR_RISE_SCALAR",
    "CONFIGURAL_MIN_CFI",
    "CONFIGURAL_MAX_RMSEA",
    "ALPHA",
    "NOT_EVALUATED",
]

#: Chen (2007): a step shows non-invariance when CFI drops by at least this much.
CFI_DROP = -0.010
#: Chen's (2007) supporting criteria, reported in each step's reason: RMSEA rising by
#: at least .015, SRMR by at least .030 (loadings) or .010 (intercepts, residuals).
RMSEA_RISE = 0.015
SRMR_RISE_METRIC = 0.030
SRMR_RISE_SCALAR = 0.010
#: The configural model must fit at least acceptably for invariance to be established.
CONFIGURAL_MIN_CFI = 0.90
CONFIGURAL_MAX_RMSEA = 0.08
NOT_EVALUATED = "not evaluated"

_LEVELS = ("configural", "metric", "scalar", "strict")
_WHAT = {"metric": "loadings", "scalar": "intercepts", "strict": "residual variances"}
#: Significance level of the χ² difference test and of the Holm-adjusted item tests
#: that trigger the cautions in the verdict.
ALPHA = 0.05
_SHOW = 5  # items shown in summary()
_NAME_MAX = 3  # items freed in a partial model / named in the verdict


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
    configural, metric, scalar, strict : dict
        Fit of each model: ``chisq, df, p, cfi, tli, rmsea, rmsea_ci90, srmr, npar,
        loglik, aic, bic, converged``. ``strict`` is fitted on the scalar model, or on
        the partial scalar model when only that holds (``free`` lists what it frees);
        empty when not fitted.
    delta : dict
        For each of ``metric``, ``scalar``, ``strict``, ``partial_metric`` and
        ``partial_scalar`` that was fitted: the change against the model it is
        compared with (``base``): ``cfi, rmsea, srmr`` (later minus earlier) and the χ²
        difference test ``chisq, df, p`` (``lavTestLRT``).
    decisions : dict
        Step -> ``"holds"``, ``"fails"`` or ``"not evaluated"``, for ``configural``,
        ``metric``, ``scalar``, ``strict`` and, when attempted, ``partial_metric`` and
        ``partial_scalar``.
    reasons : dict
        Step -> the stated reason for its decision (the criteria and figures used).
    steps : tuple of dict
        The same in order, one entry per step: ``step, decision, reason, compared_with,
        free`` (parameters freed, lavaan's ``group.partial`` syntax), ``fit``, ``delta``.
    level : str
        Highest level reached from configural upwards through steps that hold:
        ``"strict"``, ``"partial strict"`` (strict on a partial scalar model),
        ``"scalar"``, ``"partial scalar"``, ``"metric"``, ``"partial metric"``,
        ``"configural"`` or ``"none"``.
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
        Intercepts freed one at a time (refit after each), each with ``item,
        dimension, group_max, std_residual, lm, p_holm`` (from the score tests of the
        model before it was freed), the likelihood-ratio test of freeing it ``chisq,
        df, p`` and the ``fit`` (``chisq, df, cfi, rmsea, srmr``) with it freed. When
        scalar invariance fails this is the partial scalar search (until Chen's rule
        holds against the metric model, at most three); when it holds, the items whose
        score test stays Holm-significant (at most three), named in the cautions.
    partial_metric : tuple of dict
        When metric invariance fails: loadings freed one at a time by the largest
        score test (``lmm``, df G − 1) until Chen's rule holds against the configural
        model (at most three): ``item, dimension, lm, df, p, fit``.
    latent_means : tuple of dict
        Once (partial) scalar invariance holds: each factor's mean in groups 2..G
        relative to the first group (whose means are fixed at 0), from that model:
        ``factor, group, reference, est, se, z, p`` (``parameterEstimates``; SEs from
        the expected information, lavaan's default for ML), and ``d``, the difference
        in SDs of the factor in the reference group.
    estimator : str
        ``"ml"`` or ``"mlr"`` (robust χ² differences; see :func:`measurement_invariance`).
    """

    group: str
    groups: dict[str, int]
    dropped_groups: dict[str, int]
    configural: dict[str, Any]
    metric: dict[str, Any]
    scalar: dict[str, Any]
    delta: dict[str, dict[str, Any]]
    decisions: dict[str, str]
    level: str
    verdict: str
    warnings: tuple[str, ...] = field(default=())
    intercept_diagnostics: tuple[dict[str, Any], ...] = field(default=())
    partial_scalar: tuple[dict[str, Any], ...] = field(default=())
    strict: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    steps: tuple[dict[str, Any], ...] = field(default=())
    partial_metric: tuple[dict[str, Any], ...] = field(default=())
    latent_means: tuple[dict[str, Any], ...] = field(default=())
    estimator: str = "ml"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (plain floats, lists and dicts; NaN becomes ``None``)."""
        return _sem.jsonable(
            {
                "group": self.group,
                "groups": self.groups,
                "dropped_groups": self.dropped_groups,
                "estimator": self.estimator,
                "configural": self.configural,
                "metric": self.metric,
                "scalar": self.scalar,
                "strict": self.strict,
                "delta": self.delta,
                "decisions": self.decisions,
                "reasons": self.reasons,
                "steps": [dict(s) for s in self.steps],
                "level": self.level,
                "verdict": self.verdict,
                "warnings": list(self.warnings),
                "intercept_diagnostics": [dict(d) for d in self.intercept_diagnostics],
                "partial_metric": [dict(d) for d in self.partial_metric],
                "partial_scalar": [dict(d) for d in self.partial_scalar],
                "latent_means": [dict(d) for d in self.latent_means],
            }
        )

    def summary(self) -> str:
        """Readable text report: the models, the changes, the decisions, the verdict."""
        f = fmt
        grp = ", ".join(f"{k} (n={v})" for k, v in self.groups.items())
        lines = [f"Measurement invariance across {self.group}: {grp}"]
        if self.dropped_groups:
            lines.append(
                "  dropped (too few complete rows): "
                + ", ".join(f"{k} (n={v})" for k, v in self.dropped_groups.items())
            )
        lines += [
            "",
            f"  {'model':<16}{'chi2':>11}{'df':>6}{'CFI':>8}{'RMSEA':>8}"
            f"{'SRMR':>8}{'dCFI':>8}{'dRMSEA':>8}{'dSRMR':>8}{'dchi2':>9}{'ddf':>5}"
            f"{'p':>7}  decision",
        ]
        for s in self.steps:
            r = s["fit"]
            if not r:
                lines.append(f"  {s['step']:<16}{'':>95}  {s['decision']}")
                continue
            d = s.get("delta") or {}
            dd = (
                f"{_sgn(d['cfi']):>8}{_sgn(d['rmsea']):>8}{_sgn(d['srmr']):>8}"
                f"{d['chisq']:>9.2f}{d['df']:>5}{_p3(d['p']):>7}"
                if d
                else f"{'':>45}"
            )
            conv = "" if r["converged"] else " (not converged)"
            lines.append(
                f"  {s['step']:<16}{r['chisq']:>11.3f}{r['df']:>6}{f(r['cfi']):>8}"
                f"{f(r['rmsea']):>8}{f(r['srmr']):>8}{dd}  {s['decision']}{conv}"
            )
        lines += [
            "",
            "  Rule (Chen 2007): a step fails if dCFI <= -0.010 against the model "
            "before it; dRMSEA >= .015 and dSRMR >= .030 (loadings) / .010 "
            "(intercepts, residuals) are supporting evidence.",
        ]
        for s in self.steps:
            lines.append(f"  - {s['step']}: {s['decision']}. {s['reason']}")
        if self.intercept_diagnostics:
            lines += [
                "",
                "  Intercepts under the scalar model (score tests, as lavTestScore; "
                "std resid = mean residual / pooled SD):",
                f"  {'item':<10}{'LM':>9}{'df':>4}{'p':>8}{'p_holm':>8}  "
                f"{'largest in':<12}{'LM(1)':>8}{'resid':>8}{'std':>8}{'EPC':>8}",
            ]
            for d in self.intercept_diagnostics[:_SHOW]:
                lines.append(
                    f"  {d['item']:<10}{d['lm']:>9.2f}{d['df']:>4}{_p3(d['p']):>8}"
                    f"{_p3(d['p_holm']):>8}  {d['group_max']:<12}{d['lm_group_max']:>8.2f}"
                    f"{_sgn(d['residual']):>8}{_sgn(d['std_residual']):>8}{_sgn(d['epc']):>8}"
                )
            rest = len(self.intercept_diagnostics) - _SHOW
            if rest > 0:
                lines.append(f"  ... {rest} more item(s), all with smaller LM")
        if self.partial_metric:
            lines += [
                "",
                "  Partial metric model, loadings freed one at a time "
                "(largest score test; refit after each; LR test):",
            ]
            for d in self.partial_metric:
                ft = d["fit"]
                lines.append(
                    f"  free {d['dimension']}=~{d['item']:<8} LM({d['df']}) = {d['lm']:.2f}; "
                    f"then chi2({ft['df']}) = {ft['chisq']:.1f}, CFI {ft['cfi']:.3f}, "
                    f"RMSEA {ft['rmsea']:.3f}"
                )
        if self.partial_scalar:
            lines += [
                "",
                "  Partial scalar model, intercepts freed one at a time "
                "(refit after each; LR test):",
            ]
            for d in self.partial_scalar:
                ft = d["fit"]
                lines.append(
                    f"  free {d['item']:<8} dchi2({d['df']}) = {d['chisq']:.2f}, "
                    f"p {_p3(d['p'])}; then chi2({ft['df']}) = {ft['chisq']:.1f}, "
                    f"CFI {ft['cfi']:.3f}, RMSEA {ft['rmsea']:.3f}"
                )
        if self.latent_means:
            lines += [
                "",
                "  Latent means relative to the reference group "
                f"({self.latent_means[0]['reference']}; its means fixed at 0):",
                f"  {'factor':<10}{'group':<14}{'est':>8}{'SE':>8}{'z':>8}{'p':>8}{'d':>8}",
            ]
            for d in self.latent_means:
                lines.append(
                    f"  {d['factor']:<10}{d['group']:<14}{_sgn(d['est']):>8}"
                    f"{f(d['se']):>8}{_sgn(d['z'], 2):>8}{_p3(d['p']):>8}"
                    f"{_sgn(d['d'], 2):>8}"
                )
        lines += ["", "  " + self.verdict]
        if self.warnings:
            lines += ["", "  warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ctx:
    groups: list[_sem.GroupStats]
    factors: list[str]
    items: list[str]
    assign: list[int]
    raw: list[np.ndarray] | None = None  # complete rows per group, for MLR

    @property
    def ntot(self) -> int:
        return sum(gs.n for gs in self.groups)


@dataclass(frozen=True)
class _Model:
    name: str
    spec: _sem.Spec
    est: _sem.Estimate
    fit: dict[str, Any]
    free: tuple[str, ...] = ()

    @property
    def converged(self) -> bool:
        return bool(self.est.converged)


def _renumber(spec: _sem.Spec) -> _sem.Spec:
    """Number the free parameters 0..K-1 again after some were merged or dropped."""
    names = ("lam_idx", "phi_idx", "theta_idx", "nu_idx", "alpha_idx")
    arrays = [getattr(spec, n) for n in names]
    used = np.unique(np.concatenate([a.ravel() for a in arrays]))
    used = used[used >= 0]
    remap = -np.ones(spec.npar, int)
    remap[used] = np.arange(used.size)

    def rm(a: np.ndarray) -> np.ndarray:
        out = a.copy()
        mask = a >= 0
        out[mask] = remap[a[mask]]
        return out

    return dataclasses.replace(
        spec, npar=int(used.size), **{n: rm(a) for n, a in zip(names, arrays, strict=True)}
    )


def _make_spec(
    ctx: _Ctx,
    *,
    loadings: bool = False,
    intercepts: bool = False,
    residuals: bool = False,
    free_loadings: Sequence[int] = (),
    free_intercepts: Sequence[int] = (),
) -> _sem.Spec:
    """Multi-group marker-variable CFA with the equality constraints of a step.

    ``free_loadings`` / ``free_intercepts`` (item positions) stay free in every group
    although the loadings / intercepts are otherwise equal: lavaan's ``group.partial``.
    ``residuals``: residual variances equal across groups (``group.equal =
    "residuals"``).
    """
    G, m = len(ctx.groups), len(ctx.factors)
    spec = _sem.build_spec(
        ctx.assign,
        m,
        G,
        meanstructure=True,
        equal_loadings=loadings,
        equal_intercepts=intercepts,
        free_intercepts=free_intercepts,
    )
    lam, theta, k = spec.lam_idx.copy(), spec.theta_idx.copy(), spec.npar
    for i in free_loadings:
        f = ctx.assign[i]
        for g in range(1, G):
            lam[g, i, f] = k
            k += 1
    if residuals:
        theta[1:] = theta[0]
    return _renumber(dataclasses.replace(spec, lam_idx=lam, theta_idx=theta, npar=k))


def _fit_dict(fm: _sem.FitMeasures, est: _sem.Estimate) -> dict[str, Any]:
    return {
        "chisq": fm.chisq,
        "df": fm.df,
        "p": fm.pvalue,
        "cfi": fm.cfi,
        "tli": fm.tli,
        "rmsea": fm.rmsea,
        "rmsea_ci90": list(fm.rmsea_ci90),
        "srmr": fm.srmr,
        "npar": fm.npar,
        "loglik": fm.loglik,
        "aic": fm.aic,
        "bic": fm.bic,
        "converged": bool(est.converged),
    }


def _fit(
    ctx: _Ctx, name: str, spec: _sem.Spec, warns: list[str] | None, free: Sequence[str] = ()
) -> _Model:
    """Fit ``spec``; append non-convergence and Heywood warnings to ``warns`` if given."""
    est = _sem.estimate(spec, ctx.groups, _sem.start_values(spec, ctx.groups, ctx.assign))
    fm = _sem.fit_measures(spec, ctx.groups, est)
    if warns is not None:
        if not est.converged:
            warns.append(f"{name} model: the optimizer {est.message}")
        for g, gs in enumerate(ctx.groups):
            warns += _sem.diagnose(
                spec, est.x, ctx.factors, ctx.items, g, prefix=f"{name} model, group {gs.name!r}: "
            )
    out = _fit_dict(fm, est)
    if ctx.raw is not None and est.converged and fm.df > 0:
        c = _mlr_scaling(ctx, spec, est.x, fm.df)
        out.update(
            scaling_factor=c,
            chisq_scaled=fm.chisq / c,
            p_scaled=float(stats.chi2.sf(fm.chisq / c, fm.df)),
        )
    if free:
        out["free"] = list(free)
    return _Model(name, spec, est, out, tuple(free))


def _mlr_scaling(ctx: _Ctx, spec: _sem.Spec, x: np.ndarray, df: int) -> float:
    """Yuan-Bentler (Mplus variant) scaling factor of a multi-group ML fit, as lavaan's MLR.

    ``c = tr(UΓ) / df`` with ``tr(UΓ) = Σ_g tr(B1_g A1_g⁻¹) − tr(B0 A⁻¹)``: ``A`` the
    observed information per case (Hessian of ``Σ_g (N_g/N) F_g / 2``, numerically from
    the analytic gradient), ``B0 = (1/N) Σ_i s_i s_iᵀ`` from the casewise scores with the
    mean structure, ``s_i = ½ (w_iᵀ ∂Σ w_i − tr(Σ⁻¹∂Σ)) + w_iᵀ ∂μ``, ``w_i = Σ⁻¹ (x_i − μ)``;
    for the unrestricted model of each group ``tr(B1 A1⁻¹) = p + ½ (mean(q²) − p)``,
    ``q_i`` the Mahalanobis distance of row ``i`` in the sample metric (the group weights
    cancel there). lavaan 0.6-14, ``estimator = "MLR"``, ``test = "yuan.bentler.mplus"``.
    """
    assert ctx.raw is not None
    ntot, p = ctx.ntot, spec.p
    hess = _robust.numeric_hessian(lambda z: _sem.gradient(spec, ctx.groups, z), x)
    a_inv = linalg.inv(hess / 2.0)
    b0 = np.zeros((spec.npar, spec.npar))
    tr_h1 = 0.0
    for g, gs in enumerate(ctx.groups):
        mats = _sem.matrices(spec, x, g)
        act, ds, dm = _sem._derivatives(spec, mats, g)
        e = ctx.raw[g] - mats.mu
        si = linalg.inv(mats.sigma)
        si = (si + si.T) / 2.0
        w = e @ si
        sc = np.empty((e.shape[0], act.size))
        for j in range(act.size):
            sc[:, j] = 0.5 * (np.einsum("ij,ij->i", w @ ds[j], w) - np.sum(si * ds[j])) + w @ dm[j]
        b0[np.ix_(act, act)] += sc.T @ sc / ntot
        tr_h1 += p + _robust.h1_trace(ctx.raw[g] - gs.mean, gs.cov)
    return float((tr_h1 - float(np.sum(b0 * a_inv.T))) / df)


def sb2001_difference(
    chisq_restricted: float,
    df_restricted: int,
    c_restricted: float,
    chisq_free: float,
    df_free: int,
    c_free: float,
) -> tuple[float, int, float]:
    """Satorra & Bentler's (2001) scaled χ² difference test of two nested models.

    ``chisq_*`` are the unscaled (ML) statistics, ``c_*`` the scaling factors of the
    robust (MLR: Yuan-Bentler) statistics: ``c_d = (df_r c_r − df_f c_f) / (df_r −
    df_f)``, ``T_d = (T_r − T_f) / c_d`` on ``df_r − df_f`` degrees of freedom, as
    ``lavTestLRT(fit_free, fit_restricted, method = "satorra.bentler.2001")``, lavaan's
    default for MLR. Returns ``(T_d, df, p)``.
    """
    ddf = int(df_restricted - df_free)
    if ddf <= 0:
        raise ValueError("the restricted model must have more degrees of freedom")
    cd = (df_restricted * c_restricted - df_free * c_free) / ddf
    t = (chisq_restricted - chisq_free) / cd
    return float(t), ddf, float(stats.chi2.sf(max(t, 0.0), ddf))


def _delta(a: _Model, b: _Model) -> dict[str, Any]:
    """Change from ``b`` (less constrained) to ``a`` and the χ² difference test.

    With MLR scaling factors on both fits, ``chisq`` and ``p`` are the Satorra-Bentler
    (2001) scaled difference (``method``), the plain difference is ``chisq_unscaled``.
    """
    fa, fb = a.fit, b.fit
    dchi, ddf = fa["chisq"] - fb["chisq"], fa["df"] - fb["df"]
    out = {
        "base": b.name,
        "cfi": fa["cfi"] - fb["cfi"],
        "rmsea": fa["rmsea"] - fb["rmsea"],
        "srmr": fa["srmr"] - fb["srmr"],
        "chisq": dchi,
        "df": ddf,
        "p": float(stats.chi2.sf(max(dchi, 0.0), ddf)) if ddf > 0 else float("nan"),
        "method": "ML likelihood ratio",
    }
    if ddf > 0 and "scaling_factor" in fa and (fb["df"] == 0 or "scaling_factor" in fb):
        cb = fb.get("scaling_factor", 1.0)  # a saturated base has nothing to scale
        t, _, pv = sb2001_difference(
            fa["chisq"], fa["df"], fa["scaling_factor"], fb["chisq"], fb["df"], cb
        )
        out.update(
            chisq_unscaled=dchi,
            chisq=t,
            p=pv if t >= 0 else float("nan"),
            method="Satorra-Bentler 2001 scaled difference",
        )
    return out


def _chen_fails(d: Mapping[str, float]) -> bool:
    """Chen (2007): ΔCFI ≤ −.010 means non-invariance (ΔRMSEA, ΔSRMR only support it)."""
    return d["cfi"] <= CFI_DROP + 1e-12


def _reason(d: Mapping[str, Any], srmr_crit: float) -> str:
    """Why a step holds or fails: Chen's criteria and the χ² difference test."""
    fails = _chen_fails(d)
    r_ok, s_ok = d["rmsea"] >= RMSEA_RISE, d["srmr"] >= srmr_crit
    support = [n for n, ok in (("ΔRMSEA", r_ok), ("ΔSRMR", s_ok)) if ok == fails]
    against = [n for n, ok in (("ΔRMSEA", r_ok), ("ΔSRMR", s_ok)) if ok != fails]
    # at the cut-off, show enough digits for the comparison to be visible
    cfi = _sgn(d["cfi"], 5 if round(d["cfi"], 3) == CFI_DROP else 3)
    head = (
        f"ΔCFI = {cfi} against the {d['base']} model is "
        f"{'at or below' if fails else 'above'} -0.010 (Chen 2007)"
    )
    crit = (
        f"ΔRMSEA = {_sgn(d['rmsea'])} (criterion +0.015), ΔSRMR = {_sgn(d['srmr'])} "
        f"(criterion +{srmr_crit:.3f})"
    )
    if not against:
        agree = "both agree"
    elif not support:
        agree = "neither agrees"
    else:
        agree = f"{support[0]} agrees, {against[0]} does not"
    chi = f"Δχ²({d['df']}) = {d['chisq']:.2f}, {_p_words(d['p'])}"
    return f"{head}; supporting criteria {crit}: {agree}; {chi}."


def _loading_score_tests(ctx: _Ctx, m: _Model) -> dict[int, float]:
    """Score test for freeing each equal loading in every group (df G − 1).

    As ``lavTestScore(fit, release = <the loading's G − 1 equality constraints>)``
    with the expected information: the model is re-expressed with the loading free
    in groups 2..G, the gradient ``g`` and expected Hessian ``H`` of Σ (N_g/N) F_g are
    taken at the constrained estimates, and ``LM = (N/2) gᵀ H⁻¹ g``.
    """
    spec, G = m.spec, len(ctx.groups)
    out: dict[int, float] = {}
    for i, f in enumerate(ctx.assign):
        k0 = int(spec.lam_idx[0, i, f])
        if k0 < 0 or np.any(spec.lam_idx[:, i, f] != k0):
            continue  # marker, or already free
        lam = spec.lam_idx.copy()
        src = list(range(spec.npar))
        for g in range(1, G):
            lam[g, i, f] = len(src)
            src.append(k0)
        spec_r = dataclasses.replace(spec, lam_idx=lam, npar=len(src))
        grad, info = _sem.gradient_information(spec_r, ctx.groups, m.est.x[np.asarray(src)])
        try:
            sol = linalg.solve(info, grad, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            sol = np.linalg.lstsq(info, grad, rcond=None)[0]
        out[i] = max(float(ctx.ntot / 2.0 * grad @ sol), 0.0)
    return out


def _partial_metric(
    ctx: _Ctx, metric: _Model, conf: _Model, warns: list[str]
) -> tuple[list[dict[str, Any]], _Model, list[int]]:
    """Free loadings one at a time (largest score test) until Chen's rule holds."""
    G = len(ctx.groups)
    steps: list[dict[str, Any]] = []
    free: list[int] = []
    cur = metric
    while len(free) < _NAME_MAX and _chen_fails(_delta(cur, conf)):
        lms = _loading_score_tests(ctx, cur)
        if not lms:
            break
        i = max(lms, key=lambda j: (lms[j], -j))
        free.append(i)
        names = [f"{ctx.factors[ctx.assign[j]]}=~{ctx.items[j]}" for j in free]
        nxt = _fit(
            ctx, "partial metric", _make_spec(ctx, loadings=True, free_loadings=free), warns, names
        )
        steps.append(
            {
                "item": ctx.items[i],
                "dimension": ctx.factors[ctx.assign[i]],
                "lm": lms[i],
                "df": G - 1,
                "p": float(stats.chi2.sf(lms[i], G - 1)),
                "fit": {k: nxt.fit[k] for k in ("chisq", "df", "cfi", "rmsea", "srmr")},
                "delta": _delta(nxt, conf),
            }
        )
        cur = nxt
        if not cur.converged:
            break
    return steps, cur, free


def _latent_means(ctx: _Ctx, m: _Model) -> list[dict[str, Any]]:
    """Latent means of groups 2..G (group 1 fixed at 0) with SE, z, p, and d."""
    spec, x = m.spec, m.est.x
    _, info = _sem.gradient_information(spec, ctx.groups, x)
    try:
        vcov = linalg.inv(ctx.ntot / 2.0 * info)
    except (linalg.LinAlgError, ValueError):
        vcov = np.linalg.pinv(ctx.ntot / 2.0 * info)
    phi0 = _sem.matrices(spec, x, 0).phi
    ref = ctx.groups[0].name
    out = []
    for g in range(1, len(ctx.groups)):
        for f, name in enumerate(ctx.factors):
            k = int(spec.alpha_idx[g, f])
            if k < 0:
                continue
            est = float(x[k])
            se = float(np.sqrt(vcov[k, k])) if vcov[k, k] > 0 else float("nan")
            z = est / se if se > 0 else float("nan")
            out.append(
                {
                    "factor": name,
                    "group": ctx.groups[g].name,
                    "reference": ref,
                    "est": est,
                    "se": se,
                    "z": z,
                    "p": float(2.0 * stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan"),
                    "d": est / float(np.sqrt(phi0[f, f])) if phi0[f, f] > 0 else float("nan"),
                }
            )
    return out


def measurement_invariance(
    data: pd.DataFrame,
    model: Mapping[str, Sequence[str]],
    group: str,
    *,
    min_group_n: int = 30,
    estimator: str = "ml",
) -> InvarianceResult:
    """Test configural, metric, scalar and strict invariance of a CFA model across groups.

    Fits nested multi-group ML models with a mean structure (Meredith 1993), each
    jointly across groups with marker-variable identification in every group (first
    loading of each factor fixed to 1), correlated factors, and:

    * configural: loadings, intercepts, factor (co)variances and residual variances
      free in every group, latent means 0 -- ``cfa(model, data, group = group)``;
    * metric: loadings equal across groups --
      ``cfa(..., group = group, group.equal = "loadings")``;
    * scalar: loadings and intercepts equal, latent means free in groups 2..G --
      ``cfa(..., group = group, group.equal = c("loadings", "intercepts"))``;
    * strict: residual variances equal as well --
      ``group.equal = c("loadings", "intercepts", "residuals")``.

    Fit measures are lavaan's (``fitMeasures``): ``χ² = Σ_g N_g F_g``, CFI/TLI against
    the per-group independence model, RMSEA multiplied by ``sqrt(G)`` as lavaan does,
    SRMR averaged over groups with weights ``N_g / N`` and including mean residuals.

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
    estimator : {"ml", "mlr"}
        ``"mlr"``: the same ML estimates, and each fit also gets lavaan's MLR
        Yuan-Bentler scaling factor (``scaling_factor``, ``chisq_scaled``,
        ``p_scaled``; ``estimator = "MLR"``), so that every χ² difference is the
        Satorra-Bentler (2001) scaled difference, as ``lavTestLRT`` for MLR fits. The
        decisions still use the (ML) CFI, RMSEA and SRMR changes.

    Returns
    -------
    InvarianceResult

    Raises
    ------
    ValueError
        Missing group or item columns, an invalid model, fewer than 2 groups left
        after dropping small ones, a kept group with too few rows for a positive-
        definite covariance matrix (at least one more than the number of items), a
        constant item or a singular covariance matrix within a group, an unknown
        estimator.

    Notes
    -----
    Decision rules, each step against the step before it:

    * configural **holds** if its model converged with CFI ≥ 0.90 and RMSEA ≤ 0.08
      (conventional "acceptable" fit; Hu & Bentler 1999 recommend CFI ≥ .95,
      RMSEA ≤ .06 for good fit), else it **fails**; the later steps are still judged
      by their change in fit (a misfitting configural model does not make every
      constraint "fail"), but no level of invariance is then established;
    * metric (vs configural), scalar (vs metric, or partial metric) and strict (vs
      scalar, or partial scalar) **fail** when ΔCFI ≤ −0.010 (Chen 2007; Δ =
      constrained minus less constrained) and **hold** otherwise. Chen's ΔRMSEA ≥
      .015 and ΔSRMR ≥ .030 (loadings) or ≥ .010 (intercepts, residuals) are
      supporting evidence, stated in the step's reason with the χ² difference test
      (``lavTestLRT``), which does not decide (too sensitive at large n; Meade,
      Johnson & Braddy 2008);
    * a step is **not evaluated** when it cannot be: its model or the model it is
      compared with did not converge, or the step before it failed and no partial
      model holds;
    * when metric fails, a partial metric model frees the loading whose equality
      constraints have the largest score test (as ``lavTestScore(fit_metric, release
      = ...)``), refits, and repeats, at most three times, until Chen's rule holds
      against the configural model; when scalar fails, a partial scalar model does the
      same with intercepts against the metric (or partial metric) model. Strict is
      then tested on the partial model.

    Chen's rule stays the decision, but the verdict adds a caution when a step holds
    by it while its χ² difference test is significant (p < .05): fit-index changes
    average over many constraints and can hide one clearly non-invariant item. For
    the scalar step the caution names the items whose intercept score test is
    significant after Holm's adjustment across items (at most three, largest first)
    and the group where each differs most.

    Intercept diagnostics (``intercept_diagnostics``), on the scalar model:

    * mean residuals ``x̄_g − μ̂_g`` per group and item, also divided by the item's
      pooled within-group SD (``sqrt(Σ_g N_g s²_g / N)``, ML variances);
    * score (Lagrange multiplier) tests, Sörbom's (1989) modification indices for
      equality constraints, from the gradient and the *expected* information of the
      constrained ML fit (lavaan's default for ML), per item (df G − 1):
      ``lavTestScore(fit_scalar, release = ...)``; per item and group (df 1):
      ``lavTestScore(fit_scalar)$uni``. Holm (1979) adjusts the per-item p-values.

    Latent means (``latent_means``) come from the scalar model, or the partial scalar
    model, once that holds: each factor's mean in groups 2..G relative to group 1,
    with SE (expected information, as lavaan's default), z and p, as
    ``parameterEstimates(fit)``.

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
    Satorra, A., & Bentler, P. M. (2001). A scaled difference chi-square test statistic
    for moment structure analysis. *Psychometrika, 66*, 507-514.
    Saris, W. E., Satorra, A., & Sörbom, D. (1987). The detection and correction of
    specification errors in structural equation models. *Sociological Methodology,
    17*, 105-129.
    Sörbom, D. (1989). Model modification. *Psychometrika, 54*, 371-384.

    Examples
    --------
    >>> res = measurement_invariance(df, model, "language")  # doctest: +SKIP
    >>> res.level, res.decisions, res.reasons               # doctest: +SKIP
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if not isinstance(estimator, str) or estimator.lower() not in ("ml", "mlr"):
        raise ValueError(
            f"estimator {estimator!r} is not available for the invariance test (use 'ml' or 'mlr')"
        )
    estimator = estimator.lower()
    factors, items, assign = _sem.parse_model(model)
    if group not in data.columns:
        raise ValueError(f"group column {group!r} not in the data")
    if group in items:
        raise ValueError(f"group column {group!r} is also an item of the model")
    missing = [c for c in items if c not in data.columns]
    if missing:
        raise ValueError(f"items not in the data: {', '.join(map(str, missing))}")
    if (
        isinstance(min_group_n, bool)
        or not isinstance(min_group_n, int | np.integer)
        or min_group_n < 2
    ):
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
            f"have {len(kept)}" + (f" (dropped: {note})" if dropped else "")
        )
    with _sem.single_thread_blas():
        groups = [_sem.group_stats(name, mo.n, mo.mean, mo.cov(ddof=0), items) for name, mo in kept]
    raw = None
    if estimator == "mlr":  # the casewise scores need the rows themselves
        raw = []
        for name, _ in kept:
            lab = next(x for x in labels if str(x) == name)
            rows = df_all.loc[df_all[group] == lab, items].apply(pd.to_numeric, errors="coerce")
            raw.append(rows.dropna().to_numpy(dtype=float))
    # identification: the configural model must have df >= 0 in every group
    per_group_par = _sem.build_spec(assign, len(factors), 1, meanstructure=True).npar
    if per_group_par > p * (p + 1) // 2 + p:
        raise ValueError(
            "the model is not identified (negative degrees of freedom); "
            "a single factor needs at least 3 items"
        )
    ctx = _Ctx(groups, factors, items, assign, raw)
    with _sem.single_thread_blas():
        res = _steps(ctx, str(group), dropped)
    return dataclasses.replace(res, estimator=estimator)


def _steps(ctx: _Ctx, group: str, dropped: dict[str, int]) -> InvarianceResult:
    warns: list[str] = []
    dec: dict[str, str] = {}
    why: dict[str, str] = {}
    delta: dict[str, dict[str, Any]] = {}
    order: list[tuple[str, _Model | None, str | None]] = []  # step, model, compared with

    conf = _fit(ctx, "configural", _make_spec(ctx), warns)
    metric = _fit(ctx, "metric", _make_spec(ctx, loadings=True), warns)
    c = conf.fit
    if not conf.converged:
        dec["configural"], why["configural"] = "fails", "The configural model did not converge."
    elif c["cfi"] >= CONFIGURAL_MIN_CFI and c["rmsea"] <= CONFIGURAL_MAX_RMSEA:
        dec["configural"] = "holds"
        why["configural"] = (
            f"The configural model fits acceptably: CFI = {c['cfi']:.3f} "
            f"(criterion 0.90 or more), RMSEA = {c['rmsea']:.3f} "
            f"(criterion 0.08 or less)."
        )
    else:
        dec["configural"] = "fails"
        why["configural"] = (
            f"The configural model fits poorly: CFI = {c['cfi']:.3f} "
            f"(criterion 0.90 or more), RMSEA = {c['rmsea']:.3f} "
            f"(criterion 0.08 or less); the later steps are judged by "
            f"their change in fit only."
        )
    order.append(("configural", conf, None))

    # ---- metric, partial metric
    pm_steps: list[dict[str, Any]] = []
    free_l: list[int] = []
    metric_base: _Model | None = None
    if not conf.converged or not metric.converged:
        dec["metric"] = NOT_EVALUATED
        why["metric"] = (
            "The configural model did not converge."
            if not conf.converged
            else "The metric model (equal loadings) did not converge."
        )
    else:
        delta["metric"] = _delta(metric, conf)
        dec["metric"] = "fails" if _chen_fails(delta["metric"]) else "holds"
        why["metric"] = _reason(delta["metric"], SRMR_RISE_METRIC)
        if dec["metric"] == "holds":
            metric_base = metric
        else:
            pm_steps, pm, free_l = _partial_metric(ctx, metric, conf, warns)
            if pm_steps:
                names = ", ".join(pm.free)
                if not pm.converged:
                    dec["partial_metric"] = NOT_EVALUATED
                    why["partial_metric"] = f"The model freeing {names} did not converge."
                else:
                    delta["partial_metric"] = _delta(pm, conf)
                    ok = not _chen_fails(delta["partial_metric"])
                    dec["partial_metric"] = "holds" if ok else "fails"
                    why["partial_metric"] = (
                        f"Loadings freed (largest score test first): "
                        f"{names}. " + _reason(delta["partial_metric"], SRMR_RISE_METRIC)
                    )
                    if ok:
                        metric_base = pm
                order.append(("partial_metric", pm, "configural"))
            else:
                free_l = []
    order.insert(1, ("metric", metric, "configural"))

    # ---- scalar, partial scalar
    fl = free_l if metric_base is not None and metric_base is not metric else []
    scalar = _fit(
        ctx,
        "scalar",
        _make_spec(ctx, loadings=True, intercepts=True, free_loadings=fl),
        warns,
        metric_base.free if metric_base is not None else (),
    )
    diags: list[dict[str, Any]] = []
    ps_steps: list[dict[str, Any]] = []
    scalar_base: _Model | None = None
    free_i: list[int] = []
    if scalar.converged:
        try:
            diags = _intercept_diagnostics(
                scalar.spec, scalar.est, ctx.groups, ctx.factors, ctx.items, ctx.assign
            )
        except (ValueError, np.linalg.LinAlgError) as exc:  # pragma: no cover
            warns.append(f"scalar model: intercept diagnostics failed ({exc})")
    if metric_base is None:
        dec["scalar"] = NOT_EVALUATED
        why["scalar"] = (
            "The metric step failed and no partial metric model holds, so "
            "intercepts cannot be compared."
            if dec["metric"] == "fails"
            else "The metric step could not be evaluated."
        )
    elif not scalar.converged:
        dec["scalar"] = NOT_EVALUATED
        why["scalar"] = "The scalar model (equal loadings and intercepts) did not converge."
    else:
        delta["scalar"] = _delta(scalar, metric_base)
        dec["scalar"] = "fails" if _chen_fails(delta["scalar"]) else "holds"
        why["scalar"] = _reason(delta["scalar"], SRMR_RISE_SCALAR)
    order.append(("scalar", scalar, metric_base.name if metric_base else "metric"))
    if scalar.converged and diags:
        try:
            until = metric_base if dec["scalar"] == "fails" else None
            ps_steps, ps, free_i = _sequential_release(
                ctx, diags, scalar, fl, until, warns if until else None
            )
        except (ValueError, np.linalg.LinAlgError) as exc:  # pragma: no cover
            warns.append(f"scalar model: partial scalar search failed ({exc})")
            ps_steps, free_i = [], []
        if dec["scalar"] == "holds":
            scalar_base = scalar
        elif dec["scalar"] == "fails" and ps_steps:
            names = ", ".join(f"{ctx.items[i]}~1" for i in free_i)
            delta["partial_scalar"] = _delta(ps, metric_base)
            ok = not _chen_fails(delta["partial_scalar"])
            dec["partial_scalar"] = "holds" if ok else "fails"
            why["partial_scalar"] = (
                f"Intercepts freed (largest score test first): {names}. "
                + _reason(delta["partial_scalar"], SRMR_RISE_SCALAR)
            )
            if ok:
                scalar_base = ps
            order.append(("partial_scalar", ps, metric_base.name))

    # ---- strict
    strict: _Model | None = None
    if scalar_base is None:
        dec["strict"] = NOT_EVALUATED
        why["strict"] = (
            "The scalar step could not be evaluated."
            if dec["scalar"] == NOT_EVALUATED
            else "The scalar step failed and no partial scalar model holds."
        )
    else:
        fi = free_i if scalar_base is not scalar else []
        strict = _fit(
            ctx,
            "strict",
            _make_spec(
                ctx,
                loadings=True,
                intercepts=True,
                residuals=True,
                free_loadings=fl,
                free_intercepts=fi,
            ),
            warns,
            scalar_base.free,
        )
        if not strict.converged:
            dec["strict"] = NOT_EVALUATED
            why["strict"] = "The strict model (equal residual variances) did not converge."
        else:
            delta["strict"] = _delta(strict, scalar_base)
            dec["strict"] = "fails" if _chen_fails(delta["strict"]) else "holds"
            why["strict"] = _reason(delta["strict"], SRMR_RISE_SCALAR)
    order.append(("strict", strict, scalar_base.name if scalar_base else "scalar"))

    latent = _latent_means(ctx, scalar_base) if scalar_base is not None else []

    level = "none"
    if dec["configural"] == "holds":
        level = "configural"
        if dec["metric"] == "holds" or dec.get("partial_metric") == "holds":
            partial = dec["metric"] != "holds"
            level = "partial metric" if partial else "metric"
            if dec["scalar"] == "holds" or dec.get("partial_scalar") == "holds":
                partial = partial or dec["scalar"] != "holds"
                level = "partial scalar" if partial else "scalar"
                if dec["strict"] == "holds":
                    level = "partial strict" if partial else "strict"

    steps = []
    for name, m, base in order:
        steps.append(
            {
                "step": name,
                "decision": dec[name],
                "reason": why[name],
                "compared_with": base,
                "free": list(m.free) if m else [],
                "fit": dict(m.fit) if m else {},
                "delta": delta.get(name),
            }
        )
    fits = {"configural": conf.fit, "metric": metric.fit, "scalar": scalar.fit}
    verdict = _verdict(level, group, dec, delta, fits, pm_steps, ps_steps, ctx)
    verdict = _with_cautions(
        verdict, level, dec, group, delta, ps_steps if dec["scalar"] == "holds" else []
    )
    verdict += _strict_and_means(dec, delta, group, latent)
    return InvarianceResult(
        group=group,
        groups={gs.name: gs.n for gs in ctx.groups},
        dropped_groups=dropped,
        configural=conf.fit,
        metric=metric.fit,
        scalar=scalar.fit,
        strict=strict.fit if strict is not None else {},
        delta=delta,
        decisions=dec,
        reasons=why,
        steps=tuple(steps),
        level=level,
        verdict=verdict,
        warnings=tuple(dict.fromkeys(warns)),
        intercept_diagnostics=tuple(diags),
        partial_scalar=tuple(ps_steps),
        partial_metric=tuple(pm_steps),
        latent_means=tuple(latent),
    )


def _names(steps: Sequence[Mapping[str, Any]], loadings: bool = False) -> str:
    n = [f"{s['dimension']}=~{s['item']}" if loadings else s["item"] for s in steps]
    return n[0] if len(n) == 1 else f"{', '.join(n[:-1])} and {n[-1]}"


def _verdict(
    level: str,
    group: str,
    dec: Mapping[str, str],
    delta: Mapping[str, Mapping[str, Any]],
    fits: Mapping[str, Mapping[str, Any]],
    pm: Sequence[Mapping[str, Any]],
    ps: Sequence[Mapping[str, Any]],
    ctx: _Ctx,
) -> str:
    conf = fits["configural"]
    if dec["configural"] != "holds":
        why = (
            "did not converge"
            if not conf["converged"]
            else f"fits poorly (CFI = {conf['cfi']:.3f}, RMSEA = {conf['rmsea']:.3f})"
        )
        held = [_WHAT[lv] for lv in ("metric", "scalar", "strict") if dec.get(lv) == "holds"]
        extra = ""
        if held:
            extra = (
                f" Judged by the change in fit alone, equal {' and equal '.join(held)} "
                f"add little misfit (see the steps), but that cannot establish "
                f"invariance on a misfitting base model."
            )
        return (
            f"No invariance established: the factor model {why} when fitted in every "
            f"{group} (configural model), so scores cannot be compared across {group}; "
            f"check the model within each {group} first." + extra
        )
    if level in ("scalar", "strict"):
        return (
            f"Scores can be compared across {group}: loadings and intercepts are "
            f"invariant (scalar invariance holds)."
        )
    if level in ("partial scalar", "partial strict"):
        parts = []
        if pm and dec["metric"] != "holds":
            parts.append(f"the loading(s) {_names(pm, True)}")
        if ps and dec["scalar"] != "holds":
            parts.append(f"the intercept(s) of {_names(ps)}")
        base = "partial metric" if dec["metric"] != "holds" else "metric"
        d = delta["partial_scalar"] if "partial_scalar" in delta else delta["scalar"]
        return (
            f"Partial scalar invariance across {group}: with {' and '.join(parts)} "
            f"freed (largest score tests; Byrne, Shavelson and Muthén 1989), the other "
            f"loadings and intercepts are invariant (ΔCFI = {_sgn(d['cfi'])} against the "
            f"{base} model), so latent means can be compared across {group}, but the "
            f"observed scores of the items freed are not directly comparable."
        )
    if level in ("metric", "partial metric"):
        head = (
            "Metric holds but scalar fails"
            if level == "metric"
            else f"Partial metric invariance (loading(s) {_names(pm, True)} freed) but scalar fails"
        )
        if dec["scalar"] == NOT_EVALUATED:
            why = "the scalar model did not converge"
        else:
            d = delta["scalar"]
            why = (
                f"loadings are invariant, intercepts are not: ΔCFI = {d['cfi']:+.3f}, "
                f"ΔRMSEA = {d['rmsea']:+.3f}"
            )
        tail = ""
        if dec.get("partial_scalar") == "fails":
            tail = (
                f" Freeing the intercepts of {_names(ps)} (partial scalar model) did not "
                f"restore it."
            )
        return f"{head}: compare trends within each {group}, not levels across them ({why}).{tail}"
    # configural only
    if dec["metric"] == NOT_EVALUATED:
        why = "the metric model (equal loadings) did not converge"
    else:
        d = delta["metric"]
        why = f"the loadings differ: ΔCFI = {d['cfi']:+.3f}, ΔRMSEA = {d['rmsea']:+.3f}"
        if dec.get("partial_metric") == "fails":
            why += f" (freeing {_names(pm, True)} did not restore it)"
    return (
        f"Only configural invariance holds: the same factor structure fits every "
        f"{group}, but {why}; neither score levels nor relationships can be "
        f"compared across {group}, so report each {group} separately."
    )


def _strict_and_means(
    dec: Mapping[str, str],
    delta: Mapping[str, Mapping[str, Any]],
    group: str,
    latent: Sequence[Mapping[str, Any]],
) -> str:
    out = ""
    if dec["configural"] == "holds" and dec["strict"] == "holds":
        out += " Residual variances are invariant too (strict invariance holds)."
    elif dec["configural"] == "holds" and dec["strict"] == "fails":
        d = delta["strict"]
        out += (
            f" Residual variances differ across {group} (strict invariance fails: "
            f"ΔCFI = {d['cfi']:+.3f}), which matters for comparing observed-score "
            f"variances, not latent means."
        )
    if latent and dec["configural"] == "holds":
        sig = [x for x in latent if np.isfinite(x["p"]) and x["p"] < ALPHA]
        ref = latent[0]["reference"]
        if not sig:
            out += f" No latent mean differs significantly from those in {ref}."
        else:
            bits = [
                f"{x['factor']} {'higher' if x['est'] > 0 else 'lower'} in {x['group']} "
                f"(d = {x['d']:+.2f}, {_p_words(x['p'])})"
                for x in sig[:4]
            ]
            more = f" and {len(sig) - 4} more" if len(sig) > 4 else ""
            out += f" Latent means differing from those in {ref}: {'; '.join(bits)}{more}."
    return out


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


def _intercept_diagnostics(
    spec: _sem.Spec,
    est: _sem.Estimate,
    groups: list[_sem.GroupStats],
    factors: list[str],
    items: list[str],
    assign: list[int],
) -> list[dict[str, Any]]:
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
        out.append(
            {
                "item": items[i],
                "dimension": factors[assign[i]],
                "lm": float(st.lm_item[i]),
                "df": df,
                "p": float(p[i]),
                "p_holm": float(p_holm[i]),
                "group_max": names[g],
                "lm_group_max": float(st.lm_group[g, i]),
                "residual": float(resid[g, i]),
                "std_residual": float(std[g, i]),
                "epc": float(st.epc_group[g, i]),
                "lm_by_group": {n: float(st.lm_group[k, i]) for k, n in enumerate(names)},
                "residual_by_group": {n: float(resid[k, i]) for k, n in enumerate(names)},
                "std_residual_by_group": {n: float(std[k, i]) for k, n in enumerate(names)},
            }
        )
    return out


def _sequential_release(
    ctx: _Ctx,
    diags: list[dict[str, Any]],
    scalar: _Model,
    free_loadings: Sequence[int],
    until: _Model | None,
    warns: list[str] | None,
) -> tuple[list[dict[str, Any]], _Model, list[int]]:
    """Free intercepts one at a time by the largest score test, refitting after each.

    The forward search of a partial scalar model (Byrne, Shavelson & Muthén 1989; the
    same idea as ``semTools::partialInvariance`` or Mplus modification indices). With
    ``until`` (the model the scalar step is compared with), it continues while Chen's
    rule still fails against ``until``: the partial scalar search when scalar
    invariance fails. Without, it continues while the largest score test is
    Holm-significant (across the items still constrained): the items named in the
    cautions when scalar invariance holds. At most ``_NAME_MAX`` intercepts. Refitting
    matters: one item's shifted intercept biases the latent mean of its group, so the
    *other* items of its dimension show spurious residuals of the opposite sign until
    it is freed. Each step records the likelihood-ratio χ² difference of the refit
    (df G − 1). Returns the steps, the last model and the freed item positions.
    """
    G = len(ctx.groups)
    items = ctx.items
    steps: list[dict[str, Any]] = []
    free: list[int] = []
    prev = scalar
    current = diags

    def go_on() -> bool:
        if not current or len(steps) >= _NAME_MAX:
            return False
        if until is None:
            return current[0]["p_holm"] < ALPHA
        return _chen_fails(_delta(prev, until))

    while go_on():
        top = current[0]
        free.append(items.index(top["item"]))
        spec = _make_spec(
            ctx, loadings=True, intercepts=True, free_loadings=free_loadings, free_intercepts=free
        )
        names = [f"{ctx.factors[ctx.assign[j]]}=~{items[j]}" for j in free_loadings]
        m = _fit(ctx, "partial scalar", spec, warns, names + [f"{items[j]}~1" for j in free])
        if not m.converged:
            free.pop()
            break
        dchi = prev.fit["chisq"] - m.fit["chisq"]
        steps.append(
            {
                "item": top["item"],
                "dimension": top["dimension"],
                "group_max": top["group_max"],
                "std_residual": top["std_residual"],
                "lm": top["lm"],
                "p_holm": top["p_holm"],
                "chisq": float(dchi),
                "df": G - 1,
                "p": float(stats.chi2.sf(max(dchi, 0.0), G - 1)),
                "fit": {k: m.fit[k] for k in ("chisq", "df", "cfi", "rmsea", "srmr")},
            }
        )
        prev = m
        if len(free) == len(items):
            break
        current = _intercept_diagnostics(m.spec, m.est, ctx.groups, ctx.factors, items, ctx.assign)
    return steps, prev, free


def _flagged(steps: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return list(steps[:_NAME_MAX])


def _item_phrase(flag: Sequence[Mapping[str, Any]], group: str | None = None) -> str:
    """'the intercept of item X (...) differs across <group>' (without group: no verb)."""

    def one(d: Mapping[str, Any]) -> str:
        where = "higher" if d["std_residual"] > 0 else "lower"
        return (
            f"{d['item']} (largest in {d['group_max']}, where its mean is "
            f"{abs(d['std_residual']):.2f} SD {where} than equal intercepts imply)"
        )

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


def _with_cautions(
    base: str,
    level: str,
    decisions: Mapping[str, str],
    group: str,
    delta: Mapping[str, Mapping[str, float]],
    steps: Sequence[Mapping[str, Any]],
) -> str:
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
        head = (
            f"By the criteria of Chen (2007) scalar invariance holds ({crit('scalar')}), "
            f"so scores can be compared across {group}, but the χ² difference test is "
            f"significant ({chi('scalar')})"
        )
        if flag:
            out = [
                f"{head}: {_item_phrase(flag, group)}. Level comparisons of "
                f"{_dims_phrase(flag)} across {group} should be made with care."
            ]
        else:
            out = [
                f"{head} and no single intercept stands out after the Holm adjustment: "
                f"the differences are spread over the items. Level comparisons across "
                f"{group} should be made with care."
            ]
    if sig("metric"):
        out.append(
            f"{'The loadings step, too,' if sig('scalar') else 'The loadings step'} "
            f"has a significant χ² difference test ({chi('metric')}) while its "
            f"{crit('metric')} are within the criteria of Chen (2007): some loadings "
            f"may differ across {group}, so relationships across {group} should "
            f"{'also ' if sig('scalar') else ''}be compared with care."
        )
    if level == "metric" and flag:
        out.append(
            f"Score tests single out {_item_phrase(flag)}; a partial scalar "
            f"model freeing {'this intercept' if len(flag) == 1 else 'these intercepts'} "
            f"(Byrne, Shavelson and Muthén 1989) may allow level comparisons on the "
            f"other items."
        )
    return " ".join(out)
