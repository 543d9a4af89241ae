"""Is a correlation matrix worth factoring? Kaiser-Meyer-Olkin MSA and Bartlett's test.

Both are computed from :class:`~analysis.moments.Moments` (a correlation matrix and
n), not with factor_analyzer's versions, which fail on missing values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ._fa import check_corr
from ._result import AnalysisError, Result, fmt, fmt_p
from .moments import Moments


def as_moments(data: pd.DataFrame | Moments) -> Moments:
    """Moments of the complete rows of a numeric DataFrame (or the Moments given)."""
    if isinstance(data, Moments):
        return data
    if isinstance(data, pd.DataFrame):
        return Moments.from_frame(data)
    raise TypeError(f"expected a DataFrame or Moments, got {type(data).__name__}")


def checked_corr(m: Moments, *, min_n: int | None = None, what: str = "items") -> np.ndarray:
    """The correlation matrix of ``m``, with clear errors for too few rows,
    constant items and singular matrices."""
    k = len(m.columns)
    need = max(10, k + 2) if min_n is None else min_n
    if m.n < need:
        raise AnalysisError(
            f"too few rows complete across the {k} {what} ({m.n}; need at least {need})"
        )
    try:
        r = m.corr()
    except ValueError as e:
        raise AnalysisError(f"{e}; remove the item or check the data") from None
    check_corr(r, m.columns)
    return r


@dataclass(frozen=True)
class KMOResult(Result):
    """Kaiser-Meyer-Olkin measure of sampling adequacy. See :func:`kmo`."""

    overall: float
    items: Mapping[str, float]
    n: int

    @property
    def verdict(self) -> str:
        """Kaiser's (1974) labels."""
        v = self.overall
        for cut, word in (
            (0.9, "marvelous"),
            (0.8, "meritorious"),
            (0.7, "middling"),
            (0.6, "mediocre"),
            (0.5, "miserable"),
        ):
            if v >= cut:
                return word
        return "unacceptable"

    def to_dict(self) -> dict:
        return {**super().to_dict(), "verdict": self.verdict}

    def summary(self) -> str:
        worst = sorted(self.items.items(), key=lambda kv: kv[1])[:3]
        return (
            f"KMO overall MSA = {fmt(self.overall)} ({self.verdict}; n = {self.n}); "
            f"lowest items: " + ", ".join(f"{k} {fmt(v)}" for k, v in worst)
        )


def kmo(data: pd.DataFrame | Moments) -> KMOResult:
    """Kaiser-Meyer-Olkin measure of sampling adequacy, overall and per item.

    With correlations ``r`` and partial correlations ``q`` (from the inverse of the
    correlation matrix), ``MSA = sum r^2 / (sum r^2 + sum q^2)`` over off-diagonal
    cells; per item the sums run over its row.

    R: ``psych::KMO(na.omit(x))`` (``$MSA``, ``$MSAi``).

    References
    ----------
    Kaiser, H. F. (1974). An index of factorial simplicity. *Psychometrika*, 39(1),
    31-36. https://doi.org/10.1007/BF02291575

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> f = rng.normal(size=300)
    >>> x = pd.DataFrame({f"i{j}": f + rng.normal(size=300) for j in range(5)})
    >>> res = kmo(x)          # R: psych::KMO(x)
    >>> round(res.overall, 2), res.verdict
    (0.83, 'meritorious')
    """
    m = as_moments(data)
    r = checked_corr(m)
    inv = np.linalg.inv(r)
    d = np.sqrt(np.diag(inv))
    q = inv / np.outer(d, d)
    np.fill_diagonal(q, 0.0)
    r0 = r.copy()
    np.fill_diagonal(r0, 0.0)
    r2, q2 = r0**2, q**2
    overall = r2.sum() / (r2.sum() + q2.sum())
    per = r2.sum(axis=0) / (r2.sum(axis=0) + q2.sum(axis=0))
    return KMOResult(float(overall), dict(zip(m.columns, map(float, per), strict=True)), m.n)


@dataclass(frozen=True)
class BartlettResult(Result):
    """Bartlett's test of sphericity. See :func:`bartlett_sphericity`."""

    chisq: float
    df: int
    p: float
    n: int

    def summary(self) -> str:
        return (
            f"Bartlett's test of sphericity: chi2({self.df}) = {fmt(self.chisq, 1)}, "
            f"p {fmt_p(self.p)} (n = {self.n})"
        )


def bartlett_sphericity(data: pd.DataFrame | Moments) -> BartlettResult:
    """Bartlett's test that the correlation matrix is an identity matrix.

    ``chisq = -(n - 1 - (2k + 5)/6) log|R|`` with ``k(k-1)/2`` degrees of freedom.

    R: ``psych::cortest.bartlett(cor(x), n = nrow(x))``.

    References
    ----------
    Bartlett, M. S. (1950). Tests of significance in factor analysis. *British
    Journal of Statistical Psychology*, 3(2), 77-85.
    https://doi.org/10.1111/j.2044-8317.1950.tb00285.x
    """
    m = as_moments(data)
    r = checked_corr(m)
    k = r.shape[0]
    _, logdet = np.linalg.slogdet(r)
    chisq = -(m.n - 1 - (2 * k + 5) / 6) * logdet
    df = k * (k - 1) // 2
    return BartlettResult(float(chisq), df, float(stats.chi2.sf(chisq, df)), m.n)
