"""Survey submissions under load: ``trustmeter serve`` versus a trivial Flask endpoint.

Both servers are gunicorn with the same settings (``trustmeter serve``'s: sync
workers, ``--workers``, access log to stdout, here sent to /dev/null). The client
is one Python process with ``CONCURRENCY`` threads, each with its own
``http.client`` connection (reopened when gunicorn's sync workers close it) and,
for the survey, its own cookie jar: every simulated respondent GETs the intro,
POSTs consent with the CSRF token, then GETs and POSTs each page (CSRF, radio
answers), and GETs the thank-you page. Client and servers share the 2 cores, so
the client's CPU time and the servers' CPU time (from ``/proc``) are reported per
request next to the throughput.

The same client also walks the floors of :data:`FLOORS` (:mod:`benchmarks.floor_app`), a
survey with none of the product, served the same way: on the client's named stack with
stock WTForms/Jinja rendering and with every page prerendered, then on bare Werkzeug
with prerendered pages, with durable commits and (not allowed in the product) without
the per-commit fsync. They show what the stack and the durable commits themselves cost
per request of this flow, next to the trivial endpoint's ceiling.
"""

from __future__ import annotations

import http.client
import os
import random
import re
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

CONCURRENCY = 32
WORKERS = 2
HOST = "127.0.0.1"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_RADIO = re.compile(r'<input[^>]*type="radio"[^>]*>')
_NAME = re.compile(r'name="([^"]+)"')
_VALUE = re.compile(r'value="([^"]*)"')
#: The floors (benchmarks.floor_app) and their options: the named stack with stock
#: rendering, prerendered, then bare Werkzeug with durable commits and without.
FLOORS = {
    "floor": [],
    "floor_prerendered": ["--prerendered"],
    "floor_bare": ["--bare"],
    "floor_bare_no_fsync": ["--bare", "--synchronous", "NORMAL"],
}
#: Environment that switches the respondent POST rate limit off (survey.web.ratelimit).
NO_RATELIMIT = {"TRUSTMETER_RATELIMIT_POSTS": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its children (gunicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            pids.append(int(child))
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


class Client:
    """One connection with a cookie jar; counts requests and records latencies."""

    def __init__(self, port: int, latencies: list[float], errors: list[str]):
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.cookies: dict[str, str] = {}
        self.latencies = latencies
        self.errors = errors

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, str, str]:
        headers = {"Accept-Language": "en"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        t = time.perf_counter()
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, data, headers)
                r = self.conn.getresponse()
                text = r.read().decode("utf-8")
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()  # the server closed a kept-alive connection: reconnect
                if attempt:
                    raise
        self.latencies.append(time.perf_counter() - t)
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
        if r.status >= 400:
            self.errors.append(f"{method} {path}: {r.status}")
        return r.status, r.getheader("Location") or "", text


def respond(c: Client, slug: str, rng: random.Random) -> bool:
    """One complete survey submission through the real flow; True when thanked."""
    c.cookies.clear()
    status, _, html = c.request("GET", f"/s/{slug}")
    m = _CSRF.search(html)
    if status != 200 or not m:
        return False
    status, loc, html = c.request("POST", f"/s/{slug}", {"consent": "y", "csrf_token": m.group(1)})
    for _ in range(20):
        if status == 200 and not _CSRF.search(html):
            return True  # the last page's POST answered with the thank-you page
        if status != 302:
            return False
        path = loc.split("://", 1)[-1]
        path = path[path.find("/") :] if "://" in loc else loc
        if path.endswith("/thanks"):
            status, _, html = c.request("GET", path)
            return status == 200
        status, _, html = c.request("GET", path)
        m = _CSRF.search(html)
        if status != 200 or not m:
            return False
        groups: dict[str, list[str]] = {}
        for tag in _RADIO.findall(html):
            groups.setdefault(_NAME.search(tag).group(1), []).append(_VALUE.search(tag).group(1))
        answers = {
            name: rng.choice([v for v in vals if v != "na"] or vals)
            for name, vals in groups.items()
        }
        answers["csrf_token"] = m.group(1)
        status, loc, html = c.request("POST", path, answers)
    return False


def load(
    port: int,
    seconds: float,
    kind: str,
    slug: str = "bench",
    concurrency: int = CONCURRENCY,
    server_pid: int | None = None,
) -> dict:
    """Run ``concurrency`` client threads for ``seconds``; returns throughput and latency."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    done = [0] * concurrency
    stop = threading.Event()

    def worker(i: int) -> None:
        c = Client(port, latencies[i], errors)
        rng = random.Random(i)
        while not stop.is_set():
            if kind == "survey":
                if respond(c, slug, rng):
                    done[i] += 1
            else:
                status, _, _ = c.request("GET", "/ping")
                done[i] += status == 200

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    srv0 = proc_cpu(server_pid) if server_pid else 0.0
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    srv = (proc_cpu(server_pid) - srv0) if server_pid else None
    lat = sorted(x for ls in latencies for x in ls)
    n_req = len(lat)
    q = statistics.quantiles(lat, n=100, method="inclusive") if n_req >= 2 else [float("nan")] * 99
    client_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {
        "kind": kind,
        "seconds": wall,
        "requests": n_req,
        "completed": sum(done),
        "requests_per_s": n_req / wall,
        "completed_per_s": sum(done) / wall,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "client_cpu_ms_per_request": 1000 * client_cpu / max(n_req, 1),
        "server_cpu_ms_per_request": (1000 * srv / max(n_req, 1)) if srv is not None else None,
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
    }


def _trustmeter(*args: str, env: dict) -> None:
    exe = str(Path(sys.executable).with_name("trustmeter"))
    subprocess.run([exe, *args], check=True, env=env, stdout=subprocess.DEVNULL)


class Servers:
    """A temporary database, ``trustmeter serve`` on it, and the trivial app."""

    def __init__(self, workers: int = WORKERS):
        self.tmp = tempfile.TemporaryDirectory(prefix="trustmeter-bench-web-")
        self.db = str(Path(self.tmp.name) / "bench.db")
        self.env = {
            **os.environ,
            "TRUSTMETER_SECRET_KEY": "bench-" + os.urandom(8).hex(),
            **NO_RATELIMIT,
        }
        self.env.pop("TRUSTMETER_DB", None)
        _trustmeter("init", "--db", self.db, env=self.env)
        _trustmeter(
            "campaign",
            "create",
            "--db",
            self.db,
            "--instrument",
            "customer-trust",
            "--slug",
            "bench",
            "--period",
            "2026-Q4",
            env=self.env,
        )
        self.survey_port, self.trivial_port = free_port(), free_port()
        self.floor_ports = {name: free_port() for name in FLOORS}
        exe = str(Path(sys.executable).with_name("trustmeter"))
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.survey = subprocess.Popen(
            [
                exe,
                "serve",
                "--db",
                self.db,
                "--host",
                HOST,
                "--port",
                str(self.survey_port),
                "--workers",
                str(workers),
            ],
            env=self.env,
            cwd=self.tmp.name,
            **quiet,
        )

        def bench_app(module: str, port: int, *args: str) -> subprocess.Popen:
            """``python -m benchmarks.<module>`` served on ``port`` by ``workers``."""
            cmd = [sys.executable, "-m", f"benchmarks.{module}", "--host", HOST]
            cmd += ["--port", str(port), "--workers", str(workers), *args]
            root = str(Path(__file__).resolve().parent.parent)
            return subprocess.Popen(cmd, env=self.env, cwd=root, **quiet)

        self.trivial = bench_app("trivial_app", self.trivial_port)
        self.floors = {
            name: bench_app("floor_app", port, "--db", f"{self.tmp.name}/{name}.db", *FLOORS[name])
            for name, port in self.floor_ports.items()
        }
        try:
            wait_port(self.survey_port, self.survey)
            wait_port(self.trivial_port, self.trivial)
            for name, proc in self.floors.items():
                wait_port(self.floor_ports[name], proc)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for p in (self.survey, self.trivial, *self.floors.values()):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.tmp.cleanup()

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def storage_ceiling(db_path: str, limit: int = 2000) -> dict:
    """Insert rate of the rows the survey stored (responses + answers), with sqlite-utils
    into a fresh trustmeter database: one transaction per response (as the app keeps a
    response atomic), and all rows in one ``insert_all`` (bulk). The answer tables'
    packed column is generated by SQLite on insert, here as in the app, so it is not
    copied."""
    from survey.storage.db import init_db, open_db
    from survey.storage.packing import STORED_COLUMN

    src = sqlite3.connect(db_path)
    src.row_factory = sqlite3.Row
    table = src.execute(  # the answers table of the version the campaign uses
        "SELECT i.answers_table FROM campaigns c JOIN instruments i ON i.id = c.instrument_id "
        "AND i.version = c.instrument_version ORDER BY c.id LIMIT 1"
    ).fetchone()[0]
    resp = [
        dict(r)
        for r in src.execute(
            "SELECT * FROM responses WHERE status = 'complete' ORDER BY id LIMIT ?", [limit]
        )
    ]
    ids = [r["id"] for r in resp]
    ans = {
        r["response_id"]: {k: r[k] for k in r.keys() if k != STORED_COLUMN}
        for r in src.execute(
            f'SELECT * FROM "{table}" WHERE response_id IN ({",".join("?" * len(ids))})', ids
        )
    }
    src.close()
    resp = [r for r in resp if r["id"] in ans]  # responses with a row in this answers table
    ids = [r["id"] for r in resp]
    out: dict = {"rows": len(resp)}
    if not resp:
        return out
    with tempfile.TemporaryDirectory(prefix="trustmeter-bench-store-") as d:
        for mode in ("per_response", "bulk"):
            path = str(Path(d) / f"{mode}.db")
            with open_db(path) as db:
                init_db(db)
                db.execute("INSERT INTO campaigns SELECT * FROM campaigns WHERE 0")  # no-op
                db.conn.execute("PRAGMA foreign_keys = OFF")  # the campaign row is not copied
                t = time.perf_counter()
                if mode == "per_response":
                    for r in resp:
                        with db.conn:
                            db["responses"].insert(r)
                            db[table].insert(ans[r["id"]])
                else:
                    with db.conn:
                        db["responses"].insert_all(resp)
                        db[table].insert_all(ans[i] for i in ids)
                dt = time.perf_counter() - t
            out[f"{mode}_responses_per_s"] = len(resp) / dt
    return out
