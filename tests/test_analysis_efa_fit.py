"""EFA fitting without factor_analyzer's FactorAnalyzer.fit (issue 8): Heywood cases and
non-convergence are reported in the result, not silenced. Agreement with psych is
tested in test_analysis_reference.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import _fa
from analysis.efa import efa


def _heywood_data(n: int = 600) -> pd.DataFrame:
    # one factor, three items: lambda_a^2 = r_ab r_ac / r_bc = .8 * .8 / .4 = 1.6 > 1
    r = np.array([[1.0, 0.8, 0.8], [0.8, 1.0, 0.4], [0.8, 0.4, 1.0]])
    x = np.random.default_rng(3).multivariate_normal(np.zeros(3), r, size=n)
    return pd.DataFrame(x, columns=["a", "b", "c"])


@pytest.mark.parametrize("extraction", ["ml", "minres"])
def test_heywood_case_is_reported(extraction):
    res = efa(_heywood_data(), 1, extraction=extraction, rotation="none")
    assert res.uniquenesses["a"] <= 0.005 + 1e-4  # at the lower bound, as psych/factanal
    heywood = [w for w in res.warnings if w.startswith("Heywood case")]
    assert len(heywood) == 1 and "a " in heywood[0], res.warnings
    assert "Heywood case" in res.summary()
    d = res.to_dict()
    assert d["warnings"] == list(res.warnings)
    json.dumps(d, allow_nan=False)


def test_clean_solution_has_no_warnings():
    rng = np.random.default_rng(5)
    f = rng.normal(size=(800, 2))
    cols = {f"x{i}": f[:, i // 3] * 0.7 + rng.normal(scale=0.7, size=800) for i in range(6)}
    res = efa(pd.DataFrame(cols), 2, rotation="oblimin")
    assert res.warnings == ()
    assert "warnings" not in res.summary()


def test_extraction_non_convergence_is_reported(monkeypatch):
    monkeypatch.setattr(_fa, "MAXITER", 1)
    rng = np.random.default_rng(5)
    f = rng.normal(size=(800, 2))
    cols = {f"x{i}": f[:, i // 3] * 0.7 + rng.normal(scale=0.7, size=800) for i in range(6)}
    res = efa(pd.DataFrame(cols), 2, extraction="ml", rotation="varimax")
    assert any("ml extraction did not converge" in w for w in res.warnings), res.warnings


@pytest.mark.parametrize("rotation", ["oblimin", "varimax", "promax"])
def test_rotation_non_convergence_is_reported(monkeypatch, rotation):
    rng = np.random.default_rng(7)
    f = rng.normal(size=(800, 3))
    cols = {f"x{i}": f[:, i // 4] * 0.6 + f[:, (i // 4 + 1) % 3] * 0.3
            + rng.normal(scale=0.7, size=800) for i in range(12)}
    data = pd.DataFrame(cols)
    assert not efa(data, 3, rotation=rotation).warnings
    monkeypatch.setattr(_fa, "ROTATION_MAXITER", 2)
    res = efa(data, 3, rotation=rotation)
    assert any(f"{rotation} rotation did not converge" in w for w in res.warnings), res.warnings


def test_newest_scikit_learn_is_not_capped():
    # FactorAnalyzer.fit is not used: it breaks with scikit-learn >= 1.8
    import tomllib
    from pathlib import Path

    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    reqs = {d.split(">")[0].split("=")[0].split("<")[0].strip(): d
            for d in deps["project"]["dependencies"]}
    assert "<" not in reqs["scikit-learn"] and "==" not in reqs["factor-analyzer"]
