"""Small server-side SVG chart helpers (no JavaScript, no external assets).

Generic on purpose, so any report can reuse them:

* :func:`line_chart` - lines over ordered categories (e.g. periods) with CI bands;
* :func:`bar_chart` - horizontal bars with error bars;
* :func:`heatmap` - a matrix of coloured cells with their values (e.g. loadings);
* :func:`dot_compare_chart` - dots with CI whiskers, several series per row (e.g. two periods);
* :func:`priority_matrix` - importance against current score per item, with the
  "important and weak" quadrant called out in words ("Fix first: ...").

Each returns a :class:`Chart`: the ``<svg>`` markup with its title, a short text
description and ``has_data`` (whether it shows any figure, decided from the data it
was given). Renderers place it as it is: it has ``__html__``, so Jinja inserts it
without escaping. All text in the SVG is XML-escaped, and the SVG carries no
``style`` attribute (the web pages' Content-Security-Policy forbids inline styles):
only presentation attributes, and the class ``chart`` with ``width``/``height`` in
pixels and a ``viewBox``; a stylesheet rule ``svg.chart { max-width: 100%; height:
auto; }`` lets it shrink with the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
FONT = "font-family='system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'"

Point = tuple[float, float, float] | None  # (value, lower, upper); None = no figure


@dataclass(frozen=True)
class Chart:
    """One SVG chart, ready to place in a page.

    Attributes
    ----------
    svg : str
        The ``<svg>`` element (escaped text, no ``style`` attributes, no scripts).
    title : str
        The chart's title (also its ``<title>`` and ``aria-label``).
    description : str
        A one-line text description of what is drawn (also the SVG's ``<desc>``).
    has_data : bool
        Whether the chart shows at least one figure; a chart whose every point is
        missing (e.g. suppressed) has ``False`` and is usually left out.
    width, height : int
        Natural size in pixels (the ``viewBox``).
    """

    svg: str
    title: str
    description: str
    has_data: bool
    width: int
    height: int

    def __html__(self) -> str:
        return self.svg

    def __str__(self) -> str:
        return self.svg


def _shown(p: Point) -> bool:
    return p is not None and p[0] is not None and math.isfinite(p[0])


def _chart(
    out: list[str], title: str, description: str, has_data: bool, width: int, height: int
) -> Chart:
    out.insert(2, f"<desc>{_e(description)}</desc>")
    out.append("</svg>")
    return Chart("\n".join(out), title, description, has_data, int(width), int(height))


def _e(s) -> str:
    return escape(str(s), quote=True)


def _num(value_format: str, v: float) -> str:
    """Format a number, without a minus sign on a value that rounds to zero."""
    s = value_format.format(v)
    return s[1:] if s.startswith("-") and not any(c in s for c in "123456789") else s


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' "
        f"width='{width}' height='{height}' class='chart' role='img' "
        f"aria-label='{_e(title)}' {FONT} font-size='12'>",
        f"<title>{_e(title)}</title>",
        f"<text x='{width / 2:.1f}' y='18' text-anchor='middle' font-size='14' "
        f"font-weight='600'>{_e(title)}</text>",
    ]


def line_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[Point]],
    *,
    title: str = "",
    y_label: str = "",
    y_range: tuple[float, float] | None = None,
    width: int = 640,
    height: int = 320,
    value_format: str = "{:.1f}",
) -> Chart:
    """Lines over ordered ``categories`` with a shaded confidence band per series.

    ``series`` maps a name to one ``(value, lower, upper)`` per category, or
    ``None`` where there is no figure (e.g. a suppressed group): the line breaks there.
    """
    ml, mr, mt, mb = 60, 20 + (110 if len(series) > 1 else 0), 34, 48
    pw, ph = width - ml - mr, height - mt - mb
    vals = [
        v
        for pts in series.values()
        for p in pts
        if p is not None
        for v in p
        if v is not None and math.isfinite(v)
    ]
    lo, hi = y_range if y_range else ((min(vals), max(vals)) if vals else (0.0, 1.0))
    if not y_range:
        pad = (hi - lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    ticks = _nice_ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    n = len(categories)

    def x(i: int) -> float:
        return ml + (pw * (i + 0.5) / n if n else 0)

    def y(v: float) -> float:
        return mt + ph * (1 - (v - lo) / (hi - lo))

    out = _open(width, height, title)
    for t in ticks:
        out.append(
            f"<line x1='{ml}' x2='{ml + pw}' y1='{y(t):.1f}' y2='{y(t):.1f}' "
            f"stroke='#e5e5e5'/><text x='{ml - 6}' y='{y(t) + 4:.1f}' "
            f"text-anchor='end' fill='#555'>{_e(f'{t:g}')}</text>"
        )
    out.append(f"<line x1='{ml}' x2='{ml}' y1='{mt}' y2='{mt + ph}' stroke='#999'/>")
    out.append(f"<line x1='{ml}' x2='{ml + pw}' y1='{mt + ph}' y2='{mt + ph}' stroke='#999'/>")
    for i, c in enumerate(categories):
        out.append(
            f"<text x='{x(i):.1f}' y='{mt + ph + 18}' text-anchor='middle' "
            f"fill='#333'>{_e(c)}</text>"
        )
    if y_label:
        out.append(
            f"<text transform='translate(14 {mt + ph / 2:.1f}) rotate(-90)' "
            f"text-anchor='middle' fill='#333'>{_e(y_label)}</text>"
        )
    for s, (name, pts) in enumerate(series.items()):
        col = PALETTE[s % len(PALETTE)]
        runs: list[list[int]] = [[]]
        for i, p in enumerate(pts):
            if p is None or p[0] is None:
                runs.append([])
            else:
                runs[-1].append(i)
        for run in runs:
            if not run:
                continue
            if all(pts[i][1] is not None and pts[i][2] is not None for i in run):
                upper = " ".join(f"{x(i):.1f},{y(pts[i][2]):.1f}" for i in run)
                lower = " ".join(f"{x(i):.1f},{y(pts[i][1]):.1f}" for i in reversed(run))
                out.append(
                    f"<polygon points='{upper} {lower}' fill='{col}' "
                    "fill-opacity='0.15' stroke='none'/>"
                )
                for i in run:
                    out.append(
                        f"<line x1='{x(i):.1f}' x2='{x(i):.1f}' y1='{y(pts[i][1]):.1f}' "
                        f"y2='{y(pts[i][2]):.1f}' stroke='{col}' stroke-opacity='0.5'/>"
                    )
            if len(run) > 1:
                path = " ".join(f"{x(i):.1f},{y(pts[i][0]):.1f}" for i in run)
                out.append(
                    f"<polyline points='{path}' fill='none' stroke='{col}' stroke-width='2'/>"
                )
            for i in run:
                v = pts[i][0]
                out.append(
                    f"<circle cx='{x(i):.1f}' cy='{y(v):.1f}' r='3.5' fill='{col}'>"
                    f"<title>{_e(name)} {_e(categories[i])}: "
                    f"{_e(_num(value_format, v))}</title></circle>"
                )
                if len(series) == 1:
                    out.append(
                        f"<text x='{x(i):.1f}' y='{y(v) - 8:.1f}' text-anchor='middle' "
                        f"fill='#222'>{_e(_num(value_format, v))}</text>"
                    )
        for i, p in enumerate(pts):
            if p is None:
                out.append(
                    f"<text x='{x(i):.1f}' y='{mt + ph - 6}' text-anchor='middle' "
                    "fill='#999' font-style='italic'>suppressed</text>"
                )
        if len(series) > 1:
            ly = mt + 10 + 18 * s
            out.append(
                f"<line x1='{ml + pw + 12}' x2='{ml + pw + 30}' y1='{ly}' y2='{ly}' "
                f"stroke='{col}' stroke-width='2'/><text x='{ml + pw + 34}' "
                f"y='{ly + 4}'>{_e(name)}</text>"
            )
    shown = sum(_shown(p) for pts in series.values() for p in pts)
    total = sum(len(pts) for pts in series.values())
    desc = (
        f"Line chart of {len(series)} series ({', '.join(map(str, series))}) over "
        f"{n} categories; {shown} of {total} points shown"
        + (f", {total - shown} missing" if shown < total else "")
        + "."
    )
    return _chart(out, title, desc, shown > 0, width, height)


def bar_chart(
    labels: Sequence[str],
    points: Sequence[Point],
    *,
    title: str = "",
    x_label: str = "",
    x_range: tuple[float, float] | None = None,
    width: int = 640,
    bar_height: int = 22,
    value_format: str = "{:.2f}",
    note_missing: str = "suppressed",
) -> Chart:
    """Horizontal bars (one per label) with error bars from ``(value, lower, upper)``.

    A ``None`` point is drawn as the text ``note_missing`` with no bar.
    """
    ml = 20 + 8 * max((len(str(lab)) for lab in labels), default=4)
    mr, mt, mb = 70, 34, 40
    height = mt + mb + bar_height * len(labels) + 8
    pw = width - ml - mr
    vals = [v for p in points if p is not None for v in p if v is not None and math.isfinite(v)]
    if x_range:
        lo, hi = x_range
        ticks = [t for t in _nice_ticks(lo, hi, 6) if lo - 1e-9 <= t <= hi + 1e-9]
    else:
        lo, hi = (min(0.0, *vals) if vals else 0.0, max(vals) * 1.05 if vals else 1.0)
        ticks = _nice_ticks(lo, hi)
        lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])

    def x(v: float) -> float:
        return ml + pw * (v - lo) / (hi - lo)

    out = _open(width, height, title)
    bottom = mt + bar_height * len(labels) + 4
    for t in ticks:
        out.append(
            f"<line x1='{x(t):.1f}' x2='{x(t):.1f}' y1='{mt}' y2='{bottom}' "
            f"stroke='#e5e5e5'/><text x='{x(t):.1f}' y='{bottom + 16}' "
            f"text-anchor='middle' fill='#555'>{_e(f'{t:g}')}</text>"
        )
    for i, (lab, p) in enumerate(zip(labels, points, strict=True)):
        yc = mt + bar_height * i + bar_height / 2 + 2
        out.append(
            f"<text x='{ml - 6}' y='{yc + 4:.1f}' text-anchor='end' fill='#333'>{_e(lab)}</text>"
        )
        if p is None or p[0] is None:
            out.append(
                f"<text x='{ml + 4}' y='{yc + 4:.1f}' fill='#999' "
                f"font-style='italic'>{_e(note_missing)}</text>"
            )
            continue
        v, plo, phi = p
        x0 = x(max(lo, 0.0)) if lo <= 0 else x(lo)
        out.append(
            f"<rect x='{min(x0, x(v)):.1f}' y='{yc - bar_height * 0.35:.1f}' "
            f"width='{abs(x(v) - x0):.1f}' height='{bar_height * 0.7:.1f}' "
            f"fill='{PALETTE[0]}' fill-opacity='0.75'><title>{_e(lab)}: "
            f"{_e(_num(value_format, v))}</title></rect>"
        )
        if plo is not None and phi is not None:
            out.append(
                f"<line x1='{x(plo):.1f}' x2='{x(phi):.1f}' y1='{yc:.1f}' y2='{yc:.1f}' "
                "stroke='#222' stroke-width='1.5'/>"
            )
            for e in (plo, phi):
                out.append(
                    f"<line x1='{x(e):.1f}' x2='{x(e):.1f}' y1='{yc - 5:.1f}' "
                    f"y2='{yc + 5:.1f}' stroke='#222' stroke-width='1.5'/>"
                )
        edge = x(phi) if phi is not None else x(v)
        out.append(
            f"<text x='{edge + 6:.1f}' y='{yc + 4:.1f}' "
            f"fill='#222'>{_e(_num(value_format, v))}</text>"
        )
    if x_label:
        out.append(
            f"<text x='{ml + pw / 2:.1f}' y='{height - 6}' text-anchor='middle' "
            f"fill='#333'>{_e(x_label)}</text>"
        )
    shown = sum(_shown(p) for p in points)
    desc = (
        f"Bar chart of {len(labels)} bars; {shown} shown"
        + (f", {len(labels) - shown} {note_missing}" if shown < len(labels) else "")
        + "."
    )
    return _chart(out, title, desc, shown > 0, width, height)


def _diverging(v: float, vmin: float, vmax: float) -> str:
    """White at 0, red for positive, blue for negative values."""
    if v is None or not math.isfinite(v):
        return "#f0f0f0"
    t = v / vmax if v >= 0 else v / abs(vmin)
    t = max(-1.0, min(1.0, t))
    target = (178, 24, 43) if t >= 0 else (33, 102, 172)
    a = abs(t)
    r, g, b = (round(255 + (c - 255) * a) for c in target)
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    title: str = "",
    vmin: float = -1.0,
    vmax: float = 1.0,
    cell: int = 46,
    value_format: str = "{:.2f}",
    row_groups: Sequence[str] | None = None,
) -> Chart:
    """A matrix of cells coloured on a diverging scale (blue < 0 < red), values printed.

    ``row_groups`` (one label per row) draws a separator where the group changes,
    e.g. between the items of different dimensions.
    """
    ml = 20 + 8 * max((len(str(lab)) for lab in row_labels), default=4)
    mt, mb = 64, 30
    ch = 20
    width = ml + cell * len(col_labels) + 20
    height = mt + ch * len(row_labels) + mb
    out = _open(width, height, title)
    for j, c in enumerate(col_labels):
        out.append(
            f"<text x='{ml + cell * j + cell / 2:.1f}' y='{mt - 8}' "
            f"text-anchor='middle' fill='#333'>{_e(c)}</text>"
        )
    for i, r in enumerate(row_labels):
        yy = mt + ch * i
        out.append(
            f"<text x='{ml - 6}' y='{yy + ch / 2 + 4:.1f}' text-anchor='end' "
            f"fill='#333'>{_e(r)}</text>"
        )
        for j, _ in enumerate(col_labels):
            v = values[i][j]
            fill = _diverging(v, vmin, vmax)
            dark = v is not None and math.isfinite(v) and abs(v) > 0.55 * max(vmax, -vmin)
            txt = "" if v is None or not math.isfinite(v) else _num(value_format, v)
            out.append(
                f"<rect x='{ml + cell * j}' y='{yy}' width='{cell}' height='{ch}' "
                f"fill='{fill}' stroke='#fff'><title>{_e(r)} / {_e(col_labels[j])}: "
                f"{_e(txt)}</title></rect><text x='{ml + cell * j + cell / 2:.1f}' "
                f"y='{yy + ch / 2 + 4:.1f}' text-anchor='middle' font-size='11' "
                f"fill='{'#fff' if dark else '#222'}'>{_e(txt)}</text>"
            )
        if row_groups is not None and i > 0 and row_groups[i] != row_groups[i - 1]:
            out.append(
                f"<line x1='{ml - 4}' x2='{ml + cell * len(col_labels)}' y1='{yy}' "
                f"y2='{yy}' stroke='#333' stroke-width='1.2'/>"
            )
    ly = mt + ch * len(row_labels) + 16
    for k, v in enumerate((vmin, vmin / 2, 0.0, vmax / 2, vmax)):
        out.append(
            f"<rect x='{ml + 40 * k}' y='{ly - 10}' width='40' height='10' "
            f"fill='{_diverging(v, vmin, vmax)}' stroke='#ccc'/><text "
            f"x='{ml + 40 * k + 20}' y='{ly + 12}' text-anchor='middle' font-size='10' "
            f"fill='#555'>{_e(f'{v:g}')}</text>"
        )
    shown = sum(v is not None and math.isfinite(v) for row in values for v in row)
    desc = f"Heatmap of {len(row_labels)} rows by {len(col_labels)} columns; {shown} values shown."
    return _chart(out, title, desc, shown > 0, width, height)


def dot_compare_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[Point]],
    *,
    title: str = "",
    x_label: str = "",
    x_range: tuple[float, float] | None = None,
    width: int = 640,
    row_height: int = 30,
    value_format: str = "{:.2f}",
    note_missing: str = "suppressed",
) -> Chart:
    """Dots with CI whiskers, one row per label and one dot per series (e.g. two periods).

    ``series`` maps a name to one ``(value, lower, upper)`` per label, or ``None``
    where there is no figure: the row then says ``note_missing`` for that series.
    A legend names the series; their dots are offset vertically within the row.
    """
    names = list(series)
    ml = 20 + 8 * max((len(str(lab)) for lab in labels), default=4)
    mr, mt, mb = 60, 34 + 18 * ((len(names) + 2) // 3), 40
    height = mt + mb + row_height * len(labels) + 4
    pw = width - ml - mr
    vals = [
        v
        for pts in series.values()
        for p in pts
        if p is not None
        for v in p
        if v is not None and math.isfinite(v)
    ]
    if x_range:
        lo, hi = x_range
    else:
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        pad = (hi - lo) * 0.08 or 0.5
        lo, hi = lo - pad, hi + pad
    ticks = [t for t in _nice_ticks(lo, hi, 6) if lo - 1e-9 <= t <= hi + 1e-9]

    def x(v: float) -> float:
        return ml + pw * (v - lo) / (hi - lo)

    out = _open(width, height, title)
    for s, name in enumerate(names):
        lx = ml + 150 * (s % 3)
        ly = 34 + 18 * (s // 3)
        out.append(
            f"<circle cx='{lx + 6}' cy='{ly}' r='4.5' fill='{PALETTE[s % len(PALETTE)]}'/>"
            f"<text x='{lx + 16}' y='{ly + 4}' fill='#333'>{_e(name)}</text>"
        )
    bottom = mt + row_height * len(labels)
    for t in ticks:
        out.append(
            f"<line x1='{x(t):.1f}' x2='{x(t):.1f}' y1='{mt}' y2='{bottom}' "
            f"stroke='#e5e5e5'/><text x='{x(t):.1f}' y='{bottom + 16}' "
            f"text-anchor='middle' fill='#555'>{_e(f'{t:g}')}</text>"
        )
    k = max(len(names), 1)
    for i, lab in enumerate(labels):
        top = mt + row_height * i
        out.append(
            f"<text x='{ml - 6}' y='{top + row_height / 2 + 4:.1f}' text-anchor='end' "
            f"fill='#333'>{_e(lab)}</text>"
        )
        for s, name in enumerate(names):
            col = PALETTE[s % len(PALETTE)]
            yc = top + row_height * (s + 1) / (k + 1)
            p = series[name][i]
            if p is None or p[0] is None:
                out.append(
                    f"<text x='{ml + 4}' y='{yc + 4:.1f}' fill='#999' font-size='11' "
                    f"font-style='italic'>{_e(name)}: {_e(note_missing)}</text>"
                )
                continue
            v, plo, phi = p
            if plo is not None and phi is not None:
                out.append(
                    f"<line x1='{x(plo):.1f}' x2='{x(phi):.1f}' y1='{yc:.1f}' "
                    f"y2='{yc:.1f}' stroke='{col}' stroke-width='1.5'/>"
                )
            out.append(
                f"<circle cx='{x(v):.1f}' cy='{yc:.1f}' r='4' fill='{col}'><title>"
                f"{_e(lab)} {_e(name)}: {_e(_num(value_format, v))}</title></circle>"
            )
            edge = x(phi) if phi is not None else x(v)
            out.append(
                f"<text x='{edge + 6:.1f}' y='{yc + 4:.1f}' font-size='11' "
                f"fill='#222'>{_e(_num(value_format, v))}</text>"
            )
    if x_label:
        out.append(
            f"<text x='{ml + pw / 2:.1f}' y='{height - 6}' text-anchor='middle' "
            f"fill='#333'>{_e(x_label)}</text>"
        )
    shown = sum(_shown(p) for pts in series.values() for p in pts)
    total = sum(len(pts) for pts in series.values())
    desc = (
        f"Dot chart of {len(labels)} rows by {len(names)} series "
        f"({', '.join(map(str, names))}); {shown} of {total} points shown"
        + (f", {total - shown} {note_missing}" if shown < total else "")
        + "."
    )
    return _chart(out, title, desc, shown > 0, width, height)


def priority_matrix(
    labels: Sequence[str],
    importance: Sequence[float],
    scores: Sequence[float],
    *,
    importance_cut: float,
    score_cut: float,
    scale: tuple[float, float],
    title: str = "",
    x_label: str = "current score",
    y_label: str = "importance",
    callout: str | None = None,
    width: int = 640,
    height: int = 400,
    value_format: str = "{:.0f}%",
) -> Chart:
    """Importance (y) against current score (x), one labelled dot per item.

    Dashed lines at ``importance_cut`` and ``score_cut`` make four quadrants; the top
    left one (more important, weaker) is shaded and named "Fix first", and
    ``callout`` (e.g. ``"Fix first: Honesty & transparency"``) is printed under the
    title. The importance axis starts at 0. The score axis shows the range of the
    scores: when it does not start at the scale's minimum (``scale[0]``), a break
    (two slanted strokes) is drawn at its left end and the axis label says so.
    """
    ml, mr, mt, mb = 64, 24, 58, 58
    pw, ph = width - ml - mr, height - mt - mb
    pts = [
        (lab, float(i), float(s))
        for lab, i, s in zip(labels, importance, scores, strict=True)
        if i is not None and s is not None and math.isfinite(i) and math.isfinite(s)
    ]
    svals = [p[2] for p in pts] + [score_cut]
    # at least a sixth of the scale wide (one point on 1-7), so that small differences
    # in score do not look large
    mid = (max(svals) + min(svals)) / 2
    half = max(0.625 * (max(svals) - min(svals)), (scale[1] - scale[0]) / 12)
    xlo, xhi = max(scale[0], mid - half), min(scale[1], mid + half)
    if xhi <= xlo:
        xlo, xhi = scale
    ymax = max([p[1] for p in pts] + [importance_cut]) * 1.2 or 1.0
    xt = [t for t in _nice_ticks(xlo, xhi, 5) if xlo - 1e-9 <= t <= xhi + 1e-9]
    yt = [t for t in _nice_ticks(0, ymax, 5) if t <= ymax + 1e-9]

    def x(v: float) -> float:
        return ml + pw * (v - xlo) / (xhi - xlo)

    def y(v: float) -> float:
        return mt + ph * (1 - v / ymax)

    out = _open(width, height, title)
    if callout:
        out.append(
            f"<text x='{width / 2:.1f}' y='38' text-anchor='middle' font-size='13' "
            f"font-weight='600' fill='#8a1c1c'>{_e(callout)}</text>"
        )
    cx, cy = x(score_cut), y(importance_cut)
    out.append(
        f"<rect x='{ml}' y='{mt}' width='{cx - ml:.1f}' height='{cy - mt:.1f}' fill='#fdecea'/>"
    )
    for t in yt:
        out.append(
            f"<line x1='{ml}' x2='{ml + pw}' y1='{y(t):.1f}' y2='{y(t):.1f}' "
            f"stroke='#ececec'/><text x='{ml - 6}' y='{y(t) + 4:.1f}' text-anchor='end' "
            f"fill='#555'>{_e(_num(value_format, t))}</text>"
        )
    for t in xt:
        out.append(
            f"<text x='{x(t):.1f}' y='{mt + ph + 16}' text-anchor='middle' "
            f"fill='#555'>{_e(f'{t:g}')}</text>"
        )
    out.append(f"<line x1='{ml}' x2='{ml}' y1='{mt}' y2='{mt + ph}' stroke='#767676'/>")
    out.append(f"<line x1='{ml}' x2='{ml + pw}' y1='{mt + ph}' y2='{mt + ph}' stroke='#767676'/>")
    broken = xlo > scale[0] + 1e-9
    if broken:  # axis break: two slanted strokes near the origin
        for dx in (6, 11):
            out.append(
                f"<line x1='{ml + dx - 3}' x2='{ml + dx + 3}' y1='{mt + ph + 5}' "
                f"y2='{mt + ph - 5}' stroke='#333' stroke-width='1.5'/>"
            )
    out.append(
        f"<line x1='{cx:.1f}' x2='{cx:.1f}' y1='{mt}' y2='{mt + ph}' stroke='#767676' "
        "stroke-dasharray='4 3'/>"
    )
    out.append(
        f"<line x1='{ml}' x2='{ml + pw}' y1='{cy:.1f}' y2='{cy:.1f}' stroke='#767676' "
        "stroke-dasharray='4 3'/>"
    )
    for text, xx, yy, anchor in (
        ("Fix first", ml + 6, mt + 14, "start"),
        ("Maintain", ml + pw - 6, mt + 14, "end"),
        ("Monitor", ml + 6, mt + ph - 8, "start"),
        ("Lower priority", ml + pw - 6, mt + ph - 8, "end"),
    ):
        col = "#8a1c1c" if text == "Fix first" else "#555"
        out.append(
            f"<text x='{xx}' y='{yy}' text-anchor='{anchor}' fill='{col}' "
            f"font-weight='{600 if text == 'Fix first' else 400}'>{_e(text)}</text>"
        )
    # label boxes (and the dots) already drawn, to keep labels from overlapping them
    placed = [(x(s) - 6, y(i) - 6, x(s) + 6, y(i) + 6) for _, i, s in pts]
    for lab, imp, sc in sorted(pts, key=lambda p: -p[1]):
        weak = imp > importance_cut and sc < score_cut
        col = "#b42318" if weak else PALETTE[0]
        px, py = x(sc), y(imp)
        out.append(
            f"<circle cx='{px:.1f}' cy='{py:.1f}' r='5' fill='{col}'><title>"
            f"{_e(lab)}: importance {_e(_num(value_format, imp))}, score "
            f"{_e(f'{sc:.2f}')}</title></circle>"
        )
        w = 7 * len(str(lab))
        tries = [
            (px + 8, py + 4, "start"),
            (px - 8, py + 4, "end"),
            (px - w / 2, py - 9, "start"),
            (px - w / 2, py + 17, "start"),
        ]
        if px > ml + pw * 0.7:
            tries[0], tries[1] = tries[1], tries[0]
        for tx, ty, anchor in tries:
            x0 = tx if anchor == "start" else tx - w
            box = (x0, ty - 11, x0 + w, ty + 2)
            if not any(
                box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed
            ):
                break
        placed.append(box)
        out.append(
            f"<text x='{tx:.1f}' y='{ty:.1f}' text-anchor='{anchor}' fill='#222'>{_e(lab)}</text>"
        )
    xl = x_label + (
        f" (axis broken: starts at {xlo:.2f}; scale {scale[0]:g}-{scale[1]:g})" if broken else ""
    )
    out.append(
        f"<text x='{ml + pw / 2:.1f}' y='{height - 10}' text-anchor='middle' "
        f"fill='#333'>{_e(xl)}</text>"
    )
    out.append(
        f"<text transform='translate(16 {mt + ph / 2:.1f}) rotate(-90)' "
        f"text-anchor='middle' fill='#333'>{_e(y_label)}</text>"
    )
    fix = [lab for lab, imp, sc in pts if imp > importance_cut and sc < score_cut]
    desc = (
        f"Priority matrix of {len(pts)} items: importance against current score. "
        + (callout or ("Fix first: " + ", ".join(fix) if fix else "Fix first: none"))
        + "."
    )
    return _chart(out, title, desc, bool(pts), width, height)
