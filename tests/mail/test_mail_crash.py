"""``kill -9`` of ``trustmeter send`` in the middle of a 300-contact batch, then a rerun:
every contact is reached, and at most the one message in flight at the kill twice."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import time

import pytest
from live_server import ROOT, TRUSTMETER
from smtp_support import SmtpServer

from survey.storage import contacts, outbox, store
from survey.storage.db import init_db, open_db

N = 300


@pytest.mark.slow
def test_kill_9_during_send_then_rerun_reaches_everyone_at_most_one_duplicate(tmp_path):
    dbpath = tmp_path / "crash.db"
    with open_db(dbpath) as db:
        init_db(db)
        c = store.create_campaign(
            db, slug="acme", instrument="customer-trust", period="2026-Q4", params=["segment"]
        )
        rows = [
            {
                "line": i + 2,
                "email": f"c{i}@example.org",
                "name": f"Contact {i}",
                "language": ("en", "ru", "fa")[i % 3],
                "params": {},
            }
            for i in range(N)
        ]
        assert contacts.import_contacts(db, c, rows)["imported"] == N
    server = SmtpServer().start()
    env = {
        **os.environ,
        "TRUSTMETER_SMTP_URL": server.url,
        "TRUSTMETER_MAIL_FROM": "Survey <survey@example.org>",
        "TRUSTMETER_BASE_URL": "http://survey.test",
        "TRUSTMETER_MAIL_RATE": "100000",
        outbox.BACKOFF_ENV: "0.05",
    }
    cmd = [*TRUSTMETER, "send", "acme", "--db", str(dbpath)]
    try:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            server.inbox.wait_for(N // 3, timeout=120)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        time.sleep(0.2)
        before = len(server.inbox.messages)
        assert N // 3 <= before < N, "the kill came too late to test anything"
        with open_db(dbpath) as db:
            states = outbox.counts(db)
        assert states["sent"] + states["sending"] + states["queued"] == N
        assert states["sending"] <= 1  # one message in flight at most
        rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        assert "queued 0" in rerun.stdout  # nothing new: it continues the same rows
        got = collections.Counter(r for m in server.inbox.messages for r in m.rcpt_tos)
    finally:
        server.stop()
    assert set(got) == {f"c{i}@example.org" for i in range(N)}
    duplicates = sum(n - 1 for n in got.values())
    print(f"killed after {before} of {N} messages; {duplicates} duplicate(s) after the rerun")
    assert duplicates <= 1, got.most_common(3)
    with open_db(dbpath) as db:
        assert outbox.counts(db)["sent"] == N
        assert contacts.campaign_funnel(db, "acme")["invited"] == N
