"""The periodic Trust Index report: one period's figures against the previous period.

:func:`periodic_report` is a pure function over the responses of one or more
campaigns (a DataFrame as :func:`survey.store.load_campaign_frame` returns it, with
or without its ``status`` column) and their instrument. It reuses the analysis
package throughout (careless screening, scores, group tables, Welch tests, Holm,
NPS, Wilson intervals, reliability, CFA, invariance) and returns one frozen
:class:`PeriodicReport`; :func:`render_html` renders it as one self-contained
HTML file (inline SVG charts, no scripts, no external assets, print CSS for A4).

Conventions, in the order they are applied:

* **Periods** are the values of the period column, ordered as text (``2026-Q1 <
  2026-Q2``). The *focus* period is the latest unless one is asked for; periods
  after it are left out, so the report of a past period stays what it was.
* **Careless respondents** are screened per period with
  :func:`analysis.careless.careless` (cut-offs from that period's own responses),
  so a period's figures do not change when later periods arrive. They are
  excluded unless ``keep_careless``.
* **Suppression**: every figure (mean, share, NPS, test) of a group with fewer
  than ``min_segment_n`` respondents contributing to it is replaced by
  ``{"suppressed": True}``: no n, no mean, nothing else, in the JSON, the tables
  and the charts. When a suppressed segment's n and mean could be worked out from
  a total and the segments shown, the smallest other segments are suppressed too
  (``{"suppressed": True, "complementary": True}``; see :func:`_protect`). Period
  figures are suppressed by the same threshold; the data-quality counts and the
  sample sizes of the reliability and invariance analyses describe whole periods
  and are always shown.
* **Change versus the previous period**: the focus period against the closest
  earlier period whose Trust Index is not suppressed. The Trust Index is the
  primary test (Welch t, unadjusted); the five dimension tests are Holm-adjusted
  among themselves. Hedges' g is the effect size.
* **Incidents**: the rate of each checklist ("yes") item with its Wilson interval.
  A respondent *reported an incident* with at least one "yes", *reported none*
  when every item is answered "no"; others are left out of the gap (Welch t of
  the Trust Index, incident minus none).
* **Reliability, CFA and invariance** are computed on the focus period's analysed
  responses, the data the headline figures come from.
* **Drivers** (:mod:`analysis.drivers`): for each outcome block, the LMG shares of R²
  of the dimension scores, standardized betas and bootstrap CIs, in the focus period,
  overall and per segment (segments suppressed as above). The **priority matrix**
  sets each dimension's share of the key outcome's R² against its score
  (:mod:`analysis.findings`).
* **Brand benchmark** (with a segment column, e.g. brand; :mod:`analysis.benchmark`):
  the focus period's Trust Index per brand, ranks with cluster-bootstrap intervals,
  pairwise differences with CR1 cluster-robust SEs (``respondent_column``: one person
  may rate several brands) Holm-adjusted, drivers per brand, and the invariance check
  across brands saying whether brand comparisons are supported.
* **Key findings**: three to five plain-language sentences made from these figures
  (:func:`analysis.findings.key_findings`), shown first.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from instruments.model import Instrument

from ._result import AnalysisError, Result, fmt, fmt_p, jsonable
from .careless import careless
from .compare import (
    Comparison,
    GroupStat,
    _natural_order,
    group_table,
    holm,
    pairwise_welch,
    period_change,
    welch_anova,
)
from .data import check_items, dimension_model, reverse_key
from .moments import Moments
from .nesting import one_per_respondent
from .reliability import reliability_by_dimension
from .scores import nps, nps_item, pct_trusting, proportion, score

if TYPE_CHECKING:
    from .svg import Chart

SUPPRESSED: dict[str, Any] = {"suppressed": True}
INVARIANCE_MIN_N = 30  # smallest language group in the invariance test (as analyze)


def _sup() -> dict[str, Any]:
    return dict(SUPPRESSED)


def is_suppressed(x: Any) -> bool:
    """Whether a figure of the report is a suppressed cell."""
    return isinstance(x, Mapping) and bool(x.get("suppressed"))


@dataclass(frozen=True)
class PeriodicReport(Result):
    """Figures of one periodic Trust Index report; every field is JSON-safe already.

    ``to_dict()`` is the JSON output (it carries every figure behind the charts),
    ``summary()`` a readable text and ``headline()`` one line.
    """

    instrument: str
    campaigns: tuple[str, ...]
    settings: Mapping[str, Any]
    periods: tuple[str, ...]
    focus: str
    previous: str | None
    scale: tuple[int, int]
    dimension_names: Mapping[str, str]
    index: Mapping[str, Any]  # period -> trust_index, dimensions, pct_trusting, nps
    change: Mapping[str, Any] | None  # focus vs previous: trust_index, dimensions
    segments: Mapping[str, Any] | None  # by the segment column (focus period and trend)
    incidents: Mapping[str, Any] | None
    quality: Mapping[str, Any]  # period -> started, completed, ... excluded
    psychometrics: Mapping[str, Any]
    notes: tuple[str, ...] = field(default=())
    drivers: Mapping[str, Any] | None = None  # outcome id -> {"overall", "by_segment"}
    outcome_names: Mapping[str, str] = field(default_factory=dict)
    priority: Mapping[str, Any] | None = None  # importance vs score, "fix first"
    benchmark: Mapping[str, Any] | None = None  # brands compared (segment column)
    key_findings: tuple[str, ...] = ()  # the plain-language summary

    def to_dict(self) -> dict[str, Any]:
        return jsonable({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})

    @property
    def focus_index(self) -> Mapping[str, Any]:
        return self.index[self.focus]["trust_index"]

    def headline(self) -> str:
        """One line: the focus period's Trust Index, its change, % trusting and NPS."""
        ti = self.focus_index
        fig = self.index[self.focus]
        n = self.quality[self.focus]["analysed"]
        head = f"{self.focus}: {n} responses analysed"
        if is_suppressed(ti):
            return head + f"; Trust Index suppressed (n < {self.settings['min_segment_n']})"
        head += (
            f"; Trust Index {fmt(ti['mean'], 1)} [{fmt(ti['ci95'][0], 1)}, {fmt(ti['ci95'][1], 1)}]"
        )
        if ti["n"] != n:  # the index needs every dimension scored
            head += f" (n = {ti['n']} with every dimension scored)"
        c = (self.change or {}).get("trust_index")
        if c:
            head += f", {c['diff']:+.1f} vs {c['a']} (p {fmt_p(c['p'])})"
        if not is_suppressed(fig["pct_trusting"]):
            head += f"; {fmt(fig['pct_trusting']['pct'], 1)}% trusting"
        if fig.get("nps") and not is_suppressed(fig["nps"]):
            head += f"; NPS {fmt(fig['nps']['nps'], 1)}"
        return head

    def summary(self) -> str:
        k = self.settings["min_segment_n"]
        lines = [
            f"Trust Index report for {self.focus} ({', '.join(self.campaigns)}; "
            f"instrument {self.instrument})",
            self.headline(),
            "",
            *(f"* {s}" for s in self.key_findings),
            "",
            f"{'period':<10} {'n':>6} {'index':>7}  95% CI         % trusting   NPS",
        ]
        for p in self.periods:
            f = self.index[p]
            ti = f["trust_index"]
            if is_suppressed(ti):
                lines.append(f"{p:<10} suppressed (n < {k})")
                continue
            pt, ns = f["pct_trusting"], f.get("nps")
            lines.append(
                f"{p:<10} {ti['n']:>6} {fmt(ti['mean'], 1):>7}  "
                f"[{fmt(ti['ci95'][0], 1)}, {fmt(ti['ci95'][1], 1)}]"
                f"   {fmt(pt.get('pct'), 1):>6}%  "
                f"{'-' if not ns or is_suppressed(ns) else fmt(ns['nps'], 1):>6}"
            )
        if self.change:
            lines.append(
                f"\nChange {self.change['to']} vs {self.change['from']} (Welch t; "
                "dimensions Holm-adjusted)"
            )
            rows = [("Trust Index", self.change.get("trust_index"))]
            rows += list(self.change["dimensions"].items())
            for name, c in rows:
                if not c:
                    lines.append(f"  {name:<12} suppressed (n < {k})")
                    continue
                lines.append(
                    f"  {name:<12} {c['diff']:+7.2f} [{fmt(c['ci95'][0], 2)}, "
                    f"{fmt(c['ci95'][1], 2)}]  p {fmt_p(c['p'])}  p_holm "
                    f"{fmt_p(c['p_holm'])}  g {fmt(c['hedges_g'], 2)}"
                )
        if self.segments:
            s = self.segments
            lines.append(f"\nTrust Index by {s['column']} in {self.focus}")
            for name, g in s["focus"].items():
                ti = g["trust_index"]
                why = "protects a smaller group" if ti.get("complementary") else f"n < {k}"
                lines.append(
                    f"  {name:<12} "
                    + (
                        f"suppressed ({why})"
                        if is_suppressed(ti)
                        else f"n = {ti['n']}, {fmt(ti['mean'], 1)} "
                        f"[{fmt(ti['ci95'][0], 1)}, {fmt(ti['ci95'][1], 1)}]"
                    )
                )
        if self.benchmark:
            b = self.benchmark
            lines.append(
                f"\n{b['column'].capitalize()} benchmark in {self.focus} (Trust Index; "
                f"ranking {', '.join(b['ranking'])})"
            )
            lines.append(
                f"  {b['n']} ratings from {b['clusters']} respondents"
                + (", ratings nested in respondents" if b["clusters"] < b["n"] else "")
                + f"; standard errors {b['method']} (G = {b['clusters']} clusters)"
            )
            for q in b["pairwise"]:
                lines.append(
                    f"  {q['b']} vs {q['a']}: {q['diff']:+.1f} (SE {fmt(q['se'], 2)}, "
                    f"p {fmt_p(q['p'])}, p_holm {fmt_p(q['p_holm'])})"
                )
        if self.incidents and self.incidents.get("gap"):
            g = self.incidents["gap"]
            if g.get("comparison"):
                c = g["comparison"]
                lines.append(
                    f"\nIncident gap in {self.focus}: Trust Index {c['diff']:+.1f} "
                    f"[{fmt(c['ci95'][0], 1)}, {fmt(c['ci95'][1], 1)}] for customers "
                    f"who reported an incident (Welch p {fmt_p(c['p'])})"
                )
        ps = self.psychometrics
        if ps.get("statement"):
            lines.append("\n" + ps["statement"])
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ----- helpers ------------------------------------------------------------------------
def _stat(g: GroupStat) -> dict[str, Any]:
    return g.to_dict()


