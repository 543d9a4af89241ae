"""The instance secret key (issue 14): an empty or unreadable key file is replaced
atomically under a lock all workers share, so that every worker signs sessions with
the same key; when it cannot be stored, serve refuses more than one worker."""

from __future__ import annotations

import multiprocessing
import os
import stat

import pytest
from click.testing import CliRunner

import survey
from survey import cli


def _load_in_child(args):
    path, barrier = args
    barrier.wait()  # all start at once
    return survey.load_or_create_key(path)


@pytest.mark.parametrize("content", [b"", b"\n", b"\xff\xfe\x00garbage", b"   \n\t"])
def test_empty_or_unreadable_key_is_replaced_once_for_all_workers(tmp_path, content):
    path = tmp_path / "instance" / "secret_key"
    path.parent.mkdir()
    path.write_bytes(content)  # what a crashed first write leaves
    ctx = multiprocessing.get_context("fork")
    n = 6
    with ctx.Manager() as manager:
        barrier = manager.Barrier(n)
        with ctx.Pool(n) as pool:
            keys = pool.map(_load_in_child, [(path, barrier)] * n)
    assert len(set(keys)) == 1, keys  # one key for every worker
    assert len(keys[0]) == 64
    assert path.read_text(encoding="ascii").strip() == keys[0]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert survey.load_or_create_key(path) == keys[0]  # kept from then on
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_existing_key_is_kept(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("my-own-key\n", encoding="ascii")
    assert survey.load_or_create_key(path) == "my-own-key"


def test_serve_refuses_several_workers_when_the_key_cannot_be_stored(tmp_path, monkeypatch):
    monkeypatch.delenv("TRUSTMETER_SECRET_KEY", raising=False)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # the key's folder is a file: mkdir fails, even as root

    real = survey.load_or_create_key
    monkeypatch.setattr(
        survey, "load_or_create_key", lambda path: real(blocker / "instance" / "secret_key")
    )
    assert "cannot store the secret key" in survey.secret_key_problem()
    from survey.cli import server

    started = []
    monkeypatch.setattr(server, "_serve_web", lambda *a, **k: started.append(a))
    db = tmp_path / "t.db"
    assert CliRunner().invoke(cli.main, ["init", "--db", str(db)]).exit_code == 0
    r = CliRunner().invoke(cli.main, ["serve", "--db", str(db), "--workers", "2", "--no-worker"])
    assert r.exit_code != 0 and "cannot store the secret key" in r.output, r.output
    assert "Traceback" not in r.output and started == []
    r = CliRunner().invoke(cli.main, ["serve", "--db", str(db), "--workers", "1", "--no-worker"])
    assert r.exit_code == 0, r.output
    assert len(started) == 1
    monkeypatch.setenv("TRUSTMETER_SECRET_KEY", "k" * 40)  # a shared key from outside
    assert survey.secret_key_problem() is None
