"""Private maximum-likelihood core for confirmatory factor models (single and multi-group).

This is the engine behind :func:`analysis.cfa.cfa` and
:func:`analysis.invariance.measurement_invariance`. It follows the conventions of R's
lavaan 0.6 (Rosseel 2012) so that the numbers can be checked against it:

* The sample covariance of each group divides by ``N_g`` (``Moments.cov(ddof=0)``).
* The ML discrepancy of a group is (Jöreskog 1969)
  ``F_g = log|Σ| + tr(S Σ⁻¹) − log|S| − p + (x̄ − μ)ᵀ Σ⁻¹ (x̄ − μ)``
  (the mean part only with a mean structure), and ``χ² = Σ_g N_g F_g``.
* Fisher scoring with step halving; the analytic gradient and the expected
  information are computed from the derivatives of the implied moments
  ``∂Σ/∂θ`` and ``∂μ/∂θ``. Only the moments enter, so the cost does not depend on n.
* Fit measures as in lavaan's ``fitMeasures()``: baseline (independence) model with
  free variances (and free means), CFI (Bentler 1990), TLI (Tucker & Lewis 1973),
  RMSEA and its 90% CI (Steiger 1990; Browne & Cudeck 1993) multiplied by ``sqrt(G)``
  for ``G`` groups, SRMR as lavaan's ``srmr_bentler`` (residuals scaled by the
  *sample* standard deviations, mean residuals included when there is a mean
  structure, groups weighted by ``N_g / N``), log-likelihood, AIC and BIC with
  lavaan's count of free parameters.

Everything here is private; the public API is in :mod:`analysis.cfa` and
:mod:`analysis.invariance`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize, stats

_LOG_2PI = float(np.log(2.0 * np.pi))


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Run BLAS/LAPACK single-threaded for the duration.

    The matrices here are tiny (p ~ 20, a few hundred parameters); a multi-threaded
    BLAS on a busy machine spends far more time spinning and synchronising than
    computing (measured: 12 s instead of 0.35 s for a 3-group fit on 2 loaded cores).
    Uses threadpoolctl (a scikit-learn dependency) when available.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class GroupStats:
    """Sample statistics of one group: ``n``, mean and ML covariance (divisor n)."""

    name: str
    n: int
    mean: np.ndarray
    cov: np.ndarray
    logdet: float


def group_stats(
    name: str, n: int, mean: np.ndarray, cov: np.ndarray, items: Sequence[str]
) -> GroupStats:
    """Validate a group's moments and wrap them. Raises ``ValueError`` if unusable."""
    where = f" in group {name!r}" if name else ""
    p = len(items)
    if n <= p:
        raise ValueError(
            f"too few complete rows{where}: {n} for {p} items; the sample covariance "
            f"matrix needs more rows than items to be positive definite"
        )
    var = np.diag(cov)
    const = [it for it, v in zip(items, var, strict=True) if not v > 1e-12 * max(1.0, np.max(var))]
    if const:
        raise ValueError(f"constant item(s){where} (zero variance): {', '.join(const)}")
    d = 1.0 / np.sqrt(var)
    r = cov * np.outer(d, d)
    w, v = np.linalg.eigh(r)
    if w[0] <= 1e-10:
        vec = np.abs(v[:, 0])
        involved = [items[i] for i in np.argsort(-vec) if vec[i] > 0.1][:6]
        raise ValueError(
            f"the sample covariance matrix{where} is singular (not positive definite): "
            f"items are linearly dependent (smallest eigenvalue of the correlation matrix "
            f"{w[0]:.3g}); check {', '.join(involved)} for duplicates or sums of other items"
        )
    logdet = float(np.sum(np.log(w)) + np.sum(np.log(var)))
    return GroupStats(name, int(n), np.asarray(mean, float), np.asarray(cov, float), logdet)


# ------------------------------------------------------------------------------------
# model specification
# ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Spec:
    """Which matrix entries are free, and which free parameter each one is.

    Index arrays hold the free-parameter number, or -1 for a fixed entry (whose value
    is in the matching ``*_fix`` array). Equality constraints across groups are
    expressed by sharing a parameter number.
    """

    p: int
    m: int
    ngroups: int
    meanstructure: bool
    lam_idx: np.ndarray  # (G, p, m)
    lam_fix: np.ndarray
    phi_idx: np.ndarray  # (G, m, m), symmetric
    phi_fix: np.ndarray
    theta_idx: np.ndarray  # (G, p): residual variances
    theta_fix: np.ndarray
    nu_idx: np.ndarray  # (G, p): intercepts
    nu_fix: np.ndarray
    alpha_idx: np.ndarray  # (G, m): latent means
    alpha_fix: np.ndarray
    npar: int