def _cmp(c: Comparison | None) -> dict[str, Any] | None:
    return None if c is None else c.to_dict()


def _prop_or_sup(hits: pd.Series, min_n: int, **kw) -> dict[str, Any]:
    h = hits.dropna()
    if len(h) < max(min_n, 1):
        return _sup()
    r = proportion(h, **kw)
    return {"n": r.n, "count": r.count, "pct": r.pct, "ci95": list(r.ci95)}


def _pct_trusting(df: pd.DataFrame, inst: Instrument, min_n: int, min_items) -> dict[str, Any]:
    """% trusting of the rows of ``df`` (suppressed below ``min_n`` scored respondents)."""
    try:
        sc = score(df, inst, min_items=min_items)
    except AnalysisError:  # fewer than 2 scored respondents
        return _sup()
    if int(sc.frame["index_raw"].notna().sum()) < min_n:
        return _sup()
    r = pct_trusting(sc)
    return {
        "n": r.n,
        "count": r.count,
        "pct": r.pct,
        "ci95": list(r.ci95),
        "definition": r.definition,
    }


def _nps_or_sup(values: pd.Series | None, min_n: int) -> dict[str, Any] | None:
    if values is None:
        return None
    v = values.dropna()
    if len(v) < max(min_n, 2):
        return _sup()
    r = nps(v)
    return {
        "n": r.n,
        "nps": r.nps,
        "ci95": list(r.ci95),
        "promoters_pct": r.promoters_pct,
        "passives_pct": r.passives_pct,
        "detractors_pct": r.detractors_pct,
    }


