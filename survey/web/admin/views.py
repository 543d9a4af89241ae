"""The researcher side at ``/admin``: dashboard, campaigns, invitations, exports,
reports, users and the audit log.

Access is declared in one table, :data:`ROUTE_ROLES` (endpoint -> the least role
that may use it), and enforced for every request to this blueprint before its view
runs: anonymous visitors are sent to the login page, signed-in users without the
role get 403, and an endpoint missing from the table is refused to everyone (deny
by default). Roles are ordered ``viewer < researcher < admin``
(:data:`survey.storage.users.ROLES`).

Every page is server-rendered, without scripts; every form is a Flask-WTF form
(CSRF). Actions that change or take out data are written to the audit log.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

import numpy as np
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.exceptions import HTTPException

from analysis import AnalysisError
from survey.export.invitations import invitations_csv
from survey.export.jobs import file_path as export_file
from survey.reporting import live, periodic
from survey.storage import access, audit, export_jobs, store, users
from survey.storage.db import get_db
from survey.web.admin.auth import (
    LogoutForm,
    audit_log,
    check_role,
    current_username,
    error_page,
)
from survey.web.admin.forms import (
    AccessForm,
    CampaignForm,
    CloseForm,
    DisableForm,
    ExportForm,
    InvitationsForm,
    RoleForm,
    UserForm,
    choices,
)
from survey.web.admin.i18n import _t

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.register_error_handler(HTTPException, error_page)

#: Every endpoint of this blueprint and the least role that may use it.
ROUTE_ROLES: dict[str, str] = {
    "admin.dashboard": "viewer",
    "admin.campaign": "viewer",
    "admin.report": "viewer",
    "admin.report_download": "viewer",
    "admin.campaign_new": "researcher",
    "admin.invitations": "researcher",
    "admin.export": "researcher",
    "admin.export_job": "researcher",
    "admin.export_download": "researcher",
    "admin.close": "researcher",
    "admin.campaign_access": "admin",
    "admin.users": "admin",
    "admin.user_role": "admin",
    "admin.user_disable": "admin",
    "admin.audit": "admin",
}

AUDIT_PAGE_SIZE = 50


@bp.before_request
def _require_role():
    g.lang = "en"  # the researcher side is in English (strings are wrapped for later)
    minimum = ROUTE_ROLES.get(request.endpoint or "")
    if minimum is None:
        abort(403 if request.endpoint else 404)  # not declared: nobody may use it
    denied = check_role(minimum)
    if denied is not None:
        return denied
    # per-campaign access (survey.storage.access): every route with a <slug>, on every
    # page module of this blueprint; 404, not 403, so that slugs cannot be probed
    slug = (request.view_args or {}).get("slug")
    if isinstance(slug, str):
        db = get_db()
        c = store.get_campaign(db, slug)
        if c is not None and not access.can_see(db, c, g.user):
            abort(404)
    return None


@bp.app_context_processor
def _admin_context() -> dict:
    user = g.get("user")
    return {
        "current_user": user,
        "logout_form": LogoutForm,
        "can": lambda role: user is not None and users.role_at_least(user["role"], role),
    }


@bp.app_template_filter("fixed")
def _fixed(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


@bp.app_template_filter("percent")
def _percent(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _campaign_or_404(slug: str) -> dict:
    c = store.get_campaign(get_db(), slug)
    if c is None:
        abort(404)
    return c


# ----- dashboard and campaigns -------------------------------------------------------------
@bp.route("/")
def dashboard():
    db = get_db()
    visible = access.visible_ids(db, g.user)
    rows = [
        (c, live.campaign_stats(db, c))
        for c in store.list_campaigns(db)
        if visible is None or c["id"] in visible
    ]
    return render_template("admin/dashboard.html", rows=rows)


def _export_form(db, campaign: dict) -> ExportForm:
    form = ExportForm()
    inst = store.campaign_instrument(db, campaign)
    form.period.choices = choices([("", _t("All periods")), *store.response_periods(db, campaign)])
    form.language.choices = choices(inst.languages)
    return form


@bp.route("/campaigns/<slug>")
def campaign(slug: str):
    db = get_db()
    c = _campaign_or_404(slug)
    return render_template(
        "admin/campaign.html",
        c=c,
        stats=live.campaign_stats(db, c),
        is_open=store.is_open(c),
        invitations_form=InvitationsForm(),
        export_form=_export_form(db, c),
        invitation_counts=store.invitation_counts(db, c),
        export_jobs=export_jobs.for_campaign(db, c["id"]),
        public_url=request.url_root.rstrip("/") + f"/s/{c['slug']}",
    )


def _instrument_choices(db) -> tuple[list[tuple[str, str]], list[str]]:
    choices, langs = [], []
    for r in store.list_instruments(db):
        inst = store.load_instrument(db, r["id"], r["version"])
        title = inst.title.get("en") or next(iter(inst.title.values()), inst.id)
        choices.append((f"{r['id']}@{r['version']}", f"{r['id']} {r['version']} – {title}"))
        langs += [lang for lang in inst.languages if lang not in langs]
    return choices, langs


@bp.route("/campaigns/new", methods=["GET", "POST"])
def campaign_new():
    db = get_db()
    form = CampaignForm()
    instruments, langs = _instrument_choices(db)
    form.instrument.choices = choices(instruments)
    form.languages.choices = choices(langs)
    if request.method == "GET" and not form.languages.data:
        form.languages.data = list(langs)
    if form.validate_on_submit():
        if store.get_campaign(db, form.slug.data) is not None:
            form.slug.errors.append(_t("A campaign with this slug already exists."))
        else:
            try:
                c = store.create_campaign(
                    db,
                    slug=form.slug.data,
                    instrument=form.instrument.data,
                    period=form.period.data,
                    params=form.param_names(),
                    languages=form.languages.data,
                    title=form.title.data or None,
                    opens_at=form.opens.data,
                    closes_at=form.closes.data,
                    min_segment_n=form.min_segment_n.data,
                    created_by=current_username(),
                    brands=form.brand_list(),
                    brands_per_respondent=form.brands_per_respondent.data,
                )
            except (ValueError, LookupError) as e:
                about_brands = str(e).startswith("brand") or "brand-aware" in str(e)
                (form.brands.errors if about_brands else form.form_errors).append(str(e))
            else:
                audit_log(
                    "campaign.create",
                    target=c["slug"],
                    details={
                        "instrument": f"{c['instrument_id']}@{c['instrument_version']}",
                        "period": c["period"],
                        "params": c["params"],
                        "languages": c["languages"],
                        "opens_at": c["opens_at"],
                        "closes_at": c["closes_at"],
                        "min_segment_n": c["min_segment_n"],
                        "brands": [b["slug"] for b in c["brands"]],
                        "brands_per_respondent": c["brands_per_respondent"],
                    },
                )
                flash(_t("Campaign %(slug)s created.", slug=c["slug"]), "success")
                return redirect(url_for(".campaign", slug=c["slug"]))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/campaign_new.html", form=form), status


@bp.route("/campaigns/<slug>/invitations", methods=["POST"])
def invitations(slug: str):
    db = get_db()
    c = _campaign_or_404(slug)
    form = InvitationsForm()
    values = {p: request.form.get(f"param_{p}", "").strip() for p in c["params"]}
    values = {p: v for p, v in values.items() if v}
    if not form.validate_on_submit():
        return _campaign_page_with_errors(c, invitations_form=form)
    try:
        created = store.create_invitations(db, slug, form.count.data, values)
    except ValueError as e:
        form.form_errors.append(str(e))
        return _campaign_page_with_errors(c, invitations_form=form)
    base = (form.base_url.data or request.url_root).rstrip("/")
    audit_log(
        "invitations.create",
        target=slug,
        details={"count": len(created), "params": values, "base_url": base},
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(
        invitations_csv(created, base),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="invitations-{slug}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


def _campaign_page_with_errors(c: dict, **forms):
    db = get_db()
    return render_template(
        "admin/campaign.html",
        c=c,
        stats=live.campaign_stats(db, c),
        is_open=store.is_open(c),
        invitations_form=forms.get("invitations_form") or InvitationsForm(formdata=None),
        export_form=forms.get("export_form") or _export_form(db, c),
        invitation_counts=store.invitation_counts(db, c),
        export_jobs=export_jobs.for_campaign(db, c["id"]),
        public_url=request.url_root.rstrip("/") + f"/s/{c['slug']}",
    ), 400


@bp.route("/campaigns/<slug>/close", methods=["GET", "POST"])
def close(slug: str):
    db = get_db()
    c = _campaign_or_404(slug)
    form = CloseForm()
    if c["status"] == "closed":
        flash(_t("Campaign %(slug)s is already closed.", slug=slug), "info")
        return redirect(url_for(".campaign", slug=slug))
    if form.validate_on_submit():
        store.close_campaign(db, slug)
        audit_log("campaign.close", target=slug)
        flash(
            _t("Campaign %(slug)s is closed; its links accept no more answers.", slug=slug),
            "success",
        )
        return redirect(url_for(".campaign", slug=slug))
    return render_template(
        "admin/close.html", c=c, form=form
    ), 400 if request.method == "POST" else 200


@bp.route("/campaigns/<slug>/access", methods=["GET", "POST"])
def campaign_access(slug: str):
    """Who may see the campaign (admins grant and revoke; survey.storage.access)."""
    db = get_db()
    c = _campaign_or_404(slug)
    form = AccessForm()
    if form.validate_on_submit():
        username, action = form.username.data, form.action.data
        try:
            changed = (
                access.grant(db, slug, username, by=current_username())
                if action == "grant"
                else access.revoke(db, slug, username)
            )
        except LookupError as e:
            form.username.errors.append(str(e).strip("'\""))
        else:
            if changed:
                audit_log(f"campaign.{action}", target=slug, details={"username": username})
            flash(
                _t(
                    "Access of %(user)s to %(slug)s: %(what)s.",
                    user=username,
                    slug=slug,
                    what=_t("granted") if action == "grant" else _t("revoked"),
                ),
                "success",
            )
            return redirect(url_for(".campaign_access", slug=slug))
    return render_template(
        "admin/campaign_access.html",
        c=c,
        form=form,
        grantees=access.grantees(db, slug),
        creator=access.creator(db, slug),
    ), 400 if request.method == "POST" else 200


# ----- exports -------------------------------------------------------------------------
@bp.route("/campaigns/<slug>/export", methods=["POST"])
def export(slug: str):
    """Queue the export as a background job (run by the outbox worker) and show its page."""
    db = get_db()
    c = _campaign_or_404(slug)
    form = _export_form(db, c)
    if not form.validate_on_submit():
        return _campaign_page_with_errors(c, export_form=form)
    fmt, language = form.format.data, form.language.data
    period = form.period.data or None
    raw = bool(getattr(form, "raw_formulas", None) is not None and form.raw_formulas.data)
    job = export_jobs.create(
        db,
        c,
        fmt,
        period=period,
        language=language,
        requested_by=current_username(),
        raw_formulas=raw,
    )
    audit_log(
        "export.queued",
        target=slug,
        details={
            "job": job["id"],
            "format": fmt,
            "periods": [period] if period else "all",
            "language": language,
            "raw_formulas": raw,
        },
    )
    return redirect(url_for(".export_job", slug=slug, job_id=job["id"]), 303)


def _job_or_404(c: dict, job_id: int) -> dict:
    job = export_jobs.get(get_db(), job_id)
    if job is None or job["campaign_id"] != c["id"]:
        abort(404)
    return job


#: seconds between refreshes of a running export's page
EXPORT_REFRESH_S = 2


@bp.route("/campaigns/<slug>/exports/<int:job_id>")
def export_job(slug: str, job_id: int):
    """An export's progress (the page refreshes itself while it runs) and its download."""
    c = _campaign_or_404(slug)
    job = _job_or_404(c, job_id)
    pending = job["state"] in ("queued", "running")
    percent = None
    if job["rows_total"]:
        percent = min(100, int(100 * job["rows_done"] / job["rows_total"]))
    available = job["state"] == "done" and export_file(get_db(), job) is not None
    return render_template(
        "admin/export_job.html",
        c=c,
        job=job,
        pending=pending,
        percent=percent,
        available=available,
        refresh_s=EXPORT_REFRESH_S,
    )


