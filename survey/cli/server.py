"""``trustmeter init``, ``serve`` and ``run``: the database and the web server."""

from __future__ import annotations

import os
from collections.abc import Callable

import click

from survey.cli.common import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    base_url,
    cli_errors,
    db_option,
    open_database,
)


@click.command()
@db_option
def init(db_path: str) -> None:
    """Create or upgrade the database schema and register the built-in instruments.

    Safe to run again: applied migrations are skipped.
    """
    from survey.storage import migrations, store
    from survey.storage.db import init_db, open_db

    with cli_errors(), open_db(db_path) as db:
        todo = migrations.pending(db)
        init_db(db)
        versions = [f"{r['id']} {r['version']}" for r in store.list_instruments(db)]
    click.echo(f"{db_path}: " + (f"applied {', '.join(todo)}" if todo else "schema up to date"))
    click.echo("instruments: " + (", ".join(versions) or "none"))


def _app_factory(db_path: str) -> Callable:
    path = os.path.abspath(db_path)

    def make_app():
        import gc

        from survey import create_app

        app = create_app()
        app.config["DATABASE"] = path
        app.wsgi_app = ActiveLimit(app.wsgi_app, ACTIVE_PER_WORKER)
        # The ~180,000 objects of the imports and the app live as long as the process:
        # moved out of the collector's generations, full collections no longer scan
        # them (a full collection took 161 ms in the respondent flow, 40 ms after).
        gc.freeze()
        return app

    return make_app


#: Requests one worker process runs at once. Its other threads only wait: for a
#: request's bytes (slow clients) or here. Python runs one thread at a time, and a
#: request that waits for SQLite or the disk must win the interpreter back from the
#: others at every call: with 32 requests at once in a worker, writes took seconds
#: (p99 of 1.4-6 s in the web benchmark); a few at a time keeps the queue short.
ACTIVE_PER_WORKER = 2


class ActiveLimit:
    """WSGI middleware: at most ``n`` requests inside the app at once (first come,
    first served; the response body, e.g. a file being sent, streams outside)."""

    def __init__(self, app: Callable, n: int) -> None:
        import threading

        self.app = app
        self.slots = threading.Semaphore(n)

    def __call__(self, environ: dict, start_response: Callable):
        with self.slots:
            return self.app(environ, start_response)


def _serve(db_path: str, host: str, port: int, workers: int, *, outbox_worker: bool = True) -> None:
    """Serve the app with gunicorn (``workers`` processes); fall back to waitress (one
    process, threads) where gunicorn cannot run, e.g. on Windows. With ``outbox_worker``
    an outbox worker process (e-mail, webhooks) runs alongside and stops with the server."""
    if workers > 1:  # the workers must share one secret key (survey.load_or_create_key)
        from survey import secret_key_problem

        problem = secret_key_problem()
        if problem:
            raise click.ClickException(problem)
    if not outbox_worker:
        _serve_web(db_path, host, port, workers)
        return
    from survey import worker

    child = worker.start_child(db_path)
    click.echo(f"outbox worker started (pid {child.pid})", err=True)
    try:
        _serve_web(db_path, host, port, workers)
    finally:
        worker.stop_child(child)


#: Threads per gunicorn worker. Each request runs on one; a connection that is idle
#: waits in the worker's poller (no thread), but a client that trickles its request
#: headers byte by byte holds one thread until they are complete (gunicorn's gthread
#: worker has no header deadline). With 2 workers, 50 such connections leave at least
#: 14 threads of one worker free; for more, put a buffering reverse proxy (nginx)
#: in front, which the README asks for anyway (TLS).
THREADS = 64
#: Seconds an idle kept-alive connection stays open.
KEEPALIVE_S = 5


