"""Accessibility basics of the two standalone HTML reports (``analyze --html`` and
``report --html``): a ``main`` landmark, every horizontally scrolling region reachable by
keyboard and labelled, no low-contrast text colours, no inline styles or scripts."""

from __future__ import annotations

import re

import pytest
from reference_data import instrument, raw_data

LOW_CONTRAST = ("#777", "#888", "#999", "#aaa", "#bbb", "#ccc")  # < 4.5:1 on white


def _contrast(hex_colour: str) -> float:
    """WCAG contrast ratio of a #rgb/#rrggbb colour against white."""
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    rgb = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return 1.05 / (lum + 0.05)


def _check_common(html: str) -> None:
    assert html.count("<main>") == 1 and html.count("</main>") == 1
    assert html.index("<main>") < html.index("<h1") < html.index("</main>")
    assert "<script" not in html and " style=" not in html and " style='" not in html
    css = re.search(r"<style>(.*?)</style>", html, flags=re.S)[1]
    for rule in re.findall(r"[^{}]+\{[^}]*\}", css):
        sel, body = rule.split("{", 1)
        m = re.search(r"(?<!-)color:\s*(#[0-9a-fA-F]{3,6})\b", body)
        if m and "background" not in sel:
            assert _contrast(m[1]) >= 4.5, (sel.strip(), m[1])
    for c in LOW_CONTRAST:
        assert f"color: {c}" not in css


@pytest.fixture(scope="module")
def periodic_html():
    from analysis.periodic import periodic_report, render_html

    df, inst = raw_data(), instrument()
    return render_html(periodic_report(df, inst, segment="segment", n_boot=20))


@pytest.fixture(scope="module")
def analyze_html():
    from analysis.html import render_html
    from analysis.report import analyze

    df, inst = raw_data(), instrument()
    return render_html(analyze(df, inst, segment="segment", period="period", n_iter=5, n_boot=20))


def test_periodic_html(periodic_html):
    html = periodic_html
    _check_common(html)
    # .scroll is the overflow container: each is focusable and labelled
    divs = re.findall(r"<div class=\"scroll\"[^>]*>", html)
    assert len(divs) >= 10
    for d in divs:
        assert 'tabindex="0"' in d and 'role="region"' in d and 'aria-label="Table: ' in d
    labels = [re.search(r'aria-label="([^"]+)"', d)[1] for d in divs]
    assert len(set(labels)) == len(labels)  # each region told apart
    # dimension names, not codes, in tables and charts
    assert not re.search(r">(REL|HON|COM|EMP|CON)<", html)
    assert "Summary" in html and "What drives trust" in html and "Brand benchmark" in html


def test_analyze_html(analyze_html):
    html = analyze_html
    _check_common(html)
    # tables scroll themselves (display: block; overflow-x: auto)
    tables = re.findall(r"<table[^>]*>", html)
    assert tables and all('tabindex="0"' in t and 'aria-label="Table: ' in t for t in tables)
    assert "Drivers of the outcomes" in html