def build_spec(
    assign: Sequence[int],
    m: int,
    ngroups: int = 1,
    *,
    meanstructure: bool = False,
    equal_loadings: bool = False,
    equal_intercepts: bool = False,
    free_intercepts: Sequence[int] = (),
) -> Spec:
    """Marker-variable CFA: item ``i`` loads on factor ``assign[i]`` only.

    The first item of each factor has its loading fixed to 1 in every group; factor
    (co)variances and residual variances are free in every group. With a mean
    structure, intercepts are free per group (or shared if ``equal_intercepts``) and
    latent means are fixed to 0, except, with equal intercepts, in groups 2..G.
    ``free_intercepts`` (item positions) are left free in every group even with
    ``equal_intercepts``: a partial scalar model (Byrne, Shavelson & Muthén 1989;
    lavaan's ``group.partial``).
    """
    p, G = len(assign), ngroups
    k = 0

    def new() -> int:
        nonlocal k
        k += 1
        return k - 1

    lam_idx = -np.ones((G, p, m), int)
    lam_fix = np.zeros((G, p, m))
    seen: set[int] = set()
    shared: dict[int, int] = {}
    for i, f in enumerate(assign):
        if f not in seen:  # marker
            seen.add(f)
            lam_fix[:, i, f] = 1.0
            continue
        for g in range(G):
            if equal_loadings:
                if i not in shared:
                    shared[i] = new()
                lam_idx[g, i, f] = shared[i]
            else:
                lam_idx[g, i, f] = new()
    phi_idx = -np.ones((G, m, m), int)
    theta_idx = -np.ones((G, p), int)
    for g in range(G):
        for a in range(m):
            for b in range(a + 1):
                phi_idx[g, a, b] = phi_idx[g, b, a] = new()
        for i in range(p):
            theta_idx[g, i] = new()
    nu_idx = -np.ones((G, p), int)
    alpha_idx = -np.ones((G, m), int)
    if meanstructure:
        free_nu = set(free_intercepts)
        shared_nu = [-1 if i in free_nu else new() for i in range(p)] if equal_intercepts else None
        for g in range(G):
            for i in range(p):
                nu_idx[g, i] = (
                    shared_nu[i] if shared_nu is not None and shared_nu[i] >= 0 else new()
                )
            if equal_intercepts and g > 0:
                for f in range(m):
                    alpha_idx[g, f] = new()
    # reorder: lavaan's npar is just the count; numbering order does not matter
    return Spec(
        p,
        m,
        G,
        meanstructure,
        lam_idx,
        lam_fix,
        phi_idx,
        np.zeros((G, m, m)),
        theta_idx,
        np.zeros((G, p)),
        nu_idx,
        np.zeros((G, p)),
        alpha_idx,
        np.zeros((G, m)),
        k,
    )


@dataclass(frozen=True, eq=False)
class GroupMatrices:
    lam: np.ndarray
    phi: np.ndarray
    theta: np.ndarray  # vector of residual variances
    nu: np.ndarray
    alpha: np.ndarray
    sigma: np.ndarray
    mu: np.ndarray


def _fill(idx: np.ndarray, fix: np.ndarray, x: np.ndarray) -> np.ndarray:
    out = fix.copy()
    mask = idx >= 0
    out[mask] = x[idx[mask]]
    return out


def matrices(spec: Spec, x: np.ndarray, g: int) -> GroupMatrices:
    lam = _fill(spec.lam_idx[g], spec.lam_fix[g], x)
    phi = _fill(spec.phi_idx[g], spec.phi_fix[g], x)
    theta = _fill(spec.theta_idx[g], spec.theta_fix[g], x)
    nu = _fill(spec.nu_idx[g], spec.nu_fix[g], x)
    alpha = _fill(spec.alpha_idx[g], spec.alpha_fix[g], x)
    sigma = lam @ phi @ lam.T
    sigma[np.diag_indices_from(sigma)] += theta
    mu = nu + lam @ alpha
    return GroupMatrices(lam, phi, theta, nu, alpha, sigma, mu)