def gunicorn_settings(host: str, port: int, workers: int) -> dict:
    """gunicorn's settings for ``trustmeter serve`` (also used by the benchmark's
    trivial endpoint, so that the two are served alike)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        # threads, not sync workers: a sync worker reads a request with no
        # deadline, so two clients sending partial headers stalled the server
        "worker_class": "gthread",
        "threads": THREADS,
        "keepalive": KEEPALIVE_S,
        "worker_connections": 1000,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "trustmeter",
        # a worker whose main loop does not report for this long is restarted
        # (requests run in threads, so a long request does not count)
        "timeout": 120,
        # gunicorn >= 25.1 opens a control socket at one path per user
        # ($HOME/.gunicorn/gunicorn.ctl); two servers would share it
        "control_socket_disable": True,
        # tokens in /i/<token> and /optout/<token> never reach the log
        "logger_class": "survey.web.accesslog.RedactingLogger",
    }


def _serve_web(db_path: str, host: str, port: int, workers: int) -> None:
    os.environ["TRUSTMETER_DB"] = os.path.abspath(db_path)
    make_app = _app_factory(db_path)
    make_app()  # fail here, with a clear traceback, if the app cannot be built
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError as e:  # gunicorn needs fcntl (POSIX)
        import waitress

        click.echo(
            f"gunicorn is not available ({e}); serving with waitress "
            f"(one process, {4 * workers} threads)",
            err=True,
        )
        # waitress reads whole requests in its event loop before a thread sees them,
        # so slow or idle clients hold no thread; idle channels close after 30 s
        waitress.serve(
            make_app(),
            host=host,
            port=port,
            threads=4 * workers,
            channel_timeout=30,
            connection_limit=1000,
        )
        return

    class GunicornApp(BaseApplication):
        def load_config(self) -> None:
            for key, value in gunicorn_settings(host, port, workers).items():
                if key in self.cfg.settings:  # older gunicorn lacks some settings
                    self.cfg.set(key, value)

        def load(self):
            return make_app()

    click.echo(f"serving with gunicorn, {workers} workers, on http://{host}:{port}", err=True)
    GunicornApp().run()


def _server_options(f: Callable) -> Callable:
    f = click.option(
        "--workers",
        default=2,
        show_default=True,
        type=click.IntRange(min=1),
        help="Number of gunicorn worker processes.",
    )(f)
    f = click.option(
        "--port",
        default=DEFAULT_PORT,
        show_default=True,
        type=click.IntRange(1, 65535),
        help="Port to listen on.",
    )(f)
    return click.option(
        "--host",
        default=DEFAULT_HOST,
        show_default=True,
        help="Interface to listen on (0.0.0.0 for all).",
    )(f)


@click.command()
@db_option
@_server_options
@click.option(
    "--no-worker",
    is_flag=True,
    help="Do not start the outbox worker (run 'trustmeter worker' yourself).",
)
def serve(db_path: str, host: str, port: int, workers: int, no_worker: bool) -> None:
    """Serve the survey with a production WSGI server (gunicorn), and an outbox worker
    process that sends the queued e-mail and webhook calls.

    The database must exist (``trustmeter init``). Put a TLS-terminating reverse
    proxy in front of it for public use.
    """
    with open_database(db_path):
        pass
    _serve(db_path, host, port, workers, outbox_worker=not no_worker)


@click.command()
@db_option
@_server_options
@click.option(
    "--n",
    "n",
    default=3000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Synthetic respondents to fill an empty demo campaign with.",
)
@click.option("--no-serve", is_flag=True, help="Prepare the database and print the links only.")
def run(db_path: str, host: str, port: int, workers: int, n: int, no_serve: bool) -> None:
    """Try trustmeter: a demo database, its links, and the server (``make run``).

    Creates the database if needed, with the ``customer-trust`` instrument and a demo
    campaign (slug ``demo``, this quarter, params segment and channel) filled with
    synthetic respondents if it has none, and an empty campaign with three brands
    (``brands-demo``, K = 2); prints the public links and one invitation link; then
    serves on http://127.0.0.1:5000 with gunicorn (2 workers).
    """
    from survey import demo
    from survey.storage import store

    with open_database(db_path, create=True) as db, cli_errors():
        campaign = store.get_campaign(db, "demo")
        if campaign is None or store.campaign_counts(db, "demo")["completed"] == 0:
            summary = demo.fill_demo(db, "demo", n, seed=20261122)
            click.echo(
                f"demo campaign filled with {summary['completed']} synthetic respondents "
                f"({', '.join(summary['periods'])}) in {summary['seconds']} s"
            )
        (inv,) = store.create_invitations(db, "demo", 1, {"segment": "returning"})
        if store.get_campaign(db, demo.DEMO_BRANDS_SLUG) is None:  # empty: try the brand page
            store.create_campaign(
                db,
                slug=demo.DEMO_BRANDS_SLUG,
                instrument="customer-trust",
                period=demo.current_quarter(),
                brands=demo.DEMO_BRANDS,
                brands_per_respondent=2,
            )
    base = base_url(host, port)
    click.echo(f"respondent link:  {base}/s/demo")
    click.echo(f"invitation link:  {base}/i/{inv['token']}  (single use)")
    click.echo(
        f"brands link:      {base}/s/{demo.DEMO_BRANDS_SLUG}  (tick brands, then rate up to 2)"
    )
    click.echo(f"database:         {db_path}")
    if not no_serve:
        _serve(db_path, host, port, workers)
