"""Tokens never reach the logs (issue 14): /i/<token>, /optout/<token>, token= query
parameters and bearer tokens are replaced by <token> in the Flask app's error log and
gunicorn's access and error logs."""

from __future__ import annotations

import logging

import pytest

from survey import create_app
from survey.storage.db import get_db, init_db
from survey.web.accesslog import RedactingLogger, redact

SECRET = "Zq3xSECRETtoken9"


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"GET /i/{SECRET} HTTP/1.1", "GET /i/<token> HTTP/1.1"),
        (f"/optout/{SECRET}?x=1", "/optout/<token>?x=1"),
        (f"GET /s/acme?token={SECRET}&segment=a", "GET /s/acme?token=<token>&segment=a"),
        (f"access_token={SECRET}", "access_token=<token>"),
        (f"Authorization: Bearer tm_{SECRET}", "Authorization: Bearer <token>"),
        ("GET /s/acme?segment=a", "GET /s/acme?segment=a"),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_flask_error_log_has_no_token(tmp_path, caplog):
    app = create_app({"DATABASE": str(tmp_path / "t.db"), "SECRET_KEY": "k" * 40})
    with app.app_context():
        init_db(get_db())

    def boom(token):
        raise RuntimeError("boom")

    app.add_url_rule("/i/<token>/boom", "boom", boom)
    with caplog.at_level(logging.ERROR):
        r = app.test_client().get(f"/i/{SECRET}/boom?token={SECRET}")
    assert r.status_code == 500
    logged = "\n".join(rec.getMessage() + (rec.exc_text or "") for rec in caplog.records)
    assert "Exception on /i/<token>/boom" in logged
    assert SECRET not in logged and SECRET not in caplog.text


def test_gunicorn_error_log_is_filtered():
    from gunicorn.config import Config

    log = RedactingLogger(Config())
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    log.error_log.addHandler(handler)  # gunicorn's error log does not propagate
    try:
        log.error("Error handling request /i/%s?token=%s", SECRET, SECRET)
    finally:
        log.error_log.removeHandler(handler)
    assert seen == ["Error handling request /i/<token>?token=<token>"]
