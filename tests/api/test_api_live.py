"""The REST API against a real server: ``trustmeter serve`` (gunicorn) on loopback,
called with urllib; webhooks delivered by a real worker process to a receiver
running in this test (http.server in a thread), including ``kill -9`` of the worker.

Every endpoint is called with every kind of token (none, revoked, viewer, researcher,
admin, one limited to another campaign), and every reply is checked against the
OpenAPI document the server publishes.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from api_support import (
    Receiver,
    call,
    check_against_spec,
    complete_responses,
    signature_ok,
)
from conftest import Respondent
from live_server import ROOT, HttpRespondent, LiveServer, trustmeter
from openapi_spec_validator import validate

from survey.storage import audit, outbox, store, tokens, webhooks
from survey.storage.db import open_db

pytestmark = pytest.mark.slow


class WorkerProcess:
    """The outbox worker (survey.worker.run_forever) as a real process."""

    def __init__(self, db_path: Path, log_path: Path, env: dict[str, str] | None = None):
        self.db_path, self.log_path = db_path, log_path
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import sys; from survey.worker import run_forever; run_forever(sys.argv[1])",
                    str(self.db_path),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()
            self.proc = None


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A server on a database with campaigns acme (200 synthetic responses) and beta,
    and one token per role, plus a revoked one and one limited to beta."""
    tmp = tmp_path_factory.mktemp("api")
    db_path = tmp / "api.db"
    trustmeter("init", "--db", str(db_path))
    trustmeter("demo", "--db", str(db_path), "--slug", "acme", "--n", "200", "--seed", "7")
    toks = {}
    with open_db(db_path) as db:
        store.create_campaign(
            db, slug="beta", instrument="customer-trust", period="2026-Q4", params=["segment"]
        )
        for role in ("viewer", "researcher", "admin"):
            toks[role], _ = tokens.create_token(db, role, role)
        toks["scoped"], _ = tokens.create_token(db, "scoped", "researcher", ["beta"])
        toks["revoked"], _ = tokens.create_token(db, "gone", "admin")
        tokens.revoke_token(db, "gone")
        for who in ("researcher", "admin", "scoped"):  # campaigns each role may close
            for slug in (f"close-{who}", f"close2-{who}"):
                store.create_campaign(db, slug=slug, instrument="customer-trust", period="2026-Q4")
    server = LiveServer(db_path, tmp / "server.log", workers=2)
    server.start()
    doc = call("GET", server.base + "/api/v1/openapi.json").json
    try:
        yield {
            "db": db_path,
            "base": server.base + "/api/v1",
            "tokens": toks,
            "doc": doc,
            "tmp": tmp,
            "server": server,
        }
    finally:
        server.kill()


def test_openapi_document_is_valid_31(site):
    doc = site["doc"]
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # openapi-spec-validator: raises when invalid
    ops = {(p, m) for p, v in doc["paths"].items() for m in v}
    assert ("/api/v1/campaigns/{slug}/responses", "get") in ops
    assert ("/api/v1/campaigns/{slug}/invitations", "post") in ops
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


# ----- every endpoint, every role -----------------------------------------------------------------
ROLE_RANK = {"viewer": 0, "researcher": 1, "admin": 2, "scoped": 1}


