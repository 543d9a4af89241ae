"""Researcher pages of one response (issue 11, item 4), on the admin blueprint: the
campaign's latest responses (linked from the campaign page), one response with its
answers, flags and timings (never a token or a contact), and, for admins, erasing it
with a reason that goes to the audit log (``response.delete``).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from survey.cli.responses import MAX_REASON, audit_details
from survey.reporting.response_view import response_view
from survey.storage import erasure, store
from survey.storage.db import get_db
from survey.web.admin.auth import audit_log
from survey.web.admin.i18n import _lt, _t
from survey.web.admin.views import ROUTE_ROLES, bp

PAGE_SIZE = 50

ROUTE_ROLES.update(
    {
        "admin.responses": "researcher",
        "admin.response": "researcher",
        "admin.response_delete": "admin",
    }
)


class DeleteResponseForm(FlaskForm):
    reason = TextAreaField(
        _lt("Reason (written to the audit log)"),
        validators=[DataRequired(), Length(max=MAX_REASON)],
        description=_lt(
            "For example “erasure request received 2026-12-01”. "
            "Do not enter names or e-mail addresses."
        ),
    )
    confirm = BooleanField(
        _lt("I understand that this response's answers are deleted for good"),
        validators=[DataRequired()],
    )


def _campaign_or_404(slug: str) -> dict:
    c = store.get_campaign(get_db(), slug)
    if c is None:
        abort(404)
    return c


def _view_or_404(c: dict, response_id: int):
    db = get_db()
    try:
        view = response_view(db, response_id)
    except LookupError:
        abort(404)
    if view.campaign != c["slug"]:
        abort(404)
    return view


@bp.route("/campaigns/<slug>/responses", endpoint="responses")
def responses_page(slug: str):
    c = _campaign_or_404(slug)
    wanted = request.args.get("id", "").strip()
    if wanted:  # "open response #": a plain GET form
        if wanted.isascii() and wanted.isdigit() and int(wanted) > 0:
            return redirect(url_for(".response", slug=slug, response_id=int(wanted)))
        flash(_t("A response number is a whole number, like 42."), "error")
    before = request.args.get("before", type=int)
    rows = erasure.recent_responses(get_db(), c["id"], limit=PAGE_SIZE + 1, before=before)
    more = len(rows) > PAGE_SIZE
    return render_template("admin/responses.html", c=c, rows=rows[:PAGE_SIZE], more=more)


@bp.route("/campaigns/<slug>/responses/<int:response_id>", endpoint="response")
def response_page(slug: str, response_id: int):
    c = _campaign_or_404(slug)
    return render_template(
        "admin/response.html",
        c=c,
        r=_view_or_404(c, response_id),
        form=DeleteResponseForm(formdata=None),
    )


@bp.route(
    "/campaigns/<slug>/responses/<int:response_id>/delete",
    methods=["POST"],
    endpoint="response_delete",
)
def response_delete(slug: str, response_id: int):
    c = _campaign_or_404(slug)
    view = _view_or_404(c, response_id)
    form = DeleteResponseForm()
    if not form.validate_on_submit():
        return render_template("admin/response.html", c=c, r=view, form=form), 400
    reason = " ".join(form.reason.data.split())
    done = erasure.delete_response(get_db(), response_id)
    audit_log("response.delete", target=slug, details=audit_details(done, reason))
    flash(
        _t(
            "Response %(id)s is erased. Its invitation link, if any, now says “already answered”.",
            id=response_id,
        ),
        "success",
    )
    return redirect(url_for(".responses", slug=slug))
