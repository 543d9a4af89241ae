"""Reading a contacts CSV: ``email``, optional ``name`` and ``language``, and one column per
declared parameter of the campaign. Every row is checked; a file with any bad row is
rejected as a whole with one message per bad row (line and reason), so nothing is half
imported. Messages never quote an address."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_NAME = 200
MAX_EMAIL = 254
MAX_PARAM_VALUE = 200
MAX_ERRORS_SHOWN = 50

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_RE = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,63}}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


class ContactsFileError(ValueError):
    """A contacts file that cannot be imported; ``errors`` lists ``line N: reason``."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = errors[:MAX_ERRORS_SHOWN]
        more = len(errors) - len(shown)
        text = "the contacts file was not imported:\n" + "\n".join(shown)
        if more:
            text += f"\n... and {more} more"
        super().__init__(text)


def valid_email(value: str) -> bool:
    return (
        len(value) <= MAX_EMAIL
        and EMAIL_RE.match(value) is not None
        and len(value.split("@")[0]) <= 64
    )


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    if len(data) > MAX_BYTES:
        raise ContactsFileError([f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ContactsFileError([f"the file is not UTF-8 text (byte {e.start})"]) from None


def parse_csv(data: bytes | str, campaign: Mapping) -> list[dict]:
    """Check a contacts CSV against ``campaign`` (its ``languages`` and ``params``).

    Returns rows ``{"line", "email", "name", "language", "params"}``; raises
    :class:`ContactsFileError` listing every bad row. A missing or empty ``language``
    means the campaign's first language.
    """
    text = _decode(data)
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ContactsFileError(["the file is empty; expected a header row with 'email'"]) from None
    except csv.Error as e:
        raise ContactsFileError([f"line 1: not valid CSV ({e})"]) from None
    columns = [h.strip().lower() for h in header]
    errors: list[str] = []
    allowed = {"email", "name", "language", *campaign["params"]}
    for h in columns:
        if h not in allowed:
            declared = ", ".join(campaign["params"]) or "none"
            errors.append(
                f"line 1: column {h!r} is not email, name, language or a declared "
                f"parameter of the campaign (declared: {declared})"
            )
    dupes = sorted({h for h in columns if columns.count(h) > 1})
    if dupes:
        errors.append(f"line 1: column(s) {', '.join(dupes)} appear more than once")
    if "email" not in columns:
        errors.append("line 1: there is no 'email' column")
    if errors:
        raise ContactsFileError(errors)
    languages = list(campaign["languages"])
    rows: list[dict] = []
    line = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            errors.append(f"line {line}: not valid CSV ({e})")
            break
        start, line = line, reader.line_num + 1
        if not record or all(not f.strip() for f in record):
            continue  # blank line
        if len(rows) + len(errors) >= MAX_ROWS:
            errors.append(f"line {start}: more than {MAX_ROWS} contacts in one file")
            break
        problems = []
        if len(record) != len(columns):
            errors.append(f"line {start}: {len(record)} fields, the header has {len(columns)}")
            continue
        values = dict(zip(columns, record, strict=True))
        for col, v in values.items():
            if _CONTROL.search(v):
                what = (
                    "a line break"
                    if re.search(r"[\r\n\u2028\u2029\x85]", v)
                    else "a control character"
                )
                problems.append(f"{col} contains {what}")
        email = values["email"].strip()
        if not email:
            problems.append("email is empty")
        elif not valid_email(email):
            problems.append("email is not a valid address (name@domain, ASCII)")
        name = values.get("name", "").strip()
        if "=?" in name:  # mail programs would decode it as an RFC 2047 encoded word
            problems.append("name contains '=?' (it would be shown as encoded text)")
        if len(name) > MAX_NAME:
            problems.append(f"name is longer than {MAX_NAME} characters")
        lang = values.get("language", "").strip() or languages[0]
        if lang not in languages:
            problems.append(
                f"language {lang!r} is not one of the campaign's ({', '.join(languages)})"
            )
        params = {}
        for p in campaign["params"]:
            v = values.get(p, "").strip()
            if len(v) > MAX_PARAM_VALUE:
                problems.append(f"{p} is longer than {MAX_PARAM_VALUE} characters")
            elif v:
                params[p] = v
        if problems:
            errors.append(f"line {start}: " + "; ".join(problems))
            continue
        rows.append(
            {
                "line": start,
                "email": email,
                "name": name or None,
                "language": lang,
                "params": params,
            }
        )
    if errors:
        raise ContactsFileError(errors)
    if not rows:
        raise ContactsFileError(["the file has a header but no contacts"])
    return rows
