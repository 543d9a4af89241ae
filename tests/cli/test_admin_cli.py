"""``trustmeter user ...`` and the audit of data-changing commands, through click's
CliRunner."""

from __future__ import annotations

import json

import pytest
from admin_support import fast_kdf_fixture  # noqa: F401 (fixture)
from click.testing import CliRunner

from survey import cli
from survey.storage import audit, users
from survey.storage.db import open_db

GOOD = "a-long-password-1"


@pytest.fixture
def db_path(tmp_path, fast_kdf):
    path = str(tmp_path / "t.db")
    result = CliRunner().invoke(cli.main, ["init", "--db", path])
    assert result.exit_code == 0, result.output
    return path


def run(db_path, *args, input=None, code=0):
    result = CliRunner().invoke(cli.main, [*args, "--db", db_path], input=input)
    assert result.exit_code == code, result.output
    return result


def entries(db_path, action=None):
    with open_db(db_path) as db:
        return audit.entries(db, limit=100, action=action)


def stored_user(db_path, name):
    with open_db(db_path) as db:
        return users.get_user(db, name, with_hash=True)


def test_user_add_with_password_stdin(db_path):
    r = run(
        db_path, "user", "add", "alice", "--role", "admin", "--password-stdin", input=GOOD + "\n"
    )
    assert "created user alice (admin)" in r.output
    u = stored_user(db_path, "alice")
    assert u["role"] == "admin" and u["password_hash"].startswith("scrypt:")
    assert GOOD not in u["password_hash"] and users.verify_password(u["password_hash"], GOOD)
    (e,) = entries(db_path, "user.add")
    assert e["user"].startswith("cli:") and e["target"] == "alice"
    assert e["details"] == {"role": "admin"}


def test_user_add_prompts_twice(db_path):
    r = run(db_path, "user", "add", "bob", "--role", "viewer", input=f"{GOOD}\n{GOOD}\n")
    assert r.output.count("Password") == 1 and "Repeat for confirmation" in r.output
    assert GOOD not in r.output  # hidden input
    assert users.verify_password(stored_user(db_path, "bob")["password_hash"], GOOD)


def test_user_add_prompt_mismatch_asks_again(db_path):
    r = run(
        db_path,
        "user",
        "add",
        "bob",
        "--role",
        "viewer",
        input=f"{GOOD}\nsomething-else-1\n{GOOD}\n{GOOD}\n",
    )
    assert "do not match" in r.output
    assert stored_user(db_path, "bob") is not None


def test_password_is_never_an_argument(db_path):
    r = run(db_path, "user", "add", "eve", "--role", "admin", "--password", GOOD, code=2)
    assert "No such option" in r.output
    assert stored_user(db_path, "eve") is None


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (
            ["user", "add", "carol", "--role", "admin", "--password-stdin"],
            "short\n",
            "at least 10 characters",
        ),
        (
            ["user", "add", "carol", "--role", "admin", "--password-stdin"],
            "\n",
            "at least 10 characters",
        ),
        (
            ["user", "add", "no spaces", "--role", "admin", "--password-stdin"],
            GOOD + "\n",
            "must be 2-64 letters",
        ),
        (["user", "set-role", "nobody", "viewer"], None, "unknown user 'nobody'"),
        (["user", "disable", "nobody"], None, "unknown user 'nobody'"),
        (["user", "passwd", "nobody", "--password-stdin"], GOOD + "\n", "unknown user 'nobody'"),
    ],
)
def test_user_errors(db_path, args, stdin, message):
    r = run(db_path, *args, input=stdin, code=1)
    assert "Error:" in r.output and message in r.output and "Traceback" not in r.output


def test_role_must_be_known(db_path):
    r = run(db_path, "user", "add", "carol", "--role", "superuser", code=2)
    assert "'superuser' is not one of" in r.output


