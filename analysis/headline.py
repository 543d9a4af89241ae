"""The headline index of a data set: one number, one definition, for every screen.

The dashboard, the campaign page, ``trustmeter campaign list``, the API and the
periodic report all show the same headline: the index (by default the Trust Index) of
the **latest period**, with the respondents flagged as careless **excluded**, its n and
95% CI, suppressed when fewer than ``min_n`` respondents have a score. Careless
responding is screened within each period (at least 2 indicators of
:func:`analysis.careless.careless`), as the periodic report does, and
:func:`careless_exclusions` is also what exports write as ``excluded_careless``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from instruments.model import Instrument

from ._result import AnalysisError, Result, fmt
from .careless import careless
from .compare import _natural_order, group_table
from .scores import score


@dataclass(frozen=True)
class Headline(Result):
    """The headline figure (see the module docstring). ``mean``/``ci95`` are ``None``
    when suppressed or when there is nothing to report (``note`` says why)."""

    period: str | None
    n: int | None
    mean: float | None
    ci95: tuple[float, float] | None
    suppressed: bool
    min_n: int
    completed: int  # complete responses in the period
    excluded_careless: int  # of those, excluded as careless
    note: str | None = None

    def summary(self) -> str:
        if self.period is None:
            return f"headline: none ({self.note})"
        if self.suppressed or self.mean is None:
            return (
                f"headline {self.period}: suppressed (fewer than {self.min_n} "
                f"respondents; {self.completed} complete)"
            )
        return (
            f"headline {self.period}: {fmt(self.mean, 1)} "
            f"[{fmt(self.ci95[0], 1)}, {fmt(self.ci95[1], 1)}], n = {self.n} "
            f"({self.excluded_careless} of {self.completed} excluded as careless)"
        )


def _complete(frame: pd.DataFrame) -> np.ndarray:
    if "status" in frame.columns:
        return (frame["status"] == "complete").to_numpy(dtype=bool)
    return np.ones(len(frame), dtype=bool)


def careless_exclusions(
    frame: pd.DataFrame, inst: Instrument, *, period_column: str = "period"
) -> np.ndarray:
    """Which rows are excluded as careless: complete responses flagged by at least 2
    indicators, screened within their period (all rows together when there is no
    period column). Incomplete rows are never flagged. Where a period cannot be screened
    (too few rows, no items) nobody in it is excluded."""
    out = np.zeros(len(frame), dtype=bool)
    done = _complete(frame)
    if period_column in frame.columns:
        per = frame[period_column].astype("object").where(frame[period_column].notna(), None)
        keys = per.astype(str).to_numpy()
        has = per.notna().to_numpy()
        groups = [np.flatnonzero(done & has & (keys == p)) for p in pd.unique(keys[done & has])]
    else:
        groups = [np.flatnonzero(done)]
    for rows in groups:
        if len(rows) == 0:
            continue
        try:
            out[rows] = careless(frame.iloc[rows], inst).excluded.to_numpy(dtype=bool)
        except (AnalysisError, ValueError, np.linalg.LinAlgError):
            pass
    return out


def headline(
    frame: pd.DataFrame,
    inst: Instrument,
    *,
    period_column: str = "period",
    min_n: int = 30,
    keep_careless: bool = False,
    respondent_column: str | None = "respondent",
) -> Headline:
    """The headline index of ``frame``'s latest period (see the module docstring).

    ``respondent_column`` (used when the frame has it): ratings nested in respondents
    (brand studies) get the CR1 cluster-robust interval (:mod:`analysis.compare`)."""
    done = _complete(frame)
    if period_column in frame.columns:
        per = frame[period_column].astype("object").where(frame[period_column].notna(), None)
    else:
        per = pd.Series(["all"] * len(frame), index=frame.index, dtype="object")
    ok = done & per.notna().to_numpy()
    periods = _natural_order(per[ok].astype(str).unique())
    if not periods:
        return Headline(
            None, None, None, None, False, min_n, 0, 0, note="no complete responses yet"
        )
    latest = periods[-1]
    in_latest = ok & (per.astype(str).to_numpy() == latest)
    excluded = (
        np.zeros(len(frame), dtype=bool)
        if keep_careless
        else careless_exclusions(frame, inst, period_column=period_column)
    )
    rows = frame.loc[in_latest & ~excluded]
    n_excluded = int((in_latest & excluded).sum())
    try:
        ti = score(rows, inst).frame["trust_index"] if len(rows) else pd.Series(dtype=float)
    except AnalysisError as e:
        return Headline(
            latest, None, None, None, False, min_n, int(in_latest.sum()), n_excluded, note=str(e)
        )
    people = (
        rows[respondent_column]
        if respondent_column is not None and respondent_column in rows.columns
        else None
    )
    g = group_table(
        ti,
        pd.Series([latest] * len(ti), index=ti.index, name=period_column),
        min_n=min_n,
        order=[latest],
        variable="trust_index",
        clusters=people,
    ).groups[0]
    if g.suppressed:
        return Headline(
            latest,
            None,
            None,
            None,
            True,
            min_n,
            int(in_latest.sum()),
            n_excluded,
            note=f"suppressed: fewer than {min_n} respondents",
        )
    return Headline(
        latest, g.n, g.mean, tuple(g.ci95), False, min_n, int(in_latest.sum()), n_excluded
    )
