"""Researcher pages of the API (issue 10): admins manage API tokens at
``/admin/tokens``; researchers manage a campaign's webhooks at
``/admin/campaigns/<slug>/webhooks``, whose delivery log the campaign page also shows.

The routes live on the admin blueprint, so its access table
(:data:`survey.web.admin.views.ROUTE_ROLES`, extended below) and its login check
apply. A new token or webhook secret is shown once, on the page that
answers the form; it is never stored in clear (tokens) or shown again (secrets).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Length, Regexp

from survey.storage import store, tokens, webhooks
from survey.storage.db import get_db
from survey.storage.users import ROLES
from survey.web.admin.auth import audit_log, current_username
from survey.web.admin.forms import choices
from survey.web.admin.i18n import _lt, _t
from survey.web.admin.views import ROUTE_ROLES, bp

DELIVERY_LOG_ROWS = 20


class _Checkboxes(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class TokenForm(FlaskForm):
    name = StringField(
        _lt("Name"),
        validators=[
            DataRequired(),
            Regexp(
                tokens.NAME_RE,
                message=_lt("Use 1-64 letters, digits or _.@-, starting with a letter or digit."),
            ),
        ],
        description=_lt("Who or what uses it, e.g. crm-prod."),
    )
    role = SelectField(_lt("Role"), choices=choices(ROLES), default="viewer")
    campaigns = _Checkboxes(_lt("Limited to these campaigns (none ticked: all campaigns)"))


class RevokeForm(FlaskForm):
    pass


class WebhookForm(FlaskForm):
    url = StringField(
        _lt("URL"),
        validators=[DataRequired(), Length(max=2000)],
        description=_lt("Receives a signed POST for each event."),
    )
    events = _Checkboxes(
        _lt("Events"), choices=choices(webhooks.EVENTS), default=["response.completed"]
    )


def _campaign_or_404(slug: str) -> dict:
    c = store.get_campaign(get_db(), slug)
    if c is None:
        abort(404)
    return c


def tokens_page():
    db = get_db()
    form = TokenForm()
    form.campaigns.choices = choices([c["slug"] for c in store.list_campaigns(db)])
    created = None
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                raw, t = tokens.create_token(
                    db,
                    form.name.data,
                    form.role.data,
                    form.campaigns.data or None,
                    created_by=current_username(),
                )
            except (ValueError, LookupError) as e:
                form.name.errors.append(str(e))
                status = 400
            else:
                audit_log(
                    "token.create",
                    target=t["name"],
                    details={"role": t["role"], "campaigns": t["campaigns"]},
                )
                created = {"token": raw, **t}
                form = TokenForm(formdata=None)
                form.campaigns.choices = choices([c["slug"] for c in store.list_campaigns(db)])
        else:
            status = 400
    return render_template(
        "admin/tokens.html",
        form=form,
        created=created,
        tokens=tokens.list_tokens(db),
        revoke_form=RevokeForm(formdata=None),
    ), status


def token_revoke(name: str):
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            tokens.revoke_token(get_db(), name)
        except LookupError as e:
            flash(str(e), "error")
        else:
            audit_log("token.revoke", target=name)
            flash(_t("Token %(name)s is revoked.", name=name), "success")
    return redirect(url_for("admin.tokens"))


def webhooks_page(slug: str):
    db = get_db()
    c = _campaign_or_404(slug)
    form = WebhookForm()
    secret = None
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                secret, w = webhooks.add_webhook(
                    db, slug, form.url.data, form.events.data, created_by=current_username()
                )
            except (ValueError, LookupError) as e:
                form.url.errors.append(str(e))
                status = 400
            else:
                audit_log(
                    "webhook.add",
                    target=slug,
                    details={
                        "id": w["id"],
                        "url": webhooks.url_origin(w["url"]),
                        "events": w["events"],
                    },
                )
                form = WebhookForm(formdata=None)
        else:
            status = 400
    return render_template(
        "admin/webhooks.html",
        c=c,
        form=form,
        secret=secret,
        hooks=webhooks.list_webhooks(db, slug),
        attempts=webhooks.attempts(db, slug, limit=100),
        remove_form=RevokeForm(formdata=None),
    ), status


def webhook_remove(slug: str, webhook_id: int):
    _campaign_or_404(slug)
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            webhooks.remove_webhook(get_db(), slug, webhook_id)
        except LookupError as e:
            flash(str(e), "error")
        else:
            audit_log("webhook.remove", target=slug, details={"id": webhook_id})
            flash(_t("Webhook %(id)s is removed.", id=webhook_id), "success")
    return redirect(url_for("admin.webhooks", slug=slug))


def delivery_summary(campaign: dict) -> dict:
    """For the campaign page: its webhooks and latest delivery attempts."""
    db = get_db()
    return {
        "hooks": webhooks.list_webhooks(db, campaign["slug"]),
        "attempts": webhooks.attempts(db, campaign["slug"], limit=DELIVERY_LOG_ROWS),
    }


# Added to the admin blueprint when this module is imported (survey.web.admin imports
# it), i.e. before any app registers the blueprint.
bp.add_url_rule("/tokens", "tokens", tokens_page, methods=["GET", "POST"])
bp.add_url_rule("/tokens/<name>/revoke", "token_revoke", token_revoke, methods=["POST"])
bp.add_url_rule("/campaigns/<slug>/webhooks", "webhooks", webhooks_page, methods=["GET", "POST"])
bp.add_url_rule(
    "/campaigns/<slug>/webhooks/<int:webhook_id>/remove",
    "webhook_remove",
    webhook_remove,
    methods=["POST"],
)
bp.add_app_template_global(delivery_summary, "webhook_deliveries")
ROUTE_ROLES.update(
    {
        "admin.tokens": "admin",
        "admin.token_revoke": "admin",
        "admin.webhooks": "researcher",
        "admin.webhook_remove": "researcher",
    }
)
