"""The site's user directory: one TOML file naming every person and process and its role.

It holds no secrets (passwords live in the broker's password file beside it), so a screen
on another machine may carry a copy to learn its user's role. ``chairside users`` is the one
writer; the engine reads it again whenever it changes.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drivers.errors import ChairsideError
from drivers.topics import check_ident

from .roles import ROLES, Role


class DirectoryError(ChairsideError, ValueError):
    """A user directory that cannot be read, or a change that cannot be made."""


class User(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    name: str | None = Field(default=None, max_length=80, description="full name, for audit")
    chair: str | None = Field(default=None, description="the gateway's chair")
    disabled: bool = False

    @model_validator(mode="after")
    def _chair_for_gateways(self) -> User:
        if (self.role == "gateway") != (self.chair is not None):
            raise ValueError("a gateway names its chair, and only a gateway does")
        if self.chair is not None:
            check_ident(self.chair, "chair")
        return self


@dataclass(frozen=True)
class Directory:
    """Users by name. ``path`` is where it was read from; the password file and the ACL are
    written beside it (``users.passwd``, ``users.acl``)."""

    site: str
    users: dict[str, User]
    path: Path | None = None

    def role_of(self, user: str) -> Role | None:
        """The role of an enabled user, or None (unknown or disabled)."""
        found = self.users.get(user)
        return None if found is None or found.disabled else found.role

    def enabled(self) -> dict[str, User]:
        return {name: u for name, u in self.users.items() if not u.disabled}

    @property
    def passwd_path(self) -> Path:
        return self._beside(".passwd")

    @property
    def acl_path(self) -> Path:
        return self._beside(".acl")

    def _beside(self, suffix: str) -> Path:
        if self.path is None:
            raise DirectoryError("this directory was not read from a file")
        return self.path.with_suffix(suffix)

    def with_user(self, name: str, user: User) -> Directory:
        check_ident(name, "user name")
        return Directory(self.site, {**self.users, name: user}, self.path)


def load(path: Path) -> Directory:
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise DirectoryError(
            f"{path}: no user directory; create it with `chairside users add`") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DirectoryError(f"{path}: {exc}") from None
    site = raw.get("site")
    if not isinstance(site, str):
        raise DirectoryError(f"{path}: `site = \"...\"` is missing")
    users: dict[str, User] = {}
    for name, entry in (raw.get("users") or {}).items():
        try:
            check_ident(name, "user name")
            users[name] = User.model_validate(entry)
        except (ValueError, ValidationError) as exc:
            raise DirectoryError(f"{path}: user {name!r}: {describe(exc)}") from None
    return Directory(site, users, path)


def new(path: Path, site: str) -> Directory:
    return Directory(check_ident(site, "site"), {}, path)


def save(directory: Directory) -> None:
    if directory.path is None:
        raise DirectoryError("nowhere to save this directory")
    lines = [
        "# The site's users and their roles, written by `chairside users`. No secrets here:",
        "# passwords are in the broker's password file beside it.",
        f"# Roles: {', '.join(ROLES)}.",
        f"site = {_toml(directory.site)}",
    ]
    for name in sorted(directory.users):
        user = directory.users[name]
        lines.append("")
        lines.append(f"[users.{_toml(name)}]")
        for key, value in user.model_dump(exclude_defaults=True).items():
            lines.append(f"{key} = {_toml(value)}")
    tmp = directory.path.with_name(directory.path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, directory.path)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def describe(exc: Exception) -> str:
    """One line for a validation error or any other ValueError."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}".replace(
                "entry: Value error, ", "") for e in exc.errors()
        )
    return str(exc)
