"""The outbox worker: takes due rows from the durable outbox (:mod:`survey.storage.outbox`)
one at a time and hands each to the handler registered for its ``kind``.

``trustmeter worker`` runs it alone; ``trustmeter serve`` starts one as a child process
next to the web workers; ``trustmeter send``/``remind`` run it in the foreground for one
campaign's e-mail until nothing is left (with a progress bar).

Handlers
--------
An area registers a factory for its kind with :func:`register` in a module listed in
:data:`HANDLER_MODULES` (the worker imports them). The factory is called once per worker
and returns an object with::

    deliver(db, job) -> str            # do the work; return the reply to keep
    on_sent(db, job, reply) -> None    # optional; runs in the transaction marking it sent
    on_failed(db, job, error) -> None  # optional; runs in the transaction marking it failed
    close() -> None                    # optional; e.g. close an SMTP connection

``deliver`` raises :class:`TemporaryFailure` (retried with back-off) or
:class:`PermanentFailure` (never retried). Any other exception counts as temporary, and
its message is kept. Nothing a handler raises stops the worker.

Only one job is in flight per worker at a time: the row is marked ``sending`` before
the work and ``sent`` after it, so a crash between the two repeats at most that one job.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlite_utils import Database

from survey.storage import outbox
from survey.storage.db import write_transaction

log = logging.getLogger("trustmeter.worker")

#: Modules that register handlers when imported (each area adds its own line).
HANDLER_MODULES = ["survey.mail.handler", "survey.webhook_sender", "survey.export.jobs"]
POLL_S = 1.0
#: CPU priority increment of the long-running worker process (``nice``)
NICE = 10


class TemporaryFailure(Exception):
    """The work may succeed later (SMTP 4xx, refused connection, timeout): retry."""


class PermanentFailure(Exception):
    """The work can never succeed (SMTP 5xx for the recipient): do not retry."""


class Handler(Protocol):
    def deliver(self, db: Database, job: outbox.Job) -> str: ...


_FACTORIES: dict[str, Callable[[], Handler]] = {}


_PERIODIC: list[tuple[float, Callable[[Database], Any]]] = []


def register(kind: str, factory: Callable[[], Handler]) -> None:
    """Register the handler factory for outbox rows of ``kind``."""
    _FACTORIES[kind] = factory


def register_periodic(every_s: float, task: Callable[[Database], Any]) -> None:
    """Run ``task(db)`` about every ``every_s`` seconds in the long-running worker
    (e.g. the automatic purge of contacts). Its errors are logged, never fatal."""
    if all(t is not task for _, t in _PERIODIC):
        _PERIODIC.append((every_s, task))


def load_handlers() -> dict[str, Callable[[], Handler]]:
    """Import :data:`HANDLER_MODULES` and return the registered factories by kind."""
    for name in HANDLER_MODULES:
        importlib.import_module(name)
    return dict(_FACTORIES)


@dataclass
class Outcome:
    job: outbox.Job
    state: str  # sent, retrying, failed, or '' when the lease was lost
    detail: str | None


class Worker:
    """Processes outbox rows with the registered handlers (one instance per process)."""

    def __init__(
        self,
        db: Database,
        *,
        kinds: Iterable[str] | None = None,
        campaign_id: int | None = None,
        lease_s: float = outbox.DEFAULT_LEASE_S,
        handlers: dict[str, Callable[[], Handler]] | None = None,
    ) -> None:
        self.db = db
        self.factories = load_handlers() if handlers is None else handlers
        self.kinds = list(self.factories) if kinds is None else list(kinds)
        unknown = [k for k in self.kinds if k not in self.factories]
        if unknown:
            raise ValueError(f"no outbox handler for kind(s): {', '.join(unknown)}")
        self.campaign_id = campaign_id
        self.lease_s = lease_s
        self.id = outbox.worker_id()
        self._handlers: dict[str, Any] = {}
        self.stop = threading.Event()

    def handler(self, kind: str) -> Any:
        if kind not in self._handlers:
            self._handlers[kind] = self.factories[kind]()
        return self._handlers[kind]

    def close(self) -> None:
        for h in self._handlers.values():
            close = getattr(h, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing must not mask the real outcome
                    log.warning("closing a handler failed", exc_info=False)
        self._handlers.clear()

    def step(self) -> Outcome | None:
        """Claim and process one due row; None when nothing is due."""
        outbox.release_dead(self.db)
        job = outbox.claim(
            self.db, self.id, kinds=self.kinds, campaign_id=self.campaign_id, lease_s=self.lease_s
        )
        if job is None:
            return None
        return self.process(job)

    def process(self, job: outbox.Job) -> Outcome:
        h = None
        try:
            h = self.handler(job.kind)  # may fail, e.g. on bad configuration: retried
            reply = h.deliver(self.db, job)
        except PermanentFailure as e:
            error = str(e) or "permanent failure"
            with write_transaction(self.db):
                ok = outbox.mark_failed(self.db, job, error)
                if ok and h is not None and hasattr(h, "on_failed"):
                    h.on_failed(self.db, job, error)
            log.info(
                "outbox %s %s #%d failed permanently: %s",
                job.kind,
                job.idempotency_key,
                job.id,
                error,
            )
            return Outcome(job, "failed" if ok else "", error)
        except Exception as e:  # noqa: BLE001 - TemporaryFailure or anything unexpected
            error = str(e) or type(e).__name__
            if not isinstance(e, TemporaryFailure):
                error = f"{type(e).__name__}: {error}"
            with write_transaction(self.db):
                state = outbox.mark_retry(self.db, job, error)
                if state == "failed" and h is not None and hasattr(h, "on_failed"):
                    h.on_failed(self.db, job, error)
            log.info(
                "outbox %s #%d attempt %d: %s (%s)",
                job.kind,
                job.id,
                job.attempts,
                error,
                state or "lease lost",
            )
            return Outcome(job, state, error)
        with write_transaction(self.db):
            ok = outbox.mark_sent(self.db, job, reply)
            if ok and hasattr(h, "on_sent"):
                h.on_sent(self.db, job, reply)
        return Outcome(job, "sent" if ok else "", reply)

    def run(
        self,
        *,
        until_idle: bool = False,
        wait_retries: bool = True,
        on_outcome: Callable[[Outcome], None] | None = None,
        poll_s: float = POLL_S,
        parent_pid: int | None = None,
    ) -> None:
        """Process rows until :attr:`stop` is set.

        With ``until_idle`` return once nothing is pending (with ``wait_retries``, rows
        waiting for a retry or an expired lease are waited for; without, return as soon
        as nothing is due now). ``parent_pid``: stop when that process is gone (the
        worker started by ``serve`` ends with the server).
        """
        last_run: dict[int, float] = {}
        try:
            while not self.stop.is_set():
                if parent_pid is not None and os.getppid() != parent_pid:
                    log.info("parent process %d is gone; worker stops", parent_pid)
                    return
                if not until_idle:
                    self._periodic(last_run)
                outcome = self.step()
                if outcome is not None:
                    if on_outcome is not None:
                        on_outcome(outcome)
                    continue
                self.close()  # idle: do not hold an SMTP connection open
                if until_idle:
                    nxt = outbox.next_due(self.db, kinds=self.kinds, campaign_id=self.campaign_id)
                    if nxt is None or not wait_retries:
                        return
                    wait = (nxt - outbox.now_utc()).total_seconds()
                    self.stop.wait(min(max(wait, 0.05), poll_s))
                else:
                    self.stop.wait(poll_s)
        finally:
            self.close()

    def _periodic(self, last_run: dict[int, float]) -> None:
        now = time.monotonic()
        for i, (every, task) in enumerate(_PERIODIC):
            if now - last_run.get(i, -every) >= every:
                last_run[i] = now
                try:
                    task(self.db)
                except Exception as e:  # noqa: BLE001 - a periodic task must not stop sending
                    log.warning(
                        "periodic task %s failed: %s: %s",
                        getattr(task, "__name__", task),
                        type(e).__name__,
                        e,
                    )


def run_forever(
    db_path: str, *, parent_pid: int | None = None, kinds: Iterable[str] | None = None
) -> None:
    """The worker process: process every kind until SIGTERM/SIGINT (or the parent exits)."""
    from survey.storage.db import open_db

    # Background work (exports above all: minutes of CPU) yields to the web workers,
    # so respondents' pages keep their latency while it runs.
    with contextlib.suppress(OSError):
        os.nice(NICE)
    with open_db(db_path) as db:
        w = Worker(db, kinds=kinds)

        def stop(signum: int, frame: Any) -> None:
            w.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("outbox worker %s started (kinds: %s)", w.id, ", ".join(w.kinds))
        w.run(parent_pid=parent_pid)
        log.info("outbox worker %s stopped", w.id)


def start_child(db_path: str) -> subprocess.Popen:
    """Start a worker process next to the web server (``trustmeter serve``); it stops by
    itself when this process is gone, even after a ``kill -9``."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "survey.worker",
            "--db",
            os.path.abspath(db_path),
            "--parent",
            str(os.getpid()),
        ]
    )


def stop_child(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM (the worker finishes the job in hand), then SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> None:
    """``python -m survey.worker --db PATH [--parent PID]`` (how ``serve`` starts it)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m survey.worker")
    parser.add_argument("--db", required=True)
    parser.add_argument("--parent", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_forever(args.db, parent_pid=args.parent)


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: the handler modules register
    # themselves in ``survey.worker``, which is a different module object from __main__.
    from survey.worker import main as _main

    _main()
