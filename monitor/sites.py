"""``chairside sites``: the Mosquitto bridges that join a region's sites to its regional
broker, written from a small sites file so nobody writes them by hand.

Each site keeps its own broker, engine and gateways, and monitors on its own when its
uplink is down. Its broker bridges to the regional one (a Mosquitto ``connection`` block):
the chairs' states, alarms, command results and the engine's status go up, the commands of
remote physicians come down, and readings stay at the site unless the site says otherwise.
The bridge keeps a persistent session on both sides (``cleansession false``), so what must
go up waits in the site broker's queue through an outage, and the commands sent meanwhile
wait at the region. Mosquitto publishes the bridge's state, retained, on
``chairside/bridge/{site}/state`` at both ends ("1" up, "0" down; at the region the "0" is
the bridge's last will), so a remote screen can show a site unreachable instead of its last
state as live.

The regional broker signs clients in and enforces an ACL too: each site's bridge may publish
only its own site's states, alarms, answers and status, and read only its commands; the
region's own users (remote physicians, QA) get, for every site, the rules their role has at
a site (``monitor.access.acl``). A site's engine still takes a remote command's sender from
its topic and the role from its own directory, so a remote override is held to the same
roles as a local one.

The sites file (TOML)::

    [region]
    host = "region.example.org"
    port = 8883
    cafile = "/etc/chairside/region-ca.pem"     # bridge_cafile; absent: no TLS (loopback)
    users = "region-users.toml"                 # the region's own users (optional)

    [sites.east]
    env_file = "/etc/chairside/bridge-east.env" # REMOTE_USERNAME=..., REMOTE_PASSWORD=...
    readings = false                            # true: readings go up as well
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

import click
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from drivers.errors import ChairsideError
from drivers.topics import ROOT, check_ident

from .access import passwords
from .access.acl import Rule, rules
from .access.directory import DirectoryError
from .access.directory import load as load_directory

BRIDGE_ROOT = "chairside/bridge"

UP = ("chairs/+/state", "chairs/+/alarms", "chairs/+/command-results", "engine/status")
"""What every site sends up, under ``chairside/v1/{site}/``."""
READINGS = ("chairs/+/readings/+", "chairs/+/devices/+/status", "chairs/+/gateway/status")
"""What goes up as well where the site says ``readings = true``."""
DOWN = ("chairs/+/commands/+",)
"""What comes down: commands under their sender's name."""


def bridge_state_topic(site: str) -> str:
    """Where Mosquitto says whether the site's bridge is up ("1") or down ("0"), retained."""
    return f"{BRIDGE_ROOT}/{check_ident(site, 'site')}/state"


class SitesError(ChairsideError):
    """The sites file or an env file it names cannot be used: one line."""


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(default=8883, ge=1, le=65535)
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    tls_version: Literal["tlsv1.2", "tlsv1.3"] = "tlsv1.2"
    users: Path | None = None
    keepalive_s: int = Field(default=10, ge=2, le=600)


class SiteEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    env_file: Path
    readings: bool = False


class SitesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: Region
    sites: dict[str, SiteEntry] = Field(min_length=1)

    @field_validator("sites")
    @classmethod
    def _names(cls, value: dict[str, SiteEntry]) -> dict[str, SiteEntry]:
        for name in value:
            check_ident(name, "site")
        return value


def load(path: Path) -> SitesFile:
    """The sites file; relative paths in it are taken from its folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        loaded = SitesFile.model_validate(raw)
    except FileNotFoundError:
        raise SitesError(f"{path}: no such sites file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SitesError(f"{path}: not valid TOML: {exc}") from None
    except (ValidationError, ValueError) as exc:
        raise SitesError(f"{path}: {_first(exc)}") from None
    base = path.parent

    def here(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else base / p)

    region = loaded.region.model_copy(update={
        "cafile": here(loaded.region.cafile), "certfile": here(loaded.region.certfile),
        "keyfile": here(loaded.region.keyfile), "users": here(loaded.region.users)})
    sites = {name: entry.model_copy(update={"env_file": here(entry.env_file)})
             for name, entry in loaded.sites.items()}
    return SitesFile(region=region, sites=sites)


def _first(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        return f"{key}: {err['msg']}"
    return str(exc)


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (``#`` comments, optional quotes), as systemd reads them."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SitesError(f"{path}: cannot read: {exc.strerror}") from None
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        if sep:
            out[name.strip()] = value.strip().strip("'\"")
    return out


def credentials(site: str, entry: SiteEntry) -> tuple[str, str]:
    """The bridge's user name and password at the region, from the site's env file."""
    env = read_env_file(entry.env_file)
    user, password = env.get("REMOTE_USERNAME", f"bridge-{site}"), env.get("REMOTE_PASSWORD")
    if not password:
        raise SitesError(f"{entry.env_file}: REMOTE_PASSWORD is missing")
    if any(c.isspace() for c in password) or "#" in password:
        raise SitesError(f"{entry.env_file}: REMOTE_PASSWORD holds a space or '#', which "
                         "Mosquitto's configuration cannot carry")
    check_ident(user, "user name")
    return user, password


def bridge_conf(region: Region, site: str, entry: SiteEntry, user: str, password: str) -> str:
    """The site broker's ``connection`` block for its bridge to the region."""
    base = f"{ROOT}/{site}"
    up = [*UP, *(READINGS if entry.readings else ())]
    lines = [
        f"# Chairside: site {site!r} bridged to the region, written by `chairside sites`.",
        "# Do not edit: change the sites file and write it again. It holds a password.",
        f"connection chairside-{site}",
        f"address {region.host}:{region.port}",
        f"remote_clientid chairside-bridge-{site}",
        f"remote_username {user}",
        f"remote_password {password}",
        "bridge_protocol_version mqttv311",
        # Persistent sessions at both ends: an outage queues, never drops.
        "cleansession false",
        "local_cleansession false",
        f"keepalive_interval {region.keepalive_s}",
        "restart_timeout 1 30",
        "start_type automatic",
        "notifications true",
        f"notification_topic {bridge_state_topic(site)}",
        # States and statuses stay retained at the region, for screens that start late.
        "bridge_outgoing_retain true",
    ]
    if region.cafile is not None:
        lines += [f"bridge_cafile {region.cafile}", f"bridge_tls_version {region.tls_version}",
                  "bridge_insecure false"]
    if region.certfile is not None and region.keyfile is not None:
        lines += [f"bridge_certfile {region.certfile}", f"bridge_keyfile {region.keyfile}"]
    lines += [f"topic {base}/{leaf} out 1" for leaf in up]
    lines += [f"topic {base}/{leaf} in 1" for leaf in DOWN]
    return "\n".join(lines) + "\n"


