"""The ``trustmeter`` command line: a thin click layer over the library packages.

Each area registers its commands here: instruments (``instrument``), the survey
app and database (``init``, ``serve``, ``run``, ``campaign``, ``invite``, ``demo``)
and the analysis package (``analyze``).

Every database command takes ``--db PATH`` (default ``trustmeter.db``, or
``$TRUSTMETER_DB`` when set). Bad arguments end with ``Error: ...`` and exit code 1
(2 for usage errors).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from sqlite_utils import Database

from instruments.cli import instrument_group
from survey.cli.analyze import analyze
from survey.export import export_command
from survey.reporting.periodic import report_command

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trustmeter")
def main() -> None:
    """trustmeter: measure customer trust with a validated questionnaire."""


main.add_command(instrument_group)
main.add_command(analyze)
main.add_command(export_command)
main.add_command(report_command)


# ----- shared plumbing -------------------------------------------------------------
def db_option(f: Callable) -> Callable:
    """The ``--db PATH`` option every database command takes."""
    return click.option(
        "--db", "db_path", type=click.Path(dir_okay=False), default="trustmeter.db",
        envvar="TRUSTMETER_DB", show_default=True, show_envvar=True,
        help="SQLite database file.")(f)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Report the library's argument errors as ``Error: ...`` instead of a traceback."""
    try:
        yield
    except (ValueError, LookupError) as e:
        raise click.ClickException(str(e)) from None


@contextlib.contextmanager
def _open(db_path: str, *, create: bool = False) -> Iterator[Database]:
    """Open the database. With ``create`` it is created or upgraded (``init``);
    otherwise it must exist and be current."""
    from survey.storage import migrations
    from survey.storage.db import init_db, open_db

    if not create and not Path(db_path).is_file():
        raise click.ClickException(f"no database at {db_path}; create it with "
                                   f"'trustmeter init --db {db_path}'")
    with _errors(), open_db(db_path) as db:
        if create:
            init_db(db)
        elif migrations.pending(db):
            raise click.ClickException(f"the database {db_path} is not initialized or is out "
                                       f"of date; run 'trustmeter init --db {db_path}'")
        yield db


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise click.BadParameter(f"{v!r} is not NAME=VALUE (e.g. segment=loyal)",
                                     param_hint="'--param'")
        if name.strip() in out:
            raise click.BadParameter(f"{name.strip()!r} is given twice", param_hint="'--param'")
        out[name.strip()] = value.strip()
    return out


def _base_url(host: str, port: int) -> str:
    shown = DEFAULT_HOST if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


# ----- init, serve, run --------------------------------------------------------------
@main.command()
@db_option
def init(db_path: str) -> None:
    """Create or upgrade the database schema and register the built-in instruments.

    Safe to run again: applied migrations are skipped.
    """
    from survey.storage import migrations, store
    from survey.storage.db import init_db, open_db

    with _errors(), open_db(db_path) as db:
        todo = migrations.pending(db)
        init_db(db)
        versions = [f"{r['id']} {r['version']}" for r in store.list_instruments(db)]
    click.echo(f"{db_path}: " + (f"applied {', '.join(todo)}" if todo else "schema up to date"))
    click.echo("instruments: " + (", ".join(versions) or "none"))


def _app_factory(db_path: str) -> Callable:
    path = os.path.abspath(db_path)

    def make_app():
        from survey import create_app

        app = create_app()
        app.config["DATABASE"] = path
        return app
    return make_app