def _endpoints(who: str):
    """(method, template, path, body, least role, success status) per endpoint; paths
    with side effects get a slug of their own per token."""
    return [
        ("GET", "/api/v1/campaigns", "/campaigns?limit=2", None, "viewer", 200),
        (
            "POST",
            "/api/v1/campaigns",
            "/campaigns",
            {"slug": f"new-{who}", "period": "2026-Q4", "params": ["segment"]},
            "researcher",
            201,
        ),
        ("GET", "/api/v1/campaigns/{slug}", "/campaigns/acme", None, "viewer", 200),
        (
            "POST",
            "/api/v1/campaigns/{slug}/close",
            f"/campaigns/close-{who}/close",
            None,
            "researcher",
            200,
        ),
        (
            "POST",
            "/api/v1/campaigns/{slug}/invitations",
            "/campaigns/acme/invitations",
            {"count": 2, "params": {"segment": "vip"}},
            "researcher",
            201,
        ),
        (
            "GET",
            "/api/v1/campaigns/{slug}/responses",
            "/campaigns/acme/responses?limit=5",
            None,
            "researcher",
            200,
        ),
        (
            "GET",
            "/api/v1/campaigns/{slug}/export",
            "/campaigns/acme/export?format=csv",
            None,
            "researcher",
            200,
        ),
        (
            "POST",
            "/api/v1/campaigns/{slug}/exports",
            "/campaigns/acme/exports",
            {"format": "csv"},
            "researcher",
            202,
        ),
        (
            "GET",
            "/api/v1/campaigns/{slug}/exports/{job_id}",
            "/campaigns/acme/exports/999999",
            None,
            "researcher",
            404,
        ),  # no such export
        (
            "GET",
            "/api/v1/campaigns/{slug}/exports/{job_id}/file",
            "/campaigns/acme/exports/999999/file",
            None,
            "researcher",
            404,
        ),
        ("GET", "/api/v1/campaigns/{slug}/report", "/campaigns/acme/report", None, "viewer", 200),
        (
            "GET",
            "/api/v1/campaigns/{slug}/webhooks",
            "/campaigns/acme/webhooks",
            None,
            "researcher",
            200,
        ),
        (
            "POST",
            "/api/v1/campaigns/{slug}/webhooks",
            "/campaigns/acme/webhooks",
            {"url": "http://127.0.0.1:9/nobody", "events": ["campaign.closed"]},
            "researcher",
            201,
        ),
        (
            "GET",
            "/api/v1/campaigns/{slug}/webhooks/deliveries",
            "/campaigns/acme/webhooks/deliveries",
            None,
            "researcher",
            200,
        ),
        (
            "DELETE",
            "/api/v1/campaigns/{slug}/webhooks/{webhook_id}",
            "/campaigns/acme/webhooks/999999",
            None,
            "researcher",
            404,
        ),  # no such webhook
    ]


