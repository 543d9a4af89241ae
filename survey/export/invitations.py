"""Invitation links as CSV ``token,url``: what ``trustmeter invite`` prints and the
campaign page downloads. The raw tokens exist only here: storage keeps their hashes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping


def invitations_csv(invitations: Iterable[Mapping], url_root: str) -> str:
    """``token,url`` rows for freshly created invitations (each with its raw ``token``)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["token", "url"])
    for inv in invitations:
        w.writerow([inv["token"], f"{url_root.rstrip('/')}/i/{inv['token']}"])
    return out.getvalue()
