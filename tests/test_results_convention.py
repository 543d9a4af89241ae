"""One result convention across the analysis package (issue 8).

Every public result class of :mod:`analysis` derives from :class:`analysis.Result`,
is a frozen dataclass, and gives a JSON-safe ``to_dict()`` and a readable
``summary()``. The public exceptions are importable from :mod:`analysis`, whose
import stays cheap.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest


def test_public_exceptions_from_the_package():
    import analysis
    from analysis import AnalysisError, Result
    from analysis._result import AnalysisError as Private
    from analysis._result import Result as PrivateResult

    assert AnalysisError is Private and Result is PrivateResult
    assert issubclass(AnalysisError, ValueError)
    assert set(analysis.__all__) >= {"AnalysisError", "Result"}


def test_import_analysis_is_cheap():
    code = ("import sys, analysis; "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'pandas', 'scipy', 'sklearn', 'factor_analyzer', 'survey', 'flask')); "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


# ----- charts ------------------------------------------------------------------------------
def _all_chart_kinds(point):
    from analysis import svg

    return [
        svg.line_chart(["Q1", "Q2"], {"A": [point, None]}, title="line"),
        svg.bar_chart(["x", "y"], [point, None], title="bars", x_range=(0, 1)),
        svg.heatmap(["r"], ["c1", "c2"], [[None if point is None else point[0], None]],
                    title="heat"),
        svg.dot_compare_chart(["x"], {"a": [point], "b": [None]}, title="dots"),
    ]


@pytest.mark.parametrize("point", [(0.5, 0.4, 0.6), None])
def test_charts_are_objects_that_know_whether_they_have_data(point):
    import re
    import xml.etree.ElementTree as ET

    from jinja2 import Environment
    from markupsafe import Markup

    from analysis.svg import Chart

    env = Environment(autoescape=True)
    for c in _all_chart_kinds(point):
        assert isinstance(c, Chart)
        assert c.has_data is (point is not None), c.title
        # no style= attribute anywhere (CSP), presentation attributes only
        assert not re.search(r"""\sstyle\s*=""", c.svg, re.I)
        root = ET.fromstring(c.svg)
        assert root.get("class") == "chart" and root.get("width") == str(c.width)
        ns = "{http://www.w3.org/2000/svg}"
        assert root.find(f"{ns}title").text == c.title
        assert root.find(f"{ns}desc").text == c.description and c.description
        # renderers place the object as it is
        assert str(Markup(c)) == c.svg == str(c)
        assert env.from_string("<figure>{{ c }}</figure>").render(c=c) == \
            f"<figure>{c.svg}</figure>"
        with pytest.raises(dataclasses.FrozenInstanceError):
            c.has_data = not c.has_data
