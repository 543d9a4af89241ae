"""Means by group with t intervals, Welch's ANOVA, pairwise Welch t-tests with Holm
correction, and change between consecutive periods.

Everything is computed from per-group sufficient statistics (n, mean, variance),
which :class:`~analysis.moments.Moments` supplies, so a SQL aggregate serves too.
Groups smaller than ``min_n`` are suppressed: they appear as suppressed, with no
figures, and take no part in the tests.

Rows nested in clusters (one person's ratings of several brands): :func:`group_table`
and :func:`period_change` take ``clusters``. In a group where some cluster has several
rows, the mean's standard error is the CR1 cluster-robust one,
``sqrt(G / (G - 1) * sum_g (sum_{i in g} (y_i - mean))^2) / n`` with G clusters, its
interval uses t with G - 1 degrees of freedom, and a Welch test takes that variance
and G - 1 in the Welch-Satterthwaite degrees of freedom. With one row per cluster
these are exactly the classical t interval and Welch's test, which such groups keep.
R: ``sandwich::vcovCL(lm(y ~ 1), cluster = ~g, type = "HC1")`` for the variance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ._result import AnalysisError, Result, fmt, fmt_p
from .moments import Moments

SUPPRESSED = {"suppressed": True}


@dataclass(frozen=True)
class GroupStat(Result):
    """n, mean, SD and t-based CI of one group (or ``suppressed``, with no figures).

    ``clusters`` and ``se``: set when the group's rows are nested in clusters (then
    ``se`` is the CR1 standard error of the mean and the CI uses ``clusters - 1``
    degrees of freedom); ``None`` for independent rows."""

    name: str
    n: int | None
    mean: float | None
    sd: float | None
    ci95: tuple[float, float] | None
    suppressed: bool = False
    clusters: int | None = None
    se: float | None = None

    @property
    def var(self) -> float:
        return float(self.sd) ** 2

    @property
    def mean_var(self) -> float:
        """The squared standard error of the mean (CR1 when clustered)."""
        return float(self.se) ** 2 if self.clusters is not None else self.var / self.n

    @property
    def mean_df(self) -> int:
        """Degrees of freedom of the mean's t: clusters - 1, else n - 1."""
        return (self.clusters if self.clusters is not None else self.n) - 1

    def to_dict(self) -> dict:
        if self.suppressed:
            return dict(SUPPRESSED)
        out = {"n": self.n, "mean": self.mean, "sd": self.sd, "ci95": list(self.ci95)}
        if self.clusters is not None:
            out.update(clusters=self.clusters, se_cr1=self.se)
        return out


def mean_ci(m: Moments, name: str = "all", *, level: float = 0.95, min_n: int = 2) -> GroupStat:
    """Mean with the one-sample t interval ``mean +- t_{n-1} s / sqrt(n)`` from Moments.

    R: ``t.test(x)$conf.int``.
    """
    if m.n < max(min_n, 2):
        return GroupStat(name, None, None, None, None, suppressed=True)
    sd = float(np.sqrt(m.cross[0, 0] / (m.n - 1)))
    mean = float(m.mean[0])
    h = stats.t.ppf(0.5 + level / 2, m.n - 1) * sd / math.sqrt(m.n)
    return GroupStat(name, m.n, mean, sd, (mean - h, mean + h))


def mean_ci_clustered(
    values: np.ndarray, clusters: np.ndarray, name: str = "all", *, level: float = 0.95
) -> GroupStat:
    """Mean with its CR1 cluster-robust interval ``mean +- t_{G-1} se``, where
    ``se^2 = G / (G - 1) * sum_g (sum_{i in g} (y_i - mean))^2 / n^2`` (G clusters;
    ``clusters`` holds one integer code per value). ``sd`` stays the rows' SD.

    R: ``sqrt(sandwich::vcovCL(lm(y ~ 1), cluster = ~g, type = "HC1"))``; the interval
    as Stata's ``mean y, vce(cluster g)``.

    References
    ----------
    Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust
    inference. *Journal of Human Resources*, 50(2), 317-372.
    """
    y = np.asarray(values, dtype=float)
    n = len(y)
    codes, _ = pd.factorize(np.asarray(clusters))
    g = int(codes.max()) + 1 if n else 0
    if n < 2 or g < 2:
        return GroupStat(name, None, None, None, None, suppressed=True)
    mean = float(y.mean())
    sums = np.bincount(codes, weights=y - mean, minlength=g)
    se = math.sqrt(g / (g - 1) * float(sums @ sums)) / n
    sd = float(y.std(ddof=1))
    h = stats.t.ppf(0.5 + level / 2, g - 1) * se
    return GroupStat(name, n, mean, sd, (mean - h, mean + h), clusters=g, se=se)


