"""``trustmeter serve`` runs an outbox worker next to the web workers: e-mail queued in the
database goes out without any other command, a one-click opt-out POST from a mail client
works over real HTTP, and the worker stops with the server (SIGTERM) or right after it
(``kill -9`` of the whole server)."""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.parse
import urllib.request

import pytest
from live_server import LiveServer
from smtp_support import SmtpServer

from survey.storage import contacts, outbox, store
from survey.storage.db import init_db, open_db


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (already exited, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _worker_pid(log_path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = re.search(r"outbox worker started \(pid (\d+)\)", log_path.read_text())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError("serve did not report its outbox worker")


@pytest.mark.slow
def test_serve_sends_queued_mail_and_stops_its_worker(tmp_path):
    dbpath = tmp_path / "serve.db"
    with open_db(dbpath) as db:
        init_db(db)
        c = store.create_campaign(
            db, slug="acme", instrument="customer-trust", period="2026-Q4", params=[]
        )
        contacts.import_contacts(
            db,
            c,
            [
                {
                    "line": i + 2,
                    "email": f"s{i}@example.org",
                    "name": None,
                    "language": "en",
                    "params": {},
                }
                for i in range(5)
            ],
        )
    smtp = SmtpServer().start()
    server = LiveServer(
        dbpath,
        tmp_path / "serve.log",
        workers=1,
        env={
            "TRUSTMETER_SMTP_URL": smtp.url,
            "TRUSTMETER_MAIL_FROM": "survey@example.org",
            "TRUSTMETER_BASE_URL": "http://survey.test",
            "TRUSTMETER_MAIL_RATE": "100000",
        },
    )
    try:
        server.start()
        pid = _worker_pid(tmp_path / "serve.log")
        assert _pid_alive(pid)
        with open_db(dbpath) as db:
            assert contacts.queue_invitations(db, "acme") == 5
        smtp.inbox.wait_for(5, timeout=30)
        msg = smtp.inbox.messages[0].message
        # the mail client's RFC 8058 one-click POST, over HTTP: no cookie, no CSRF token
        path = urllib.parse.urlsplit(msg["List-Unsubscribe"].strip().strip("<>")).path
        req = urllib.request.Request(
            server.base + path, data=b"List-Unsubscribe=One-Click", method="POST"
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        link = re.search(
            r"http://survey\.test(/i/[^?\s]+)", msg.get_body(("plain",)).get_content()
        ).group(1)
        with urllib.request.urlopen(server.base + link, timeout=10) as r:
            assert r.status == 200
        with open_db(dbpath) as db:
            assert contacts.campaign_funnel(db, "acme")["opted_out"] == 1
            assert outbox.counts(db)["sent"] == 5
        # gunicorn writes a request's access-log line after sending the response
        deadline = time.monotonic() + 10
        while True:
            log = (tmp_path / "serve.log").read_text()
            if "GET /i/<token>" in log or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert "POST /optout/<token> " in log and "GET /i/<token>" in log
        for secret in (path.rsplit("/", 1)[1], link.rsplit("/", 1)[1]):
            assert secret not in log  # tokens never reach the access log
        assert "example.org" not in log
        server.proc.send_signal(signal.SIGTERM)  # a normal stop of the server
        server.proc.wait(timeout=30)
        server.proc = None
        deadline = time.monotonic() + 20
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _pid_alive(pid), "the outbox worker outlived the server"
        # kill -9 of the server master alone: its worker notices and stops
        server.start()
        pid = _worker_pid_after(tmp_path / "serve.log", pid)
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _pid_alive(pid), "the outbox worker outlived a killed server"
    finally:
        if server.proc is not None:
            server.kill()
        smtp.stop()


def _worker_pid_after(log_path, old: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = [
            int(p) for p in re.findall(r"outbox worker started \(pid (\d+)\)", log_path.read_text())
        ]
        if pids and pids[-1] != old:
            return pids[-1]
        time.sleep(0.05)
    raise AssertionError("the restarted server did not report a new outbox worker")
