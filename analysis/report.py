"""The whole analysis of one data set against one instrument: :func:`analyze`.

This is what ``trustmeter analyze`` runs. It checks the data, screens careless
respondents (excluded by default), and gathers reliability, factorability,
parallel analysis, EFA, CFA, measurement invariance, scores, the Trust Index by
period and segment, % trusting and NPS into one :class:`AnalysisReport`.

Conventions (the same as the R reference in ``tests/reference``):

* reliability uses the rows complete for each dimension;
* KMO, Bartlett, parallel analysis, EFA, CFA and invariance use the instrument's
  dimension items on the rows complete across all of them;
* reverse-keyed items are recoded as ``min + max - x``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from instruments.model import Instrument

from ._result import AnalysisError, Result, fmt, fmt_p, jsonable
from .careless import CarelessResult, careless
from .compare import GroupTable, PairwiseResult, WelchAnovaResult, group_table, pairwise_welch
from .compare import period_change as _period_change
from .compare import welch_anova as _welch_anova
from .data import CheckedData, checked_matrix, dimension_model, reverse_key
from .drivers import DriversResult, drivers_from_scores, outcome_scores
from .efa import EFAResult, efa
from .factorability import BartlettResult, KMOResult, bartlett_sphericity, checked_corr, kmo
from .moments import Moments
from .nesting import one_per_respondent
from .parallel import ParallelAnalysisResult, parallel_analysis
from .reliability import DimensionReliability, reliability_by_dimension
from .scores import (
    NPSResult,
    ProportionResult,
    ScoresResult,
    nps,
    nps_item,
    pct_trusting,
    proportion,
    score,
)

TRUST_OVERALL = "TRUST_OVERALL"


@dataclass(frozen=True)
class TrustIndexResult(Result):
    """The Trust Index overall, by period and by segment, with tests."""

    overall: Any
    by_period: GroupTable | None = None
    by_segment: GroupTable | None = None
    period_change: PairwiseResult | None = None
    segment_anova: WelchAnovaResult | None = None
    segment_pairwise: PairwiseResult | None = None
    notes: tuple[str, ...] = ()
    name: str | None = None  # the instrument's name for the index (None: not named)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"overall": self.overall.to_dict()}
        for k in ("by_period", "by_segment", "period_change", "segment_anova", "segment_pairwise"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v.to_dict()
        out["notes"] = list(self.notes)
        out["name"] = self.name
        return out

    def summary(self) -> str:
        o = self.overall
        lines = [
            f"{self.name or 'Overall index'} (0-100): {fmt(o.mean, 1)} [{fmt(o.ci95[0], 1)}, "
            f"{fmt(o.ci95[1], 1)}], n = {o.n}"
        ]
        for k in ("by_period", "period_change", "by_segment", "segment_anova", "segment_pairwise"):
            v = getattr(self, k)
            if v is not None:
                lines.append(v.summary())
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class AnalysisReport(Result):
    """Everything ``trustmeter analyze`` reports. ``to_dict()`` is the JSON output."""

    instrument: str
    settings: Mapping[str, Any]
    n_total: int
    n_responses: int
    n_excluded: int
    careless: CarelessResult
    items: Mapping[str, Mapping[str, Any]]
    reliability: DimensionReliability
    n_complete: int
    kmo: KMOResult
    bartlett: BartlettResult
    parallel_analysis: ParallelAnalysisResult
    efa: EFAResult
    cfa: Any
    invariance: Any
    scores: ScoresResult
    trust_index: TrustIndexResult
    pct_trusting: ProportionResult
    trust_overall_top2: ProportionResult | None
    nps: NPSResult | None
    alternative: Mapping[str, Any]
    structure: Mapping[str, tuple[str, ...]]
    dimension_names: Mapping[str, str]
    flagged_ids: tuple = ()
    notes: tuple[str, ...] = field(default=())
    drivers: DriversResult | None = None  # analysis.drivers; None: no outcome blocks
    validity: Any = None  # analysis.validity.ValidityResult, or {"error": ...}
    hierarchy: Any = None  # analysis.hierarchy.HierarchyResult (second-order model, omega_h)
    title: str = ""  # the instrument's title
    index_name: str | None = None  # the instrument's name for its index (None: not named)

    def to_dict(self) -> dict:
        inv = self.invariance
        return jsonable(
            {
                "instrument": self.instrument,
                "settings": dict(self.settings),
                "n_total": self.n_total,
                "n_responses": self.n_responses,
                "n_excluded": self.n_excluded,
                "careless": {**self.careless.to_dict(), "flagged_ids": self.flagged_ids},
                "items": self.items,
                "reliability": self.reliability.to_dict(),
                "n_complete": self.n_complete,
                "kmo": self.kmo.to_dict(),
                "bartlett": self.bartlett.to_dict(),
                "parallel_analysis": self.parallel_analysis.to_dict(),
                "efa": self.efa.to_dict(),
                "cfa": self.cfa.to_dict() if hasattr(self.cfa, "to_dict") else self.cfa,
                "invariance": inv.to_dict() if hasattr(inv, "to_dict") else inv,
                "scores": self.scores.to_dict(),
                "trust_index": self.trust_index.to_dict(),
                "pct_trusting": self.pct_trusting.to_dict(),
                "trust_overall_top2": (
                    self.trust_overall_top2.to_dict() if self.trust_overall_top2 else None
                ),
                "nps": self.nps.to_dict() if self.nps else None,
                "alternative": self.alternative,
                "drivers": self.drivers.to_dict() if self.drivers is not None else {},
                "title": self.title,
                "index_name": self.index_name,
                "validity": (
                    self.validity.to_dict() if hasattr(self.validity, "to_dict") else self.validity
                ),
                "hierarchy": (
                    self.hierarchy.to_dict()
                    if hasattr(self.hierarchy, "to_dict")
                    else self.hierarchy
                ),
                "notes": list(self.notes),
            }
        )

    @property
    def verdicts(self) -> list[str]:
        """The main conclusions in words."""
        out = []
        low = [d for d, r in self.reliability.dimensions.items() if r.alpha < 0.7]
        out.append(
            "Reliability: every dimension has Cronbach's alpha of at least .70."
            if not low
            else f"Reliability: alpha is below .70 for {', '.join(low)}; interpret those "
            "dimension scores with care."
        )
        out.append(
            f"Factorability: KMO = {fmt(self.kmo.overall, 2)} ({self.kmo.verdict}), "
            f"Bartlett's test p {fmt_p(self.bartlett.p)}."
        )
        k = len(self.structure)
        pa = self.parallel_analysis.n_factors
        pc = self.parallel_analysis.n_components
        out.append(
            f"Parallel analysis (as psych::fa.parallel) suggests {pa} factor(s) and "
            f"{pc} component(s) for the {k} intended dimensions."
            + (
                ""
                if pa == k
                else " The dimensions may not all be separable in these "
                "data; see the EFA loadings and the CFA."
            )
        )
        if self.efa.congruence:
            worst = min(self.efa.congruence.values())
            out.append(
                f"EFA: Tucker congruence of the factors with the intended dimensions "
                f"ranges from {fmt(worst, 2)} to {fmt(max(self.efa.congruence.values()), 2)}"
                + (
                    " (below .85 for some: the structure is only partly recovered)."
                    if worst < 0.85
                    else "."
                )
            )
        if self.efa.warnings:
            out.append(
                "EFA warnings (examine the loadings before relying on them): "
                + "; ".join(self.efa.warnings)
                + "."
            )
        doubtful = {
            d: r.omega_warnings for d, r in self.reliability.dimensions.items() if r.omega_warnings
        }
        if doubtful:
            out.append(
                "Omega is doubtful where its one-factor fit is improper: "
                + "; ".join(f"{d}: {', '.join(w)}" for d, w in doubtful.items())
                + "."
            )
        c = self.cfa
        if hasattr(c, "cfi") and c.df == 0:
            out.append(
                "CFA: the model is just identified (df = 0): its fit is not testable "
                "(chi-square, CFI, TLI, RMSEA and SRMR are uninformative)."
            )
        elif hasattr(c, "cfi"):
            cfi, rmsea, lab = c.cfi, c.rmsea, ""
            if getattr(c, "estimator", "ml") == "wlsmv":  # ordered items: the scaled test
                cfi, rmsea, lab = c.cfi_scaled, c.rmsea_scaled, " (WLSMV, scaled)"
            elif getattr(c, "estimator", "ml") == "mlr":  # robust indices where available
                if np.isfinite(c.cfi_robust):
                    cfi, rmsea, lab = c.cfi_robust, c.rmsea_robust, " (MLR, robust)"
                else:
                    cfi, rmsea, lab = c.cfi_scaled, c.rmsea_scaled, " (MLR, scaled)"
            lab += f", n = {c.n}" + (" by FIML" if getattr(c, "missing", "") == "fiml" else "")
            good = cfi >= 0.95 and rmsea <= 0.06 and c.srmr <= 0.08
            out.append(
                f"CFA{lab}: CFI = {fmt(cfi)}, RMSEA = {fmt(rmsea)}, SRMR = {fmt(c.srmr)}: "
                + (
                    "good fit by Hu & Bentler's (1999) cut-offs."
                    if good
                    else "the fit misses Hu & Bentler's (1999) good-fit cut-offs "
                    "(CFI >= .95, RMSEA <= .06, SRMR <= .08)."
                )
            )
        elif isinstance(c, Mapping) and c.get("error"):
            out.append(f"CFA could not be fitted: {c['error']}")
        inv = self.invariance
        if hasattr(inv, "verdict"):
            out.append(inv.verdict)
        elif isinstance(inv, Mapping) and inv.get("error"):
            out.append(f"Invariance could not be tested: {inv['error']}")
        out += _quality_verdicts(self)
        ix = self.index_name or "overall index"
        ti = self.trust_index
        if ti.segment_anova is not None:
            a = ti.segment_anova
            out.append(
                f"The {ix} differs across {self.settings.get('segment')} "
                f"(Welch F = {fmt(a.F, 1)}, p {fmt_p(a.p)})."
                if a.p < 0.05
                else f"No clear {ix} difference across "
                f"{self.settings.get('segment')} (Welch p {fmt_p(a.p)})."
            )
        if ti.period_change is not None and ti.period_change.comparisons:
            last = ti.period_change.comparisons[-1]
            word = "rose" if last.diff > 0 else "fell"
            sig = "a significant" if last.p_holm < 0.05 else "not a significant"
            out.append(
                f"From {last.a} to {last.b} the {ix} {word} by "
                f"{fmt(abs(last.diff), 1)} points ({sig} change, Holm-adjusted "
                f"p {fmt_p(last.p_holm)})."
            )
        for oid, od in self.drivers.outcomes.items() if self.drivers is not None else ():
            o = od.overall
            if hasattr(o, "ranking"):
                top = o.ranking[0]
                names = self.drivers.names
                out.append(
                    f"Drivers of {names.get(oid, oid)}: the dimensions explain "
                    f"R² = {fmt(o.r2, 2)}; {names.get(top, top)} explains the most "
                    f"({fmt(100 * o.lmg[top] / o.r2, 0)}% of R², LMG)."
                )
        ex = "excluded" if self.settings.get("exclude_careless") else "kept (--keep-careless)"
        out.append(
            f"Careless responding: {self.careless.n_careless} of {self.n_total} "
            f"respondents were flagged by at least {self.careless.min_flags} indicators "
            f"and {ex}."
        )
        return out

    def summary(self) -> str:
        parts = [
            f"trustmeter analysis of {self.n_responses} responses ({self.n_excluded} "
            f"excluded as careless) with instrument {self.instrument}",
            self.careless.summary(),
            self.reliability.summary(),
            self.kmo.summary(),
            self.bartlett.summary(),
            self.parallel_analysis.summary(),
            self.efa.summary(),
        ]
        for x in (self.cfa, self.invariance):
            parts.append(x.summary() if hasattr(x, "summary") else str(x))
        for x in (self.validity, self.hierarchy):
            if hasattr(x, "summary"):
                parts.append(x.summary())
        parts += [self.scores.summary(), self.trust_index.summary(), self.pct_trusting.summary()]
        if self.trust_overall_top2:
            parts.append(self.trust_overall_top2.summary())
        if self.nps:
            parts.append(self.nps.summary())
        if self.drivers is not None:
            parts.append(self.drivers.summary())
        parts.append("Verdicts:\n" + "\n".join(f"  - {v}" for v in self.verdicts))
        return "\n\n".join(parts)


#: Below these, EFA and CFA estimates are unstable (rules of thumb: at least 5 respondents
#: per item, Bentler & Chou 1987; at least 100 in all, MacCallum et al. 1999).
MIN_N_PER_ITEM = 5
MIN_N = 100


def _small_sample(what: str, n: int, k: int) -> str | None:
    if n >= MIN_N and n >= MIN_N_PER_ITEM * k:
        return None
    why = " and ".join(
        x
        for x in (
            f"fewer than {MIN_N_PER_ITEM} per item" if n < MIN_N_PER_ITEM * k else "",
            f"fewer than {MIN_N}" if n < MIN_N else "",
        )
        if x
    )
    return (
        f"Sample size: the {what} used n = {n} rows for {k} items ({why}); its estimates "
        "are unstable, treat them as provisional."
    )


#: Listwise deletion that drops more than this share of the rows gets a warning.
MAX_LISTWISE_DROP = 0.10


def _missing_data_verdicts(rep: AnalysisReport) -> list[str]:
    """A warning when listwise deletion drops more than 10% of the responses."""
    n, kept = getattr(rep, "n_responses", None), getattr(rep, "n_complete", None)
    if not n or kept is None or (n - kept) / n <= MAX_LISTWISE_DROP:
        return []
    pct = f"{100 * (n - kept) / n:.0f}%"
    c = rep.cfa
    if getattr(c, "missing", None) == "fiml":
        return [
            f"Missing data: the CFA used all n = {c.n} responses by FIML, but KMO, "
            f"Bartlett, parallel analysis and the EFA used only the {kept} of {n} "
            f"responses complete on every item (listwise deletion dropped {pct})."
        ]
    return [
        f"Missing data: listwise deletion kept only {kept} of {n} responses ({pct} "
        "dropped) for KMO, Bartlett, parallel analysis, the EFA and the CFA; the "
        "estimates are unbiased only if answers are missing completely at random. "
        "Use --missing fiml for the CFA (full-information ML over all responses)."
    ]


def _quality_verdicts(rep: AnalysisReport) -> list[str]:
    """Small samples, improper CFA solutions, validity and the single-index decision."""
    out: list[str] = _missing_data_verdicts(rep)
    k = len([it for its in rep.structure.values() for it in its])
    efa_n = getattr(rep.efa, "n", None) or rep.n_complete
    c = rep.cfa
    cfa_n = getattr(c, "n", None)
    if cfa_n is not None and cfa_n != efa_n:
        out += [v for v in (_small_sample("EFA", efa_n, k), _small_sample("CFA", cfa_n, k)) if v]
    else:
        v = _small_sample("EFA and the CFA" if cfa_n is not None else "EFA", efa_n, k)
        out += [v] if v else []
    warns = tuple(getattr(c, "warnings", ()) or ())
    improper = [
        w for w in warns if "Heywood" in w or "not positive definite" in w or "converge" in w
    ]
    if improper or (hasattr(c, "converged") and not c.converged):
        out.append(
            "CFA solution is improper: "
            + "; ".join(improper or ["not converged"])
            + ". Its loadings, composite reliability and AVE are not interpretable."
        )
    v = rep.validity
    if hasattr(v, "verdicts"):
        out += list(v.verdicts)
    elif isinstance(v, Mapping) and v.get("error"):
        out.append(f"Discriminant validity could not be assessed: {v['error']}")
    h = rep.hierarchy
    if hasattr(h, "verdict"):
        out.append(h.verdict)
    return out


def _validity_and_hierarchy(
    m_all: Moments, model, c_res, inst: Instrument, notes: list[str]
) -> tuple[Any, Any]:
    """HTMT/Fornell-Larcker and the single-index evidence; errors become notes, not crashes."""
    from .hierarchy import single_index
    from .validity import validity as _validity

    cfa_ok = c_res if hasattr(c_res, "std_loadings") else None
    try:
        v_res: Any = _validity(m_all, model, cfa_ok)
    except (AnalysisError, ValueError) as exc:
        v_res = {"error": str(exc)}
        notes.append(f"discriminant validity not assessed: {exc}")
    h_res: Any = None
    if len(model) >= 2:
        try:
            h_res = single_index(
                m_all, model, cfa_result=cfa_ok, index_name=inst.index_label() or "overall index"
            )
        except (AnalysisError, ValueError) as exc:
            h_res = {"error": str(exc)}
            notes.append(f"single-index evidence not computed: {exc}")
    return v_res, h_res


def _item_table(frame: pd.DataFrame, inst: Instrument) -> dict[str, dict[str, Any]]:
    out = {}
    n = len(frame)
    for iid in inst.dimension_item_ids:  # one column at a time: small temporaries
        v = frame[iid].to_numpy(dtype=float, na_value=np.nan)
        ok = ~np.isnan(v)
        answered = int(ok.sum())
        x = v[ok]
        mean = float(x.mean()) if answered else float("nan")
        sd = (
            float(np.sqrt(((x - mean) ** 2).sum() / (answered - 1)))
            if answered >= 2
            else float("nan")
        )
        b = inst.block_of(iid)
        out[iid] = {
            "dimension": b.id if b else None,
            "reverse": inst.item(iid).reverse,
            "n": answered,
            "missing_pct": 100 * float((n - answered) / n) if n else None,
            "mean": mean,
            "sd": sd,
        }
    return out


def _rows(frame: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """The masked rows renumbered from 0; no copy when every row is kept."""
    if mask.all():
        return frame
    return frame.loc[mask].reset_index(drop=True)


def _ids(df: pd.DataFrame, mask: np.ndarray) -> tuple:
    """``response_id`` of the masked rows if the data have one, else 1-based row numbers."""
    if "response_id" in df.columns:
        return tuple(jsonable(v) for v in df.loc[mask, "response_id"])
    return tuple(int(i) + 1 for i in np.flatnonzero(mask))


def _main_figures(
    frame: pd.DataFrame, scored: pd.DataFrame, inst: Instrument, min_items
) -> dict[str, Any]:
    """A few headline figures, for the sensitivity comparison with/without exclusion."""
    sc = score(frame, inst, min_items=min_items)
    rel = reliability_by_dimension(frame, inst)
    out = {
        "n_responses": len(frame),
        "trust_index": sc.trust_index.to_dict(),
        "alpha": {d: r.alpha for d, r in rel.dimensions.items()},
        "pct_trusting": pct_trusting(sc).pct,
    }
    item = nps_item(inst)
    if item and item in frame.columns:
        out["nps"] = nps(frame[item]).nps
    return out


def analyze(
    df: pd.DataFrame,
    inst: Instrument,
    *,
    group: str | None = None,
    segment: str | None = None,
    period: str | None = None,
    keep_careless: bool = False,
    efa_extraction: str = "minres",
    efa_rotation: str = "oblimin",
    n_factors: int | None = None,
    min_segment_n: int = 30,
    min_items: int | float | None = None,
    n_boot: int = 1000,
    seed: int | None = 0,
    n_iter: int = 20,
    min_group_n: int = 30,
    estimator: str = "ml",
    missing: str = "listwise",
    respondent_column: str | None = None,
    position_column: str | None = None,
) -> AnalysisReport:
    """Run the full psychometric and Trust Index analysis of ``df`` against ``inst``.

    Parameters
    ----------
    df : DataFrame
        Responses: item columns named by item id, plus metadata columns.
    inst : Instrument
    group : column for measurement invariance (e.g. ``"language"``).
    segment : column for the segment table, Welch ANOVA and pairwise tests.
    period : column for the period table and change versus the previous period.
    keep_careless : keep respondents flagged as careless (default: exclude them).
    efa_extraction, efa_rotation, n_factors : EFA settings; ``n_factors`` defaults to
        the number of factors parallel analysis's factor solution suggests (as
        ``psych::fa.parallel``'s ``nfact``); the EFA's congruence with the instrument's
        dimensions shows how far that structure is recovered.
    min_segment_n : groups (segments, periods) with fewer respondents are suppressed.
    min_items : answered items needed for a dimension score (see
        :func:`analysis.scores.resolve_min_items`).
    seed, n_iter : parallel analysis (psych's default: 20 random matrices).
    min_group_n : smallest group kept in the invariance test.
    estimator : CFA estimator: ``"ml"`` (default), ``"mlr"`` (ML estimates with
        Huber-White SEs and the Yuan-Bentler scaled chi-square, lavaan's MLR) or
        ``"wlsmv"`` (items as ordered categories: polychoric correlations, DWLS,
        scaled-shifted chi-square; see :func:`analysis.ordinal.cfa_wlsmv`).
    missing : CFA missing-data handling: ``"listwise"`` (default; rows complete on all
        dimension items, as KMO, Bartlett, parallel analysis and EFA) or ``"fiml"``
        (casewise ML over missing-data patterns, lavaan's ``missing = "ml"``; ML or MLR).
        The report warns when listwise deletion drops more than 10% of the rows.
    n_boot : bootstrap resamples for the CIs of the driver shares (:mod:`analysis.drivers`;
        ``seed`` seeds them; 0: no CIs; groups above 50,000 rows get none).
    respondent_column : a respondent key column (one person may rate several brands,
        one row each). When some respondent has several rows among those analysed, the
        tests across groups, which need independent rows -- the invariance test across
        ``group``, Welch's ANOVA and the pairwise Welch tests across ``segment`` -- use
        one rating per respondent (:mod:`analysis.nesting`; the report's notes and
        ``settings["nesting"]`` give n used and left out), and the driver bootstrap
        resamples whole respondents.
    position_column : the rating's place in the respondent's random brand order: the
        rating kept is the one at the lowest place (default: the respondent's first row).

    Returns
    -------
    AnalysisReport

    Raises
    ------
    AnalysisError
        A clear message for data that cannot be analysed.
    """
    if len(df) == 0:
        raise AnalysisError("the data have no rows")
    est_l = str(estimator).lower()
    if est_l not in ("ml", "mlr", "wlsmv"):
        raise AnalysisError(f"unknown CFA estimator {estimator!r}: use ml, mlr or wlsmv")
    missing = "fiml" if str(missing).lower() == "ml" else str(missing).lower()
    if missing not in ("listwise", "fiml"):
        raise AnalysisError(f"unknown missing-data method {missing!r}: use listwise or fiml")
    if est_l == "wlsmv" and missing == "fiml":
        raise AnalysisError(
            "--missing fiml works with the ml and mlr estimators, not wlsmv "
            "(WLSMV uses the rows complete on all items)"
        )
    for col, what in (
        (group, "--group"),
        (segment, "--segment"),
        (period, "--period"),
        (respondent_column, "--respondent-column"),
    ):
        if col is not None and col not in df.columns:
            raise AnalysisError(
                f"{what} column {col!r} is not in the data (columns: "
                f"{', '.join(map(str, df.columns[:12]))}"
                f"{', ...' if len(df.columns) > 12 else ''})"
            )
    df = df.reset_index(drop=True)
    # every item present, as floats, checked once, in one matrix owned here
    item_ids = [i for i in inst.item_ids if i in df.columns]
    matrix, checked_notes = checked_matrix(df, inst, item_ids, require=None, notes=True)
    checked = CheckedData(pd.DataFrame(matrix, columns=item_ids, copy=False), checked_notes)
    notes = list(checked.notes)
    cl = careless(df, inst, checked=checked)
    keep = np.ones(len(df), dtype=bool) if keep_careless else ~cl.excluded.to_numpy()
    n_excluded = 0 if keep_careless else int(cl.n_careless)
    # the sensitivity figures (careless kept if excluded, and the reverse) first, so
    # that the checked items of every row can be released before the main analysis
    other = np.ones(len(df), dtype=bool) if not keep_careless else ~cl.excluded.to_numpy()
    alternative = {
        "careless_excluded": bool(keep_careless),
        "n_excluded": int((~other).sum()),
        **_main_figures(_rows(checked.frame, other), None, inst, min_items),
    }
    # only the grouping columns of the rows kept (the items are in ``values``)
    if position_column is not None and position_column not in df.columns:
        position_column = None
    meta = list(
        dict.fromkeys(
            c for c in (group, segment, period, respondent_column, position_column) if c is not None
        )
    )
    data = _rows(df[meta], keep)
    # ratings nested in respondents: tests across groups use one rating per respondent
    nest = (
        None
        if respondent_column is None
        else one_per_respondent(data, respondent_column, position_column)
    )
    one = nest.mask if nest is not None and nest.nested else None
    if one is not None and (group is not None or segment is not None):
        assert nest is not None
        across = " and ".join(
            t
            for t in (
                f"the invariance test across {group}" if group is not None else "",
                f"the tests across {segment}" if segment is not None else "",
            )
            if t
        )
        notes.append(
            f"ratings are nested in respondents ({nest.n_ratings} ratings from "
            f"{nest.n_respondents} respondents): {across} use one rating per respondent "
            f"({nest.n_used} used, {nest.n_dropped} left out: the first in each "
            "respondent's random brand order)"
        )
    del checked
    if not keep.all():  # drop the excluded rows in place, a column at a time (no copy)
        m = int(keep.sum())
        for j in range(matrix.shape[1]):
            matrix[:m, j] = matrix[keep, j]
        matrix = matrix[:m]
    values = pd.DataFrame(matrix, columns=item_ids, copy=False)
    model = dimension_model(inst)
    dim_items = list(inst.dimension_item_ids)

    rel = reliability_by_dimension(values, inst)
    scored = reverse_key(values, inst)  # after rel: both need not exist at its peak
    m_all = Moments.from_frame(scored, dim_items)
    checked_corr(m_all, what="dimension items")
    k_res = kmo(m_all)
    b_res = bartlett_sphericity(m_all)
    pa = parallel_analysis(m_all, n_iter=n_iter, seed=seed)
    # the EFA extracts as many factors as parallel analysis's factor solution suggests
    # (psych::fa.parallel's nfact), unless n_factors is given
    nf = (
        n_factors
        if n_factors is not None
        else min(max(1, pa.n_factors or 0), max(1, len(dim_items) - 1))
    )
    e_res = efa(m_all, nf, extraction=efa_extraction, rotation=efa_rotation, structure=model)

    from .cfa import cfa as _cfa

    try:
        if est_l == "ml" and missing == "listwise":  # the moments: cost independent of n
            c_res: Any = _cfa(m_all, model)
        else:  # MLR, FIML and WLSMV need the raw answers
            c_res = _cfa(scored[dim_items], model, estimator=est_l, missing=missing)
    except ValueError as exc:
        c_res = {"error": str(exc)}
        notes.append(f"CFA not fitted: {exc}")
    v_res, h_res = _validity_and_hierarchy(m_all, model, c_res, inst, notes)
    inv_res: Any = None
    if group is not None:
        from .invariance import measurement_invariance

        gframe = scored[dim_items].assign(**{group: data[group].to_numpy()})
        if one is not None:
            gframe = gframe.loc[one].reset_index(drop=True)
        try:
            # MLR: robust (Satorra-Bentler 2001) chi-square differences between steps
            inv_est = "mlr" if str(estimator).lower() == "mlr" else "ml"
            inv_res = measurement_invariance(
                gframe, model, group, min_group_n=min_group_n, estimator=inv_est
            )
        except ValueError as exc:
            inv_res = {"group": group, "error": str(exc)}
            notes.append(f"invariance across {group} not tested: {exc}")
        del gframe
    items_table = _item_table(scored, inst)
    del scored  # the reversed columns are not needed any more

    sc = score(values, inst, min_items=min_items)
    ti = sc.frame["trust_index"].rename("trust_index")
    by_period = change = by_segment = anova = pairwise = None
    ti_notes = []
    if period is not None:
        by_period = group_table(
            ti, data[period].rename(period), min_n=min_segment_n, variable="trust_index"
        )
        if len(by_period.shown) >= 2:
            change = _period_change(ti, data[period].rename(period), min_n=min_segment_n)
    if segment is not None:
        seg = data[segment].rename(segment)
        by_segment = group_table(ti, seg, min_n=min_segment_n, variable="trust_index")
        if len(by_segment.shown) >= 2:
            ti_t, seg_t = (ti, seg) if one is None else (ti[one], seg[one])
            anova = _welch_anova(ti_t, seg_t, min_n=min_segment_n)
            pairwise = pairwise_welch(ti_t, seg_t, min_n=min_segment_n)
        else:
            ti_notes.append(
                f"fewer than 2 {segment} groups with n >= {min_segment_n}: no segment tests"
            )
    for tab in (by_period, by_segment):
        if tab is not None and tab.n_suppressed:
            ti_notes.append(
                f"{tab.n_suppressed} {tab.by} group(s) with n < {min_segment_n} suppressed"
            )
    trust = TrustIndexResult(
        sc.trust_index,
        by_period,
        by_segment,
        change,
        anova,
        pairwise,
        tuple(ti_notes),
        name=inst.index_label(),
    )
    top2 = None
    if TRUST_OVERALL in values.columns:
        s = inst.scale_for(TRUST_OVERALL)
        v = values[TRUST_OVERALL]
        top2 = proportion(
            v.where(v.isna(), v >= s.max - 1),
            name="TRUST_OVERALL top-2-box",
            definition=f"TRUST_OVERALL >= {s.max - 1} on {s.min}..{s.max}",
        )
    nps_id = nps_item(inst)
    nps_res = nps(values[nps_id]) if nps_id and nps_id in values.columns else None
    drv = None
    outs = outcome_scores(values, inst, min_items)
    if len(outs.columns):
        dims = [b.id for b in inst.dimensions]
        names = {
            b.id: (b.name.get("en") or next(iter(b.name.values()), b.id))
            for b in (*inst.dimensions, *inst.outcomes)
        }
        drv = drivers_from_scores(
            pd.concat([outs, sc.frame[dims]], axis=1),
            list(outs.columns),
            dims,
            segment=None if segment is None else data[segment].rename(segment),
            # nested ratings: resample whole respondents (else each row is its own)
            cluster=None if one is None else data[respondent_column],
            n_boot=n_boot,
            seed=seed,
            min_n=min_segment_n,
            names=names,
            max_boot_n=50_000,
        )
        notes += drv.notes
    else:
        notes.append("no outcome block of the instrument is in the data: no driver analysis")

    settings = {
        "group": group,
        "segment": segment,
        "period": period,
        "exclude_careless": not keep_careless,
        "efa_extraction": efa_extraction,
        "efa_rotation": efa_rotation,
        "n_factors": nf,
        "min_segment_n": min_segment_n,
        "min_items": dict(sc.min_items),
        "seed": seed,
        "parallel_iterations": n_iter,
        "driver_bootstrap": n_boot,
        "estimator": est_l,
        "missing": missing,
        "respondent_column": respondent_column,
        "nesting": None if nest is None else nest.to_dict(),
    }
    return AnalysisReport(
        instrument=inst.key,
        settings=settings,
        n_total=len(df),
        n_responses=len(data),
        n_excluded=n_excluded,
        careless=cl,
        items=items_table,
        reliability=rel,
        n_complete=m_all.n,
        kmo=k_res,
        bartlett=b_res,
        parallel_analysis=pa,
        efa=e_res,
        cfa=c_res,
        invariance=inv_res,
        scores=sc,
        trust_index=trust,
        pct_trusting=pct_trusting(sc),
        trust_overall_top2=top2,
        nps=nps_res,
        alternative=alternative,
        flagged_ids=_ids(df, cl.excluded.to_numpy()),
        structure={k: tuple(v) for k, v in model.items()},
        dimension_names={
            b.id: (b.name.get("en") or next(iter(b.name.values()), b.id)) for b in inst.dimensions
        },
        validity=v_res,
        hierarchy=h_res,
        title=inst.title_label(),
        index_name=inst.index_label(),
        notes=tuple(notes),
        drivers=drv,
    )
