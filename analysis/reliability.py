"""Internal consistency of a scale: Cronbach's alpha, McDonald's omega, item statistics.

Everything is computed from a :class:`~analysis.moments.Moments` (n, means and
centred cross-products of the rows complete for that scale), so the same code
serves a DataFrame, a SQL aggregate or merged chunks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from instruments.model import Instrument

from ._fa import check_corr, fit, fit_factors
from ._result import AnalysisError, Result, fmt
from .data import checked_matrix
from .moments import Moments


@dataclass(frozen=True)
class ItemReliability(Result):
    """Statistics of one item within its scale."""

    id: str
    r_drop: float  # corrected item-total correlation (psych ``r.drop``)
    alpha_if_deleted: float  # raw alpha of the scale without this item (NaN if < 2 remain)
    mean: float
    sd: float


@dataclass(frozen=True)
class ReliabilityResult(Result):
    """Reliability of one scale. See :func:`reliability`."""

    name: str
    n: int
    k: int
    alpha: float
    alpha_ci95: tuple[float, float]
    ci_method: str
    std_alpha: float
    omega_total: float
    average_r: float
    items: tuple[ItemReliability, ...]
    omega_loadings: Mapping[str, float] = field(default_factory=dict)
    # ordinal reliability from the polychoric matrix (NaN when not computed; see reliability())
    alpha_ordinal: float = float("nan")
    omega_ordinal: float = float("nan")
    ordinal_note: str = ""
    omega_warnings: tuple[str, ...] = ()  # of omega's one-factor fit (Heywood, convergence)

    def summary(self) -> str:
        lo, hi = self.alpha_ci95
        lines = [
            f"Reliability of {self.name} ({self.k} items, n = {self.n} complete rows)",
            f"  Cronbach's alpha  {fmt(self.alpha)}  95% CI [{fmt(lo)}, {fmt(hi)}] "
            f"({self.ci_method})",
            f"  standardized alpha {fmt(self.std_alpha)}   omega total {fmt(self.omega_total)}"
            f"   average r {fmt(self.average_r)}",
        ]
        if np.isfinite(self.alpha_ordinal):
            lines.append(
                f"  ordinal alpha {fmt(self.alpha_ordinal)}   ordinal omega "
                f"{fmt(self.omega_ordinal)} (polychoric)"
            )
        elif self.ordinal_note:
            lines.append(f"  ordinal alpha/omega not computed: {self.ordinal_note}")
        lines += [f"  omega: {w}" for w in self.omega_warnings]
        lines.append("  item      r.drop  alpha if deleted")
        lines += [
            f"  {it.id:<9} {fmt(it.r_drop):>6}  {fmt(it.alpha_if_deleted):>6}" for it in self.items
        ]
        return "\n".join(lines)


def _alpha_from_cov(c: np.ndarray) -> float:
    k = c.shape[0]
    if k < 2:
        return float("nan")
    return float(k / (k - 1) * (1.0 - np.trace(c) / c.sum()))


def feldt_ci(alpha: float, n: int, k: int, level: float = 0.95) -> tuple[float, float]:
    """Feldt, Woodruff & Salih (1987) confidence interval for Cronbach's alpha.

    ``(1 - alpha) / (1 - A)`` follows an F distribution with ``n - 1`` and
    ``(n - 1)(k - 1)`` degrees of freedom, so the interval is
    ``1 - (1 - alpha) F_{1-a/2}`` to ``1 - (1 - alpha) F_{a/2}``.

    R: ``psych::alpha.ci(alpha, n.obs = n, n.var = k)``.

    References
    ----------
    Feldt, L. S., Woodruff, D. J., & Salih, F. A. (1987). Statistical inference for
    coefficient alpha. *Applied Psychological Measurement*, 11(1), 93-103.
    https://doi.org/10.1177/014662168701100107
    """
    a = 1.0 - level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lo = 1.0 - (1.0 - alpha) * stats.f.ppf(1.0 - a / 2, df1, df2)
    hi = 1.0 - (1.0 - alpha) * stats.f.ppf(a / 2, df1, df2)
    return float(lo), float(hi)


def _omega_total(m: Moments) -> tuple[float, np.ndarray, tuple[str, ...]]:
    """McDonald's omega total from a one-factor maximum-likelihood model.

    ``omega = (sum lambda)^2 / ((sum lambda)^2 + sum u)`` with standardized
    loadings ``lambda`` and uniquenesses ``u`` (McDonald 1999, ch. 6).

    R: ``f <- psych::fa(x, nfactors = 1, fm = "ml"); sum(f$loadings)^2 /
    (sum(f$loadings)^2 + sum(f$uniquenesses))``.

    Returns ``(omega, loadings, warnings)``: the one-factor fit's warnings (a Heywood
    case, non-convergence), which make omega doubtful.

    References
    ----------
    McDonald, R. P. (1999). *Test theory: A unified treatment*. Mahwah, NJ: Erlbaum.
    """
    f = fit(m.corr(), 1, "ml", columns=list(m.columns))
    lam = f.loadings[:, 0]
    if lam.sum() < 0:
        lam = -lam
    s = lam.sum()
    return float(s**2 / (s**2 + f.uniquenesses.sum())), lam, f.warnings


def ordinal_alpha_omega(frame: pd.DataFrame) -> tuple[float, float]:
    """Ordinal alpha and ordinal omega of a scale from its polychoric correlation matrix.

    * ordinal alpha (Zumbo, Gadermann & Zeisser 2007): Cronbach's alpha of the
      polychoric matrix, ``k/(k-1) (1 - k / sum R)``;
      R: ``psych::alpha(psych::polychoric(x)$rho)$total$raw_alpha``.
    * ordinal omega: McDonald's omega total of a one-factor ML factor analysis of the
      polychoric matrix, ``(sum λ)² / ((sum λ)² + sum u)``, the same definition as
      :func:`reliability`'s Pearson ``omega_total`` (Gadermann, Guhn & Zumbo 2012);
      R: ``f <- psych::fa(rho, 1, fm = "ml")`` then that formula. NaN for fewer than 3 items.

    The polychoric matrix is :func:`analysis.ordinal.polychoric` (lavaan's two-step ML;
    psych's differs by about 1e-4 per correlation when every item shows the same number
    of categories; otherwise psych estimates thresholds per pair and adds 0.5 to empty
    cells, and the two can differ more). ``frame`` holds the scale's complete rows.
    Raises :class:`AnalysisError` for items that are not ordinal (constant, or more than
    20 distinct values).

    References
    ----------
    Gadermann, A. M., Guhn, M., & Zumbo, B. D. (2012). Estimating ordinal reliability for
    Likert-type and ordinal item response data. *Practical Assessment, Research &
    Evaluation, 17*(3), 1-13.

    Zumbo, B. D., Gadermann, A. M., & Zeisser, C. (2007). Ordinal versions of coefficients
    alpha and theta for Likert rating scales. *Journal of Modern Applied Statistical
    Methods, 6*(1), 21-29.
    """
    from .ordinal import polychoric

    r = polychoric(frame).matrix
    k = r.shape[0]
    alpha = _alpha_from_cov(r)
    if k < 3:
        return alpha, float("nan")
    try:
        check_corr(r, list(frame.columns), what="polychoric correlation matrix")
    except AnalysisError:
        return alpha, float("nan")
    lam, u, _ = fit_factors(r, 1, "ml")
    lam = lam[:, 0]
    if lam.sum() < 0:
        lam = -lam
    s = lam.sum()
    return alpha, float(s**2 / (s**2 + u.sum()))


def reliability(
    data: pd.DataFrame | Moments,
    *,
    name: str | None = None,
    ci_method: str = "feldt",
    n_boot: int = 2000,
    seed: int | None = 0,
    level: float = 0.95,
    min_n: int = 10,
    ordinal: bool | None = None,
) -> ReliabilityResult:
    """Reliability of one scale: alpha (raw and standardized) with CI, omega, item statistics.

    Parameters
    ----------
    data : DataFrame or Moments
        The scale's items, already reverse-keyed. A DataFrame is reduced to the rows
        complete on all its columns (listwise, as ``psych::alpha(na.omit(x))``).
    name : label for the scale.
    ci_method : ``"feldt"`` (Feldt et al. 1987, default) or ``"bootstrap"``
        (percentile interval over ``n_boot`` row resamples with ``seed``; needs a
        DataFrame).
    level : confidence level.
    min_n : fewest complete rows accepted.
    ordinal : also compute ordinal alpha and omega from the polychoric matrix
        (:func:`ordinal_alpha_omega`). ``None`` (default): when the data is a DataFrame
        whose items have at most 20 distinct values each, otherwise left NaN with the
        reason in ``ordinal_note``; ``True``: required (raises if impossible);
        ``False``: not computed.

    Returns
    -------
    ReliabilityResult

    Notes
    -----
    With item covariance matrix ``C`` of ``k`` items, Cronbach's (1951) alpha is
    ``k/(k-1) (1 - tr C / sum C)``; standardized alpha is ``k rbar / (1 + (k-1) rbar)``
    with ``rbar`` the average inter-item correlation. ``r_drop`` is the correlation
    of an item with the sum of the other items; ``alpha_if_deleted`` the raw alpha
    of the other items.

    R: ``psych::alpha(na.omit(x), check.keys = FALSE)``
    (``$total$raw_alpha``, ``std.alpha``, ``average_r``, ``$item.stats$r.drop``,
    ``$alpha.drop$raw_alpha``) and ``psych::alpha.ci``; omega from
    ``psych::fa(x, nfactors = 1, fm = "ml")``.

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
    *Psychometrika*, 16(3), 297-334. https://doi.org/10.1007/BF02310555

    Feldt, L. S., Woodruff, D. J., & Salih, F. A. (1987). Statistical inference for
    coefficient alpha. *Applied Psychological Measurement*, 11(1), 93-103.

    McDonald, R. P. (1999). *Test theory: A unified treatment*. Erlbaum.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> f = rng.normal(size=500)
    >>> x = pd.DataFrame({f"i{j}": f + rng.normal(size=500) for j in range(4)})
    >>> r = reliability(x, name="demo")
    >>> round(r.alpha, 2), r.n
    (0.77, 500)
    """
    frame = None
    if isinstance(data, Moments):
        m = data
    elif isinstance(data, pd.DataFrame):
        frame = data
        if not all(pd.api.types.is_float_dtype(t) for t in frame.dtypes):
            frame = frame.apply(pd.to_numeric, errors="coerce").astype(float)
        complete = frame.notna().all(axis=1).to_numpy()
        if not complete.all():
            frame = frame.loc[complete]
        m = Moments.from_frame(frame)
    else:
        raise TypeError(f"expected a DataFrame or Moments, got {type(data).__name__}")
    name = name or "scale"
    k = len(m.columns)
    if k < 2:
        raise AnalysisError(f"{name}: reliability needs at least 2 items, got {k}")
    if m.n < max(min_n, k + 1):
        raise AnalysisError(
            f"{name}: too few complete rows for reliability ({m.n}; need at "
            f"least {max(min_n, k + 1)})"
        )
    c = m.cov()
    sd = np.sqrt(np.diag(c))
    if np.any(sd == 0):
        const = [col for col, s in zip(m.columns, sd, strict=True) if s == 0]
        raise AnalysisError(
            f"{name}: item(s) {', '.join(const)} are constant (every complete "
            "row gives the same answer); reliability is undefined"
        )
    r = c / np.outer(sd, sd)
    check_corr(r, m.columns, what=f"{name} correlation matrix")
    alpha = _alpha_from_cov(c)
    off = r[~np.eye(k, dtype=bool)]
    average_r = float(off.mean())
    std_alpha = float(k * average_r / (1 + (k - 1) * average_r))
    total_var = c.sum()
    items = []
    for i, col in enumerate(m.columns):
        keep = [j for j in range(k) if j != i]
        rest_var = total_var - 2 * c[i].sum() + c[i, i]
        r_drop = (c[i].sum() - c[i, i]) / np.sqrt(c[i, i] * rest_var) if rest_var > 0 else np.nan
        items.append(
            ItemReliability(
                col,
                float(r_drop),
                _alpha_from_cov(c[np.ix_(keep, keep)]),
                float(m.mean[i]),
                float(sd[i]),
            )
        )
    if k >= 3:
        omega, lam, omega_warnings = _omega_total(m)
    else:  # a one-factor model with 2 indicators is not identified
        omega, lam, omega_warnings = float("nan"), np.full(k, np.nan), ()
    if ci_method == "feldt":
        ci = feldt_ci(alpha, m.n, k, level)
        method = "Feldt"
    elif ci_method == "bootstrap":
        if frame is None:
            raise AnalysisError(
                "a bootstrap CI needs the raw rows, not Moments; use ci_method='feldt'"
            )
        ci = _bootstrap_alpha(frame.to_numpy(), n_boot, seed, level)
        method = f"percentile bootstrap, {n_boot} resamples, seed {seed}"
    else:
        raise AnalysisError(f"unknown ci_method {ci_method!r} (use 'feldt' or 'bootstrap')")
    a_ord, o_ord, note = float("nan"), float("nan"), ""
    if ordinal or ordinal is None:
        if frame is None:
            if ordinal:
                raise AnalysisError(
                    f"{name}: ordinal alpha/omega need the raw answers, not Moments"
                )
            note = "only the moments were given"
        else:
            try:
                a_ord, o_ord = ordinal_alpha_omega(frame)
            except AnalysisError as e:
                if ordinal:
                    raise
                note = str(e)
    return ReliabilityResult(
        name=name,
        n=m.n,
        k=k,
        alpha=alpha,
        alpha_ci95=ci,
        ci_method=method,
        std_alpha=std_alpha,
        omega_total=omega,
        average_r=average_r,
        items=tuple(items),
        omega_loadings=dict(zip(m.columns, map(float, lam), strict=True)),
        alpha_ordinal=a_ord,
        omega_ordinal=o_ord,
        ordinal_note=note,
        omega_warnings=tuple(omega_warnings),
    )


def _bootstrap_alpha(
    x: np.ndarray, n_boot: int, seed: int | None, level: float
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n, k = x.shape
    out = np.empty(n_boot)
    for b in range(n_boot):
        s = x[rng.integers(0, n, n)]
        with np.errstate(all="ignore"):
            out[b] = _alpha_from_cov(np.cov(s, rowvar=False))
    a = (1 - level) / 2
    return float(np.nanquantile(out, a)), float(np.nanquantile(out, 1 - a))


@dataclass(frozen=True)
class DimensionReliability(Result):
    """Reliability of every dimension of an instrument, ``{dimension id: ReliabilityResult}``."""

    dimensions: Mapping[str, ReliabilityResult]

    def to_dict(self) -> dict:
        return {d: r.to_dict() for d, r in self.dimensions.items()}

    def summary(self) -> str:
        return "\n\n".join(r.summary() for r in self.dimensions.values())


def reliability_by_dimension(
    df: pd.DataFrame, inst: Instrument, dimensions: Sequence[str] | None = None, **kwargs
) -> DimensionReliability:
    """:func:`reliability` of each instrument dimension on the rows complete for it.

    Reverse-keyed items are recoded as ``min + max - x`` from the instrument.
    R: for each dimension ``psych::alpha(na.omit(x[, items]))``.
    """
    dims = list(dimensions) if dimensions is not None else [b.id for b in inst.dimensions]
    out = {}
    for d in dims:
        try:
            block = inst.block(d)
        except KeyError as e:
            raise AnalysisError(str(e.args[0])) from None
        x = checked_matrix(df, inst, block.item_ids)  # a new matrix: reverse-keyed in place
        for j, iid in enumerate(block.item_ids):
            if iid in inst.reversed_item_ids:
                x[:, j] = inst.scale_for(iid).reverse(x[:, j])
        complete = ~np.isnan(x).any(axis=1)
        if not complete.all():  # keep the complete rows, moved up in place (no copy)
            m = int(complete.sum())
            for j in range(x.shape[1]):
                x[:m, j] = x[complete, j]
            x = x[:m]
        out[d] = reliability(
            pd.DataFrame(x, columns=list(block.item_ids), copy=False), name=d, **kwargs
        )
    return DimensionReliability(out)
