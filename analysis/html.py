"""Render an :class:`~analysis.report.AnalysisReport` as one self-contained HTML file.

The page has no scripts and no external assets: its stylesheet is in the page's
``<style>`` element and the charts are :class:`analysis.svg.Chart` objects (SVG
without ``style`` attributes) that the template places. The template is
``analysis/templates/report.html`` (Jinja2).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from . import svg
from ._result import fmt, fmt_p

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _f(x, d: int = 3) -> str:
    """``fmt``, but a value that rounds to zero never shows a sign ("-0.000" -> "0.000")."""
    s = fmt(x, d)
    return s[1:] if s.startswith("-0") and not s.strip("-0.") else s


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["f"] = _f
    env.filters["p"] = fmt_p  # "< .001" or "= 0.042", after the letter p
    env.filters["pv"] = lambda p: fmt_p(p).removeprefix("= ")  # in a table cell
    env.filters["pct"] = lambda x, d=1: fmt(x, d)
    return env


def _point(g) -> tuple[float, float, float] | None:
    if g is None or getattr(g, "suppressed", False) or g.mean is None:
        return None
    return (g.mean, g.ci95[0], g.ci95[1])


def charts(report) -> dict[str, svg.Chart]:
    """The report's charts (:class:`analysis.svg.Chart`), keyed by name."""
    out: dict[str, svg.Chart] = {}
    e = report.efa
    items = list(e.loadings)
    groups = [report.items[i]["dimension"] for i in items]
    out["loadings"] = svg.heatmap(
        items,
        list(e.factors),
        [list(e.loadings[i]) for i in items],
        title=f"EFA loadings ({e.extraction}, {e.rotation})",
        row_groups=groups,
        cell=64,
    )
    dims = list(report.scores.dimensions)
    lo, hi = report.scores.scale
    out["dimensions"] = svg.bar_chart(
        [f"{d} {report.dimension_names.get(d, '')}".strip() for d in dims],
        [_point(report.scores.dimensions[d]) for d in dims],
        title="Dimension scores (mean, 95% CI)",
        x_label=f"score on the {lo}..{hi} scale",
        x_range=(lo, hi),
    )
    ti = report.trust_index
    ix = getattr(report, "index_name", None) or "Overall index"
    if ti.by_period is not None:
        cats = [g.name for g in ti.by_period.groups]
        out["period"] = svg.line_chart(
            cats,
            {ix: [_point(g) for g in ti.by_period.groups]},
            title=f"{ix} by period (mean, 95% CI)",
            y_label=f"{ix} (0-100)",
            y_range=(0, 100),
        )
    if ti.by_segment is not None:
        out["segment"] = svg.bar_chart(
            [g.name for g in ti.by_segment.groups],
            [_point(g) for g in ti.by_segment.groups],
            title=f"{ix} by {ti.by_segment.by} (mean, 95% CI)",
            x_label=f"{ix} (0-100)",
            x_range=(0, 100),
            value_format="{:.1f}",
        )
    rel = report.reliability.dimensions
    out["alpha"] = svg.bar_chart(
        list(rel),
        [(r.alpha, r.alpha_ci95[0], r.alpha_ci95[1]) for r in rel.values()],
        title="Cronbach's alpha (95% CI, Feldt)",
        x_range=(0, 1),
    )
    return out


def _get(d: Any, key: str, default=None):
    if isinstance(d, dict):
        return d.get(key, default)
    return getattr(d, key, default)


def render_html(report) -> str:
    """The report as one HTML document (a string)."""
    env = _env()
    tpl = env.get_template("report.html")
    cfa = report.cfa if hasattr(report.cfa, "cfi") else None
    inv = report.invariance if hasattr(report.invariance, "verdict") else None
    kmo_items = report.kmo.items
    efa_primary = {}
    for it, row in report.efa.loadings.items():
        j = max(range(len(row)), key=lambda k: abs(row[k]))
        efa_primary[it] = (report.efa.factors[j], row[j])
    rel_items = {i.id: i for r in report.reliability.dimensions.values() for i in r.items}
    val = getattr(report, "validity", None)
    hier = getattr(report, "hierarchy", None)
    cfa_improper = cfa is not None and (
        not cfa.converged
        or any(
            "Heywood" in w or "not positive definite" in w or "converge" in w for w in cfa.warnings
        )
    )
    return tpl.render(
        r=report,
        charts=charts(report),
        cfa=cfa,
        inv=inv,
        cfa_error=_get(report.cfa, "error") if cfa is None else None,
        inv_error=_get(report.invariance, "error") if inv is None else None,
        kmo_items=kmo_items,
        efa_primary=efa_primary,
        rel_items=rel_items,
        isfinite=lambda x: x is not None and math.isfinite(x),
        val=val if hasattr(val, "htmt") else None,
        val_error=_get(val, "error") if not hasattr(val, "htmt") else None,
        hier=hier if hasattr(hier, "verdict") else None,
        hier_error=_get(hier, "error") if not hasattr(hier, "verdict") else None,
        cfa_improper=cfa_improper,
    )
