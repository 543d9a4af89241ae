"""Careless-responding screens (Curran 2016; Meade & Craig 2012).

Five indicators, each with a cut-off taken from the literature (not tuned on any
data set):

``longstring``
    The longest run of identical consecutive answers over the rating items in
    questionnaire order, on the raw (not reverse-keyed) answers, skipping missing
    ones (Johnson 2005). Flagged when the run covers more than half of the
    answered items (Curran 2016's "half the scale" rule of thumb).
``irv``
    Intra-individual response variability: the SD of a respondent's raw answers
    over the same items (Dunn et al. 2018). Flagged when it is an outlier in either
    direction: more than 3 scaled MADs from the median (Leys et al. 2013) - very
    low variability means straight-lining, very high means random answering.
``mahalanobis``
    Mahalanobis distance of the reverse-keyed dimension items from their mean,
    over the items the respondent answered; flagged when ``D^2`` exceeds the
    chi-square quantile ``1 - .001`` with as many degrees of freedom as answered
    items (Tabachnick & Fidell 2013; Meade & Craig 2012).
``attention``
    An instructed-response item (instrument ``attention_checks``) answered other
    than its ``expected`` value (Meade & Craig 2012). A missing answer is not a failure.
``speeding``
    Completion time below half the median (a relative speed index of 2 or more,
    Leiner 2019), when a duration column (``duration_s`` or ``duration``) exists.

A respondent flagged by at least ``min_flags`` (default 2) indicators is excluded.
One flag alone is common among attentive respondents; two independent flags are not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from instruments.model import Instrument

from ._result import AnalysisError, Result
from .data import CheckedData, check_items
from .moments import Moments

_CHUNK_ROWS = 65_536  # rows per block of the Mahalanobis distances
INDICATORS = ("longstring", "irv", "mahalanobis", "attention", "speeding")
DURATION_COLUMNS = ("duration_s", "duration", "duration_sec", "seconds")
SPEEDER_S_PER_ITEM = 2.0  # quality_flags: under 2 s per answered item
STRAIGHTLINE_MIN_ITEMS = 5


@dataclass(frozen=True)
class CarelessResult(Result):
    """Indicators and flags per respondent. See :func:`careless`."""

    frame: pd.DataFrame  # indicator values and flag_* columns, n_flags, excluded
    cutoffs: Mapping[str, str]
    n_flagged: Mapping[str, int]
    available: tuple[str, ...]
    min_flags: int
    n: int
    n_careless: int  # flagged by at least min_flags indicators (excluded unless kept)
    notes: tuple[str, ...] = field(default=())

    @property
    def excluded(self) -> pd.Series:
        return self.frame["excluded"]

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "n_careless": self.n_careless,
            "min_flags": self.min_flags,
            "indicators": list(self.available),
            "cutoffs": dict(self.cutoffs),
            "n_flagged": dict(self.n_flagged),
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        lines = [
            f"Careless responding: {self.n_careless} of {self.n} respondents flagged by "
            f">= {self.min_flags} indicators"
        ]
        for k in self.available:
            lines.append(f"  {k:<12} {self.n_flagged[k]:>5} flagged  ({self.cutoffs[k]})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def longstring(x: np.ndarray) -> np.ndarray:
    """Longest run of equal consecutive non-missing values in each row (Johnson 2005).

    Missing values are skipped (they neither break nor extend a run). Vectorised over
    rows: the loop runs over the k columns only.
    """
    x = np.asarray(x, dtype=float)
    n, k = x.shape
    best = np.zeros(n, dtype=int)
    cur = np.zeros(n, dtype=int)
    prev = np.full(n, np.nan)
    for j in range(k):
        v = x[:, j]
        seen = ~np.isnan(v)
        cur = np.where(seen, np.where(v == prev, cur + 1, 1), cur)
        prev = np.where(seen, v, prev)
        best = np.maximum(best, cur)
    return best


def _pattern_groups(obs: np.ndarray) -> list[np.ndarray]:
    """Row indices grouped by missing-data pattern (rows of the boolean ``obs``).

    Patterns of up to 62 columns are packed into one int64 key per row, so grouping
    is a sort of n integers rather than of n rows of k booleans.
    """
    n, k = obs.shape
    if n == 0:
        return []
    if k <= 62:
        key = obs.astype(np.int64) @ (np.int64(1) << np.arange(k, dtype=np.int64))
        _, inverse = np.unique(key, return_inverse=True)
    else:
        _, inverse = np.unique(obs, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return np.split(order, bounds)


def mahalanobis_d2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared Mahalanobis distance of each row over its observed columns.

    Mean and covariance come from the complete rows. Returns ``(d2, df)`` with df
    the number of observed values in the row.
    """
    x = np.asarray(x, dtype=float)
    return _mahalanobis_blocks(lambda s, e: x[s:e], x.shape[0], x.shape[1])


