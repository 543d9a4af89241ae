"""The endpoints of ``/api/v1/`` (see :mod:`survey.web.api` for the conventions)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import os
from typing import Any

import flask
import numpy as np
from flask import (
    Blueprint,
    current_app,
    g,
    request,
    send_file,
)
from spectree import Response as Resp
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.plugins.flask_plugin import FlaskPlugin
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from analysis import AnalysisError
from survey.export.archive import export_zip
from survey.export.core import response_rows
from survey.export.jobs import file_path as export_file_path
from survey.reporting import live, periodic
from survey.storage import (
    audit,
    export_jobs,
    exports,
    feed,
    store,
    tokens,
    users,
    webhooks,
)
from survey.storage.db import get_db, open_db, write_transaction
from survey.web import ratelimit
from survey.web.api import models as m
from survey.web.api.problems import abort_problem, problem_from_http, problem_response

log = logging.getLogger("trustmeter.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: Every endpoint and the least role that may use it (``None``: no token needed).
ROUTE_ROLES: dict[str, str | None] = {
    "api.openapi": None,
    "api.list_campaigns": "viewer",
    "api.get_campaign": "viewer",
    "api.get_report": "viewer",
    "api.create_campaign": "researcher",
    "api.close_campaign": "researcher",
    "api.create_invitations": "researcher",
    "api.pull_responses": "researcher",
    "api.export": "researcher",
    "api.create_export": "researcher",
    "api.get_export": "researcher",
    "api.export_file": "researcher",
    "api.list_webhooks": "researcher",
    "api.add_webhook": "researcher",
    "api.remove_webhook": "researcher",
    "api.webhook_deliveries": "researcher",
}
_ERRORS = {f"HTTP_{c}": m.Problem for c in (400, 401, 403, 404, 409, 413, 422, 429)}
FEED_CHUNK = 500
JSONL = "application/x-ndjson"


class _Plugin(FlaskPlugin):
    """spectree's Flask plugin, except that streamed responses and files are passed on
    untouched (the stock plugin reads them into memory to validate them)."""

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):
        if isinstance(resp, flask.Response) and (resp.is_streamed or resp.direct_passthrough):
            return resp, None
        return super().validate_response(resp, resp_model, skip_validation, force_resp_serialize)


def _validation_failed(req, resp, error, instance, adapter) -> None:
    """spectree's hook: a request that fails its model is a 422 problem."""
    if error is None:
        return
    errors = [
        {"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": str(e.get("msg", "invalid"))}
        for e in error.errors()
    ]
    where = "query" if request.method == "GET" else "body"
    for e in errors:
        e["loc"] = f"{where}.{e['loc']}" if e["loc"] else where
    abort_problem(
        422,
        "the request does not match the schema",
        type_="validation",
        title="Invalid request",
        errors=errors[:50],
    )


spec = SpecTree(
    "flask",
    backend=_Plugin,
    mode="strict",
    annotations=False,
    path="api/v1/_spectree",
    page_templates={},
    title="trustmeter API",
    version="1",
    description="Campaigns, invitations, responses, exports, reports and webhooks of a "
    "trustmeter server. Authenticate with `Authorization: Bearer <token>` "
    "(`trustmeter token create`). Errors are RFC 9457 problem details.",
    before=_validation_failed,
    validation_error_status=422,
    validation_error_model=m.Problem,
    security_schemes=[
        SecurityScheme(name="bearer", data=SecuritySchemeData(type="http", scheme="bearer"))
    ],
    security={"bearer": []},
)


# ----- authentication, authorisation, rate limit, audit ----------------------------------
def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _unauthorized(detail: str) -> None:
    ratelimit.check("api-auth", ratelimit.client_ip(), limit=60, window=60)
    abort_problem(
        401, detail, type_="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="trustmeter"'}
    )


