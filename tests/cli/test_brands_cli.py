"""``trustmeter campaign create --brand ... --brands-per-respondent K`` (issue 11): the
brands reach the campaign through the one parser (survey.brands), bad values are usage
errors naming them, and ``campaign list`` shows the brands and K."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from survey import cli
from survey.storage import store
from survey.storage.db import open_db


@pytest.fixture(autouse=True)
def no_env_db(monkeypatch):
    monkeypatch.delenv("TRUSTMETER_DB", raising=False)


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def dbfile(tmp_path, runner):
    path = str(tmp_path / "t.db")
    assert runner.invoke(cli.main, ["init", "--db", path]).exit_code == 0
    return path


BASE = ["campaign", "create", "--instrument", "customer-trust", "--period", "2026-Q4"]


def run(runner, dbfile, *args):
    return runner.invoke(cli.main, [*BASE, "--db", dbfile, *args], catch_exceptions=False)


def test_create_with_brands_and_list(runner, dbfile):
    r = run(
        runner,
        dbfile,
        "--slug",
        "multi",
        "--param",
        "segment",
        "--brand",
        "acme: Acme",
        "--brand",
        "globex: en=Globex | fa=گلوبکس",
        "--brands-per-respondent",
        "1",
    )
    assert r.exit_code == 0, r.output
    assert "brands (each respondent rates up to 1): acme: Acme; globex: " in r.output
    with open_db(dbfile) as db:
        c = store.get_campaign(db, "multi")
    assert c["params"] == ["segment", "brand"]
    assert c["brands"] == [
        {"slug": "acme", "names": {"en": "Acme", "ru": "Acme", "fa": "Acme"}},
        {"slug": "globex", "names": {"en": "Globex", "ru": "Globex", "fa": "گلوبکس"}},
    ]
    assert c["brands_per_respondent"] == 1
    out = runner.invoke(cli.main, ["campaign", "list", "--db", dbfile]).output.splitlines()
    row = dict(zip(out[0].split("\t"), out[1].split("\t"), strict=True))
    assert (row["brands"], row["brands_per_respondent"]) == ("acme,globex", "1")
    # an invitation's brand must be one of them
    bad = runner.invoke(
        cli.main, ["invite", "multi", "--db", dbfile, "--count", "1", "--param", "brand=hooli"]
    )
    assert bad.exit_code == 1 and "'hooli' is not a brand" in bad.output
    assert "Traceback" not in bad.output


@pytest.mark.parametrize(
    "args, words",
    [
        (["--brand", "acme Acme"], "'acme Acme'"),
        (["--brand", "ACME: Acme"], "the slug 'ACME'"),
        (["--brand", "acme: A", "--brand", "acme: B"], "'acme' is declared twice"),
        (["--brand", "acme: en=A | xx"], "'xx' is not LANG=Name"),
        (["--brand", "acme: A", "--brands-per-respondent", "2"], "2 but 1 brand(s)"),
        (["--brands-per-respondent", "1"], "0 brand(s)"),
        (["--brand", "acme: A", "--brands-per-respondent", "0"], "0 is not in the range"),
    ],
)
def test_bad_brands_are_usage_errors(runner, dbfile, args, words):
    r = run(runner, dbfile, "--slug", "bad", *args)
    assert r.exit_code == 2, r.output
    assert "Error: Invalid value" in r.output and words in r.output, r.output
    assert "Traceback" not in r.output
    with open_db(dbfile) as db:
        assert store.get_campaign(db, "bad") is None


def test_brands_need_a_brand_aware_instrument(runner, dbfile):
    r = runner.invoke(
        cli.main,
        [
            *BASE[:3],
            "customer-trust@1.0.0",
            *BASE[4:],
            "--db",
            dbfile,
            "--slug",
            "old",
            "--brand",
            "acme: Acme",
        ],
    )
    assert r.exit_code == 1 and "is not brand-aware" in r.output, r.output
