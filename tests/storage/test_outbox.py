"""The durable outbox (survey.storage.outbox) and its worker (survey.worker): idempotent
enqueue inside a caller's transaction, atomic claims, leases taken over after a crash,
retries with exponential back-off, permanent failures, handlers' hooks."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta

import pytest

from survey import worker
from survey.storage import outbox
from survey.storage.db import init_db, open_db, write_transaction


@pytest.fixture
def db(tmp_path):
    with open_db(tmp_path / "o.db") as d:
        init_db(d, register_builtin=False)
        yield d


def test_enqueue_is_idempotent_and_joins_the_callers_transaction(db):
    oid, created = outbox.enqueue(db, "email", {"contact_id": 1}, key="email:a")
    assert created
    again, created2 = outbox.enqueue(db, "email", {"contact_id": 2}, key="email:a")
    assert (again, created2) == (oid, False)
    assert outbox.get(db, oid)["payload"] == {"contact_id": 1}
    # inside a transaction that rolls back, the row disappears with the rest
    with pytest.raises(RuntimeError), write_transaction(db):
        outbox.enqueue(db, "webhook", {"x": 1}, key="webhook:b")
        raise RuntimeError("the caller's change failed")
    assert outbox.get_by_key(db, "webhook:b") is None
    assert outbox.counts(db) == {"queued": 1, "sending": 0, "sent": 0, "retrying": 0, "failed": 0}


@pytest.mark.parametrize("bad", [{"kind": ""}, {"key": ""}, {"max_attempts": 0}])
def test_enqueue_rejects_bad_arguments(db, bad):
    args = {"kind": "email", "key": "k", "max_attempts": 3, **bad}
    with pytest.raises(ValueError):
        outbox.enqueue(db, args["kind"], {}, key=args["key"], max_attempts=args["max_attempts"])


def test_claim_takes_each_row_once_and_respects_kind_and_time(db):
    for i in range(3):
        outbox.enqueue(db, "email", {"i": i}, key=f"email:{i}")
    outbox.enqueue(db, "webhook", {}, key="webhook:0")
    later = outbox.now_utc() + timedelta(hours=1)
    outbox.enqueue(db, "email", {"i": 9}, key="email:later", not_before=later)
    got = []
    while (job := outbox.claim(db, "w1", kinds=["email"])) is not None:
        got.append(job.payload["i"])
        assert job.attempts == 1
    assert got == [0, 1, 2]
    assert outbox.counts(db, kind="email")["sending"] == 3
    assert outbox.counts(db, kind="webhook")["queued"] == 1
    assert outbox.next_due(db, kinds=["email"]) is not None


def test_expired_lease_is_claimed_again_and_the_old_worker_cannot_overwrite(db):
    outbox.enqueue(db, "email", {}, key="k")
    t0 = outbox.now_utc()
    a = outbox.claim(db, "wa", lease_s=10, now=t0)
    assert a is not None
    assert outbox.claim(db, "wb", now=t0 + timedelta(seconds=5)) is None  # lease held
    b = outbox.claim(db, "wb", now=t0 + timedelta(seconds=11))
    assert b is not None and b.id == a.id and b.attempts == 2
    assert not outbox.mark_sent(db, a, "250 late")  # lease lost
    assert outbox.mark_sent(db, b, "250 ok")
    row = outbox.get(db, a.id)
    assert (row["state"], row["reply"], row["claimed_by"]) == ("sent", "250 ok", "wb")


def test_release_dead_frees_rows_of_a_killed_process(db, tmp_path):
    outbox.enqueue(db, "email", {}, key="k")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host_pid = outbox.worker_id().rsplit(":", 2)[0]
        dead_id = f"{host_pid.rsplit(':', 1)[0]}:{proc.pid}:abcd"
        job = outbox.claim(db, dead_id, lease_s=3600)
        assert job is not None
        assert outbox.release_dead(db) == 0  # alive: its lease stands
        proc.kill()
        proc.wait()
        assert outbox.release_dead(db) == 1
        again = outbox.claim(db, "other")
        assert again is not None and again.id == job.id
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_retry_backs_off_exponentially_then_fails(db):
    outbox.enqueue(db, "email", {}, key="k", max_attempts=3)
    t = outbox.now_utc()
    delays = []
    for _ in range(3):
        job = outbox.claim(db, "w", now=t)
        assert job is not None
        state = outbox.mark_retry(db, job, "421 try later", base=10)
        row = outbox.get(db, job.id)
        if state == "retrying":
            delays.append(
                (outbox.parse_iso(row["next_attempt_at"]) - outbox.now_utc()).total_seconds()
            )
            t = outbox.parse_iso(row["next_attempt_at"])
    assert state == "failed"
    assert row["state"] == "failed" and "gave up after 3 attempts" in row["last_error"]
    assert len(delays) == 2
    assert 9 < delays[0] <= 10 and 19 < delays[1] <= 20
    assert outbox.retry_delay(40, base=10) == outbox.BACKOFF_CAP_S


def test_backoff_env_is_checked(monkeypatch):
    monkeypatch.setenv(outbox.BACKOFF_ENV, "soon")
    with pytest.raises(ValueError, match="TRUSTMETER_OUTBOX_BACKOFF_S"):
        outbox.backoff_base()
    monkeypatch.setenv(outbox.BACKOFF_ENV, "0.5")
    assert outbox.backoff_base() == 0.5


class Recorder:
    """A handler: fails temporarily on 'flaky' the first time, permanently on 'bad'."""

    def __init__(self, log, seen=None):
        self.log = log
        self.seen = set() if seen is None else seen  # shared across handler instances

    def deliver(self, db, job):
        name = job.payload["name"]
        if name == "bad":
            raise worker.PermanentFailure("550 no such user")
        if name == "flaky" and name not in self.seen:
            self.seen.add(name)
            raise worker.TemporaryFailure("421 busy")
        if name == "boom" and job.attempts == 1:
            raise OSError("connection refused")
        self.log.append(name)
        return f"250 {name}"

    def on_sent(self, db, job, reply):
        self.log.append(f"sent-hook {job.payload['name']} {db.conn.in_transaction}")

    def on_failed(self, db, job, error):
        self.log.append(f"failed-hook {job.payload['name']}")


def test_worker_dispatches_by_kind_retries_and_records(db, monkeypatch):
    monkeypatch.setenv(outbox.BACKOFF_ENV, "0.05")
    log: list[str] = []
    for name in ("ok", "flaky", "bad", "boom"):
        outbox.enqueue(db, "test", {"name": name}, key=f"test:{name}")
    outbox.enqueue(db, "other", {"name": "x"}, key="other:x")
    seen: set[str] = set()
    w = worker.Worker(db, handlers={"test": lambda: Recorder(log, seen)})
    outcomes = []
    w.run(until_idle=True, on_outcome=outcomes.append, poll_s=0.05)
    states = {o.job.payload["name"]: outbox.get(db, o.job.id)["state"] for o in outcomes}
    assert states == {"ok": "sent", "flaky": "sent", "bad": "failed", "boom": "sent"}
    assert sorted(x for x in log if " " not in x) == ["boom", "flaky", "ok"]
    assert "sent-hook ok True" in log and "failed-hook bad" in log
    assert outbox.get_by_key(db, "test:boom")["attempts"] == 2
    assert "OSError: connection refused" in outbox.get_by_key(db, "test:boom")["last_error"]
    assert outbox.get_by_key(db, "test:bad")["reply"] == "550 no such user"
    assert outbox.get_by_key(db, "other:x")["state"] == "queued"  # no handler: left alone


def test_worker_refuses_unknown_kind(db):
    with pytest.raises(ValueError, match="no outbox handler"):
        worker.Worker(db, kinds=["nope"], handlers={})


def test_two_workers_never_share_a_row(tmp_path):
    path = tmp_path / "c.db"
    with open_db(path) as d:
        init_db(d, register_builtin=False)
        for i in range(60):
            outbox.enqueue(d, "test", {"name": str(i)}, key=f"test:{i}")
    logs: list[list[str]] = [[], []]

    def run(i):
        with open_db(path) as d:
            worker.Worker(d, handlers={"test": lambda: Recorder(logs[i])}).run(until_idle=True)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = [x for lg in logs for x in lg if " " not in x]
    assert sorted(names, key=int) == [str(i) for i in range(60)]
