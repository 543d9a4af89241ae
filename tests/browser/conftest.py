"""Fixtures of the real-browser tests.

* ``server``: ``trustmeter serve`` (gunicorn, 2 workers) on a free loopback port, on a
  temporary database made with ``trustmeter init``; one per test session.
* ``survey``: a factory of campaigns on that server (``trustmeter campaign create``
  and ``trustmeter invite``), a fresh one per test, so tests do not share responses.
* ``browser``: a factory of headless Chromium sessions (Debian's ``chromium`` and
  ``chromium-driver``, driven by Selenium), each with its own fresh profile;
  ``driver`` is one of them.

Nothing is ever downloaded: the driver path is given explicitly and Selenium Manager
is switched off (``SE_OFFLINE``). Where Chromium or chromedriver is missing, every
browser test is skipped with the missing path as the reason.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from survey.cli import main as trustmeter
from survey.storage.db import open_db

# Selenium Manager must never fetch a driver or a browser.
os.environ["SE_OFFLINE"] = "true"

try:
    from selenium import webdriver
    from selenium.common.exceptions import SessionNotCreatedException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
except ImportError:  # pragma: no cover - reported as a skip by the fixtures
    webdriver = None

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TRUSTMETER_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("TRUSTMETER_CHROMEDRIVER", "/usr/bin/chromedriver"))
#: Every page's screenshot, per run (``/artifacts/`` is gitignored).
ARTIFACTS = ROOT / "artifacts" / "screenshots"
#: axe-core, installed by ``make axe`` from the npm registry.
AXE_JS = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"

DESKTOP = (1280, 900)
INSTALL_HINT = "apt-get install -y chromium chromium-driver fonts-noto-core (.ci/run does)"

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--lang=en-US",
    f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
)


def _require_browser() -> None:
    if webdriver is None:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            pytest.skip(f"{path} is not installed: {INSTALL_HINT}")


# ----- the server ---------------------------------------------------------------------
def cli(*args: str, input: str | None = None) -> str:
    """Run a ``trustmeter`` command (the real click command, in this process)."""
    result = CliRunner().invoke(trustmeter, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == 0, f"trustmeter {' '.join(args)}:\n{result.output}"
    return result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, Linux only
    """Stop the server if pytest is killed (no fixture teardown then): PR_SET_PDEATHSIG."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _trustmeter_command() -> list[str]:
    script = Path(sys.executable).with_name("trustmeter")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from survey.cli import main; main()"]


@dataclass
class Server:
    base_url: str
    db_path: Path
    log_path: Path
    process: subprocess.Popen

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def db(self):
        """``with server.db() as db:`` a connection for checking what was stored."""
        return open_db(self.db_path)


def _wait_until_serving(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"trustmeter serve exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            urllib.request.urlopen(f"{server.base_url}/s/not-a-campaign", timeout=2)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"trustmeter serve did not answer in {timeout} s:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    """``trustmeter serve --workers 2`` on loopback, on a database from ``trustmeter init``."""
    _require_browser()
    home = tmp_path_factory.mktemp("server")
    db_path = home / "browser.db"
    cli("init", "--db", str(db_path))
    env = {
        **os.environ,
        "TRUSTMETER_SECRET_KEY": "browser-tests-secret",
        "TRUSTMETER_DB": str(db_path),
    }
    for attempt in range(3):  # the free port may be taken between choosing and binding
        port = _free_port()
        log_path = home / f"serve-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    *_trustmeter_command(),
                    "serve",
                    "--db",
                    str(db_path),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "2",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=home,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        srv = Server(f"http://127.0.0.1:{port}", db_path, log_path, process)
        try:
            _wait_until_serving(srv)
            break
        except RuntimeError:
            _stop(process)
            if attempt == 2:
                raise
    try:
        yield srv
    finally:
        _stop(srv.process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


# ----- campaigns ------------------------------------------------------------------------
@dataclass
class Survey:
    """A campaign on the test server, with its links."""

    slug: str
    base_url: str
    invitations: list[str] = field(default_factory=list)  # invitation URLs

    @property
    def public_url(self) -> str:
        return f"{self.base_url}/s/{self.slug}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


_slugs = itertools.count(1)


@pytest.fixture
def survey(server) -> Callable[..., Survey]:
    """A factory: ``survey(invitations=2)`` -> a new campaign of customer-trust."""

    def make(invitations: int = 1, *, params: tuple[str, ...] = ("segment",)) -> Survey:
        slug = f"b{next(_slugs)}"
        args = [
            "campaign",
            "create",
            "--db",
            str(server.db_path),
            "--instrument",
            "customer-trust",
            "--slug",
            slug,
            "--period",
            "2026-Q4",
        ]
        for p in params:
            args += ["--param", p]
        cli(*args)
        s = Survey(slug, server.base_url)
        if invitations:
            out = cli(
                "invite",
                "--db",
                str(server.db_path),
                slug,
                "--count",
                str(invitations),
                "--base-url",
                server.base_url,
            )
            s.invitations = [row["url"] for row in csv.DictReader(io.StringIO(out))]
            assert len(s.invitations) == invitations
        return s

    return make


# ----- browsers ---------------------------------------------------------------------------
def chromium_options(profile: Path) -> Options:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    return options


@pytest.fixture
def browser(tmp_path, server) -> Iterator[Callable[[], webdriver.Chrome]]:
    """A factory of fresh headless Chromium sessions (own profile, no shared cookies)."""
    drivers = []

    def start():
        _require_browser()
        profile = tmp_path / f"chromium-profile-{len(drivers)}"
        profile.mkdir()
        for attempt in (1, 2):  # a loaded machine may miss chromedriver's start-up deadline
            service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
            try:
                driver = webdriver.Chrome(options=chromium_options(profile), service=service)
                break
            except SessionNotCreatedException:
                if attempt == 2:
                    raise
                shutil.rmtree(profile, ignore_errors=True)
                profile.mkdir()
        drivers.append(driver)
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(60)
        return driver

    yield start
    for d in drivers:
        try:
            d.quit()
        except Exception:  # a crashed browser must not hide the test result
            pass
    for d in range(len(drivers)):
        shutil.rmtree(tmp_path / f"chromium-profile-{d}", ignore_errors=True)


@pytest.fixture
def driver(browser):
    return browser()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.exists():
        pytest.skip(f"{AXE_JS} is missing: run 'make axe' (npm install axe-core@4)")
    return AXE_JS.read_text(encoding="utf-8")
