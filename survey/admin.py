"""The researcher side at ``/admin``: dashboard, campaigns, invitations, exports,
reports, users and the audit log.

Access is declared in one table, :data:`ROUTE_ROLES` (endpoint -> the least role
that may use it), and enforced for every request to this blueprint before its view
runs: anonymous visitors are sent to the login page, signed-in users without the
role get 403, and an endpoint missing from the table is refused to everyone (deny
by default). Roles are ordered ``viewer < researcher < admin``
(:data:`survey.users.ROLES`).

Every page is server-rendered, without scripts; every form is a Flask-WTF form
(CSRF). Actions that change or take out data are written to the audit log.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

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

from analysis._result import AnalysisError

from . import admin_stats, audit, reporting, store, users
from .admin_forms import (
    CampaignForm,
    CloseForm,
    DisableForm,
    ExportForm,
    InvitationsForm,
    RoleForm,
    UserForm,
    choices,
)
from .admin_i18n import _t
from .auth import (
    LogoutForm,
    audit_log,
    check_role,
    current_username,
    error_page,
)
from .db import get_db
from .export import export_campaign

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
    "admin.close": "researcher",
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
    return check_role(minimum)


@bp.app_context_processor
def _admin_context() -> dict:
    user = g.get("user")
    return {"current_user": user, "logout_form": LogoutForm,
            "can": lambda role: user is not None and users.role_at_least(user["role"], role)}


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
    rows = [(c, admin_stats.campaign_stats(db, c)) for c in store.list_campaigns(db)]
    return render_template("admin/dashboard.html", rows=rows)


def _export_form(db, campaign: dict) -> ExportForm:
    form = ExportForm()
    inst = store.campaign_instrument(db, campaign)
    form.period.choices = choices([("", _t("All periods")), *admin_stats.periods(db, campaign)])
    form.language.choices = choices(inst.languages)
    return form


@bp.route("/campaigns/<slug>")
def campaign(slug: str):
    db = get_db()
    c = _campaign_or_404(slug)
    return render_template(
        "admin/campaign.html", c=c, stats=admin_stats.campaign_stats(db, c),
        is_open=store.is_open(c), invitations_form=InvitationsForm(),
        export_form=_export_form(db, c), invitation_counts=_invitation_counts(db, c),
        public_url=request.url_root.rstrip("/") + f"/s/{c['slug']}")


def _invitation_counts(db, c: dict) -> dict:
    total, used = db.execute("SELECT COUNT(*), COUNT(response_id) FROM invitations "
                             "WHERE campaign_id = ?", [c["id"]]).fetchone()
    return {"total": total, "used": used}


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
                    db, slug=form.slug.data, instrument=form.instrument.data,
                    period=form.period.data, params=form.param_names(),
                    languages=form.languages.data, title=form.title.data or None,
                    opens_at=form.opens.data, closes_at=form.closes.data,
                    min_segment_n=form.min_segment_n.data)
            except (ValueError, LookupError) as e:
                form.form_errors.append(str(e))
            else:
                audit_log("campaign.create", target=c["slug"], details={
                    "instrument": f"{c['instrument_id']}@{c['instrument_version']}",
                    "period": c["period"], "params": c["params"], "languages": c["languages"],
                    "opens_at": c["opens_at"], "closes_at": c["closes_at"],
                    "min_segment_n": c["min_segment_n"]})
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
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["token", "url"])
    for inv in created:
        w.writerow([inv["token"], f"{base}/i/{inv['token']}"])
    audit_log("invitations.create", target=slug,
              details={"count": len(created), "params": values, "base_url": base})
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="invitations-{slug}-{stamp}.csv"',
        "Cache-Control": "no-store"})


def _campaign_page_with_errors(c: dict, **forms):
    db = get_db()
    return render_template(
        "admin/campaign.html", c=c, stats=admin_stats.campaign_stats(db, c),
        is_open=store.is_open(c), invitations_form=forms.get("invitations_form")
        or InvitationsForm(formdata=None), export_form=forms.get("export_form")
        or _export_form(db, c), invitation_counts=_invitation_counts(db, c),
        public_url=request.url_root.rstrip("/") + f"/s/{c['slug']}"), 400


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
        flash(_t("Campaign %(slug)s is closed; its links accept no more answers.", slug=slug),
              "success")
        return redirect(url_for(".campaign", slug=slug))
    return render_template("admin/close.html", c=c, form=form), \
        400 if request.method == "POST" else 200


# ----- exports -------------------------------------------------------------------------
@bp.route("/campaigns/<slug>/export", methods=["POST"])
def export(slug: str):
    db = get_db()
    c = _campaign_or_404(slug)
    form = _export_form(db, c)
    if not form.validate_on_submit():
        return _campaign_page_with_errors(c, export_form=form)
    fmt, language = form.format.data, form.language.data
    periods = [form.period.data] if form.period.data else None
    stem = f"{slug}-{form.period.data}" if form.period.data else slug
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)
    work = Path(tempfile.mkdtemp(prefix="trustmeter-export-"))
    try:
        try:
            result = export_campaign(db, slug, fmt, work / f"{stem}.{fmt}", periods=periods,
                                     language=language)
        except (ValueError, LookupError) as e:
            form.form_errors.append(str(e))
            return _campaign_page_with_errors(c, export_form=form)
        archive = tempfile.TemporaryFile(prefix="trustmeter-export-", suffix=".zip")
        try:
            with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
                # the names the manifest refers to: FILE, FILE.codebook.md, ...
                for path in (result.path, result.codebook_md, result.codebook_json,
                             result.manifest):
                    z.write(path, path.name)
            archive.seek(0)
        except BaseException:
            archive.close()
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    audit_log("export", target=slug, details={
        "format": fmt, "periods": periods or "all", "language": language,
        "rows": result.rows, "sha256": result.sha256})
    response = send_file(archive, mimetype="application/zip", as_attachment=True,
                         download_name=f"{stem}-{fmt}.zip", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


# ----- reports -----------------------------------------------------------------------------
def _report(slug: str):
    """The campaign's periodic report (cached while its data is unchanged), or the
    reason there is none."""
    db = get_db()
    c = _campaign_or_404(slug)

    def build():
        try:
            return reporting.build_report(db, [slug]), None
        except (AnalysisError, ValueError, LookupError, np.linalg.LinAlgError) as e:
            return None, str(e)
    return c, admin_stats.cached(("report", *admin_stats.data_key(db, c)), build)


@bp.route("/reports/<slug>")
def report(slug: str):
    from analysis.periodic import charts, is_suppressed

    c, (rep, error) = _report(slug)
    return render_template("admin/report.html", c=c, rep=rep, d=rep.to_dict() if rep else None,
                           error=error, charts=charts(rep) if rep is not None else {},
                           suppressed=is_suppressed)


@bp.route("/reports/<slug>/report.<any(html, json):fmt>")
def report_download(slug: str, fmt: str):
    c, (rep, error) = _report(slug)
    if rep is None:
        flash(_t("No report: %(error)s", error=error), "error")
        return redirect(url_for(".report", slug=slug))
    if fmt == "html":
        body, mimetype = reporting.render_html(rep), "text/html"
    else:
        body = json.dumps(rep.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        mimetype = "application/json"
    audit_log("report.download", target=slug, details={"format": fmt, "focus": rep.focus})
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"trust-report-{slug}-{rep.focus}")
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        "Cache-Control": "no-store"})


# ----- users -------------------------------------------------------------------------------
@bp.route("/users", methods=["GET", "POST"], endpoint="users")
def users_page():
    db = get_db()
    form = UserForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                u = users.create_user(db, form.username.data, form.password.data,
                                      form.role.data)
            except ValueError as e:
                form.username.errors.append(str(e))
            else:
                audit_log("user.add", target=u["username"], details={"role": u["role"]})
                flash(_t("User %(name)s created.", name=u["username"]), "success")
                return redirect(url_for(".users"))
        status = 400
    return render_template("admin/users.html", form=form, users=users.list_users(db),
                           roles=users.ROLES,
                           role_form=RoleForm(formdata=None),
                           disable_form=DisableForm(formdata=None)), status


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
            audit_log("user.role", target=u["username"],
                      details={"from": u["role"], "to": form.role.data})
            flash(_t("%(name)s is now %(role)s.", name=u["username"], role=form.role.data),
                  "success")
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
            flash(_t("%(name)s is disabled.", name=u["username"]) if disabled
                  else _t("%(name)s is enabled.", name=u["username"]), "success")
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
    return render_template("admin/audit.html", entries=entries, page=page, pages=pages,
                           total=total)


def init_app(app) -> None:
    """Register the blueprint (the login views are in :mod:`survey.auth`)."""
    app.register_blueprint(bp)

