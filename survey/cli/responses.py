"""``trustmeter response``: one response, shown or erased (issue 11, item 4).

``show ID`` prints its answers (with labels), flags and timings, never a token or a
contact; ``delete ID --reason TEXT`` erases it (answers, open texts, the link to its
invitation and contact; the invitation stays used, so its link says "already
answered") and writes the reason to the audit log as ``cli:$USER``.
"""

from __future__ import annotations

import json

import click

from survey.cli.common import cli_user, db_option, open_database
from survey.reporting.response_view import response_view
from survey.storage import audit, erasure, store

MAX_REASON = 500


@click.group("response")
def response_group() -> None:
    """Show or erase one response (e.g. a respondent's request to erase their answers)."""


@response_group.command("show")
@db_option
@click.argument("response_id", type=click.IntRange(min=1), metavar="ID")
@click.option(
    "--lang", default="en", show_default=True, help="Language of the item texts and answer labels."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def response_show(db_path: str, response_id: int, lang: str, as_json: bool) -> None:
    """Show response ID: its answers, quality flags and timings (no token)."""
    with open_database(db_path) as db:
        view = response_view(db, response_id, lang=lang)
    if as_json:
        click.echo(json.dumps(view.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(
        f"response {view.id}: campaign {view.campaign}, period {view.period}, "
        f"{view.status}, language {view.language}, via {view.via}"
    )
    click.echo(
        f"started {view.started_at}; completed {view.completed_at or '-'}; "
        f"duration {_seconds(view.duration_s)}"
    )
    attention = {None: "-", True: "passed", False: "failed"}[view.attention_passed]
    click.echo(
        f"flags: {', '.join(view.flags) or 'none'}; longstring {_dash(view.longstring)}; "
        f"irv {_dash(view.irv)}; attention check {attention}"
    )
    if view.params:
        click.echo("parameters: " + ", ".join(f"{k}={v}" for k, v in sorted(view.params.items())))
    click.echo("item\tanswer\tlabel\ttext")
    for a in view.items:
        answer = str(a.code) if a.code is not None else a.state
        label = a.label or (" ".join(a.answer_text.split()) if a.answer_text else "")
        click.echo(f"{a.item}\t{answer}\t{label}\t{a.text}")


@response_group.command("delete")
@db_option
@click.argument("response_id", type=click.IntRange(min=1), metavar="ID")
@click.option(
    "--reason",
    required=True,
    help="Why it is erased (e.g. 'erasure request of 2026-12-01'); goes to the "
    "audit log. Do not put names or e-mail addresses here.",
)
def response_delete(db_path: str, response_id: int, reason: str) -> None:
    """Erase response ID and log REASON to the audit log."""
    reason = " ".join(reason.split())
    if not reason:
        raise click.BadParameter(
            "give a reason (it goes to the audit log)", param_hint="'--reason'"
        )
    if len(reason) > MAX_REASON:
        raise click.BadParameter(f"at most {MAX_REASON} characters", param_hint="'--reason'")
    with open_database(db_path) as db:
        if not erasure.response_exists(db, response_id):
            raise click.ClickException(f"no response {response_id}")
        slug = store.get_response(db, response_id)["campaign"]
        done = erasure.delete_response(db, response_id)
        audit.log(
            db, "response.delete", user=cli_user(), target=slug, details=audit_details(done, reason)
        )
    tables = ", ".join(f"{t} {n}" for t, n in sorted(done["rows"].items()))
    click.echo(
        f"response {response_id} of campaign {slug} erased (rows: {tables}"
        + (f"; {done['webhook_copies']} webhook copies" if done["webhook_copies"] else "")
        + ")."
        + (" Its invitation stays used." if done["invitation_kept_used"] else "")
    )


def audit_details(done: dict, reason: str) -> dict:
    """The audit entry of an erasure: the id, its status, the reason and the row counts."""
    return {
        "response_id": done["response_id"],
        "status": done["status"],
        "reason": reason,
        "rows": done["rows"],
        "webhook_copies": done["webhook_copies"],
    }


def _dash(value) -> str:
    return "-" if value is None else str(value)


def _seconds(value) -> str:
    return "-" if value is None else f"{value:.0f} s"
