"""``trustmeter token`` and ``trustmeter webhook``: API tokens and webhooks (issue 10).

A token is printed once, when it is created; only its hash is stored. A webhook's
signing secret is printed once, when it is added. Every change is written to the
audit log as ``cli:$USER`` (never the token or the secret).
"""

from __future__ import annotations

import click

from survey.cli.common import cli_user, db_option, open_database
from survey.storage import audit, tokens, webhooks
from survey.storage.users import ROLES


@click.group("token")
def token_group() -> None:
    """Create, list and revoke API tokens (Authorization: Bearer <token>)."""


@token_group.command("create")
@db_option
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    required=True,
    help="viewer: campaigns and reports; researcher: also create/close campaigns, "
    "invitations, responses, exports and webhooks.",
)
@click.option(
    "--campaign",
    "campaigns",
    multiple=True,
    metavar="SLUG",
    help="Limit the token to this campaign; repeatable (default: all campaigns).",
)
def token_create(db_path: str, name: str, role: str, campaigns: tuple[str, ...]) -> None:
    """Create token NAME and print it. It is shown only now: store it safely."""
    with open_database(db_path) as db:
        raw, t = tokens.create_token(db, name, role, campaigns, created_by=cli_user())
        audit.log(
            db,
            "token.create",
            user=cli_user(),
            target=name,
            details={"role": role, "campaigns": t["campaigns"]},
        )
    click.echo(raw)
    scope = ", ".join(t["campaigns"]) if t["campaigns"] else "all campaigns"
    click.echo(
        f"token {name}: role {role}, {scope}. It is shown only once; only a hash is stored.",
        err=True,
    )


@token_group.command("list")
@db_option
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
def token_list(db_path: str, include_revoked: bool) -> None:
    """List tokens (tab-separated; never the tokens themselves)."""
    with open_database(db_path) as db:
        rows = tokens.list_tokens(db, include_revoked=include_revoked)
    click.echo("name\trole\tcampaigns\tprefix\tcreated_at\tlast_used_at\trevoked_at")
    for t in rows:
        click.echo(
            "\t".join(
                [
                    t["name"],
                    t["role"],
                    ",".join(t["campaigns"] or ["*"]),
                    t["prefix"],
                    t["created_at"],
                    t["last_used_at"] or "",
                    t["revoked_at"] or "",
                ]
            )
        )


@token_group.command("revoke")
@db_option
@click.argument("name")
def token_revoke(db_path: str, name: str) -> None:
    """Revoke token NAME: it stops working at once."""
    with open_database(db_path) as db:
        tokens.revoke_token(db, name)
        audit.log(db, "token.revoke", user=cli_user(), target=name)
    click.echo(f"revoked token {name}")


@click.group("webhook")
def webhook_group() -> None:
    """Add, list and remove a campaign's webhooks."""


@webhook_group.command("add")
@db_option
@click.argument("slug")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(webhooks.EVENTS),
    help="Event to deliver; repeatable (default: response.completed).",
)
def webhook_add(db_path: str, slug: str, url: str, events: tuple[str, ...]) -> None:
    """Send campaign SLUG's events to URL; print the signing secret (shown only now)."""
    with open_database(db_path) as db:
        secret, w = webhooks.add_webhook(db, slug, url, events or None, created_by=cli_user())
        audit.log(
            db,
            "webhook.add",
            user=cli_user(),
            target=slug,
            details={"id": w["id"], "url": webhooks.url_origin(w["url"]), "events": w["events"]},
        )
    click.echo(secret)
    click.echo(
        f"webhook {w['id']} of {slug}: {', '.join(w['events'])} -> {w['url']}. Verify "
        "deliveries with this secret (Trustmeter-Signature); it is shown only once.",
        err=True,
    )


@webhook_group.command("list")
@db_option
@click.argument("slug")
def webhook_list(db_path: str, slug: str) -> None:
    """List campaign SLUG's webhooks (tab-separated)."""
    with open_database(db_path) as db:
        rows = webhooks.list_webhooks(db, slug)
    click.echo("id\tevents\turl\tcreated_at")
    for w in rows:
        click.echo(f"{w['id']}\t{','.join(w['events'])}\t{w['url']}\t{w['created_at']}")


@webhook_group.command("remove")
@db_option
@click.argument("slug")
@click.argument("webhook_id", type=int)
def webhook_remove(db_path: str, slug: str, webhook_id: int) -> None:
    """Remove webhook WEBHOOK_ID of campaign SLUG."""
    with open_database(db_path) as db:
        webhooks.remove_webhook(db, slug, webhook_id)
        audit.log(db, "webhook.remove", user=cli_user(), target=slug, details={"id": webhook_id})
    click.echo(f"removed webhook {webhook_id} of {slug}")
