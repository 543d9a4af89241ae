"""The survey's command line (init, campaign, invite, demo, run, serve)."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner
from store_fixtures import small_instrument

from survey import cli
from survey.cli import server
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
    ok(runner, ["init", "--db", path])
    return path


def ok(runner, args, **kw):
    result = runner.invoke(cli.main, args, catch_exceptions=False, **kw)
    assert result.exit_code == 0, result.output
    return result


def fails(runner, args, message, code=None):
    result = runner.invoke(cli.main, args, catch_exceptions=False)
    assert result.exit_code != 0
    if code is not None:
        assert result.exit_code == code
    assert "Error:" in result.output and message in result.output, result.output
    assert "Traceback" not in result.output
    return result


def test_init_twice(runner, tmp_path):
    path = str(tmp_path / "t.db")
    first = ok(runner, ["init", "--db", path])
    assert "applied 0001_initial" in first.output and "customer-trust" in first.output
    again = ok(runner, ["init", "--db", path])
    assert "schema up to date" in again.output


def test_db_from_environment(runner, tmp_path):
    path = tmp_path / "env.db"
    ok(runner, ["init"], env={"TRUSTMETER_DB": str(path)})
    assert path.is_file()


def test_commands_need_an_initialized_db(runner, tmp_path):
    missing = str(tmp_path / "missing.db")
    fails(runner, ["campaign", "list", "--db", missing], "no database at")
    fails(runner, ["invite", "x", "--count", "1", "--db", missing], "trustmeter init")
    fails(runner, ["serve", "--db", missing], "no database at")
    assert not (tmp_path / "missing.db").exists()


def test_campaign_create_list_close(runner, dbfile):
    r = ok(
        runner,
        [
            "campaign",
            "create",
            "--db",
            dbfile,
            "--instrument",
            "customer-trust",
            "--slug",
            "q4",
            "--period",
            "2026-Q4",
            "--param",
            "segment",
            "--param",
            "channel",
            "--language",
            "en",
            "--language",
            "fa",
            "--opens",
            "2026-10-01",
            "--closes",
            "2026-12-31",
            "--min-segment-n",
            "50",
        ],
    )
    assert "created campaign q4" in r.output and "/s/q4" in r.output
    with open_db(dbfile) as db:
        c = store.get_campaign(db, "q4")
    assert c["params"] == ["segment", "channel"] and c["languages"] == ["en", "fa"]
    assert c["min_segment_n"] == 50 and c["closes_at"].startswith("2027-01-01")
    lines = ok(runner, ["campaign", "list", "--db", dbfile]).output.splitlines()
    assert lines[0].split("\t")[:4] == ["slug", "status", "instrument", "period"]
    assert lines[1].split("\t")[:4] == ["q4", "open", "customer-trust@1.1.0", "2026-Q4"]
    assert lines[0].split("\t")[6:] == [
        "started",
        "completed",
        "completion_rate",
        "excluded_careless",
        "headline_period",
        "trust_index",
        "trust_index_n",
        "contacts",
        "invited",
        "reminded",
        "contacts_started",
        "contacts_completed",
        "bounced",
        "opted_out",
        "brands",
        "brands_per_respondent",
    ]
    assert lines[1].split("\t")[6:] == [
        "0",
        "0",
        "",
        "",
        "",
        "",
        "",  # no responses yet
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "",
        "",
    ]  # nor contacts, nor brands
    ok(runner, ["campaign", "close", "q4", "--db", dbfile])
    assert "\tclosed\t" in ok(runner, ["campaign", "list", "--db", dbfile]).output


def test_campaign_list_shows_the_dashboards_live_counts(runner, dbfile):
    from survey.reporting.live import campaign_stats

    ok(runner, ["demo", "--db", dbfile, "--n", "400"])
    lines = ok(runner, ["campaign", "list", "--db", dbfile]).output.splitlines()
    row = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=True))
    with open_db(dbfile) as db:
        stats = campaign_stats(db, store.get_campaign(db, "demo"))
    assert int(row["completed"]) == stats["completed"] == 400
    assert int(row["started"]) == stats["started"] > 400  # the demo leaves some unfinished
    assert float(row["completion_rate"]) == pytest.approx(stats["completion_rate"], abs=5e-4)
    assert int(row["excluded_careless"]) == stats["careless"] > 0


def test_campaign_from_instrument_file(runner, dbfile, tmp_path):
    inst = small_instrument(tmp_path)
    ok(
        runner,
        [
            "campaign",
            "create",
            "--db",
            dbfile,
            "--instrument",
            inst.source,
            "--slug",
            "mini",
            "--period",
            "P1",
        ],
    )
    with open_db(dbfile) as db:
        assert store.get_campaign(db, "mini")["instrument_id"] == "mini-trust"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--instrument", "nope"], "unknown instrument 'nope'"),
        (["--slug", "q4"], "a campaign with slug 'q4' already exists"),
        (["--slug", "Not OK"], "campaign slug 'Not OK'"),
        (["--language", "de"], "languages ['de']"),
        (["--param", "Bad-Name"], "param name 'Bad-Name'"),
        (["--opens", "tomorrow"], "opens_at: 'tomorrow' is not a date"),
        (["--min-segment-n", "0"], "min_segment_n must be a positive integer"),
    ],
)
def test_campaign_create_errors(runner, dbfile, extra, message):
    base = {"--instrument": "customer-trust", "--slug": "q5", "--period": "2026-Q4"}
    ok(
        runner,
        [
            "campaign",
            "create",
            "--db",
            dbfile,
            "--instrument",
            "customer-trust",
            "--slug",
            "q4",
            "--period",
            "2026-Q4",
        ],
    )
    args = ["campaign", "create", "--db", dbfile, *extra]
    for k, v in base.items():
        if k not in extra:
            args += [k, v]
    fails(runner, args, message, code=1)


def test_campaign_close_unknown(runner, dbfile):
    fails(runner, ["campaign", "close", "zz", "--db", dbfile], "unknown campaign 'zz'")


def test_invite_prints_csv_and_stores_hashes(runner, dbfile):
    ok(
        runner,
        [
            "campaign",
            "create",
            "--db",
            dbfile,
            "--instrument",
            "customer-trust",
            "--slug",
            "q4",
            "--period",
            "2026-Q4",
            "--param",
            "segment",
        ],
    )
    out = ok(
        runner,
        [
            "invite",
            "q4",
            "--db",
            dbfile,
            "--count",
            "3",
            "--param",
            "segment=loyal",
            "--base-url",
            "https://survey.example.org/",
        ],
    ).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 and list(rows[0]) == ["token", "url"]
    for r in rows:
        assert r["url"] == f"https://survey.example.org/i/{r['token']}"
    with open_db(dbfile) as db:
        inv = store.find_invitation(db, rows[0]["token"])
        assert inv["campaign"] == "q4" and inv["params"] == {"segment": "loyal"}
        stored = [t for (t,) in db.execute("SELECT token_sha256 FROM invitations")]
    assert rows[0]["token"] not in stored
    default = ok(runner, ["invite", "q4", "--db", dbfile, "--count", "1"]).stdout
    assert "http://127.0.0.1:5000/i/" in default


@pytest.mark.parametrize(
    "args, message, code",
    [
        (["--count", "0"], "'--count': must be a positive number, got 0", 2),
        (["--count", "-2"], "'--count': must be a positive number", 2),
        (["--count", "2", "--param", "segment"], "'segment' is not NAME=VALUE", 2),
        (["--count", "2", "--param", "=x"], "is not NAME=VALUE", 2),
        (["--count", "2", "--param", "region=north"], "does not declare the param(s) region", 1),
    ],
)
def test_invite_errors(runner, dbfile, args, message, code):
    ok(
        runner,
        [
            "campaign",
            "create",
            "--db",
            dbfile,
            "--instrument",
            "customer-trust",
            "--slug",
            "q4",
            "--period",
            "2026-Q4",
            "--param",
            "segment",
        ],
    )
    fails(runner, ["invite", "q4", "--db", dbfile, *args], message, code=code)


def test_invite_unknown_campaign(runner, dbfile):
    fails(runner, ["invite", "zz", "--db", dbfile, "--count", "2"], "unknown campaign 'zz'")


def test_demo_command(runner, tmp_path):
    path = str(tmp_path / "d.db")  # created on the fly
    r = ok(runner, ["demo", "--db", path, "--n", "400", "--seed", "7"])
    assert "campaign demo: added 400 complete and 40 abandoned" in r.output
    ok(runner, ["demo", "--db", path, "--slug", "demo2", "--n", "100", "--seed", "7"])
    with open_db(path) as db:
        assert store.campaign_counts(db, "demo")["completed"] == 400
        assert store.campaign_counts(db, "demo2")["completed"] == 100
    fails(runner, ["demo", "--db", path, "--n", "0"], "'--n'", code=2)
    fails(
        runner,
        ["demo", "--db", path, "--slug", "other", "--instrument", "nope"],
        "unknown instrument 'nope'",
        code=1,
    )


def test_run_prepares_demo_and_serves(runner, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(server, "_serve", lambda *a: calls.append(a))
    path = str(tmp_path / "r.db")
    r = ok(runner, ["run", "--db", path, "--n", "200"])
    assert "respondent link:  http://127.0.0.1:5000/s/demo" in r.output
    assert "invitation link:  http://127.0.0.1:5000/i/" in r.output
    assert "brands link:      http://127.0.0.1:5000/s/brands-demo" in r.output
    assert "filled with 200 synthetic respondents" in r.output
    assert calls == [(path, "127.0.0.1", 5000, 2)]
    token = r.output.split("/i/")[1].split()[0]
    with open_db(path) as db:
        assert store.find_invitation(db, token)["campaign"] == "demo"
        assert store.get_campaign(db, "demo")["params"] == ["segment", "channel"]
    # a second run keeps the data and does not fill again
    r = ok(runner, ["run", "--db", path, "--no-serve", "--n", "200"])
    assert "filled" not in r.output and len(calls) == 1
    with open_db(path) as db:
        assert store.campaign_counts(db, "demo")["completed"] == 200
        brands = store.get_campaign(db, "brands-demo")
        assert [b["slug"] for b in brands["brands"]] == ["acme", "globex", "initech"]
        assert brands["brands_per_respondent"] == 2 and "brand" in brands["params"]
        assert store.campaign_counts(db, "brands-demo")["completed"] == 0


def test_serve_passes_options(runner, dbfile, monkeypatch):
    calls = []
    monkeypatch.setattr(server, "_serve", lambda *a, **kw: calls.append((a, kw)))
    ok(runner, ["serve", "--db", dbfile, "--host", "0.0.0.0", "--port", "8080", "--workers", "4"])
    ok(runner, ["serve", "--db", dbfile, "--no-worker"])
    assert calls == [
        ((dbfile, "0.0.0.0", 8080, 4), {"outbox_worker": True}),
        ((dbfile, "127.0.0.1", 5000, 2), {"outbox_worker": False}),
    ]
    fails(runner, ["serve", "--db", dbfile, "--workers", "0"], "'--workers'", code=2)


def test_app_factory_uses_the_db_path(dbfile):
    import gc
    import os

    gc.unfreeze()
    try:
        app = server._app_factory(dbfile)()
        # the worker's long-lived objects are moved out of the collector's generations
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()  # this test process goes on
    assert app.config["DATABASE"] == os.path.abspath(dbfile)


def _leaf_commands(group, path=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _leaf_commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


def test_every_command_has_the_one_db_option():
    """Every command that touches the database takes the same --db (with $TRUSTMETER_DB)."""
    seen = 0
    for path, cmd in _leaf_commands(cli.main):
        if path[0] == "instrument":  # instrument files, no database
            continue
        (opt,) = [p for p in cmd.params if p.name == "db_path"]
        assert opt.opts == ["--db"] and opt.envvar == "TRUSTMETER_DB", path
        assert opt.default == "trustmeter.db", path
        seen += 1
    assert seen >= 12