def _natural_order(names) -> list[str]:
    """Numeric order when every name is a number (``9 < 10``), else text order."""
    names = list(names)
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def _moments_by_group(values: pd.Series, groups: pd.Series) -> dict[str, Moments]:
    ok = (values.notna() & groups.notna()).to_numpy()
    v = values.to_numpy(dtype=float, na_value=np.nan)[ok]
    # factorize first, so that only the distinct group values are turned into text
    codes, uniques = pd.factorize(groups[ok], sort=False)
    names = [str(u) for u in uniques]
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    by_name: dict[str, list[np.ndarray]] = {}
    for rows in np.split(order, bounds) if len(order) else []:
        by_name.setdefault(names[codes[rows[0]]], []).append(v[rows])
    out = {}
    for name in sorted(by_name):  # as groupby(astype(str), sort=True)
        parts = by_name[name]
        x = parts[0] if len(parts) == 1 else np.concatenate(parts)
        out[name] = Moments.from_array(x[:, None], ["value"])
    return out


@dataclass(frozen=True)
class GroupTable(Result):
    """Mean and 95% CI per group. See :func:`group_table`."""

    variable: str
    by: str
    min_n: int
    groups: tuple[GroupStat, ...]

    def to_dict(self) -> dict:
        return {g.name: g.to_dict() for g in self.groups}

    @property
    def shown(self) -> list[GroupStat]:
        return [g for g in self.groups if not g.suppressed]

    @property
    def n_suppressed(self) -> int:
        return sum(g.suppressed for g in self.groups)

    def summary(self) -> str:
        lines = [
            f"{self.variable} by {self.by} (groups with n < {self.min_n} suppressed)",
            f"  {'group':<14} {'n':>6} {'mean':>8}  95% CI",
        ]
        for g in self.groups:
            if g.suppressed:
                lines.append(f"  {g.name:<14} {'suppressed (n < ' + str(self.min_n) + ')'}")
            else:
                lines.append(
                    f"  {g.name:<14} {g.n:>6} {fmt(g.mean, 2):>8}  "
                    f"[{fmt(g.ci95[0], 2)}, {fmt(g.ci95[1], 2)}]"
                )
        return "\n".join(lines)


def group_table(
    values: pd.Series,
    groups: pd.Series,
    *,
    min_n: int = 30,
    level: float = 0.95,
    order: Sequence[str] | None = None,
    variable: str | None = None,
    clusters: pd.Series | None = None,
) -> GroupTable:
    """n, mean, SD and t-based confidence interval of ``values`` in each group.

    Groups with fewer than ``min_n`` non-missing values are suppressed (no figures).
    ``clusters`` (aligned with ``values``; missing = a cluster of its own): a group in
    which some cluster has several rows gets the CR1 interval of
    :func:`mean_ci_clustered` (see the module docstring); the others the classical one.

    R: ``lapply(split(x, g), function(v) t.test(na.omit(v))$conf.int)``.

    References
    ----------
    Student (1908). The probable error of a mean. *Biometrika*, 6(1), 1-25.
    """
    mom = _moments_by_group(values, groups)
    names = list(order) if order is not None else _natural_order(mom)
    nested = _nested_groups(values, groups, clusters) if clusters is not None else {}
    rows = []
    for g in names:
        m = mom.get(str(g))
        if m is None or m.n < min_n:
            rows.append(GroupStat(str(g), None, None, None, None, suppressed=True))
        elif str(g) in nested:
            y, codes = nested[str(g)]
            rows.append(mean_ci_clustered(y, codes, str(g), level=level))
        else:
            rows.append(mean_ci(m, str(g), level=level))
    return GroupTable(variable or str(values.name), str(groups.name), min_n, tuple(rows))


