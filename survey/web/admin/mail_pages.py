"""Researcher pages of the e-mail invitations (issue 9), on the admin blueprint: the
campaign page's "E-mail invitations" panel (funnel, outbox progress, contacts upload,
send and remind buttons, purge) and a page per language to override the templates.

The buttons only queue outbox rows; the outbox worker (started by ``trustmeter serve``,
or ``trustmeter worker``) sends them. The panel shows the progress, and while messages
are pending the page reloads itself every few seconds (a ``<meta http-equiv="refresh">``,
no script), with a plain reload link as well.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from survey.mail import templates as mail_templates
from survey.mail.contacts import MAX_BYTES, ContactsFileError, parse_csv
from survey.mail.durations import parse_duration
from survey.storage import contacts, store
from survey.storage.db import get_db
from survey.web.admin.auth import audit_log
from survey.web.admin.i18n import _lt, _t
from survey.web.admin.views import ROUTE_ROLES, bp

REFRESH_S = 5
MAX_ERRORS_FLASHED = 20


class ContactsForm(FlaskForm):
    file = FileField(
        _lt("Contacts CSV"),
        validators=[FileRequired()],
        description=_lt(
            "Columns: email, optional name and language, and one per URL parameter of the "
            "campaign. A file with any bad row is not imported at all."
        ),
    )


class SendForm(FlaskForm):
    pass


class RemindForm(FlaskForm):
    after = StringField(
        _lt("Only when the last message is at least this old"),
        default="3d",
        validators=[DataRequired(), Length(max=20)],
        description=_lt("e.g. 0s, 90m, 12h, 3d"),
    )
    max = IntegerField(
        _lt("At most this many reminders per contact"),
        default=1,
        validators=[InputRequired(), NumberRange(min=1, max=20)],
    )


class PurgeForm(FlaskForm):
    confirm = BooleanField(
        _lt(
            "I understand that the e-mail addresses and names of this "
            "campaign's contacts will be deleted"
        )
    )
    after_close = IntegerField(
        _lt("Or purge automatically this many days after the campaign closes"),
        validators=[Optional(), NumberRange(min=0)],
    )


class TemplateForm(FlaskForm):
    subject = StringField(_lt("Subject"), validators=[DataRequired(), Length(max=500)])
    text = TextAreaField(_lt("Plain-text body"), validators=[DataRequired()])
    html = TextAreaField(_lt("HTML body"), validators=[DataRequired()])


def _campaign_or_404(slug: str) -> dict:
    c = store.get_campaign(get_db(), slug)
    if c is None:
        abort(404)
    return c


def _back(slug: str):
    return redirect(url_for("admin.campaign", slug=slug) + "#mail-title")


def mail_panel(c: dict) -> dict:
    """What the campaign page's e-mail panel shows (a template global)."""
    from survey.mail.handler import MailConfig

    db = get_db()
    progress = contacts.mail_progress(db, c)
    try:
        MailConfig.from_env()
        config_error = None
    except ValueError as e:
        config_error = str(e)
    return {
        "funnel": contacts.campaign_funnel(db, c),
        "progress": progress,
        "pending": progress["queued"] + progress["sending"] + progress["retrying"],
        "settings": contacts.mail_settings(db, c),
        "overrides": sorted(contacts.get_templates(db, c)),
        "config_error": config_error,
        "contacts_form": ContactsForm(prefix="contacts"),
        "send_form": SendForm(prefix="send"),
        "remind_form": RemindForm(prefix="remind"),
        "purge_form": PurgeForm(prefix="purge"),
        "refresh_s": REFRESH_S,
    }


def _raise_upload_limit() -> None:
    """The app accepts 256 KB per request (respondents' pages); a contacts file may be
    larger. Runs before the CSRF check, which reads the form."""
    if request.endpoint == "admin.contacts_upload":
        request.max_content_length = MAX_BYTES + 64 * 1024


def contacts_upload(slug: str):
    c = _campaign_or_404(slug)
    form = ContactsForm(prefix="contacts")
    if not form.validate_on_submit():
        flash(_t("Choose a contacts CSV file to upload."), "error")
        return _back(slug)
    data = form.file.data.read(MAX_BYTES + 1)
    db = get_db()
    try:
        rows = parse_csv(data, c)
        result = contacts.import_contacts(db, c, rows)
    except ContactsFileError as e:
        flash(_t("The contacts file was not imported (%(n)s problems):", n=len(e.errors)), "error")
        for message in e.errors[:MAX_ERRORS_FLASHED]:
            flash(message, "error")
        if len(e.errors) > MAX_ERRORS_FLASHED:
            flash(_t("… and %(n)s more.", n=len(e.errors) - MAX_ERRORS_FLASHED), "error")
        return _back(slug)
    except (ValueError, LookupError) as e:
        flash(_t("The contacts file was not imported: %(error)s", error=str(e)), "error")
        return _back(slug)
    audit_log(
        "contacts.import",
        target=slug,
        details={"imported": result["imported"], "skipped": len(result["skipped"])},
    )
    flash(_t("Imported %(n)s contacts.", n=result["imported"]), "success")
    for message in result["skipped"][:MAX_ERRORS_FLASHED]:
        flash(message, "info")
    return _back(slug)


