"""``chairside users``: add, disable, enable and list the site's people and processes, and
write what Mosquitto needs (its password file and ACL) beside the directory, so that nobody
edits an ACL by hand. After a change, Mosquitto reads both files again on SIGHUP
(``systemctl reload mosquitto``); the engine notices the directory change by itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from monitor.cli_support import config_option, settings_from

from . import passwords
from .acl import mosquitto_acl
from .directory import Directory, DirectoryError, User, describe, load, new, save
from .passwords import PasswordError
from .roles import PEOPLE, ROLE_HELP, ROLES

EXIT_INPUT = 2


def _fail(message: str) -> None:
    click.echo(f"chairside users: {message}", err=True)
    sys.exit(EXIT_INPUT)


def _path(config: Path | None, users: Path | None) -> Path:
    if users is not None:
        return users
    configured = settings_from(config).access.users
    if configured is None:
        _fail("no user directory: give --users FILE, or set [access] users in the configuration")
    assert configured is not None
    return configured


def _open(config: Path | None, users: Path | None, site: str | None = None) -> Directory:
    path = _path(config, users)
    try:
        if not path.exists():
            return new(path, site or settings_from(config).site.id)
        return load(path)
    except (DirectoryError, ValueError) as exc:
        _fail(str(exc))
    raise AssertionError  # pragma: no cover


def write_files(directory: Directory, hashes: dict[str, str]) -> None:
    """The directory, then the password file (enabled users only), then the ACL."""
    save(directory)
    enabled = directory.enabled()
    passwords.write_file(directory.passwd_path,
                         {u: h for u, h in hashes.items() if u in enabled})
    directory.acl_path.write_text(mosquitto_acl(directory))


def _read_password(stdin: bool, name: str) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    first = click.prompt(f"password for {name}", hide_input=True)
    second = click.prompt("again", hide_input=True)
    if first != second:
        _fail("the two passwords differ")
    return str(first)


F = TypeVar("F", bound=Callable[..., Any])


def _users_option(func: F) -> F:
    return click.option("--users", "users", type=click.Path(path_type=Path, dir_okay=False),
                        default=None, help="user directory (default: [access] users)")(func)


@click.group("users")
def users_group() -> None:
    """The site's users and roles; writes Mosquitto's password file and ACL beside them."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="; ".join(f"{r}: {h}" for r, h in ROLE_HELP.items()))
@click.option("--chair", default=None, help="a gateway's chair")
@click.option("--full-name", default=None, help="the person's name, for the audit")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--generate", is_flag=True,
              help="generate a password (for a process) and print it once")
@click.option("--env-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="with --generate: write the user name and password as the environment "
              "a systemd unit reads (CHAIRSIDE_MQTT__USERNAME, ..._PASSWORD) instead of "
              "printing the password")
@click.option("--iterations", type=click.IntRange(1000), default=passwords.ITERATIONS,
              show_default=True, help="PBKDF2 iterations")
@_users_option
@config_option
def add(name: str, role: str, chair: str | None, full_name: str | None, password_stdin: bool,
        generate: bool, env_file: Path | None, iterations: int, users: Path | None,
        config: Path | None) -> None:
    """Add NAME with a role and a password (or change an existing user's role and password)."""
    if env_file is not None and not generate:
        _fail("--env-file goes with --generate")
    directory = _open(config, users)
    try:
        user = User.model_validate({"role": role, "chair": chair, "name": full_name})
        directory = directory.with_user(name, user)
        secret = passwords.generate() if generate else _read_password(password_stdin, name)
        hashes = passwords.read_file(directory.passwd_path)
        hashes[name] = passwords.hash_password(secret, iterations=iterations)
    except (ValueError, PasswordError) as exc:
        _fail(describe(exc))
        return
    write_files(directory, hashes)
    click.echo(f"added {name} ({role}" + (f", chair {chair}" if chair else "") + ")")
    if env_file is not None:
        passwords.write_private(env_file, f"CHAIRSIDE_MQTT__USERNAME={name}\n"
                                          f"CHAIRSIDE_MQTT__PASSWORD={secret}\n")
        click.echo(f"credentials in {env_file}")
    elif generate:
        click.echo(f"password: {secret}")
    _reload_hint(directory)


@users_group.command("disable")
@click.argument("name")
@_users_option
@config_option
def disable(name: str, users: Path | None, config: Path | None) -> None:
    """Disable NAME: the broker refuses it once reloaded, the engine at once. Kept in the
    directory so the audit still names who it was."""
    _set_disabled(_open(config, users), name, True)


@users_group.command("enable")
@click.argument("name")
@_users_option
@config_option
def enable(name: str, users: Path | None, config: Path | None) -> None:
    """Enable NAME again (a new password is needed: `chairside users add`)."""
    _set_disabled(_open(config, users), name, False)


def _set_disabled(directory: Directory, name: str, disabled: bool) -> None:
    user = directory.users.get(name)
    if user is None:
        _fail(f"no user {name!r} in {directory.path}")
        return
    hashes = passwords.read_file(directory.passwd_path)
    if not disabled and name not in hashes:
        _fail(f"{name} has no password: set one with `chairside users add {name} "
              f"--role {user.role}`")
    directory = directory.with_user(name, user.model_copy(update={"disabled": disabled}))
    if disabled:
        hashes.pop(name, None)
    write_files(directory, hashes)
    click.echo(f"{'disabled' if disabled else 'enabled'} {name}")
    _reload_hint(directory)


@users_group.command("list")
@_users_option
@config_option
def list_users(users: Path | None, config: Path | None) -> None:
    """Every user: name, role, chair, enabled or not."""
    directory = _open(config, users)
    hashes = passwords.read_file(directory.passwd_path) if directory.path else {}
    click.echo(f"site {directory.site}: {len(directory.users)} users")
    for name in sorted(directory.users):
        u = directory.users[name]
        status = "disabled" if u.disabled else ("enabled" if name in hashes else "no password")
        where = f" chair {u.chair}" if u.chair else ""
        person = f"  {u.name}" if u.name else ""
        kind = "person" if u.role in PEOPLE else "process"
        click.echo(f"{name:<20} {u.role:<10} {kind:<7} {status:<11}{where}{person}")


@users_group.command("write")
@_users_option
@config_option
def write(users: Path | None, config: Path | None) -> None:
    """Write the password file and ACL again from the directory (after editing it)."""
    directory = _open(config, users)
    write_files(directory, passwords.read_file(directory.passwd_path))
    click.echo(f"wrote {directory.passwd_path} and {directory.acl_path}")
    _reload_hint(directory)


def _reload_hint(directory: Directory) -> None:
    click.echo(f"Mosquitto: password_file {directory.passwd_path}, acl_file "
               f"{directory.acl_path}; reload it (SIGHUP) to apply")