def _serve(db_path: str, host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn (``workers`` processes); fall back to waitress (one
    process, threads) where gunicorn cannot run, e.g. on Windows."""
    os.environ["TRUSTMETER_DB"] = os.path.abspath(db_path)
    make_app = _app_factory(db_path)
    make_app()  # fail here, with a clear traceback, if the app cannot be built
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError as e:  # gunicorn needs fcntl (POSIX)
        import waitress

        click.echo(f"gunicorn is not available ({e}); serving with waitress "
                   f"(one process, {4 * workers} threads)", err=True)
        waitress.serve(make_app(), host=host, port=port, threads=4 * workers)
        return

    class GunicornApp(BaseApplication):
        def load_config(self) -> None:
            settings = {"bind": f"{host}:{port}", "workers": workers,
                        "accesslog": "-", "errorlog": "-", "proc_name": "trustmeter",
                        # researchers' exports and reports run inside a request: a
                        # 1M-row .sav takes minutes, more than gunicorn's default 30 s
                        "timeout": 600,
                        # gunicorn >= 25.1 opens a control socket at one path per user
                        # ($HOME/.gunicorn/gunicorn.ctl); two servers would share it
                        "control_socket_disable": True}
            for key, value in settings.items():
                if key in self.cfg.settings:  # older gunicorn lacks some settings
                    self.cfg.set(key, value)

        def load(self):
            return make_app()

    click.echo(f"serving with gunicorn, {workers} workers, on http://{host}:{port}", err=True)
    GunicornApp().run()


def _server_options(f: Callable) -> Callable:
    f = click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
                     help="Number of gunicorn worker processes.")(f)
    f = click.option("--port", default=DEFAULT_PORT, show_default=True,
                     type=click.IntRange(1, 65535), help="Port to listen on.")(f)
    return click.option("--host", default=DEFAULT_HOST, show_default=True,
                        help="Interface to listen on (0.0.0.0 for all).")(f)


@main.command()
@db_option
@_server_options
def serve(db_path: str, host: str, port: int, workers: int) -> None:
    """Serve the survey with a production WSGI server (gunicorn).

    The database must exist (``trustmeter init``). Put a TLS-terminating reverse
    proxy in front of it for public use.
    """
    with _open(db_path):
        pass
    _serve(db_path, host, port, workers)


@main.command()
@db_option
@_server_options
@click.option("--n", "n", default=3000, show_default=True, type=click.IntRange(min=1),
              help="Synthetic respondents to fill an empty demo campaign with.")
@click.option("--no-serve", is_flag=True, help="Prepare the database and print the links only.")
def run(db_path: str, host: str, port: int, workers: int, n: int, no_serve: bool) -> None:
    """Try trustmeter: a demo database, its links, and the server (``make run``).

    Creates the database if needed, with the ``customer-trust`` instrument and a demo
    campaign (slug ``demo``, this quarter, params segment and channel) filled with
    synthetic respondents if it has none; prints the public link and one invitation
    link; then serves on http://127.0.0.1:5000 with gunicorn (2 workers).
    """
    from survey import demo
    from survey.storage import store

    with _open(db_path, create=True) as db, _errors():
        campaign = store.get_campaign(db, "demo")
        if campaign is None or store.campaign_counts(db, "demo")["completed"] == 0:
            summary = demo.fill_demo(db, "demo", n, seed=20261122)
            click.echo(f"demo campaign filled with {summary['completed']} synthetic respondents "
                       f"({', '.join(summary['periods'])}) in {summary['seconds']} s")
        (inv,) = store.create_invitations(db, "demo", 1, {"segment": "returning"})
    base = _base_url(host, port)
    click.echo(f"respondent link:  {base}/s/demo")
    click.echo(f"invitation link:  {base}/i/{inv['token']}  (single use)")
    click.echo(f"database:         {db_path}")
    if not no_serve:
        _serve(db_path, host, port, workers)


# ----- campaigns and invitations -------------------------------------------------------
@main.group("campaign")
def campaign_group() -> None:
    """Create, list and close survey campaigns."""


@campaign_group.command("create")
@db_option
@click.option("--instrument", required=True,
              help="Instrument id (e.g. customer-trust), id@version, or a YAML file.")
@click.option("--slug", required=True, help="Short name; the public link is /s/SLUG.")
@click.option("--period", required=True, help="Period label, e.g. 2026-Q4.")
@click.option("--param", "params", multiple=True,
              help="A URL parameter respondents may carry (e.g. segment); repeatable.")
@click.option("--language", "languages", multiple=True,
              help="A language to offer (default: all of the instrument's); repeatable.")
@click.option("--opens", help="Opening date (YYYY-MM-DD, UTC) or ISO datetime.")
@click.option("--closes", help="Closing date, inclusive (YYYY-MM-DD, UTC) or ISO datetime.")
@click.option("--min-segment-n", default=30, show_default=True, type=int,
              help="Smallest group size reported separately.")
@click.option("--title", help="A title for researchers.")
def campaign_create(db_path: str, instrument: str, slug: str, period: str,
                    params: tuple[str, ...], languages: tuple[str, ...], opens: str | None,
                    closes: str | None, min_segment_n: int, title: str | None) -> None:
    """Create a campaign: one instrument version for one period."""
    from survey.storage import store

    with _open(db_path) as db:
        c = store.create_campaign(db, slug=slug, instrument=instrument, period=period,
                                  params=params, languages=languages or None, title=title,
                                  opens_at=opens, closes_at=closes, min_segment_n=min_segment_n)
    click.echo(f"created campaign {c['slug']}: {c['instrument_id']} {c['instrument_version']}, "
               f"period {c['period']}, languages {', '.join(c['languages'])}, params "
               f"{', '.join(c['params']) or 'none'}; public link /s/{c['slug']}")


@campaign_group.command("list")
@db_option
def campaign_list(db_path: str) -> None:
    """List campaigns with their live counts (tab-separated), as on the dashboard:
    started, completed, completion rate and complete responses excluded as careless
    (flagged by at least 2 indicators, the rule of ``trustmeter analyze``)."""
    from survey.reporting.live import campaign_stats
    from survey.storage import store

    with _open(db_path) as db:
        click.echo("slug\tstatus\tinstrument\tperiod\tlanguages\tparams\tstarted\tcompleted"
                   "\tcompletion_rate\texcluded_careless")
        for c in store.list_campaigns(db):
            k = campaign_stats(db, c)
            rate = "" if k["completion_rate"] is None else f"{k['completion_rate']:.3f}"
            careless = "" if k["careless"] is None else str(k["careless"])
            click.echo("\t".join([c["slug"], c["status"],
                                  f"{c['instrument_id']}@{c['instrument_version']}",
                                  c["period"], ",".join(c["languages"]), ",".join(c["params"]),
                                  str(k["started"]), str(k["completed"]), rate, careless]))


@campaign_group.command("close")
@db_option
@click.argument("slug")
def campaign_close(db_path: str, slug: str) -> None:
    """Close campaign SLUG: it stops accepting responses."""
    from survey.storage import store

    with _open(db_path) as db:
        store.close_campaign(db, slug)
    click.echo(f"closed campaign {slug}")


@main.command()
@db_option
@click.argument("slug")
@click.option("--count", required=True, type=int, help="Number of invitations.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A declared param attached to every invitation (e.g. segment=loyal).")
@click.option("--base-url", default=_base_url(DEFAULT_HOST, DEFAULT_PORT), show_default=True,
              help="Public address of the survey.")
def invite(db_path: str, slug: str, count: int, params: tuple[str, ...],
           base_url: str) -> None:
    """Create single-use invitations for campaign SLUG; print a CSV of token and url.

    Only a hash of each token is stored: save the output, it cannot be shown again.
    """
    from survey.storage import store

    if count <= 0:
        raise click.BadParameter(f"must be a positive number, got {count}",
                                 param_hint="'--count'")
    p = _parse_params(params)
    with _open(db_path) as db:
        invs = store.create_invitations(db, slug, count, p)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["token", "url"])
    for inv in invs:
        w.writerow([inv["token"], f"{base_url.rstrip('/')}/i/{inv['token']}"])
    click.echo(out.getvalue(), nl=False)


@main.command("demo")
@db_option
@click.option("--slug", default="demo", show_default=True, help="Campaign to fill.")
@click.option("--n", "n", default=3000, show_default=True, type=click.IntRange(min=1),
              help="Number of complete synthetic respondents.")
@click.option("--seed", type=int, help="Random seed, for reproducible data.")
@click.option("--instrument", default="customer-trust", show_default=True,
              help="Instrument for a new campaign.")
def demo_command(db_path: str, slug: str, n: int, seed: int | None, instrument: str) -> None:
    """Fill a campaign with synthetic respondents (created with the database if needed).

    Respondents follow a correlated factor model over the instrument's dimensions
    across the last four quarters, 3 segments and the campaign's languages, with a
    few percent careless and missing answers.
    """
    from survey import demo

    with _open(db_path, create=True) as db, _errors():
        s = demo.fill_demo(db, slug, n, seed=seed, instrument=instrument)
    click.echo(f"campaign {s['campaign']}: added {s['completed']} complete and {s['abandoned']} "
               f"abandoned synthetic responses over {', '.join(s['periods'])} "
               f"in {s['seconds']} s")


# ----- researcher accounts; audit of the data-changing commands ------------------------
from survey.cli.users import user_group  # noqa: E402
from survey.storage.audit import audit_cli  # noqa: E402

main.add_command(user_group)
audit_cli(main)  # campaign create/close, invite and export also write to the audit log
