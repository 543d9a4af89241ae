"""Durations as researchers write them: ``0s``, ``90m``, ``12h``, ``3d``, ``1w``, ``1d12h``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``0s``, ``90m``, ``3d``, ``1d12h`` -> timedelta; ``ValueError`` otherwise."""
    t = (text or "").strip().lower()
    if not re.fullmatch(r"(\d{1,9}[smhdw])+", t):
        raise ValueError(f"{text!r} is not a duration such as 0s, 90m, 12h, 3d or 1d12h")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhdw])", t)))
