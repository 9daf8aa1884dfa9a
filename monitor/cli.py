"""The ``chairside`` command line.

Every command takes ``--config PATH``; every command that connects to the broker also takes
``--broker mqtt://[user:password@]host:port`` and ``--site NAME``. A configuration problem is
one line on standard error and exit code 2, never a traceback.

A command's module is imported only when that command runs (`LazyGroup`): the simulators,
the recorder, the web server and the user directory cost nothing to a command that does not
use them.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from drivers.clock import WallClock
from drivers.wire import PAYLOAD_MODELS
from monitor import __version__
from monitor.cli_support import (
    broker_options,
    config_option,
    fail_config,
    log_to_file,
    run_async,
    settings_from,
)

LAZY: dict[str, tuple[str, str]] = {
    "gateway": ("monitor.device_cli", "commands"),
    "simulate": ("monitor.device_cli", "commands"),
    "serve": ("monitor.serve", "serve"),
    "users": ("monitor.access.commands", "users_group"),
    "sites": ("monitor.sites", "sites_command"),
    **{name: ("monitor.recording.commands", "COMMANDS")
       for name in ("record", "sessions", "export", "replay", "report", "rems-due", "qa",
                    "audit")},
}
"""Commands defined elsewhere: their module, and the command, group, list of commands or
function returning them that it holds."""


class LazyGroup(click.Group):
    """A group that imports a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in LAZY:
            return found
        module, attribute = LAZY[cmd_name]
        held = getattr(importlib.import_module(module), attribute)
        if callable(held) and not isinstance(held, click.Command):
            held = held()
        commands = [held] if isinstance(held, click.Command) else list(held)
        for command in commands:
            if command.name == cmd_name:
                return command
        raise LookupError(f"{module}.{attribute} has no command {cmd_name!r}")


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="chairside")
def main() -> None:
    """Chairside: session-day monitoring for ketamine and esketamine clinics.

    It supports, and does not replace, clinical judgement; it is not a certified medical
    device; the clinic owns every threshold in its configuration.
    """


@main.command()
@broker_options
@click.option("--chairs", type=click.IntRange(1, 24), default=None,
              help="number of chairs (default 4)")
@click.option("--speed", type=click.FloatRange(0.1, 3600), default=None,
              help="simulated time runs N times faster (default from [demo], 60)")
@click.option("--headless", is_flag=True, help="no screen: print readings and alarms")
@click.option("--duration", type=click.FloatRange(0.1), default=None,
              help="stop cleanly after this many wall seconds")
@click.option("--external-broker", is_flag=True,
              help="use the configured broker instead of the embedded one")
def demo(
    config: Path | None, broker: str | None, site: str | None, chairs: int | None,
    speed: float | None, headless: bool, duration: float | None, external_broker: bool,
) -> None:
    """Everything in one process: embedded broker, simulated patients and devices, gateways,
    engine and dashboard. No hardware, no setup."""
    from monitor.demo import run_demo

    settings = settings_from(config, broker, site)
    if not headless:
        log_to_file(Path("var/log/chairside-demo.log"))
    if not broker and not external_broker:
        settings = settings.model_copy(
            update={"mqtt": settings.mqtt.model_copy(update={"broker": "embedded", "port": 0})}
        )
    code = run_async(
        run_demo(
            settings,
            chairs=chairs or settings.demo.chairs,
            speed=speed or settings.demo.speed,
            headless=headless,
            duration=duration,
            record=settings.demo.record_path,
        )
    )
    sys.exit(code)


@main.command()
@broker_options
def engine(config: Path | None, broker: str | None, site: str | None) -> None:
    """The session engine: sessions, alarms, observation clock, discharge readiness."""
    from monitor.engine_service import EngineService

    settings = settings_from(config, broker, site)
    hosting = settings.mqtt.broker == "embedded"
    if hosting and settings.mqtt.port == 0:
        fail_config("mqtt.port = 0: the embedded broker that `chairside engine` hosts for the "
                    "other processes needs a fixed port")
    service = EngineService(settings.mqtt, settings.site.id, settings.engine, WallClock(),
                            chairs=list(settings.gateway.chairs), users=settings.access.users)

    async def go() -> None:
        if not hosting:
            await service.run()
            return
        # One machine and no Mosquitto: the engine hosts the broker, on loopback, and the
        # gateways, dashboards and recorder with the same configuration connect to it.
        from monitor.access.directory import load
        from monitor.access.passwords import read_file
        from monitor.broker import embedded_broker

        users = None
        if settings.access.users is not None:
            directory = load(settings.access.users)
            users = (directory, read_file(directory.passwd_path))
        async with embedded_broker(settings.mqtt, users) as live:
            service.mqtt = live
            await service.run()

    sys.exit(run_async(go()))


@main.command()
@broker_options
@click.option("--chair", default=None, help="open this chair's view (default: the overview)")
@click.option("--kiosk", is_flag=True,
              help="a read-only wall display: no sign-in, no commands; connects as [mqtt] "
                   "username (a display account)")
@click.option("--remote", is_flag=True,
              help="watch the site from the regional broker: its bridge's state says when it "
                   "is unreachable, and no command is sent to it then")
