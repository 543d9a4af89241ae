"""The REST API in process: fuzzed JSON bodies (hypothesis) never cause a 500, the rate
limit per token answers 429 problems, tokens and webhooks through the storage API and
the command line, the webhook signature, and the 24-hour retry limit.

The live-server tests of every endpoint are in ``test_api_live.py``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import campaign_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import trustmeter

from survey import webhook_sender, worker
from survey.cli import main
from survey.storage import audit, outbox, store, tokens, webhooks
from survey.storage.db import get_db, open_db


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    app, _ = campaign_app(tmp_path_factory.mktemp("apifuzz") / "fuzz.db", "fuzz-secret")
    with app.app_context():
        raw, _ = tokens.create_token(get_db(), "fuzzer", "admin")
    return app, {"Authorization": f"Bearer {raw}"}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    [
        "slug",
        "period",
        "params",
        "languages",
        "instrument",
        "title",
        "opens",
        "closes",
        "min_segment_n",
        "count",
        "contacts",
        "send",
        "base_url",
        "url",
        "events",
        "email",
        "name",
        "language",
        "format",
        "raw_formulas",
    ]
)
bodies = (
    json_values
    | st.dictionaries(keys, json_values, max_size=6)
    | st.fixed_dictionaries(
        {
            "count": st.integers(-5, 2000) | json_values,
            "params": st.dictionaries(
                st.sampled_from(["segment", "channel", "x"]), json_values, max_size=3
            ),
        }
    )
    | st.fixed_dictionaries(
        {
            "contacts": st.lists(st.dictionaries(keys, json_values, max_size=4), max_size=3),
            "send": json_values,
        }
    )
    | st.fixed_dictionaries(
        {"slug": st.text(max_size=70), "period": json_values, "params": json_values}
    )
)
POSTS = [
    "/api/v1/campaigns",
    "/api/v1/campaigns/acme/invitations",
    "/api/v1/campaigns/acme/webhooks",
    "/api/v1/campaigns/acme/close",
    "/api/v1/campaigns/acme/exports",
]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from(POSTS), body=bodies)
def test_fuzzed_json_bodies_never_cause_a_500(fuzz_app, path, body):
    app, headers = fuzz_app
    client = app.test_client()
    r = client.post(path, data=json.dumps(body), headers=headers, content_type="application/json")
    assert r.status_code < 500, (path, body, r.data[:300])
    if r.status_code >= 400:
        assert r.mimetype == "application/problem+json"
        assert r.json["status"] == r.status_code


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    since=st.text(max_size=30),
    limit=st.text(max_size=6),
    fmt=st.text(max_size=8),
    period=st.text(max_size=8),
)
def test_fuzzed_query_strings_never_cause_a_500(fuzz_app, since, limit, fmt, period):
    app, headers = fuzz_app
    client = app.test_client()
    for path, q in (
        ("/api/v1/campaigns/acme/responses", {"since": since, "limit": limit}),
        ("/api/v1/campaigns/acme/export", {"format": fmt, "period": period}),
        ("/api/v1/campaigns/acme/report", {"period": period}),
        ("/api/v1/campaigns", {"limit": limit, "offset": since}),
    ):
        r = client.get(path, query_string=q, headers=headers)
        assert r.status_code < 500, (path, q, r.data[:300])


def test_raw_non_json_bodies_are_400_problems(fuzz_app):
    app, headers = fuzz_app
    client = app.test_client()
    for data, ctype in (
        (b"\xff\xfe", "application/json"),
        (b"{", "application/json"),
        (b"a=b", "text/plain"),
    ):
        r = client.post("/api/v1/campaigns", data=data, headers=headers, content_type=ctype)
        assert r.status_code == 400 and r.mimetype == "application/problem+json"


def test_rate_limit_per_token_answers_429_problems(tmp_path):
    app, _ = campaign_app(tmp_path / "rl.db", "rl-secret")
    app.config.update(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE=":memory:", API_RATELIMIT=5)
    with app.app_context():
        a, _ = tokens.create_token(get_db(), "a", "viewer")
        b, _ = tokens.create_token(get_db(), "b", "viewer")
    client = app.test_client()
    codes = [
        client.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {a}"}).status_code
        for _ in range(7)
    ]
    assert codes == [200] * 5 + [429, 429]
    r = client.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {a}"})
    assert r.mimetype == "application/problem+json" and int(r.headers["Retry-After"]) >= 1
    # per token: another token still gets through
    assert (
        client.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {b}"}).status_code == 200
    )


def test_tokens_are_stored_as_hashes_and_revocation_is_immediate(tmp_path):
    app, _ = campaign_app(tmp_path / "t.db", "t-secret")
    client = app.test_client()
    with app.app_context():
        db = get_db()
        raw, t = tokens.create_token(db, "ci", "researcher", ["acme"])
        assert raw.startswith("tm_") and len(raw) > 40
        stored = db.execute("SELECT * FROM api_tokens").fetchall()
        assert raw not in json.dumps(stored)
        with pytest.raises(ValueError, match="already exists"):
            tokens.create_token(db, "ci", "viewer")
        with pytest.raises(LookupError):
            tokens.create_token(db, "x", "viewer", ["nope"])
        with pytest.raises(ValueError):
            tokens.create_token(db, "bad name", "viewer")
        with pytest.raises(ValueError):
            tokens.create_token(db, "y", "owner")
    h = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/campaigns/acme", headers=h).status_code == 200
    with app.app_context():
        tokens.revoke_token(get_db(), "ci")
        entries = audit.entries(get_db(), user="token:ci")
        assert entries and entries[0]["action"] == "api.call"
        assert raw not in json.dumps(audit.entries(get_db(), limit=1000))
    assert client.get("/api/v1/campaigns/acme", headers=h).status_code == 401
    with app.app_context():  # the name can be used again after revocation
        tokens.create_token(get_db(), "ci", "viewer")


def test_cli_token_and_webhook_commands(tmp_path):
    db_path = str(tmp_path / "cli.db")
    trustmeter("init", "--db", db_path)
    trustmeter(
        "campaign",
        "create",
        "--db",
        db_path,
        "--instrument",
        "customer-trust",
        "--slug",
        "acme",
        "--period",
        "2026-Q4",
    )
    raw = trustmeter(
        "token", "create", "ci", "--role", "viewer", "--campaign", "acme", "--db", db_path
    ).strip()
    assert raw.startswith("tm_")
    listed = trustmeter("token", "list", "--db", db_path)
    assert "ci\tviewer\tacme\t" in listed and raw not in listed
    trustmeter("token", "revoke", "ci", "--db", db_path)
    assert "\nci\t" not in trustmeter("token", "list", "--db", db_path)
    revoked = [
        line.split("\t")
        for line in trustmeter("token", "list", "--all", "--db", db_path).splitlines()[1:]
    ]
    assert [r[0] for r in revoked] == ["ci"] and revoked[0][-1]  # revoked_at set
    secret = trustmeter(
        "webhook",
        "add",
        "acme",
        "https://example.com/hook",
        "--event",
        "campaign.closed",
        "--db",
        db_path,
    ).strip()
    assert secret.startswith("whsec_")
    assert "campaign.closed\thttps://example.com/hook" in trustmeter(
        "webhook", "list", "acme", "--db", db_path
    )
    trustmeter("webhook", "remove", "acme", "1", "--db", db_path)
    from click.testing import CliRunner

    for args, message in (
        (["token", "revoke", "ci"], "no active token"),
        (["webhook", "add", "acme", "ftp://x"], "must start with"),
        (["webhook", "add", "nope", "https://x.org"], "unknown campaign"),
        (["token", "create", "x", "--role", "viewer", "--campaign", "zz"], "unknown campaign"),
    ):
        r = CliRunner().invoke(main, [*args, "--db", db_path])
        assert r.exit_code == 1 and message in r.output, r.output
        assert "Traceback" not in r.output
    with open_db(db_path) as db:
        actions = [e["action"] for e in audit.entries(db)]
        assert {"token.create", "token.revoke", "webhook.add", "webhook.remove"} <= set(actions)
        assert secret not in json.dumps(audit.entries(db)) and raw not in json.dumps(
            audit.entries(db)
        )
        added = audit.entries(db, action="webhook.add")[0]["details"]
        assert added["url"] == "https://example.com"  # the origin only: paths hold secrets


def test_signature_verifies_and_rejects_old_or_altered_deliveries():
    body = webhook_sender.body_bytes({"id": "k", "type": "response.completed", "data": {}})
    now = int(time.time())
    header = webhook_sender.sign("whsec_x", now, body)
    assert webhook_sender.verify_signature("whsec_x", header, body)
    assert not webhook_sender.verify_signature("whsec_y", header, body)
    assert not webhook_sender.verify_signature("whsec_x", header, body + b" ")
    old = webhook_sender.sign("whsec_x", now - 301, body)
    assert not webhook_sender.verify_signature("whsec_x", old, body)
    assert not webhook_sender.verify_signature("whsec_x", "garbage", body)


def test_deliveries_give_up_after_24_hours(tmp_path):
    """A delivery that still fails once the next retry would fall beyond 24 hours after
    the event is marked failed; before that it is retried."""
    db_path = tmp_path / "giveup.db"
    trustmeter("init", "--db", str(db_path))
    with open_db(db_path) as db:
        c = store.create_campaign(db, slug="acme", instrument="customer-trust", period="2026-Q4")
        webhooks.add_webhook(db, "acme", "http://127.0.0.1:9/refused")  # nothing listens
        young = webhooks.enqueue_event(db, c, "response.completed", "young", {"x": 1})[0]
        old = webhooks.enqueue_event(db, c, "response.completed", "old", {"x": 2})[0]
        row = outbox.get_by_key(db, old)
        payload = row["payload"]
        payload["body"]["created_at"] = (
            datetime.now(UTC) - timedelta(hours=23, minutes=59, seconds=50)
        ).isoformat()
        db.execute("UPDATE outbox SET payload = ? WHERE id = ?", [json.dumps(payload), row["id"]])
        db.conn.commit()
        w = worker.Worker(db, kinds=["webhook"])
        outcomes = {o.job.idempotency_key: o for o in (w.step(), w.step())}
        assert outcomes[young].state == "retrying"
        assert outcomes[old].state == "failed" and "24 hours" in outcomes[old].detail
        log = webhooks.attempts(db, "acme")
        assert len(log) == 2 and all(e["status"] is None and e["error"] for e in log)


def test_the_synchronous_export_refuses_large_campaigns(tmp_path):
    """``GET .../export`` builds the ZIP during the request: kept for existing clients up
    to a number of rows, above which it answers a 422 that points to the background
    exports (``POST .../exports``)."""
    from survey import demo

    app, _ = campaign_app(tmp_path / "sync.db", "sync-secret")
    with app.app_context():
        demo.fill_demo(get_db(), "acme", 30, seed=1)
        raw, _ = tokens.create_token(get_db(), "r", "researcher")
    headers = {"Authorization": f"Bearer {raw}"}
    client = app.test_client()
    with client.get("/api/v1/campaigns/acme/export?format=csv", headers=headers) as r:
        assert r.status_code == 200 and r.mimetype == "application/zip"
    app.config["TRUSTMETER_API_SYNC_EXPORT_MAX_ROWS"] = 29
    r = client.get("/api/v1/campaigns/acme/export?format=csv", headers=headers)
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert r.json["type"].endswith("/export-too-large")
    assert "30 complete responses" in r.json["detail"]
    assert "POST /api/v1/campaigns/acme/exports" in r.json["detail"]
    r = client.post("/api/v1/campaigns/acme/exports", json={"format": "csv"}, headers=headers)
    assert r.status_code == 202 and r.headers["Location"] == r.json["status_url"]
