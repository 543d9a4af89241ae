"""The survey's storage API: instruments, campaigns, invitations, responses, answers.

Every function takes a :class:`sqlite_utils.Database` first (from
:func:`survey.storage.db.get_db` in views, :func:`survey.storage.db.connect` elsewhere), returns
plain dicts, and raises :class:`ValueError` for bad arguments and
:class:`LookupError` for things that do not exist.

Layout
------
``responses`` holds one row per respondent session with its metadata and quality
flags. The answers live in one *wide* table per instrument version, e.g.
``answers_customer_trust_v1_0_0``: ``response_id`` plus one ``INTEGER`` column per
item, named by the item id. ``NULL`` means "no answer"; an explicit "not
applicable" answer is also ``NULL`` in the wide table and is recorded by item id in
``responses.na_items`` (a JSON list), so the two can be told apart while the matrix
stays numeric. Checklist items are coded 1 = yes, 0 = no.

Times are ISO 8601 strings in UTC (``2026-11-22T15:34:37.120+00:00``).
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sqlite_utils import Database

from instruments.loader import get_instrument, instrument_from_yaml
from instruments.model import Instrument
from survey.brands import check_brands
from survey.storage import packing
from survey.storage.db import write_transaction

# \Z, not $: "$" also matches before a trailing newline, so "x\n" would pass.
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")
PARAM_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}\Z")
# Slugs that collide with researcher routes (/admin/campaigns/new) or read as words of the
# interface; refused so that every campaign can be opened.
RESERVED_SLUGS = frozenset(
    {"new", "export", "invitations", "close", "edit", "access", "static", "admin", "api"}
)
# Dates a campaign may open or close on; anything else is a typo (and 9999-12-31 + 1 day
# overflows).
MIN_YEAR, MAX_YEAR = 2000, 2200
DIRECTIONS = ("ltr", "rtl")
#: Columns of :func:`load_campaign_frame` before the params and items; a declared
#: param or an item may not use one of these names.
FRAME_META = (
    "response_id",
    "status",
    "campaign",
    "period",
    "language",
    "direction",
    "duration_s",
    "started_at",
    "completed_at",
    "longstring",
    "irv",
    "attention_passed",
    "quality_flags",
    "na_items",
    "not_shown_items",
    "respondent",
    "brand_position",
)
MAX_PARAM_VALUE = 200
FRAME_CHUNK_ROWS = 65_536  # rows fetched at a time by load_campaign_frame

#: Quality-flag thresholds (see :func:`quality_flags`).


# ----- small helpers -------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse_time(
    value: str | date | datetime | None, what: str, *, end_of_day: bool = False
) -> str | None:
    """Normalise a date or datetime to an ISO UTC string.

    A plain date means the start of that day (UTC); with ``end_of_day`` it means
    the start of the next day, so ``closes_at=2026-12-31`` keeps the campaign open
    through 31 December.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            if len(value.strip()) == 10:
                value = date.fromisoformat(value.strip())
            else:
                value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"{what}: {value!r} is not a date (YYYY-MM-DD) or an ISO datetime"
            ) from None
    if isinstance(value, date) and not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"{what}: {value.isoformat()} must be between {MIN_YEAR} and {MAX_YEAR}")
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        dt = datetime(value.year, value.month, value.day, tzinfo=UTC)
        return _iso(dt + timedelta(days=1) if end_of_day else dt)
    raise ValueError(f"{what}: expected a date, datetime or ISO string, got {type(value).__name__}")


def _json_list(text: str | None) -> list:
    return json.loads(text) if text else []


def _json_dict(text: str | None) -> dict:
    return json.loads(text) if text else {}


def hash_token(token: str) -> str:
    """The sha256 hex digest under which an invitation token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def answers_table_name(inst: Instrument) -> str:
    """Name of an instrument version's wide answer table, e.g. ``answers_customer_trust_v1_0_0``."""

    def clean(s: str) -> str:
        return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")

    return f"answers_{clean(inst.id)}_v{clean(inst.version)}"


def _q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _value_range(inst: Instrument, item_id: str) -> tuple[int, int]:
    scale = inst.scale_for(item_id)
    return (0, 1) if scale is None else (scale.min, scale.max)


def item_lows(inst: Instrument, items: Sequence[str]) -> list[int]:
    """The lowest code of each item (what :mod:`survey.storage.packing` offsets by)."""
    return [_value_range(inst, i)[0] for i in items]


def answers_table(db: Database, inst: Instrument) -> str:
    """The name of a registered instrument version's answer table."""
    row = db.execute(
        "SELECT answers_table FROM instruments WHERE id = ? AND version = ?",
        [inst.id, inst.version],
    ).fetchone()
    if row is None:
        raise LookupError(f"instrument {inst.key} is not registered in this database")
    return row[0]


def _na_allowed(inst: Instrument, item_id: str) -> bool:
    scale = inst.scale_for(item_id)
    return scale is not None and scale.not_applicable


def scale_item_ids(inst: Instrument) -> tuple[str, ...]:
    """Rating items on the instrument's main scale, in instrument order: block items
    and single items without a scale of their own (or with the same range).
    Longstring and IRV are computed over these (as in :mod:`analysis.careless`)."""
    main = (inst.scale.min, inst.scale.max)
    ids = [i.id for b in inst.blocks for i in b.items]
    ids += [
        i.id for i in inst.single_items if i.scale is None or (i.scale.min, i.scale.max) == main
    ]
    return tuple(ids)


# ----- instruments ---------------------------------------------------------------
def _instrument_text(inst: Instrument) -> str:
    """The instrument's YAML: the source file's text if it still matches, else a dump."""
    if inst.source:
        try:
            with open(inst.source, encoding="utf-8") as f:
                text = f.read()
            if yaml.safe_load(text) == dict(inst.raw):
                return text
        except (OSError, yaml.YAMLError):
            pass
    return yaml.safe_dump(dict(inst.raw), sort_keys=False, allow_unicode=True)


def _answers_ddl(inst: Instrument, table: str) -> str:
    """One row per response, one integer column per item, and the row packed
    (:data:`survey.storage.packing.STORED_COLUMN`, computed by SQLite on every write)."""
    cols = ["response_id INTEGER PRIMARY KEY REFERENCES responses (id)"]
    for item_id in inst.item_ids:
        lo, hi = _value_range(inst, item_id)
        cols.append(f"{_q(item_id)} INTEGER CHECK ({_q(item_id)} BETWEEN {lo} AND {hi})")
    cols.append(packing.stored_column_ddl(inst.item_ids, item_lows(inst, inst.item_ids)))
    return f"CREATE TABLE IF NOT EXISTS {_q(table)} (\n    " + ",\n    ".join(cols) + "\n)"


