"""``trustmeter campaign``, ``invite`` and ``demo``."""

from __future__ import annotations

import click

from survey.brands import describe
from survey.cli.common import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    audited,
    base_url,
    cli_errors,
    cli_user,
    db_option,
    open_database,
    parse_params,
)
from survey.export.invitations import invitations_csv


@click.group("campaign")
def campaign_group() -> None:
    """Create, list and close survey campaigns."""


@campaign_group.command("create")
@db_option
@click.option(
    "--instrument",
    required=True,
    help="Instrument id (e.g. customer-trust), id@version, or a YAML file.",
)
@click.option("--slug", required=True, help="Short name; the public link is /s/SLUG.")
@click.option("--period", required=True, help="Period label, e.g. 2026-Q4.")
@click.option(
    "--param",
    "params",
    multiple=True,
    help="A URL parameter respondents may carry (e.g. segment); repeatable.",
)
@click.option(
    "--language",
    "languages",
    multiple=True,
    help="A language to offer (default: all of the instrument's); repeatable.",
)
@click.option("--opens", help="Opening date (YYYY-MM-DD, UTC) or ISO datetime.")
@click.option("--closes", help="Closing date, inclusive (YYYY-MM-DD, UTC) or ISO datetime.")
@click.option(
    "--min-segment-n",
    default=30,
    show_default=True,
    type=int,
    help="Smallest group size reported separately.",
)
@click.option("--title", help="A title for researchers.")
@click.option(
    "--brand",
    "brands",
    multiple=True,
    metavar="'SLUG: Name' | 'SLUG: en=Name | ru=Имя'",
    help="A brand the campaign asks about (repeatable, in the order the brand page lists "
    "them): its slug and display name, one for every language or one per language "
    "(others fall back to the first language's). Texts' {brand} become its name; "
    "'brand' becomes a declared param.",
)
@click.option(
    "--brands-per-respondent",
    type=click.IntRange(min=1),
    metavar="K",
    help="How many of the brands a respondent ticks they rate, in random order "
    "(default: all ticked).",
)
@click.option(
    "--grant",
    "grants",
    multiple=True,
    metavar="USERNAME",
    help="A web user who may see the campaign (repeatable); otherwise only admins "
    "see it until 'trustmeter campaign grant'.",
)
@audited(
    "campaign.create",
    lambda kw: (
        kw["slug"],
        {
            "instrument": kw["instrument"],
            "period": kw["period"],
            "params": list(kw["params"]),
            "languages": list(kw["languages"]),
            "granted": list(kw["grants"]),
            "brands": [b.partition(":")[0].strip() for b in kw["brands"]],
            "brands_per_respondent": kw["brands_per_respondent"],
        },
    ),
)
def campaign_create(
    db_path: str,
    instrument: str,
    slug: str,
    period: str,
    params: tuple[str, ...],
    languages: tuple[str, ...],
    opens: str | None,
    closes: str | None,
    min_segment_n: int,
    title: str | None,
    brands: tuple[str, ...],
    brands_per_respondent: int | None,
    grants: tuple[str, ...],
) -> None:
    """Create a campaign: one instrument version for one period. Its creator is recorded
    as cli:$USER, no web user: only admins see it on the researcher pages unless --grant
    names users (or 'trustmeter campaign grant' later)."""
    from survey.brands import parse_brands
    from survey.storage import access, store, users

    try:
        declared = parse_brands(brands)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--brand'") from None
    if brands_per_respondent is not None and brands_per_respondent > len(declared):
        raise click.BadParameter(
            f"{brands_per_respondent} but {len(declared)} brand(s) declared with --brand",
            param_hint="'--brands-per-respondent'",
        )
    with open_database(db_path) as db:
        for name in grants:
            if users.get_user(db, name) is None:
                raise click.ClickException(f"--grant: unknown user {name!r}")
        c = store.create_campaign(
            db,
            slug=slug,
            instrument=instrument,
            period=period,
            params=params,
            languages=languages or None,
            title=title,
            opens_at=opens,
            closes_at=closes,
            min_segment_n=min_segment_n,
            created_by=cli_user(),
            brands=declared,
            brands_per_respondent=brands_per_respondent,
        )
        for name in grants:
            access.grant(db, slug, name, by=cli_user())
    click.echo(
        f"created campaign {c['slug']}: {c['instrument_id']} {c['instrument_version']}, "
        f"period {c['period']}, languages {', '.join(c['languages'])}, params "
        f"{', '.join(c['params']) or 'none'}; public link /s/{c['slug']}"
    )
    if c["brands"]:
        k = c["brands_per_respondent"]
        click.echo(
            f"brands ({'each respondent rates up to ' + str(k) if k else 'all ticked rated'}): "
            + describe(c["brands"])
        )