def _counts(groups: pd.Series, names: Sequence[str]) -> dict[str, int]:
    """Respondents per group name (0 for a name absent from ``groups``)."""
    vc = groups.dropna().astype(str).value_counts()
    return {s: int(vc.get(s, 0)) for s in names}


def _protect(
    ns: Mapping[str, int], min_n: int, already: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Groups to suppress: ``{name: "n"}`` below ``min_n`` (primary) and ``{name:
    "complementary"}`` for the smallest other groups added until the suppressed
    groups together hold at least ``min_n`` respondents and are at least two, so that
    no suppressed group's n or mean can be worked out from a total and the groups
    shown (secondary suppression; Hundepool et al. 2012, *Statistical Disclosure
    Control*, Wiley, ch. 4). Empty groups are suppressed but disclose nothing.
    """
    out = dict(already or {})
    for k, n in ns.items():
        if k not in out and n < min_n:
            out[k] = "n"
    shown = sorted((n, k) for k, n in ns.items() if k not in out and n > 0)

    def exposed() -> bool:
        pos = [k for k in out if ns.get(k, 0) > 0]
        return bool(pos) and (len(pos) == 1 or sum(ns[k] for k in pos) < min_n)

    while shown and exposed():
        out[shown.pop(0)[1]] = "complementary"
    return out


def _hide(reason: str) -> dict[str, Any]:
    return _sup() if reason == "n" else {**SUPPRESSED, "complementary": True}


def _cells(
    values: pd.Series, groups: pd.Series, names: Sequence[str], hidden: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Mean and CI per group (:func:`analysis.compare.group_table`), hidden ones suppressed."""
    tab = group_table(values, groups, min_n=2, order=names)
    return {g.name: _hide(hidden[g.name]) if g.name in hidden else _stat(g) for g in tab.groups}


def _change(
    values: pd.Series,
    periods: pd.Series,
    prev: str,
    focus: str,
    min_n: int,
    clusters: pd.Series | None = None,
) -> Comparison | None:
    """Welch t of ``focus - prev`` (None when either side is suppressed); CR1 variances
    for a period whose ratings are nested in ``clusters`` (respondents)."""
    mask = periods.isin([prev, focus])
    pc = period_change(
        values[mask],
        periods[mask],
        min_n=min_n,
        order=[prev, focus],
        clusters=None if clusters is None else clusters[mask],
    )
    return pc.comparisons[0] if pc.comparisons else None


def _screen(sub: pd.DataFrame, inst: Instrument, notes: list[str], label: str) -> np.ndarray:
    """Careless flags (>= 2 indicators) of one period's complete responses."""
    if len(sub) == 0:
        return np.zeros(0, dtype=bool)
    try:
        return careless(sub, inst).excluded.to_numpy(dtype=bool)
    except AnalysisError as e:
        notes.append(f"{label}: careless screening not possible ({e}); nobody excluded")
        return np.zeros(len(sub), dtype=bool)


def _psychometrics(
    df: pd.DataFrame, inst: Instrument, group: str | None, min_n: int
) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(df)}
    try:
        rel = reliability_by_dimension(df, inst)
        out["reliability"] = {
            d: {
                "n": r.n,
                "alpha": r.alpha,
                "alpha_ci95": list(r.alpha_ci95),
                "omega_total": r.omega_total,
            }
            for d, r in rel.dimensions.items()
        }
    except (AnalysisError, ValueError, np.linalg.LinAlgError) as e:
        out["reliability"] = {"error": str(e)}
    model = dimension_model(inst)
    items = list(inst.dimension_item_ids)
    scored = None
    try:
        scored = reverse_key(check_items(df, inst).frame, inst)
        from .cfa import cfa

        c = cfa(Moments.from_frame(scored, items), model)
        good = c.cfi >= 0.95 and c.rmsea <= 0.06 and c.srmr <= 0.08
        out["cfa"] = {
            "n": c.n,
            "chisq": c.chisq,
            "df": c.df,
            "p": c.p,
            "cfi": c.cfi,
            "tli": c.tli,
            "rmsea": c.rmsea,
            "srmr": c.srmr,
            "good_fit": good,
        }
    except (AnalysisError, ValueError, np.linalg.LinAlgError) as e:
        out["cfa"] = {"error": str(e)}
    out["invariance"] = None
    out["levels_comparable"] = None
    out["statement"] = None
    if group is None or group not in df.columns or scored is None:
        return out
    if df[group].dropna().nunique() < 2:
        out["invariance"] = {"group": group, "error": f"only one {group} in the data"}
        return out
    from .invariance import measurement_invariance

    k = max(min_n, INVARIANCE_MIN_N)
    try:
        inv = measurement_invariance(
            scored[items].assign(**{group: df[group].to_numpy()}), model, group, min_group_n=k
        )
    except (ValueError, np.linalg.LinAlgError) as e:
        out["invariance"] = {"group": group, "error": str(e)}
        return out
    out["invariance"] = {
        # with a group left out, the sizes of the others would give its size away
        # (total minus the rest), so then only their names are given
        "group": group,
        "groups": (dict(inv.groups) if not inv.dropped_groups else {g: _sup() for g in inv.groups}),
        "min_group_n": k,
        # a group too small for the test is named, never counted (suppression)
        "dropped_groups": {g: _sup() for g in inv.dropped_groups},
        "fit": {
            lv: {m: getattr(inv, lv)[m] for m in ("chisq", "df", "cfi", "tli", "rmsea", "srmr")}
            for lv in ("configural", "metric", "scalar")
        },
        "delta": {lv: {m: d[m] for m in ("cfi", "rmsea", "srmr")} for lv, d in inv.delta.items()},
        "decisions": dict(inv.decisions),
        "level": inv.level,
        "verdict": inv.verdict,
        "warnings": list(inv.warnings),
    }
    ok = inv.level in ("scalar", "strict")  # strict (residuals too) implies scalar
    out["levels_comparable"] = ok
    out["statement"] = (
        f"Scalar invariance across {group} holds: Trust Index levels can be compared across "
        f"{group}."
        if ok
        else f"Scalar invariance across {group} does not hold ({inv.level} level at best): "
        f"Trust Index and dimension levels should not be compared across {group}; compare "
        f"changes within each {group} instead."
    )
    return out