def add_stored_column(db: Database, inst: Instrument, table: str) -> bool:
    """Rebuild an answer table made before :data:`packing.STORED_COLUMN` existed with
    it (SQLite cannot add a stored generated column to a table): a new table from
    :func:`_answers_ddl`, the rows copied, the old table dropped and the new one
    renamed, in the caller's transaction. Returns False, changing nothing, when the
    table already has the column or its columns are not the instrument's items (the
    loaders then pack the rows in their query, as before)."""
    cols = [r[1] for r in db.execute(f"PRAGMA table_xinfo({_q(table)})").fetchall()]
    if not cols or packing.STORED_COLUMN in cols:
        return False
    if cols != ["response_id", *inst.item_ids]:
        return False
    new = f"{table}__rebuild"
    names = ", ".join(map(_q, cols))
    db.execute(f"DROP TABLE IF EXISTS {_q(new)}")
    db.execute(_answers_ddl(inst, new))
    db.execute(f"INSERT INTO {_q(new)} ({names}) SELECT {names} FROM {_q(table)}")
    db.execute(f"DROP TABLE {_q(table)}")
    db.execute(f"ALTER TABLE {_q(new)} RENAME TO {_q(table)}")
    return True


def has_stored_column(db: Database, inst: Instrument, table: str) -> bool:
    """Whether the answer table ``table`` has :data:`packing.STORED_COLUMN`, defined
    exactly as this code packs ``inst``'s items (else the loaders pack in the query)."""
    row = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    ).fetchone()
    ddl = packing.stored_column_ddl(inst.item_ids, item_lows(inst, inst.item_ids))
    return row is not None and ddl in (row[0] or "")


def packed_answers_sql(
    db: Database, inst: Instrument, table: str, *, row_id: str | None = None
) -> str:
    """SQL for a row's answers to every item of ``inst`` packed in instrument order
    (:mod:`survey.storage.packing`), after the packed ``row_id`` when one is given
    (the response id), for a query that joins the answer table ``table`` as ``a``.

    The stored column is copied when it is defined as this code packs (see
    :func:`has_stored_column`); a response without an answers row, or a table without
    the column, is packed in the query."""
    computed = packing.pack_sql(
        inst.item_ids, item_lows(inst, inst.item_ids), table="a", row_id=row_id
    )
    if not has_stored_column(db, inst, table):
        return computed
    stored = f"a.{_q(packing.STORED_COLUMN)}"
    if row_id is None:  # the stored text starts with the response id
        stored = f"substr({stored}, {packing.ID_CHARS + 1})"
    return f"coalesce({stored}, {computed})"


def register_instrument(db: Database, inst: Instrument) -> None:
    """Store an instrument version (YAML text and sha256) and create its answer table.

    Idempotent: registering the same id, version and content again does nothing.
    Registering different content under an id and version already stored raises
    ``ValueError``: collected answers refer to that version, so change the version.
    """
    lowered: dict[str, str] = {}
    for item_id in inst.item_ids:
        if item_id.lower() in FRAME_META:
            raise ValueError(
                f"instrument {inst.key}: item id {item_id!r} is reserved "
                "(a column name of the response data)"
            )
        if item_id.lower() in lowered:
            raise ValueError(
                f"instrument {inst.key}: item ids {lowered[item_id.lower()]!r} and "
                f"{item_id!r} differ only in case (SQLite column names do not)"
            )
        lowered[item_id.lower()] = item_id
    text = _instrument_text(inst)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    table = answers_table_name(inst)
    with write_transaction(db):
        row = db.execute(
            "SELECT sha256, yaml, answers_table FROM instruments WHERE id = ? AND version = ?",
            [inst.id, inst.version],
        ).fetchone()
        if row is not None:
            if row[0] != digest and yaml.safe_load(row[1]) != dict(inst.raw):
                raise ValueError(
                    f"instrument {inst.id} version {inst.version} is already registered with "
                    "different content; give the changed instrument a new version"
                )
            table = row[2]
        else:
            other = db.execute(
                "SELECT id, version FROM instruments WHERE answers_table = ?", [table]
            ).fetchone()
            if other is not None:
                raise ValueError(
                    f"instrument {inst.key}: its answer table name {table!r} is "
                    f"already used by {other[0]}@{other[1]}"
                )
            db.execute(
                "INSERT INTO instruments (id, version, yaml, sha256, answers_table, "
                "registered_at) VALUES (?, ?, ?, ?, ?, ?)",
                [inst.id, inst.version, text, digest, table, _iso(_now())],
            )
        db.execute(_answers_ddl(inst, table))


@lru_cache(maxsize=64)
def _parse_instrument(text: str, source: str) -> Instrument:
    return instrument_from_yaml(text, source=source)


#: Parsed stored instruments by (id, version, sha256 of the YAML). A registered version's
#: content never changes (register_instrument refuses that), and the respondent pages
#: load the campaign's instrument several times per request: only the short digest is
#: read then, not the whole YAML text.
_BY_DIGEST: dict[tuple[str, str, str], Instrument] = {}


def load_instrument(
    db: Database, instrument_id: str, version: str, sha256: str | None = None
) -> Instrument:
    """The stored instrument ``instrument_id`` at ``version`` (parsed once, then cached).

    ``sha256``: the stored digest, when the caller's query already read it (the cache
    is keyed by it, so a database holding other content under the same id and version
    never gets this one's parse)."""
    if sha256 is None:
        row = db.execute(
            "SELECT sha256 FROM instruments WHERE id = ? AND version = ?", [instrument_id, version]
        ).fetchone()
        if row is None:
            raise LookupError(
                f"instrument {instrument_id} version {version} is not registered "
                "(run 'trustmeter init')"
            )
        sha256 = row[0]
    key = (instrument_id, version, sha256)
    inst = _BY_DIGEST.get(key)
    if inst is None:
        (text,) = db.execute(
            "SELECT yaml FROM instruments WHERE id = ? AND version = ?", [instrument_id, version]
        ).fetchone()
        inst = _parse_instrument(text, f"db:{instrument_id}@{version}")
        if len(_BY_DIGEST) >= 256:
            _BY_DIGEST.clear()
        _BY_DIGEST[key] = inst
    return inst


