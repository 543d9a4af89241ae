"""``trustmeter user``: researcher accounts from the command line.

Passwords are never taken as arguments (they would end up in shell history and the
process list): they are prompted for, twice, or read from standard input with
``--password-stdin`` (the first line, for scripts). Every change is written to the
audit log as ``cli:$USER``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from survey.cli.common import cli_user, db_option, open_database
from survey.storage import audit, users


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        return users.check_password(password)
    except ValueError as e:
        raise click.ClickException(str(e)) from None


def _password_stdin(f: Callable) -> Callable:
    return click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from the first line of standard input instead of prompting.",
    )(f)


@click.group("user")
def user_group() -> None:
    """Manage researcher accounts (roles: viewer, researcher, admin)."""


@user_group.command("add")
@db_option
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(users.ROLES),
    required=True,
    help="viewer: reports; researcher: also campaigns and exports; admin: also "
    "users and the audit log.",
)
@_password_stdin
def user_add(db_path: str, username: str, role: str, password_stdin: bool) -> None:
    """Create user USERNAME; the password is prompted for (or read with --password-stdin)."""
    try:
        users.check_username(username)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    with open_database(db_path) as db:
        if users.get_user(db, username) is not None:
            raise click.ClickException(f"a user named {username!r} already exists")
        u = users.create_user(db, username, _read_password(password_stdin), role)
        audit.log(db, "user.add", user=cli_user(), target=u["username"], details={"role": role})
    click.echo(f"created user {u['username']} ({u['role']})")


@user_group.command("list")
@db_option
def user_list(db_path: str) -> None:
    """List users (tab-separated): username, role, status, last login."""
    with open_database(db_path) as db:
        click.echo("username\trole\tstatus\tlast_login")
        for u in users.list_users(db):
            click.echo(
                "\t".join(
                    [
                        u["username"],
                        u["role"],
                        "disabled" if u["disabled"] else "active",
                        u["last_login_at"] or "never",
                    ]
                )
            )


@user_group.command("set-role")
@db_option
@click.argument("username")
@click.argument("role", type=click.Choice(users.ROLES))
def user_set_role(db_path: str, username: str, role: str) -> None:
    """Give USERNAME the role ROLE."""
    with open_database(db_path) as db:
        before = users.get_user(db, username)
        u = users.set_role(db, username, role)
        audit.log(
            db,
            "user.role",
            user=cli_user(),
            target=u["username"],
            details={"from": before["role"], "to": role},
        )
    click.echo(f"{u['username']} is now {u['role']}")


@user_group.command("disable")
@db_option
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
def user_disable(db_path: str, username: str, enable: bool) -> None:
    """Disable USERNAME: they cannot sign in and their sessions end at once."""
    with open_database(db_path) as db:
        u = users.set_disabled(db, username, not enable)
        audit.log(
            db, "user.enable" if enable else "user.disable", user=cli_user(), target=u["username"]
        )
    click.echo(f"{u['username']} is {'disabled' if u['disabled'] else 'enabled'}")


@user_group.command("passwd")
@db_option
@click.argument("username")
@_password_stdin
def user_passwd(db_path: str, username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME (their sessions end)."""
    with open_database(db_path) as db:
        if users.get_user(db, username) is None:
            raise click.ClickException(f"unknown user {username!r}")
        u = users.set_password(db, username, _read_password(password_stdin))
        audit.log(db, "user.passwd", user=cli_user(), target=u["username"])
    click.echo(f"password of {u['username']} changed")