# ------------------------------------------------------------------------------------
# objective, gradient, information
# ------------------------------------------------------------------------------------
def _group_f(spec: Spec, gs: GroupStats, mats: GroupMatrices) -> float:
    """ML discrepancy F_g (inf if Σ is not positive definite)."""
    try:
        c = linalg.cho_factor(mats.sigma, lower=True, check_finite=True)
    except (linalg.LinAlgError, ValueError):
        return np.inf
    logdet = 2.0 * float(np.sum(np.log(np.diag(c[0]))))
    si_s = linalg.cho_solve(c, gs.cov)
    f = logdet + float(np.trace(si_s)) - gs.logdet - spec.p
    if spec.meanstructure:
        d = gs.mean - mats.mu
        f += float(d @ linalg.cho_solve(c, d))
    return f


def objective(spec: Spec, groups: Sequence[GroupStats], x: np.ndarray) -> float:
    """Σ_g (N_g/N) F_g; χ² = N times this."""
    ntot = sum(gs.n for gs in groups)
    total = 0.0
    for g, gs in enumerate(groups):
        f = _group_f(spec, gs, matrices(spec, x, g))
        if not np.isfinite(f):
            return np.inf
        total += gs.n / ntot * f
    return total


def _active(spec: Spec, g: int) -> tuple[np.ndarray, np.ndarray]:
    """Free parameters that appear in group ``g`` and their local positions."""
    allidx = np.concatenate(
        [
            spec.lam_idx[g].ravel(),
            spec.phi_idx[g].ravel(),
            spec.theta_idx[g],
            spec.nu_idx[g],
            spec.alpha_idx[g],
        ]
    )
    act = np.unique(allidx[allidx >= 0])
    loc = -np.ones(spec.npar, int)
    loc[act] = np.arange(act.size)
    return act, loc


