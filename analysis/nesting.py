"""Ratings nested in respondents: one rating per respondent for tests that need
independent rows.

In a brand study one person may rate several brands, each rating one row with a shared
respondent key. Brand *differences* can use every rating with cluster-robust standard
errors (:mod:`analysis.benchmark`, CR1). Tests that assume independent rows or
independent groups -- a multigroup CFA (measurement invariance across brands),
reliability with its interval, Welch's ANOVA across brands -- instead use **one rating
per respondent**: the first in the person's recorded random brand order (position 1),
or, without positions, the first row of the person in the data's order (a random brand
too when the order was random). Rows without a key count as one respondent each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._result import AnalysisError

RULE = (
    "one rating per respondent: the first in the respondent's random brand order "
    "(brand_position 1), else the respondent's first row"
)


@dataclass(frozen=True)
class OnePerRespondent:
    """Which rows to keep (``mask``, aligned with the frame) and how many."""

    mask: np.ndarray
    respondent_column: str
    position_column: str | None
    n_ratings: int
    n_respondents: int

    @property
    def n_used(self) -> int:
        return int(self.mask.sum())

    @property
    def n_dropped(self) -> int:
        return self.n_ratings - self.n_used

    @property
    def nested(self) -> bool:
        """Whether some respondent has more than one rating."""
        return self.n_dropped > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": RULE,
            "respondent_column": self.respondent_column,
            "position_column": self.position_column,
            "n_ratings": self.n_ratings,
            "n_respondents": self.n_respondents,
            "n_used": self.n_used,
            "n_dropped": self.n_dropped,
        }


def one_per_respondent(
    frame: pd.DataFrame, respondent_column: str, position_column: str | None = None
) -> OnePerRespondent:
    """Keep one row per value of ``respondent_column``: the row with the lowest
    ``position_column`` (missing positions last), ties and no positions broken by row
    order. Missing keys: each such row is its own respondent."""
    if respondent_column not in frame.columns:
        raise AnalysisError(f"the respondent key column {respondent_column!r} is not in the data")
    if position_column is not None and position_column not in frame.columns:
        position_column = None
    n = len(frame)
    key = frame[respondent_column]
    codes, _ = pd.factorize(key.astype("object").where(key.notna(), None), use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    missing = codes < 0
    # rows without a key: each its own respondent (codes after the real ones)
    codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    if position_column is None:
        pos = np.zeros(n)
    else:
        pos = pd.to_numeric(frame[position_column], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        pos = np.where(np.isnan(pos), np.inf, pos)
    order = np.lexsort((np.arange(n), pos, codes))  # by key, then position, then row
    first = np.ones(n, dtype=bool)
    first[1:] = codes[order][1:] != codes[order][:-1]
    mask = np.zeros(n, dtype=bool)
    mask[order[first]] = True
    return OnePerRespondent(
        mask=mask,
        respondent_column=respondent_column,
        position_column=position_column,
        n_ratings=n,
        n_respondents=int(first.sum()),
    )