def _nested_groups(
    values: pd.Series, groups: pd.Series, clusters: pd.Series
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The groups in which some cluster has several non-missing values: their values
    and cluster codes (a missing cluster key is a cluster of its own)."""
    if len(clusters) != len(values):
        raise AnalysisError("clusters must have one key per value")
    ok = (values.notna() & groups.notna()).to_numpy()
    codes, _ = pd.factorize(pd.Series(np.asarray(clusters, dtype=object)), use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    lone = codes < 0
    codes[lone] = codes.max(initial=-1) + 1 + np.arange(int(lone.sum()))
    v = values.to_numpy(dtype=float, na_value=np.nan)
    names = groups.astype(str).to_numpy()
    out = {}
    for name in pd.unique(names[ok]):
        rows = ok & (names == name)
        c = codes[rows]
        if len(np.unique(c)) < len(c):
            out[str(name)] = (v[rows], c)
    return out


@dataclass(frozen=True)
class WelchAnovaResult(Result):
    """Welch's heteroscedastic one-way ANOVA. See :func:`welch_anova`."""

    F: float
    df: tuple[float, float]
    p: float
    means: dict[str, float]
    n: dict[str, int]
    suppressed: tuple[str, ...]

    def summary(self) -> str:
        return (
            f"Welch ANOVA: F({fmt(self.df[0], 0)}, {fmt(self.df[1], 1)}) = {fmt(self.F, 2)}, "
            f"p {fmt_p(self.p)}; groups: "
            + ", ".join(f"{g} {fmt(self.means[g], 2)} (n={self.n[g]})" for g in self.means)
            + (f"; suppressed: {', '.join(self.suppressed)}" if self.suppressed else "")
        )


def welch_anova_from_stats(
    names: Sequence[str],
    n: Sequence[int],
    mean: Sequence[float],
    var: Sequence[float],
    *,
    suppressed: Sequence[str] = (),
) -> WelchAnovaResult:
    """Welch's ANOVA from per-group n, mean and variance (e.g. a SQL aggregate).

    See :func:`welch_anova` for the formula and references. R: ``oneway.test``.
    """
    names = [str(g) for g in names]
    n_, mean_, var_ = (np.asarray(a, dtype=float) for a in (n, mean, var))
    k = len(n_)
    if k < 2:
        raise AnalysisError("Welch's ANOVA needs at least 2 groups that are not suppressed")
    if np.any(var_ <= 0):
        bad = [g for g, v in zip(names, var_, strict=True) if v <= 0]
        raise AnalysisError(f"Welch's ANOVA: no variance within group(s) {', '.join(bad)}")
    w = n_ / var_
    sw = w.sum()
    mw = (w * mean_).sum() / sw
    a = (w * (mean_ - mw) ** 2).sum() / (k - 1)
    tmp = ((1 - w / sw) ** 2 / (n_ - 1)).sum() / (k**2 - 1)
    f = float(a / (1 + 2 * (k - 2) * tmp))
    df2 = float(1 / (3 * tmp))
    return WelchAnovaResult(
        F=f,
        df=(float(k - 1), df2),
        p=float(stats.f.sf(f, k - 1, df2)),
        means=dict(zip(names, map(float, mean_), strict=True)),
        n=dict(zip(names, map(int, n_), strict=True)),
        suppressed=tuple(suppressed),
    )


def welch_anova(values: pd.Series, groups: pd.Series, *, min_n: int = 30) -> WelchAnovaResult:
    """Welch's (1951) one-way ANOVA for unequal variances across groups.

    With weights ``w_i = n_i / s_i^2``, ``F = [sum w_i (m_i - m_w)^2 / (k - 1)] /
    [1 + 2 (k - 2) L / (k^2 - 1)]``, ``L = sum (1 - w_i / W)^2 / (n_i - 1)``, on
    ``k - 1`` and ``(k^2 - 1) / (3 L)`` degrees of freedom. Groups with fewer than
    ``min_n`` values are suppressed and left out.

    R: ``oneway.test(x ~ g, var.equal = FALSE)``.

    References
    ----------
    Welch, B. L. (1951). On the comparison of several mean values: an alternative
    approach. *Biometrika*, 38(3/4), 330-336. https://doi.org/10.2307/2332579

    Examples
    --------
    >>> import pandas as pd
    >>> v = pd.Series([3.1, 2.9, 3.5, 4.0, 4.2, 3.9, 5.1, 4.8, 5.5])
    >>> g = pd.Series(list("aaabbbccc"))
    >>> w = welch_anova(v, g, min_n=2)    # R: oneway.test(v ~ g)
    >>> round(w.F, 2), [round(d, 2) for d in w.df]
    (22.48, [2.0, 3.49])
    """
    tab = group_table(values, groups, min_n=min_n)
    shown = tab.shown
    return welch_anova_from_stats(
        [g.name for g in shown],
        [g.n for g in shown],
        [g.mean for g in shown],
        [g.var for g in shown],
        suppressed=[g.name for g in tab.groups if g.suppressed],
    )


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values. R: ``p.adjust(p, "holm")``.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    *Scandinavian Journal of Statistics*, 6(2), 65-70.
    """
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


@dataclass(frozen=True)
class Comparison(Result):
    """Welch t-test of ``b - a`` with Hedges' g."""

    a: str
    b: str
    diff: float
    ci95: tuple[float, float]
    t: float
    df: float
    p: float
    p_holm: float
    hedges_g: float


def _welch_t(ga: GroupStat, gb: GroupStat, level: float = 0.95) -> tuple[float, ...]:
    """Welch's t-test of ``mean_b - mean_a`` from group statistics.

    Returns ``(diff, lo, hi, t, df, p, hedges_g)``. Hedges' g is Cohen's d with the
    pooled SD, times the small-sample correction ``1 - 3 / (4 (n_a + n_b) - 9)``.
    R: ``t.test(b, a)``; ``effectsize::hedges_g(b, a)``.
    """
    va, vb = ga.mean_var, gb.mean_var  # var / n, or the CR1 variance when clustered
    se = math.sqrt(va + vb)
    diff = gb.mean - ga.mean
    df = (va + vb) ** 2 / (va**2 / ga.mean_df + vb**2 / gb.mean_df)
    t = diff / se
    p = 2 * stats.t.sf(abs(t), df)
    h = stats.t.ppf(0.5 + level / 2, df) * se
    sp = math.sqrt(((ga.n - 1) * ga.var + (gb.n - 1) * gb.var) / (ga.n + gb.n - 2))
    g = diff / sp * (1 - 3 / (4 * (ga.n + gb.n) - 9))
    return diff, diff - h, diff + h, t, df, p, g


@dataclass(frozen=True)
class PairwiseResult(Result):
    """Pairwise (or consecutive-period) Welch t-tests with Holm-adjusted p-values."""

    variable: str
    by: str
    comparisons: tuple[Comparison, ...]
    suppressed: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "comparisons": [c.to_dict() for c in self.comparisons],
            "suppressed": list(self.suppressed),
        }

    def summary(self) -> str:
        lines = [f"{self.variable} by {self.by}: Welch t-tests, Holm-adjusted"]
        for c in self.comparisons:
            lines.append(
                f"  {c.b} vs {c.a}: diff {fmt(c.diff, 2)} [{fmt(c.ci95[0], 2)}, "
                f"{fmt(c.ci95[1], 2)}], t({fmt(c.df, 1)}) = {fmt(c.t, 2)}, p_holm "
                f"{fmt_p(c.p_holm)}, g = {fmt(c.hedges_g, 2)}"
            )
        return "\n".join(lines)


