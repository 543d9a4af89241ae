"""Exploratory factor analysis with deterministic factor order and sign.

:mod:`analysis._fa` does the fitting (our own minres/ML extraction, factor_analyzer's
rotations; agreeing with psych to about 1e-4). Callers get loadings labelled by item
id, communalities, factor correlations, Tucker's congruence of each factor with the
instrument's intended structure, and the fit's warnings (non-convergence, Heywood
cases).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ._fa import EXTRACTIONS, ROTATIONS, fit
from ._result import AnalysisError, Result, fmt
from .factorability import as_moments, checked_corr
from .moments import Moments

#: Minimum congruence for a factor to be named after the dimension it was matched to.
NAME_MIN = 0.5


def tucker_congruence(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tucker's congruence coefficient between the columns of ``a`` and ``b``.

    ``phi(x, y) = sum x y / sqrt(sum x^2 sum y^2)``; values of .95 or more indicate
    that two factors are equal (Lorenzo-Seva & ten Berge 2006). Returns the matrix
    of coefficients between every column of ``a`` (rows) and of ``b`` (columns).

    R: ``psych::factor.congruence(a, b)``.

    References
    ----------
    Tucker, L. R. (1951). *A method for synthesis of factor analysis studies*
    (Personnel Research Section Report No. 984). Department of the Army.

    Lorenzo-Seva, U., & ten Berge, J. M. F. (2006). Tucker's congruence coefficient
    as a meaningful index of factor similarity. *Methodology*, 2(2), 57-64.
    https://doi.org/10.1027/1614-2241.2.2.57
    """
    a = np.atleast_2d(np.asarray(a, dtype=float).T).T
    b = np.atleast_2d(np.asarray(b, dtype=float).T).T
    num = a.T @ b
    den = np.sqrt(np.outer((a**2).sum(axis=0), (b**2).sum(axis=0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def target_matrix(items: Sequence[str], structure: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Items x dimensions matrix with 1 where the item belongs to the dimension."""
    dims = list(structure)
    t = np.zeros((len(items), len(dims)))
    for j, d in enumerate(dims):
        for it in structure[d]:
            if it in items:
                t[list(items).index(it), j] = 1.0
    return t


def align_factors(
    loadings: np.ndarray, phi: np.ndarray | None, target: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[int | None]]:
    """Deterministic sign and order of factor columns.

    Signs are flipped so every column sum of loadings is positive. Columns are then
    ordered to match the columns of ``target`` (maximum total congruence, by the
    Hungarian algorithm); columns left unmatched follow in decreasing sum of squared
    loadings. Without a target, all columns are ordered by sum of squared loadings.
    ``phi`` is permuted and sign-flipped the same way. Returns the aligned loadings,
    phi and, for each aligned column, the index of the target column it matched.
    """
    lam = loadings.copy()
    signs = np.where(lam.sum(axis=0) < 0, -1.0, 1.0)
    lam = lam * signs
    ssl = (lam**2).sum(axis=0)
    m = lam.shape[1]
    order: list[int] = []
    matched: list[int | None] = []
    if target is not None and target.shape[1] > 0:
        c = np.nan_to_num(tucker_congruence(lam, target))
        rows, cols = linear_sum_assignment(-c)
        pairs = sorted(zip(cols, rows, strict=True))
        order = [int(r) for _, r in pairs]
        matched = [int(cc) for cc, _ in pairs]
    rest = sorted((j for j in range(m) if j not in order), key=lambda j: -ssl[j])
    order += rest
    matched += [None] * len(rest)
    lam = lam[:, order]
    if phi is not None:
        phi = (phi * np.outer(signs, signs))[np.ix_(order, order)]
    return lam, phi, matched


@dataclass(frozen=True)
class EFAResult(Result):
    """An exploratory factor solution. See :func:`efa`."""

    n_factors: int
    extraction: str
    rotation: str
    n: int
    factors: tuple[str, ...]
    loadings: Mapping[str, tuple[float, ...]]
    communalities: Mapping[str, float]
    uniquenesses: Mapping[str, float]
    factor_correlations: tuple[tuple[float, ...], ...] | None
    ss_loadings: tuple[float, ...]
    matched_dimension: tuple[str | None, ...]
    congruence: Mapping[str, float]
    cross_loadings: tuple[str, ...]
    #: Non-convergence of the extraction or rotation, Heywood cases (a uniqueness at
    #: its lower bound 0.005 or a communality of 1 or more) and numerical warnings.
    warnings: tuple[str, ...] = ()

    def loadings_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.loadings, index=list(self.factors)).T

    def summary(self) -> str:
        df = self.loadings_frame()
        head = "item      " + " ".join(f"{f:>8}" for f in self.factors) + "      h2"
        lines = [
            f"EFA: {self.n_factors} factors, {self.extraction} extraction, {self.rotation} "
            f"rotation, n = {self.n}",
            head,
        ]
        for it, row in df.iterrows():
            cells = " ".join(f"{v:8.3f}" if abs(v) >= 0.3 else f"{'.':>8}" for v in row)
            lines.append(f"{it:<9} {cells}  {self.communalities[it]:6.3f}")
        if self.congruence:
            lines.append(
                "Tucker congruence with the intended structure: "
                + ", ".join(f"{d} {fmt(v)}" for d, v in self.congruence.items())
            )
        if self.factor_correlations is not None:
            lines.append("factor correlations:")
            for f, row in zip(self.factors, self.factor_correlations, strict=True):
                lines.append(f"  {f:<8}" + " ".join(f"{v:6.2f}" for v in row))
        if self.warnings:
            lines += ["warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def efa(
    data: pd.DataFrame | Moments,
    n_factors: int,
    *,
    extraction: str = "minres",
    rotation: str = "oblimin",
    structure: Mapping[str, Sequence[str]] | None = None,
    cross_loading: float = 0.3,
) -> EFAResult:
    """Exploratory factor analysis of a correlation matrix.

    Parameters
    ----------
    data : DataFrame or Moments
        Items (reverse-keyed), reduced to complete rows.
    n_factors : number of factors.
    extraction : ``"minres"`` or ``"ml"``.
    rotation : ``"oblimin"`` (quartimin, gamma 0), ``"promax"`` (power 4),
        ``"varimax"`` or ``"none"``.
    structure : intended structure ``{dimension: [items]}``; used to order the
        factors (each factor named after the dimension it matches) and to report
        Tucker's congruence of each factor with its dimension's 0/1 target column.
    cross_loading : items loading at least this much (absolute) on more than one
        factor are listed in ``cross_loadings``.

    Notes
    -----
    Factors are made deterministic by :func:`align_factors`: signs so that column
    sums are positive, order by the matched dimension (or by sum of squared
    loadings). A factor is named after its matched dimension (``"F1 (REL)"``) only
    when its congruence with it is at least 0.5; ``congruence`` reports every match.
    Communalities of oblique solutions are ``diag(L Phi L^T)``.

    Non-convergence (of the extraction or the rotation) and Heywood cases do not
    raise: they are listed in ``warnings`` and in ``summary()``, as psych warns.

    R: ``psych::fa(x, nfactors = 5, fm = "minres", rotate = "oblimin")`` and
    ``psych::fa(x, nfactors = 5, fm = "ml", rotate = "varimax")``.

    References
    ----------
    Harman, H. H., & Jones, W. H. (1966). Factor analysis by minimizing residuals
    (minres). *Psychometrika*, 31(3), 351-368.

    Jennrich, R. I. (2002). A simple general method for oblique rotation.
    *Psychometrika*, 67(1), 7-19 (oblimin by gradient projection).

    Kaiser, H. F. (1958). The varimax criterion for analytic rotation in factor
    analysis. *Psychometrika*, 23(3), 187-200.

    Hendrickson, A. E., & White, P. O. (1964). Promax: a quick method for rotation
    to oblique simple structure. *British Journal of Statistical Psychology*, 17, 65-70.

    Tucker, L. R. (1951); Lorenzo-Seva, U., & ten Berge, J. M. F. (2006): see
    :func:`tucker_congruence`.
    """
    if extraction not in EXTRACTIONS:
        raise AnalysisError(f"unknown extraction {extraction!r} (use {' or '.join(EXTRACTIONS)})")
    if rotation not in ROTATIONS:
        raise AnalysisError(f"unknown rotation {rotation!r} (use {', '.join(ROTATIONS)})")
    m = as_moments(data)
    k = len(m.columns)
    if not 1 <= n_factors < k:
        raise AnalysisError(
            f"n_factors must be between 1 and {k - 1} for {k} items, got {n_factors}"
        )
    dof = ((k - n_factors) ** 2 - (k + n_factors)) / 2
    if extraction == "ml" and dof < 0:
        raise AnalysisError(
            f"{n_factors} factors are too many for {k} items with ML (negative degrees of freedom)"
        )
    r = checked_corr(m)
    items = list(m.columns)
    ff = fit(r, n_factors, extraction, rotation, items)
    lam, u, phi = ff.loadings, ff.uniquenesses, ff.phi
    target = None
    if structure:
        target = target_matrix(items, structure)
    lam, phi, matched = align_factors(lam, phi, target)
    dims = list(structure) if structure else []
    matched_names = tuple(dims[j] if j is not None else None for j in matched)
    communal = 1.0 - u
    congruence = {}
    if target is not None:
        c = tucker_congruence(lam, target)
        congruence = {
            d: float(c[i, matched[i]]) for i, d in enumerate(matched_names) if d is not None
        }
    # name a factor after its dimension only if it resembles it at all
    factors = tuple(
        f"F{i + 1}" + (f" ({d})" if d and congruence.get(d, 0) >= NAME_MIN else "")
        for i, d in enumerate(matched_names)
    )
    cross = tuple(
        it for it, row in zip(items, lam, strict=True) if (np.abs(row) >= cross_loading).sum() > 1
    )
    return EFAResult(
        n_factors=n_factors,
        extraction=extraction,
        rotation=rotation,
        n=m.n,
        factors=factors,
        loadings={it: tuple(map(float, row)) for it, row in zip(items, lam, strict=True)},
        communalities=dict(zip(items, map(float, communal), strict=True)),
        uniquenesses=dict(zip(items, map(float, u), strict=True)),
        factor_correlations=None if phi is None else tuple(tuple(map(float, r_)) for r_ in phi),
        ss_loadings=tuple(map(float, (lam**2).sum(axis=0))),
        matched_dimension=matched_names,
        congruence=congruence,
        cross_loadings=cross,
        warnings=ff.warnings,
    )