def test_duplicate_user(db_path):
    run(db_path, "user", "add", "alice", "--role", "admin", "--password-stdin", input=GOOD)
    r = run(
        db_path, "user", "add", "ALICE", "--role", "viewer", "--password-stdin", input=GOOD, code=1
    )
    assert "already exists" in r.output


def test_list_set_role_disable_passwd(db_path):
    run(db_path, "user", "add", "alice", "--role", "admin", "--password-stdin", input=GOOD)
    run(db_path, "user", "add", "bob", "--role", "viewer", "--password-stdin", input=GOOD)
    r = run(db_path, "user", "list")
    assert r.output.splitlines() == [
        "username\trole\tstatus\tlast_login",
        "alice\tadmin\tactive\tnever",
        "bob\tviewer\tactive\tnever",
    ]
    assert "bob is now researcher" in run(db_path, "user", "set-role", "bob", "researcher").output
    assert "bob is disabled" in run(db_path, "user", "disable", "bob").output
    assert "bob\tresearcher\tdisabled\tnever" in run(db_path, "user", "list").output
    assert "bob is enabled" in run(db_path, "user", "disable", "bob", "--enable").output
    run(db_path, "user", "passwd", "bob", "--password-stdin", input="another-password-2\n")
    h = stored_user(db_path, "bob")["password_hash"]
    assert users.verify_password(h, "another-password-2") and not users.verify_password(h, GOOD)
    actions = [(e["action"], e["target"]) for e in entries(db_path)][::-1]
    assert actions == [
        ("user.add", "alice"),
        ("user.add", "bob"),
        ("user.role", "bob"),
        ("user.disable", "bob"),
        ("user.enable", "bob"),
        ("user.passwd", "bob"),
    ]
    assert all(e["user"].startswith("cli:") for e in entries(db_path))
    dump = json.dumps(entries(db_path))
    assert GOOD not in dump and "another-password-2" not in dump


def test_the_last_admin_stays(db_path):
    run(db_path, "user", "add", "alice", "--role", "admin", "--password-stdin", input=GOOD)
    r = run(db_path, "user", "set-role", "alice", "viewer", code=1)
    assert "last active admin" in r.output
    r = run(db_path, "user", "disable", "alice", code=1)
    assert "last active admin" in r.output
    run(db_path, "user", "add", "root", "--role", "admin", "--password-stdin", input=GOOD)
    run(db_path, "user", "set-role", "alice", "viewer")


def test_user_commands_need_a_database(tmp_path):
    r = CliRunner().invoke(cli.main, ["user", "list", "--db", str(tmp_path / "none.db")])
    assert r.exit_code == 1 and "no database at" in r.output


def test_data_changing_commands_are_audited(db_path, tmp_path):
    run(
        db_path,
        "campaign",
        "create",
        "--instrument",
        "customer-trust",
        "--slug",
        "acme",
        "--period",
        "2026-Q4",
        "--param",
        "segment",
    )
    r = run(db_path, "invite", "acme", "--count", "3", "--param", "segment=loyal")
    tokens = [line.split(",")[0] for line in r.output.splitlines()[1:]]
    out = tmp_path / "acme.csv"
    run(db_path, "export", "acme", "--format", "csv", "-o", str(out))
    run(db_path, "campaign", "close", "acme")
    log = entries(db_path)[::-1]
    assert [(e["action"], e["target"]) for e in log] == [
        ("campaign.create", "acme"),
        ("invitations.create", "acme"),
        ("export", "acme"),
        ("campaign.close", "acme"),
    ]
    assert all(e["user"].startswith("cli:") for e in log)
    assert log[0]["details"]["period"] == "2026-Q4"
    assert log[1]["details"] == {"count": 3, "params": ["segment"]}
    assert log[2]["details"]["rows"] == 0 and log[2]["details"]["format"] == "csv"
    dump = json.dumps(log)
    assert len(tokens) == 3 and not any(t in dump for t in tokens)


def test_failed_commands_are_not_audited(db_path):
    run(db_path, "campaign", "close", "nope", code=1)
    assert entries(db_path) == []
