"""``trustmeter contacts``, ``send``, ``remind``, ``mail-template`` and ``worker``: e-mail
invitations and reminders through the durable outbox.

``send`` and ``remind`` queue one outbox row per message and then deliver the campaign's
queued e-mail in the foreground with a progress bar (a ``trustmeter worker`` or ``serve``
running at the same time shares the work safely). Interrupted or killed, they lose
nothing: running the command again continues where it stopped.
"""

from __future__ import annotations

import logging
import sys
from datetime import timedelta
from pathlib import Path

import click

from survey.cli.common import audited, cli_errors, db_option, open_database
from survey.mail.durations import parse_duration


class Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value, param, ctx):
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


def _rate_option(f):
    return click.option(
        "--rate",
        type=click.FloatRange(min=0, min_open=True),
        help="Messages per minute (default $TRUSTMETER_MAIL_RATE or 60).",
    )(f)


def _wait_option(f):
    return click.option(
        "--no-wait",
        is_flag=True,
        help="Return when nothing is due now; leave messages waiting for a "
        "retry to the worker (trustmeter worker / serve).",
    )(f)


def _base_url_option(f):
    return click.option(
        "--base-url", help="Public address links point to (default $TRUSTMETER_BASE_URL)."
    )(f)


# ----- contacts ----------------------------------------------------------------------------
@click.group("contacts")
def contacts_group() -> None:
    """Import and purge a campaign's e-mail contacts."""


@contacts_group.command("import")
@db_option
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@audited("contacts.import", lambda kw: (kw["slug"], {}))
def contacts_import(db_path: str, slug: str, file: str) -> None:
    """Import contacts from FILE.csv: columns email, optional name and language, and one
    per declared parameter of the campaign. Any bad row rejects the whole file (one
    error per bad row); duplicates and opted-out addresses are reported and skipped.
    Each contact gets its own single-use invitation."""
    from survey.mail.contacts import ContactsFileError, parse_csv
    from survey.storage import contacts, store

    data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    with open_database(db_path) as db:
        c = store.get_campaign(db, slug)
        if c is None:
            raise click.ClickException(f"unknown campaign {slug!r}")
        try:
            rows = parse_csv(data, c)
        except ContactsFileError as e:
            raise click.ClickException(str(e)) from None
        result = contacts.import_contacts(db, c, rows)
    for line in result["skipped"]:
        click.echo(f"skipped {line}", err=True)
    click.echo(
        f"imported {result['imported']} contacts into {slug}"
        + (f"; skipped {len(result['skipped'])}" if result["skipped"] else "")
    )


@contacts_group.command("purge")
@db_option
@click.argument("slug")
@click.option(
    "--after-close",
    "after_close",
    type=click.IntRange(min=0),
    metavar="DAYS",
    help="Do not purge now: purge automatically DAYS days after the campaign "
    "closes (done by the worker).",
)
@audited("contacts.purge", lambda kw: (kw["slug"], {"after_close": kw["after_close"]}))
def contacts_purge(db_path: str, slug: str, after_close: int | None) -> None:
    """Delete the e-mail addresses and names of campaign SLUG's contacts (the counts stay).
    Pending messages are cancelled. Opted-out addresses stay suppressed (as keyed hashes)."""
    from survey.storage import contacts

    with open_database(db_path) as db:
        if after_close is not None:
            contacts.set_purge_after(db, slug, after_close)
            click.echo(f"contacts of {slug} will be purged {after_close} days after it closes")
            return
        n = contacts.purge(db, slug)
    click.echo(f"purged the personal data of {n} contacts of {slug}")


# ----- sending -----------------------------------------------------------------------------
def _config(rate: float | None, base_url: str | None):
    from survey.mail.handler import MailConfig

    with cli_errors():
        return MailConfig.from_env(rate=rate, base_url=base_url)


def _deliver(db, campaign: dict, config, *, wait: bool) -> dict[str, int]:
    """Deliver the campaign's pending e-mail with a progress bar; return the tally."""
    from survey.mail.handler import MailHandler
    from survey.storage import contacts
    from survey.worker import Worker

    progress = contacts.mail_progress(db, campaign)
    todo = progress["queued"] + progress["retrying"] + progress["sending"]
    tally = {"sent": 0, "failed": 0, "bounced": 0, "retrying": 0}
    if todo == 0:
        return tally
    w = Worker(
        db,
        kinds=[contacts.KIND],
        campaign_id=campaign["id"],
        handlers={contacts.KIND: lambda: MailHandler(config)},
    )
    done_ids: set[int] = set()
    with click.progressbar(
        length=todo, label=f"sending {campaign['slug']}", file=sys.stderr, show_pos=True
    ) as bar:

        def on_outcome(o) -> None:
            if o.state == "retrying":
                tally["retrying"] += 1
                return
            if o.state in ("sent", "failed"):
                if o.state == "failed" and "bounced" in (o.detail or ""):
                    tally["bounced"] += 1
                else:
                    tally[o.state] += 1
                if o.job.id not in done_ids:
                    done_ids.add(o.job.id)
                    bar.update(1)

        w.run(until_idle=True, wait_retries=wait, on_outcome=on_outcome)
    return tally


def _report(slug: str, queued: int, tally: dict[str, int], db, campaign) -> None:
    from survey.storage import contacts

    left = contacts.mail_progress(db, campaign)
    waiting = left["queued"] + left["retrying"] + left["sending"]
    click.echo(
        f"{slug}: queued {queued}; sent {tally['sent']}, bounced {tally['bounced']}, "
        f"failed {tally['failed']}, temporary failures retried {tally['retrying']}"
        + (f"; {waiting} still waiting for a retry (the worker sends them)" if waiting else "")
    )