@pytest.mark.parametrize("who", ["none", "revoked", "viewer", "researcher", "admin", "scoped"])
def test_every_endpoint_for_every_kind_of_token(site, who):
    token = site["tokens"].get(who)
    for method, template, path, body, least, ok in _endpoints(who):
        if who == "scoped" and path.startswith("/campaigns/close-"):
            path = path.replace("close-", "close2-")  # also outside its scope
        r = call(method, site["base"] + path, token, body)
        what = f"{who} {method} {path}: {r.status} {r.body[:300]!r}"
        if who in ("none", "revoked"):
            expected = 401
        elif ROLE_RANK[who] < ROLE_RANK[least]:
            expected = 403
        elif who == "scoped" and template != "/api/v1/campaigns":
            expected = 403  # acme and close2-scoped are not its campaigns
        elif who == "scoped" and method == "POST":
            expected = 403  # a limited token cannot create campaigns
        else:
            expected = ok
        assert r.status == expected, what
        check_against_spec(site["doc"], method, template, r)
        if expected >= 400:
            assert r.content_type == "application/problem+json", what
            assert r.json["status"] == expected
            if expected == 401:
                assert r.headers.get("www-authenticate", "").startswith("Bearer")
            continue
        if template == "/api/v1/campaigns" and method == "GET":
            slugs = {c["slug"] for c in r.json["items"]}
            if who == "scoped":
                assert slugs == {"beta"} and r.json["total"] == 1
            else:
                assert r.json["total"] >= 8 and len(slugs) == 2 and r.json["next_offset"] == 2
        elif template == "/api/v1/campaigns/{slug}" and method == "GET":
            assert r.json["stats"]["completed"] == 200
            ti = r.json["trust_index"]  # the current period's (2026-Q4), 30+ respondents
            assert ti["suppressed"] is False and 0 <= ti["mean"] <= 100 and ti["n"] >= 30
            assert ti["period"] == "2026-Q4" and ti["ci95"][0] < ti["mean"] < ti["ci95"][1]
            assert r.json["funnel"]["contacts"] == 0 and r.json["funnel"]["completed"] == 0
        elif template.endswith("/close"):
            assert r.json["status"] == "closed"
            assert call(method, site["base"] + path, token).status == 409
        elif template.endswith("/invitations"):
            assert r.json["count"] == 2
            for inv in r.json["invitations"]:
                assert inv["url"].endswith("/i/" + inv["token"])
        elif template.endswith("/responses"):
            assert r.content_type == "application/x-ndjson"
            rows = [json.loads(line) for line in r.body.decode().splitlines()]
            assert [x["row"] for x in rows] == [1, 2, 3, 4, 5]
            assert r.headers["trustmeter-count"] == "5" and 'rel="next"' in r.headers["link"]
        elif template.endswith("/export"):
            z = zipfile.ZipFile(io.BytesIO(r.body))
            assert sorted(z.namelist()) == [
                "acme.csv",
                "acme.csv.codebook.json",
                "acme.csv.codebook.md",
                "acme.csv.manifest.json",
            ]
            manifest = json.loads(z.read("acme.csv.manifest.json"))
            assert manifest["rows"] == 200
            with open_db(site["db"]) as db:  # audited like the web export: rows and sha256
                (e,) = [
                    e
                    for e in audit.entries(db, user=f"token:{who}")
                    if e["details"].get("endpoint") == "api.export"
                ][:1]
            assert e["details"]["export"] == {
                "format": "csv",
                "rows": 200,
                "sha256": manifest["sha256"],
            }
        elif template.endswith("/exports") and method == "POST":
            assert r.json["state"] in ("queued", "running", "done")
            assert r.headers["location"] == r.json["status_url"]
            assert r.json["status_url"].endswith(f"/api/v1/campaigns/acme/exports/{r.json['id']}")
        elif template.endswith("/report"):
            assert r.json["campaigns"] == ["acme"] and r.json["focus"]
        elif template.endswith("/webhooks") and method == "POST":
            assert r.json["secret"].startswith("whsec_")
            listed = call("GET", site["base"] + path, token).json["items"]
            assert r.json["id"] in [w["id"] for w in listed]
            assert all("secret" not in w for w in listed)
            gone = call("DELETE", f"{site['base']}{path}/{r.json['id']}", token)
            assert gone.status == 204
            check_against_spec(
                site["doc"], "DELETE", "/api/v1/campaigns/{slug}/webhooks/{webhook_id}", gone
            )
            again = call("DELETE", f"{site['base']}{path}/{r.json['id']}", token)
            assert again.status == 404
    with open_db(site["db"]) as db:  # every authenticated call is in the audit log
        rows = db.execute(
            "SELECT COUNT(*) FROM audit_log WHERE user = ?", [f"token:{who}"]
        ).fetchone()[0]
    assert rows >= (len(_endpoints(who)) if who in ("viewer", "researcher", "admin") else 0)


