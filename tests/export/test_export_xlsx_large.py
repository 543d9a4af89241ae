"""A 20,000-row xlsx export (openpyxl write-only, streamed in chunks) read back with
openpyxl in read-only mode: every row, the frozen header, column widths, and the same
values as the csv export of the same responses. The benchmark does the same at 1M rows
(``make bench``, ``export.xlsx``)."""

from __future__ import annotations

import csv
import re
import time
import zipfile

import pytest
from openpyxl import load_workbook

from survey import demo
from survey import export as ex
from survey.storage.db import init_db, open_db

N = 20_000


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.db"
    with open_db(path) as db:
        init_db(db)
        demo.fill_demo(db, "big", N, seed=3, periods=["2026-Q3", "2026-Q4"])
    return path


def test_20k_row_xlsx_reads_back_in_read_only_mode(big, tmp_path):
    seen = []
    t = time.perf_counter()
    res = ex.export_campaign(
        big,
        "big",
        "xlsx",
        tmp_path / "big.xlsx",
        chunk_rows=5_000,
        progress=lambda done, total: seen.append((done, total)),
    )
    elapsed = time.perf_counter() - t
    assert res.rows == N and res.constant_memory
    assert seen == [(5_000, N), (10_000, N), (15_000, N), (20_000, N)]  # chunk by chunk
    csv_res = ex.export_campaign(big, "big", "csv", tmp_path / "big.csv")
    with open(csv_res.path, newline="", encoding="utf-8") as f:
        csv_rows = list(csv.reader(f))
    wb = load_workbook(res.path, read_only=True)
    try:
        ws = wb["data"]
        rows = ws.iter_rows(values_only=True)
        header = next(rows)
        assert list(header) == list(res.columns) == csv_rows[0]
        n = 0
        for n, (row, want) in enumerate(zip(rows, csv_rows[1:], strict=True), start=1):
            got = ["" if v is None else v for v in row]
            got += [""] * (len(header) - len(got))  # read-only rows stop at the last value
            # numbers compare as numbers (csv holds their text), text as text
            for g, w, name in zip(got, want, header, strict=True):
                if isinstance(g, int | float) and not isinstance(g, bool):
                    assert w != "" and abs(float(w) - g) <= 1e-12 * max(1.0, abs(g)), (n, name)
                else:
                    assert str(g) == w, (n, name, g, w)
        assert n == N
    finally:
        wb.close()
    # the sheet's view and widths, from the sheet's XML (read-only mode skips them, and
    # loading the whole workbook normally would take longer than the export)
    with zipfile.ZipFile(res.path) as z:
        sheet = next(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
        with z.open(sheet) as f:
            head = f.read(65536).decode("utf-8")
    assert re.search(r'<pane [^>]*topLeftCell="A2"[^>]*state="frozen"', head) or re.search(
        r'<pane [^>]*state="frozen"[^>]*topLeftCell="A2"', head
    ), head[:500]
    widths = {}
    for tag in re.findall(r"<col [^>]*>", head):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', tag))
        widths[int(attrs["min"])] = float(attrs["width"])
    assert len(widths) == len(header)
    assert all(widths[i] >= min(len(h) + 2, 40) for i, h in enumerate(header, start=1))
    assert elapsed < 120  # about 10 s on 2 busy cores; a hang or quadratic slowdown fails
