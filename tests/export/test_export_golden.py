"""The export files of a varied campaign are byte-identical to the committed golden
files (written by the export before it read SQLite through Arrow: see
``golden_export_support.py``): brands, formula-looking params, N/A answers, items not
shown, open texts, careless exclusions, three periods, several chunks."""

from __future__ import annotations

import golden_export_support as gold
import pytest


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gold")
    gold.build(tmp / "gold.db")
    return gold.export_all(tmp / "gold.db", tmp)


@pytest.mark.parametrize("fmt", gold.FORMATS)
def test_export_matches_golden_file(exported, fmt):
    want = (gold.GOLDEN / f"gold.{fmt}").read_bytes()
    got = exported[fmt].read_bytes()
    assert len(got) == len(want)
    assert got == want