def test_problems_for_bad_requests(site):
    base, tok, doc = site["base"], site["tokens"]["admin"], site["doc"]
    cases = [
        ("POST", "/api/v1/campaigns", "/campaigns", {"slug": 5}, 422),
        ("POST", "/api/v1/campaigns", "/campaigns", {"slug": "acme", "period": "2026-Q4"}, 409),
        ("POST", "/api/v1/campaigns", "/campaigns", {"slug": "Bad Slug", "period": "2026-Q4"}, 422),
        (
            "POST",
            "/api/v1/campaigns/{slug}/invitations",
            "/campaigns/acme/invitations",
            {"count": 0},
            422,
        ),
        (
            "POST",
            "/api/v1/campaigns/{slug}/invitations",
            "/campaigns/acme/invitations",
            {"count": 1, "params": {"undeclared": "x"}},
            422,
        ),
        ("GET", "/api/v1/campaigns/{slug}", "/campaigns/nope", None, 404),
        (
            "GET",
            "/api/v1/campaigns/{slug}/responses",
            "/campaigns/acme/responses?since=xyz",
            None,
            400,
        ),
        (
            "GET",
            "/api/v1/campaigns/{slug}/responses",
            "/campaigns/acme/responses?limit=0",
            None,
            422,
        ),
        ("GET", "/api/v1/campaigns/{slug}/export", "/campaigns/acme/export?format=pdf", None, 422),
        (
            "GET",
            "/api/v1/campaigns/{slug}/report",
            "/campaigns/acme/report?period=1999-Q1",
            None,
            422,
        ),
        (
            "POST",
            "/api/v1/campaigns/{slug}/webhooks",
            "/campaigns/acme/webhooks",
            {"url": "ftp://example.com/x"},
            422,
        ),
    ]
    for method, template, path, body, status in cases:
        r = call(method, base + path, tok, body)
        assert r.status == status, (path, body, r.status, r.body[:300])
        assert r.content_type == "application/problem+json"
        check_against_spec(doc, method, template, r)
    r = call(
        "POST",
        base + "/campaigns",
        tok,
        raw=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status == 400 and r.json["type"].endswith("/bad-request")
    r = call(
        "POST",
        base + "/campaigns",
        tok,
        raw=b"slug=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status == 400
    big = {"slug": "big", "period": "2026-Q4", "title": "x" * 300_000}
    r = call("POST", base + "/campaigns", tok, big)
    assert r.status == 413 and r.content_type == "application/problem+json"
    r = call("GET", base + "/no/such/thing", tok)
    assert r.status == 404 and r.content_type == "application/problem+json"
    r = call("DELETE", base + "/campaigns", tok)
    assert r.status == 405 and r.content_type == "application/problem+json"
    assert set(r.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def _wait_for_export(site, url: str, token: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = call("GET", url, token)
        assert r.status == 200, r.body[:300]
        check_against_spec(site["doc"], "GET", "/api/v1/campaigns/{slug}/exports/{job_id}", r)
        if r.json["state"] not in ("queued", "running"):
            assert "retry-after" not in r.headers
            return r.json
        assert r.headers["retry-after"] == "2"
        assert time.monotonic() < deadline, r.json
        time.sleep(0.2)


def test_background_export_over_the_api_run_by_the_real_worker(site):
    """POST queues a job (202 + Location), the server's outbox worker process runs it,
    the status shows rows done of the total, and the file is the same ZIP as the
    synchronous endpoint's, audited with its rows and sha256 at download."""
    base, tok, doc = site["base"], site["tokens"]["researcher"], site["doc"]
    r = call("POST", base + "/campaigns/acme/exports", tok, {"format": "parquet", "language": "ru"})
    assert r.status == 202, r.body[:300]
    check_against_spec(doc, "POST", "/api/v1/campaigns/{slug}/exports", r)
    job = r.json
    assert job["format"] == "parquet" and job["language"] == "ru" and job["file_url"] is None
    early = call("GET", job["status_url"] + "/file", tok)
    if early.status != 200:  # a fast worker may already be done
        assert early.status == 409 and early.json["type"].endswith("/not-ready")
        check_against_spec(doc, "GET", "/api/v1/campaigns/{slug}/exports/{job_id}/file", early)
    done = _wait_for_export(site, r.headers["location"], tok)
    assert done["state"] == "done", done
    assert done["rows_done"] == done["rows_total"] == 200
    assert done["file_url"] == job["status_url"] + "/file" and done["size_bytes"] > 0
    f = call("GET", done["file_url"], tok)
    assert f.status == 200 and f.content_type == "application/zip"
    check_against_spec(doc, "GET", "/api/v1/campaigns/{slug}/exports/{job_id}/file", f)
    assert "acme-parquet.zip" in f.headers["content-disposition"]
    assert int(f.headers["content-length"]) == done["size_bytes"]
    z = zipfile.ZipFile(io.BytesIO(f.body))
    assert sorted(z.namelist()) == [
        "acme.parquet",
        "acme.parquet.codebook.json",
        "acme.parquet.codebook.md",
        "acme.parquet.manifest.json",
    ]
    manifest = json.loads(z.read("acme.parquet.manifest.json"))
    assert manifest["rows"] == 200 and manifest["sha256"] == done["sha256"]
    assert manifest["label_language"] == "ru"
    with open_db(site["db"]) as db:
        (e,) = [
            e
            for e in audit.entries(db, user="token:researcher")
            if e["details"].get("endpoint") == "api.export_file"
        ][:1]
    assert e["details"]["export"] == {
        "job": done["id"],
        "format": "parquet",
        "rows": 200,
        "sha256": done["sha256"],
    }
    # another campaign's token cannot see it; the id under another campaign is unknown
    scoped = call("GET", job["status_url"], site["tokens"]["scoped"])
    assert scoped.status == 403
    other = call("GET", f"{base}/campaigns/beta/exports/{done['id']}", tok)
    assert other.status == 404 and other.json["type"].endswith("/not-found")


def test_background_export_problems(site):
    base, tok, doc = site["base"], site["tokens"]["admin"], site["doc"]
    for body, needle in (
        ({"format": "pdf"}, "format"),
        ({"format": "csv", "period": "1999-Q1"}, "1999-Q1"),
        ({"format": "csv", "language": "xx"}, "'xx'"),
        ({"format": "csv", "columns": ["a"]}, "columns"),
    ):
        r = call("POST", base + "/campaigns/acme/exports", tok, body)
        assert r.status == 422, (body, r.status, r.body[:300])
        assert r.content_type == "application/problem+json" and needle in r.body.decode(), body
        check_against_spec(doc, "POST", "/api/v1/campaigns/{slug}/exports", r)
    r = call("POST", base + "/campaigns/nope/exports", tok, {"format": "csv"})
    assert r.status == 404
    # a job the worker cannot run (the campaign's instrument has no language "xx";
    # queued through storage, as the API refuses it): failed, and its file is a 409
    with open_db(site["db"]) as db:
        from survey.storage import export_jobs

        bad = export_jobs.create(
            db,
            store.get_campaign(db, "acme"),
            "csv",
            period=None,
            language="xx",
            requested_by="token:admin",
        )
    url = f"{base}/campaigns/acme/exports/{bad['id']}"
    failed = _wait_for_export(site, url, tok)
    assert failed["state"] == "failed" and "'xx'" in failed["error"]
    assert failed["file_url"] is None
    r = call("GET", url + "/file", tok)
    assert r.status == 409 and r.json["type"].endswith("/export-failed")
    check_against_spec(doc, "GET", "/api/v1/campaigns/{slug}/exports/{job_id}/file", r)


def test_contact_invitations_with_send_queue_one_email_each(site):
    """The transactional trigger: two contacts, ``send``: their invitation e-mails are in
    the outbox (the same kind ``trustmeter send`` queues); a third call with one of them
    again skips it."""
    base, tok = site["base"], site["tokens"]["researcher"]
    body = {
        "contacts": [
            {
                "email": "ana@example.com",
                "name": "Ana",
                "language": "en",
                "params": {"segment": "phone"},
            },
            {"email": "oleg@example.com", "language": "ru"},
        ],
        "send": True,
    }
    r = call("POST", base + "/campaigns/beta/invitations", site["tokens"]["scoped"], body)
    assert r.status == 201, r.body
    check_against_spec(site["doc"], "POST", "/api/v1/campaigns/{slug}/invitations", r)
    queued = r.json["queued"]
    assert r.json["count"] == 2 and len(queued) == 2 and "example.com" not in r.body.decode()
    with open_db(site["db"]) as db:
        rows = {row["id"]: row for row in outbox.rows(db, kind="email")}
    assert {q["message"] for q in queued} <= set(rows)
    assert all(rows[q["message"]]["payload"]["purpose"] == "invitation" for q in queued)
    again = call(
        "POST",
        base + "/campaigns/beta/invitations",
        site["tokens"]["scoped"],
        {"contacts": [{"email": "ana@example.com"}]},
    )
    assert again.status == 201 and again.json["count"] == 0 and len(again.json["skipped"]) == 1
    bad = call(
        "POST",
        base + "/campaigns/beta/invitations",
        tok,
        {"contacts": [{"email": "not-an-address"}], "send": True},
    )
    assert bad.status == 422 and bad.content_type == "application/problem+json"


def test_cookies_never_authenticate_and_csrf_does_not_apply(site):
    base = site["base"]
    # a session cookie (even a forged one) is not a credential; a POST needs no CSRF token
    r = call("GET", base + "/campaigns", headers={"Cookie": "session=anything"})
    assert r.status == 401
    r = call(
        "POST", base + "/campaigns/acme/invitations", site["tokens"]["researcher"], {"count": 1}
    )
    assert r.status == 201
    r = call("GET", base + "/campaigns", headers={"Authorization": "Basic YWRtaW46eA=="})
    assert r.status == 401


# ----- incremental pulls -------------------------------------------------------------------------
def test_since_pulls_return_every_response_exactly_once_while_responses_arrive(site):
    base, tok = site["base"], site["tokens"]["researcher"]
    n_new = 45
    marks = [{"segment": f"m{k:03d}"} for k in range(n_new)]
    writer_done = threading.Event()
    errors: list[BaseException] = []

    def writer():
        try:
            for k in range(0, n_new, 3):  # in small bursts, while the puller pulls
                complete_responses(site["db"], "beta", 3, seed=k, params=marks[k : k + 3])
                time.sleep(0.05)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            writer_done.set()

    seen: list[dict] = []
    cursor = None
    pulls = 0
    t = threading.Thread(target=writer)
    t.start()
    try:
        while True:
            done = writer_done.is_set()
            url = f"{base}/campaigns/beta/responses?limit=4"
            if cursor:
                url += f"&since={cursor}"
            r = call("GET", url, site["tokens"]["scoped"] if pulls % 2 else tok)
            pulls += 1
            assert r.status == 200, r.body
            lines = [json.loads(x) for x in r.body.decode().splitlines()]
            assert int(r.headers["trustmeter-count"]) == len(lines)
            seen += lines
            cursor = r.headers["trustmeter-cursor"]
            if done and not lines:
                break
    finally:
        t.join()
    assert not errors, errors
    got = [x["segment"] for x in seen]
    assert sorted(got) == sorted(m["segment"] for m in marks)  # each exactly once
    assert [x["row"] for x in seen] == list(range(1, n_new + 1))  # completion order
    assert pulls > n_new / 4  # pulled while they arrived
    for x in seen:  # the export's columns: no identifiers
        assert not {
            "response_id",
            "invitation_id",
            "started_at",
            "completed_at",
            "token",
            "ip",
        } & set(x)
        assert x["campaign"] == "beta" and 0 <= x["trust_index"] <= 100


# ----- webhooks ----------------------------------------------------------------------
def _add_hook(site, slug: str, url: str, events=("response.completed",)) -> str:
    r = call(
        "POST",
        f"{site['base']}/campaigns/{slug}/webhooks",
        site["tokens"]["admin"],
        {"url": url, "events": list(events)},
    )
    assert r.status == 201, r.body
    return r.json["secret"]


def _new_campaign(site, slug: str) -> None:
    r = call(
        "POST",
        site["base"] + "/campaigns",
        site["tokens"]["admin"],
        {"slug": slug, "period": "2026-Q4", "params": ["segment"]},
    )
    assert r.status == 201, r.body


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    """A database without a server, so that only the workers these tests start (and
    kill) deliver its webhooks (``trustmeter serve`` runs a worker of its own)."""
    tmp = tmp_path_factory.mktemp("hooks")
    db_path = tmp / "hooks.db"
    trustmeter("init", "--db", str(db_path))
    return {"db": db_path, "tmp": tmp}


def _hook_campaign(hooks, slug: str, url: str, events=("response.completed",)) -> str:
    with open_db(hooks["db"]) as db:
        store.create_campaign(
            db, slug=slug, instrument="customer-trust", period="2026-Q4", params=["segment"]
        )
        secret, _ = webhooks.add_webhook(db, slug, url, events)
    return secret


def test_one_signed_delivery_per_completed_response(hooks):
    worker = WorkerProcess(hooks["db"], hooks["tmp"] / "worker1.log")
    with Receiver() as rx:
        secret = _hook_campaign(hooks, "hooked", rx.url, ("response.completed", "campaign.closed"))
        worker.start()
        try:
            complete_responses(
                hooks["db"], "hooked", 5, seed=1, params=[{"segment": f"s{k}"} for k in range(5)]
            )
            assert rx.wait_for(lambda got: len(got) >= 5), rx.keys()
            trustmeter("campaign", "close", "--db", str(hooks["db"]), "hooked")
            assert rx.wait_for(lambda got: len(got) >= 6), rx.keys()
            time.sleep(1.5)  # nothing more arrives
        finally:
            worker.stop()
    assert len(rx.received) == 6 and len(set(rx.keys())) == 6
    events = []
    for got in rx.received:
        h = {k.lower(): v for k, v in got["headers"].items()}
        assert h["content-type"] == "application/json"
        assert signature_ok(secret, h["trustmeter-signature"], got["body"])
        assert not signature_ok("whsec_wrong", h["trustmeter-signature"], got["body"])
        body = json.loads(got["body"])
        assert h["trustmeter-event"] == body["type"] and h["idempotency-key"] == body["id"]
        events.append(body)
    completed = [e["data"] for e in events if e["type"] == "response.completed"]
    assert sorted(d["params"]["segment"] for d in completed) == [f"s{k}" for k in range(5)]
    for d in completed:
        assert set(d) == {
            "campaign",
            "period",
            "params",
            "language",
            "dimension_scores",
            "trust_index",
            "trust_breach",
        }
        assert d["campaign"] == "hooked" and d["period"] == "2026-Q4" and d["language"] == "en"
        assert set(d["dimension_scores"]) == {"REL", "HON", "COM", "EMP", "CON"}
        assert 0 <= d["trust_index"] <= 100
        assert set(d["trust_breach"]) and set(d["trust_breach"].values()) <= {0, 1}
    text = b"".join(g["body"] for g in rx.received).decode()
    assert "127.0.0.1" not in text and "token" not in text.lower()
    closed = [e for e in events if e["type"] == "campaign.closed"]
    assert len(closed) == 1 and closed[0]["data"]["completed"] == 5
    with open_db(hooks["db"]) as db:  # the delivery log the campaign page and the API show
        log = webhooks.attempts(db, "hooked")
    assert len(log) == 6 and {e["status"] for e in log} == {200}


def test_a_receiver_that_fails_three_times_gets_the_event_once_it_recovers(hooks):
    worker = WorkerProcess(
        hooks["db"], hooks["tmp"] / "worker2.log", env={outbox.BACKOFF_ENV: "0.2"}
    )
    with Receiver(fail_first=3) as rx:
        secret = _hook_campaign(hooks, "flaky", rx.url)
        worker.start()
        try:
            complete_responses(hooks["db"], "flaky", 1, seed=2)
            assert rx.wait_for(lambda got: len(got) >= 4, timeout=60), rx.keys()
            time.sleep(1.0)
        finally:
            worker.stop()
    assert len(rx.received) == 4 and len(set(rx.keys())) == 1  # 3 x 500, then 200
    for got in rx.received:
        h = {k.lower(): v for k, v in got["headers"].items()}
        assert signature_ok(secret, h["trustmeter-signature"], got["body"])
    assert len({g["body"] for g in rx.received}) == 1  # the same event each time
    with open_db(hooks["db"]) as db:
        log = webhooks.attempts(db, "flaky")
        row = outbox.get_by_key(db, rx.received[0]["key"])
    assert [e["status"] for e in reversed(log)] == [500, 500, 500, 200]
    assert [e["attempt"] for e in reversed(log)] == [1, 2, 3, 4]
    assert row["state"] == "sent" and row["attempts"] == 4


def test_kill_9_of_the_worker_during_deliveries_loses_no_event(hooks):
    n = 12
    with Receiver(delay_s=0.25) as rx:
        _hook_campaign(hooks, "crashy", rx.url)
        complete_responses(hooks["db"], "crashy", n, seed=3)
        with open_db(hooks["db"]) as db:
            expected = {
                r["idempotency_key"]
                for r in outbox.rows(db, kind="webhook")
                if r["campaign_id"] == store.get_campaign(db, "crashy")["id"]
            }
        assert len(expected) == n
        kills = 0
        for round_ in range(3):
            worker = WorkerProcess(hooks["db"], hooks["tmp"] / f"worker3-{round_}.log")
            worker.start()
            target = len(set(rx.keys())) + 3
            rx.wait_for(lambda got, t=target: len({g["key"] for g in got}) >= t, timeout=30)
            time.sleep(0.1)  # most likely in the middle of a delivery
            worker.kill9()
            kills += 1
        worker = WorkerProcess(hooks["db"], hooks["tmp"] / "worker3-final.log")
        worker.start()
        try:
            assert rx.wait_for(lambda got: {g["key"] for g in got} >= expected, timeout=90), sorted(
                expected - set(rx.keys())
            )
        finally:
            worker.stop()
    assert kills == 3
    assert set(rx.keys()) == expected  # no event lost, none invented
    by_key: dict[str, set[bytes]] = {}
    for g in rx.received:
        by_key.setdefault(g["key"], set()).add(g["body"])
    assert all(len(bodies) == 1 for bodies in by_key.values())  # duplicates: same event
    with open_db(hooks["db"]) as db:
        states = {outbox.get_by_key(db, k)["state"] for k in expected}
    assert states == {"sent"}


def test_thank_you_page_does_not_wait_for_a_slow_webhook(site):
    """A respondent completes through the real HTML flow while the receiver takes 5 s per
    delivery: the thank-you page comes back at once, and the worker that ``trustmeter
    serve`` runs delivers the event afterwards."""
    _new_campaign(site, "slowhook")
    with Receiver(delay_s=5.0) as rx:
        _add_hook(site, "slowhook", rx.url)
        person = HttpRespondent(site["server"].base)
        rng = random.Random(4)
        page = person.request("/s/slowhook?lang=en")
        elapsed = None
        for _ in range(30):
            if 'class="panel success"' in page.html:
                break
            assert page.status == 200, (page.status, page.url, page.text[:300])
            if any(i.name == "consent" for i in page.inputs):
                page = person.post(page, {"consent": "y"})
                continue
            chosen = {
                name: Respondent.random_choice(name, values, rng)
                for name, values in page.radio_groups.items()
            }
            started = time.monotonic()
            page = person.post(page, chosen)
            elapsed = time.monotonic() - started
        assert 'class="panel success"' in page.html, page.text[-500:]
        assert elapsed is not None and elapsed < 3.0, elapsed  # the last page's POST
        assert rx.wait_for(lambda got: len(got) == 1, timeout=30)
