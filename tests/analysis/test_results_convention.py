"""One result convention across the analysis package (issue 8).

Every public result class of :mod:`analysis` derives from :class:`analysis.Result`,
is a frozen dataclass, and gives a JSON-safe ``to_dict()`` (no NaN) and a readable
``summary()``. The shared test below finds every such class (walking the package's
modules, plus subclasses created at run time) and builds each one from real data
through the public functions; it fails when a new public result class is not built
here. The public exceptions are importable from :mod:`analysis`, whose import stays
cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from collections.abc import Mapping

import pytest
from reference_data import MODEL, instrument, raw_data, reverse_keyed

import analysis
from analysis import Result


def _declared() -> set[type]:
    """Public Result subclasses of the analysis package: module-level classes of every
    module, and subclasses created at run time (e.g. by class factories)."""
    out: set[type] = set()
    for m in pkgutil.iter_modules(analysis.__path__):
        mod = importlib.import_module(f"analysis.{m.name}")
        out |= {
            c
            for _, c in inspect.getmembers(mod, inspect.isclass)
            if c.__module__ == mod.__name__ and issubclass(c, Result) and c is not Result
        }
    todo = [Result]
    while todo:
        for c in todo.pop().__subclasses__():
            todo.append(c)
            if c.__module__.startswith("analysis."):
                out.add(c)
    return {c for c in out if not c.__name__.startswith("_")}


def _walk(obj, found: dict[type, list], seen: set[int]) -> None:
    """Every Result reachable from ``obj`` (fields, mappings, sequences)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Result):
        found.setdefault(type(obj), []).append(obj)
        for f in dataclasses.fields(obj):
            _walk(getattr(obj, f.name), found, seen)
    elif isinstance(obj, Mapping):
        for v in obj.values():
            _walk(v, found, seen)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _walk(v, found, seen)


@pytest.fixture(scope="module")
def built() -> dict[type, list]:
    """Results built from (a sample of) the R reference survey by the public functions."""
    from analysis.compare import pairwise_welch, period_change, welch_anova
    from analysis.drivers import drivers
    from analysis.headline import headline
    from analysis.hierarchy import single_index
    from analysis.ordinal import cfa_wlsmv, polychoric
    from analysis.periodic import periodic_report
    from analysis.report import analyze
    from analysis.scores import score
    from analysis.validity import validity

    inst = instrument()
    raw = raw_data().sample(900, random_state=1).reset_index(drop=True)
    rk = reverse_keyed(raw)
    ti = score(raw, inst).frame["trust_index"]
    results = [
        analyze(raw, inst, group="language", segment="segment", n_iter=5),
        periodic_report(raw, inst, segment="segment"),
        # also built directly, whatever analyze() includes
        drivers(raw, inst, segment="segment", n_boot=50),
        validity(rk, MODEL),
        single_index(rk, MODEL),
        polychoric(rk, ["REL1", "REL2", "REL3", "HON1"]),
        cfa_wlsmv(rk, {"REL": ["REL1", "REL2", "REL3"], "HON": ["HON1", "HON2", "HON4"]}),
        welch_anova(ti, raw["segment"]),
        pairwise_welch(ti, raw["segment"]),
        period_change(ti, raw["period"]),
        headline(raw, inst, min_n=5),
    ]
    found: dict[type, list] = {}
    seen: set[int] = set()
    for r in results:
        _walk(r, found, seen)
    return found


def test_every_public_result_class_is_built_here(built):
    declared, exercised = _declared(), set(built)
    missing = sorted(c.__qualname__ for c in declared - exercised)
    assert not missing, (
        f"public result classes not built by this test: {missing}; add a "
        "call of the public function that returns them to built()"
    )
    assert exercised <= declared | {Result}
    assert len(declared) >= 25  # the walk itself works


def test_every_result_is_frozen_with_json_to_dict_and_summary(built):
    for cls, objs in built.items():
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls
        for obj in objs:
            d = obj.to_dict()
            assert isinstance(d, dict) and d, cls
            json.dumps(d, allow_nan=False)
            s = obj.summary()
            assert isinstance(s, str) and s.strip(), cls
            assert "NA" not in s.split(), (cls, s)  # missing values print "-"


def test_public_exceptions_from_the_package():
    import analysis
    from analysis import AnalysisError, Result
    from analysis._result import AnalysisError as Private
    from analysis._result import Result as PrivateResult

    assert AnalysisError is Private and Result is PrivateResult
    assert issubclass(AnalysisError, ValueError)
    assert set(analysis.__all__) >= {"AnalysisError", "Result"}


def test_import_analysis_is_cheap():
    code = (
        "import sys, analysis; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'pandas', 'scipy', 'sklearn', 'factor_analyzer', 'survey', 'flask')); "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ----- charts ------------------------------------------------------------------------------
def _all_chart_kinds(point):
    from analysis import svg

    return [
        svg.line_chart(["Q1", "Q2"], {"A": [point, None]}, title="line"),
        svg.bar_chart(["x", "y"], [point, None], title="bars", x_range=(0, 1)),
        svg.heatmap(
            ["r"], ["c1", "c2"], [[None if point is None else point[0], None]], title="heat"
        ),
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
        assert (
            env.from_string("<figure>{{ c }}</figure>").render(c=c) == f"<figure>{c.svg}</figure>"
        )
        with pytest.raises(dataclasses.FrozenInstanceError):
            c.has_data = not c.has_data