def _mahalanobis_blocks(block, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mahalanobis_d2` of the matrix whose rows ``s:e`` are ``block(s, e)``,
    a block at a time (two passes), so that the whole matrix never has to exist."""
    spans = [(s, min(s + _CHUNK_ROWS, n)) for s in range(0, n, _CHUNK_ROWS)]
    m = None
    for s, e in spans:  # pass 1: mean and covariance of the complete rows
        part = Moments.from_array(block(s, e))
        m = part if m is None else m.merge(part)
    if m is None or m.n <= k + 1:
        raise AnalysisError("too few complete rows for Mahalanobis distances")
    mu, cov = m.mean, m.cov()
    # With a well-conditioned covariance, the inverse of an observed block follows from
    # the full inverse P by the Schur complement, P_oo - P_om P_mm^-1 P_mo (a solve of
    # the size of the missing part), instead of a pseudo-inverse per pattern.
    full_inv = np.linalg.inv(cov) if np.linalg.cond(cov) < 1e8 else None
    inverses: dict[bytes, np.ndarray] = {}

    def inverse(pattern: np.ndarray) -> np.ndarray:
        key = pattern.tobytes()
        if key not in inverses:
            if pattern.all():
                inv = full_inv if full_inv is not None else np.linalg.pinv(cov)
            elif full_inv is not None:
                miss = ~pattern
                p_om = full_inv[np.ix_(pattern, miss)]
                inv = full_inv[np.ix_(pattern, pattern)] - p_om @ np.linalg.solve(
                    full_inv[np.ix_(miss, miss)], p_om.T
                )
            else:
                inv = np.linalg.pinv(cov[np.ix_(pattern, pattern)])
            inverses[key] = inv
        return inverses[key]

    d2 = np.full(n, np.nan)
    df = np.zeros(n, dtype=int)
    partial_rows, partial_x = [], []
    everything = np.ones(k, dtype=bool)
    for s, e in spans:  # pass 2: complete rows at once, the others collected
        x = block(s, e)
        obs = ~np.isnan(x)
        df[s:e] = obs.sum(axis=1)
        full = df[s:e] == k
        d = x[full] - mu
        d2[s + np.flatnonzero(full)] = np.einsum("ij,ij->i", d @ inverse(everything), d)
        partial_rows.append(s + np.flatnonzero(~full))
        partial_x.append(x[~full])
    if partial_rows:  # rows with missing answers, grouped by pattern over all blocks
        rows_all = np.concatenate(partial_rows)
        x = np.concatenate(partial_x)
        obs = ~np.isnan(x)
        for rows in _pattern_groups(obs):
            pattern = obs[rows[0]]
            if not pattern.any():
                continue
            cols = np.flatnonzero(pattern)
            d = x[np.ix_(rows, cols)] - mu[cols]
            d2[rows_all[rows]] = np.einsum("ij,ij->i", d @ inverse(pattern), d)
    return d2, df


def careless(
    df: pd.DataFrame,
    inst: Instrument,
    *,
    min_flags: int = 2,
    longstring_fraction: float = 0.5,
    irv_mads: float = 3.0,
    mahalanobis_alpha: float = 0.001,
    speed_fraction: float = 0.5,
    duration_column: str | None = None,
    checked: CheckedData | None = None,
) -> CarelessResult:
    """Screen respondents for careless responding with five indicators.

    See the module docstring for the indicators and their cut-offs. ``checked``
    (optional) is :func:`analysis.data.check_items` of ``df`` already computed by the
    caller, so that the items are not checked and converted twice.

    R: ``careless::longstring(x)``, ``careless::irv(x)``, ``careless::mahad(x)``
    (Yentes & Wilhelm 2021); speeding as ``d < median(d) / 2``.

    References
    ----------
    Curran, P. G. (2016). Methods for the detection of carelessly invalid responses
    in survey data. *Journal of Experimental Social Psychology*, 66, 4-19.
    https://doi.org/10.1016/j.jesp.2015.07.006

    Meade, A. W., & Craig, S. B. (2012). Identifying careless responses in survey
    data. *Psychological Methods*, 17(3), 437-455. https://doi.org/10.1037/a0028085

    Johnson, J. A. (2005). Ascertaining the validity of individual protocols from
    web-based personality inventories. *Journal of Research in Personality*, 39, 103-129.

    Dunn, A. M., Heggestad, E. D., Shanock, L. R., & Theilgard, N. (2018).
    Intra-individual response variability as an indicator of insufficient effort
    responding. *Journal of Business and Psychology*, 33, 105-121.

    Leys, C., Ley, C., Klein, O., Bernard, P., & Licata, L. (2013). Detecting outliers:
    do not use standard deviation around the mean, use absolute deviation around the
    median. *Journal of Experimental Social Psychology*, 49(4), 764-766.

    Leiner, D. J. (2019). Too fast, too straight, too weird: non-reactive indicators
    for meaningless data in internet surveys. *Survey Research Methods*, 13(3), 229-248.

    Tabachnick, B. G., & Fidell, L. S. (2013). *Using multivariate statistics* (6th
    ed.). Pearson.
    """
    if min_flags < 1:
        raise AnalysisError(f"min_flags must be at least 1, got {min_flags}")
    main = inst.scale
    # rating items on the main scale, in questionnaire order
    seq = [i.id for b in inst.blocks for i in b.items]
    seq += [
        i.id
        for i in inst.single_items
        if i.scale is None or (i.scale.min, i.scale.max) == (main.min, main.max)
    ]
    seq = [c for c in seq if c in df.columns]
    checks = [a for a in inst.attention_checks if a.id in df.columns]
    used = seq + [a.id for a in checks]
    if checked is None or not set(used) <= set(checked.frame.columns):
        checked = check_items(df, inst, used)
        notes: list[str] = list(checked.notes)
    else:  # the caller's check of every item: keep the notes on the items used here
        notes = [n for n in checked.notes if n.split(":", 1)[0].removeprefix("column ") in used]
    # rows a block at a time from the checked items (one float block: no copy)
    arr = checked.frame.to_numpy(dtype=float)
    pos = {c: j for j, c in enumerate(checked.frame.columns)}
    iseq = [pos[c] for c in seq]
    n = len(df)
    out = pd.DataFrame(index=df.index)
    cutoffs: dict[str, str] = {}
    flags: dict[str, np.ndarray] = {}
    answered = np.zeros(n, dtype=int)
    ls = np.zeros(n, dtype=int)
    irv = np.full(n, np.nan)
    for s in range(0, n, _CHUNK_ROWS):
        raw = arr[s : s + _CHUNK_ROWS][:, iseq]
        missing = np.isnan(raw)
        cnt = raw.shape[1] - missing.sum(axis=1)
        answered[s : s + len(raw)] = cnt
        ls[s : s + len(raw)] = longstring(raw)
        with np.errstate(all="ignore"):  # the SD over answered items, two-pass, NaN below 2
            dev = np.where(missing, 0.0, raw)
            mean = dev.sum(axis=1) / cnt
            dev -= mean[:, None]
            dev[missing] = 0.0
            irv[s : s + len(raw)] = np.where(
                cnt >= 2, np.sqrt(np.einsum("ij,ij->i", dev, dev) / (cnt - 1)), np.nan
            )

    out["longstring"] = ls
    flags["longstring"] = (answered > 0) & (ls > longstring_fraction * answered)
    cutoffs["longstring"] = (
        f"longest run of identical answers > {longstring_fraction:g} x "
        f"answered items ({len(seq)} rating items)"
    )

    out["irv"] = irv
    if np.isnan(irv).all():  # nobody answered 2 rating items: no variability to judge
        med = mad = np.nan
    else:
        med = np.nanmedian(irv)
        mad = 1.4826 * np.nanmedian(np.abs(irv - med))
    flags["irv"] = ~np.isnan(irv) & (np.abs(irv - med) > irv_mads * mad)
    cutoffs["irv"] = (
        f"|IRV - median| > {irv_mads:g} x MAD: outside "
        f"[{med - irv_mads * mad:.3f}, {med + irv_mads * mad:.3f}]"
    )

    idim = [pos[c] for c in inst.dimension_item_ids]
    flip = [
        (j, inst.scale_for(c))
        for j, c in enumerate(inst.dimension_item_ids)
        if c in inst.reversed_item_ids
    ]

    def dims(s: int, e: int) -> np.ndarray:  # reverse-keyed dimension items of rows s:e
        x = arr[s:e][:, idim]
        for j, scale in flip:
            x[:, j] = scale.reverse(x[:, j])
        return x

    d2, dfree = _mahalanobis_blocks(dims, n, len(idim))
    # the quantile once per possible df (1..k), then looked up per row
    table = stats.chi2.ppf(1 - mahalanobis_alpha, np.arange(1, max(len(idim), 1) + 1))
    crit = table[np.clip(dfree, 1, len(table)) - 1]
    out["mahalanobis_d2"] = d2
    flags["mahalanobis"] = ~np.isnan(d2) & (d2 > crit)
    cutoffs["mahalanobis"] = (
        f"D^2 > chi-square quantile {1 - mahalanobis_alpha:g} (df = answered dimension items)"
    )

    available = ["longstring", "irv", "mahalanobis"]
    if checks:
        fail = np.zeros(len(df), dtype=bool)
        for a in checks:
            v = checked.frame[a.id].to_numpy()
            fail |= ~np.isnan(v) & (v != a.expected)
        out["attention_fail"] = fail
        flags["attention"] = fail
        cutoffs["attention"] = "answer differs from the instructed one: " + ", ".join(
            f"{a.id} = {a.expected}" for a in checks
        )
        available.append("attention")
    else:
        notes.append("no attention-check item in the data: attention indicator not used")

    dcol = duration_column or next((c for c in DURATION_COLUMNS if c in df.columns), None)
    if dcol is not None and dcol in df.columns:
        dur = pd.to_numeric(df[dcol], errors="coerce").to_numpy(dtype=float)
        med_d = float(np.nanmedian(dur)) if np.isfinite(dur).any() else float("nan")
        out["duration"] = dur
        flags["speeding"] = ~np.isnan(dur) & (dur < speed_fraction * med_d)
        cutoffs["speeding"] = (
            f"{dcol} < {speed_fraction:g} x median ({med_d:g}): < {speed_fraction * med_d:g}"
        )
        available.append("speeding")
    else:
        notes.append("no duration column: speeding indicator not used")

    for k in available:
        out[f"flag_{k}"] = flags[k]
    n_flags = np.sum([flags[k] for k in available], axis=0)
    out["n_flags"] = n_flags
    out["excluded"] = n_flags >= min_flags
    return CarelessResult(
        frame=out,
        cutoffs=cutoffs,
        n_flagged={k: int(flags[k].sum()) for k in available},
        available=tuple(available),
        min_flags=min_flags,
        n=len(df),
        n_careless=int(out["excluded"].sum()),
        notes=tuple(notes),
    )


def quality_flags(
    scale_values: np.ndarray,
    attention_values: np.ndarray,
    expected: Sequence[int],
    duration_s: np.ndarray,
    n_answered: np.ndarray,
) -> dict[str, np.ndarray]:
    """Careless-responding indicators for many respondents at once (one row each).

    Parameters
    ----------
    scale_values : (n, k) float array, NaN = missing
        Answers to the main-scale items in the order shown.
    attention_values : (n, a) float array
        Answers to the attention checks, whose instructed answers are ``expected``.
    duration_s : (n,) float array
    n_answered : (n,) int array
        Number of items answered in all (any scale).

    Returns
    -------
    dict with ``longstring`` (longest run of identical consecutive answers, missing
    answers skipped; Johnson 2005), ``irv`` (intra-individual response variability:
    the SD, ddof=1, of the answers; Dunn, Heggestad, Shanock & Theilgard 2018; NaN
    with fewer than 2 answers), ``attention_passed`` (1.0 all answered checks
    correct, 0.0 one wrong, NaN when no check was answered or there are none) and
    ``flags``, a list of names per row: ``straightline`` (IRV 0 over at least 5
    answers), ``longstring`` (a run longer than half of the answered items, Curran
    2016), ``attention_failed`` and ``speeder`` (under 2 s per answered item; Huang,
    Curran, Keeney, Poposki & DeShon 2012). Meade & Craig (2012) review these
    indices. The survey records them once per response, at completion;
    :func:`careless` screens a whole data set, with relative cut-offs (e.g. speeding against the
    median time).
    """
    x = np.asarray(scale_values, dtype=float)
    n, k = x.shape
    ok = ~np.isnan(x)
    run = np.zeros(n)
    best = np.zeros(n)
    last = np.full(n, np.nan)
    for j in range(k):
        col, has = x[:, j], ok[:, j]
        run = np.where(has, np.where(col == last, run + 1, 1), run)
        last = np.where(has, col, last)
        best = np.maximum(best, run)
    cnt = ok.sum(axis=1)
    xs = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = xs.sum(axis=1) / cnt
        ss = (np.where(ok, x - mean[:, None], 0.0) ** 2).sum(axis=1)
        irv = np.where(cnt >= 2, np.sqrt(ss / (cnt - 1)), np.nan)
    a = np.asarray(attention_values, dtype=float).reshape(n, -1)
    answered_checks = ~np.isnan(a)
    wrong = (answered_checks & (a != np.asarray(expected, dtype=float)[None, :])).any(axis=1)
    att = np.where(answered_checks.any(axis=1), np.where(wrong, 0.0, 1.0), np.nan)
    dur = np.asarray(duration_s, dtype=float)
    answered = np.asarray(n_answered, dtype=float)
    straight = (cnt >= STRAIGHTLINE_MIN_ITEMS) & (irv == 0)
    longrun = (cnt >= STRAIGHTLINE_MIN_ITEMS) & (best > cnt / 2)
    speeder = dur < SPEEDER_S_PER_ITEM * answered
    flags = [
        [
            name
            for name, on in (
                ("straightline", s),
                ("longstring", lr),
                ("attention_failed", af),
                ("speeder", sp),
            )
            if on
        ]
        for s, lr, af, sp in zip(
            straight.tolist(), longrun.tolist(), (att == 0).tolist(), speeder.tolist(), strict=True
        )
    ]
    return {"longstring": best.astype(int), "irv": irv, "attention_passed": att, "flags": flags}