# ----- the report -----------------------------------------------------------------------
def periodic_report(
    frame: pd.DataFrame,
    inst: Instrument,
    *,
    period: str | None = None,
    segment: str | None = None,
    keep_careless: bool = False,
    min_segment_n: int = 30,
    period_column: str = "period",
    group: str | None = "language",
    min_items: int | float | None = None,
    campaigns: Sequence[str] = (),
    n_boot: int = 1000,
    seed: int | None = 0,
    respondent_column: str | None = None,
    key_outcome: str | None = None,
    position_column: str | None = None,
) -> PeriodicReport:
    """The periodic Trust Index report of ``frame`` (see the module docstring).

    Parameters
    ----------
    frame : DataFrame
        One row per response: item columns named by item id, ``period_column``, and
        optionally ``status`` (``complete``/``started``: without it every row counts
        as complete and "started" is not reported), ``segment`` and ``group`` columns.
    inst : Instrument
    period : the focus period (default: the latest period with complete responses).
    segment : column for the figures per segment.
    keep_careless : keep respondents flagged as careless (default: exclude them).
    min_segment_n : figures resting on fewer respondents are suppressed.
    group : column for measurement invariance (default ``language``; ``None``: skip).
    min_items : answered items for a dimension score (:func:`analysis.scores.score`).
    campaigns : names of the campaigns, for the report's heading.
    n_boot, seed : bootstrap resamples (driver-share CIs, brand rank intervals) and seed.
    respondent_column : a respondent key (one person may rate several brands): brand
        comparisons then use CR1 cluster-robust SEs and resample whole respondents; a
        period whose ratings are nested gets CR1 intervals for its Trust Index and
        dimension means, and the change versus the previous period uses them
        (:mod:`analysis.compare`); when
        some respondent has several ratings in the focus period, the tests that need
        independent rows (reliability, CFA, the invariance checks, Welch's ANOVA across
        the segment) use one rating per respondent (:mod:`analysis.nesting`) and say how
        many were used and left out. The key is used for clustering only and never
        appears in the output.
    position_column : the rating's place in the respondent's random brand order: the
        one rating per respondent kept is the one at the lowest place (default: the
        respondent's first row).
    key_outcome : the outcome block of the priority matrix and the findings (default:
        the instrument's first outcome block with drivers).

    Raises
    ------
    AnalysisError
        No complete responses, an unknown period or a missing column.
    """
    if (
        isinstance(min_segment_n, bool)
        or not isinstance(min_segment_n, int | np.integer)
        or min_segment_n < 2
    ):
        raise AnalysisError(f"min_segment_n must be an integer >= 2, got {min_segment_n!r}")
    min_n = int(min_segment_n)
    for col, what in (
        (period_column, "period"),
        (segment, "segment"),
        (respondent_column, "respondent key"),
        (position_column, "brand position"),
    ):
        if col is not None and col not in frame.columns:
            raise AnalysisError(f"the {what} column {col!r} is not in the data")
    df = frame.reset_index(drop=True)
    if "status" in df.columns:
        complete = (df["status"] == "complete").to_numpy(dtype=bool)
    else:
        complete = np.ones(len(df), dtype=bool)
    pcol = df[period_column].astype("object").where(df[period_column].notna(), None)
    done = df.loc[complete & pcol.notna().to_numpy()]
    if len(done) == 0:
        raise AnalysisError("there are no complete responses to report on")
    all_periods = _natural_order(done[period_column].astype(str).unique())
    focus = all_periods[-1] if period is None else str(period)
    if focus not in all_periods:
        raise AnalysisError(f"unknown period {focus!r}: the data have {', '.join(all_periods)}")
    periods = all_periods[: all_periods.index(focus) + 1]
    notes: list[str] = []
    if len(all_periods) > len(periods):
        notes.append(f"later period(s) left out: {', '.join(all_periods[len(periods) :])}")

    # careless screening per period, data quality per period
    keep = np.zeros(len(df), dtype=bool)
    quality: dict[str, Any] = {}
    per = pcol.astype(str).to_numpy()
    for p in periods:
        in_p = pcol.notna().to_numpy() & (per == p)
        rows = np.flatnonzero(in_p & complete)
        flagged = _screen(df.iloc[rows], inst, notes, p)
        keep[rows] = True if keep_careless else ~flagged
        n_started = int(in_p.sum()) if "status" in df.columns else None
        quality[p] = {
            "started": n_started,
            "completed": len(rows),
            "completion_rate": (len(rows) / n_started if n_started else None),
            "careless_flagged": int(flagged.sum()),
            "excluded": 0 if keep_careless else int(flagged.sum()),
            "analysed": int(len(rows) - (0 if keep_careless else flagged.sum())),
        }
    data = df.loc[keep].reset_index(drop=True)
    if len(data) == 0:
        raise AnalysisError("no responses left to analyse after excluding careless ones")
    try:
        sc = score(data, inst, min_items=min_items)
    except AnalysisError as e:
        raise AnalysisError(f"{e} (periods {', '.join(periods)})") from None
    scores = sc.frame
    per_s = data[period_column].astype(str).rename(period_column)
    dims = [b.id for b in inst.dimensions]
    nps_id = nps_item(inst)
    nps_id = nps_id if nps_id in data.columns else None

    # index figures per period; ratings nested in respondents (brands) get CR1 intervals
    people = None if respondent_column is None else data[respondent_column]
    ti_tab = group_table(
        scores["trust_index"],
        per_s,
        min_n=min_n,
        order=periods,
        variable="trust_index",
        clusters=people,
    )
    dim_tabs = {
        d: group_table(scores[d], per_s, min_n=min_n, order=periods, variable=d, clusters=people)
        for d in dims
    }
    clustered = [g.name for g in ti_tab.groups if g.clusters is not None]
    if clustered:
        notes.append(
            "ratings nested in respondents in " + ", ".join(clustered) + ": the Trust Index "
            "and dimension intervals of those periods, and the change test, use CR1 "
            "cluster-robust standard errors (respondents as clusters)"
        )
    index: dict[str, Any] = {}
    for i, p in enumerate(periods):
        m = (per_s == p).to_numpy()
        index[p] = {
            "trust_index": _stat(ti_tab.groups[i]),
            "dimensions": {d: _stat(dim_tabs[d].groups[i]) for d in dims},
            "pct_trusting": _pct_trusting(data.loc[m], inst, min_n, min_items),
            "nps": _nps_or_sup(data.loc[m, nps_id] if nps_id else None, min_n),
        }

    # change versus the previous (not suppressed) period
    earlier = [g.name for g in ti_tab.groups[:-1] if not g.suppressed]
    previous = earlier[-1] if earlier and not ti_tab.groups[-1].suppressed else None
    change = None
    if previous is not None:
        ti_c = _change(scores["trust_index"], per_s, previous, focus, min_n, people)
        d_c = {d: _change(scores[d], per_s, previous, focus, min_n, people) for d in dims}
        tested = [d for d in dims if d_c[d] is not None]
        adj = holm([d_c[d].p for d in tested])
        for d, pa in zip(tested, adj, strict=True):
            d_c[d] = dataclasses.replace(d_c[d], p_holm=float(pa))
        change = {
            "from": previous,
            "to": focus,
            "test": "Welch t (focus minus previous)",
            "adjustment": "Trust Index unadjusted (primary); dimensions Holm-adjusted "
            "among themselves",
            "trust_index": _cmp(ti_c),
            "dimensions": {d: _cmp(d_c[d]) for d in dims},
        }
    elif len(periods) > 1:
        notes.append(
            f"no change versus a previous period: {focus} or every earlier period "
            f"has fewer than {min_n} respondents"
        )

    fmask = (per_s == focus).to_numpy()
    focus_data = data.loc[fmask]
    focus_scores = scores.loc[fmask]
    # ratings nested in respondents: tests that need independent rows use one each
    nest = (
        None
        if respondent_column is None
        else one_per_respondent(focus_data, respondent_column, position_column)
    )
    nested = nest is not None and nest.nested
    one = nest.mask if nested else np.ones(len(focus_data), dtype=bool)
    focus_one = focus_data.loc[one] if nested else focus_data

    # segments: every figure protected by primary and complementary suppression
    segments = None
    if segment is not None:
        seg_all = data[segment].astype("object").where(data[segment].notna(), None)
        names = _natural_order(seg_all.dropna().astype(str).unique())
        seg_f = seg_all[fmask].rename(segment)
        rows_hidden = _protect(_counts(seg_f, names), min_n)
        ti_f = focus_scores["trust_index"]
        ti_hidden = _protect(_counts(seg_f[ti_f.notna()], names), min_n, rows_hidden)
        cells: dict[str, dict[str, Any]] = {s: {"dimensions": {}} for s in names}
        for s, g in _cells(ti_f, seg_f, names, ti_hidden).items():
            cells[s]["trust_index"] = g
        for d in dims:
            hid = _protect(_counts(seg_f[focus_scores[d].notna()], names), min_n, rows_hidden)
            for s, g in _cells(focus_scores[d], seg_f, names, hid).items():
                cells[s]["dimensions"][d] = g
        nps_hidden = (
            _protect(_counts(seg_f[focus_data[nps_id].notna()], names), min_n, rows_hidden)
            if nps_id
            else {}
        )
        for s in names:
            m = (seg_f == s).to_numpy()
            cells[s]["pct_trusting"] = (
                _hide(ti_hidden[s])
                if s in ti_hidden
                else _pct_trusting(focus_data.loc[m], inst, 2, min_items)
            )
            cells[s]["nps"] = (
                None
                if not nps_id
                else _hide(nps_hidden[s])
                if s in nps_hidden
                else _nps_or_sup(focus_data.loc[m, nps_id], 2)
            )
        focus_fig = {
            s: {k: cells[s][k] for k in ("trust_index", "dimensions", "pct_trusting", "nps")}
            for s in names
        }
        shown = [s for s in names if s not in ti_hidden]
        anova = None
        if len(shown) >= 2:
            keep_s = seg_f.isin(shown).to_numpy() & one
            try:
                a = welch_anova(ti_f[keep_s], seg_f[keep_s], min_n=min_n)
                anova = {
                    "F": a.F,
                    "df": list(a.df),
                    "p": a.p,
                    "groups": [g for g in shown if g in a.means],
                    "n": int(sum(a.n.values())),
                    "one_rating_per_respondent": nested,
                }
            except AnalysisError as e:
                notes.append(f"no Welch's ANOVA across {segment}: {e}")
        trend: dict[str, Any] = {s: {} for s in names}
        ti_all = scores["trust_index"]
        for p in periods:
            m = (per_s == p).to_numpy()
            seg_p = seg_all[m].rename(segment)
            hid = _protect(
                _counts(seg_p[ti_all[m].notna()], names),
                min_n,
                _protect(_counts(seg_p, names), min_n),
            )
            for s, g in _cells(ti_all[m], seg_p, names, hid).items():
                trend[s][p] = g
        segments = {
            "column": segment,
            "names": names,
            "focus": focus_fig,
            "welch_anova": anova,
            "trend": trend,
        }
        if data[segment].isna().any():
            notes.append(
                f"responses without a {segment} value are left out of the {segment} figures"
            )
        if any(
            is_suppressed(g) and g.get("complementary")
            for c in focus_fig.values()
            for g in [c["trust_index"]]
        ):
            notes.append(
                f"some {segment} groups of {min_n} or more respondents are suppressed "
                "too, so that a smaller group's figures cannot be worked out from "
                "the totals (complementary suppression)"
            )

    # incidents (trust-breach checklist)
    incidents = None
    if inst.checklist is not None and all(i in data.columns for i in inst.checklist.item_ids):
        ids = list(inst.checklist.item_ids)
        x = check_items(data, inst, ids, require=ids).frame
        any_yes = (x == 1).any(axis=1)
        all_no = (x == 0).all(axis=1)
        reported = pd.Series(
            np.where(any_yes, "yes", np.where(all_no, "no", None)), index=data.index, dtype="object"
        )
        labels = {
            i: (inst.item(i).text.get("en") or next(iter(inst.item(i).text.values()), i))
            for i in ids
        }
        rates: dict[str, Any] = {}
        for iid in [*ids, "any"]:
            rates[iid] = {}
            for p in periods:
                m = (per_s == p).to_numpy()
                hits = (
                    (x.loc[m, iid] == 1).where(x.loc[m, iid].notna())
                    if iid != "any"
                    else reported[m].map({"yes": True, "no": False})
                )
                rates[iid][p] = _prop_or_sup(hits, min_n, name=iid, definition="yes")
        grp = reported[fmask].rename("incident")
        ti_f = focus_scores["trust_index"]
        hid = _protect(_counts(grp[ti_f.notna()], ["no", "yes"]), min_n)
        gap_cells = _cells(ti_f, grp, ["no", "yes"], hid)
        pw = None if hid else pairwise_welch(ti_f, grp, min_n=min_n)
        incidents = {
            "items": ids,
            "labels": {**labels, "any": "Any of these incidents"},
            "rates": rates,
            "gap": {
                "period": focus,
                "no_incident": gap_cells["no"],
                "incident": gap_cells["yes"],
                "comparison": _cmp(pw.comparisons[0]) if pw else None,
                "definition": "Trust Index of customers who reported at least one "
                "incident minus those who answered no to every item; "
                "Welch t",
            },
        }

    psych = _psychometrics(focus_one, inst, group, min_n)
    psych["period"] = focus
    psych["one_rating_per_respondent"] = nest.to_dict() if nested else None
    if psych["statement"] and not psych["levels_comparable"] and segment == group:
        notes.append(
            f"the {segment} comparison compares levels across {group}, which the "
            "invariance test does not support"
        )

    # drivers, priority matrix and brand benchmark (focus period)
    from .benchmark import brand_benchmark
    from .drivers import drivers as _drivers
    from .findings import outcome_names as _onames
    from .findings import priority as _priority

    drv = None
    onames = _onames(inst.outcomes)
    if inst.outcomes:
        hid = None
        if segment is not None:
            from .drivers import outcome_scores

            full = (
                pd.concat([outcome_scores(focus_data, inst, min_items), focus_scores[dims]], axis=1)
                .notna()
                .all(axis=1)
            )
            hid = _protect(_counts(seg_f[full.to_numpy()], names), min_n, ti_hidden)
        try:
            d_res = _drivers(
                focus_data,
                inst,
                segment=segment,
                n_boot=n_boot,
                seed=seed,
                min_segment_n=min_n,
                min_items=min_items,
                hidden=hid,
                cluster=respondent_column,
            )
            drv = d_res.to_dict()
            notes += [f"{focus}: {n}" for n in d_res.notes]
        except AnalysisError as e:
            notes.append(f"no driver analysis in {focus}: {e}")
    prio = _priority(
        drv,
        index[focus]["dimensions"],
        {b.id: (b.name.get("en") or b.id) for b in inst.dimensions},
        onames,
        key_outcome,
    )
    bench = None
    if segment is not None:
        shown_b = [s for s in names if s not in ti_hidden]
        inv_b = psych if group == segment else _psychometrics(focus_one, inst, segment, min_n)
        inv_b["one_rating_per_respondent"] = nest.to_dict() if nested else None
        try:
            bench = brand_benchmark(
                focus_scores["trust_index"],
                seg_f,
                None if respondent_column is None else focus_data[respondent_column],
                shown_b,
                column=segment,
                respondent_column=respondent_column,
                n_boot=n_boot,
                seed=seed,
                invariance=inv_b,
            )
        except AnalysisError as e:
            notes.append(f"no {segment} benchmark: {e}")
    if nested:
        assert nest is not None
        notes.append(
            f"ratings are nested in respondents ({nest.n_ratings} ratings from "
            f"{nest.n_respondents} respondents in {focus})"
            + (
                f": {segment} differences use CR1 cluster-robust standard errors "
                f"({bench['clusters']} clusters)"
                if bench is not None
                else ""
            )
            + "; reliability, the CFA, the invariance checks"
            + (f" and Welch's ANOVA across {segment}" if segment is not None else "")
            + f" use one rating per respondent ({nest.n_used} used, {nest.n_dropped} "
            "left out: the first in each respondent's random brand order)"
        )

    settings = {
        "period_column": period_column,
        "focus": focus,
        "segment": segment,
        "invariance_group": group,
        "keep_careless": bool(keep_careless),
        "driver_bootstrap": n_boot,
        "seed": seed,
        "respondent_column": respondent_column,
        "position_column": position_column,
        "nesting": None if nest is None else nest.to_dict(),
        "careless_screening": "per period, >= 2 indicators (analysis.careless)",
        "min_segment_n": min_n,
        "min_items": dict(sc.min_items),
        "suppression": f"figures resting on fewer than {min_n} respondents are suppressed",
    }
    rep = PeriodicReport(
        instrument=inst.key,
        campaigns=tuple(campaigns),
        settings=settings,
        periods=tuple(periods),
        focus=focus,
        previous=previous,
        scale=(inst.scale.min, inst.scale.max),
        dimension_names={
            b.id: (b.name.get("en") or next(iter(b.name.values()), b.id)) for b in inst.dimensions
        },
        index=jsonable(index),
        change=jsonable(change),
        segments=jsonable(segments),
        incidents=jsonable(incidents),
        quality=jsonable(quality),
        psychometrics=jsonable(psych),
        notes=tuple(notes),
        drivers=jsonable(drv),
        outcome_names=onames,
        priority=jsonable(prio),
        benchmark=jsonable(bench),
    )
    from .findings import key_findings

    return dataclasses.replace(rep, key_findings=key_findings(rep))


