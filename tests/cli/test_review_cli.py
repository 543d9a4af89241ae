"""Security review (issue 14) on the command line: out-of-range dates, newline and
reserved slugs are clean ``Error:`` lines, never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from survey import cli


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


def fails(runner, args, message):
    result = runner.invoke(cli.main, args, catch_exceptions=False)
    assert result.exit_code != 0
    assert "Error:" in result.output and message in result.output, result.output
    assert "Traceback" not in result.output
    return result


CREATE = ["campaign", "create", "--instrument", "customer-trust", "--period", "2026-Q4"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--slug", "a", "--closes", "9999-12-31"], "between 2000 and 2200"),
        (["--slug", "a", "--opens", "9999-12-31"], "between 2000 and 2200"),
        (["--slug", "a", "--opens", "1970-01-01"], "between 2000 and 2200"),
        (["--slug", "new"], "reserved"),
        (["--slug", "x\n"], "campaign slug"),
        (["--slug", "a", "--param", "seg\n"], "param name"),
    ],
)
def test_campaign_create_refuses_cleanly(runner, dbfile, extra, message):
    fails(runner, [*CREATE, "--db", dbfile, *extra], message)


def test_cli_create_records_the_creator_and_grants(runner, dbfile):
    from survey.storage import access, users
    from survey.storage.db import open_db

    with open_db(dbfile) as db:
        users.create_user(db, "alice", "alice-password-1", "researcher")
    r = runner.invoke(cli.main, [*CREATE, "--db", dbfile, "--slug", "a"])
    assert r.exit_code == 0, r.output
    fails(
        runner,
        [*CREATE, "--db", dbfile, "--slug", "b", "--grant", "nobody"],
        "unknown user 'nobody'",
    )
    r = runner.invoke(cli.main, [*CREATE, "--db", dbfile, "--slug", "c", "--grant", "alice"])
    assert r.exit_code == 0, r.output
    with open_db(dbfile) as db:
        assert access.creator(db, "a").startswith("cli:")
        assert access.grantees(db, "a") == []
        assert access.grantees(db, "c") == ["alice"]
        alice = users.get_user(db, "alice")
        assert access.visible_ids(db, alice) == {
            db.execute("SELECT id FROM campaigns WHERE slug = 'c'").fetchone()[0]
        }
    r = runner.invoke(cli.main, ["campaign", "grant", "--db", dbfile, "a", "alice"])
    assert r.exit_code == 0 and "alice may now see a" in r.output, r.output
    r = runner.invoke(cli.main, ["campaign", "access", "--db", dbfile, "a"])
    assert r.exit_code == 0 and "alice" in r.output.splitlines(), r.output
    r = runner.invoke(cli.main, ["campaign", "revoke", "--db", dbfile, "a", "alice"])
    assert r.exit_code == 0 and "alice no longer sees a" in r.output, r.output
    fails(runner, ["campaign", "grant", "--db", dbfile, "zz", "alice"], "unknown campaign")
    fails(runner, ["campaign", "grant", "--db", dbfile, "a", "bob"], "unknown user")
