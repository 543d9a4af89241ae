"""The xlsx writer turns a chunk into cell values a slice of rows at a time
(``PIECE_ROWS``, to bound memory); the sheet is the same whatever the slice."""

from __future__ import annotations

from openpyxl import load_workbook

from survey import demo
from survey import export as ex
from survey.export import core
from survey.storage.db import init_db, open_db


def _cells(path) -> dict[str, list[tuple]]:
    wb = load_workbook(path, read_only=True)
    try:
        return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}
    finally:
        wb.close()


def test_slices_of_a_chunk_give_the_same_sheet(tmp_path, monkeypatch):
    db_path = tmp_path / "s.db"
    with open_db(db_path) as db:
        init_db(db)
        demo.fill_demo(db, "s", 60, seed=8)
    whole = ex.export_campaign(db_path, "s", "xlsx", tmp_path / "whole.xlsx", chunk_rows=25)
    monkeypatch.setattr(core, "PIECE_ROWS", 7)  # 25-row chunks in slices of 7, 7, 7, 4
    sliced = ex.export_campaign(db_path, "s", "xlsx", tmp_path / "sliced.xlsx", chunk_rows=25)
    a, b = _cells(whole.path), _cells(sliced.path)
    assert whole.rows == sliced.rows == len(a["data"]) - 1 == 60
    assert a == b
    assert any(v is None for row in a["data"][1:] for v in row)  # missing cells stay empty