def list_instruments(db: Database) -> list[dict]:
    """Registered instrument versions: id, version, sha256, answers_table, registered_at."""
    cur = db.execute(
        "SELECT id, version, sha256, answers_table, registered_at FROM instruments "
        "ORDER BY id, registered_at"
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _version_key(v: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-]", v))


def resolve_instrument(db: Database, ref: Instrument | str) -> Instrument:
    """An instrument from an object, ``"id@version"``, a registered or built-in id, or a
    YAML path. Instruments not yet in the database are registered."""
    if isinstance(ref, Instrument):
        register_instrument(db, ref)
        return ref
    if not isinstance(ref, str) or not ref.strip():
        raise ValueError(f"instrument: expected an Instrument or an id, got {ref!r}")
    ident, _, version = ref.strip().partition("@")
    if version:
        return load_instrument(db, ident, version)
    versions = [
        r[0] for r in db.execute("SELECT version FROM instruments WHERE id = ?", [ident]).fetchall()
    ]
    if versions:
        return load_instrument(db, ident, max(versions, key=_version_key))
    try:
        inst = get_instrument(ident)
    except ValueError as e:  # InstrumentError
        raise LookupError(f"unknown instrument {ident!r}: {e}") from None
    register_instrument(db, inst)
    return inst


# ----- campaigns -----------------------------------------------------------------
def _check_period(period: Any) -> str:
    if (
        not isinstance(period, str)
        or not period.strip()
        or len(period) > 32
        or not period.isprintable()
    ):
        raise ValueError(
            f"period {period!r} must be a non-empty printable label of at most "
            "32 characters, e.g. 2026-Q4"
        )
    return period.strip()


_CAMPAIGN_COLS = (
    "id",
    "slug",
    "title",
    "instrument_id",
    "instrument_version",
    "period",
    "params",
    "languages",
    "status",
    "opens_at",
    "closes_at",
    "min_segment_n",
    "created_at",
    "brands",
    "brands_per_respondent",
)


def _campaign_row(row: Sequence) -> dict:
    c = dict(zip(_CAMPAIGN_COLS, row, strict=True))
    c["params"] = _json_list(c["params"])
    c["languages"] = _json_list(c["languages"])
    c["brands"] = _json_list(c["brands"])
    return c


def create_campaign(
    db: Database,
    *,
    slug: str,
    instrument: Instrument | str,
    period: str,
    params: Iterable[str] = (),
    languages: Iterable[str] | None = None,
    title: str | None = None,
    opens_at: str | date | datetime | None = None,
    closes_at: str | date | datetime | None = None,
    min_segment_n: int = 30,
    created_by: str | None = None,
    brands: Sequence[Mapping | str] | None = None,
    brands_per_respondent: int | None = None,
) -> dict:
    """Create a campaign: one instrument version, one period, a public link ``/s/<slug>``.

    ``params`` are the URL parameters respondents may carry (e.g. ``segment``,
    ``channel``); ``languages`` defaults to all of the instrument's languages. A plain
    ``closes_at`` date is inclusive (the campaign closes at the end of that day, UTC).
    ``instrument`` is an :class:`Instrument`, or an id (``customer-trust``, latest
    registered or built-in version) or ``"id@version"``. ``created_by`` is recorded; when
    it names a user, that user is granted the campaign (:mod:`survey.storage.access`).
    ``brands`` (issue 11): ``[{"slug", "names": {lang: display name}}]`` or declarations
    ``"acme: en=Acme | ru=Акме"`` (checked by :func:`survey.brands.check_brands`), in the
    order the brand page lists them; ``brands_per_respondent`` is K, how many of the
    ticked brands one respondent rates (``None``: all). With brands, ``brand`` becomes
    a declared param and the instrument must be brand-aware.
    Returns :func:`get_campaign`.
    """
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise ValueError(
            f"campaign slug {slug!r} must be 1-64 lower-case letters, digits or "
            "'-', starting with a letter or digit (it becomes the link /s/<slug>)"
        )
    if slug in RESERVED_SLUGS:
        raise ValueError(f"campaign slug {slug!r} is reserved (it names a page); choose another")
    period = _check_period(period)
    if isinstance(params, str):
        params = [params]
    params = list(params)
    inst = resolve_instrument(db, instrument)
    item_ids = {i.lower() for i in inst.item_ids}
    for p in params:
        if not isinstance(p, str) or not PARAM_RE.fullmatch(p):
            raise ValueError(
                f"param name {p!r} must be a lower-case letter, then letters, "
                "digits or '_' (at most 32)"
            )
        if p in FRAME_META or p in item_ids:
            raise ValueError(f"param name {p!r} is reserved (a response column or item id)")
    if len(set(params)) != len(params):
        raise ValueError(f"params {params} name a parameter twice")
    if languages is None:
        langs = list(inst.languages)
    else:
        langs = [languages] if isinstance(languages, str) else list(languages)
        unknown = [lang for lang in langs if lang not in inst.languages]
        if unknown or not langs:
            raise ValueError(
                f"languages {langs}: the instrument {inst.key} offers {', '.join(inst.languages)}"
            )
        if len(set(langs)) != len(langs):
            raise ValueError(f"languages {langs} list a language twice")
    brand_list, k = check_brands(brands, langs, brands_per_respondent)
    if brand_list:
        if not inst.brand_aware:
            raise ValueError(
                f"instrument {inst.key} is not brand-aware (its texts have no {{brand}}), "
                "so a campaign with brands cannot use it; choose a brand-aware instrument "
                "(e.g. customer-trust 1.1.0 or later)"
            )
        if "brand" not in params:
            params.append("brand")
    if isinstance(min_segment_n, bool) or not isinstance(min_segment_n, int) or min_segment_n < 1:
        raise ValueError(f"min_segment_n must be a positive integer, got {min_segment_n!r}")
    opens = _parse_time(opens_at, "opens_at")
    closes = _parse_time(closes_at, "closes_at", end_of_day=True)
    if opens and closes and closes <= opens:
        raise ValueError(f"closes_at ({closes}) must be after opens_at ({opens})")
    with write_transaction(db):
        if db.execute("SELECT 1 FROM campaigns WHERE slug = ?", [slug]).fetchone():
            raise ValueError(f"a campaign with slug {slug!r} already exists")
        db.execute(
            "INSERT INTO campaigns (slug, title, instrument_id, instrument_version, period, "
            "params, languages, status, opens_at, closes_at, min_segment_n, created_at, "
            "created_by, brands, brands_per_respondent) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)",
            [
                slug,
                title,
                inst.id,
                inst.version,
                period,
                json.dumps(params),
                json.dumps(langs),
                opens,
                closes,
                min_segment_n,
                _iso(_now()),
                created_by,
                json.dumps(brand_list, ensure_ascii=False),
                k,
            ],
        )
        if created_by:  # a web user who creates a campaign may see it (survey.storage.access)
            db.execute(
                "INSERT OR IGNORE INTO campaign_access (campaign_id, user_id, granted_by, "
                "granted_at) SELECT c.id, u.id, 'creator', c.created_at FROM campaigns c "
                "JOIN users u ON u.username = ? WHERE c.slug = ?",
                [created_by, slug],
            )
    return get_campaign(db, slug)


def get_campaign(db: Database, slug: str) -> dict | None:
    """The campaign with this slug, or ``None``. ``params``/``languages`` are lists."""
    row = db.execute(
        f"SELECT {', '.join(_CAMPAIGN_COLS)} FROM campaigns WHERE slug = ?", [slug]
    ).fetchone()
    return None if row is None else _campaign_row(row)


def get_campaign_and_instrument(db: Database, slug: str) -> tuple[dict, Instrument] | None:
    """:func:`get_campaign` and :func:`campaign_instrument` in one query (the
    respondent pages ask for both on every request), or ``None``."""
    row = db.execute(
        f"SELECT {', '.join('c.' + col for col in _CAMPAIGN_COLS)}, i.sha256 FROM campaigns c "
        "LEFT JOIN instruments i ON i.id = c.instrument_id AND i.version = c.instrument_version "
        "WHERE c.slug = ?",
        [slug],
    ).fetchone()
    if row is None:
        return None
    campaign = _campaign_row(row[:-1])
    if row[-1] is None:  # not registered: load_instrument's own error
        return campaign, campaign_instrument(db, campaign)
    inst = load_instrument(db, campaign["instrument_id"], campaign["instrument_version"], row[-1])
    return campaign, inst


def _require_campaign(db: Database, campaign: Mapping | str) -> dict:
    slug = campaign if isinstance(campaign, str) else campaign.get("slug")
    c = get_campaign(db, slug)
    if c is None:
        raise LookupError(f"unknown campaign {slug!r}")
    return c


def list_campaigns(db: Database) -> list[dict]:
    """All campaigns, newest first, each as :func:`get_campaign` returns it."""
    rows = db.execute(
        f"SELECT {', '.join(_CAMPAIGN_COLS)} FROM campaigns ORDER BY created_at DESC, id DESC"
    ).fetchall()
    return [_campaign_row(r) for r in rows]


def campaign_instrument(db: Database, campaign: Mapping) -> Instrument:
    """The instrument version a campaign uses."""
    return load_instrument(db, campaign["instrument_id"], campaign["instrument_version"])


def close_campaign(db: Database, slug: str) -> None:
    """Stop accepting new responses for a campaign (status ``closed``). The first close
    queues the ``campaign.closed`` webhook event in the same transaction."""
    from survey.storage import webhooks  # imports this module

    with write_transaction(db):
        c = get_campaign(db, slug)
        if c is None:
            raise LookupError(f"unknown campaign {slug!r}")
        if (
            db.execute(
                "UPDATE campaigns SET status = 'closed' WHERE id = ? AND status != 'closed'",
                [c["id"]],
            ).rowcount
            == 1
        ):
            webhooks.on_campaign_closed(db, c)


def is_open(campaign: Mapping, now: datetime | None = None) -> bool:
    """Whether a campaign accepts responses at ``now`` (default: the current time):
    status ``open`` and ``opens_at <= now < closes_at`` for the bounds that are set."""
    if campaign.get("status") != "open":
        return False
    t = now or _now()
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    if campaign.get("opens_at") and t < datetime.fromisoformat(campaign["opens_at"]):
        return False
    if campaign.get("closes_at") and t >= datetime.fromisoformat(campaign["closes_at"]):
        return False
    return True


def declared_params(campaign: Mapping, values: Mapping[str, Any]) -> dict[str, str]:
    """Keep only the campaign's declared params from ``values`` (e.g. ``request.args``),
    dropping empty values."""
    return {
        p: str(values[p]).strip()
        for p in campaign["params"]
        if p in values and values[p] is not None and str(values[p]).strip()
    }


def _check_params(campaign: Mapping, params: Mapping[str, Any] | None) -> dict[str, str]:
    params = dict(params or {})
    undeclared = sorted(set(params) - set(campaign["params"]))
    if undeclared:
        declared = ", ".join(campaign["params"]) or "none"
        raise ValueError(
            f"campaign {campaign['slug']!r} does not declare the param(s) "
            f"{', '.join(undeclared)} (declared: {declared})"
        )
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        if not isinstance(v, str | int | float) or isinstance(v, bool):
            raise ValueError(f"param {k}: value must be text, got {v!r}")
        v = str(v).strip()
        if len(v) > MAX_PARAM_VALUE:
            raise ValueError(f"param {k}: value longer than {MAX_PARAM_VALUE} characters")
        if v:
            out[k] = v
    slugs = [b["slug"] for b in campaign.get("brands") or ()]
    if slugs and "brand" in out and out["brand"] not in slugs:
        raise ValueError(
            f"param brand: {out['brand']!r} is not a brand of campaign "
            f"{campaign['slug']!r} (its brands: {', '.join(slugs)})"
        )
    return out


# ----- invitations ---------------------------------------------------------------
def create_invitations(
    db: Database, slug: str, count: int, params: dict | None = None
) -> list[dict]:
    """Create ``count`` single-use invitations; return ``[{"token": raw, "id": id}]``.

    Only the sha256 of each token is stored: the raw tokens exist only in the return
    value, so hand them out now. ``params`` (declared params only) are attached to
    every invitation and take precedence over URL params when a response starts.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    campaign = _require_campaign(db, slug)
    p = json.dumps(_check_params(campaign, params), ensure_ascii=False, sort_keys=True)
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    created = _iso(_now())
    out = []
    with write_transaction(db):
        for t in tokens:
            cur = db.execute(
                "INSERT INTO invitations (campaign_id, token_sha256, params, "
                "created_at) VALUES (?, ?, ?, ?)",
                [campaign["id"], hash_token(t), p, created],
            )
            out.append({"token": t, "id": cur.lastrowid})
    return out


_INVITATION_SQL = (
    "SELECT i.id, i.campaign_id, c.slug, i.params, i.created_at, i.used_at, "
    "i.response_id FROM invitations i JOIN campaigns c ON c.id = i.campaign_id "
)


def _invitation_row(row: Sequence) -> dict:
    keys = ("id", "campaign_id", "campaign", "params", "created_at", "used_at", "response_id")
    inv = dict(zip(keys, row, strict=True))
    inv["params"] = _json_dict(inv["params"])
    return inv


def find_invitation(db: Database, token: str) -> dict | None:
    """The invitation for a raw token (looked up by its hash), or ``None``.

    Keys: id, campaign_id, campaign (slug), params, created_at, used_at and
    response_id (``None`` while unused).
    """
    if not isinstance(token, str) or not token or len(token) > 256:
        return None
    row = db.execute(_INVITATION_SQL + "WHERE i.token_sha256 = ?", [hash_token(token)]).fetchone()
    return None if row is None else _invitation_row(row)


def _get_invitation(db: Database, invitation_id: int) -> dict | None:
    row = db.execute(_INVITATION_SQL + "WHERE i.id = ?", [invitation_id]).fetchone()
    return None if row is None else _invitation_row(row)


# ----- responses -----------------------------------------------------------------
def start_response(
    db: Database,
    campaign: Mapping,
    *,
    language: str,
    direction: str,
    params: Mapping[str, Any] | None,
    item_order: Any,
    invitation: Mapping | None = None,
    period: str | None = None,
    respondent: str | None = None,
    brand_position: int | None = None,
) -> int:
    """Start a respondent session; return its id (status ``started``).

    ``params`` must name declared params only (see :func:`declared_params`); an
    invitation's params override them. ``item_order`` is any JSON value (the order
    the items are shown in, e.g. a list of item-id lists per page); when it lists
    item ids, longstring is computed in that order. ``period`` defaults to the
    campaign's (set it only when importing earlier waves). For an invitation that
    already has a started session, that session's id is returned and nothing is
    written.

    Brands (issue 11): a new response gets a fresh random ``respondent`` key. The next
    brand rating of the same person passes that person's ``respondent`` key and its
    ``brand_position`` (1-based place in the person's recorded order); it may carry
    the invitation whose first rating is already complete (the invitation stays bound
    to that first rating). If the person already has a rating at that position, its
    id is returned and nothing is written (a reload never duplicates a rating).
    """
    c = _require_campaign(db, campaign)
    if not is_open(c):
        raise ValueError(f"campaign {c['slug']!r} is not open")
    if language not in c["languages"]:
        raise ValueError(
            f"language {language!r} is not offered by campaign {c['slug']!r} "
            f"({', '.join(c['languages'])})"
        )
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'ltr' or 'rtl', got {direction!r}")
    p = _check_params(c, params)
    period = c["period"] if period is None else _check_period(period)
    try:
        order = json.dumps(item_order, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"item_order must be JSON-serialisable: {e}") from None
    if respondent is not None and (
        not isinstance(respondent, str) or not re.fullmatch(r"[0-9a-f]{16}", respondent)
    ):
        raise ValueError("respondent must be a key of 16 hex digits")
    if brand_position is not None and (
        isinstance(brand_position, bool)
        or not isinstance(brand_position, int)
        or brand_position < 1
    ):
        raise ValueError(f"brand_position must be a whole number ≥ 1, got {brand_position!r}")
    with write_transaction(db):
        inv_id = None
        if respondent is not None:
            row = db.execute(
                "SELECT id, campaign_id FROM responses WHERE respondent = ? AND "
                "brand_position IS ? ORDER BY id LIMIT 1",
                [respondent, brand_position],
            ).fetchone()
            if row is not None:
                if row[1] != c["id"]:
                    raise ValueError("the respondent key belongs to another campaign")
                return row[0]
        if invitation is not None:
            inv = _get_invitation(db, invitation["id"])
            if inv is None:
                raise LookupError(f"unknown invitation {invitation['id']!r}")
            if inv["campaign_id"] != c["id"]:
                raise ValueError("the invitation belongs to another campaign")
            if respondent is not None and _invitation_respondents(db, inv["id"]) not in (
                set(),
                {respondent},
            ):
                raise ValueError("the invitation belongs to another respondent")
            if inv["response_id"] is not None and respondent is None:
                raise ValueError("the invitation has already been used")
            # One session per invitation: a double-click on "start" or a second tab
            # resumes the session already started instead of opening an orphan one.
            row = db.execute(
                "SELECT id FROM responses WHERE invitation_id = ? AND "
                "status = 'started' ORDER BY id LIMIT 1",
                [inv["id"]],
            ).fetchone()
            if row is not None and respondent is None:
                return row[0]
            p.update(inv["params"])
            inv_id = inv["id"]
        cur = db.execute(
            "INSERT INTO responses (campaign_id, invitation_id, period, status, language, "
            "direction, started_at, current_page, params, item_order, respondent, "
            "brand_position) VALUES (?, ?, ?, 'started', ?, ?, ?, 0, ?, ?, "
            "coalesce(?, lower(hex(randomblob(8)))), ?)",
            [
                c["id"],
                inv_id,
                period,
                language,
                direction,
                _iso(_now()),
                json.dumps(p, ensure_ascii=False, sort_keys=True),
                order,
                respondent,
                brand_position,
            ],
        )
        return cur.lastrowid


def _invitation_respondents(db: Database, invitation_id: int) -> set[str]:
    """The respondent keys of the responses started through an invitation."""
    rows = db.execute(
        "SELECT DISTINCT respondent FROM responses WHERE invitation_id = ?", [invitation_id]
    ).fetchall()
    return {r[0] for r in rows if r[0] is not None}


_RESPONSE_COLS = (
    "id",
    "campaign_id",
    "invitation_id",
    "period",
    "status",
    "language",
    "direction",
    "started_at",
    "completed_at",
    "duration_s",
    "current_page",
    "params",
    "item_order",
    "na_items",
    "longstring",
    "irv",
    "attention_passed",
    "flags",
)


def _response_and_table(db: Database, response_id: int) -> tuple[dict, str, Instrument]:
    row = db.execute(
        f"SELECT {', '.join('r.' + c for c in _RESPONSE_COLS)}, c.slug, c.instrument_id, "
        "c.instrument_version, i.answers_table, r.respondent, r.brand_position, i.sha256 "
        "FROM responses r "
        "JOIN campaigns c ON c.id = r.campaign_id "
        "JOIN instruments i ON i.id = c.instrument_id AND i.version = c.instrument_version "
        "WHERE r.id = ?",
        [response_id],
    ).fetchone()
    if row is None:
        raise LookupError(f"unknown response {response_id!r}")
    n = len(_RESPONSE_COLS)
    r = dict(zip(_RESPONSE_COLS, row[:n], strict=True))
    r["campaign"] = row[n]
    r["respondent"], r["brand_position"] = row[n + 4], row[n + 5]
    r["params"] = _json_dict(r["params"])
    r["item_order"] = json.loads(r["item_order"]) if r["item_order"] else None
    r["na"] = _json_list(r.pop("na_items"))
    r["flags"] = _json_list(r["flags"])
    if r["attention_passed"] is not None:
        r["attention_passed"] = bool(r["attention_passed"])
    return r, row[n + 3], load_instrument(db, row[n + 1], row[n + 2], row[n + 6])


def _answers(db: Database, table: str, inst: Instrument, response_id: int) -> dict[str, int]:
    cols = inst.item_ids
    row = db.execute(
        f"SELECT {', '.join(map(_q, cols))} FROM {_q(table)} WHERE response_id = ?", [response_id]
    ).fetchone()
    if row is None:
        return {}
    return {k: v for k, v in zip(cols, row, strict=True) if v is not None}


def get_response(db: Database, response_id: int) -> dict:
    """A response with its answers.

    Keys: id, campaign (slug), campaign_id, invitation_id, period, status, language,
    direction, started_at, completed_at, duration_s, current_page, params,
    item_order, answers ``{item_id: code}`` (answered items only), na (item ids
    answered "not applicable"), longstring, irv, attention_passed, flags, respondent
    (the person's anonymous key) and brand_position.
    """
    r, table, inst = _response_and_table(db, response_id)
    r["answers"] = _answers(db, table, inst, response_id)
    return r


def save_page(
    db: Database,
    response_id: int,
    page_index: int,
    answers: Mapping[str, int | None],
    na_items: Iterable[str] = (),
) -> None:
    """Save one page's answers in one transaction and set ``current_page = page_index + 1``.

    ``answers`` maps item ids to codes; ``None`` clears an answer. Items in
    ``na_items`` are stored as "not applicable" (``NULL`` plus an entry in
    ``responses.na_items``); answering such an item later removes the N/A mark.
    Raises ``ValueError`` for unknown items, codes outside the item's scale, N/A on
    an item whose scale has no N/A option, or a response that is already complete.
    """
    if isinstance(page_index, bool) or not isinstance(page_index, int) or page_index < 0:
        raise ValueError(f"page_index must be a non-negative integer, got {page_index!r}")
    na = list(dict.fromkeys(na_items))
    with write_transaction(db):
        r, table, inst = _response_and_table(db, response_id)
        if r["status"] != "started":
            raise ValueError(f"response {response_id} is already complete")
        known = set(inst.item_ids)
        values: dict[str, int | None] = {}
        for item_id, v in answers.items():
            if item_id not in known:
                raise ValueError(f"instrument {inst.key} has no item {item_id!r}")
            if v is not None:
                lo, hi = _value_range(inst, item_id)
                if isinstance(v, bool) or not isinstance(v, int | np.integer) or not lo <= v <= hi:
                    raise ValueError(f"{item_id}: {v!r} is not a code {lo}..{hi}")
                v = int(v)
            values[item_id] = v
        for item_id in na:
            if item_id not in known:
                raise ValueError(f"instrument {inst.key} has no item {item_id!r}")
            if not _na_allowed(inst, item_id):
                raise ValueError(f"{item_id}: its scale has no 'not applicable' option")
            if values.get(item_id) is not None:
                raise ValueError(f"{item_id}: both answered and marked not applicable")
            values[item_id] = None
        if values:
            cols = list(values)
            sql = (
                f"INSERT INTO {_q(table)} (response_id, {', '.join(map(_q, cols))}) "
                f"VALUES ({', '.join('?' * (len(cols) + 1))}) ON CONFLICT (response_id) "
                f"DO UPDATE SET {', '.join(f'{_q(c)} = excluded.{_q(c)}' for c in cols)}"
            )
            db.execute(sql, [response_id, *values.values()])
        else:
            db.execute(f"INSERT OR IGNORE INTO {_q(table)} (response_id) VALUES (?)", [response_id])
        new_na = [i for i in r["na"] if i not in values] + na
        order = {iid: k for k, iid in enumerate(inst.item_ids)}
        new_na.sort(key=order.__getitem__)
        db.execute(
            "UPDATE responses SET current_page = ?, na_items = ? WHERE id = ?",
            [page_index + 1, json.dumps(new_na), response_id],
        )


#: ``quality(inst, answers, item_order, duration_s)`` -> the quality indicators of one
#: response: ``{"longstring": int, "irv": float, "attention_passed": float, "flags": [...]}``
#: (NaN for missing), as :func:`survey.quality.response_quality` computes them
Quality = Callable[[Instrument, Mapping[str, int], Any, float], Mapping[str, Any]]


def complete_response(
    db: Database,
    response_id: int,
    *,
    quality: Quality | None = None,
    finished_at: datetime | None = None,
) -> bool:
    """Finish a response: quality flags, status ``complete``, invitation used; atomically.

    ``quality`` computes the response's quality indicators from its answers, read in
    the completing transaction (storage itself computes no statistics); without it
    they stay empty.

    Returns ``False`` and changes nothing when the response was already complete or
    its invitation has meanwhile been used by another response. Safe under
    concurrency: the status flip and the invitation claim are conditional updates
    (``... WHERE status = 'started'``, ``... WHERE response_id IS NULL``) inside one
    ``BEGIN IMMEDIATE`` transaction, so two completions with one invitation token
    store exactly one complete response.
    """
    finished = finished_at or _now()
    if finished.tzinfo is None:
        finished = finished.replace(tzinfo=UTC)
    try:
        with write_transaction(db):
            return _complete(db, response_id, finished, quality)
    except _Conflict:
        return False


class _Conflict(Exception):
    """Internal: the response or its invitation was completed meanwhile; roll back."""


def _complete(db: Database, response_id: int, finished: datetime, quality: Quality | None) -> bool:
    """The body of :func:`complete_response`, inside its transaction."""
    r, table, inst = _response_and_table(db, response_id)
    if r["status"] != "started":
        return False
    answers = _answers(db, table, inst, response_id)
    started = datetime.fromisoformat(r["started_at"])
    duration = max((finished - started).total_seconds(), 0.0)
    q = (
        quality(inst, answers, r["item_order"], duration)
        if quality
        else {"longstring": None, "irv": math.nan, "attention_passed": math.nan, "flags": []}
    )
    irv = float(q["irv"])
    att_ok = float(q["attention_passed"])
    cur = db.execute(
        "UPDATE responses SET status = 'complete', completed_at = ?, duration_s = ?, "
        "longstring = ?, irv = ?, attention_passed = ?, flags = ? "
        "WHERE id = ? AND status = 'started'",
        [
            _iso(finished),
            round(duration, 3),
            None if q["longstring"] is None else int(q["longstring"]),
            None if math.isnan(irv) else irv,
            None if math.isnan(att_ok) else int(att_ok),
            json.dumps(list(q["flags"])),
            response_id,
        ],
    )
    if cur.rowcount != 1:
        raise _Conflict
    if r["invitation_id"] is not None and not _later_rating(db, r):
        cur = db.execute(
            "UPDATE invitations SET response_id = ?, used_at = ? "
            "WHERE id = ? AND response_id IS NULL",
            [response_id, _iso(finished), r["invitation_id"]],
        )
        if cur.rowcount != 1:
            raise _Conflict
    # the response.completed webhook event, queued in this same transaction
    from survey.storage import webhooks  # imports this module

    webhooks.on_response_completed(db, r, inst, answers)
    return True


def _later_rating(db: Database, r: Mapping) -> bool:
    """Whether a response is a later brand rating of a person whose invitation is
    already bound to another of their ratings (the first; it stays bound to it)."""
    if not r.get("respondent") or not r.get("brand_position"):
        return False
    row = db.execute(
        "SELECT x.respondent FROM invitations i JOIN responses x ON x.id = i.response_id "
        "WHERE i.id = ?",
        [r["invitation_id"]],
    ).fetchone()
    return row is not None and row[0] == r["respondent"]


def response_for_invitation(db: Database, invitation: Mapping) -> dict | None:
    """The response bound to an invitation, for resuming or "already answered".

    The completed response once the invitation is used; before that the most
    recently started one; ``None`` if the invitation has not been opened yet.
    """
    inv = _get_invitation(db, invitation["id"])
    if inv is None:
        return None
    rid = inv["response_id"]
    if rid is None:
        row = db.execute(
            "SELECT id FROM responses WHERE invitation_id = ? AND status = 'started' "
            "ORDER BY id DESC LIMIT 1",
            [inv["id"]],
        ).fetchone()
        if row is None:
            return None
        rid = row[0]
    return get_response(db, rid)


# ----- reading campaigns for analysis --------------------------------------------
def _campaigns_and_instrument(
    db: Database, slug: str | Sequence[str]
) -> tuple[list[dict], Instrument, str]:
    slugs = [slug] if isinstance(slug, str) else list(slug)
    if not slugs:
        raise ValueError("no campaign given")
    cs = [_require_campaign(db, s) for s in slugs]
    versions = {(c["instrument_id"], c["instrument_version"]) for c in cs}
    if len(versions) > 1:
        raise ValueError(
            "campaigns " + ", ".join(slugs) + " use different instrument "
            "versions: " + ", ".join(sorted(f"{i}@{v}" for i, v in versions))
        )
    inst = campaign_instrument(db, cs[0])
    return cs, inst, answers_table(db, inst)


def load_campaign_frame(
    db: Database, slug: str | Sequence[str], *, complete_only: bool = True
) -> tuple[pd.DataFrame, Instrument]:
    """A campaign's responses as a DataFrame, one row per response, and its instrument.

    Columns, in order: ``response_id`` (int64), ``campaign`` (slug), ``period``,
    ``language``, ``direction``, ``duration_s`` (float), ``started_at``,
    ``completed_at`` (datetime64, UTC), ``longstring`` (Int64), ``irv`` (float),
    ``attention_passed`` (boolean, NA without checks), ``quality_flags``
    (``responses.flags`` as comma-separated names, ``""`` if none; not ``flags``,
    which would hide pandas' ``DataFrame.flags``), ``na_items`` (comma-separated ids answered N/A),
    ``not_shown_items`` (comma-separated ids, sorted, whose ``show_if`` was false: never
    asked, NaN in their column like an unanswered item; ``""`` if none),
    ``respondent`` (text: the anonymous random key that groups one person's brand
    ratings, one row per brand rated; never derived from the response id or a token),
    ``brand_position`` (Int64: the rating's place 1, 2, ... in the person's random brand
    order; NA when the brand came from the link or invitation, or without brands),
    then one column per declared param (text, NA when absent; ``brand`` in a campaign
    with brands), then one float64 column per item in instrument order (NaN = no answer,
    N/A or not shown), then, only when the instrument has open-text items, one text
    column per open-text item (NA when unanswered; never numbers: :func:`analysis.data.
    check_items` refuses them). With ``complete_only=False`` started responses are
    included and a ``status`` column follows ``response_id``. ``slug`` may be a list of
    campaigns that share an instrument version (e.g. waves of a tracker). Rows are
    ordered by id.
    """
    cs, inst, table = _campaigns_and_instrument(db, slug)
    params = list(dict.fromkeys(p for c in cs for p in c["params"]))
    items = list(inst.item_ids)
    text_items = list(inst.text_item_ids)
    # Speed (1M rows x 30 items in seconds) comes from creating few Python objects:
    # - a row's answers travel as one string (survey.storage.packing), which numpy
    #   decodes for all rows at once;
    # - times come as integer epoch milliseconds;
    # - repetitive text (period, language, params JSON, flags) comes joined into
    #   one key per row, which is factorized; each distinct key is converted once.
    lows = item_lows(inst, items)
    packed = packed_answers_sql(db, inst, table)
    epoch_ms = "CAST(round((julianday(r.{}) - 2440587.5) * 86400000.0) AS INTEGER)"
    # the repetitive text columns, joined by U+001F into one key per row
    key = " || char(31) || ".join(
        [
            "r.status",
            "r.campaign_id",
            "r.period",
            "r.language",
            "r.direction",
            "r.flags",
            "r.params",
            # the items not shown (item_states, via its primary key; few distinct sets)
            "COALESCE((SELECT group_concat(s.item_id, ',') FROM item_states s "
            "WHERE s.response_id = r.id AND s.state = 'not_shown'), '')",
        ]
    )
    # open texts (text_answers, via its primary key): one column each, only if any
    texts_sql = "".join(
        ", (SELECT t.value FROM text_answers t WHERE t.response_id = r.id AND t.item_id = ?)"
        for _ in text_items
    )
    where = f"r.campaign_id IN ({', '.join('?' * len(cs))})"
    if complete_only:
        where += " AND r.status = 'complete'"
    sql = (
        f"SELECT r.id, r.duration_s, {epoch_ms.format('started_at')}, "
        f"{epoch_ms.format('completed_at')}, r.longstring, r.irv, r.attention_passed, "
        f"r.brand_position, r.na_items, r.respondent, {key}, {packed}{texts_sql} "
        f"FROM responses r LEFT JOIN {_q(table)} a ON a.response_id = r.id "
        f"WHERE {where} ORDER BY r.id"
    )
    n_num, width = 8, 12 + len(text_items)  # numeric fields first; then text fields
    numbers, na_items, respondents, keys, packs = [], [], [], [], []
    texts: list[list[np.ndarray]] = [[] for _ in text_items]
    cur = db.execute(sql, [*text_items, *(c["id"] for c in cs)])
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of new objects would trigger many useless collections
    try:  # in chunks, so that the Python objects of only one chunk exist at a time
        while chunk := cur.fetchmany(FRAME_CHUNK_ROWS):
            a = np.array(chunk, dtype=object).reshape(len(chunk), width)
            numbers.append(a[:, :n_num].astype(float))  # None -> NaN
            na_items.append(a[:, n_num])
            respondents.append(a[:, n_num + 1])
            keys.append(a[:, n_num + 2])
            packs.append("".join(a[:, n_num + 3].tolist()))
            for j, t in enumerate(texts):
                t.append(a[:, n_num + 4 + j])
            del chunk, a
    finally:
        if gc_was_enabled:
            gc.enable()
    num = np.concatenate(numbers) if numbers else np.empty((0, n_num))

    def objects(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.array([], object)

    slugs = {str(c["id"]): c["slug"] for c in cs}
    key_codes, key_uniques = pd.factorize(np.concatenate(keys) if keys else np.array([], object))
    keys = [k.split("\x1f") for k in key_uniques]

    def from_key(k: int, convert: Any = None) -> pd.api.extensions.ExtensionArray:
        uniq = [parts[k] if convert is None else convert(parts[k]) for parts in keys]
        return pd.array(np.array(uniq, dtype=object), dtype="str").take(key_codes, allow_fill=True)

    meta: dict[str, Any] = {"response_id": num[:, 0].astype(np.int64)}
    if not complete_only:
        meta["status"] = from_key(0)
    meta["campaign"] = from_key(1, slugs.get)
    meta["period"] = from_key(2)
    meta["language"] = from_key(3)
    meta["direction"] = from_key(4)
    meta["duration_s"] = num[:, 1]
    meta["started_at"] = _epoch_ms(num[:, 2])
    meta["completed_at"] = _epoch_ms(num[:, 3])
    meta["longstring"] = pd.array(num[:, 4], dtype="Int64")
    meta["irv"] = num[:, 5]
    meta["attention_passed"] = pd.array(num[:, 6], dtype="boolean")
    meta["quality_flags"] = from_key(5, lambda v: ",".join(_json_list(v)))
    meta["na_items"] = _text(objects(na_items), lambda v: ",".join(_json_list(v)))
    meta["not_shown_items"] = from_key(7, lambda v: ",".join(sorted(v.split(","))) if v else v)
    # random keys, distinct per person: no repetition for a factorize to exploit
    meta["respondent"] = pd.array(objects(respondents), dtype="str")
    meta["brand_position"] = pd.array(num[:, 7], dtype="Int64")
    for p in params:
        meta[p] = from_key(6, lambda v, p=p: _json_dict(v).get(p))
    df = pd.DataFrame(meta)
    answers = pd.DataFrame(
        packing.unpack_float("".join(packs), lows)[0], columns=items, index=df.index
    )
    parts = [df, answers]
    if text_items:
        parts.append(
            pd.DataFrame(
                {
                    t: pd.array(objects(v), dtype="str")
                    for t, v in zip(text_items, texts, strict=True)
                },
                index=df.index,
            )
        )
    return pd.concat(parts, axis=1), inst


MATRIX_CHUNK_IDS = 4_000_000  # response ids per query of load_campaign_matrix


def load_campaign_matrix(
    db: Database,
    slug: str | Sequence[str],
    items: Sequence[str] | None = None,
    *,
    complete_only: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A campaign's answers as a float matrix, for analysis: ``(x, response_ids, items)``.

    ``x`` has one row per response (ordered by id) and one float64 column per item
    of ``items`` (default: every item of the instrument, in instrument order); NaN
    means no answer or N/A, as in :func:`load_campaign_frame`, which also returns
    the metadata. ``response_ids`` (int64) labels the rows.

    Speed: SQLite builds the whole result as *one* string (``group_concat`` of the
    packed rows of :mod:`survey.storage.packing`, each with its id, as stored in the
    answer table's generated column), which numpy decodes at once; no Python object
    is created per row or per value. See ``benchmarks/README.md`` for the timings.
    """
    cs, inst, table = _campaigns_and_instrument(db, slug)
    items = list(inst.item_ids if items is None else items)
    unknown = [i for i in items if i not in inst.item_ids]
    if unknown:
        raise ValueError(f"instrument {inst.key} has no item(s) {', '.join(map(str, unknown))}")
    # every item packed (copied from the stored column), then the items asked for picked;
    # all items in instrument order need no copy of the characters
    every = list(inst.item_ids)
    lows = item_lows(inst, every)
    position = {item: j for j, item in enumerate(every)}
    columns = None if items == every else [position[i] for i in items]
    packed = packed_answers_sql(db, inst, table, row_id="r.id")
    where = f"r.campaign_id IN ({', '.join('?' * len(cs))})"
    if complete_only:
        where += " AND r.status = 'complete'"
    args = [c["id"] for c in cs]
    lo_id, hi_id = db.execute(
        f"SELECT min(r.id), max(r.id) FROM responses r WHERE {where}", args
    ).fetchone()
    if hi_id is not None and hi_id > packing.MAX_ID:
        raise ValueError("response ids above 2**36 cannot be packed")
    parts = []
    if lo_id is not None:  # chunks of ids keep each string far below SQLite's length limit
        sql = (
            f"SELECT group_concat({packed}, '') FROM responses r LEFT JOIN {_q(table)} a "
            f"ON a.response_id = r.id WHERE {where} AND r.id BETWEEN ? AND ?"
        )
        for first in range(lo_id, hi_id + 1, MATRIX_CHUNK_IDS):
            text = db.execute(sql, [*args, first, first + MATRIX_CHUNK_IDS - 1]).fetchone()[0]
            if text:
                parts.append(text)
    x, rid = packing.unpack_float("".join(parts), lows, with_ids=True, columns=columns)
    if len(rid) > 1 and not np.all(rid[1:] > rid[:-1]):  # group_concat order is not promised
        order = np.argsort(rid, kind="stable")
        rid, x = rid[order], x[order]
    return x, rid, items


def _text(values: np.ndarray, convert: Any = None) -> pd.api.extensions.ExtensionArray:
    """A text column from repetitive values (an object array): factorize, convert each
    distinct value once (``convert``), then expand. ``None`` stays missing."""
    codes, uniques = pd.factorize(values)
    uniq = [convert(u) for u in uniques] if convert is not None else list(uniques)
    return pd.array(np.array(uniq, dtype=object), dtype="str").take(codes, allow_fill=True)


def _epoch_ms(values: np.ndarray) -> pd.Series:
    """Epoch milliseconds (float, NaN = missing) as UTC datetimes."""
    ms = np.where(np.isnan(values), np.iinfo(np.int64).min, values).astype(np.int64)  # NaT
    return pd.Series(ms.view("datetime64[ms]")).dt.tz_localize("UTC")


def campaign_counts(db: Database, slug: str) -> dict:
    """``started`` (every session begun, complete or not), ``completed``, ``in_progress``,
    ``completion_rate`` (completed / started; ``None`` when nothing started) and
    ``screened_out`` (visitors of a campaign with brands who were customers of none;
    their responses are erased, so they are not among the started)."""
    c = _require_campaign(db, slug)
    rows = dict(
        db.execute(
            "SELECT status, COUNT(*) FROM responses WHERE campaign_id = ? GROUP BY status",
            [c["id"]],
        ).fetchall()
    )
    (screened_out,) = db.execute(
        "SELECT screened_out FROM campaigns WHERE id = ?", [c["id"]]
    ).fetchone()
    completed = rows.get("complete", 0)
    started = completed + rows.get("started", 0)
    return {
        "started": started,
        "completed": completed,
        "in_progress": started - completed,
        "completion_rate": completed / started if started else None,
        "screened_out": screened_out,
    }


def invitation_counts(db: Database, campaign: Mapping) -> dict:
    """``total`` invitations of a campaign and how many were ``used``."""
    total, used = db.execute(
        "SELECT COUNT(*), COUNT(response_id) FROM invitations WHERE campaign_id = ?",
        [campaign["id"]],
    ).fetchone()
    return {"total": total, "used": used}


def response_periods(db: Database, campaign: Mapping) -> list[str]:
    """The periods of a campaign's complete responses (its own period when it has none)."""
    rows = db.execute(
        "SELECT DISTINCT period FROM responses WHERE campaign_id = ? AND "
        "status = 'complete' ORDER BY period",
        [campaign["id"]],
    ).fetchall()
    return [r[0] for r in rows] or [campaign["period"]]


def data_version(db: Database, campaign: Mapping) -> tuple:
    """What identifies the current data of a campaign, for caches: the database file,
    its responses' count and last id, the last completion time, how many visitors it
    screened out (their erased responses can leave count and last id as they were), and
    the settings that change its figures."""
    row = db.execute("PRAGMA database_list").fetchone()
    n, last, done, screened_out = db.execute(
        "SELECT COUNT(*), MAX(id), MAX(completed_at), "
        "(SELECT screened_out FROM campaigns WHERE id = ?1) FROM responses "
        "WHERE campaign_id = ?1",
        [campaign["id"]],
    ).fetchone()
    return (
        row[2] if row else "",
        campaign["id"],
        n,
        last,
        done,
        screened_out,
        campaign["status"],
        campaign["min_segment_n"],
    )


#: the columns of :func:`insert_responses`' rows, in order (a response's columns but its
#: id, which the insert assigns, and the invitation, which bulk rows do not have)
BULK_RESPONSE_COLUMNS = tuple(c for c in _RESPONSE_COLS if c not in ("id", "invitation_id"))


def insert_responses(
    db: Database,
    inst: Instrument,
    rows: Iterable[Sequence],
    answers: Sequence[Sequence[int | None]],
    *,
    respondents: Sequence[str | None] | None = None,
    brand_positions: Sequence[int | None] | None = None,
) -> list[int]:
    """Insert many finished or abandoned responses at once (synthetic data, imports),
    in one transaction: ``rows`` hold :data:`BULK_RESPONSE_COLUMNS`, ``answers`` one
    code (or ``None``) per instrument item, in instrument order. Returns the new ids.

    ``respondents`` (one per row) are the anonymous keys that group one person's brand
    ratings; a missing one (``None``, or no list) gets a fresh random key, as
    :func:`start_response` gives. ``brand_positions`` (one per row, ``None`` = not from a
    brand selection) are the ratings' places in the person's random brand order."""
    table = answers_table(db, inst)
    items = list(inst.item_ids)
    rows = list(rows)
    if len(rows) != len(answers):
        raise ValueError(f"{len(rows)} responses but {len(answers)} answer rows")
    n = len(rows)
    keys = [None] * n if respondents is None else list(respondents)
    places = [None] * n if brand_positions is None else list(brand_positions)
    if len(keys) != n or len(places) != n:
        raise ValueError(
            f"{n} responses but {len(keys)} respondents and {len(places)} brand positions"
        )
    with write_transaction(db):
        first = db.execute("SELECT COALESCE(MAX(id), 0) FROM responses").fetchone()[0] + 1
        ids = list(range(first, first + len(rows)))
        db.conn.executemany(
            f"INSERT INTO responses (id, {', '.join(BULK_RESPONSE_COLUMNS)}, respondent, "
            f"brand_position) VALUES ({', '.join('?' * (len(BULK_RESPONSE_COLUMNS) + 1))}, "
            "COALESCE(?, lower(hex(randomblob(8)))), ?)",
            ((i, *r, k, b) for i, r, k, b in zip(ids, rows, keys, places, strict=True)),
        )
        db.conn.executemany(
            f"INSERT INTO {_q(table)} (response_id, {', '.join(map(_q, items))}) "
            f"VALUES ({', '.join('?' * (len(items) + 1))})",
            ((i, *a) for i, a in zip(ids, answers, strict=True)),
        )
    return ids
