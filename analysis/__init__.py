"""trustmeter's analysis package: pure functions over DataFrames, arrays and Moments.

Every function returns one frozen result object with ``to_dict()`` (JSON-safe) and
``summary()`` (text). The main entry points and their modules (import them from the
module: several functions share their module's name, and ``import analysis`` stays
cheap)::

    reliability, reliability_by_dimension     analysis.reliability
    kmo, bartlett_sphericity                  analysis.factorability
    parallel_analysis                         analysis.parallel
    efa, tucker_congruence                    analysis.efa
    cfa                                       analysis.cfa
    polychoric, cfa_wlsmv (ordered items)     analysis.ordinal
    measurement_invariance                    analysis.invariance
    score, nps, pct_trusting                  analysis.scores
    group_table, welch_anova, pairwise_welch, period_change   analysis.compare
    careless                                  analysis.careless
    analyze                                   analysis.report (what ``trustmeter analyze`` runs)
    Moments                                   analysis.moments (mergeable sufficient statistics)

Public names of the package itself (``import analysis`` imports no numpy, pandas or
survey code; :class:`Result` is loaded on first use)::

    AnalysisError    the data cannot be analysed as asked (a ValueError); the message
                     names the column, dimension or setting at fault
    Result           base class of every result object
"""

from __future__ import annotations

from typing import Any

__all__ = ["AnalysisError", "Result"]


class AnalysisError(ValueError):
    """The data cannot be analysed as asked (missing items, too few rows, ...).

    The message is meant for the researcher: it names the column, dimension or
    setting at fault and, where useful, an example row. It derives from
    :class:`ValueError`, so ``except ValueError`` catches it too.
    """


def __getattr__(name: str) -> Any:
    if name == "Result":
        from analysis._result import Result

        return Result
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
