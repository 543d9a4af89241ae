"""The R reference case in ``tests/reference/``: its files, item lists and R's conventions,
in one place for every test module that compares with R.

``make_reference.R`` reverse-keys REL4, HON3, COM4, EMP3 and CON4 on the 1..7 scale as
``x[[r]] <- 8 - x[[r]]``; :func:`reverse_keyed` does the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from instruments.loader import get_instrument
from instruments.model import Instrument

REF_DIR = Path(__file__).parent / "reference"
DIMS = ["REL", "HON", "COM", "EMP", "CON"]
MODEL = {d: [f"{d}{j}" for j in range(1, 5)] for d in DIMS}
ITEMS = [it for its in MODEL.values() for it in its]
REVERSED = ["REL4", "HON3", "COM4", "EMP3", "CON4"]


def r_results() -> dict:
    """R's results at full precision (``trust_synthetic_reference.json``)."""
    return json.loads((REF_DIR / "trust_synthetic_reference.json").read_text(encoding="utf-8"))


def instrument() -> Instrument:
    """The instrument file describing the reference dataset."""
    return get_instrument(str(REF_DIR / "trust_synthetic.yaml"))


def raw_data() -> pd.DataFrame:
    """The reference survey as stored: reverse-keyed items not recoded."""
    return pd.read_csv(REF_DIR / "trust_synthetic.csv")


def reverse_keyed(df: pd.DataFrame, items=REVERSED) -> pd.DataFrame:
    """A copy of ``df`` with ``items`` recoded as 8 - x, as make_reference.R does."""
    out = df.copy()
    for c in items:
        if c in out:
            out[c] = 8 - out[c]
    return out
