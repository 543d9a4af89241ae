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


@pytest.mark.parametrize("extra, message", [
    (["--slug", "a", "--closes", "9999-12-31"], "between 2000 and 2200"),
    (["--slug", "a", "--opens", "9999-12-31"], "between 2000 and 2200"),
    (["--slug", "a", "--opens", "1970-01-01"], "between 2000 and 2200"),
    (["--slug", "new"], "reserved"),
    (["--slug", "x\n"], "campaign slug"),
    (["--slug", "a", "--param", "seg\n"], "param name"),
])
def test_campaign_create_refuses_cleanly(runner, dbfile, extra, message):
    fails(runner, [*CREATE, "--db", dbfile, *extra], message)