def mail_send(slug: str):
    c = _campaign_or_404(slug)
    if not SendForm(prefix="send").validate_on_submit():
        abort(400)
    try:
        n = contacts.queue_invitations(get_db(), c)
    except (ValueError, LookupError) as e:
        flash(str(e), "error")
        return _back(slug)
    audit_log("mail.send", target=slug, details={"queued": n})
    flash(
        _t("%(n)s invitations queued; the outbox worker is sending them.", n=n)
        if n
        else _t("Every contact has been invited already; nothing was queued."),
        "success" if n else "info",
    )
    return _back(slug)


def mail_remind(slug: str):
    c = _campaign_or_404(slug)
    form = RemindForm(prefix="remind")
    if not form.validate_on_submit():
        flash(
            _t(
                "Reminders not queued: %(errors)s",
                errors="; ".join(
                    f"{form[k].label.text}: {v[0]}"
                    for k, v in form.errors.items()
                    if k != "csrf_token"
                )
                or _t("the form has expired"),
            ),
            "error",
        )
        return _back(slug)
    try:
        after = parse_duration(form.after.data)
        n = contacts.queue_reminders(get_db(), c, after=after, max_reminders=form.max.data)
    except (ValueError, LookupError) as e:
        flash(_t("Reminders not queued: %(errors)s", errors=str(e)), "error")
        return _back(slug)
    audit_log(
        "mail.remind",
        target=slug,
        details={"queued": n, "after_s": after.total_seconds(), "max": form.max.data},
    )
    flash(_t("%(n)s reminders queued.", n=n), "success" if n else "info")
    return _back(slug)


def contacts_purge(slug: str):
    c = _campaign_or_404(slug)
    form = PurgeForm(prefix="purge")
    if not form.validate_on_submit():
        flash(_t("Nothing purged: the purge delay must be a whole number of days."), "error")
        return _back(slug)
    db = get_db()
    if form.after_close.data is not None:
        contacts.set_purge_after(db, c, form.after_close.data)
        audit_log("contacts.purge", target=slug, details={"after_close": form.after_close.data})
        flash(
            _t(
                "The contacts will be purged %(n)s days after the campaign closes.",
                n=form.after_close.data,
            ),
            "success",
        )
        return _back(slug)
    if not form.confirm.data:
        flash(_t("Nothing purged: tick the box to confirm."), "error")
        return _back(slug)
    n = contacts.purge(db, c)
    audit_log("contacts.purge", target=slug, details={"purged": n})
    flash(_t("The personal data of %(n)s contacts was deleted.", n=n), "success")
    return _back(slug)


def mail_template(slug: str, language: str):
    c = _campaign_or_404(slug)
    if language not in c["languages"]:
        abort(404)
    db = get_db()
    current = mail_templates.templates_for(language, contacts.get_templates(db, c))
    is_override = language in contacts.get_templates(db, c)
    form = TemplateForm(data=current)
    status = 200
    if request.method == "POST":
        if request.form.get("reset"):  # (CSRF is checked app-wide for every POST)
            contacts.delete_template(db, c, language)
            audit_log("mail.template", target=slug, details={"language": language, "reset": True})
            flash(
                _t("The %(lang)s messages use the default templates again.", lang=language),
                "success",
            )
            return redirect(url_for("admin.mail_template", slug=slug, language=language))
        if form.validate_on_submit():
            try:
                mail_templates.check_templates(form.subject.data, form.text.data, form.html.data)
                contacts.set_template(
                    db,
                    c,
                    language,
                    subject=form.subject.data,
                    text=form.text.data,
                    html=form.html.data,
                )
            except ValueError as e:
                form.text.errors = [*form.text.errors, str(e)]
                status = 400
            else:
                audit_log("mail.template", target=slug, details={"language": language})
                flash(_t("The %(lang)s templates are saved.", lang=language), "success")
                return redirect(url_for("admin.mail_template", slug=slug, language=language))
        else:
            status = 400
    return render_template(
        "admin/mail_template.html",
        c=c,
        language=language,
        form=form,
        is_override=is_override,
        placeholders=("name", "link", "title", "closes", "optout_link", "reminder"),
    ), status


bp.add_url_rule("/campaigns/<slug>/contacts", "contacts_upload", contacts_upload, methods=["POST"])
bp.add_url_rule("/campaigns/<slug>/mail/send", "mail_send", mail_send, methods=["POST"])
bp.add_url_rule("/campaigns/<slug>/mail/remind", "mail_remind", mail_remind, methods=["POST"])
bp.add_url_rule(
    "/campaigns/<slug>/contacts/purge", "contacts_purge", contacts_purge, methods=["POST"]
)
bp.add_url_rule(
    "/campaigns/<slug>/mail/templates/<language>",
    "mail_template",
    mail_template,
    methods=["GET", "POST"],
)
bp.add_app_template_global(mail_panel, "mail_panel")
bp.record_once(
    lambda state: state.app.before_request_funcs.setdefault(None, []).insert(0, _raise_upload_limit)
)
ROUTE_ROLES.update(
    {
        "admin.contacts_upload": "researcher",
        "admin.mail_send": "researcher",
        "admin.mail_remind": "researcher",
        "admin.contacts_purge": "researcher",
        "admin.mail_template": "researcher",
    }
)
