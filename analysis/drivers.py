"""Driver analysis: how much of each outcome the trust dimensions explain.

For every outcome block of the instrument (overall trust, loyalty, perceived risk in
the default one) the block's score is regressed on the dimension scores, and R² is
split among the dimensions by the LMG / Shapley decomposition (Lindeman, Merenda &
Gold 1980; Grömping 2006): a dimension's share is the R² it adds when it enters the
model, averaged over every order of entry. The shares sum to R², as relaimpo's
``calc.relimp(type = "lmg")`` reports them (not normalised to 100%).

Conventions (the same as ``tests/reference/make_drivers.R``):

* rows complete on the outcome and every predictor (listwise, as ``lm``);
* all ``2^p`` subset R² values from one correlation matrix in closed form,
  ``R²(S) = r_yS' R_SS^-1 r_yS``, not by refitting on the raw data;
* standardized betas ``R_XX^-1 r_Xy`` (the coefficients of ``lm`` on z-scores);
* 95% bootstrap percentile intervals of the shares: ``n_boot`` resamples of the rows
  with a fixed ``seed`` (quantiles as R's ``quantile(type = 7)``); with a cluster
  column (one respondent rating several brands) whole clusters are resampled;
* groups with fewer than ``min_n`` complete rows are ``{"suppressed": True}``.

Outcome scores are the mean of the block's answered items when at least the
dimension scores' ``min_items`` rule is met (:func:`analysis.scores.resolve_min_items`).

References
----------
Lindeman, R. H., Merenda, P. F., & Gold, R. Z. (1980). *Introduction to Bivariate
and Multivariate Analysis*. Scott, Foresman.
Grömping, U. (2006). Relative importance for linear regression in R: the package
relaimpo. *Journal of Statistical Software*, 17(1), 1-27.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from instruments.model import Instrument

from ._result import AnalysisError, Result, fmt
from .compare import _natural_order
from .data import checked_matrix
from .scores import resolve_min_items, score

SUPPRESSED: dict[str, Any] = {"suppressed": True}
MAX_PREDICTORS = 12  # 2^12 subsets; beyond that the exact decomposition is too slow


# ----- closed form ------------------------------------------------------------------------
_SUBSETS: dict[int, tuple[list[list[int]], np.ndarray]] = {}


def _subsets(p: int) -> tuple[list[list[int]], np.ndarray]:
    """Every non-empty subset of ``range(p)`` by bit mask (bit ``j`` = predictor ``j``),
    and the ``(2^p, p)`` matrix ``M`` with ``lmg = r2_by_mask @ M``.

    Predictor j's share is ``sum_S w(|S|) (R²(S + j) - R²(S))`` over subsets S without
    j, with the Shapley weight ``w(k) = k! (p - k - 1)! / p!``: each mask enters with
    ``+w(|mask| - 1)`` where it holds j and ``-w(|mask|)`` where it does not.
    """
    if p not in _SUBSETS:
        w = [math.factorial(k) * math.factorial(p - k - 1) / math.factorial(p) for k in range(p)]
        m = np.zeros((1 << p, p))
        for mask in range(1 << p):
            k = bin(mask).count("1")
            for j in range(p):
                if mask >> j & 1:
                    m[mask, j] += w[k - 1]
                elif k < p:
                    m[mask, j] -= w[k]
        subsets = [[j for j in range(p) if mask >> j & 1] for mask in range(1 << p)]
        _SUBSETS[p] = (subsets, m)
    return _SUBSETS[p]


def _lmg_batch(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(r2, shares)`` for a stack of correlation matrices ``(B, p + 1, p + 1)``
    (outcome first): every subset R² ``r_yS' R_SS^-1 r_yS`` solved for all B at once."""
    p = corr.shape[-1] - 1
    subsets, m = _subsets(p)
    r2 = np.zeros((corr.shape[0], 1 << p))
    for mask in range(1, 1 << p):
        s = [j + 1 for j in subsets[mask]]
        r = corr[:, s, 0]
        sol = np.linalg.solve(corr[:, s][:, :, s], r[:, :, None])[:, :, 0]
        r2[:, mask] = np.einsum("bi,bi->b", r, sol)
    return r2[:, -1], r2 @ m


