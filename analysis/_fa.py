"""Factor extraction and rotation for :mod:`analysis.efa` and omega (private).

Extraction is our own code, from a correlation matrix (so that everything works
from :class:`~analysis.moments.Moments`), following R:

* ``minres``: minimise, over the uniquenesses ``u``, the sum of squared residuals of
  ``R`` with ``1 - u`` on its diagonal (Harman & Jones 1966), the objective of
  factor_analyzer 0.5; ``psych::fa(fm = "minres")`` sums the off-diagonal residuals
  only, and the loadings agree with psych 2.2.9 to 2.2e-5 on the reference data;
* ``ml``: minimise the normal-theory discrepancy as ``stats::factanal`` and
  ``psych::fa(fm = "ml")`` (Jöreskog 1967).

Both start from ``1 - SMC`` and use L-BFGS-B with uniquenesses bounded to
``[0.005, 1]``, as psych and factanal do. Rotation uses factor_analyzer's public
:class:`~factor_analyzer.rotator.Rotator` (GPArotation's gradient projection for
oblimin, varimax and promax as in R's ``stats``). factor_analyzer's
``FactorAnalyzer.fit`` is not used: it calls scikit-learn's ``check_array`` with the
``force_all_finite`` argument that scikit-learn 1.8 removed.

Nothing is silenced: non-convergence of the extraction or the rotation, Heywood
cases (a uniqueness at its lower bound or a communality of 1 or more) and any
warning raised by the optimiser or the rotation are returned in
:attr:`FactorFit.warnings`, for the result objects to show.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from analysis import AnalysisError

EXTRACTIONS = ("minres", "ml")
ROTATIONS = ("oblimin", "promax", "varimax", "none")
OBLIQUE = ("oblimin", "promax")

#: Bounds of the uniquenesses during extraction (psych::fa and stats::factanal).
LOWER, UPPER = 0.005, 1.0
#: A uniqueness this close to LOWER counts as at the bound (a Heywood case).
AT_BOUND = 1e-4
MAXITER = 1000
#: Iterations of the rotation (GPArotation's default ``maxit``, as psych uses it).
ROTATION_MAXITER = 1000


@dataclass(frozen=True)
class FactorFit:
    """Loadings ``(k, m)``, uniquenesses ``(k,)``, factor correlations ``(m, m)``
    (``None`` for orthogonal or unrotated solutions) and the fit's warnings."""

    loadings: np.ndarray
    uniquenesses: np.ndarray
    phi: np.ndarray | None
    warnings: tuple[str, ...]


def check_corr(corr: np.ndarray, columns, what: str = "correlation matrix") -> None:
    """Raise :class:`AnalysisError` if ``corr`` is singular (collinear items)."""
    w, v = np.linalg.eigh(corr)
    if w[0] < 1e-10 * max(1.0, w[-1]):
        vec = np.abs(v[:, 0])
        involved = [columns[i] for i in np.argsort(-vec)[:3] if vec[i] > 0.1]
        raise AnalysisError(
            f"the {what} is singular: items {', '.join(involved)} are perfectly "
            "collinear (one is a linear combination of the others); drop one"
        )


def _minres_loadings(psi: np.ndarray, corr: np.ndarray, m: int) -> np.ndarray:
    """Principal-axis loadings of ``corr`` with ``1 - psi`` on the diagonal."""
    r = corr.copy()
    np.fill_diagonal(r, 1.0 - psi)
    w, v = np.linalg.eigh(r)
    w, v = w[::-1][:m], v[:, ::-1][:, :m]
    return v * np.sqrt(np.maximum(w, 100 * np.finfo(float).eps))


def _minres_objective(psi: np.ndarray, corr: np.ndarray, m: int) -> float:
    lam = _minres_loadings(psi, corr, m)
    r = corr.copy()
    np.fill_diagonal(r, 1.0 - psi)
    return float(np.sum((r - lam @ lam.T) ** 2))


def _ml_objective(psi: np.ndarray, corr: np.ndarray, m: int) -> float:
    """factanal's discrepancy, profiled over the loadings."""
    sc = 1.0 / np.sqrt(psi)
    w = np.linalg.eigvalsh(corr * np.outer(sc, sc))[::-1][m:]
    return float(-(np.sum(np.log(w) - w) - m + corr.shape[0]))


def _ml_loadings(psi: np.ndarray, corr: np.ndarray, m: int) -> np.ndarray:
    sc = 1.0 / np.sqrt(psi)
    w, v = np.linalg.eigh(corr * np.outer(sc, sc))
    w, v = w[::-1][:m], v[:, ::-1][:, :m]
    return np.sqrt(psi)[:, None] * v * np.sqrt(np.maximum(w - 1.0, 0.0))


def _caught(record: Sequence[warnings.WarningMessage], where: str) -> list[str]:
    return [f"{where}: {w.category.__name__}: {w.message}" for w in record]


def _varimax_converged(unrotated: np.ndarray, t: np.ndarray, tol: float) -> bool:
    """Whether one more varimax iteration from rotation ``t`` (Kaiser-normalized rows)
    raises the criterion by less than ``tol`` relative, the stopping rule of
    ``stats::varimax`` and of factor_analyzer's varimax."""
    x = unrotated / np.sqrt((unrotated**2).sum(axis=1, keepdims=True))
    p = x.shape[0]

    def step(t_: np.ndarray) -> tuple[np.ndarray, float]:
        z = x @ t_
        u, d, vt = np.linalg.svd(x.T @ (z**3 - z * (z**2).sum(axis=0) / p))
        return u @ vt, float(d.sum())

    t1, d0 = step(t)
    _, d1 = step(t1)
    return d1 < d0 * (1 + tol)