@bp.before_request
def _authenticate():
    g.api_token = None
    endpoint = request.endpoint or ""
    if endpoint not in ROUTE_ROLES:
        return None  # the catch-all: 404/405 problem
    minimum = ROUTE_ROLES[endpoint]
    if minimum is None:
        return None
    raw = _bearer()
    if raw is None:
        _unauthorized("send the API token as 'Authorization: Bearer <token>'")
    token = tokens.authenticate(get_db(), raw)
    if token is None:
        _unauthorized("the token is unknown or has been revoked")
    g.api_token = token
    cfg = current_app.config
    ratelimit.check(
        "api",
        f"token:{token['id']}",
        limit=cfg.get("API_RATELIMIT", 600),
        window=cfg.get("API_RATELIMIT_WINDOW", 60),
    )
    if not users.role_at_least(token["role"], minimum):
        abort_problem(
            403,
            f"this call needs the {minimum} role; the token has {token['role']}",
            type_="forbidden",
        )
    slug = (request.view_args or {}).get("slug")
    if slug is not None and not tokens.allows_campaign(token, slug):
        abort_problem(403, f"the token is not valid for campaign {slug!r}", type_="forbidden")
    return None


@bp.after_request
def _audit(response):
    token = g.get("api_token")
    if token is not None:
        try:
            audit.log(
                get_db(),
                "api.call",
                user=f"token:{token['name']}",
                target=(request.view_args or {}).get("slug"),
                details={
                    "method": request.method,
                    "endpoint": request.endpoint,
                    "status": response.status_code,
                    **({"export": g.api_export} if "api_export" in g else {}),
                },
                ip=ratelimit.client_ip(),
            )
        except Exception:  # noqa: BLE001 - the call happened; say so in the log
            log.exception("could not write the audit log for an API call")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException):
    return problem_from_http(e)


# Flask prefers an app-wide handler for a status code (e.g. the HTML 429 page) over a
# blueprint's handler for a class: register the API's for each code as well.
for _code in (400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500):
    bp.register_error_handler(_code, _http_error)


@bp.errorhandler(Exception)
def _unexpected(e: Exception):
    log.exception("unexpected error in the API")
    return problem_response(500, "an unexpected error on the server")


@bp.route("/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(rest: str):
    """Unknown paths and methods under /api/v1/ get problems too (not the HTML pages)."""
    adapter = current_app.url_map.bind("localhost")
    allowed = []
    for method in ("GET", "POST", "DELETE"):
        if method == request.method:
            continue
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != "api.not_found":
            allowed.append(method)
    if allowed:
        raise MethodNotAllowed(valid_methods=allowed)
    raise NotFound(f"no API endpoint at {request.path}")


# ----- helpers -----------------------------------------------------------------------------
def _json_body() -> Any:
    """The request's JSON, or a 400 problem (a 413 one when too large)."""
    if not request.is_json:
        abort_problem(
            400, "the body must be JSON (Content-Type: application/json)", type_="bad-request"
        )
    try:
        return json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError) as e:
        abort_problem(400, f"the body is not valid JSON: {e}", type_="bad-request")


@bp.before_request
def _check_json():
    if (
        request.method in ("POST", "PUT", "PATCH")
        and request.endpoint in ROUTE_ROLES
        and request.content_length != 0
        and (request.content_length or request.data)
    ):
        _json_body()


def _campaign(slug: str) -> dict:
    c = store.get_campaign(get_db(), slug)
    if c is None:
        abort_problem(404, f"no campaign {slug!r}", type_="not-found")
    return c


def _campaign_json(c: dict) -> dict:
    return {
        "slug": c["slug"],
        "title": c["title"],
        "instrument": f"{c['instrument_id']}@{c['instrument_version']}",
        "period": c["period"],
        "params": c["params"],
        "languages": c["languages"],
        "status": c["status"],
        "accepting_responses": store.is_open(c),
        "opens_at": c["opens_at"],
        "closes_at": c["closes_at"],
        "min_segment_n": c["min_segment_n"],
        "created_at": c["created_at"],
        "public_url": request.url_root.rstrip("/") + f"/s/{c['slug']}",
        "brands": [{"slug": b["slug"], "names": dict(b["names"])} for b in c["brands"]],
        "brands_per_respondent": c["brands_per_respondent"],
    }


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _funnel(db, c: dict) -> dict | None:
    try:
        from survey.storage import contacts
    except ImportError:
        return None
    fn = getattr(contacts, "campaign_funnel", None)
    return None if fn is None else json.loads(json.dumps(fn(db, c), default=str))


