"""Private: full-information maximum likelihood (FIML) over missing-data patterns.

As lavaan's ``missing = "ml"`` (Arbuckle 1996; Enders 2010): rows are grouped by their
pattern of observed items, and the log-likelihood of the observed parts is

    log L = Σ_patterns −n/2 [p_o log 2π + log|Σ_oo| + tr(Σ_oo⁻¹ (S_p + d dᵀ))],
    d = x̄_p − μ_o,

with ``x̄_p``, ``S_p`` the pattern's mean and ML covariance of its observed items.
Rows with no observed item are dropped (as lavaan does). The unrestricted (h1) model,
needed for χ² and SRMR, is the saturated normal model estimated by EM (Dempster, Laird &
Rubin 1977); the independence baseline has a closed form (each item's observed mean and
ML variance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True, eq=False)
class Block:
    """Patterns with the same number of observed items, stacked for vectorised algebra."""

    obs: np.ndarray  # (P, q) indices of the observed items of each pattern
    n: np.ndarray  # (P,) rows per pattern
    mean: np.ndarray  # (P, q)
    cov: np.ndarray  # (P, q, q) ML covariance (divisor n)
    y: np.ndarray  # (R, q) the rows, pattern by pattern
    pid: np.ndarray  # (R,) pattern of each row (0..P-1)


@dataclass(frozen=True, eq=False)
class Patterns:
    p: int
    blocks: tuple[Block, ...]
    nobs: int


def patterns(x: np.ndarray) -> Patterns:
    """Missing-data patterns of ``x`` (NaN = missing); rows with no answer are dropped."""
    obs = ~np.isnan(x)
    keep = obs.any(axis=1)
    x, obs = x[keep], obs[keep]
    p = x.shape[1]
    keys, inv = np.unique(obs, axis=0, return_inverse=True)
    inv = np.asarray(inv).ravel()
    order = np.argsort(inv, kind="stable")
    counts = np.bincount(inv, minlength=len(keys))
    starts = np.concatenate([[0], np.cumsum(counts)])
    blocks = []
    q_of = keys.sum(axis=1)
    for q in np.unique(q_of):
        ks = np.flatnonzero(q_of == q)
        o = np.array([np.flatnonzero(keys[k]) for k in ks]).reshape(len(ks), q)
        ys, pid = [], []
        means = np.empty((len(ks), q))
        covs = np.empty((len(ks), q, q))
        for j, k in enumerate(ks):
            rows = x[order[starts[k] : starts[k + 1]]][:, o[j]]
            means[j] = rows.mean(axis=0)
            d = rows - means[j]
            covs[j] = d.T @ d / rows.shape[0]
            ys.append(rows)
            pid.append(np.full(rows.shape[0], j))
        blocks.append(
            Block(o, counts[ks].astype(float), means, covs, np.vstack(ys), np.concatenate(pid))
        )
    return Patterns(p, tuple(blocks), int(keep.sum()))


def _block_inv(
    b: Block, sigma: np.ndarray, logdet: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Σ_oo⁻¹ (P, q, q) and log|Σ_oo| (P,) of a block; raises LinAlgError if not PD.

    With ``logdet=False`` (gradients, scores) only the inverse is computed.
    """
    sig = sigma[b.obs[:, :, None], b.obs[:, None, :]]
    ld = None
    if logdet:
        chol = np.linalg.cholesky(sig)
        ld = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    si = np.linalg.inv(sig)
    return (si + si.transpose(0, 2, 1)) / 2.0, ld