def bridge_rules(site: str, entry: SiteEntry) -> list[Rule]:
    """What a site's bridge may do at the region: publish what its site sends up and its
    own state, read its commands."""
    base = f"{ROOT}/{site}"
    up = (*UP, *(READINGS if entry.readings else ()))
    return [*(Rule("write", f"{base}/{leaf}") for leaf in up),
            Rule("write", bridge_state_topic(site)),
            *(Rule("read", f"{base}/{leaf}") for leaf in DOWN)]


def region_acl(sites: SitesFile, bridges: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The regional broker's ACL, and the password hashes of the region's own users (from
    the password file `chairside users` writes beside their directory)."""
    out = ["# Chairside region: written by `chairside sites`. Do not edit."]
    for site, user in sorted(bridges.items()):
        out += ["", f"# the bridge of site {site}", f"user {user}"]
        out += [f"topic {r.access} {r.pattern}"
                for r in bridge_rules(site, sites.sites[site])]
    hashes: dict[str, str] = {}
    if sites.region.users is not None:
        try:
            directory = load_directory(sites.region.users)
            hashes = passwords.read_file(directory.passwd_path)
        except (DirectoryError, passwords.PasswordError) as exc:
            raise SitesError(str(exc)) from None
        for name, person in sorted(directory.enabled().items()):
            if name in bridges.values():
                raise SitesError(f"{sites.region.users}: {name!r} is a bridge's user name")
            out += ["", f"# {person.role}" + (f", {person.name}" if person.name else ""),
                    f"user {name}", f"topic read {BRIDGE_ROOT}/+/state"]
            seen: set[Rule] = set()
            for site in sites.sites:
                for rule in rules(site, name, person):
                    if rule not in seen:
                        seen.add(rule)
                        out.append(f"topic {rule.access} {rule.pattern}")
        hashes = {u: h for u, h in hashes.items() if u in directory.enabled()}
    return "\n".join(out) + "\n", hashes


def write(sites: SitesFile, out: Path, *, iterations: int = passwords.ITERATIONS) -> list[Path]:
    """Every site's bridge (``bridge-{site}.conf``, for that site's broker) and the region's
    password file and ACL (``region.passwd``, ``region.acl``); returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    bridges: dict[str, str] = {}
    hashes: dict[str, str] = {}
    for site, entry in sites.sites.items():
        user, password = credentials(site, entry)
        if user in bridges.values():
            raise SitesError(f"{entry.env_file}: {user!r} is the bridge user of another site")
        bridges[site] = user
        try:
            hashes[user] = passwords.hash_password(password, iterations=iterations)
        except passwords.PasswordError as exc:
            raise SitesError(f"{entry.env_file}: REMOTE_PASSWORD: {exc}") from None
        path = out / f"bridge-{site}.conf"
        passwords.write_private(path, bridge_conf(sites.region, site, entry, user, password))
        written.append(path)
    acl, people = region_acl(sites, bridges)
    passwords.write_file(out / "region.passwd", {**people, **hashes})
    (out / "region.acl").write_text(acl, encoding="utf-8")
    return [*written, out / "region.passwd", out / "region.acl"]


@click.command("sites")
@click.argument("sites_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--out", type=click.Path(path_type=Path, file_okay=False),
              default=Path("sites"), show_default=True, help="folder to write the files in")
def sites_command(sites_file: Path, out: Path) -> None:
    """Write the Mosquitto bridge of every site to the regional broker (include it in the
    site broker's configuration), and the regional broker's password file and ACL."""
    try:
        written = write(load(sites_file), out)
    except SitesError as exc:
        click.echo(f"chairside: {exc}", err=True)
        raise SystemExit(2) from None
    for path in written:
        click.echo(str(path))
    click.echo("Each bridge-SITE.conf holds its site's bridge password: copy it to that "
               "site's broker only (mode 0600).", err=True)
