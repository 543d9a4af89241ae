"""Numbered schema migrations (sqlite-utils 4 ``Migrations``).

Each migration runs in its own transaction together with its row in
``_sqlite_migrations``, so it is applied completely or not at all, and applying the
set again is a no-op. Add a new numbered function at the end; never edit one that
has shipped.

The per-instrument wide answer tables (``answers_<instrument>_v<version>``) are not
created here but by :func:`survey.storage.store.register_instrument`, because their
columns come from the instrument.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("trustmeter")

SCHEMA_0001 = [
    """
    CREATE TABLE instruments (
        id TEXT NOT NULL,
        version TEXT NOT NULL,
        yaml TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        answers_table TEXT NOT NULL UNIQUE,
        registered_at TEXT NOT NULL,
        PRIMARY KEY (id, version)
    )
    """,
    """
    CREATE TABLE campaigns (
        id INTEGER PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        title TEXT,
        instrument_id TEXT NOT NULL,
        instrument_version TEXT NOT NULL,
        period TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '[]',
        languages TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        opens_at TEXT,
        closes_at TEXT,
        min_segment_n INTEGER NOT NULL DEFAULT 30 CHECK (min_segment_n >= 1),
        created_at TEXT NOT NULL,
        FOREIGN KEY (instrument_id, instrument_version) REFERENCES instruments (id, version)
    )
    """,
    """
    CREATE TABLE invitations (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
        token_sha256 TEXT NOT NULL UNIQUE,
        params TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        used_at TEXT,
        response_id INTEGER UNIQUE REFERENCES responses (id)
    )
    """,
    "CREATE INDEX idx_invitations_campaign ON invitations (campaign_id)",
    """
    CREATE TABLE responses (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
        invitation_id INTEGER REFERENCES invitations (id),
        period TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'started' CHECK (status IN ('started', 'complete')),
        language TEXT NOT NULL,
        direction TEXT NOT NULL DEFAULT 'ltr' CHECK (direction IN ('ltr', 'rtl')),
        started_at TEXT NOT NULL,
        completed_at TEXT,
        duration_s REAL,
        current_page INTEGER NOT NULL DEFAULT 0,
        params TEXT NOT NULL DEFAULT '{}',
        item_order TEXT,
        na_items TEXT NOT NULL DEFAULT '[]',
        longstring INTEGER,
        irv REAL,
        attention_passed INTEGER CHECK (attention_passed IN (0, 1)),
        flags TEXT NOT NULL DEFAULT '[]'
    )
    """,
    "CREATE INDEX idx_responses_campaign_status ON responses (campaign_id, status)",
    "CREATE INDEX idx_responses_invitation ON responses (invitation_id)",
]


@migrations(name="0001_initial")
def m0001_initial(db: Database) -> None:
    """Instruments, campaigns, invitations and responses."""
    for sql in SCHEMA_0001:
        db.execute(sql)


SCHEMA_0002 = [
    # Researchers' accounts (survey.storage.users). Usernames compare case-insensitively.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'researcher', 'admin')),
        disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        created_at TEXT NOT NULL,
        password_changed_at TEXT NOT NULL,
        last_login_at TEXT
    )
    """,
    # Signed-in sessions (survey.web.admin.auth): the cookie holds a random id, the table its
    # sha256, so logging out or disabling a user ends the session on the server.
    """
    CREATE TABLE user_sessions (
        id_sha256 TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        ip TEXT
    )
    """,
    "CREATE INDEX idx_user_sessions_user ON user_sessions (user_id)",
    # Login attempts, for rate-limiting failures per username and IP across workers.
    """
    CREATE TABLE login_attempts (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL COLLATE NOCASE,
        ip TEXT NOT NULL,
        at TEXT NOT NULL,
        success INTEGER NOT NULL CHECK (success IN (0, 1))
    )
    """,
    "CREATE INDEX idx_login_attempts_user_ip ON login_attempts (username, ip, at)",
    # What researchers did (survey.storage.audit); details is a JSON object.
    """
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user TEXT,
        action TEXT NOT NULL,
        target TEXT,
        details TEXT NOT NULL DEFAULT '{}',
        ip TEXT
    )
    """,
    "CREATE INDEX idx_audit_log_at ON audit_log (at)",
]


