"""Scores: dimension scores, the Trust Index, the share of trusting customers and NPS.

* A dimension score is the mean of the answered (reverse-keyed) items of the
  dimension when at least ``min_items`` are answered (default ``ceil(0.75 k)``:
  3 of 4), otherwise missing.
* The Trust Index is the mean of the dimension scores (a respondent needs every
  dimension score), mapped to 0-100 as ``(score - min) / (max - min) * 100``.
* "% trusting" is the share of respondents whose mean dimension score (the Trust
  Index on the response scale) is at or above the top-2-box threshold ``max - 1``
  (6 on a 1..7 scale): they agree, on average, with the trust statements. When the
  instrument has a ``TRUST_OVERALL`` single item its own top-2-box share is given too.
* NPS is % promoters (9-10) minus % detractors (0-6) on a 0..10 item.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from instruments.model import Instrument

from ._result import AnalysisError, Result, fmt
from .compare import GroupStat, mean_ci
from .data import check_items, checked_matrix, default_min_items
from .moments import Moments


def resolve_min_items(min_items: int | float | None, k: int) -> int:
    """``None`` -> ``ceil(0.75 k)``; a fraction in (0, 1) -> ``ceil(f k)``; an integer -> itself."""
    if min_items is None:
        return default_min_items(k)
    if isinstance(min_items, float) and 0 < min_items < 1:
        return max(1, math.ceil(min_items * k))
    if float(min_items) != int(min_items) or int(min_items) < 1:
        raise AnalysisError(
            f"min_items must be a positive integer or a fraction in (0, 1), got {min_items!r}"
        )
    return min(int(min_items), k)


@dataclass(frozen=True)
class ScoresResult(Result):
    """Per-respondent scores (``frame``) and their summary. See :func:`score`."""

    frame: pd.DataFrame  # one column per dimension, plus index_raw and trust_index
    min_items: Mapping[str, int]
    scale: tuple[int, int]
    dimensions: Mapping[str, GroupStat]
    trust_index: GroupStat
    index_name: str | None = None  # the instrument's name for the index (None: not named)

    def to_dict(self) -> dict:
        return {
            "min_items": dict(self.min_items),
            "scale": list(self.scale),
            "dimensions": {d: g.to_dict() for d, g in self.dimensions.items()},
            "trust_index": self.trust_index.to_dict(),
        }

    def summary(self) -> str:
        lines = [
            f"Scores (scale {self.scale[0]}..{self.scale[1]}; dimension score = mean of "
            "answered items when enough are answered)"
        ]
        for d, g in self.dimensions.items():
            lines.append(
                f"  {d:<10} n = {g.n:>6}  mean {fmt(g.mean, 2)}  95% CI "
                f"[{fmt(g.ci95[0], 2)}, {fmt(g.ci95[1], 2)}]  "
                f"(>= {self.min_items[d]} items)"
            )
        t = self.trust_index
        name = self.index_name or "Overall index"
        lines.append(
            f"  {name} (0-100) n = {t.n}  mean {fmt(t.mean, 1)}  95% CI "
            f"[{fmt(t.ci95[0], 1)}, {fmt(t.ci95[1], 1)}]"
        )
        return "\n".join(lines)


def _stat(s: pd.Series, name: str) -> GroupStat:
    v = s.dropna().to_numpy(dtype=float)
    return mean_ci(Moments.from_array(v[:, None], ["value"]), name)


def score(
    df: pd.DataFrame, inst: Instrument, *, min_items: int | float | None = None
) -> ScoresResult:
    """Dimension scores and the Trust Index of every respondent.

    R (1..7 scale, 4 items per dimension)::

        s <- rowMeans(x[, items], na.rm = TRUE); s[rowSums(!is.na(x[, items])) < 3] <- NA
        ti <- (rowMeans(scores) - 1) / 6 * 100

    References
    ----------
    Newman, D. A. (2014). Missing data: five practical guidelines. *Organizational
    Research Methods*, 17(4), 372-411 (person-mean imputation within a scale when
    most items are answered, the rule used here).
    """
    ids = list(inst.dimension_item_ids)
    check_items(df.iloc[:0], inst, ids)  # every dimension item present (else the error)
    # per dimension the mean of the answered, reverse-keyed items (pandas' skipna row
    # mean) where enough are answered
    dims = [b.id for b in inst.dimensions]
    scores = np.empty((len(df), len(dims) + 2))
    mins = {}
    total = np.empty(len(df))
    count = np.empty(len(df), dtype=np.int64)
    for d, b in enumerate(inst.dimensions):  # an item at a time: small temporaries
        total[:] = 0.0
        count[:] = 0
        for iid in b.item_ids:
            v = checked_matrix(df, inst, [iid])[:, 0]  # a new array: changed in place
            if iid in inst.reversed_item_ids:
                v[:] = inst.scale_for(iid).reverse(v)
            ok = ~np.isnan(v)
            v[~ok] = 0.0
            total += v
            count += ok
        mins[b.id] = resolve_min_items(min_items, len(b.item_ids))
        with np.errstate(invalid="ignore", divide="ignore"):
            scores[:, d] = np.where(count >= mins[b.id], total / count, np.nan)
    del total, count
    lo, hi = inst.scale.min, inst.scale.max
    scores[:, -2] = scores[:, : len(dims)].mean(axis=1)  # NaN if any dimension is missing
    scores[:, -1] = (scores[:, -2] - lo) / (hi - lo) * 100
    frame = pd.DataFrame(
        scores, index=df.index, columns=[*dims, "index_raw", "trust_index"], copy=False
    )
    dims = {b.id: _stat(frame[b.id], b.id) for b in inst.dimensions}
    if frame["trust_index"].notna().sum() < 2:
        raise AnalysisError(
            "fewer than 2 respondents have a score on every dimension; "
            f"the {inst.index_label() or 'overall index'} cannot be estimated"
        )
    return ScoresResult(
        frame=frame,
        min_items=mins,
        scale=(lo, hi),
        dimensions=dims,
        trust_index=_stat(frame["trust_index"], "trust_index"),
        index_name=inst.index_label(),
    )


@dataclass(frozen=True)
class ProportionResult(Result):
    """A share with its Wilson score interval. See :func:`proportion`."""

    name: str
    definition: str
    n: int
    count: int
    pct: float
    ci95: tuple[float, float]

    def summary(self) -> str:
        return (
            f"{self.name}: {fmt(self.pct, 1)}% [{fmt(self.ci95[0], 1)}, "
            f"{fmt(self.ci95[1], 1)}] (n = {self.n}; {self.definition})"
        )


def proportion(
    hits: pd.Series, *, name: str, definition: str, level: float = 0.95
) -> ProportionResult:
    """Percentage of ``True`` among the non-missing values with the Wilson (1927) interval.

    R: ``prop.test(x, n, correct = FALSE)$conf.int``.

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. *JASA*, 22(158), 209-212. https://doi.org/10.1080/01621459.1927.10502953
    """
    h = hits.dropna().astype(bool)
    n = int(h.size)
    if n == 0:
        raise AnalysisError(f"{name}: no answers")
    x = int(h.sum())
    p = x / n
    z = stats.norm.ppf(0.5 + level / 2)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return ProportionResult(
        name, definition, n, x, 100 * p, (100 * (centre - half), 100 * (centre + half))
    )


def pct_trusting(scores: ScoresResult) -> ProportionResult:
    """Share with a mean dimension score at or above the top-2-box threshold ``max - 1``."""
    lo, hi = scores.scale
    thr = hi - 1
    raw = scores.frame["index_raw"]
    return proportion(
        raw.where(raw.isna(), raw >= thr),
        name="% trusting",
        definition=f"mean dimension score >= {thr} on {lo}..{hi}, the top-2-box threshold",
    )


@dataclass(frozen=True)
class NPSResult(Result):
    """Net Promoter Score with its confidence interval. See :func:`nps`."""

    n: int
    promoters_pct: float
    passives_pct: float
    detractors_pct: float
    nps: float
    ci95: tuple[float, float]

    def summary(self) -> str:
        return (
            f"NPS {fmt(self.nps, 1)} [{fmt(self.ci95[0], 1)}, {fmt(self.ci95[1], 1)}] "
            f"(n = {self.n}; promoters {fmt(self.promoters_pct, 1)}%, detractors "
            f"{fmt(self.detractors_pct, 1)}%)"
        )


def nps(values: pd.Series, *, level: float = 0.95) -> NPSResult:
    """Net Promoter Score (Reichheld 2003): % answering 9-10 minus % answering 0-6.

    The interval is the Wald interval with the multinomial variance of a difference
    of two shares of one sample, ``var = [p_pro + p_det - (p_pro - p_det)^2] / n``
    (Rocks 2016), times 100.

    R: ``p <- mean(x >= 9); d <- mean(x <= 6); (p - d) + c(-1, 1) * qnorm(.975) *
    sqrt((p + d - (p - d)^2) / length(x))``.

    References
    ----------
    Reichheld, F. F. (2003). The one number you need to grow. *Harvard Business
    Review*, 81(12), 46-54.

    Rocks, B. (2016). Interval estimation for the "net promoter score". *The American
    Statistician*, 70(4), 365-372. https://doi.org/10.1080/00031305.2016.1158124

    Examples
    --------
    >>> import pandas as pd
    >>> nps(pd.Series([10, 9, 8, 7, 6, 3, 10, 9])).nps   # 4 promoters, 2 detractors of 8
    25.0
    """
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    n = v.size
    if n < 2:
        raise AnalysisError("NPS: fewer than 2 answers")
    if v.min() < 0 or v.max() > 10:
        raise AnalysisError("NPS needs answers on 0..10")
    pro, det = float(np.mean(v >= 9)), float(np.mean(v <= 6))
    score_ = pro - det
    se = math.sqrt(max(pro + det - score_**2, 0.0) / n)
    z = stats.norm.ppf(0.5 + level / 2)
    return NPSResult(
        n,
        100 * pro,
        100 * (1 - pro - det),
        100 * det,
        100 * score_,
        (100 * (score_ - z * se), 100 * (score_ + z * se)),
    )


def nps_item(inst: Instrument) -> str | None:
    """The id of the instrument's 0..10 NPS single item, if any."""
    for it in inst.single_items:
        if it.scale is not None and (it.scale.min, it.scale.max) == (0, 10):
            if it.id.upper() == "NPS" or "nps" in it.id.lower():
                return it.id
    for it in inst.single_items:
        if it.scale is not None and (it.scale.min, it.scale.max) == (0, 10):
            return it.id
    return None
