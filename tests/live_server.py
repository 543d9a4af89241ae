"""``trustmeter serve`` (gunicorn) as a real subprocess, and a respondent that walks the
questionnaire over HTTP with ``urllib`` (no ``requests``), for the durability and
rate-limit tests.

The server runs in its own process group (``start_new_session``), so
:meth:`LiveServer.kill` takes down the gunicorn master and all its workers at once
with ``SIGKILL``, like a crash or an OOM kill would.
"""

from __future__ import annotations

import http.cookiejar
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from click.testing import CliRunner
from conftest import Page, _PageParser

from survey.cli import main

ROOT = Path(__file__).resolve().parents[1]
TRUSTMETER = [sys.executable, "-c", "from survey.cli import main; main()"]


def trustmeter(*args: str) -> str:
    """Run a ``trustmeter`` command in this process (CliRunner); return its output."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0 and result.exception is None, result.output
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``trustmeter serve --workers N`` on ``127.0.0.1:port``; start, kill -9, restart."""

    def __init__(
        self, db_path: Path, log_path: Path, *, workers: int = 3, env: dict[str, str] | None = None
    ):
        self.db_path = db_path
        self.log_path = log_path
        self.workers = workers
        self.port = free_port()
        self.env = {**os.environ, "TRUSTMETER_SECRET_KEY": "live-server-test", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        assert self.proc is None
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    *TRUSTMETER,
                    "serve",
                    "--db",
                    str(self.db_path),
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + "/static/survey.css", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise AssertionError("server did not start: " + self.log_path.read_text()[-2000:])

    def kill(self) -> None:
        """SIGKILL the whole process group (master and workers) and wait until it is gone."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the master leads its own group
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # workers are reaped by init; wait for them
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        raise AssertionError(f"processes of group {pgid} survived SIGKILL")


class Stop(Exception):
    """The page was not what a walk expects (e.g. an error page while the server died)."""


def parse(status: int, url: str, html: str) -> Page:
    page = Page(status=status, url=url, html=html)
    _PageParser(page).feed(html)
    return page


class HttpRespondent:
    """A browser-like respondent over HTTP: a cookie jar, redirects followed, forms parsed."""

    def __init__(self, base: str, timeout: float = 10):
        self.base = base
        self.timeout = timeout
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(self, url: str, data: dict | None = None) -> Page:
        body = None if data is None else urllib.parse.urlencode(data).encode()
        full = url if url.startswith("http") else self.base + url
        try:
            with self.opener.open(full, data=body, timeout=self.timeout) as r:
                return parse(r.status, r.geturl(), r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            with e:
                return parse(e.code, e.geturl(), e.read().decode("utf-8", "replace"))

    def post(self, page: Page, data: dict) -> Page:
        data = dict(data)
        if page.csrf_token:
            data["csrf_token"] = page.csrf_token
        return self.request(page.form_action or page.url, data)