def lmg_from_corr(corr: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """``(r2, lmg shares, standardized betas)`` from the correlation matrix of
    ``[outcome, predictors...]`` (outcome first). The shares sum to ``r2``."""
    corr = np.asarray(corr, dtype=float)
    p = corr.shape[0] - 1
    if p < 1:
        raise AnalysisError("driver analysis needs at least one predictor")
    if p > MAX_PREDICTORS:
        raise AnalysisError(f"driver analysis of {p} predictors: at most {MAX_PREDICTORS}")
    r2, shares = _lmg_batch(corr[None])
    beta = np.linalg.solve(corr[1:, 1:], corr[1:, 0])
    return float(r2[0]), shares[0], beta


# ----- results ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DriverResult(Result):
    """LMG shares, standardized betas and bootstrap CIs for one outcome in one group.

    ``to_dict()`` gives ``{"n", "r2", "lmg", "std_beta", "lmg_ci95"}``.
    """

    outcome: str
    n: int
    r2: float
    lmg: Mapping[str, float]
    std_beta: Mapping[str, float]
    lmg_ci95: Mapping[str, tuple[float, float]]
    n_boot: int = 0

    def to_dict(self) -> dict[str, Any]:
        from ._result import jsonable

        return jsonable(
            {
                "n": self.n,
                "r2": self.r2,
                "lmg": dict(self.lmg),
                "std_beta": dict(self.std_beta),
                "lmg_ci95": {k: list(v) for k, v in self.lmg_ci95.items()},
            }
        )

    @property
    def ranking(self) -> list[str]:
        """Predictors from the largest LMG share to the smallest."""
        return sorted(self.lmg, key=lambda k: -self.lmg[k])

    def summary(self, names: Mapping[str, str] | None = None) -> str:
        names = names or {}
        lines = [
            f"{self.outcome}: n = {self.n}, R² = {fmt(self.r2)}",
            f"  {'dimension':<28} {'LMG':>7}  {'% of R²':>7}  95% CI (bootstrap)   std beta",
        ]
        for k in self.ranking:
            lo, hi = self.lmg_ci95.get(k, (None, None))
            pct = 100 * self.lmg[k] / self.r2 if self.r2 else float("nan")
            lines.append(
                f"  {names.get(k, k)[:28]:<28} {fmt(self.lmg[k]):>7}  {fmt(pct, 1):>7}"
                f"  [{fmt(lo)}, {fmt(hi)}]       {fmt(self.std_beta[k])}"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class OutcomeDrivers(Result):
    """Drivers of one outcome overall and per segment (``{"suppressed": True}`` cells)."""

    outcome: str
    overall: DriverResult | Mapping[str, Any]
    by_segment: Mapping[str, DriverResult | Mapping[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def one(x):
            return x.to_dict() if isinstance(x, Result) else dict(x)

        return {
            "overall": one(self.overall),
            "by_segment": {k: one(v) for k, v in self.by_segment.items()},
        }

    def summary(self) -> str:
        lines = [f"Drivers of {self.outcome} (overall)"]
        for label, d in [("overall", self.overall), *self.by_segment.items()]:
            if label != "overall":
                lines.append(f"Drivers of {self.outcome} ({label})")
            lines.append(
                d.summary()
                if isinstance(d, DriverResult)
                else "  suppressed"
                if d.get("suppressed")
                else f"  not estimated: {d.get('error', '-')}"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class DriversResult(Result):
    """Drivers of every outcome block. ``to_dict()`` maps the outcome's id to
    ``{"overall": D, "by_segment": {value: D}}``."""

    outcomes: Mapping[str, OutcomeDrivers]
    predictors: tuple[str, ...]
    names: Mapping[str, str] = field(default_factory=dict)
    segment: str | None = None
    n_boot: int = 0
    seed: int | None = 0
    cluster: str | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {k: v.to_dict() for k, v in self.outcomes.items()}

    def summary(self) -> str:
        lines = [
            f"Drivers (LMG shares of R², standardized betas; {self.n_boot} bootstrap "
            "resamples" + (f" of {self.cluster} clusters" if self.cluster else "") + ")"
        ]
        for oid, od in self.outcomes.items():
            groups = [
                ("overall", od.overall),
                *((f"{self.segment} = {k}", v) for k, v in od.by_segment.items()),
            ]
            for label, d in groups:
                lines.append(f"{self.names.get(oid, oid)} ({label})")
                lines.append(
                    d.summary(self.names) if isinstance(d, DriverResult) else "  suppressed"
                )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ----- estimation -------------------------------------------------------------------------
def _bootstrap(
    zc: np.ndarray, n_boot: int, seed: int | None, cluster: np.ndarray | None
) -> np.ndarray:
    """LMG shares of ``n_boot`` resamples (rows, or whole clusters) of centred data ``zc``.

    A resample is a count vector over the units, so its sums and cross products are
    weighted sums of the units' own: ``B`` resamples cost one matrix product per block.
    """
    n, k = zc.shape
    if cluster is None:
        s1u, cnt, s2u = zc, np.ones(n), None  # cross products made per block of rows
    else:
        _, inv = np.unique(pd.Series(cluster).astype(str).to_numpy(), return_inverse=True)
        g = int(inv.max()) + 1
        s1u = np.zeros((g, k))
        s2u = np.zeros((g, k * k))
        np.add.at(s1u, inv, zc)
        np.add.at(s2u, inv, (zc[:, :, None] * zc[:, None, :]).reshape(n, k * k))
        cnt = np.bincount(inv, minlength=g).astype(float)
    units = len(cnt)
    rng = np.random.default_rng(seed)
    out = np.full((n_boot, k - 1), np.nan)
    block = max(1, min(n_boot, 4_000_000 // max(units, 1)))
    rows = 65_536
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        draws = rng.integers(0, units, (b, units)) + units * np.arange(b)[:, None]
        w = np.bincount(draws.ravel(), minlength=b * units).reshape(b, units).astype(float)
        nb = w @ cnt
        s1 = (w @ s1u) / nb[:, None]
        if s2u is not None:
            s2 = w @ s2u
        else:  # a block of rows at a time: no n x k^2 temporary
            s2 = np.zeros((b, k * k))
            for r in range(0, units, rows):
                zr = zc[r : r + rows]
                s2 += w[:, r : r + rows] @ (zr[:, :, None] * zr[:, None, :]).reshape(-1, k * k)
        cov = s2.reshape(b, k, k) / nb[:, None, None] - s1[:, :, None] * s1[:, None, :]
        sd = np.sqrt(np.clip(np.einsum("bii->bi", cov), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / (sd[:, :, None] * sd[:, None, :])
        fine = np.isfinite(corr).all(axis=(1, 2))
        if fine.any():
            try:
                out[start : start + b][fine] = _lmg_batch(corr[fine])[1]
            except np.linalg.LinAlgError:  # a singular resample: one at a time
                for i in np.flatnonzero(fine):
                    try:
                        out[start + i] = _lmg_batch(corr[i : i + 1])[1][0]
                    except np.linalg.LinAlgError:
                        pass
    return out


def relative_importance(
    frame: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int | None = 0,
    cluster: pd.Series | np.ndarray | None = None,
) -> DriverResult:
    """LMG shares, R², standardized betas and bootstrap CIs of ``outcome`` on ``predictors``.

    ``frame`` holds numeric columns; rows with a missing value in any of them are
    dropped (listwise). ``cluster`` (aligned with ``frame``): resample whole clusters.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise AnalysisError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    cols = [outcome, *predictors]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise AnalysisError(f"driver analysis: column(s) {', '.join(missing)} not in the data")
    if len(set(predictors)) != len(predictors) or outcome in predictors:
        raise AnalysisError("driver analysis: the outcome and predictors must be distinct")
    z = frame[cols].to_numpy(dtype=float, na_value=np.nan)
    ok = ~np.isnan(z).any(axis=1)
    z = z[ok]
    n, p = len(z), len(predictors)
    if n < p + 2:
        raise AnalysisError(
            f"driver analysis of {outcome}: {n} complete rows for {p} "
            f"predictors (at least {p + 2} needed)"
        )
    sd = z.std(axis=0)
    flat = [c for c, s in zip(cols, sd, strict=True) if not s > 0]
    if flat:
        raise AnalysisError(f"driver analysis of {outcome}: no variation in {', '.join(flat)}")
    corr = np.corrcoef(z, rowvar=False)
    if np.linalg.matrix_rank(corr[1:, 1:]) < p:
        raise AnalysisError(
            f"driver analysis of {outcome}: the predictors are collinear "
            "(one is a linear combination of the others)"
        )
    r2, shares, beta = lmg_from_corr(corr)
    ci = {c: (float("nan"), float("nan")) for c in predictors}
    if n_boot:
        boot = _bootstrap(
            z - z.mean(axis=0), n_boot, seed, None if cluster is None else np.asarray(cluster)[ok]
        )
        good = ~np.isnan(boot).any(axis=1)
        if good.sum() >= 2:
            q = np.quantile(boot[good], [0.025, 0.975], axis=0)
            ci = {c: (float(q[0, j]), float(q[1, j])) for j, c in enumerate(predictors)}
    return DriverResult(
        outcome=outcome,
        n=n,
        r2=r2,
        lmg={c: float(s) for c, s in zip(predictors, shares, strict=True)},
        std_beta={c: float(s) for c, s in zip(predictors, beta, strict=True)},
        lmg_ci95=ci,
        n_boot=int(n_boot),
    )


def drivers_from_scores(
    scores: pd.DataFrame,
    outcomes: Sequence[str],
    predictors: Sequence[str],
    *,
    segment: pd.Series | None = None,
    n_boot: int = 1000,
    seed: int | None = 0,
    min_n: int = 30,
    cluster: pd.Series | None = None,
    hidden: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    max_boot_n: int | None = None,
) -> DriversResult:
    """Drivers of each ``outcomes`` column on the ``predictors`` columns of ``scores``,
    overall and per value of ``segment`` (aligned with ``scores``).

    A group with fewer than ``min_n`` complete rows, or named in ``hidden`` (e.g.
    by complementary suppression), is ``{"suppressed": True}``. A group of more than
    ``max_boot_n`` complete rows gets no bootstrap (its CIs are ``None``): the
    resampling costs ``n_boot`` passes over the rows, and at that size the shares'
    sampling error is small.
    """
    min_n = max(int(min_n), len(predictors) + 2)
    notes: list[str] = []
    skipped: list[str] = []
    seg = None
    seg_names: list[str] = []
    if segment is not None:  # codes once (missing: -1); values compared as text
        codes, uniques = pd.factorize(pd.Series(np.asarray(segment, dtype=object)))
        labels = [str(u) for u in uniques]
        seg_names = _natural_order(set(labels))
        seg = {
            s: np.isin(codes, [i for i, lab in enumerate(labels) if lab == s]) for s in seg_names
        }
    out: dict[str, OutcomeDrivers] = {}
    for oid in outcomes:

        def fit(
            mask: np.ndarray | None, label: str, oid: str = oid
        ) -> DriverResult | dict[str, Any]:
            sub = scores if mask is None else scores.loc[mask]
            cl = None if cluster is None else (cluster if mask is None else cluster[mask])
            n_ok = int(sub[[oid, *predictors]].notna().all(axis=1).sum())
            if n_ok < min_n:
                return dict(SUPPRESSED)
            if hidden and label in hidden:  # {name: "n" | "complementary"}
                return (
                    {**SUPPRESSED, "complementary": True}
                    if hidden[label] == "complementary"
                    else dict(SUPPRESSED)
                )
            nb = n_boot
            if max_boot_n is not None and n_ok > max_boot_n and n_boot:
                nb = 0
                skipped.append(label)
            try:
                return relative_importance(sub, oid, predictors, n_boot=nb, seed=seed, cluster=cl)
            except AnalysisError as e:
                notes.append(f"drivers of {oid} ({label}) not estimated: {e}")
                return {"error": str(e)}

        overall = fit(None, "overall")
        by_seg = {}
        if seg is not None:
            for s in seg_names:
                by_seg[s] = fit(seg[s], s)
        out[oid] = OutcomeDrivers(oid, overall, by_seg)
    if skipped:
        notes.append(
            f"no bootstrap CIs for the driver shares of groups with more than "
            f"{max_boot_n:,} complete rows ({', '.join(dict.fromkeys(skipped))})"
        )
    return DriversResult(
        outcomes=out,
        predictors=tuple(predictors),
        names=dict(names or {}),
        segment=None if segment is None else str(getattr(segment, "name", "") or "segment"),
        n_boot=int(n_boot),
        seed=seed,
        cluster=None if cluster is None else "respondent",
        notes=tuple(notes),
    )


def outcome_scores(
    df: pd.DataFrame, inst: Instrument, min_items: int | float | None = None
) -> pd.DataFrame:
    """Score of each outcome block whose items are all in ``df``: the mean of its
    answered items (reverse-keyed where marked) when at least ``min_items`` are answered."""
    cols = {}
    for b in inst.outcomes:
        if not all(i in df.columns for i in b.item_ids):
            continue
        x = checked_matrix(df, inst, list(b.item_ids))
        for j, iid in enumerate(b.item_ids):
            if inst.item(iid).reverse:
                x[:, j] = inst.scale_for(iid).reverse(x[:, j])
        k = resolve_min_items(min_items, len(b.item_ids))
        cnt = (~np.isnan(x)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.nansum(x, axis=1) / cnt
        cols[b.id] = np.where(cnt >= k, m, np.nan)
    return pd.DataFrame(cols, index=df.index)


def drivers(
    df: pd.DataFrame,
    inst: Instrument,
    *,
    segment: str | None = None,
    n_boot: int = 1000,
    seed: int | None = 0,
    min_segment_n: int = 30,
    min_items: int | float | None = None,
    cluster: str | None = None,
    hidden: Mapping[str, str] | None = None,
    lang: str = "en",
    max_boot_n: int | None = 50_000,
) -> DriversResult:
    """Driver analysis of every outcome block of ``inst`` on the dimension scores.

    Parameters
    ----------
    df : responses (item columns named by item id), already screened.
    segment : column: drivers per segment value as well.
    n_boot, seed : bootstrap resamples for the CIs of the shares (0: no CIs).
    min_segment_n : groups with fewer complete rows are suppressed.
    cluster : column of a respondent key (one person rating several brands): the
        bootstrap resamples whole respondents.
    hidden : segment values to suppress whatever their n (complementary suppression).
    max_boot_n : groups with more complete rows get no bootstrap CIs (``None``: always).
    """
    for col, what in ((segment, "segment"), (cluster, "respondent key")):
        if col is not None and col not in df.columns:
            raise AnalysisError(f"the {what} column {col!r} is not in the data")
    if not inst.outcomes:
        raise AnalysisError(f"instrument {inst.id!r} has no outcome blocks: no driver analysis")
    outs = outcome_scores(df, inst, min_items)
    if outs.empty:
        raise AnalysisError(
            "none of the instrument's outcome blocks has all its items in the "
            "data: no driver analysis"
        )
    sc = score(df, inst, min_items=min_items).frame
    dims = [b.id for b in inst.dimensions]
    frame = pd.concat([outs, sc[dims]], axis=1)
    names = {
        b.id: (b.name.get(lang) or b.name.get("en") or b.id)
        for b in (*inst.dimensions, *inst.outcomes)
    }
    res = drivers_from_scores(
        frame,
        list(outs.columns),
        dims,
        segment=None if segment is None else df[segment].rename(segment),
        n_boot=n_boot,
        seed=seed,
        min_n=min_segment_n,
        cluster=None if cluster is None else df[cluster].to_numpy(),
        hidden=hidden,
        names=names,
        max_boot_n=max_boot_n,
    )
    missing = [b.id for b in inst.outcomes if b.id not in outs.columns]
    notes = list(res.notes)
    if missing:
        notes.append(f"outcome block(s) {', '.join(missing)} not in the data: no drivers")
    return DriversResult(
        outcomes=res.outcomes,
        predictors=res.predictors,
        names=names,
        segment=segment,
        n_boot=res.n_boot,
        seed=seed,
        cluster=cluster,
        notes=tuple(notes),
    )
