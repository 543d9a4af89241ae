"""Discriminant validity: the HTMT ratio and the Fornell-Larcker table.

Two ways of asking whether the dimensions of an instrument measure different things:

* :func:`htmt`, the heterotrait-monotrait ratio of correlations, exactly as R's
  ``semTools::htmt(model, data)`` (semTools 0.5-6). By default (``htmt2=True``, as
  semTools) it is HTMT2 (Roemer, Schuberth & Henseler 2021): the geometric mean of the
  absolute correlations between the items of two dimensions, divided by the geometric
  mean of the two dimensions' average within-dimension correlations (each a geometric
  mean). ``htmt2=False`` gives the original arithmetic HTMT of Henseler, Ringle &
  Sarstedt (2015), on absolute correlations (semTools' ``absolute = TRUE``). Values
  above .85 (Kline's strict threshold; .90 for conceptually close constructs) say that
  two dimensions are not empirically distinct.
* :func:`fornell_larcker`: the square root of each factor's average variance extracted
  (Fornell & Larcker 1981: the mean squared standardized loading, ``std.all``) beside the
  factor correlations of the correlated-factors CFA. The criterion holds for a pair when
  both square roots exceed the absolute correlation.

:func:`validity` gathers both with their verdicts (AVE below .50, HTMT above .85, and
a flag when the CFA solution is improper, so that its AVE is not interpretable).

References
----------
Fornell, C., & Larcker, D. F. (1981). Evaluating structural equation models with
unobservable variables and measurement error. *Journal of Marketing Research, 18*, 39-50.
Henseler, J., Ringle, C. M., & Sarstedt, M. (2015). A new criterion for assessing
discriminant validity in variance-based structural equation modeling. *Journal of the
Academy of Marketing Science, 43*, 115-135.
Roemer, E., Schuberth, F., & Henseler, J. (2021). HTMT2 - an improved criterion for
assessing discriminant validity in structural equation modeling. *Industrial Management
& Data Systems, 121*, 2637-2650.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import _sem
from ._result import AnalysisError, Result, fmt
from .moments import Moments

__all__ = ["HTMT_MAX", "AVE_MIN", "ValidityResult", "fornell_larcker", "htmt", "validity"]

#: HTMT above this says two dimensions are not distinct (Henseler et al. 2015; Kline).
HTMT_MAX = 0.85
#: AVE below this: a factor explains less than half of its items' variance.
AVE_MIN = 0.50


def _corr(data: pd.DataFrame | Moments, items: Sequence[str]) -> tuple[np.ndarray, int]:
    """Pearson correlations of ``items`` on the rows complete on all of them, and that n."""
    if isinstance(data, Moments):
        absent = [c for c in items if c not in data.columns]
        if absent:
            raise AnalysisError(f"items not in the moments: {', '.join(map(str, absent))}")
        m = data.subset(items)
    elif isinstance(data, pd.DataFrame):
        absent = [c for c in items if c not in data.columns]
        if absent:
            raise AnalysisError(f"items not in the data: {', '.join(map(str, absent))}")
        m = Moments.from_frame(data, items)
    else:
        raise AnalysisError(
            f"data must be a pandas DataFrame or a Moments object, not {type(data).__name__}"
        )
    if m.n < 3:
        raise AnalysisError(f"too few complete rows for HTMT: {m.n}")
    cov = m.cov()
    var = np.diag(cov)
    const = [it for it, v in zip(items, var, strict=True) if not v > 0]
    if const:
        raise AnalysisError(f"constant item(s) (zero variance): {', '.join(const)}")
    d = 1.0 / np.sqrt(var)
    return cov * np.outer(d, d), int(m.n)


def htmt(
    data: pd.DataFrame | Moments, model: Mapping[str, Sequence[str]], *, htmt2: bool = True
) -> dict[str, dict[str, float]]:
    """Heterotrait-monotrait ratio of every pair of dimensions, as ``semTools::htmt``.

    Parameters
    ----------
    data : DataFrame or Moments
        Item responses (reverse-keyed items recoded); the rows complete on all the
        model's items are used, as ``semTools::htmt(model, data)`` with its default
        ``missing = "listwise"``.
    model : mapping
        Dimension -> its items.
    htmt2 : bool
        Geometric means (HTMT2, semTools' default) or arithmetic means (the original).

    Returns
    -------
    dict
        ``{dim: {dim: value}}``, symmetric with 1 on the diagonal.

    Raises
    ------
    AnalysisError
        Missing items, an item in two dimensions, a dimension with fewer than 2 items
        (its within-dimension correlation is undefined), constant items, or an exact
        zero correlation with ``htmt2`` (its logarithm is undefined).
    """
    try:
        factors, items, assign = _sem.parse_model(model)
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    r, _ = _corr(data, items)
    r = np.abs(r)
    idx = {f: np.flatnonzero(np.asarray(assign) == j) for j, f in enumerate(factors)}
    if htmt2 and np.any(r == 0):
        raise AnalysisError(
            "an item correlation is exactly 0: HTMT2 (geometric means) is "
            "undefined; use htmt2=False"
        )

    def mean(block: np.ndarray) -> float:
        return float(np.exp(np.mean(np.log(block)))) if htmt2 else float(np.mean(block))

    within = {}
    for f in factors:
        i = idx[f]
        block = r[np.ix_(i, i)][~np.eye(i.size, dtype=bool)]
        within[f] = mean(block)
    out: dict[str, dict[str, float]] = {}
    for a in factors:
        out[a] = {}
        for b in factors:
            if a == b:
                out[a][b] = 1.0
                continue
            het = mean(r[np.ix_(idx[a], idx[b])].ravel())
            out[a][b] = het / np.sqrt(within[a] * within[b])
    return out


def fornell_larcker(cfa_result: Any) -> dict[str, Any]:
    """The Fornell-Larcker table of a fitted correlated-factors CFA.

    Returns ``{"ave": {f: AVE}, "sqrt_ave": {f: √AVE}, "table": {f: {g: value}}, "holds":
    {f: {g: bool}}, "n": ..., "estimator": ..., "missing": ...}`` (the last three describe
    the CFA): ``table`` has √AVE on the diagonal and the factor correlations off it;
    ``holds[f][g]`` is true when both √AVE exceed |r(f, g)|. AVE is Fornell and
    Larcker's (1981) mean squared standardized loading, computed here from
    ``cfa_result.std_loadings`` (it is not semTools' ``AVE``, which the CFA reports).
    """
    factors = list(cfa_result.factors)
    std = cfa_result.std_loadings
    ave = {f: float(np.mean([std[it] ** 2 for it in cfa_result.model[f]])) for f in factors}
    sq = {f: float(np.sqrt(v)) if v >= 0 else float("nan") for f, v in ave.items()}
    corr = cfa_result.factor_correlations
    table = {a: {b: (sq[a] if a == b else float(corr[a][b])) for b in factors} for a in factors}
    holds = {
        a: {b: bool(sq[a] > abs(corr[a][b]) and sq[b] > abs(corr[a][b])) for b in factors if b != a}
        for a in factors
    }
    return {
        "ave": ave,
        "sqrt_ave": sq,
        "table": table,
        "holds": holds,
        "n": getattr(cfa_result, "n", None),
        "estimator": getattr(cfa_result, "estimator", "ml"),
        "missing": getattr(cfa_result, "missing", "listwise"),
    }


@dataclass(frozen=True)
class ValidityResult(Result):
    """Discriminant validity of the dimensions (see :func:`validity`)."""

    n: int
    factors: tuple[str, ...]
    htmt: dict[str, dict[str, float]]
    htmt_method: str
    htmt_threshold: float
    fornell_larcker: dict[str, Any] | None
    ave_threshold: float
    improper_solution: bool
    verdicts: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())

    def high_htmt_pairs(self) -> list[tuple[str, str, float]]:
        fs = self.factors
        return [
            (a, b, self.htmt[a][b])
            for i, a in enumerate(fs)
            for b in fs[i + 1 :]
            if self.htmt[a][b] > self.htmt_threshold
        ]

    def summary(self) -> str:
        fs = self.factors
        lines = [
            f"Discriminant validity, n = {self.n} ({self.htmt_method})",
            "  HTMT" + " " * 6 + "".join(f"{c:>8}" for c in fs),
        ]
        for a in fs:
            lines.append(f"  {a:<10}" + "".join(f"{fmt(self.htmt[a][b]):>8}" for b in fs))
        fl = self.fornell_larcker
        if fl is not None:
            lines += [
                "",
                "  Fornell-Larcker (sqrt(AVE) on the diagonal, factor correlations "
                "below)" + (" [improper CFA solution]" if self.improper_solution else ""),
            ]
            for i, a in enumerate(fs):
                lines.append(
                    f"  {a:<10}" + "".join(f"{fmt(fl['table'][a][b]):>8}" for b in fs[: i + 1])
                )
        lines += [f"  - {v}" for v in self.verdicts]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def validity(
    data: pd.DataFrame | Moments,
    model: Mapping[str, Sequence[str]],
    cfa_result: Any = None,
    *,
    htmt2: bool = True,
) -> ValidityResult:
    """HTMT and (given a fitted CFA of the same model) the Fornell-Larcker table, with verdicts.

    Verdicts: every HTMT above :data:`HTMT_MAX` (.85) names the pair; every factor whose
    AVE is below :data:`AVE_MIN` (.50) is named; when the CFA did not converge or has a
    Heywood case or a non-positive-definite factor covariance matrix, AVE and the
    Fornell-Larcker comparison are marked as coming from an improper solution.
    """
    h = htmt(data, model, htmt2=htmt2)
    factors = tuple(h)
    items = [it for f in factors for it in model[f]]
    _, n = _corr(data, items)
    fl = None
    improper = False
    verdicts: list[str] = []
    warns: list[str] = []
    if cfa_result is not None and hasattr(cfa_result, "std_loadings"):
        fl = fornell_larcker(cfa_result)
        improper = (not getattr(cfa_result, "converged", True)) or any(
            ("Heywood" in w or "not positive definite" in w)
            for w in getattr(cfa_result, "warnings", ())
        )
        # the AVE the CFA reports (semTools' definition once the CFA uses it), else ours
        ave = getattr(cfa_result, "ave", None) or fl["ave"]
        low = [f for f in factors if f in ave and ave[f] < AVE_MIN]
        tag = (
            " (from an improper CFA solution: Heywood case, non-convergence or a "
            "non-positive-definite factor covariance matrix; not interpretable)"
            if improper
            else ""
        )
        if low:
            verdicts.append(
                "Convergent validity: AVE (CFA) is below .50 for "
                + ", ".join(f"{f} ({fmt(ave[f], 2)})" for f in low)
                + ": those dimensions explain less than half of their items' "
                "variance" + tag + "."
            )
        else:
            verdicts.append(
                "Convergent validity: AVE is at least .50 for every dimension" + tag + "."
            )
        fails = sorted(
            {
                tuple(sorted((a, b)))
                for a, row in fl["holds"].items()
                for b, ok in row.items()
                if not ok
            }
        )
        if fails:
            verdicts.append(
                "Fornell-Larcker criterion fails for "
                + ", ".join(f"{a}-{b}" for a, b in fails)
                + " (a factor correlation exceeds a square root of AVE)"
                + tag
                + "."
            )
        if improper:
            warns.append(
                "AVE and the Fornell-Larcker table come from an improper CFA "
                "solution and are not interpretable"
            )
    pairs = [
        (a, b, h[a][b])
        for i, a in enumerate(factors)
        for b in factors[i + 1 :]
        if h[a][b] > HTMT_MAX
    ]
    if pairs:
        verdicts.append(
            "Discriminant validity: HTMT is above .85 for "
            + ", ".join(f"{a}-{b} ({fmt(v, 2)})" for a, b, v in pairs)
            + ": those dimensions are not empirically distinct."
        )
    else:
        verdicts.append("Discriminant validity: HTMT is at most .85 for every pair of dimensions.")
    method = (
        "HTMT2 (geometric means of absolute correlations; semTools::htmt default)"
        if htmt2
        else "HTMT (arithmetic means of absolute correlations)"
    )
    return ValidityResult(
        n=n,
        factors=factors,
        htmt=h,
        htmt_method=method,
        htmt_threshold=HTMT_MAX,
        fornell_larcker=fl,
        ave_threshold=AVE_MIN,
        improper_solution=improper,
        verdicts=tuple(verdicts),
        warnings=tuple(warns),
    )
