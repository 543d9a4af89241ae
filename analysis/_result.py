"""Shared plumbing for result objects and errors of the analysis package.

Every public function of :mod:`analysis` returns one frozen dataclass that derives
from :class:`Result`: ``to_dict()`` gives a JSON-safe dict (numpy scalars and
arrays become floats and lists, NaN becomes ``None``) and ``summary()`` gives
readable text, in the manner of statsmodels' results objects.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analysis import AnalysisError

__all__ = ["AnalysisError", "Result", "fmt", "fmt_p", "jsonable"]


def jsonable(value: Any) -> Any:
    """Convert numpy/pandas values, nested in dicts/lists/dataclasses, to JSON-safe ones."""
    if isinstance(value, Result):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return {str(k): jsonable(v) for k, v in value.to_dict(orient="index").items()}
    if isinstance(value, pd.Series):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


@dataclasses.dataclass(frozen=True)
class Result:
    """Base class: ``to_dict()`` for machines, ``summary()`` for people."""

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if not f.name.startswith("_")
        }

    def summary(self) -> str:  # pragma: no cover - overridden
        return repr(self)

    def __str__(self) -> str:
        return self.summary()


def fmt(x: Any, digits: int = 3) -> str:
    """Format a number for summaries (``-`` for missing)."""
    if x is None:
        return "-"
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(f):
        return "-"
    return f"{f:.{digits}f}"


def fmt_p(p: float | None) -> str:
    """``< .001`` or ``= 0.042`` (to follow the letter p)."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    return "< .001" if p < 0.001 else f"= {p:.3f}"
