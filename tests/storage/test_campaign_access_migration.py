"""Migration 0006_campaign_access: existing campaigns go to their creator as the audit
log names it, or to all researchers when the creator is unknown."""

from __future__ import annotations

from survey.storage import access, audit, migrations, store, users
from survey.storage.db import init_db, open_db


def test_existing_campaigns_go_to_their_creator_or_all_researchers(tmp_path):
    path = tmp_path / "old.db"
    with open_db(path) as db:
        init_db(db)
        # back to the schema before 0006 (what an installed 0.2 database has)
        db.execute("DROP TABLE campaign_access")
        db.execute("ALTER TABLE campaigns DROP COLUMN created_by")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = '0006_campaign_access'")
        db.conn.commit()
        assert migrations.pending(db) == ["0006_campaign_access"]
        for name, role in [
            ("ann", "researcher"),
            ("bob", "researcher"),
            ("vic", "viewer"),
            ("ada", "admin"),
        ]:
            users.create_user(db, name, f"{name}-password-1", role)
        for slug in ("by-ann", "by-gone", "unknown"):
            db.execute(
                "INSERT INTO campaigns (slug, instrument_id, instrument_version, "
                "period, languages, created_at) SELECT ?, id, version, 'P', '[\"en\"]', "
                "'2026-01-01T00:00:00.000+00:00' FROM instruments LIMIT 1",
                [slug],
            )
        db.conn.commit()
        audit.log(db, "campaign.create", user="ann", target="by-ann")
        audit.log(db, "campaign.create", user="gone", target="by-gone")  # deleted user
        assert migrations.apply(db) == ["0006_campaign_access"]
        assert access.grantees(db, "by-ann") == ["ann"]
        assert access.creator(db, "by-ann") == "ann"
        assert access.grantees(db, "by-gone") == ["ann", "bob"]  # all researchers
        assert access.grantees(db, "unknown") == ["ann", "bob"]
        assert access.creator(db, "unknown") is None
        vic = users.get_user(db, "vic")
        assert access.visible_ids(db, vic) == set()  # viewers: granted campaigns only
        assert access.visible_ids(db, users.get_user(db, "ada")) is None  # admins: all
        assert store.get_campaign(db, "by-ann") is not None
        assert migrations.apply(db) == []  # applied once