def _derivatives(
    spec: Spec, mats: GroupMatrices, g: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parameters active in group ``g``, with ∂Σ/∂θ (k, p, p) and ∂μ/∂θ (k, p) for them.

    Only the group's own parameters are included, so that multi-group models cost
    O(G) rather than O(G²) per iteration.
    """
    act, loc = _active(spec, g)
    K, p = act.size, spec.p
    ds = np.zeros((K, p, p))
    dm = np.zeros((K, p))
    lam, phi = mats.lam, mats.phi
    # loadings: dΣ = e_i a_fᵀ + a_f e_iᵀ with a = ΛΦ; dμ = e_i α_f
    li, lf = np.nonzero(spec.lam_idx[g] >= 0)
    if li.size:
        k = loc[spec.lam_idx[g][li, lf]]
        a = (lam @ phi)[:, lf].T  # (n, p)
        np.add.at(ds, (k, li), a)
        np.add.at(ds, (k, slice(None), li), a)
        if spec.meanstructure:
            np.add.at(dm, (k, li), mats.alpha[lf])
    # factor (co)variances, lower triangle: dΣ = λ_a λ_bᵀ + λ_b λ_aᵀ (a≠b), λ_a λ_aᵀ
    pa, pb = np.nonzero(np.tril(spec.phi_idx[g] >= 0))
    if pa.size:
        k = loc[spec.phi_idx[g][pa, pb]]
        o = lam[:, pa].T[:, :, None] * lam[:, pb].T[:, None, :]
        o = o + o.transpose(0, 2, 1)
        o[pa == pb] *= 0.5
        np.add.at(ds, k, o)
    # residual variances
    ti = np.nonzero(spec.theta_idx[g] >= 0)[0]
    if ti.size:
        np.add.at(ds, (loc[spec.theta_idx[g][ti]], ti, ti), 1.0)
    if spec.meanstructure:
        ni = np.nonzero(spec.nu_idx[g] >= 0)[0]
        if ni.size:
            np.add.at(dm, (loc[spec.nu_idx[g][ni]], ni), 1.0)
        af = np.nonzero(spec.alpha_idx[g] >= 0)[0]
        if af.size:
            np.add.at(dm, loc[spec.alpha_idx[g][af]], lam[:, af].T)
    return act, ds, dm


def gradient(spec: Spec, groups: Sequence[GroupStats], x: np.ndarray) -> np.ndarray:
    """Gradient of Σ_g (N_g/N) F_g (zeros where Σ is not positive definite)."""
    return _grad_info(spec, groups, x, with_info=False)[0]


def gradient_information(
    spec: Spec, groups: Sequence[GroupStats], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of Σ_g (N_g/N) F_g and its expected Hessian (2 × unit Fisher information).

    ``∂F/∂θ_k = tr[(Σ⁻¹ − Σ⁻¹(S + ddᵀ)Σ⁻¹) ∂_kΣ] − 2 dᵀΣ⁻¹ ∂_kμ`` with ``d = x̄ − μ``, and
    ``E ∂²F/∂θ_k∂θ_l = tr(Σ⁻¹ ∂_kΣ Σ⁻¹ ∂_lΣ) + 2 ∂_kμᵀ Σ⁻¹ ∂_lμ``.
    """
    return _grad_info(spec, groups, x, with_info=True)


def _grad_info(
    spec: Spec, groups: Sequence[GroupStats], x: np.ndarray, with_info: bool
) -> tuple[np.ndarray, np.ndarray]:
    ntot = sum(gs.n for gs in groups)
    p = spec.p
    grad = np.zeros(spec.npar)
    info = np.zeros((spec.npar, spec.npar)) if with_info else np.zeros((0, 0))
    for g, gs in enumerate(groups):
        w = gs.n / ntot
        mats = matrices(spec, x, g)
        try:
            si = linalg.inv(mats.sigma)
        except (linalg.LinAlgError, ValueError):
            if with_info:
                raise
            return np.zeros(spec.npar), info
        si = (si + si.T) / 2.0
        act, ds, dm = _derivatives(spec, mats, g)
        s = gs.cov
        if spec.meanstructure:
            d = gs.mean - mats.mu
            s = s + np.outer(d, d)
        gm = si - si @ s @ si
        grad[act] += w * np.tensordot(ds, gm, axes=([1, 2], [0, 1]))
        if spec.meanstructure:
            grad[act] += w * (-2.0) * (dm @ (si @ d))
        if with_info:
            k = act.size
            b = np.matmul(si, ds)  # (k, p, p)
            bf = b.reshape(k, p * p)
            bt = b.transpose(0, 2, 1).reshape(k, p * p)
            block = bf @ bt.T
            if spec.meanstructure:
                block += 2.0 * (dm @ si @ dm.T)
            info[np.ix_(act, act)] += w * block
    if with_info:
        info = (info + info.T) / 2.0
    return grad, info


# ------------------------------------------------------------------------------------
# starting values
# ------------------------------------------------------------------------------------
def _one_factor_paf(s: np.ndarray, iters: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Principal-axis one-factor solution of a block: loadings and uniquenesses."""
    q = s.shape[0]
    var = np.diag(s).copy()
    if q == 1:
        return np.sqrt(var * 0.5), var * 0.5
    with np.errstate(all="ignore"):
        smc = 1.0 - 1.0 / (np.diag(np.linalg.inv(s)) * var)
    psi = var * (1.0 - np.clip(np.nan_to_num(smc, nan=0.5), 0.05, 0.95))
    lam = np.sqrt(var - psi)
    for _ in range(iters):
        r = s - np.diag(psi)
        w, v = np.linalg.eigh(r)
        lam = v[:, -1] * np.sqrt(max(w[-1], 1e-6))
        if lam[0] < 0:
            lam = -lam
        psi = np.clip(var - lam**2, 0.05 * var, 0.95 * var)
    return lam, psi


def start_values(spec: Spec, groups: Sequence[GroupStats], assign: Sequence[int]) -> np.ndarray:
    """One-factor-per-block principal-axis starts, averaged over groups for shared parameters."""
    K, m = spec.npar, spec.m
    acc = np.zeros(K)
    cnt = np.zeros(K)
    assign = np.asarray(assign)
    for g, gs in enumerate(groups):
        s = gs.cov
        lam = np.zeros((spec.p, m))
        phi = np.zeros((m, m))
        theta = np.zeros(spec.p)
        for f in range(m):
            idx = np.nonzero(assign == f)[0]
            load, psi = _one_factor_paf(s[np.ix_(idx, idx)])
            marker = load[0] if abs(load[0]) > 1e-3 else 1e-3
            lam[idx, f] = load / marker
            phi[f, f] = marker**2
            theta[idx] = psi
        for a in range(m):
            ia = np.nonzero(assign == a)[0]
            for b in range(a):
                ib = np.nonzero(assign == b)[0]
                denom = np.outer(lam[ia, a], lam[ib, b])
                ok = np.abs(denom) > 1e-6
                cov_ab = float(np.mean(s[np.ix_(ia, ib)][ok] / denom[ok])) if ok.any() else 0.0
                phi[a, b] = phi[b, a] = cov_ab
        # keep Φ positive definite: shrink the correlations if needed
        sd = np.sqrt(np.diag(phi))
        corr = phi / np.outer(sd, sd)
        shrink = 1.0
        while np.linalg.eigvalsh(np.eye(m) + shrink * (corr - np.eye(m)))[0] < 0.05:
            shrink *= 0.8
        phi = np.outer(sd, sd) * (np.eye(m) + shrink * (corr - np.eye(m)))
        for idx_arr, val in (
            (spec.lam_idx[g], lam),
            (spec.phi_idx[g], phi),
            (spec.theta_idx[g], theta),
        ):
            mask = idx_arr >= 0
            np.add.at(acc, idx_arr[mask], val[mask])
            np.add.at(cnt, idx_arr[mask], 1.0)
        if spec.meanstructure:
            mask = spec.nu_idx[g] >= 0
            np.add.at(acc, spec.nu_idx[g][mask], gs.mean[mask])
            np.add.at(cnt, spec.nu_idx[g][mask], 1.0)
    x = np.where(cnt > 0, acc / np.maximum(cnt, 1), 0.0)
    return x


# ------------------------------------------------------------------------------------
# estimation
# ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Estimate:
    x: np.ndarray
    fmin: float
    converged: bool
    iterations: int
    max_gradient: float
    message: str


def estimate(
    spec: Spec,
    groups: Sequence[GroupStats],
    x0: np.ndarray,
    *,
    max_iter: int = 100,
    gtol: float = 1e-8,
) -> Estimate:
    """Minimise Σ_g (N_g/N) F_g by Fisher scoring with step halving.

    Converged when the largest gradient element is below ``gtol``, or when the
    predicted decrease ``gᵀ I⁻¹ g`` of F is below 1e-14 while the gradient is small
    (below 1e-5): the gradient cannot get much below ~1e-8 in floating point. If
    scoring has not converged after ``max_iter`` iterations or stalls, it finishes
    with scipy's BFGS on the analytic gradient. Converged in the end means a largest
    gradient element below 1e-6.
    """
    x = np.array(x0, float)
    f = objective(spec, groups, x)
    if not np.isfinite(f):
        raise ValueError("starting values give a non-positive-definite implied covariance")
    gmax = np.inf
    stalled = False
    it = 0
    while it < max_iter:
        it += 1
        grad, info = gradient_information(spec, groups, x)
        gmax = float(np.max(np.abs(grad)))
        try:
            c = linalg.cho_factor(info, lower=True)
            step = linalg.cho_solve(c, grad)
        except linalg.LinAlgError:
            ridge = 1e-8 * max(1.0, float(np.max(np.diag(info))))
            step = np.linalg.lstsq(info + ridge * np.eye(len(x)), grad, rcond=None)[0]
        decrement = float(grad @ step)
        if gmax < gtol or (gmax < 1e-5 and decrement < 1e-14):
            return Estimate(x, f, True, it, gmax, "converged")
        t = 1.0
        while t > 1e-10:
            xn = x - t * step
            fn = objective(spec, groups, xn)
            if np.isfinite(fn) and fn <= f - 1e-4 * t * decrement:
                break
            t *= 0.5
        else:
            if gmax < 1e-6:  # rounding floor reached
                return Estimate(x, f, True, it, gmax, "converged")
            stalled = True
            break
        x, f = xn, fn
    # Fisher scoring converges only linearly when the model is badly misspecified
    # (expected and observed information differ): finish with BFGS on the analytic
    # gradient, started from the inverse expected information.
    _, info = gradient_information(spec, groups, x)
    try:
        h0 = np.linalg.inv(info)
        h0 = (h0 + h0.T) / 2.0
        if np.linalg.eigvalsh(h0)[0] <= 0:
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        h0 = None
    for start in (h0, None):
        try:
            # trial points may leave the positive-definite region (objective = inf)
            with np.errstate(invalid="ignore", over="ignore"):
                res = optimize.minimize(
                    lambda z: objective(spec, groups, z),
                    x,
                    method="BFGS",
                    jac=lambda z: gradient(spec, groups, z),
                    options={"gtol": gtol, "maxiter": 5000, "hess_inv0": start},
                )
        except ValueError:  # hess_inv0 judged not positive definite
            continue
        if np.isfinite(res.fun) and res.fun <= f:
            x, f = res.x, float(res.fun)
        it += int(res.nit)
        break
    grad, _ = gradient_information(spec, groups, x)
    gmax = float(np.max(np.abs(grad)))
    ok = gmax < 1e-6
    msg = (
        "converged"
        if ok
        else (
            f"did not converge ({'line search stalled' if stalled else 'iteration limit'}; "
            f"max |gradient| = {gmax:.2g})"
        )
    )
    return Estimate(x, f, ok, it, gmax, msg)


# ------------------------------------------------------------------------------------
# score (Lagrange multiplier) tests for intercept equality constraints
# ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class InterceptScoreTests:
    """Score tests for releasing the equal intercepts of a fitted scalar model.

    ``lm_group[g, i]``: LM statistic (df 1) for freeing item ``i``'s intercept in
    group ``g`` only (the other groups stay equal to each other); ``epc_group[g, i]``:
    the expected change in that group's intercept relative to the others if it were
    freed. ``lm_item[i]``: LM statistic (df G − 1) for freeing item ``i``'s intercept
    in every group. Items whose intercepts are already free (a partial scalar model)
    get NaN, and so do items that are the last constrained intercept of their factor
    (freeing it too would leave the group's latent mean unidentified).
    """

    lm_group: np.ndarray
    epc_group: np.ndarray
    lm_item: np.ndarray


def intercept_score_tests(
    spec: Spec, groups: Sequence[GroupStats], x: np.ndarray
) -> InterceptScoreTests:
    """Univariate and per-item score tests for the intercept equalities of ``spec`` at ``x``.

    ``x`` must be the ML estimate of a model whose intercepts are shared across groups
    (``build_spec(..., equal_intercepts=True)``, possibly with ``free_intercepts``).
    The model is re-expressed with a separate intercept per group, ``u = A θ``; the
    gradient ``g_u`` and expected Hessian ``H_u`` of ``Σ_g (N_g/N) F_g`` are computed
    once at ``u = A θ̂``. A released model is ``u = A' θ'`` (``θ'`` = ``θ`` plus one
    new parameter per released group), and its score statistic is

        LM = (N/2) g'ᵀ H'⁻¹ g',   g' = A'ᵀ g_u,   H' = A'ᵀ H_u A'

    (``N/2 · H`` is the expected Fisher information of the log-likelihood and ``N/2 · g``
    its score, so this is ``sᵀ I⁻¹ s``). With the constrained parameters at their
    optimum only the released directions contribute: this is Sörbom's (1989)
    modification index and lavaan's ``lavTestScore(fit)`` univariate test
    (expected information, the default for ML).
    """
    G, p = spec.ngroups, spec.p
    shared = np.all(spec.nu_idx == spec.nu_idx[:1], axis=0) & (spec.nu_idx[0] >= 0)
    if not spec.meanstructure or G < 2 or not shared.any():
        raise ValueError("intercept score tests need a model with equal intercepts")
    loads = (spec.lam_idx[0] >= 0) | (spec.lam_fix[0] != 0)  # (p, m)
    per_factor = (loads & shared[:, None]).sum(axis=0)  # constrained items per factor
    testable = shared & np.all(~loads | (per_factor[None, :] >= 2), axis=1)
    base = spec.npar
    nu_u = spec.nu_idx.copy()
    src = list(range(base))  # u parameter -> the θ parameter it equals under the constraints
    for g in range(1, G):
        for i in np.nonzero(shared)[0]:
            nu_u[g, i] = len(src)
            src.append(int(spec.nu_idx[0, i]))
    spec_u = dataclasses.replace(spec, nu_idx=nu_u, npar=len(src))
    src_a = np.asarray(src)
    grad, info = gradient_information(spec_u, groups, x[src_a])
    ntot = sum(gs.n for gs in groups)
    k_u = len(src)

    def release(i: int, labels: Sequence[int]) -> tuple[float, np.ndarray]:
        # labels[g] = 0: group g keeps the shared intercept; j > 0: new parameter j
        nnew = max(labels)
        a = np.zeros((k_u, base + nnew))
        a[np.arange(k_u), src_a] = 1.0
        for g, lab in enumerate(labels):
            if lab > 0:
                r = nu_u[g, i]
                a[r, :] = 0.0
                a[r, base + lab - 1] = 1.0
        gg = a.T @ grad
        hh = a.T @ info @ a
        try:
            sol = linalg.solve(hh, gg, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            sol = np.linalg.lstsq(hh, gg, rcond=None)[0]
        step = -sol
        return float(ntot / 2.0 * gg @ sol), step[base:] - step[int(spec.nu_idx[0, i])]

    lm_group = np.full((G, p), np.nan)
    epc_group = np.full((G, p), np.nan)
    lm_item = np.full(p, np.nan)
    for i in np.nonzero(testable)[0]:
        for g in range(G):
            labels = [0] * G
            labels[g] = 1
            lm_group[g, i], d = release(i, labels)
            epc_group[g, i] = d[0]
        lm_item[i] = release(i, list(range(G)))[0]
    return InterceptScoreTests(np.maximum(lm_group, 0.0), epc_group, np.maximum(lm_item, 0.0))


# ------------------------------------------------------------------------------------
# fit measures
# ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitMeasures:
    chisq: float
    df: int
    pvalue: float
    baseline_chisq: float
    baseline_df: int
    cfi: float
    tli: float
    rmsea: float
    rmsea_ci90: tuple[float, float]
    srmr: float
    loglik: float
    unrestricted_loglik: float
    aic: float
    bic: float
    npar: int
    ntotal: int
    ngroups: int


def rmsea_ci(
    x2: float, df: int, n: int, ngroups: int = 1, level: float = 0.90
) -> tuple[float, float]:
    """RMSEA confidence interval from the non-central χ² (Browne & Cudeck 1993), as lavaan."""
    if df < 1 or not np.isfinite(x2):
        return (0.0, 0.0)
    upper_p = 1.0 - (1.0 - level) / 2.0
    lower_p = (1.0 - level) / 2.0

    def cdf(lam: float) -> float:
        if lam <= 0:
            return float(stats.chi2.cdf(x2, df))
        return float(stats.ncx2.cdf(x2, df, lam))

    scale = np.sqrt(ngroups) / np.sqrt(n * df)
    if cdf(0.0) - upper_p < 0:
        lo = 0.0
    else:
        lam_lo = optimize.brentq(
            lambda lam: cdf(lam) - upper_p, 0.0, max(x2, 1e-8), xtol=1e-10, rtol=1e-14
        )
        lo = float(np.sqrt(lam_lo) * scale)
    n_rmsea = max(n, 4.0 * x2)
    if cdf(n_rmsea) - lower_p > 0 or cdf(0.0) - lower_p < 0:
        hi = 0.0
    else:
        lam_hi = optimize.brentq(
            lambda lam: cdf(lam) - lower_p, 0.0, n_rmsea, xtol=1e-10, rtol=1e-14
        )
        hi = float(np.sqrt(lam_hi) * scale)
    return (lo, hi)


def srmr_group(gs: GroupStats, mats: GroupMatrices, meanstructure: bool) -> float:
    """lavaan's ``srmr_bentler`` for one group (residuals scaled by the sample SDs)."""
    p = gs.cov.shape[0]
    sd = np.sqrt(np.diag(gs.cov))
    r = (gs.cov - mats.sigma) / np.outer(sd, sd)
    ss = float(np.sum(r[np.tril_indices(p)] ** 2))
    e = p * (p + 1) / 2
    if meanstructure:
        ss += float(np.sum(((gs.mean - mats.mu) / sd) ** 2))
        e += p
    return float(np.sqrt(ss / e))


def fit_measures(spec: Spec, groups: Sequence[GroupStats], est: Estimate) -> FitMeasures:
    ntot = sum(gs.n for gs in groups)
    G, p = len(groups), spec.p
    nmom = G * (p * (p + 1) // 2 + (p if spec.meanstructure else 0))
    df = nmom - spec.npar
    x2 = max(ntot * est.fmin, 0.0)
    pval = float(stats.chi2.sf(x2, df)) if df > 0 else float("nan")
    # baseline: independence model with free variances (and free means): closed form
    x2b = float(sum(gs.n * (np.sum(np.log(np.diag(gs.cov))) - gs.logdet) for gs in groups))
    dfb = G * p * (p - 1) // 2
    t1 = max(x2 - df, 0.0)
    t2 = max(x2 - df, x2b - dfb, 0.0)
    cfi = 1.0 if np.isclose(t1, 0.0) and np.isclose(t2, 0.0) else 1.0 - t1 / t2
    if df > 0:
        a = x2b / dfb - x2 / df
        b = x2b / dfb - 1.0
        tli = 1.0 if (a < 0 and b < 0) else a / b
        rmsea = float(np.sqrt(max(x2 / ntot / df - 1.0 / ntot, 0.0)) * np.sqrt(G))
    else:
        tli, rmsea = 1.0, 0.0
    ci = rmsea_ci(x2, df, ntot, G)
    srmr = 0.0
    logl = 0.0
    logl_sat = 0.0
    for g, gs in enumerate(groups):
        mats = matrices(spec, est.x, g)
        srmr += gs.n / ntot * srmr_group(gs, mats, spec.meanstructure)
        f_g = _group_f(spec, gs, mats)
        # log L = -N/2 [p log 2π + log|Σ| + tr(SΣ⁻¹) + d'Σ⁻¹d] = -N/2 [p log 2π + F + log|S| + p]
        logl += -gs.n / 2.0 * (p * _LOG_2PI + f_g + gs.logdet + p)
        logl_sat += -gs.n / 2.0 * (p * _LOG_2PI + gs.logdet + p)
    aic = -2.0 * logl + 2.0 * spec.npar
    bic = -2.0 * logl + spec.npar * np.log(ntot)
    return FitMeasures(
        float(x2),
        int(df),
        pval,
        x2b,
        int(dfb),
        float(cfi),
        float(tli),
        rmsea,
        ci,
        float(srmr),
        float(logl),
        float(logl_sat),
        float(aic),
        float(bic),
        int(spec.npar),
        int(ntot),
        G,
    )


# ------------------------------------------------------------------------------------
# model checking helpers
# ------------------------------------------------------------------------------------
def parse_model(model: Mapping[str, Sequence[str]]) -> tuple[list[str], list[str], list[int]]:
    """Factors, items (in model order) and each item's factor number. Raises ValueError."""
    if not isinstance(model, Mapping) or len(model) == 0:
        raise ValueError("model must be a non-empty mapping: factor id -> list of item ids")
    factors: list[str] = []
    items: list[str] = []
    assign: list[int] = []
    owner: dict[str, str] = {}
    for f, its in model.items():
        if isinstance(its, str | bytes) or not hasattr(its, "__iter__"):
            raise ValueError(f"factor {f!r}: items must be a list of item ids, got {its!r}")
        its = list(its)
        if len(its) < 2:
            raise ValueError(
                f"factor {f!r} has {len(its)} item(s); a factor needs at least 2 items "
                f"(3 if it is the only factor)"
            )
        for it in its:
            if it in owner:
                raise ValueError(
                    f"item {it!r} is listed under both {owner[it]!r} and {f!r}; "
                    f"cross-loadings are not supported"
                )
            owner[it] = str(f)
            items.append(it)
            assign.append(len(factors))
        factors.append(f)
    clash = sorted(set(map(str, factors)) & set(map(str, items)))
    if clash:
        raise ValueError(f"names used both as factor and item: {', '.join(clash)}")
    return factors, items, assign


def standardized_loadings(mats: GroupMatrices) -> np.ndarray:
    """lavaan's ``std.all`` loadings: λ_if √φ_ff / √σ_ii (NaN where undefined)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        sd_f = np.sqrt(np.diag(mats.phi))
        sd_y = np.sqrt(np.diag(mats.sigma))
        return mats.lam * sd_f[None, :] / sd_y[:, None]


def diagnose(
    spec: Spec,
    x: np.ndarray,
    factors: Sequence[str],
    items: Sequence[str],
    g: int = 0,
    prefix: str = "",
) -> list[str]:
    """Warnings about an estimate: Heywood cases and a non-positive-definite Φ."""
    out: list[str] = []
    mats = matrices(spec, x, g)
    for i, it in enumerate(items):
        if mats.theta[i] < 0:
            out.append(
                f"{prefix}Heywood case: negative residual variance for {it} ({mats.theta[i]:.4g})"
            )
    std = standardized_loadings(mats)
    for i, f in zip(*np.nonzero(mats.lam != 0), strict=True):
        v = std[i, f]
        if np.isfinite(v) and abs(v) > 1.0:
            out.append(
                f"{prefix}Heywood case: standardized loading of {items[i]} on "
                f"{factors[f]} is {v:.4g} (|loading| > 1)"
            )
    w = np.linalg.eigvalsh(mats.phi)
    if w[0] <= 0:
        out.append(
            f"{prefix}latent covariance matrix is not positive definite (smallest "
            f"eigenvalue {w[0]:.3g}): a factor variance is negative or a factor "
            f"correlation is at or beyond ±1; the factors may not be distinct"
        )
    return out


def jsonable(obj):
    """Plain-Python, JSON-safe copy: floats, ints, bools, str, lists, dicts; NaN/inf -> None."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if np.isfinite(v) else None
    return obj