@campaign_group.command("list")
@db_option
def campaign_list(db_path: str) -> None:
    """List campaigns with their live counts (tab-separated), as on the dashboard:
    started, completed, completion rate, complete responses excluded as careless
    (flagged by at least 2 indicators within their period, the rule of the report), and
    the headline Trust Index: its latest period, mean and n (empty when suppressed); then
    the e-mail funnel: contacts, invited, reminded, contacts_started, contacts_completed
    (of the e-mailed contacts), bounced, opted_out; then the brands' slugs and
    brands_per_respondent (K, empty: all ticked)."""
    from survey.reporting.live import campaign_stats
    from survey.storage import contacts, store

    with open_database(db_path) as db:
        click.echo(
            "slug\tstatus\tinstrument\tperiod\tlanguages\tparams\tstarted\tcompleted"
            "\tcompletion_rate\texcluded_careless\theadline_period\ttrust_index"
            "\ttrust_index_n\tcontacts\tinvited\treminded\tcontacts_started"
            "\tcontacts_completed\tbounced\topted_out\tbrands\tbrands_per_respondent"
        )
        for c in store.list_campaigns(db):
            k = campaign_stats(db, c)
            rate = "" if k["completion_rate"] is None else f"{k['completion_rate']:.3f}"
            careless = "" if k["careless"] is None else str(k["careless"])
            ti = k["trust_index"] or {}
            mean = "" if ti.get("mean") is None else f"{ti['mean']:.3f}"
            n = "" if ti.get("n") is None else str(ti["n"])
            funnel = contacts.campaign_funnel(db, c)
            click.echo(
                "\t".join(
                    [
                        c["slug"],
                        c["status"],
                        f"{c['instrument_id']}@{c['instrument_version']}",
                        c["period"],
                        ",".join(c["languages"]),
                        ",".join(c["params"]),
                        str(k["started"]),
                        str(k["completed"]),
                        rate,
                        careless,
                        k["period"] or "",
                        mean,
                        n,
                        *(str(funnel[key]) for key in contacts.FUNNEL_KEYS),
                        ",".join(b["slug"] for b in c["brands"]),
                        str(c["brands_per_respondent"] or ""),
                    ]
                )
            )


@campaign_group.command("grant")
@db_option
@click.argument("slug")
@click.argument("username")
@audited("campaign.grant", lambda kw: (kw["slug"], {"username": kw["username"]}))
def campaign_grant(db_path: str, slug: str, username: str) -> None:
    """Let web user USERNAME see (and, with the role, export) campaign SLUG."""
    from survey.storage import access

    with open_database(db_path) as db, cli_errors():
        changed = access.grant(db, slug, username, by=cli_user())
    click.echo(f"{username} {'may now see' if changed else 'could already see'} {slug}")


@campaign_group.command("revoke")
@db_option
@click.argument("slug")
@click.argument("username")
@audited("campaign.revoke", lambda kw: (kw["slug"], {"username": kw["username"]}))
def campaign_revoke(db_path: str, slug: str, username: str) -> None:
    """Take web user USERNAME's access to campaign SLUG away (admins see every campaign)."""
    from survey.storage import access

    with open_database(db_path) as db, cli_errors():
        changed = access.revoke(db, slug, username)
    click.echo(f"{username} {'no longer sees' if changed else 'had no grant for'} {slug}")


@campaign_group.command("access")
@db_option
@click.argument("slug")
def campaign_access(db_path: str, slug: str) -> None:
    """List who was granted campaign SLUG (admins see every campaign anyway)."""
    from survey.storage import access

    with open_database(db_path) as db, cli_errors():
        names, creator = access.grantees(db, slug), access.creator(db, slug)
    click.echo(f"created by: {creator or 'unknown'}")
    for name in names:
        click.echo(name)


@campaign_group.command("close")
@db_option
@click.argument("slug")
@audited("campaign.close", lambda kw: (kw["slug"], {}))
def campaign_close(db_path: str, slug: str) -> None:
    """Close campaign SLUG: it stops accepting responses."""
    from survey.storage import store

    with open_database(db_path) as db:
        store.close_campaign(db, slug)
    click.echo(f"closed campaign {slug}")


@click.command()
@db_option
@click.argument("slug")
@click.option("--count", required=True, type=int, help="Number of invitations.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A declared param attached to every invitation (e.g. segment=loyal).",
)
@click.option(
    "--base-url",
    default=base_url(DEFAULT_HOST, DEFAULT_PORT),
    show_default=True,
    help="Public address of the survey.",
)
@audited(
    "invitations.create",
    lambda kw: (
        kw["slug"],
        {"count": kw["count"], "params": sorted(p.partition("=")[0] for p in kw["params"])},
    ),
)
def invite(db_path: str, slug: str, count: int, params: tuple[str, ...], base_url: str) -> None:
    """Create single-use invitations for campaign SLUG; print a CSV of token and url.

    Only a hash of each token is stored: save the output, it cannot be shown again.
    """
    from survey.storage import store

    if count <= 0:
        raise click.BadParameter(f"must be a positive number, got {count}", param_hint="'--count'")
    p = parse_params(params)
    with open_database(db_path) as db:
        invs = store.create_invitations(db, slug, count, p)
    click.echo(invitations_csv(invs, base_url), nl=False)


@click.command("demo")
@db_option
@click.option("--slug", default="demo", show_default=True, help="Campaign to fill.")
@click.option(
    "--n",
    "n",
    default=3000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of complete synthetic respondents.",
)
@click.option("--seed", type=int, help="Random seed, for reproducible data.")
@click.option(
    "--instrument",
    default="customer-trust",
    show_default=True,
    help="Instrument for a new campaign.",
)
def demo_command(db_path: str, slug: str, n: int, seed: int | None, instrument: str) -> None:
    """Fill a campaign with synthetic respondents (created with the database if needed).

    Respondents follow a correlated factor model over the instrument's dimensions
    across the last four quarters, 3 segments and the campaign's languages, with a
    few percent careless and missing answers.
    """
    from survey import demo

    with open_database(db_path, create=True) as db, cli_errors():
        s = demo.fill_demo(db, slug, n, seed=seed, instrument=instrument)
    click.echo(
        f"campaign {s['campaign']}: added {s['completed']} complete and {s['abandoned']} "
        f"abandoned synthetic responses over {', '.join(s['periods'])} "
        f"in {s['seconds']} s"
    )
