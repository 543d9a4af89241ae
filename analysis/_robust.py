"""Private: robust (MLR) standard errors and the Yuan-Bentler scaled χ² for one-group CFA.

Follows lavaan 0.6-14's ``estimator = "MLR"`` for complete data (``se =
"robust.huber.white"``, ``test = "yuan.bentler.mplus"``, ``information = "observed"``,
``h1.information = "structured"``, no mean structure):

* ``A`` is the observed information per case, the Hessian of lavaan's objective
  ``F/2`` (``F`` the ML discrepancy of :mod:`analysis._sem`) at the estimate;
* ``B0 = (1/N) Σ_i s_i s_iᵀ``, the casewise scores ``s_i = ∂ log L_i / ∂θ`` evaluated at
  the model-implied covariance and the sample mean;
* the sandwich ``vcov = A⁻¹ B0 A⁻¹ / N`` (Huber 1967; White 1982);
* the trace ``tr(UΓ) = tr(A1 Γ) − tr(B0 A⁻¹)`` with ``A1`` the unstructured (sample)
  normal-theory information of the covariances and ``Γ`` the fourth-order moment matrix
  of the data (divisor N); the scaling factor is ``c = tr(UΓ)/df`` and
  ``χ²_scaled = χ²/c`` (Yuan & Bentler 2000; the Mplus variant of lavaan's
  ``lav_test_yuan_bentler_mplus_trace``). ``tr(A1 Γ) = ½ (mean(q_i²) − p)`` with
  ``q_i = e_iᵀ S⁻¹ e_i`` (Mardia's multivariate kurtosis).
* the independence (baseline) model's scaling factor the same way, for lavaan's
  ``cfi.scaled``/``tli.scaled`` and the ``cfi.robust``/``tli.robust``/``rmsea.robust`` of
  Brosseau-Liard & Savalei (2014) and Brosseau-Liard, Savalei & Li (2012).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import linalg


def numeric_hessian(
    grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray, rel_step: float = 1e-5
) -> np.ndarray:
    """Symmetrised central-difference Jacobian of an analytic gradient."""
    k = x.size
    h = np.empty((k, k))
    for j in range(k):
        step = rel_step * max(1.0, abs(float(x[j])))
        xp = x.copy()
        xm = x.copy()
        xp[j] += step
        xm[j] -= step
        h[:, j] = (grad(xp) - grad(xm)) / (2.0 * step)
    return (h + h.T) / 2.0


def cov_scores(e: np.ndarray, sigma: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """Casewise scores ``∂ log L_i / ∂θ_k = ½ (w_iᵀ ∂_kΣ w_i − tr(Σ⁻¹ ∂_kΣ))``, ``w = Σ⁻¹ e``.

    ``e`` (n, p): centred rows; ``ds`` (K, p, p): ∂Σ/∂θ_k.
    """
    si = linalg.inv(sigma)
    si = (si + si.T) / 2.0
    w = e @ si
    out = np.empty((e.shape[0], ds.shape[0]))
    for k in range(ds.shape[0]):
        out[:, k] = 0.5 * (np.einsum("ij,ij->i", w @ ds[k], w) - np.sum(si * ds[k]))
    return out


def h1_trace(e: np.ndarray, cov: np.ndarray) -> float:
    """``tr(A1 Γ)`` for the covariances: ``½ (mean(q_i²) − p)``, ``q_i = e_iᵀ S⁻¹ e_i``."""
    p = cov.shape[0]
    c = linalg.cho_factor(cov, lower=True)
    q = np.einsum("ij,ij->i", e, linalg.cho_solve(c, e.T).T)
    return float(0.5 * (np.mean(q**2) - p))


@dataclass(frozen=True)
class RobustResult:
    vcov: np.ndarray  # sandwich covariance of the estimates
    trace_ugamma: float
    scaling_factor: float
    baseline_scaling_factor: float


def mlr(
    e: np.ndarray,
    cov: np.ndarray,
    sigma: np.ndarray,
    ds: np.ndarray,
    hess_f: np.ndarray,
    df: int,
    baseline_df: int,
) -> RobustResult:
    """Sandwich vcov and Yuan-Bentler (Mplus) scaling factors of a complete-data ML fit.

    ``e``: the data centred at the sample mean; ``cov``: the sample covariance (divisor
    N); ``sigma``, ``ds``: implied covariance and its derivatives at the estimate;
    ``hess_f``: Hessian of the ML discrepancy ``F`` (so ``A = hess_f / 2``).
    """
    n = e.shape[0]
    a = hess_f / 2.0
    a_inv = linalg.inv(a)
    a_inv = (a_inv + a_inv.T) / 2.0
    sc = cov_scores(e, sigma, ds)
    b0 = sc.T @ sc / n
    vcov = a_inv @ b0 @ a_inv / n
    tr_h1 = h1_trace(e, cov)
    tr_ug = tr_h1 - float(np.sum(b0 * a_inv.T))
    c = tr_ug / df if df > 0 else float("nan")
    # independence model: Σ = diag(s), A = diag(1/(2 s²)), scores ½(e²/s² − 1/s)
    s = np.diag(cov)
    tr_h0b = float(np.sum(0.5 * (np.mean(e**2 * e**2, axis=0) / s**2 - 1.0)))
    cb = (tr_h1 - tr_h0b) / baseline_df if baseline_df > 0 else float("nan")
    return RobustResult(vcov, tr_ug, float(c) if c > 0 else float("nan"), float(cb))