@bp.route("/campaigns/<slug>/exports/<int:job_id>/download")
def export_download(slug: str, job_id: int):
    db = get_db()
    c = _campaign_or_404(slug)
    job = _job_or_404(c, job_id)
    path = export_file(db, job)
    if path is None:
        abort(404)
    audit_log(
        "export",
        target=slug,
        details={
            "job": job["id"],
            "format": job["format"],
            "periods": [job["period"]] if job["period"] else "all",
            "language": job["language"],
            "rows": job["rows_done"],
            "sha256": job["sha256"],
            "raw_formulas": bool(job["raw_formulas"]),
        },
    )
    response = send_file(
        path,
        mimetype="application/zip",
        as_attachment=True,
        download_name=job["download_name"],
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# ----- reports -----------------------------------------------------------------------------
def _report_filters(c: dict) -> dict:
    """The report's filters from the query string (bookmarkable): ``period``,
    ``segment`` (a declared param, or ``language``) and ``language``; unknown values
    are ignored rather than an error page."""
    args = request.args
    periods = store.response_periods(get_db(), c)
    out = {
        "period": args.get("period") if args.get("period") in periods else None,
        "segment": args.get("segment")
        if args.get("segment") in (*c["params"], "language")
        else None,
        "language": args.get("language") if args.get("language") in c["languages"] else None,
    }
    return out


def _report(slug: str, filters: dict | None = None):
    """The campaign's periodic report (cached while its data is unchanged), or the
    reason there is none."""
    db = get_db()
    c = _campaign_or_404(slug)
    f = filters or {"period": None, "segment": None, "language": None}

    def build():
        try:
            return periodic.build_report(db, [slug], **f), None
        except (AnalysisError, ValueError, LookupError, np.linalg.LinAlgError) as e:
            return None, str(e)

    key = ("report", f["period"], f["segment"], f["language"], *store.data_version(db, c))
    return c, live.cached(key, build)


@bp.route("/reports/<slug>")
def report(slug: str):
    from analysis.findings import fix_first_text
    from analysis.periodic import charts, is_suppressed

    c = _campaign_or_404(slug)
    filters = _report_filters(c)
    c, (rep, error) = _report(slug, filters)
    return render_template(
        "admin/report.html",
        c=c,
        rep=rep,
        d=rep.to_dict() if rep else None,
        error=error,
        charts=charts(rep) if rep is not None else {},
        suppressed=is_suppressed,
        filters=filters,
        active_filters={k: v for k, v in filters.items() if v},
        fix_first=fix_first_text(rep.priority) if rep is not None else "",
        periods=store.response_periods(get_db(), c),
    )


@bp.route("/reports/<slug>/report.<any(html, json):fmt>")
def report_download(slug: str, fmt: str):
    filters = _report_filters(_campaign_or_404(slug))
    c, (rep, error) = _report(slug, filters)
    if rep is None:
        flash(_t("No report: %(error)s", error=error), "error")
        return redirect(url_for(".report", slug=slug))
    if fmt == "html":
        body, mimetype = periodic.render_html(rep), "text/html"
    else:
        body = json.dumps(rep.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        mimetype = "application/json"
    audit_log(
        "report.download", target=slug, details={"format": fmt, "focus": rep.focus, **filters}
    )
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"trust-report-{slug}-{rep.focus}")
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


# ----- users -------------------------------------------------------------------------------
@bp.route("/users", methods=["GET", "POST"], endpoint="users")
def users_page():
    db = get_db()
    form = UserForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                u = users.create_user(db, form.username.data, form.password.data, form.role.data)
            except ValueError as e:
                form.username.errors.append(str(e))
            else:
                audit_log("user.add", target=u["username"], details={"role": u["role"]})
                flash(_t("User %(name)s created.", name=u["username"]), "success")
                return redirect(url_for(".users"))
        status = 400
    return render_template(
        "admin/users.html",
        form=form,
        users=users.list_users(db),
        roles=users.ROLES,
        role_form=RoleForm(formdata=None),
        disable_form=DisableForm(formdata=None),
    ), status


def _user_or_404(username: str) -> dict:
    u = users.get_user(get_db(), username)
    if u is None:
        abort(404)
    return u


@bp.route("/users/<username>/role", methods=["POST"])
def user_role(username: str):
    u = _user_or_404(username)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            users.set_role(get_db(), u["username"], form.role.data)
        except ValueError as e:
            flash(str(e), "error")
        else:
            audit_log(
                "user.role", target=u["username"], details={"from": u["role"], "to": form.role.data}
            )
            flash(
                _t("%(name)s is now %(role)s.", name=u["username"], role=form.role.data), "success"
            )
    else:
        flash(_t("The role was not changed: %(errors)s", errors=form.errors), "error")
    return redirect(url_for(".users"))


@bp.route("/users/<username>/disable", methods=["POST"])
def user_disable(username: str):
    u = _user_or_404(username)
    form = DisableForm()
    if form.validate_on_submit():
        disabled = form.disabled.data == "1"
        if disabled and u["username"] == current_username():
            flash(_t("You cannot disable your own account."), "error")
            return redirect(url_for(".users"))
        try:
            users.set_disabled(get_db(), u["username"], disabled)
        except ValueError as e:
            flash(str(e), "error")
        else:
            audit_log("user.disable" if disabled else "user.enable", target=u["username"])
            flash(
                _t("%(name)s is disabled.", name=u["username"])
                if disabled
                else _t("%(name)s is enabled.", name=u["username"]),
                "success",
            )
    return redirect(url_for(".users"))


# ----- audit log -----------------------------------------------------------------------------
@bp.route("/audit", endpoint="audit")
def audit_page():
    db = get_db()
    page = request.args.get("page", 1, type=int) or 1
    total = audit.count(db)
    pages = max(1, math.ceil(total / AUDIT_PAGE_SIZE))
    page = min(max(page, 1), pages)
    entries = audit.entries(db, limit=AUDIT_PAGE_SIZE, offset=(page - 1) * AUDIT_PAGE_SIZE)
    return render_template("admin/audit.html", entries=entries, page=page, pages=pages, total=total)


def init_app(app) -> None:
    """Register the blueprint (the login views are in :mod:`survey.web.admin.auth`)."""
    app.register_blueprint(bp)