@migrations(name="0002_researchers")
def m0002_researchers(db: Database) -> None:
    """Researcher accounts, their sessions, login attempts and the audit log."""
    for sql in SCHEMA_0002:
        db.execute(sql)


SCHEMA_0003 = [
    # The durable outbox (survey.storage.outbox): one row per unit of outgoing work (an
    # e-mail, a webhook call, later an export job), processed by survey.worker. The row is
    # the source of truth: state, attempts, the next attempt's time, the lease of the
    # worker that holds it, and the last reply or error (never an e-mail address).
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        campaign_id INTEGER REFERENCES campaigns (id),
        payload TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'sending', 'sent', 'retrying', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL DEFAULT 8 CHECK (max_attempts >= 1),
        next_attempt_at TEXT NOT NULL,
        lease_until TEXT,
        claimed_by TEXT,
        last_error TEXT,
        reply TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        sent_at TEXT
    )
    """,
    "CREATE INDEX idx_outbox_due ON outbox (state, next_attempt_at)",
    "CREATE INDEX idx_outbox_campaign ON outbox (campaign_id, kind, state)",
    # Keys kept in the database (e.g. the HMAC key of the contacts' address hashes and of
    # their invitation tokens), so the command line and every web worker share them.
    """
    CREATE TABLE app_keys (
        name TEXT PRIMARY KEY,
        key BLOB NOT NULL,
        created_at TEXT NOT NULL
    )
    """,
    # A campaign's e-mail contacts (survey.storage.contacts): the only table with e-mail
    # addresses and names. Purging sets email, name and email_hmac to NULL and keeps the
    # row, so the funnel's counts survive.
    """
    CREATE TABLE contacts (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
        email TEXT,
        name TEXT,
        email_hmac TEXT,
        language TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        invitation_id INTEGER NOT NULL UNIQUE REFERENCES invitations (id),
        optout_sha256 TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        invited_at TEXT,
        last_sent_at TEXT,
        reminders INTEGER NOT NULL DEFAULT 0,
        bounced_at TEXT,
        opted_out_at TEXT,
        purged_at TEXT,
        UNIQUE (campaign_id, email_hmac)
    )
    """,
    "CREATE INDEX idx_contacts_campaign ON contacts (campaign_id)",
    # Which outbox row carries which message to which contact.
    """
    CREATE TABLE contact_messages (
        outbox_id INTEGER PRIMARY KEY REFERENCES outbox (id),
        contact_id INTEGER NOT NULL REFERENCES contacts (id),
        purpose TEXT NOT NULL CHECK (purpose IN ('invitation', 'reminder')),
        seq INTEGER NOT NULL DEFAULT 0,
        UNIQUE (contact_id, purpose, seq)
    )
    """,
    # Addresses that opted out, as keyed hashes only: every later import and send skips them.
    """
    CREATE TABLE mail_suppression (
        email_hmac TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL
    )
    """,
    # Per-campaign mail settings and template overrides (NULL: the shipped default).
    """
    CREATE TABLE campaign_mail (
        campaign_id INTEGER PRIMARY KEY REFERENCES campaigns (id),
        purge_after_days INTEGER CHECK (purge_after_days >= 0),
        -- when the worker first saw the campaign closed (no closes_at: the purge clock)
        closed_seen_at TEXT,
        updated_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE mail_templates (
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
        language TEXT NOT NULL,
        subject TEXT NOT NULL,
        text_body TEXT NOT NULL,
        html_body TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (campaign_id, language)
    )
    """,
]


@migrations(name="0003_contacts_outbox")
def m0003_contacts_outbox(db: Database) -> None:
    """The durable outbox, e-mail contacts, their messages, suppression and templates."""
    for sql in SCHEMA_0003:
        db.execute(sql)


@migrations(name="0004_api")
def m0004_api(db: Database) -> None:
    """API tokens, webhooks and their delivery log, the completion order of responses
    (:mod:`survey.storage.api_schema`)."""
    from survey.storage.api_schema import apply_0004

    apply_0004(db)


@migrations(name="0005_drop_login_attempts")
def m0005_drop_login_attempts(db: Database) -> None:
    """Failed logins are throttled in the shared rate-limit file since 0.2: the
    ``login_attempts`` table (failures kept a day, for the throttle only) goes."""
    db.execute("DROP TABLE IF EXISTS login_attempts")


@migrations(name="0006_campaign_access")
def m0006_campaign_access(db: Database) -> None:
    """Per-campaign access: ``campaign_access`` and ``campaigns.created_by``; existing
    campaigns go to their creator (audit log), else to all researchers
    (:mod:`survey.storage.access`)."""
    from survey.storage.access import apply_schema

    apply_schema(db)


@migrations(name="0007_brands_text_responses")
def m0007_brands_text_responses(db: Database) -> None:
    """Open-text answers and "not shown" item states (:mod:`survey.storage.item_states`)."""
    from survey.storage.item_states import apply_schema

    apply_schema(db)


@migrations(name="0009_export_jobs")
def m0009_export_jobs(db: Database) -> None:
    """Researchers' exports as background jobs (:mod:`survey.storage.export_jobs`)."""
    from survey.storage.export_jobs import apply_schema

    apply_schema(db)


SCHEMA_0010 = [
    # A campaign's brands: JSON [{"slug": ..., "names": {lang: display name}}], in the
    # order the brand-selection page lists them; "brand" is then a declared param.
    "ALTER TABLE campaigns ADD COLUMN brands TEXT NOT NULL DEFAULT '[]'",
    # K: how many of the ticked brands one respondent rates (NULL: all ticked).
    "ALTER TABLE campaigns ADD COLUMN brands_per_respondent INTEGER "
    "CHECK (brands_per_respondent IS NULL OR brands_per_respondent >= 1)",
    # An anonymous key that groups one person's brand ratings (one response row per
    # brand rated); random, never derived from the response id or a token.
    "ALTER TABLE responses ADD COLUMN respondent TEXT",
    # 1-based place of this rating in the person's recorded random brand order.
    "ALTER TABLE responses ADD COLUMN brand_position INTEGER",
    "UPDATE responses SET respondent = lower(hex(randomblob(8))) WHERE respondent IS NULL",
    "CREATE INDEX idx_responses_respondent ON responses (respondent)",
    # What a respondent ticked on the brand-selection page, and the up-to-K brands
    # drawn from them in random order (the order they rate them in).
    """
    CREATE TABLE brand_choices (
        respondent TEXT PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
        ticked TEXT NOT NULL,
        rated TEXT NOT NULL,
        created_at TEXT NOT NULL
    )
    """,
]


@migrations(name="0010_brands")
def m0010_brands(db: Database) -> None:
    """Per-campaign brands, the anonymous respondent key and brand choices."""
    for sql in SCHEMA_0010:
        db.execute(sql)


@migrations(name="0013_careless_cache")
def m0013_careless_cache(db: Database) -> None:
    """Exports' careless exclusions by data version (:mod:`survey.storage.careless_cache`)."""
    from survey.storage.careless_cache import apply_schema

    apply_schema(db)


@migrations(name="0014_packed_answers")
def m0014_packed_answers(db: Database) -> None:
    """Answer tables get their rows packed in a stored generated column
    (:data:`survey.storage.packing.STORED_COLUMN`), which the bulk loaders read. Each
    table is rebuilt (about 3 s per million rows); a table whose instrument no longer
    parses, or whose columns are not its items, is left as it is and still loads."""
    from instruments.loader import instrument_from_yaml
    from survey.storage.store import add_stored_column

    rows = db.execute("SELECT yaml, answers_table FROM instruments ORDER BY rowid").fetchall()
    for text, table in rows:
        try:
            inst = instrument_from_yaml(text)
        except ValueError:
            continue
        add_stored_column(db, inst, table)


@migrations(name="0015_screened_out")
def m0015_screened_out(db: Database) -> None:
    """How many visitors each campaign screened out ("not a customer of any of these"
    brands): their responses are erased (survey.storage.erasure.screen_out), only the
    count is kept. Campaigns before this start at 0."""
    db.execute("ALTER TABLE campaigns ADD COLUMN screened_out INTEGER NOT NULL DEFAULT 0")


def apply(db: Database) -> list[str]:
    """Apply pending migrations; return the names applied (``[]`` if up to date)."""
    names = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return names


def pending(db: Database) -> list[str]:
    """Names of the migrations not yet applied to ``db``."""
    return [m.name for m in migrations.pending(db)]
