"""``trustmeter analyze``: the psychometric and Trust Index analysis of one data set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import numpy as np
import pandas as pd

from analysis import AnalysisError
from survey.cli.common import db_option


def _load(data: str, instrument: str | None, db: str):
    """(DataFrame, Instrument) from a CSV file or a campaign slug in the database."""
    from instruments.loader import get_instrument

    path = Path(data)
    if path.is_file():
        if instrument is None:
            raise AnalysisError(
                f"{data} is a file: give its instrument with --instrument "
                "FILE.yaml (or a built-in instrument id)"
            )
        try:
            # the respondent key is text (16 hex digits could read as a number)
            df = pd.read_csv(path, dtype={"respondent": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise AnalysisError(f"cannot read {data} as CSV: {e}") from None
        return df, get_instrument(instrument)
    if path.suffix.lower() in (".csv", ".tsv", ".txt") or os.sep in data:
        raise AnalysisError(f"no such file: {data}")
    if not Path(db).is_file():
        raise AnalysisError(
            f"{data!r} is not a file, and there is no database {db} to look "
            "it up as a campaign (use --db or TRUSTMETER_DB)"
        )
    from survey.storage.db import open_db
    from survey.storage.store import load_campaign_frame

    try:
        with open_db(db) as conn:
            df, inst = load_campaign_frame(conn, data)
    except (KeyError, LookupError) as e:
        raise AnalysisError(f"no campaign {data!r} in {db}: {e}") from None
    if instrument is not None:
        inst = get_instrument(instrument)
    return df, inst


@click.command("analyze")
@click.argument("data")
@click.option(
    "--instrument",
    "instrument",
    metavar="FILE.yaml|ID",
    help="Instrument of the data (default for a campaign: the campaign's own).",
)
@click.option("--group", help="Column to test measurement invariance across (e.g. language).")
@click.option("--segment", help="Column of segments: table, Welch ANOVA, pairwise tests.")
@click.option("--period", help="Column of periods: table and change versus previous period.")
@click.option(
    "--respondent-column",
    metavar="COLUMN",
    help="Column of the anonymous respondent key that groups one person's brand ratings "
    "(default: 'respondent' when the data have it). With several ratings per person, the "
    "tests across --group and --segment use one rating per respondent.",
)
@click.option(
    "--keep-careless",
    is_flag=True,
    help="Keep respondents flagged as careless (default: exclude them).",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write JSON here.")
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False),
    help="Write a self-contained HTML report here.",
)
@click.option(
    "--efa-extraction", type=click.Choice(["minres", "ml"]), default="minres", show_default=True
)
@click.option(
    "--efa-rotation",
    type=click.Choice(["oblimin", "promax", "varimax"]),
    default="oblimin",
    show_default=True,
)
@click.option(
    "--n-factors",
    type=click.IntRange(min=1),
    help="EFA factors (default: the factor solution of the parallel analysis).",
)
@click.option(
    "--min-segment-n",
    type=click.IntRange(min=2),
    default=30,
    show_default=True,
    help="Suppress segments and periods smaller than this.",
)
@click.option(
    "--min-items",
    type=click.IntRange(min=1),
    help="Answered items needed for a dimension score (default: 75% of its items).",
)
@click.option(
    "--estimator",
    type=click.Choice(["ml", "mlr", "wlsmv"], case_sensitive=False),
    default="ml",
    show_default=True,
    help="CFA estimator: ml; mlr (robust Huber-White SEs, Yuan-Bentler scaled "
    "chi-square); or wlsmv for items as ordered categories "
    "(polychoric correlations, DWLS, scaled-shifted chi-square, as lavaan).",
)
@click.option(
    "--missing",
    type=click.Choice(["listwise", "fiml"], case_sensitive=False),
    default="listwise",
    show_default=True,
    help="CFA missing data: listwise deletion, or fiml (full-information ML over "
    'all responses, as lavaan\'s missing = "ml"; with ml or mlr).',
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the parallel analysis."
)
@click.option(
    "--n-boot",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the CIs of the driver shares (0: none).",
)
@db_option
def analyze(
    data,
    instrument,
    group,
    segment,
    period,
    respondent_column,
    keep_careless,
    json_out,
    html_out,
    efa_extraction,
    efa_rotation,
    n_factors,
    min_segment_n,
    min_items,
    seed,
    db_path,
    n_boot,
    estimator,
    missing,
):
    """Analyse DATA (a CSV with item columns named by item id, or a campaign slug).

    Reports reliability, KMO, Bartlett, parallel analysis, EFA, CFA, measurement
    invariance, dimension scores, the Trust Index by period and segment, and the
    drivers of each outcome (LMG shares of R², overall and per --segment).
    Careless respondents are excluded unless --keep-careless is given. Brand ratings
    (one row per brand a person rates, sharing the respondent key) are nested in
    respondents: the invariance test across --group and the Welch tests across
    --segment (e.g. --segment brand) then use one rating per respondent (the first in
    the person's random brand order), and the driver bootstrap resamples respondents.
    """
    from analysis.report import analyze as run
    from instruments.loader import InstrumentError

    try:
        df, inst = _load(data, instrument, db_path)
        if respondent_column is None and "respondent" in df.columns:
            respondent_column = "respondent"
        report = run(
            df,
            inst,
            group=group,
            segment=segment,
            period=period,
            keep_careless=keep_careless,
            efa_extraction=efa_extraction,
            efa_rotation=efa_rotation,
            n_factors=n_factors,
            min_segment_n=min_segment_n,
            min_items=min_items,
            seed=seed,
            n_boot=n_boot,
            estimator=estimator.lower(),
            missing=missing.lower(),
            respondent_column=respondent_column,
            position_column="brand_position" if "brand_position" in df.columns else None,
        )
        out = report.to_dict()
        html = None
        if html_out:
            from analysis.html import render_html

            html = render_html(report)
    except InstrumentError as e:
        raise click.ClickException("\n".join(e.errors)) from None
    except (AnalysisError, ValueError, KeyError, np.linalg.LinAlgError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise click.ClickException(str(msg)) from None
    if json_out:
        Path(json_out).write_text(json.dumps(out, indent=2, allow_nan=False), encoding="utf-8")
    if html_out:
        Path(html_out).write_text(html, encoding="utf-8")
    if not json_out and not html_out:
        click.echo(report.summary())
        return
    click.echo(
        f"{report.n_responses} responses analysed ({report.n_excluded} excluded as "
        f"careless) with {report.instrument}"
    )
    cn = getattr(report.cfa, "n", None)
    how = "FIML" if getattr(report.cfa, "missing", None) == "fiml" else "listwise"
    click.echo(
        f"n used: {report.n_complete} complete rows (listwise) for KMO, Bartlett, "
        f"parallel analysis and EFA"
        + (
            f"; CFA n = {cn} ({how}, {getattr(report.cfa, 'estimator', 'ml')})"
            if cn is not None
            else ""
        )
    )
    for v in report.verdicts:
        click.echo(f"- {v}")
    for n in report.notes:
        click.echo(f"note: {n}")
    for p in (json_out, html_out):
        if p:
            click.echo(f"wrote {p}")