# ----- the OpenAPI document -------------------------------------------------------------------
PULL_DESCRIPTION = (
    "JSON Lines: one object per complete response, i.e. per brand rating in a campaign "
    "with brands, with the export's columns (survey.export.core): row, respondent (an "
    "anonymous random key shared by the ratings of one person; never the response id, "
    "an invitation or a token), campaign, period, language, direction, duration_s, the "
    "declared params (brand: the rated brand's slug), brand_position (the rating's place "
    "in the person's random brand order; null when the brand came from the link or "
    "invitation), the quality columns, one column per item, open texts, the dimension "
    "scores and trust_index"
)


@bp.route("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API (generated by spectree)."""
    doc = json.loads(json.dumps(spec.spec))
    doc["servers"] = [{"url": request.url_root.rstrip("/")}]
    media = {
        "api.pull_responses": (
            JSONL,
            {"type": "string", "description": PULL_DESCRIPTION},
        ),
        "api.export": (
            "application/zip",
            {"type": "string", "contentMediaType": "application/zip"},
        ),
        "api.export_file": (
            "application/zip",
            {"type": "string", "contentMediaType": "application/zip"},
        ),
    }
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            for code, r in op.get("responses", {}).items():
                content = r.get("content", {})
                if code.startswith(("4", "5")) and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
            for endpoint, (mime, schema) in media.items():
                if op.get("operationId") == endpoint.split(".", 1)[1]:
                    op["responses"]["200"] = {
                        "description": "OK",
                        "content": {mime: {"schema": schema}},
                    }
    return doc


# ----- campaigns -------------------------------------------------------------------------------
@bp.get("/campaigns")
@spec.validate(
    query=m.PageQuery, resp=Resp(HTTP_200=m.CampaignPage, **_ERRORS), operation_id="list_campaigns"
)
def list_campaigns():
    """List campaigns (newest first), paginated; a scoped token sees its campaigns only."""
    q = request.context.query
    cs = [
        c for c in store.list_campaigns(get_db()) if tokens.allows_campaign(g.api_token, c["slug"])
    ]
    page = cs[q.offset : q.offset + q.limit]
    nxt = q.offset + q.limit if q.offset + q.limit < len(cs) else None
    return {
        "items": [_campaign_json(c) for c in page],
        "total": len(cs),
        "limit": q.limit,
        "offset": q.offset,
        "next_offset": nxt,
    }


@bp.post("/campaigns")
@spec.validate(
    json=m.CampaignCreate, resp=Resp(HTTP_201=m.Campaign, **_ERRORS), operation_id="create_campaign"
)
def create_campaign():
    """Create a campaign (researcher; tokens limited to campaigns cannot)."""
    if g.api_token["campaigns"] is not None:
        abort_problem(
            403, "a token limited to some campaigns cannot create campaigns", type_="forbidden"
        )
    b = request.context.json
    db = get_db()
    if store.get_campaign(db, b.slug) is not None:
        abort_problem(409, f"a campaign with slug {b.slug!r} already exists", type_="conflict")
    try:
        c = store.create_campaign(
            db,
            slug=b.slug,
            instrument=b.instrument,
            period=b.period,
            params=b.params,
            languages=b.languages,
            title=b.title,
            opens_at=b.opens,
            closes_at=b.closes,
            min_segment_n=b.min_segment_n,
        )
    except (ValueError, LookupError) as e:
        if "already exists" in str(e):
            abort_problem(409, str(e), type_="conflict")
        abort_problem(422, str(e), type_="invalid")
    return _campaign_json(c), 201


@bp.get("/campaigns/<slug>")
@spec.validate(resp=Resp(HTTP_200=m.CampaignDetail, **_ERRORS), operation_id="get_campaign")
def get_campaign(slug: str):
    """A campaign with its live counts, the e-mail funnel and the Trust Index."""
    db = get_db()
    c = _campaign(slug)
    s = live.campaign_stats(db, c)
    ti = s.get("trust_index")
    if isinstance(ti, dict):
        ti = (
            {"suppressed": True, "period": ti.get("period")}
            if ti.get("suppressed")
            else {
                "period": ti.get("period"),
                "n": ti.get("n"),
                "mean": _finite(ti.get("mean")),
                "ci95": [_finite(x) for x in ti.get("ci95") or []],
                "suppressed": False,
            }
        )
    out = _campaign_json(c)
    out["stats"] = {
        k: s.get(k)
        for k in (
            "started",
            "completed",
            "in_progress",
            "screened_out",
            "careless",
            "analysed",
            "note",
        )
    }
    out["stats"]["completion_rate"] = _finite(s.get("completion_rate"))
    out["trust_index"] = ti
    out["funnel"] = _funnel(db, c)
    return out


@bp.post("/campaigns/<slug>/close")
@spec.validate(resp=Resp(HTTP_200=m.Campaign, **_ERRORS), operation_id="close_campaign")
def close_campaign(slug: str):
    """Close a campaign: its links accept no more answers (409 if already closed)."""
    c = _campaign(slug)
    if c["status"] == "closed":
        abort_problem(409, f"campaign {slug!r} is already closed", type_="conflict")
    db = get_db()
    store.close_campaign(db, slug)
    return _campaign_json(store.get_campaign(db, slug))


# ----- invitations -------------------------------------------------------------------------------
@bp.post("/campaigns/<slug>/invitations")
@spec.validate(
    json=m.InvitationsCreate,
    resp=Resp(HTTP_201=m.InvitationsCreated, **_ERRORS),
    operation_id="create_invitations",
)
def create_invitations(slug: str):
    """Create invitation links: ``{"count": n, "params": {...}}`` returns the links;
    ``{"contacts": [...], "send": true}`` also queues a personal invitation e-mail to
    each contact through the outbox (the message ids are returned)."""
    b = request.context.json
    c = _campaign(slug)
    if not store.is_open(c) and c["status"] == "closed":
        abort_problem(409, f"campaign {slug!r} is closed", type_="conflict")
    if (b.count is None) == (b.contacts is None):
        abort_problem(
            422, "give either count (links) or contacts (e-mail invitations)", type_="invalid"
        )
    base = (b.base_url or request.url_root).rstrip("/")
    if not base.startswith(("http://", "https://")):
        abort_problem(422, "base_url must start with http:// or https://", type_="invalid")
    db = get_db()
    if b.contacts is not None:
        return _contact_invitations(db, c, b, base)
    if b.send:
        abort_problem(422, "send needs contacts to send to", type_="invalid")
    try:
        created = store.create_invitations(db, slug, b.count, b.params)
    except ValueError as e:
        abort_problem(422, str(e), type_="invalid")
    return {
        "count": len(created),
        "invitations": [{"token": i["token"], "url": f"{base}/i/{i['token']}"} for i in created],
    }, 201


def _contact_invitations(db, c: dict, b: m.InvitationsCreate, base: str):
    """Contacts with personal invitations (the e-mail area's storage); with ``send``, an
    invitation e-mail each, queued in the outbox in the same transaction (what
    ``trustmeter send`` sends)."""
    try:
        from survey.mail.contacts import valid_email
        from survey.storage import contacts
    except ImportError:
        abort_problem(422, "this server cannot store e-mail contacts", type_="invalid")
    rows = []
    for k, x in enumerate(b.contacts, start=1):
        if not valid_email(x.email):
            abort_problem(422, f"contacts[{k - 1}]: not an e-mail address", type_="invalid")
        lang = x.language or c["languages"][0]
        rows.append(
            {
                "line": k,
                "email": x.email.strip(),
                "name": x.name,
                "language": lang,
                "params": x.params,
            }
        )
    try:
        with write_transaction(db):
            before = {k["id"] for k in contacts.list_contacts(db, c)}
            result = contacts.import_contacts(db, c, rows)
            new = [k for k in contacts.list_contacts(db, c) if k["id"] not in before]
            if b.send:  # only this call's contacts, not others waiting for a send
                contacts.queue_invitations_to(db, c, [k["id"] for k in new])
    except ValueError as e:
        abort_problem(422, str(e), type_="invalid")
    key = contacts.app_key(db)
    out: dict[str, Any] = {"count": len(new), "skipped": result["skipped"]}
    if b.send:
        out["queued"] = [
            {"contact": k["id"], "message": contacts.invitation_message_id(db, k["id"])}
            for k in new
        ]
    else:
        out["invitations"] = [
            {"contact": k["id"], "url": f"{base}/i/{contacts.invitation_token(key, k['id'])}"}
            for k in new
        ]
    return out, 201


# ----- responses, exports, reports -------------------------------------------------------------
def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, _, seq = text.partition(":")
        if version != "v1" or not seq.isdigit() or len(seq) > 18:
            raise ValueError
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        abort_problem(
            400, f"since={cursor!r} is not a cursor returned by this API", type_="bad-cursor"
        )


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{int(seq)}".encode("ascii")).decode("ascii").rstrip("=")


@bp.get("/campaigns/<slug>/responses")
@spec.validate(query=m.FeedQuery, resp=Resp("HTTP_200", **_ERRORS), operation_id="pull_responses")
def pull_responses(slug: str):
    """Complete responses completed after the cursor ``since``, as JSON Lines (streamed),
    with the export's columns (no identifiers; one line per brand rating, the ratings of
    one person sharing the anonymous ``respondent`` key, with ``brand`` and
    ``brand_position``). The response's ``Trustmeter-Cursor``
    header is the ``since`` of the next pull; a ``Link: rel="next"`` header is present
    when the page was full."""
    q = request.context.query
    since = _decode_cursor(q.since)
    c = _campaign(slug)
    db = get_db()
    page = feed.completions_since(db, c["id"], since, q.limit)
    first_row = feed.completions_before(db, c["id"], since)
    cursor = encode_cursor(page[-1][0] if page else since)
    ids = [rid for _, rid in page]
    path = current_app.config["DATABASE"]

    def lines():
        # its own connection: the request's is closed when the view returns
        with open_db(path) as conn:
            done = 0
            for k in range(0, len(ids), FEED_CHUNK):
                frame, _ = response_rows(
                    conn, slug, ids[k : k + FEED_CHUNK], first_row=first_row + done
                )
                done += len(frame)
                text = frame.to_json(
                    orient="records", lines=True, force_ascii=False, double_precision=15
                )
                yield text if text.endswith("\n") else text + "\n"

    resp = flask.Response(lines(), mimetype=JSONL)
    resp.headers["Trustmeter-Cursor"] = cursor
    resp.headers["Trustmeter-Count"] = str(len(ids))
    if len(ids) == q.limit:
        resp.headers["Link"] = f'<{request.base_url}?since={cursor}&limit={q.limit}>; rel="next"'
    return resp


#: rows above which the synchronous ``GET .../export`` refuses and points to the jobs
SYNC_EXPORT_MAX_ROWS_ENV = "TRUSTMETER_API_SYNC_EXPORT_MAX_ROWS"
SYNC_EXPORT_MAX_ROWS = 50_000
#: seconds a client is asked to wait between polls of a running export
EXPORT_POLL_S = 2


def _sync_export_max_rows() -> int:
    raw = current_app.config.get(SYNC_EXPORT_MAX_ROWS_ENV) or os.environ.get(
        SYNC_EXPORT_MAX_ROWS_ENV
    )
    try:
        return int(raw) if raw else SYNC_EXPORT_MAX_ROWS
    except ValueError:
        return SYNC_EXPORT_MAX_ROWS


@bp.get("/campaigns/<slug>/export")
@spec.validate(query=m.ExportQuery, resp=Resp("HTTP_200", **_ERRORS), operation_id="export")
def export(slug: str):
    """The campaign's export as a ZIP (data, codebooks, manifest), built during the
    request: kept for existing clients, for campaigns of up to 50,000 complete responses
    (``$TRUSTMETER_API_SYNC_EXPORT_MAX_ROWS``; larger ones are refused with a 422 that
    points to ``POST /campaigns/{slug}/exports``). Prefer the background exports, which
    run in the worker process instead of a web worker."""
    q = request.context.query
    c = _campaign(slug)
    limit = _sync_export_max_rows()
    completed = store.campaign_counts(get_db(), c["slug"])["completed"]
    if completed > limit:
        abort_problem(
            422,
            f"campaign {slug!r} has {completed:,} complete responses, more than the "
            f"{limit:,} exported during a request; POST /api/v1/campaigns/{slug}/exports "
            "to export it in the background",
            type_="export-too-large",
        )
    try:
        archive, result, name = export_zip(
            get_db(), slug, q.format, period=q.period, language=q.language
        )
    except (ValueError, LookupError) as e:
        abort_problem(422, str(e), type_="invalid")
    g.api_export = {"format": q.format, "rows": result.rows, "sha256": result.sha256}
    resp = send_file(
        archive, mimetype="application/zip", as_attachment=True, download_name=name, max_age=0
    )
    return resp


def _job_json(c: dict, job: dict) -> dict:
    base = request.url_root.rstrip("/") + f"/api/v1/campaigns/{c['slug']}/exports/{job['id']}"
    available = job["state"] == "done" and export_file_path(get_db(), job) is not None
    return {
        "id": job["id"],
        "campaign": c["slug"],
        "format": job["format"],
        "period": job["period"],
        "language": job["language"],
        "raw_formulas": bool(job["raw_formulas"]),
        "state": job["state"],
        "rows_done": job["rows_done"],
        "rows_total": job["rows_total"],
        "size_bytes": job["size_bytes"],
        "sha256": job["sha256"],
        "error": job["error"],
        "created_at": job["created_at"],
        "started_at": job["started_at"],
        "finished_at": job["finished_at"],
        "expires_at": job["expires_at"],
        "status_url": base,
        "file_url": base + "/file" if available else None,
    }


def _export_job(c: dict, job_id: int) -> dict:
    job = export_jobs.get(get_db(), job_id)
    if job is None or job["campaign_id"] != c["id"]:
        abort_problem(404, f"no export {job_id} of campaign {c['slug']!r}", type_="not-found")
    return job


@bp.post("/campaigns/<slug>/exports")
@spec.validate(
    json=m.ExportCreate,
    resp=Resp(HTTP_202=m.ExportJob, **_ERRORS),
    operation_id="create_export",
)
def create_export(slug: str):
    """Queue an export (run by the outbox worker process, as the campaign page's export
    button does). Answers 202 with the job and a ``Location`` header: poll it until
    ``state`` is ``done``, then download ``file_url``."""
    body = request.context.json
    c = _campaign(slug)
    db = get_db()
    try:  # unknown period or language: refused now, not as a failed job later
        sel = exports.select(db, [c["slug"]], [body.period] if body.period else None)
    except (ValueError, LookupError) as e:
        abort_problem(422, str(e), type_="invalid")
    if body.language not in sel.inst.languages:
        abort_problem(
            422,
            f"language {body.language!r}: the instrument {sel.inst.key} offers "
            f"{', '.join(sel.inst.languages)}",
            type_="invalid",
        )
    token = g.get("api_token") or {}
    job = export_jobs.create(
        db,
        c,
        body.format,
        period=body.period,
        language=body.language,
        requested_by=f"token:{token.get('name')}",
        raw_formulas=body.raw_formulas,
    )
    g.api_export = {"job": job["id"], "format": body.format, "state": "queued"}
    out = _job_json(c, job)
    return out, 202, {"Location": out["status_url"], "Retry-After": str(EXPORT_POLL_S)}


@bp.get("/campaigns/<slug>/exports/<int:job_id>")
@spec.validate(resp=Resp(HTTP_200=m.ExportJob, **_ERRORS), operation_id="get_export")
def get_export(slug: str, job_id: int):
    """An export's state and progress (``rows_done`` of ``rows_total``); ``file_url``
    once the file can be downloaded. A ``Retry-After`` header while it is queued or
    running."""
    c = _campaign(slug)
    job = _export_job(c, job_id)
    headers = {"Retry-After": str(EXPORT_POLL_S)} if job["state"] in ("queued", "running") else {}
    return _job_json(c, job), 200, headers


@bp.get("/campaigns/<slug>/exports/<int:job_id>/file")
@spec.validate(resp=Resp("HTTP_200", **_ERRORS), operation_id="export_file")
def export_file(slug: str, job_id: int):
    """The finished export's ZIP (data, codebooks, manifest). 409 while it is queued or
    running, or when it failed; 404 once its file was deleted (expired)."""
    c = _campaign(slug)
    job = _export_job(c, job_id)
    if job["state"] in ("queued", "running"):
        abort_problem(
            409,
            f"export {job_id} is {job['state']} ({job['rows_done']} of "
            f"{job['rows_total'] if job['rows_total'] is not None else '?'} rows); "
            "poll its status_url",
            type_="not-ready",
        )
    if job["state"] == "failed":
        abort_problem(409, f"export {job_id} failed: {job['error']}", type_="export-failed")
    path = export_file_path(get_db(), job)
    if path is None:
        abort_problem(404, f"the file of export {job_id} was deleted (expired)", type_="expired")
    g.api_export = {
        "job": job["id"],
        "format": job["format"],
        "rows": job["rows_done"],
        "sha256": job["sha256"],
    }
    return send_file(
        path,
        mimetype="application/zip",
        as_attachment=True,
        download_name=job["download_name"],
        max_age=0,
    )


@bp.get("/campaigns/<slug>/report")
@spec.validate(
    query=m.ReportQuery, resp=Resp(HTTP_200=m.Report, **_ERRORS), operation_id="get_report"
)
def get_report(slug: str):
    """The periodic report's JSON (as ``trustmeter report --json``) for this campaign."""
    q = request.context.query
    db = get_db()
    c = _campaign(slug)

    def build():
        try:
            rep = periodic.build_report(db, [slug], period=q.period, segment=q.segment)
            return json.loads(json.dumps(rep.to_dict(), allow_nan=False, default=str)), None
        except (AnalysisError, ValueError, LookupError, np.linalg.LinAlgError) as e:
            return None, str(e.args[0] if isinstance(e, KeyError) and e.args else e)

    body, error = live.cached(
        ("api-report", q.period, q.segment, *store.data_version(db, c)), build
    )
    if body is None:
        abort_problem(422, error, type_="no-report")
    return body


# ----- webhooks ----------------------------------------------------------------------------------
def _webhook_json(w: dict) -> dict:
    return {
        "id": w["id"],
        "campaign": w["campaign"],
        "url": w["url"],
        "events": w["events"],
        "created_at": w["created_at"],
    }


@bp.get("/campaigns/<slug>/webhooks")
@spec.validate(resp=Resp(HTTP_200=m.WebhookList, **_ERRORS), operation_id="list_webhooks")
def list_webhooks(slug: str):
    """The campaign's webhooks (without their secrets)."""
    _campaign(slug)
    return {"items": [_webhook_json(w) for w in webhooks.list_webhooks(get_db(), slug)]}


@bp.post("/campaigns/<slug>/webhooks")
@spec.validate(
    json=m.WebhookCreate,
    resp=Resp(HTTP_201=m.WebhookCreated, **_ERRORS),
    operation_id="add_webhook",
)
def add_webhook(slug: str):
    """Add a webhook; the answer holds its signing secret, shown only this once."""
    b = request.context.json
    _campaign(slug)
    try:
        secret, w = webhooks.add_webhook(
            get_db(), slug, b.url, b.events, created_by=f"token:{g.api_token['name']}"
        )
    except ValueError as e:
        abort_problem(422, str(e), type_="invalid")
    return {**_webhook_json(w), "secret": secret}, 201


@bp.delete("/campaigns/<slug>/webhooks/<int:webhook_id>")
@spec.validate(resp=Resp("HTTP_204", **_ERRORS), operation_id="remove_webhook")
def remove_webhook(slug: str, webhook_id: int):
    """Remove a webhook (deliveries already queued are still made)."""
    _campaign(slug)
    try:
        webhooks.remove_webhook(get_db(), slug, webhook_id)
    except LookupError as e:
        abort_problem(404, str(e), type_="not-found")
    return "", 204


@bp.get("/campaigns/<slug>/webhooks/deliveries")
@spec.validate(
    query=m.PageQuery,
    resp=Resp(HTTP_200=m.DeliveryPage, **_ERRORS),
    operation_id="webhook_deliveries",
)
def webhook_deliveries(slug: str):
    """The delivery log: one entry per attempt, newest first."""
    q = request.context.query
    _campaign(slug)
    items = webhooks.attempts(get_db(), slug, limit=q.limit, offset=q.offset)
    return {"items": items, "limit": q.limit, "offset": q.offset}