def _scatter(p: int, obs: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Sum of (P, q, q) pattern matrices placed at their observed rows/columns of a p×p."""
    idx = obs[:, :, None] * p + obs[:, None, :]
    return np.bincount(idx.ravel(), weights=vals.ravel(), minlength=p * p).reshape(p, p)


def loglik(pats: Patterns, mu: np.ndarray, sigma: np.ndarray) -> float:
    """Observed-data log-likelihood (−inf if a Σ_oo is not positive definite)."""
    total = 0.0
    for b in pats.blocks:
        try:
            si, logdet = _block_inv(b, sigma)
        except np.linalg.LinAlgError:
            return -np.inf
        d = b.mean - mu[b.obs]
        c = b.cov + d[:, :, None] * d[:, None, :]
        q = b.obs.shape[1]
        total += float(
            np.sum(-b.n / 2.0 * (q * _LOG_2PI + logdet + np.einsum("pij,pji->p", si, c)))
        )
    return total


def gradient(pats: Patterns, mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``G`` (p, p) and ``g`` (p) with ``d log L = tr(G dΣ) + gᵀ dμ`` (symmetric dΣ)."""
    p = pats.p
    g_s = np.zeros((p, p))
    g_m = np.zeros(p)
    for b in pats.blocks:
        si, _ = _block_inv(b, sigma, logdet=False)
        d = b.mean - mu[b.obs]
        c = b.cov + d[:, :, None] * d[:, None, :]
        vals = b.n[:, None, None] / 2.0 * (si @ c @ si - si)
        g_s += _scatter(p, b.obs, vals)
        gm = b.n[:, None] * np.einsum("pij,pj->pi", si, d)
        g_m += np.bincount(b.obs.ravel(), weights=gm.ravel(), minlength=p)
    return g_s, g_m


def em(
    pats: Patterns, p: int, *, max_iter: int = 10000, tol: float = 1e-11
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """Saturated-model ML mean and covariance by EM; returns (μ, Σ, log L, converged).

    E-step from each pattern's sufficient statistics: with ``B = Σ_mo Σ_oo⁻¹`` the
    missing part's conditional mean is ``μ_m + B(y_o − μ_o)`` and its conditional
    covariance ``Σ_mm − B Σ_om``.
    """
    n = float(pats.nobs)
    s1 = np.zeros(p)
    s2 = np.zeros(p)
    cnt = np.zeros(p)
    for b in pats.blocks:
        np.add.at(s1, b.obs, b.n[:, None] * b.mean)
        np.add.at(s2, b.obs, b.n[:, None] * (np.diagonal(b.cov, axis1=1, axis2=2) + b.mean**2))
        np.add.at(cnt, b.obs, np.broadcast_to(b.n[:, None], b.obs.shape))
    mu = s1 / np.maximum(cnt, 1)
    sigma = np.diag(np.maximum(s2 / np.maximum(cnt, 1) - mu**2, 1e-8))
    allidx = np.arange(p)
    ll_old = loglik(pats, mu, sigma)
    ok = False
    for _ in range(max_iter):
        t1 = np.zeros(p)
        t2 = np.zeros((p, p))
        for b in pats.blocks:
            nb, q = b.obs.shape
            if q == p:
                xbar = b.mean
                m2 = b.cov + xbar[:, :, None] * xbar[:, None, :]
                t1 += b.n @ xbar
                t2 += np.einsum("p,pij->ij", b.n, m2)
                continue
            mis = np.array([np.setdiff1d(allidx, o) for o in b.obs])
            full = np.concatenate([b.obs, mis], axis=1)  # (P, p): observed then missing
            s_oo = sigma[b.obs[:, :, None], b.obs[:, None, :]]
            s_mo = sigma[mis[:, :, None], b.obs[:, None, :]]
            s_mm = sigma[mis[:, :, None], mis[:, None, :]]
            bb = np.linalg.solve(s_oo, s_mo.transpose(0, 2, 1)).transpose(0, 2, 1)
            yhat_m = mu[mis] + np.einsum("pij,pj->pi", bb, b.mean - mu[b.obs])
            xbar = np.concatenate([b.mean, yhat_m], axis=1)
            m = np.zeros((nb, p, p))
            m[:, :q, :q] = b.cov
            m[:, q:, :q] = bb @ b.cov
            m[:, :q, q:] = m[:, q:, :q].transpose(0, 2, 1)
            m[:, q:, q:] = bb @ b.cov @ bb.transpose(0, 2, 1) + s_mm - bb @ s_mo.transpose(0, 2, 1)
            m += xbar[:, :, None] * xbar[:, None, :]
            t1 += np.bincount(full.ravel(), weights=(b.n[:, None] * xbar).ravel(), minlength=p)
            t2 += _scatter(p, full, b.n[:, None, None] * m)
        mu = t1 / n
        sigma = t2 / n - np.outer(mu, mu)
        sigma = (sigma + sigma.T) / 2.0
        ll = loglik(pats, mu, sigma)
        if abs(ll - ll_old) < tol * max(1.0, abs(ll)):
            ok = True
            ll_old = ll
            break
        ll_old = ll
    return mu, sigma, float(ll_old), ok


def score_crossprod(
    pats: Patterns,
    mu: np.ndarray,
    sigma: np.ndarray,
    ds: np.ndarray,
    dm: np.ndarray,
    chunk: int = 4096,
) -> np.ndarray:
    """``Σ_i s_i s_iᵀ`` of the casewise scores ``s_ik = ∂ log L_i / ∂θ_k`` given ∂Σ/∂θ
    (K, p, p) and ∂μ/∂θ (K, p); rows in chunks, so memory does not grow with n.

    ``∂ log L_i/∂Σ = ½ (w wᵀ − Σ_oo⁻¹)`` and ``∂ log L_i/∂μ = w`` on the observed items,
    ``w = Σ_oo⁻¹ (y_o − μ_o)``.
    """
    p = pats.p
    k = ds.shape[0]
    dst = ds.reshape(k, -1).T
    dmt = dm.T
    out = np.zeros((k, k))
    for b in pats.blocks:
        si, _ = _block_inv(b, sigma, logdet=False)
        for s0 in range(0, b.y.shape[0], chunk):
            pid = b.pid[s0 : s0 + chunk]
            rows = pid.size
            sir = si[pid]
            o = b.obs[pid]
            w = np.einsum("rij,rj->ri", sir, b.y[s0 : s0 + chunk] - mu[o])
            vals = 0.5 * (w[:, :, None] * w[:, None, :] - sir)
            full = np.zeros((rows, p, p))
            full[np.arange(rows)[:, None, None], o[:, :, None], o[:, None, :]] = vals
            fm = np.zeros((rows, p))
            fm[np.arange(rows)[:, None], o] = w
            sc = full.reshape(rows, -1) @ dst + fm @ dmt
            out += sc.T @ sc
    return out


def saturated_derivatives(p: int) -> tuple[np.ndarray, np.ndarray]:
    """∂Σ/∂θ and ∂μ/∂θ for the saturated model θ = (μ, vech Σ)."""
    li, lj = np.tril_indices(p)
    k = p + li.size
    ds = np.zeros((k, p, p))
    dm = np.zeros((k, p))
    dm[np.arange(p), np.arange(p)] = 1.0
    r = np.arange(p, k)
    ds[r, li, lj] = 1.0
    ds[r, lj, li] = 1.0
    return ds, dm


def independence_loglik(pats: Patterns, p: int) -> float:
    """Log-likelihood of the independence model: each item's observed mean and ML variance."""
    vals: list[list[np.ndarray]] = [[] for _ in range(p)]
    for b in pats.blocks:
        for j in range(b.obs.shape[1]):
            for item in np.unique(b.obs[:, j]):
                vals[item].append(b.y[b.obs[b.pid, j] == item, j])
    total = 0.0
    for v in vals:
        x = np.concatenate(v)
        s2 = float(np.mean((x - x.mean()) ** 2))
        total += -x.size / 2.0 * (_LOG_2PI + np.log(s2) + 1.0)
    return total


def observed_information_full(pats: Patterns, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Observed information (minus the Hessian of log L, total) in the coordinates
    ``(μ, vec Σ)`` (size p + p², vec row-major), valid for symmetric directions in Σ.

    Per pattern, with ``S⁻¹ = Σ_oo⁻¹``, ``d = x̄_p − μ_o``, ``w = S⁻¹d`` and
    ``B = S⁻¹ (S_p + ddᵀ) S⁻¹``: ``I_μμ = n S⁻¹``, ``I_Σμ[(a,b),c] = n S⁻¹[a,c] w_b`` and
    ``I_ΣΣ[(a,b),(c,d)] = n/2 (B[a,d] S⁻¹[b,c] + S⁻¹[a,d] B[b,c] − S⁻¹[a,d] S⁻¹[b,c])``.
    """
    p = pats.p
    k = p + p * p
    out = np.zeros((k, k))
    for b in pats.blocks:
        si, _ = _block_inv(b, sigma, logdet=False)
        d = b.mean - mu[b.obs]
        c = b.cov + d[:, :, None] * d[:, None, :]
        bm = si @ c @ si
        w = np.einsum("pij,pj->pi", si, d)
        q = b.obs.shape[1]
        # positions in the full vector: μ_j -> j; Σ[a,b] -> p + a*p + b
        vpos = p + (b.obs[:, :, None] * p + b.obs[:, None, :]).reshape(len(b.n), q * q)
        mpos = b.obs
        pos = np.concatenate([mpos, vpos], axis=1)  # (P, q + q²)
        step = max(1, int(4e6 // (q + q * q) ** 2))  # bounds the temporaries' memory
        for s0 in range(0, len(b.n), step):
            sl = slice(s0, s0 + step)
            nn = b.n[sl, None, None]
            s_, b_, w_ = si[sl], bm[sl], w[sl]
            m = len(s_)
            blk = np.zeros((m, q + q * q, q + q * q))
            blk[:, :q, :q] = nn * s_
            cross = nn[..., None] * np.einsum("pac,pb->pabc", s_, w_)
            blk[:, q:, :q] = cross.reshape(m, q * q, q)
            blk[:, :q, q:] = blk[:, q:, :q].transpose(0, 2, 1)
            ee = (
                np.einsum("pad,pbc->pabcd", b_, s_)
                + np.einsum("pad,pbc->pabcd", s_, b_)
                - np.einsum("pad,pbc->pabcd", s_, s_)
            )
            blk[:, q:, q:] = nn / 2.0 * ee.reshape(m, q * q, q * q)
            idx = pos[sl][:, :, None] * k + pos[sl][:, None, :]
            out += np.bincount(idx.ravel(), weights=blk.ravel(), minlength=k * k).reshape(k, k)
    return (out + out.T) / 2.0


def saturated_jacobian(p: int) -> np.ndarray:
    """∂(μ, vec Σ)/∂(μ, vech Σ) with vech in ``np.tril_indices`` order: (p + p², p + p*)."""
    li, lj = np.tril_indices(p)
    j = np.zeros((p + p * p, p + li.size))
    j[np.arange(p), np.arange(p)] = 1.0
    cols = p + np.arange(li.size)
    j[p + li * p + lj, cols] = 1.0
    j[p + lj * p + li, cols] = 1.0
    return j
