"""Slow clients cannot stall ``trustmeter serve``.

A real server (``trustmeter serve --workers 2``, gunicorn gthread workers) gets 50
connections that misbehave: 25 send a partial request line and then trickle one more
header byte every 0.2 s, 25 connect and send nothing. While all 50 are open, a
respondent walks the public link; every page must come back within 1 s.

Sync workers (the previous setup) failed this with two such connections: each worker
blocked reading the first one's headers.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

from live_server import LiveServer, trustmeter

SLOW = 50
PAGE_LIMIT_S = 1.0


def _trickle(port: int, stop: threading.Event, opened: list, lock: threading.Lock) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    with lock:
        opened.append(s)
    try:
        s.sendall(b"GET /s/demo HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while not stop.wait(0.2):
            s.sendall(b"X")  # a header that never ends
    except OSError:
        pass  # the server may close it: that is allowed


def _idle(port: int, opened: list, lock: threading.Lock) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    with lock:
        opened.append(s)


def _timed_get(url: str) -> tuple[float, int]:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as r:
        r.read()
        status = r.status
    return time.perf_counter() - t, status


def test_fifty_slow_connections_do_not_stall_pages(tmp_path):
    db = tmp_path / "slow.db"
    trustmeter("init", "--db", str(db))
    trustmeter(
        "campaign",
        "create",
        "--db",
        str(db),
        "--instrument",
        "customer-trust",
        "--slug",
        "demo",
        "--period",
        "2026-Q4",
    )
    server = LiveServer(db, tmp_path / "server.log", workers=2)
    server.start()
    stop = threading.Event()
    opened: list[socket.socket] = []
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_trickle, args=(server.port, stop, opened, lock), daemon=True)
        for _ in range(SLOW // 2)
    ]
    try:
        _timed_get(server.base + "/s/demo")  # warm up: workers loaded, templates compiled
        for t in threads:
            t.start()
        for _ in range(SLOW - SLOW // 2):
            _idle(server.port, opened, lock)
        deadline = time.monotonic() + 5
        while len(opened) < SLOW and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(opened) == SLOW
        time.sleep(0.5)  # the trickling connections are now inside the server
        times = []
        for path in (
            "/s/demo",
            "/static/survey.css",
            "/s/demo",
            "/s/demo?lang=fa",
            "/s/demo?lang=ru",
            "/s/demo",
        ):
            elapsed, status = _timed_get(server.base + path)
            assert status == 200
            times.append(elapsed)
        assert max(times) < PAGE_LIMIT_S, times
        # and still after the idle connections have been held for a while
        time.sleep(2)
        elapsed, status = _timed_get(server.base + "/s/demo")
        assert status == 200 and elapsed < PAGE_LIMIT_S, elapsed
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        for s in opened:
            s.close()
        server.kill()