@click.option("--sites", default=None, metavar="SITE,SITE|all",
              help="watch these sites from the regional broker, each in a group under its "
                   "link (implies --remote); 'all': every site the region's broker has a "
                   "bridge of that the signed-in user may see")
def dashboard(config: Path | None, broker: str | None, site: str | None, chair: str | None,
              kiosk: bool, remote: bool, sites: str | None) -> None:
    """The Textual dashboard, connected to the configured broker. With [access] users, it
    asks who is there before it shows a patient."""
    from drivers.topics import check_ident
    from monitor.access.directory import Directory, DirectoryError, load
    from monitor.dashboard.app import ALL_SITES, DashboardApp

    settings = settings_from(config, broker, site)
    directory: Directory | None = None
    if settings.access.users is not None and not kiosk:
        try:
            directory = load(settings.access.users)
        except DirectoryError as exc:
            fail_config(str(exc))
    log_to_file(Path("var/log/chairside-dashboard.log"))
    chairs = list(settings.gateway.chairs)
    if chair and chair not in chairs:
        chairs.append(chair)
    watched: list[str] | None = None
    if sites is not None:
        watched = [name.strip() for name in sites.split(",") if name.strip()]
        try:
            for name in watched:
                if name != ALL_SITES:
                    check_ident(name, "site")
        except ValueError as exc:
            fail_config(f"--sites: {exc}")
        if not watched or chair is not None:
            fail_config("--sites: name one site or more, or 'all' (and open a chair from "
                        "the overview, not with --chair)")
    app = DashboardApp(settings.mqtt, settings.site.id, settings.dashboard, WallClock(),
                       chairs=chairs, chair=chair, protocols=list(settings.engine.protocols),
                       tz=settings.site.zone(), directory=directory, kiosk=kiosk,
                       idle_lock_s=settings.access.idle_lock_s, remote=remote, sites=watched)
    app.run()


SCHEMA_NAMES = ["report", *PAYLOAD_MODELS]
"""What ``chairside schema NAME`` prints: the session report, or one wire payload."""


@main.command(help=(
    "Print a JSON Schema: of every wire payload (contract v1), keyed by name; with NAME, "
    "of that payload alone, or of the session report (`report`: what `chairside report "
    "--format json` writes, docs/report.schema.json).\n\nNAME is one of: "
    + ", ".join(SCHEMA_NAMES) + "."))
@config_option
@click.argument("name", required=False, type=click.Choice(SCHEMA_NAMES), metavar="[NAME]")
def schema(config: Path | None, name: str | None) -> None:
    from drivers.wire import json_schemas
    from monitor.recording.report_model import report_schema

    settings_from(config)
    if name is None:
        found = json_schemas()
    elif name == "report":
        found = report_schema()
    else:
        found = json_schemas()[name]
    click.echo(json.dumps(found, indent=2))


@main.command(context_settings={"ignore_unknown_options": True})
@config_option
@click.argument("protocol")
@click.argument("frames", nargs=-1)
def decode(config: Path | None, protocol: str, frames: tuple[str, ...]) -> None:
    """Decode captured frames of PROTOCOL to JSON, one object a line, for field debugging.

    Each FRAME is one frame in hex (spaces allowed, quote it). With none, a raw byte stream
    is read from standard input through the protocol's framer. Protocols: ble-2a35 ble-2a36
    ble-2a37 ble-2a49 ble-2a5e ble-2a5f ble-2a60 nonin-2 nonin-7 nonin-8 nonin-ascii masimo
    hl7. A frame that cannot be decoded is reported on standard error (protocol, byte
    offset, reason) and the exit code is 1, after the rest are decoded.
    """
    from drivers.decode import run

    settings_from(config)  # the same configuration rules as every command (logging level)
    sys.exit(run(protocol, list(frames), sys.stdin.buffer, sys.stdout, sys.stderr))


@main.command()
@broker_options
def status(config: Path | None, broker: str | None, site: str | None) -> None:
    """The site at a glance: engine, gateways, spools and devices, from their retained
    statuses. Exit 0 when every part is live and every device connected, 1 when not (each
    problem on a line), 2 when the configuration or the broker cannot be used."""
    import aiomqtt

    from drivers.mqtt_settings import BrokerRefused
    from monitor.site_status import read_site

    settings = settings_from(config, broker, site)
    try:
        found = asyncio.run(read_site(settings.mqtt, settings.site.id, datetime.now(UTC)))
    except BrokerRefused as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
        click.echo(f"chairside: broker {settings.mqtt.url()} cannot be read: {exc}", err=True)
        sys.exit(2)
    for line in found.lines():
        click.echo(line)
    problems = found.problems()
    for problem in problems:
        click.echo(f"PROBLEM  {problem}")
    sys.exit(1 if problems else 0)


@main.command("check-config")
@config_option
def check_config(config: Path | None) -> None:
    """Validate the configuration and print it as loaded."""
    settings = settings_from(config)
    click.echo(settings.model_dump_json(indent=2, exclude={"mqtt": {"password"}}))


if __name__ == "__main__":  # pragma: no cover
    main()
