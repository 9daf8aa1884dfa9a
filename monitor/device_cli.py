"""``chairside gateway`` and ``chairside simulate``: the device side on the command line.

``chairside gateway --chair ID [--device [NAME=]PROTOCOL:ENDPOINT[@BAUD] ...]`` runs the
chair's drivers (from ``[[gateway.chairs.ID]]`` in the configuration, or from the
``--device`` options) and publishes their Readings and device status through the chair's
on-disk spool (``[gateway].spool_dir``/SITE-CHAIR.db), so nothing is lost while the broker is
away and a restart resumes where it stopped.

``chairside simulate --protocol P --scenario S [--speed N]`` runs one simulated device and
prints where to reach it as the first line of standard output, then runs until interrupted:

* a serial protocol: the path of its pseudo-terminal (a stable link that survives the
  simulated unplugging), to give to ``chairside gateway --device P:PATH``;
* a BLE protocol: its address. The device is served in the simulated air (Unix sockets in
  ``--ble-air``, one folder per machine by default), which a gateway reads with
  ``--ble simulated``: ``chairside gateway --chair c1 --ble simulated --device
  ble-2a37:ADDRESS``, through the same simulated bleak backend and the real BLE driver.

A gateway can also run simulated devices itself: ``--device ble-2a37:sim[:SCENARIO]`` (the
``sim`` endpoint works for serial protocols too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from drivers.clock import Clock, SimClock, WallClock
from drivers.device_spec import (
    DeviceSpecError,
    check_protocol,
    default_name,
    parse_device_spec,
    spec_from_entry,
    unique_names,
)
from drivers.devices import make_driver
from drivers.gateway import Gateway, SeqStore, open_spool, spool_path
from drivers.ledger import Ledger
from drivers.spool import SpoolError
from drivers.tasks import first_failure
from simulators.devices import SIM_PROTOCOLS, SimBleHub, SimContext, make_sim
from simulators.devices.ble_air import AirLink, AirServer, default_air, socket_path
from simulators.devices.pty import default_dir
from simulators.patient import Patient
from simulators.rig import resolve_simulated
from simulators.scenario import ScenarioError, load_scenario

log = logging.getLogger(__name__)

EXIT_CONFIG = 2


def _exists(path: str) -> bool:
    return os.path.lexists(path)


def _fail(message: str) -> None:
    click.echo(f"chairside: {message}", err=True)
    sys.exit(EXIT_CONFIG)


def run_gateway(config: Path | None, broker: str | None, site: str | None, chair: str,
            devices: tuple[str, ...], scenario: str, speed: float, ble: str,
            ble_air: Path | None, ledger: Path | None = None) -> None:
    """One chair's gateway: its device drivers, publishing through the on-disk spool."""
    from monitor.cli_support import run_async, settings_from

    settings = settings_from(config, broker, site)
    try:
        if devices:
            specs = [parse_device_spec(text) for text in devices]
        else:
            specs = [spec_from_entry(e) for e in settings.gateway.chairs.get(chair, [])]
        specs = unique_names(specs)
        for spec in specs:
            check_protocol(spec.protocol)
    except DeviceSpecError as exc:
        _fail(str(exc))
    if not specs:
        _fail(f"chair {chair!r} has no devices: add [[gateway.chairs.{chair}]] tables to the "
              "configuration or give --device PROTOCOL:ENDPOINT")
    simulated = any(s.simulated for s in specs)
    if speed != 1.0 and not simulated:
        _fail("--speed applies to simulated (sim) devices only")
    try:
        chosen = load_scenario(scenario)
    except ScenarioError as exc:
        _fail(str(exc))
    gw = settings.gateway
    try:
        spool = open_spool(gw.spool_dir, settings.site.id, chair, gw.spool_capacity,
                           gw.spool_warn_fraction)
    except (SpoolError, OSError, ValueError) as exc:
        _fail(str(exc))
    clock: Clock = SimClock(speed) if simulated else WallClock()

    async def go() -> None:
        with (spool, tempfile.TemporaryDirectory(prefix="chairside-sim-") as pty_dir,
              contextlib.ExitStack() as stack):
            seq = SeqStore(spool_path(gw.spool_dir, settings.site.id, chair).with_suffix(".seq"))
            audit = stack.enter_context(Ledger(ledger)) if ledger is not None else None
            gateway = Gateway(settings.mqtt, settings.site.id, chair, clock, spool,
                              seq_store=seq, status_interval_s=gw.status_interval_s,
                              confirm_by=gw.confirm_by, on_accept=audit)
            hub = SimBleHub()
            try:
                real, sims = resolve_simulated(specs, chair, clock, clock.now(),
                                               scenario=chosen, hub=hub, pty_dir=pty_dir)
            except ScenarioError as exc:
                _fail(str(exc))
            kwargs: dict[str, Any] = {}
            if simulated or ble == "simulated":
                kwargs = {"ble_client_backend": hub.client_backend(),
                          "ble_scanner_backend": hub.scanner_backend()}
            drivers = [make_driver(spec, chair, gateway, clock, **kwargs) for spec in real]
            for spec in real:
                click.echo(f"gateway {chair}: driving {spec.label()}", err=True)
            if len(spool):
                click.echo(f"gateway {chair}: {len(spool)} readings waiting in {spool.path} "
                           "from before; publishing them first", err=True)
            async with asyncio.TaskGroup() as group:
                group.create_task(gateway.run(), name="gateway")
                if ble == "simulated":
                    air = ble_air or default_air()
                    click.echo(f"gateway {chair}: BLE from the simulated air in {air}", err=True)
                    group.create_task(AirLink(hub, air).run(), name="ble-air")
                for sim in sims:
                    group.create_task(sim.run(), name=f"sim-{sim.name}")
                await asyncio.sleep(0)
                for driver in drivers:
                    group.create_task(driver.run(), name=f"driver-{driver.name}")

    sys.exit(run_async(go()))


