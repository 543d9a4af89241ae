"""Fuzzing the contacts import (hypothesis): whatever the CSV holds, the import is all or
nothing, and no stored contact can put a line break into a message header."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from email.headerregistry import Address

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from survey.mail import handler
from survey.mail.contacts import ContactsFileError, parse_csv
from survey.storage import contacts, store
from survey.storage.db import init_db, open_db

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NASTY = [
    "\r\n",
    "\n",
    "\r",
    "\x00",
    "\x0b",
    "\u2028",
    "\x85",
    ",",
    '"',
    "'",
    "<",
    ">",
    "@",
    "=?utf-8?q?x?=",
    "\u202e",
    "Bcc: evil@example.org",
    "\r\nBcc: evil@example.org",
    " ",
    "\t",
    "ü",
    "Ж",
    "سارا",
    "💥",
    ";",
    ":",
    "\\",
]
text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=12),
    st.lists(st.sampled_from(NASTY + ["a", "b", "1"]), max_size=6).map("".join),
)
good_email = st.builds(
    lambda a, b: f"{a}@{b}.org",
    st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,4})?", fullmatch=True),
    st.from_regex(r"[a-z]{1,8}", fullmatch=True),
)
email_field = st.one_of(good_email, text, st.builds(lambda e, t: e + t, good_email, text))
HEADERS = [
    "email,name,language,segment",
    "email,name,language,segment",
    "email,name",
    "email",
    "name,email,segment",
    "email,name,language,region",
    "Email,NAME,Language",
    "email,email",
    "",
    "\ufeffemail",
]
plain = st.one_of(st.just(""), st.from_regex(r"[A-Za-zÀ-ÿЖжس ]{1,12}", fullmatch=True))
odd_name = st.sampled_from(
    [
        "=?utf-8?q?x?=",
        "a <b@c.org>",
        '"Q", R',
        "x;y:z",
        "💥",
        "\u202eabc",
        "Bcc: evil@example.org",
        "O'Brien & <b>Co</b>",
        "سارا احمدی",
    ]
)
clean_row = st.tuples(
    good_email, st.one_of(plain, odd_name), st.sampled_from(["en", "ru", "fa", ""]), plain
)
nasty_row = st.tuples(email_field, text, st.sampled_from(["en", "ru", "fa", "", "de", "EN"]), text)
row = st.one_of(clean_row, clean_row, clean_row, clean_row, nasty_row)
EXPECTED_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "content-language",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "auto-submitted",
    "mime-version",
    "content-type",
}


@pytest.fixture(scope="module")
def fuzzdb(tmp_path_factory):
    path = tmp_path_factory.mktemp("mailfuzz") / "f.db"
    with open_db(path) as db:
        init_db(db)
        store.create_campaign(
            db, slug="acme", instrument="customer-trust", period="2026-Q4", params=["segment"]
        )
        yield db


def _csv(header: str, rows, raw: bool, trim: bool) -> str:
    """The rows as CSV under ``header``; with ``trim`` each row has the header's columns."""
    cols = [h.strip().lower().lstrip("\ufeff") for h in header.split(",")]
    if trim:
        rows = [
            [
                dict(zip(("email", "name", "language", "segment"), r, strict=True)).get(col, r[3])
                for col in cols
            ]
            for r in rows
        ]
    if raw:  # hand-joined: broken quoting, stray line breaks
        return header + "\n" + "\n".join(",".join(r) for r in rows)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    out.write(header + "\r\n")
    for r in rows:
        w.writerow(r)
    return out.getvalue()


def _count(db) -> int:
    return len(contacts.list_contacts(db, "acme"))


@SETTINGS
@given(
    header=st.sampled_from(HEADERS),
    rows=st.lists(row, max_size=5),
    raw=st.sampled_from([False, False, True]),
    as_bytes=st.booleans(),
    trim=st.sampled_from([True, True, True, False]),
)
def test_import_is_all_or_nothing_and_headers_stay_single_line(
    fuzzdb, header, rows, raw, as_bytes, trim
):
    db = fuzzdb
    c = store.get_campaign(db, "acme")
    data = _csv(header, rows, raw, trim)
    payload = data.encode("utf-8", "surrogatepass") if as_bytes else data
    before = {k["id"] for k in contacts.list_contacts(db, c)}
    try:
        parsed = parse_csv(payload, c)
    except ContactsFileError as e:
        assert e.errors and all(m.startswith(("line ", "the file")) for m in e.errors)
        assert _count(db) == len(before)
        event("rejected")
        return
    result = contacts.import_contacts(db, c, parsed)
    new = [k for k in contacts.list_contacts(db, c) if k["id"] not in before]
    assert len(new) == result["imported"]
    assert result["imported"] + len(result["skipped"]) == len(parsed)
    event(f"imported {min(result['imported'], 2)}+")
    key = contacts.app_key(db)
    sender = Address("Survey", "survey", "example.org")
    for k in new:
        for value in (k["email"], k["name"] or ""):
            assert not any(ch in value for ch in "\r\n\x00\u2028\x85")
        link, optout = handler.links("http://survey.test", key, k["id"])
        msg = handler.compose(
            db,
            c,
            k,
            purpose="invitation",
            sender=sender,
            base_url="http://survey.test",
            key=key,
            link=link,
            optout_link=optout,
            idempotency_key=f"email:invitation:{k['id']}",
        )
        raw_bytes = msg.as_bytes(policy=email.policy.SMTP)
        head = raw_bytes.split(b"\r\n\r\n", 1)[0].decode("ascii")
        names = set()
        for line in head.split("\r\n"):
            assert "\r" not in line and "\n" not in line
            if line[:1] in (" ", "\t"):
                continue  # folded continuation of the header above
            names.add(line.split(":", 1)[0].lower())
        assert names == EXPECTED_HEADERS
        back = email.message_from_bytes(raw_bytes, policy=email.policy.default)
        assert back["To"].addresses[0].addr_spec == k["email"]
        assert back["To"].addresses[0].display_name == (k["name"] or "")