def _oblimin_converged(unrotated: np.ndarray, t: np.ndarray, tol: float) -> bool:
    """Whether the projected gradient of quartimin (oblimin, gamma 0) at rotation
    ``t`` is below ``tol``: the stopping rule of gradient projection (Jennrich 2002;
    ``GPArotation::GPFoblq``), evaluated where the rotation stopped."""
    t_inv = np.linalg.inv(t)
    lam = unrotated @ t_inv.T
    k = lam.shape[1]
    gq = lam * ((lam**2) @ (1.0 - np.eye(k)))
    g = -(lam.T @ gq @ t_inv).T
    gp = g - t @ np.diag((t * g).sum(axis=0))
    return float(np.sqrt(np.sum(gp**2))) < tol


def _rotation_converged(rotation: str, unrotated: np.ndarray, rot) -> bool:
    """Whether ``rot`` (a fitted Rotator) met its own stopping rule before ``max_iter``.

    Promax is closed-form after a varimax rotation of the same loadings, whose
    convergence is checked.
    """
    from factor_analyzer.rotator import Rotator

    if rotation == "oblimin":
        return _oblimin_converged(unrotated, np.asarray(rot.rotation_, dtype=float), rot.tol)
    if rotation == "promax":
        rot = Rotator(method="varimax", max_iter=rot.max_iter, tol=rot.tol)
        rot.fit(unrotated)
    return _varimax_converged(unrotated, np.asarray(rot.rotation_, dtype=float), rot.tol)


def fit(
    corr: np.ndarray,
    n_factors: int,
    extraction: str = "minres",
    rotation: str | None = None,
    columns: Sequence[str] | None = None,
) -> FactorFit:
    """Fit ``n_factors`` factors to a correlation matrix; see the module docstring.

    Columns are as the rotation left them (the caller aligns sign and order).
    ``columns`` (item names) are used in the warnings.
    """
    from factor_analyzer.rotator import Rotator

    if extraction not in EXTRACTIONS:
        raise AnalysisError(f"unknown extraction {extraction!r} (use {' or '.join(EXTRACTIONS)})")
    if rotation is not None and rotation not in ROTATIONS:
        raise AnalysisError(f"unknown rotation {rotation!r} (use {', '.join(ROTATIONS)})")
    corr = np.asarray(corr, dtype=float)
    k = corr.shape[0]
    names = list(columns) if columns is not None else [f"item {i + 1}" for i in range(k)]
    notes: list[str] = []
    smc = 1.0 - 1.0 / np.diag(np.linalg.inv(corr))
    start = np.clip(1.0 - smc, LOWER, UPPER)
    objective = _ml_objective if extraction == "ml" else _minres_objective
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        res = minimize(
            objective,
            start,
            args=(corr, n_factors),
            method="L-BFGS-B",
            bounds=[(LOWER, UPPER)] * k,
            options={"maxiter": MAXITER},
        )
    notes += _caught(record, f"{extraction} extraction")
    if not res.success:
        notes.append(
            f"the {extraction} extraction did not converge ({res.message}); "
            "the loadings are not trustworthy"
        )
    psi = np.asarray(res.x, dtype=float)
    loader = _ml_loadings if extraction == "ml" else _minres_loadings
    loadings = loader(psi, corr, n_factors)

    phi = None
    if rotation not in (None, "none") and n_factors > 1:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            rot = Rotator(method=rotation, max_iter=ROTATION_MAXITER)
            unrotated = loadings
            loadings = np.asarray(rot.fit_transform(unrotated), dtype=float)
            if rotation in OBLIQUE:
                phi = np.asarray(rot.phi_, dtype=float)
            converged = _rotation_converged(rotation, unrotated, rot)
        notes += _caught(record, f"{rotation} rotation")
        if not converged:
            notes.append(
                f"the {rotation} rotation did not converge in {rot.max_iter} "
                "iterations; the rotated loadings are not trustworthy"
            )
    if rotation in OBLIQUE and phi is None:
        phi = np.eye(n_factors)
    if phi is not None:
        communal = np.einsum("ij,jk,ik->i", loadings, phi, loadings)
    else:
        communal = (loadings**2).sum(axis=1)
    for i, name in enumerate(names):
        if communal[i] >= 1.0 - 1e-9:
            notes.append(
                f"Heywood case: {name} has communality {communal[i]:.3f} >= 1 "
                f"(uniqueness {1.0 - communal[i]:.3f}); examine the solution, e.g. "
                "with fewer factors"
            )
        elif psi[i] <= LOWER + AT_BOUND:
            notes.append(
                f"Heywood case: the uniqueness of {name} reached the lower bound "
                f"{LOWER} (communality {communal[i]:.3f}); examine the solution, e.g. "
                "with fewer factors"
            )
    return FactorFit(loadings, 1.0 - communal, phi, tuple(dict.fromkeys(notes)))


def fit_factors(
    corr: np.ndarray, n_factors: int, extraction: str = "minres", rotation: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(loadings, uniquenesses, phi)`` of :func:`fit` (for callers that report no warnings)."""
    f = fit(corr, n_factors, extraction, rotation)
    return f.loadings, f.uniquenesses, f.phi
