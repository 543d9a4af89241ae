"""Formula injection (issue 14): respondent text that starts with =, +, -, @, tab or CR
is prefixed with ' in csv and xlsx (OWASP); ``raw_formulas`` / ``--raw-formulas``
keep it verbatim; the codebook and manifest say which."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from survey import export as ex
from survey.cli import main
from survey.storage import store
from survey.storage.db import init_db, open_db

# URL parameters are stripped of surrounding white space when stored, so tab and CR at
# the start are covered by the unit test of neutralise() below.
EVIL = [
    '=HYPERLINK("http://example.invalid","x")',
    "+cmd|' /C calc'!A0",
    "@SUM(A1:A9)",
    "-2+3",
    "plain",
    "a=b",
    "x-1",
]


@pytest.fixture(scope="module")
def dbpath(tmp_path_factory):
    path = tmp_path_factory.mktemp("formula") / "t.db"
    with open_db(path) as db:
        init_db(db)
        c = store.create_campaign(
            db, slug="inj", instrument="customer-trust", period="P1", params=["segment"]
        )
        for value in EVIL:
            rid = store.start_response(
                db, c, language="en", direction="ltr", params={"segment": value}, item_order=None
            )
            store.save_page(db, rid, 0, {"REL1": 3})
            assert store.complete_response(db, rid)
    return path


def expected(value: str) -> str:
    return "'" + value if value[0] in "=+-@\t\r" else value


def csv_column(path, name):
    with open(path, newline="", encoding="utf-8") as f:
        return [row[name] for row in csv.DictReader(f)]


def xlsx_column(path, name):
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    try:
        rows = list(wb["data"].iter_rows())
        k = [c.value for c in rows[0]].index(name)
        cells = [r[k] for r in rows[1:]]
        assert all(c.data_type == "s" for c in cells)  # text, never a formula
        return [c.value for c in cells]
    finally:
        wb.close()


@pytest.mark.parametrize(
    "value, out",
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("1-1", "1-1"),
        ("", ""),
        (None, None),
        (3, 3),
        (" =1", " =1"),
    ],
)
def test_neutralise_one_value(value, out):
    from survey.export.neutralise import neutralise

    assert neutralise(value) == out


def test_csv_neutralises_formula_looking_text(dbpath, tmp_path):
    res = ex.export_campaign(dbpath, "inj", "csv", tmp_path / "x.csv")
    assert csv_column(res.path, "segment") == [expected(v) for v in EVIL]
    assert csv_column(res.path, "REL1") == ["3"] * len(EVIL)  # numbers untouched
    cb = json.loads(res.codebook_json.read_text(encoding="utf-8"))
    assert "prefixed with '" in cb["formulas"]
    assert "Formulas:" in res.codebook_md.read_text(encoding="utf-8")
    assert json.loads(res.manifest.read_text(encoding="utf-8"))["formulas_neutralised"] is True


def test_xlsx_neutralises_formula_looking_text(dbpath, tmp_path):
    res = ex.export_campaign(dbpath, "inj", "xlsx", tmp_path / "x.xlsx")
    assert xlsx_column(res.path, "segment") == [expected(v) for v in EVIL]


def test_raw_formulas_keep_the_values_verbatim(dbpath, tmp_path):
    res = ex.export_campaign(dbpath, "inj", "csv", tmp_path / "r.csv", raw_formulas=True)
    assert csv_column(res.path, "segment") == EVIL
    assert "--raw-formulas" in json.loads(res.codebook_json.read_text(encoding="utf-8"))["formulas"]
    assert json.loads(res.manifest.read_text(encoding="utf-8"))["formulas_neutralised"] is False
    res = ex.export_campaign(dbpath, "inj", "xlsx", tmp_path / "r.xlsx", raw_formulas=True)
    assert xlsx_column(res.path, "segment") == EVIL  # still text cells, not formulas


def test_other_formats_keep_data_verbatim(dbpath, tmp_path):
    res = ex.export_campaign(dbpath, "inj", "json", tmp_path / "x.json")
    rows = json.loads(res.path.read_text(encoding="utf-8"))
    assert [r["segment"] for r in rows] == EVIL
    assert "formulas" not in json.loads(res.codebook_json.read_text(encoding="utf-8"))


def test_cli_raw_formulas_option(dbpath, tmp_path, monkeypatch):
    monkeypatch.delenv("TRUSTMETER_DB", raising=False)
    runner = CliRunner()
    out = tmp_path / "cli.csv"
    r = runner.invoke(main, ["export", "inj", "--db", str(dbpath), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert csv_column(out, "segment") == [expected(v) for v in EVIL]
    r = runner.invoke(
        main, ["export", "inj", "--db", str(dbpath), "-o", str(out), "--raw-formulas"]
    )
    assert r.exit_code == 0, r.output
    assert csv_column(out, "segment") == EVIL