# ----- HTML ---------------------------------------------------------------------------------
def _pt(x: Any) -> tuple[float, float, float] | None:
    """A chart point ``(value, lower, upper)`` from a figure; ``None`` when suppressed."""
    if not x or is_suppressed(x):
        return None
    v = x.get("mean", x.get("pct", x.get("nps")))
    if v is None or x.get("ci95") is None:
        return None
    return (v, x["ci95"][0], x["ci95"][1])


def charts(r: PeriodicReport) -> dict[str, Chart]:
    """The report's charts (:class:`analysis.svg.Chart`, placed as they are by the
    templates), keyed by name, drawn from the same figures as the JSON. A line chart
    without a single figure (everything suppressed) is left out."""
    from . import svg

    k = r.settings["min_segment_n"]
    sup = f"suppressed (n < {k})"
    lo, hi = r.scale
    out: dict[str, Chart] = {}
    ps = list(r.periods)
    out["trend"] = svg.line_chart(
        ps,
        {"Trust Index": [_pt(r.index[p]["trust_index"]) for p in ps]},
        title="Trust Index by period (mean, 95% CI)",
        y_label="Trust Index (0-100)",
        y_range=(0, 100),
    )
    out["trusting"] = svg.line_chart(
        ps,
        {"% trusting": [_pt(r.index[p]["pct_trusting"]) for p in ps]},
        title="% trusting by period (95% CI)",
        y_label="% trusting",
        width=480,
        height=280,
        y_range=(0, 100),
    )
    if any(r.index[p].get("nps") for p in ps):
        out["nps"] = svg.line_chart(
            ps,
            {"NPS": [_pt(r.index[p]["nps"]) for p in ps]},
            title="NPS by period (95% CI)",
            y_label="NPS",
            width=480,
            height=280,
            y_range=(-100, 100),
        )
    dims = list(r.dimension_names)
    f = r.index[r.focus]["dimensions"]
    out["dimensions"] = svg.bar_chart(
        [r.dimension_names[d] for d in dims],
        [_pt(f[d]) for d in dims],
        title=f"Dimension scores in {r.focus} (mean, 95% CI)",
        x_label=f"score on the {lo}..{hi} scale",
        x_range=(lo, hi),
        note_missing=sup,
    )
    if r.previous:
        series = {
            p: [_pt(r.index[p]["dimensions"][d]) for d in dims] for p in (r.previous, r.focus)
        }
        out["dimension_change"] = svg.dot_compare_chart(
            [r.dimension_names[d] for d in dims],
            series,
            title=f"Dimensions: {r.previous} vs {r.focus} (mean, 95% CI)",
            x_label=f"score on the {lo}..{hi} scale",
            x_range=(lo, hi),
            note_missing=sup,
        )
    pr = r.priority
    if pr:
        from .findings import fix_first_text

        rows = pr["dimensions"]
        out["priority"] = svg.priority_matrix(
            [rows[d]["name"] for d in rows],
            [rows[d]["importance_pct"] for d in rows],
            [rows[d]["score"] for d in rows],
            importance_cut=pr["importance_cut"],
            score_cut=pr["score_cut"],
            scale=(lo, hi),
            title=f"What to fix first: importance for {pr['outcome_name']} vs score, {r.focus}",
            x_label=f"current score (mean on the {lo}-{hi} scale)",
            y_label=f"importance (% of the explained variance of {pr['outcome_name']})",
            callout=fix_first_text(pr),
        )
    if r.segments:
        s = r.segments
        names = s["names"]
        out["segments"] = svg.bar_chart(
            names,
            [_pt(s["focus"][n]["trust_index"]) for n in names],
            title=f"Trust Index by {s['column']} in {r.focus} (mean, 95% CI)",
            x_label="Trust Index (0-100)",
            x_range=(0, 100),
            value_format="{:.1f}",
            note_missing=sup
            if not any(s["focus"][n]["trust_index"].get("complementary") for n in names)
            else "suppressed (see the table)",
        )
        # a group suppressed in every period has no line (the table lists it)
        lines = {n: [_pt(s["trend"][n][p]) for p in ps] for n in names}
        out["segment_trend"] = svg.line_chart(
            ps,
            {n: pts for n, pts in lines.items() if any(pts)},
            title=f"Trust Index by {s['column']} and period (mean, 95% CI)",
            y_label="Trust Index (0-100)",
            y_range=(0, 100),
        )
    # a line chart without a single figure (everything suppressed) is left out
    for name in ("trend", "trusting", "nps", "segment_trend"):
        if name in out and not out[name].has_data:
            del out[name]
    if r.incidents:
        inc = r.incidents
        keys = [*inc["items"], "any"]
        out["incidents"] = svg.bar_chart(
            [inc["labels"][i] for i in keys],
            [_pt(inc["rates"][i][r.focus]) for i in keys],
            title=f"Incidents reported in {r.focus} (% yes, 95% CI)",
            x_label="% of customers",
            value_format="{:.1f}",
            note_missing=sup,
            width=720,
        )
    return out


def _fix_first_text(pr: Any) -> str:
    from .findings import fix_first_text

    return fix_first_text(pr)


def render_html(report: PeriodicReport) -> str:
    """The report as one self-contained HTML document (a string)."""
    from .html import _env

    env = _env()
    env.tests["suppressed"] = is_suppressed
    tpl = env.get_template("periodic.html")
    d = report.to_dict()
    rows = []
    if d["change"]:
        ch, prev, cur = d["change"], d["index"][d["change"]["from"]], d["index"][d["focus"]]
        rows.append(
            ("Trust Index (0-100)", ch["trust_index"], prev["trust_index"], cur["trust_index"], 1)
        )
        rows += [
            (d["dimension_names"][dim], c, prev["dimensions"][dim], cur["dimensions"][dim], 2)
            for dim, c in ch["dimensions"].items()
        ]
    return tpl.render(
        r=report,
        d=d,
        change_rows=rows,
        charts=charts(report),
        k=report.settings["min_segment_n"],
        fix_first=_fix_first_text(report.priority),
        isfinite=lambda x: x is not None and math.isfinite(x),
    )