def _compare(tab: GroupTable, pairs: list[tuple[GroupStat, GroupStat]]) -> PairwiseResult:
    raw = [_welch_t(a, b) for a, b in pairs]
    adj = holm([r[5] for r in raw])
    comps = tuple(
        Comparison(a.name, b.name, r[0], (r[1], r[2]), r[3], r[4], r[5], float(pa), r[6])
        for (a, b), r, pa in zip(pairs, raw, adj, strict=True)
    )
    return PairwiseResult(
        tab.variable, tab.by, comps, tuple(g.name for g in tab.groups if g.suppressed)
    )


def pairwise_welch(values: pd.Series, groups: pd.Series, *, min_n: int = 30) -> PairwiseResult:
    """All pairwise Welch (1947) t-tests between groups, Holm (1979)-adjusted,
    with Hedges' g (Hedges 1981). Suppressed groups are left out.

    R: ``pairwise.t.test(x, g, pool.sd = FALSE, p.adjust.method = "holm")``.

    References
    ----------
    Welch, B. L. (1947). The generalization of "Student's" problem when several
    different population variances are involved. *Biometrika*, 34, 28-35.

    Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect size
    and related estimators. *Journal of Educational Statistics*, 6(2), 107-128.

    Holm, S. (1979), see :func:`holm`.
    """
    tab = group_table(values, groups, min_n=min_n)
    shown = tab.shown
    pairs = [(shown[i], shown[j]) for i in range(len(shown)) for j in range(i + 1, len(shown))]
    return _compare(tab, pairs)


def period_change(
    values: pd.Series,
    periods: pd.Series,
    *,
    min_n: int = 30,
    order: Sequence[str] | None = None,
    clusters: pd.Series | None = None,
) -> PairwiseResult:
    """Change of the mean versus the previous period (periods sorted as text, e.g.
    ``2026-Q1 < 2026-Q2``), each a Welch t-test, Holm-adjusted across the changes.

    A period compares with the closest earlier period that is not suppressed. With
    ``clusters``, a period whose rows are nested uses its CR1 variance and G - 1 degrees
    of freedom (module docstring); the periods are taken as independent samples.
    R: ``t.test(x[p == "2026-Q2"], x[p == "2026-Q1"])`` for each pair.
    """
    tab = group_table(values, periods, min_n=min_n, order=order, clusters=clusters)
    shown = tab.shown
    return _compare(tab, list(zip(shown[:-1], shown[1:], strict=True)))
