"""Honest labels: the index's name and the title come from the instrument; weak solutions
and small samples are said so in the verdicts (issue 13, item 8)."""

from __future__ import annotations

import copy

import pytest

from instruments.loader import InstrumentError, get_instrument, instrument_from_dict
from tests.test_instruments import minimal_dict


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
