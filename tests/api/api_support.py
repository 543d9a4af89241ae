"""Helpers of the API tests: a plain HTTP client (urllib), a check of a real response
against the OpenAPI document, responses completed through the storage API, and a
webhook receiver on loopback (http.server in a thread)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema

from survey.quality import response_quality
from survey.storage import store
from survey.storage.db import open_db


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(
    method: str,
    url: str,
    token: str | None = None,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Reply:
    """One HTTP request with urllib; never raises for an HTTP status."""
    h = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with _NO_PROXY.open(req, timeout=timeout) as r:
            return Reply(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        with e:
            return Reply(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


# ----- the OpenAPI document ------------------------------------------------------------------
def check_against_spec(doc: dict, method: str, template: str, reply: Reply) -> None:
    """The reply's status is documented for the operation, its content type is the
    documented one, and a JSON body validates against the documented schema."""
    op = doc["paths"][template][method.lower()]
    responses = op["responses"]
    assert str(reply.status) in responses, (method, template, reply.status, reply.body[:300])
    content = responses[str(reply.status)].get("content")
    if not content:
        assert reply.body == b"", reply.body[:200]
        return
    assert reply.content_type in content, (reply.content_type, list(content))
    schema = content[reply.content_type].get("schema", {})
    if reply.content_type in ("application/json", "application/problem+json"):
        root = {**schema, "components": doc["components"]}
        jsonschema.Draft202012Validator(root).validate(reply.json)


# ----- responses -------------------------------------------------------------------------------
def complete_responses(
    db_path, slug: str, n: int, *, seed: int = 0, params: list[dict] | None = None
) -> list[int]:
    """Complete ``n`` responses of ``slug`` with random valid answers, through the same
    storage calls as the respondent pages (start, save a page, complete)."""
    rng = random.Random(seed)
    ids = []
    with open_db(db_path) as db:
        c = store.get_campaign(db, slug)
        inst = store.campaign_instrument(db, c)
        for k in range(n):
            rid = store.start_response(
                db,
                c,
                language="en",
                direction="ltr",
                params=(params[k] if params else None),
                item_order=None,
            )
            answers = {}
            for item in inst.item_ids:
                scale = inst.scale_for(item)
                lo, hi = (0, 1) if scale is None else (scale.min, scale.max)
                answers[item] = rng.randint(lo, hi)
            store.save_page(db, rid, 0, answers)
            assert store.complete_response(db, rid, quality=response_quality)
            ids.append(rid)
    return ids


# ----- a webhook receiver ------------------------------------------------------------------------
def signature_ok(secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """What the README tells receivers to do (independent of survey.webhook_sender)."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    t = int(parts["t"])
    if abs(time.time() - t) > tolerance_s:
        return False
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts["v1"])


class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST. ``fail_first`` attempts of each
    Idempotency-Key are answered 500; ``delay_s`` slows every answer down."""

    def __init__(self, *, fail_first: int = 0, delay_s: float = 0.0):
        self.fail_first = fail_first
        self.delay_s = delay_s
        self.received: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    key = self.headers.get("Idempotency-Key")
                    seen = sum(1 for r in outer.received if r["key"] == key)
                    outer.received.append(
                        {"key": key, "headers": dict(self.headers), "body": body, "at": time.time()}
                    )
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                status = 500 if seen < outer.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> list[str]:
        with self.lock:
            return [r["key"] for r in self.received]

    def wait_for(self, predicate, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(list(self.received)):
                    return True
            time.sleep(0.05)
        return False
