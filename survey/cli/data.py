"""``trustmeter export`` and ``trustmeter report``: the researcher's outputs."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import click
import numpy as np

from analysis import AnalysisError
from survey.cli.common import audited, db_option, export_rows, open_database
from survey.export import FORMATS, export_campaign
from survey.mail.report import check_recipients, send_report
from survey.reporting.periodic import build_report, render_html, write_atomic
from survey.storage import store

_SUFFIX_FORMAT = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".sav": "sav",
    ".dta": "dta",
    ".parquet": "parquet",
    ".json": "json",
}


@click.command("export")
@click.argument("slugs", nargs=-1, required=True, metavar="SLUG...")
@click.option(
    "--period",
    "periods",
    multiple=True,
    metavar="P",
    help="Keep only this period (repeat for several).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="File format (default: from the output file's extension).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="The data file to write; codebook and manifest go beside it.",
)
@click.option(
    "--language",
    default="en",
    show_default=True,
    help="Language of the variable and value labels (e.g. en, ru, fa).",
)
@click.option(
    "--raw-formulas",
    is_flag=True,
    help="csv/xlsx: keep text that starts with =, +, -, @, tab or CR verbatim "
    "(default: prefixed with ' so spreadsheets do not run it as a formula).",
)
@db_option
@audited(
    "export",
    lambda kw: (
        ",".join(kw["slugs"]),
        {
            "format": kw.get("fmt") or os.path.splitext(str(kw["output"]))[1].lstrip("."),
            "periods": list(kw.get("periods") or ()),
            "language": kw.get("language"),
            "rows": export_rows(kw["output"]),
            "raw_formulas": bool(kw.get("raw_formulas")),
        },
    ),
)
def export_command(
    slugs: tuple[str, ...],
    periods: tuple[str, ...],
    fmt: str | None,
    output: Path,
    language: str,
    raw_formulas: bool,
    db_path: str,
) -> None:
    """Export the complete responses of campaign SLUG (several SLUGs of one instrument
    version are combined) with a codebook and a manifest.

    csv, json, parquet and xlsx are written in constant memory; sav and dta are built
    in memory. No identifiers are exported: rows are numbered 1..n per export.
    """
    if fmt is None:
        fmt = _SUFFIX_FORMAT.get(output.suffix.lower())
        if fmt is None:
            raise click.UsageError(
                f"cannot tell the format from {output.name!r}; give --format ({'|'.join(FORMATS)})"
            )
    bar = None
    next_tenth = [1]

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if not sys.stderr.isatty():  # a log, not a terminal: one line every 10%
            while total and next_tenth[0] <= 10 and done * 10 >= next_tenth[0] * total:
                click.echo(
                    f"Exporting {fmt}: {10 * next_tenth[0]}% ({done:,} of {total:,} rows)", err=True
                )
                next_tenth[0] += 1
            return
        if bar is None:  # rows done / total, with the rate and time left
            bar = click.progressbar(
                length=total,
                label=f"Exporting {fmt} (rows)",
                file=sys.stderr,
                show_pos=True,
                show_eta=True,
            )
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        result = export_campaign(
            db_path,
            list(slugs),
            fmt,
            output,
            periods=list(periods) or None,
            language=language,
            progress=progress,
            raw_formulas=raw_formulas,
        )
    except (LookupError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"cannot write {str(output)!r}: {e.strerror or e}") from None
    except Exception as e:  # sqlite3.Error, pyreadstat errors: a message, not a traceback
        raise click.ClickException(f"export failed: {type(e).__name__}: {e}") from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(
        f"Exported {result.rows} complete responses to {result.path} "
        f"({result.format}, sha256 {result.sha256[:12]}...)."
    )
    click.echo(
        f"Codebook: {result.codebook_md.name}, {result.codebook_json.name}; "
        f"manifest: {result.manifest.name}"
    )
    if not result.constant_memory:
        click.echo(f"Note: {result.format} files are built in memory (not streamed).")


@click.command("report")
@click.option(
    "--campaign",
    "campaigns",
    multiple=True,
    metavar="SLUG",
    help="Campaign to report on; repeatable (waves of one tracker, one instrument version).",
)
@click.option(
    "--all-campaigns",
    is_flag=True,
    help="Report on every campaign of the database (they must share one instrument version).",
)
@click.option(
    "--mail-to",
    "mail_to",
    multiple=True,
    metavar="ADDR",
    help="E-mail the HTML report to ADDR (repeatable), through TRUSTMETER_SMTP_URL "
    "and TRUSTMETER_MAIL_FROM.",
)
@click.option(
    "--period", help="Focus period (default: the latest), compared with the previous one."
)
@click.option(
    "--segment",
    metavar="COL",
    help="A declared campaign param (or language) for figures per segment.",
)
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False),
    help="Write the self-contained HTML report here.",
)
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False), help="Write every figure as JSON here."
)
@db_option
@click.option(
    "--keep-careless",
    is_flag=True,
    help="Keep respondents flagged as careless (default: exclude them).",
)
@click.option(
    "--min-segment-n",
    type=click.IntRange(min=2),
    metavar="N",
    help="Suppress figures resting on fewer respondents (default: the campaigns' "
    "min_segment_n, 30).",
)
def report_command(
    campaigns: tuple[str, ...],
    all_campaigns: bool,
    mail_to: tuple[str, ...],
    period: str | None,
    segment: str | None,
    html_out: str | None,
    json_out: str | None,
    db_path: str,
    keep_careless: bool,
    min_segment_n: int | None,
) -> None:
    """Periodic Trust Index report: index and dimensions per period with CIs, change
    versus the previous period, segments, incidents, data quality, reliability and
    invariance. Writes HTML and/or JSON atomically; prints a one-line summary
    (the full text without --html/--json). Safe for cron."""
    for path in (html_out, json_out):
        folder = Path(path).parent if path else None
        if folder is not None and not folder.is_dir():
            raise click.ClickException(f"cannot write {path}: the folder {folder} does not exist")
    if campaigns and all_campaigns:
        raise click.UsageError("give --campaign SLUG ... or --all-campaigns, not both")
    try:
        check_recipients(mail_to)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--mail-to'") from None
    try:
        with open_database(db_path) as db:
            _check_campaign_choice(db, campaigns, all_campaigns)
            rep = build_report(
                db,
                campaigns or None,
                period=period,
                segment=segment,
                keep_careless=keep_careless,
                min_segment_n=min_segment_n,
            )
        html = render_html(rep) if html_out or mail_to else None
        text = (
            json.dumps(rep.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
            if json_out
            else None
        )
        for path, content in ((json_out, text), (html_out, html)):
            if path:
                write_atomic(path, content)
    except click.ClickException:
        raise
    except (AnalysisError, ValueError, LookupError, np.linalg.LinAlgError) as e:
        raise click.ClickException(
            str(e.args[0] if isinstance(e, KeyError) and e.args else e)
        ) from None
    except sqlite3.Error as e:
        raise click.ClickException(f"cannot read the database {db_path}: {e}") from None
    except OSError as e:
        raise click.ClickException(f"cannot write the report: {e}") from None
    except Exception as e:  # cron: one clear line, never a traceback
        raise click.ClickException(
            f"unexpected {type(e).__name__}: {e} (please report this as a trustmeter bug)"
        ) from None
    sent = ""
    if mail_to:
        try:
            send_report(
                mail_to,
                subject=f"Trust Index report {', '.join(rep.campaigns)} {rep.focus}",
                summary=rep.headline(),
                html=html,
                filename=f"trust-report-{rep.focus}.html",
            )
        except (ValueError, RuntimeError) as e:
            raise click.ClickException(f"cannot e-mail the report: {e}") from None
        sent = f"; e-mailed to {len(mail_to)} recipient(s)"
    if not html_out and not json_out and not mail_to:
        click.echo(rep.summary())
        return
    wrote = ", ".join(p for p in (html_out, json_out) if p)
    click.echo(
        f"report {', '.join(rep.campaigns)} {rep.headline()}"
        + (f"; wrote {wrote}" if wrote else "")
        + sent
    )


def _check_campaign_choice(db, campaigns: tuple[str, ...], all_campaigns: bool) -> None:
    """Without ``--campaign`` a report needs ``--all-campaigns``, and never mixes
    instrument versions: a usage error (exit 2) that lists the campaigns."""
    if campaigns:
        return
    every = store.list_campaigns(db)
    listing = (
        "\n".join(
            f"  {c['slug']}\t{c['instrument_id']}@{c['instrument_version']}\t"
            f"{c['period']}\t{c['status']}"
            for c in every
        )
        or "  (none)"
    )
    if not all_campaigns:
        raise click.UsageError(
            "choose the campaign(s) to report on with --campaign SLUG "
            "(repeatable), or --all-campaigns; the campaigns are:\n" + listing
        )
    versions = {(c["instrument_id"], c["instrument_version"]) for c in every}
    if len(versions) > 1:
        raise click.UsageError(
            "--all-campaigns would mix instrument versions ("
            + ", ".join(sorted(f"{i}@{v}" for i, v in versions))
            + "); choose campaigns of one version with --campaign:\n"
            + listing
        )
