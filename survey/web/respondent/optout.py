"""The opt-out page of the e-mail invitations: ``/optout/<token>``, no login.

GET shows what opting out means and a button (a GET never changes anything: mail
scanners and link previews fetch links). POST opts out; it is exempt from CSRF because
RFC 8058 one-click unsubscribe is a POST by the mail client with the body
``List-Unsubscribe=One-Click`` and no token; the unguessable token in the URL is what
authorises it. The page is in the contact's language.
"""

from __future__ import annotations

from flask import abort, g, render_template, request

from survey import csrf
from survey.storage import contacts
from survey.storage.db import get_db
from survey.web.i18n import CHROME_LANGUAGES
from survey.web.respondent.views import bp
from survey.web.security import MAX_TOKEN_LENGTH


@bp.route("/optout/<token>", methods=["GET", "POST"])
def optout(token: str):
    if len(token) > MAX_TOKEN_LENGTH:
        abort(404)
    db = get_db()
    contact = contacts.find_by_optout_token(db, token)
    if contact is None:
        abort(404)
    g.lang = contact["language"] if contact["language"] in CHROME_LANGUAGES else "en"
    if request.method == "POST":
        contacts.opt_out(db, contact["id"])
        return render_template("optout.html", done=True)
    return render_template("optout.html", done=contact["opted_out_at"] is not None)


csrf.exempt(optout)  # one-click POSTs carry no CSRF token
