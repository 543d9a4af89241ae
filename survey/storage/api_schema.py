"""The tables of the REST API (migration ``0004_api``, registered in
:mod:`survey.storage.migrations`): tokens, webhooks, the log of webhook delivery
attempts, and the completion order of responses (the API's ``since`` cursor).

The completion order is kept by triggers, so every way a response becomes complete
(the respondent pages, imports, the demo filler) gets its number in the same
transaction, and numbers follow commit order: SQLite has one writer at a time and
the number is ``max + 1`` taken under that writer's lock (SQLite's choice of a new
``INTEGER PRIMARY KEY``, which costs no extra lookup; rows are never deleted, so no
number is reused). A reader's snapshot therefore always sees a gap-free prefix of the
numbers, which is what makes ``since`` pulls complete and free of duplicates while
responses arrive.
"""

from __future__ import annotations

from sqlite_utils import Database

SCHEMA_0004 = [
    # API tokens (survey.storage.tokens): only the sha256 of a token is stored.
    """
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        token_sha256 TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'researcher', 'admin')),
        campaigns TEXT,
        created_at TEXT NOT NULL,
        created_by TEXT,
        last_used_at TEXT,
        revoked_at TEXT
    )
    """,
    # a name is unique among the tokens not revoked
    "CREATE UNIQUE INDEX idx_api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL",
    # Webhook subscriptions of a campaign (survey.storage.webhooks).
    """
    CREATE TABLE webhooks (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        secret TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT,
        removed_at TEXT
    )
    """,
    "CREATE INDEX idx_webhooks_campaign ON webhooks (campaign_id)",
    # One row per delivery attempt, for the campaign page's delivery log.
    """
    CREATE TABLE webhook_attempts (
        id INTEGER PRIMARY KEY,
        webhook_id INTEGER NOT NULL REFERENCES webhooks (id),
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
        event TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at TEXT NOT NULL,
        status INTEGER,
        error TEXT,
        duration_ms INTEGER
    )
    """,
    "CREATE INDEX idx_webhook_attempts_campaign ON webhook_attempts (campaign_id, id)",
    # The completion order of responses: seq is the API's cursor.
    """
    CREATE TABLE response_completions (
        seq INTEGER PRIMARY KEY,
        response_id INTEGER NOT NULL UNIQUE REFERENCES responses (id),
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id)
    )
    """,
    "CREATE INDEX idx_response_completions_campaign ON response_completions (campaign_id, seq)",
    """
    CREATE TRIGGER trg_response_completed AFTER UPDATE OF status ON responses
    WHEN NEW.status = 'complete' AND OLD.status != 'complete'
    BEGIN
        INSERT OR IGNORE INTO response_completions (response_id, campaign_id)
        VALUES (NEW.id, NEW.campaign_id);
    END
    """,
    """
    CREATE TRIGGER trg_response_inserted_complete AFTER INSERT ON responses
    WHEN NEW.status = 'complete'
    BEGIN
        INSERT OR IGNORE INTO response_completions (response_id, campaign_id)
        VALUES (NEW.id, NEW.campaign_id);
    END
    """,
    # responses completed before this migration: in completion time order
    """
    INSERT INTO response_completions (seq, response_id, campaign_id)
    SELECT row_number() OVER (ORDER BY completed_at, id), id, campaign_id
    FROM responses WHERE status = 'complete'
    """,
]


def apply_0004(db: Database) -> None:
    """Create the API's tables (run by migration ``0004_api``)."""
    for sql in SCHEMA_0004:
        db.execute(sql)
