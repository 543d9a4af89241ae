"""Honest labels: the index's name and the title come from the instrument; weak solutions
and small samples are said so in the verdicts (issue 13, item 8)."""

from __future__ import annotations

import copy

import pytest

from instruments.loader import InstrumentError, get_instrument, instrument_from_dict
from tests.instruments.test_instruments import minimal_dict


def test_index_name_from_the_instrument():
    ct = get_instrument("customer-trust")
    assert ct.index_label() == "Trust Index"
    assert ct.index_label("ru") == "Индекс доверия"
    assert ct.title_label("en") == "Customer Trust Survey"
    demo = get_instrument("instruments/examples/big-five-demo.yaml")
    assert demo.index_label() is None  # the demo does not call its average a Trust Index
    assert demo.title_label() == "About You (five-factor demo)"


def test_index_field_is_validated():
    d = copy.deepcopy(minimal_dict())
    d["index"] = {"name": {lang: "Overall" for lang in d["languages"]}}
    assert instrument_from_dict(d).index_label() == "Overall"
    d["index"] = {"nam": {"en": "x"}}
    with pytest.raises(InstrumentError, match=r"index"):
        instrument_from_dict(d)
    d["index"] = "Trust Index"
    with pytest.raises(InstrumentError, match=r"index: must be a mapping"):
        instrument_from_dict(d)


# ----- the analysis report ---------------------------------------------------------------


def _simulate(
    items_by_dim: dict[str, list[str]], n: int, seed: int, lo: int = 1, hi: int = 6, reverse=()
):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    g = rng.normal(size=n)
    cols = {}
    for d in items_by_dim:
        f = 0.6 * g + 0.8 * rng.normal(size=n)
        for it in items_by_dim[d]:
            x = 0.7 * f + 0.7 * rng.normal(size=n)
            v = np.clip(np.round((lo + hi) / 2 + 1.2 * x), lo, hi)
            cols[it] = lo + hi - v if it in reverse else v
    return pd.DataFrame(cols)


def test_analyze_reports_validity_and_the_index_evidence_as_r():
    import json

    from analysis.report import analyze
    from tests import reference_data as rd

    ref = json.loads((rd.REF_DIR / "validity_reference.json").read_text(encoding="utf-8"))
    ref = ref["trust"]
    # R's figures keep the careless respondents and use the rows complete on the 20 items
    rep = analyze(rd.raw_data(), rd.instrument(), keep_careless=True, n_iter=5)
    d = rep.to_dict()
    assert d["index_name"] == "Trust Index"
    assert d["validity"]["n"] == ref["n"]
    for a in rd.DIMS:
        for b in rd.DIMS:
            assert d["validity"]["htmt"][a][b] == pytest.approx(ref["htmt2"][a][b], rel=1e-6)
    h = d["hierarchy"]
    assert h["decision"] == "supported"
    assert h["second_order"]["cfi"] == pytest.approx(ref["second_order"]["fit"]["cfi"], rel=1e-5)
    assert h["second_order"]["omega_l2"] == pytest.approx(
        ref["second_order"]["reliabilityL2"]["omegaL2"], rel=1e-4
    )
    assert h["omega"]["omega_h"] == pytest.approx(ref["omega"]["omega_h"], rel=1e-3)
    assert any(v.startswith("A single Trust Index is supported") for v in rep.verdicts)
    assert any(v.startswith("Discriminant validity: HTMT") for v in rep.verdicts)
    json.dumps(d, allow_nan=False)


def test_unnamed_index_and_small_sample():
    from analysis.html import render_html
    from analysis.report import analyze

    demo = get_instrument("instruments/examples/big-five-demo.yaml")
    model = {b.id: [i.id for i in b.items] for b in demo.dimensions}
    rev = {i.id for b in demo.dimensions for i in b.items if i.reverse}
    df = _simulate(model, 70, seed=3, reverse=rev)
    rep = analyze(df, demo, n_iter=5)
    text = "\n".join(rep.verdicts)
    assert "Trust Index" not in text and "Trust Index" not in rep.summary()
    assert (
        "Sample size: the EFA and the CFA used n = 70 rows for 20 items (fewer than 5 per "
        "item and fewer than 100)" in text
    )
    assert rep.to_dict()["index_name"] is None
    html = render_html(rep)
    assert "Trust Index" not in html and "Customer trust" not in html
    assert "<h1>About You (five-factor demo): analysis</h1>" in html
    assert "Overall index" in html
    assert "trusting" not in html.replace("pct_trusting", "")
    assert "% in the top two boxes" in html


def test_just_identified_cfa_is_not_called_a_good_fit():
    from analysis.report import analyze

    d = copy.deepcopy(minimal_dict())
    d["dimensions"] = [d["dimensions"][0]]
    d["dimensions"][0]["items"].append(
        {"id": "A3", "construct": "ability", "text": {"en": "Third.", "ru": "Третий."}}
    )
    d.pop("pages", None)
    inst = instrument_from_dict(d)
    df = _simulate({"A": ["A1", "A2", "A3"]}, 300, seed=4, hi=5)
    rep = analyze(df, inst, n_iter=5)
    assert rep.cfa.df == 0
    cfa_verdicts = [v for v in rep.verdicts if v.startswith("CFA")]
    assert cfa_verdicts == [
        "CFA: the model is just identified (df = 0): its fit is not "
        "testable (chi-square, CFI, TLI, RMSEA and SRMR are "
        "uninformative)."
    ]
    assert not any("good fit" in v for v in rep.verdicts)
    assert rep.hierarchy is None  # one dimension: nothing to combine


def test_improper_cfa_and_small_n_verdicts():
    from types import SimpleNamespace

    from analysis.report import _quality_verdicts

    cfa = SimpleNamespace(
        n=40, converged=True, warnings=("Heywood case: negative residual variance for A1 (-0.05)",)
    )
    rep = SimpleNamespace(
        structure={"A": ("A1", "A2", "A3"), "B": ("B1", "B2", "B3")},
        efa=SimpleNamespace(n=45),
        n_complete=45,
        cfa=cfa,
        validity=None,
        hierarchy=None,
    )
    out = _quality_verdicts(rep)
    assert out[0].startswith("Sample size: the EFA used n = 45 rows for 6 items (fewer than 100)")
    assert out[1].startswith("Sample size: the CFA used n = 40")
    assert out[2].startswith(
        "CFA solution is improper: Heywood case: negative residual variance for A1"
    )
    assert "composite reliability and AVE are not interpretable" in out[2]
    cfa = SimpleNamespace(n=45, converged=False, warnings=())
    out = _quality_verdicts(SimpleNamespace(**{**rep.__dict__, "cfa": cfa}))
    assert out[-1].startswith("CFA solution is improper: not converged")
