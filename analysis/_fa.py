"""Private wrapper around factor_analyzer: callers never touch the estimator.

factor_analyzer 0.5.1 is fitted on a correlation matrix (``is_corr_matrix=True``)
so that everything works from :class:`~analysis.moments.Moments`. Rotation is
applied here with its ``Rotator`` rather than inside ``FactorAnalyzer.fit``,
because ``fit`` re-sorts the loading columns but not ``phi_``; doing the rotation
ourselves keeps loadings and factor correlations in the same column order.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._result import AnalysisError

EXTRACTIONS = ("minres", "ml")
ROTATIONS = ("oblimin", "promax", "varimax", "none")
OBLIQUE = ("oblimin", "promax")


def check_corr(corr: np.ndarray, columns, what: str = "correlation matrix") -> None:
    """Raise :class:`AnalysisError` if ``corr`` is singular (collinear items)."""
    w, v = np.linalg.eigh(corr)
    if w[0] < 1e-10 * max(1.0, w[-1]):
        vec = np.abs(v[:, 0])
        involved = [columns[i] for i in np.argsort(-vec)[:3] if vec[i] > 0.1]
        raise AnalysisError(f"the {what} is singular: items {', '.join(involved)} are perfectly "
                            "collinear (one is a linear combination of the others); drop one")


def fit_factors(corr: np.ndarray, n_factors: int, extraction: str = "minres",
                rotation: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Fit ``n_factors`` factors to a correlation matrix.

    Returns ``(loadings (k, m), uniquenesses (k,), phi (m, m) or None)``; columns are
    as the rotation left them (the caller aligns sign and order).
    """
    from factor_analyzer import FactorAnalyzer
    from factor_analyzer.rotator import Rotator

    if extraction not in EXTRACTIONS:
        raise AnalysisError(f"unknown extraction {extraction!r} (use {' or '.join(EXTRACTIONS)})")
    if rotation is not None and rotation not in ROTATIONS:
        raise AnalysisError(f"unknown rotation {rotation!r} (use {', '.join(ROTATIONS)})")
    with warnings.catch_warnings():
        # sklearn >= 1.6 warns about factor_analyzer's use of force_all_finite;
        # scipy's optimiser may warn on boundary uniquenesses (Heywood cases).
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            fa = FactorAnalyzer(n_factors=n_factors, method=extraction, rotation=None,
                                is_corr_matrix=True)
            fa.fit(corr)
            loadings = np.asarray(fa.loadings_, dtype=float)
            phi = None
            if rotation not in (None, "none") and n_factors > 1:
                rot = Rotator(method=rotation)
                loadings = np.asarray(rot.fit_transform(loadings), dtype=float)
                if rotation in OBLIQUE:
                    phi = np.asarray(rot.phi_, dtype=float)
    if rotation in OBLIQUE and phi is None:
        phi = np.eye(n_factors)
    if phi is not None:
        communal = np.einsum("ij,jk,ik->i", loadings, phi, loadings)
    else:
        communal = (loadings ** 2).sum(axis=1)
    return loadings, 1.0 - communal, phi