def run_simulate(config: Path | None, protocol: str, scenario: str, speed: float,
             name: str | None, folder: Path | None, max_hz: float, seed: int | None,
             ble_air: Path | None) -> None:
    """Run one simulated device; print its endpoint (pseudo-terminal path or BLE address)
    as the first line, then run until interrupted."""
    from monitor.cli_support import run_async, settings_from

    settings_from(config)
    try:
        chosen = load_scenario(scenario)
    except ScenarioError as exc:
        _fail(str(exc))
    device_name = name or default_name(protocol)
    clock = SimClock(speed)

    async def go() -> None:
        ctx = SimContext(Patient(chosen, seed), clock, clock.now())
        hub = SimBleHub()
        sim = make_sim(protocol, ctx, name=device_name, chair="sim", hub=hub,
                       pty_dir=folder or default_dir(), max_hz=max_hz)
        ble = protocol.startswith("ble-")
        air = ble_air or default_air()
        parts = [sim.run()] + ([AirServer(hub, air).run()] if ble else [])
        task = asyncio.create_task(first_failure(*parts))
        where = str(socket_path(air, sim.endpoint)) if ble else sim.endpoint
        for _ in range(200):  # the pseudo-terminal is plugged in (or the device is served)
            await asyncio.sleep(0.01)
            if _exists(where):
                break
        click.echo(sim.endpoint)
        sys.stdout.flush()
        if ble:
            click.echo(
                f"simulated BLE device {sim.endpoint}, served in the simulated air {air}; "
                f"read it with: chairside gateway --chair CHAIR --ble simulated "
                f"--device {protocol}:{sim.endpoint}", err=True)
        else:
            click.echo(f"simulated {protocol} device on {sim.endpoint}; e.g. chairside gateway "
                       f"--chair CHAIR --device {protocol}:{sim.endpoint}", err=True)
        try:
            await task
        finally:
            sim.close()

    sys.exit(run_async(go()))


def commands() -> list[click.Command]:
    """The click commands ``gateway`` and ``simulate``, to register on ``chairside``.

    Built on call, with the shared options of `monitor.cli`, so that `monitor.cli` can
    register them at its end (``for c in commands(): main.add_command(c)``) without an
    import cycle.
    """
    from monitor.cli_support import broker_options, config_option

    air_option = click.option(
        "--ble-air", type=click.Path(path_type=Path, file_okay=False), default=None,
        help=f"folder of the simulated BLE air (default: {default_air()})")
    gateway_options = [
        click.option("--chair", required=True, help="the chair this gateway serves"),
        click.option(
            "--device", "devices", multiple=True, metavar="[NAME=]PROTOCOL:ENDPOINT[@BAUD]",
            help="a device to drive instead of the configured ones (repeatable); ENDPOINT is "
                 "a serial path or URL, a BLE address, service[:1810|180d|1822], or "
                 "sim[:SCENARIO] for a simulated device run in this process",
        ),
        click.option("--scenario", default="uneventful", show_default=True,
                     help="patient scenario of simulated (sim) devices"),
        click.option("--speed", type=click.FloatRange(0.1, 3600), default=1.0,
                     show_default=True,
                     help="simulated time runs N times faster (only with sim devices)"),
        click.option("--ble", type=click.Choice(["system", "simulated"]), default="system",
                     show_default=True,
                     help="BLE devices from the system's Bluetooth, or from the simulated air "
                          "that `chairside simulate` serves on this machine"),
        air_option,
        click.option("--ledger", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="append one JSON line per accepted reading (id, device, seq, kind) "
                          "to this file: an audit of what the gateway owes downstream"),
    ]
    simulate_options = [
        click.option("--protocol", "protocol", required=True,
                     type=click.Choice(SIM_PROTOCOLS), help="the device's protocol"),
        click.option("--scenario", default="uneventful", show_default=True,
                     help="patient scenario (shipped name or TOML path)"),
        click.option("--speed", type=click.FloatRange(0.1, 3600), default=1.0,
                     show_default=True, help="simulated time runs N times faster"),
        click.option("--name", default=None, help="device name (default from the protocol)"),
        click.option("--dir", "folder", type=click.Path(path_type=Path, file_okay=False),
                     default=None, help="folder for the pseudo-terminal link (serial devices)"),
        click.option("--max-hz", type=click.FloatRange(0.1, 100), default=4.0,
                     show_default=True,
                     help="most reports per wall second (thins the stream at high speeds)"),
        click.option("--seed", type=int, default=None,
                     help="patient seed (default: the scenario's)"),
        air_option,
    ]
    gateway: Callable[..., None] = run_gateway
    for option in reversed(gateway_options):
        gateway = option(gateway)
    simulate: Callable[..., None] = run_simulate
    for option in reversed(simulate_options):
        simulate = option(simulate)
    return [
        click.command("gateway")(broker_options(gateway)),
        click.command("simulate")(config_option(simulate)),
    ]


def main(name: str) -> None:
    """Run one of these commands on its own (``python -c``; tests)."""
    {command.name: command for command in commands()}[name]()


__all__ = ["commands", "main", "run_gateway", "run_simulate"]
