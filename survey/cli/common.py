"""Plumbing shared by every ``trustmeter`` command: one ``--db`` option, one way to open
the database, one way to turn the library's argument errors into ``Error: ...``."""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import click
from sqlite_utils import Database

from survey.storage import audit, migrations
from survey.storage.db import DEFAULT_DB, ENV_VAR, init_db, open_db

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000


def db_option(f: Callable) -> Callable:
    """The ``--db PATH`` option every database command takes (``$TRUSTMETER_DB``)."""
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False),
        default=DEFAULT_DB,
        envvar=ENV_VAR,
        show_default=True,
        show_envvar=True,
        help="SQLite database file.",
    )(f)


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Report the library's argument errors as ``Error: ...`` instead of a traceback."""
    try:
        yield
    except (ValueError, LookupError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise click.ClickException(str(msg)) from None


@contextlib.contextmanager
def open_database(db_path: str, *, create: bool = False) -> Iterator[Database]:
    """Open the database for a command.

    With ``create`` it is created or upgraded (what ``init`` does); otherwise it must
    exist and be current, or the command ends with a message saying what to run.
    """
    if not create and not Path(db_path).is_file():
        raise click.ClickException(
            f"no database at {db_path}; create it with 'trustmeter init --db {db_path}'"
        )
    with cli_errors(), open_db(db_path) as db:
        if create:
            init_db(db)
        elif migrations.pending(db):
            raise click.ClickException(
                f"the database {db_path} is not initialized or is out "
                f"of date; run 'trustmeter init --db {db_path}'"
            )
        yield db


def parse_params(values: Iterable[str], hint: str = "'--param'") -> dict[str, str]:
    """``("segment=loyal", ...)`` -> ``{"segment": "loyal"}``; bad or repeated names are errors."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise click.BadParameter(
                f"{v!r} is not NAME=VALUE (e.g. segment=loyal)", param_hint=hint
            )
        if name.strip() in out:
            raise click.BadParameter(f"{name.strip()!r} is given twice", param_hint=hint)
        out[name.strip()] = value.strip()
    return out


def base_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """The address links point to when the server listens on ``host:port``."""
    shown = DEFAULT_HOST if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


# ----- audit of the data-changing commands -------------------------------------------
def cli_user() -> str:
    """``cli:$USER``: the audit user of a command-line action."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = os.environ.get("USER") or "unknown"
    return f"cli:{name}"


def log_cli(
    db_path: str | os.PathLike[str],
    action: str,
    *,
    target: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Log a command-line action in the database at ``db_path``, if it has the audit
    table (a database not yet upgraded is left alone)."""
    path = os.fspath(db_path)
    if not os.path.isfile(path):
        return
    with open_db(path) as db:
        if audit.has_log(db):
            audit.log(db, action, user=cli_user(), target=target, details=details)


def export_rows(output: Any) -> int | None:
    """Rows of a finished export, read from its manifest (``None`` if unreadable)."""
    try:
        with open(f"{output}.manifest.json", encoding="utf-8") as f:
            return int(json.load(f)["rows"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def audited(action: str, describe: Callable[[dict], tuple[str, Mapping[str, Any]]]):
    """Decorate a command's callback: after it succeeds, write ``action`` to the audit
    log, with ``(target, details) = describe(kwargs)`` taken from its parameters."""

    def decorate(callback: Callable) -> Callable:
        @functools.wraps(callback)
        def wrapper(*args, **kwargs):
            result = callback(*args, **kwargs)
            try:
                target, details = describe(kwargs)
                log_cli(kwargs["db_path"], action, target=target, details=details)
            except Exception as e:  # never fail a command that succeeded because of its audit
                click.echo(f"warning: could not write the audit log: {e}", err=True)
            return result

        return wrapper

    return decorate
