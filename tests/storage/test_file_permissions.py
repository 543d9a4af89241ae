"""File modes (issue 14): the database and its -wal/-shm, the rate-limit file, exports
and instance files are created 0600, or 0640 with TRUSTMETER_GROUP_READABLE=1."""

from __future__ import annotations

import os
import stat

import pytest

import survey
from survey import export as ex
from survey.storage import store
from survey.storage.db import init_db, open_db
from survey.storage.ratelimit import RateLimiter


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def usual_umask():
    old = os.umask(0o022)  # the common default, under which files used to be 0644
    yield
    os.umask(old)


@pytest.mark.parametrize("group, expected", [(None, 0o600), ("1", 0o640)])
def test_created_files_are_private(tmp_path, monkeypatch, group, expected):
    if group is None:
        monkeypatch.delenv("TRUSTMETER_GROUP_READABLE", raising=False)
    else:
        monkeypatch.setenv("TRUSTMETER_GROUP_READABLE", group)
    path = tmp_path / "t.db"
    with open_db(path) as db:
        init_db(db)
        store.create_campaign(db, slug="c", instrument="customer-trust", period="P")
        for suffix in ("", "-wal", "-shm"):
            assert mode(f"{path}{suffix}") == expected, suffix
        res = ex.export_campaign(db, "c", "csv", tmp_path / "out.csv")
    for p in (res.path, res.codebook_md, res.codebook_json, res.manifest):
        assert mode(p) == expected, p
    limiter = RateLimiter(tmp_path / "t.db.ratelimit.db")
    limiter.hit("login:k", 5, 60)
    assert mode(tmp_path / "t.db.ratelimit.db") == expected
    key = tmp_path / "instance" / "secret_key"
    survey.load_or_create_key(key)
    assert mode(key) == expected
    assert mode(f"{key}.lock") == 0o600


def test_existing_database_keeps_its_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("TRUSTMETER_GROUP_READABLE", raising=False)
    path = tmp_path / "t.db"
    path.touch(mode=0o640)
    os.chmod(path, 0o640)
    with open_db(path) as db:
        init_db(db)
    assert mode(path) == 0o640