def _print_preview(db, campaign: dict, config) -> None:
    from survey.mail import handler, templates
    from survey.storage import contacts

    key = contacts.app_key(db)
    for lang in campaign["languages"]:
        sample = {"email": "ana@example.org", "name": templates.SAMPLE["name"], "language": lang}
        base = config.base_url
        msg = handler.compose(
            db,
            campaign,
            sample,
            purpose="invitation",
            sender=config.sender,
            base_url=base,
            key=key,
            link=f"{base}/i/PERSONAL-TOKEN",
            optout_link=f"{base}/optout/OPT-OUT-TOKEN",
            idempotency_key=f"preview:{lang}",
        )
        click.echo(f"===== {lang} =====")
        for h in ("From", "To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post"):
            click.echo(f"{h}: {msg[h]}")
        for part in msg.iter_parts():
            click.echo(f"----- {part.get_content_type()} -----")
            click.echo(part.get_content().rstrip("\n"))
        click.echo("")


@click.command("send")
@db_option
@click.argument("slug")
@click.option(
    "--preview",
    is_flag=True,
    help="Print one rendered message per language (a sample contact); send nothing.",
)
@_rate_option
@_wait_option
@_base_url_option
@audited("mail.send", lambda kw: (kw["slug"], {"preview": kw["preview"]}))
def send_command(
    db_path: str, slug: str, preview: bool, rate: float | None, no_wait: bool, base_url: str | None
) -> None:
    """Send the invitation to every contact of campaign SLUG not yet invited.

    Configuration: TRUSTMETER_SMTP_URL, TRUSTMETER_MAIL_FROM, TRUSTMETER_BASE_URL. Running
    it again sends nothing new; after an interruption it continues where it stopped.
    """
    from survey.storage import contacts, store

    config = _config(rate, base_url)
    with open_database(db_path) as db:
        c = store.get_campaign(db, slug)
        if c is None:
            raise click.ClickException(f"unknown campaign {slug!r}")
        if preview:
            _print_preview(db, c, config)
            return
        queued = contacts.queue_invitations(db, c)
        tally = _deliver(db, c, config, wait=not no_wait)
        _report(slug, queued, tally, db, c)


@click.command("remind")
@db_option
@click.argument("slug")
@click.option(
    "--after",
    "after",
    required=True,
    type=Duration(),
    help="Only contacts whose last message is at least this old (0s, 90m, 3d).",
)
@click.option(
    "--max",
    "max_reminders",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="At most this many reminders per contact.",
)
@_rate_option
@_wait_option
@_base_url_option
@audited(
    "mail.remind",
    lambda kw: (kw["slug"], {"after_s": kw["after"].total_seconds(), "max": kw["max_reminders"]}),
)
def remind_command(
    db_path: str,
    slug: str,
    after: timedelta,
    max_reminders: int,
    rate: float | None,
    no_wait: bool,
    base_url: str | None,
) -> None:
    """Remind the invited contacts of SLUG who have not completed the survey."""
    from survey.storage import contacts, store

    config = _config(rate, base_url)
    with open_database(db_path) as db:
        c = store.get_campaign(db, slug)
        if c is None:
            raise click.ClickException(f"unknown campaign {slug!r}")
        queued = contacts.queue_reminders(db, c, after=after, max_reminders=max_reminders)
        tally = _deliver(db, c, config, wait=not no_wait)
        _report(slug, queued, tally, db, c)


# ----- templates ---------------------------------------------------------------------------
@click.group("mail-template")
def template_group() -> None:
    """A campaign's own message templates (subject.txt, body.txt, body.html)."""


@template_group.command("set")
@db_option
@click.argument("slug")
@click.argument("language")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@audited("mail.template", lambda kw: (kw["slug"], {"language": kw["language"]}))
def template_set(db_path: str, slug: str, language: str, directory: str) -> None:
    """Use DIRECTORY's subject.txt, body.txt and body.html (Jinja) for LANGUAGE."""
    from survey.mail import templates
    from survey.storage import contacts

    parts = {}
    for part, name in templates.FILES.items():
        path = Path(directory) / name
        try:
            parts[part] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise click.ClickException(f"{path}: cannot read it ({e})") from None
    with cli_errors():
        templates.check_templates(parts["subject"], parts["text"], parts["html"])
    with open_database(db_path) as db:
        contacts.set_template(
            db, slug, language, subject=parts["subject"], text=parts["text"], html=parts["html"]
        )
    click.echo(f"{slug}: {language} messages now use the templates in {directory}")


@template_group.command("reset")
@db_option
@click.argument("slug")
@click.argument("language")
def template_reset(db_path: str, slug: str, language: str) -> None:
    """Go back to the shipped default templates for LANGUAGE."""
    from survey.storage import contacts

    with open_database(db_path) as db:
        contacts.delete_template(db, slug, language)
    click.echo(f"{slug}: {language} messages use the default templates")


# ----- the worker --------------------------------------------------------------------------
@click.command("worker")
@db_option
def worker_command(db_path: str) -> None:
    """Run the outbox worker: send queued e-mail and webhook calls, retry temporary
    failures, purge contacts when due. Stops on Ctrl-C or SIGTERM (``serve`` starts
    one itself)."""
    from survey.worker import run_forever

    with open_database(db_path):
        pass
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with cli_errors():
        run_forever(db_path)


MAIL_COMMANDS = (contacts_group, send_command, remind_command, template_group, worker_command)
