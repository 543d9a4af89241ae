"""Respondents' latency while two large exports run (issue 14, item 3).

A copy of the load/export benchmark's database (1,000,000 complete responses at full
scale) gets a second campaign with the built-in customer-trust questionnaire and a
researcher API token; ``trustmeter serve --workers 2`` serves it, with its outbox
worker (the process that builds exports, at ``nice`` +10).

1. **Baseline:** ``CLIENTS`` simulated respondents (the web benchmark's client: intro,
   consent, every page GET and POST, thank-you) answer the second campaign for
   ``seconds``; latency of every request is recorded.
2. **During exports:** two xlsx exports of the large campaign are queued through the
   API (``POST /api/v1/campaigns/<slug>/exports``, the slowest format, as in the
   issue's report of two researchers downloading xlsx at once); once the first has
   written rows (before that the worker counts them and screens for careless
   responses), the same respondents run for the same time again.
3. The jobs' progress (``rows_done``) before and after the window shows the exports
   really ran meanwhile; the server is then stopped (the exports are not waited for).

The figures are the latency percentiles of both windows and their ratio. The machine
is shared, so the two windows are measured back to back in one run.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks import data, web

CLIENTS = 8
EXPORTS = 2
FORMAT = "xlsx"


def _copy_db(src: Path, dst: Path) -> None:
    """A consistent copy with SQLite's backup API (the source may have a WAL)."""
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as s, sqlite3.connect(dst) as d:
        s.backup(d)
    os.chmod(dst, 0o600)


def _cli(*args: str, env: dict) -> str:
    exe = str(Path(sys.executable).with_name("trustmeter"))
    return subprocess.run([exe, *args], check=True, env=env, capture_output=True, text=True).stdout


def _api(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        path if path.startswith("http") else base + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _outbox_worker_pid(server_pid: int) -> int | None:
    """The outbox worker ``trustmeter serve`` started (``python -m survey.worker``)."""
    try:
        children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        try:
            if b"survey.worker" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
        except OSError:
            continue
    return None


def _cpu_s(pid: int | None, *, children: bool = False) -> float | None:
    """User + system CPU seconds of one process; with ``children``, plus its children's:
    those it has waited for (``cutime``, ``cstime``) and those still running (the
    export's reading child, ``survey/storage/arrow_reader.py``)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
        try:
            live = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            live = []
        total = ticks / os.sysconf("SC_CLK_TCK")
        return total + sum(_cpu_s(int(c), children=True) or 0.0 for c in live)
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(n: int, seconds: float) -> dict:
    src = data.db_path(n)
    with tempfile.TemporaryDirectory(prefix="trustmeter-bench-exports-") as tmp:
        db = Path(tmp) / "live.db"
        t = time.perf_counter()
        _copy_db(src, db)
        copy_s = time.perf_counter() - t
        env = {**os.environ, "TRUSTMETER_SECRET_KEY": "bench-" + os.urandom(8).hex()}
        env.update(web.NO_RATELIMIT)
        env.pop("TRUSTMETER_DB", None)
        env["TRUSTMETER_EXPORT_DIR"] = str(Path(tmp) / "exports")
        _cli("init", "--db", str(db), env=env)
        _cli(
            "campaign", "create", "--db", str(db), "--instrument", "customer-trust",
            "--slug", "live", "--period", "2026-Q4", env=env,
        )  # fmt: skip
        token = _cli(
            "token", "create", "--db", str(db), "--role", "researcher", "bench", env=env
        ).split()[0]
        port = web.free_port()
        exe = str(Path(sys.executable).with_name("trustmeter"))
        server = subprocess.Popen(
            [exe, "serve", "--db", str(db), "--host", web.HOST, "--port", str(port),
             "--workers", str(web.WORKERS)],
            env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://{web.HOST}:{port}"
        try:
            web.wait_port(port, server)
            web.load(port, 2, "survey", slug="live", concurrency=CLIENTS)  # warm-up
            baseline = web.load(port, seconds, "survey", slug="live", concurrency=CLIENTS)
            jobs = [
                _api(
                    base, token, "POST", f"/api/v1/campaigns/{data.SLUG}/exports",
                    {"format": FORMAT, "language": "en"},
                )["status_url"]
                for _ in range(EXPORTS)
            ]  # fmt: skip
            # the window opens once the first export writes rows (before that it counts
            # them and screens for careless responses)
            deadline = time.monotonic() + 900
            t = time.perf_counter()
            while not (first := _api(base, token, "GET", jobs[0]))["rows_done"]:
                if first["state"] not in ("queued", "running"):
                    break  # e.g. a tiny campaign exported at once: see the states recorded
                if time.monotonic() > deadline:
                    raise RuntimeError("the first export wrote no row in 900 s")
                time.sleep(0.5)
            wait_s = time.perf_counter() - t
            before = [_api(base, token, "GET", u) for u in jobs]
            exporter = _outbox_worker_pid(server.pid)
            cpu0, all0 = _cpu_s(exporter), _cpu_s(exporter, children=True)
            during = web.load(port, seconds, "survey", slug="live", concurrency=CLIENTS)
            cpu1, all1 = _cpu_s(exporter), _cpu_s(exporter, children=True)
            after = [_api(base, token, "GET", u) for u in jobs]
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    progress = [
        {
            "state_before": b["state"],
            "state_after": a["state"],
            "rows_done_before": b.get("rows_done"),
            "rows_done_after": a.get("rows_done"),
            "rows_total": a.get("rows_total"),
        }
        for b, a in zip(before, after, strict=True)
    ]
    return {
        "n": n,
        "clients": CLIENTS,
        "exports": EXPORTS,
        "format": FORMAT,
        "seconds_per_window": seconds,
        "db_copy_s": copy_s,
        "first_job_state_at_start": first["state"],
        "seconds_until_first_rows": wait_s,
        "baseline": baseline,
        "during_exports": during,
        "export_progress": progress,
        # CPU the exporting worker process got during the window (it runs at nice +10)
        "export_worker_cpu_s_in_window": (
            cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
        ),
        # the same with the worker's children (the exports' reading processes), each
        # counted for its CPU inside the window (live ones at both ends, reaped ones
        # through the worker's cutime and cstime)
        "export_worker_and_children_cpu_s_in_window": (
            all1 - all0 if all0 is not None and all1 is not None else None
        ),
        "rows_exported_during_window": sum(
            (p["rows_done_after"] or 0) - (p["rows_done_before"] or 0) for p in progress
        ),
        "p50_ratio": during["p50_ms"] / baseline["p50_ms"],
        "p99_ratio": during["p99_ms"] / baseline["p99_ms"],
    }
