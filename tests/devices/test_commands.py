"""``chairside simulate`` and ``chairside gateway`` as processes, and the demo's rig."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest
import serial

from drivers.clock import SimClock
from drivers.gateway import Gateway
from drivers.protocols.registry import PROTOCOLS
from drivers.wire import DeviceStatus, Reading
from simulators.rig import LAYOUTS, ChairRig, layout_for
from simulators.scenario import load_scenario
from tests.brokers import Broker
from tests.devices.helpers import START
from tests.integration.helpers import Observer, running, site_filters, unique_site

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"ble-2a35", "ble-2a36", "ble-2a37", "nonin-8", "masimo", "hl7", "ble-2a5f",
           "nonin-ascii"}


async def _command(name: str, *args: str, cwd: Path,
                   env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    code = f"from monitor.device_cli import main; main({name!r})"
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, *args, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def _stop(proc: asyncio.subprocess.Process, interrupt: bool = True) -> tuple[int, str]:
    if interrupt and proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    try:
        async with asyncio.timeout(15):
            _, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
    return proc.returncode or 0, err.decode()


def _exists(path: str) -> bool:
    return os.path.lexists(path)


def _read_port(path: str, size: int) -> bytes:
    with serial.serial_for_url(path, baudrate=9600, timeout=3) as port:
        port.reset_input_buffer()
        return bytes(port.read(size))


async def test_simulate_prints_the_pseudo_terminal_path_first(tmp_path: Path) -> None:
    proc = await _command("simulate", "--protocol", "nonin-ascii", "--speed", "10",
                          "--dir", str(tmp_path), "--max-hz", "10", cwd=tmp_path)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            first = (await proc.stdout.readline()).decode().strip()
        assert first == str(tmp_path / "sim-oximeter")
        data = await asyncio.to_thread(_read_port, first, 60)
    finally:
        code, err = await _stop(proc)
    framer = PROTOCOLS["nonin-ascii"].framer
    assert framer is not None
    result = framer().feed(data)
    assert result.measurements, data
    assert code == 130, err
    assert "Traceback" not in err
    assert not _exists(first)  # unplugged on exit


async def test_simulate_ble_prints_its_address_and_serves_it(tmp_path: Path) -> None:
    air = tmp_path / "air"
    proc = await _command("simulate", "--protocol", "ble-2a35", "--ble-air", str(air),
                          cwd=tmp_path)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            first = (await proc.stdout.readline()).decode().strip()
        served = air / (first.replace(":", "") + ".sock")
        assert served.exists()
    finally:
        code, err = await _stop(proc)
    assert code == 130, err
    assert re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", first), first
    assert f"--ble simulated --device ble-2a35:{first}" in err
    assert not served.exists()  # no longer served once it stops


@pytest.mark.broker
async def test_a_gateway_reads_a_ble_device_simulated_by_another_process(
    broker: Broker, tmp_path: Path
) -> None:
    """`chairside simulate` in one process, `chairside gateway --ble simulated` in another:
    the heart-rate notifications travel from one to the other and on to the broker."""
    site, air = unique_site(), str(tmp_path / "air")
    mqtt = broker.settings
    observer = Observer(mqtt, site_filters(site))
    device = await _command("simulate", "--protocol", "ble-2a37", "--speed", "10",
                            "--ble-air", air, cwd=tmp_path)
    gateway: asyncio.subprocess.Process | None = None
    try:
        assert device.stdout is not None
        async with asyncio.timeout(20):
            address = (await device.stdout.readline()).decode().strip()
        async with running(observer.run()):
            await observer.subscribed()
            gateway = await _command(
                "gateway", "--broker", f"mqtt://127.0.0.1:{mqtt.port}", "--site", site,
                "--chair", "c1", "--ble", "simulated", "--ble-air", air,
                "--device", f"hr=ble-2a37:{address}", cwd=tmp_path,
                env={"CHAIRSIDE_GATEWAY__SPOOL_DIR": str(tmp_path / "spool")},
            )
            reading = await observer.wait_for(
                lambda p: isinstance(p, Reading) and p.device == "hr", within=30)
            assert reading.kind == "heart_rate" and reading.source == "ble-2a37"
            assert reading.values.get("heart_rate") is not None
    finally:
        if gateway is not None:
            code, err = await _stop(gateway)
            assert code == 130 and "Traceback" not in err, err
            assert "BLE from the simulated air" in err
        code, err = await _stop(device)
    assert code == 130, err


@pytest.mark.broker
async def test_gateway_command_runs_simulated_devices_through_the_drivers(
    broker: Broker, tmp_path: Path
) -> None:
    site = unique_site()
    mqtt = broker.settings
    observer = Observer(mqtt, site_filters(site))
    async with running(observer.run()):
        await observer.subscribed()
        proc = await _command(
            "gateway", "--broker", f"mqtt://127.0.0.1:{mqtt.port}", "--site", site,
            "--chair", "c1", "--device", "nonin-8:sim", "--device", "ble-2a37:sim:desaturation",
            "--speed", "10", cwd=tmp_path,
            env={"CHAIRSIDE_GATEWAY__SPOOL_DIR": str(tmp_path / "spool")},
        )
        try:
            for device in ("oximeter", "hr-monitor"):
                await observer.wait_for(
                    lambda p, d=device: isinstance(p, Reading) and p.device == d,  # type: ignore[misc]
                    within=30,
                )
        finally:
            code, err = await _stop(proc)
    assert code == 130, err
    assert "Traceback" not in err
    assert "driving oximeter (nonin-8" in err
    assert (tmp_path / "spool" / f"{site}-c1.db").exists()
    statuses = {p.device: p for p in observer.payloads(DeviceStatus)}
    assert set(statuses) == {"oximeter", "hr-monitor"}


async def test_gateway_command_without_devices_is_a_clear_error(tmp_path: Path) -> None:
    proc = await _command("gateway", "--chair", "c9", cwd=tmp_path)
    code, err = await _stop(proc, interrupt=False)
    assert code == 2
    assert "chair 'c9' has no devices" in err and "Traceback" not in err
    proc = await _command("gateway", "--chair", "c9", "--device", "ble-2a49:AA", cwd=tmp_path)
    code, err = await _stop(proc, interrupt=False)
    assert code == 2 and "unknown device protocol 'ble-2a49'" in err


@pytest.mark.broker
async def test_the_demo_rig_mixes_serial_and_ble_devices(broker: Broker, tmp_path: Path) -> None:
    site = unique_site()
    mqtt = broker.settings
    clock = SimClock(60.0, START)
    scenario = load_scenario("uneventful")
    gateways = [Gateway(mqtt, site, f"chair-{n}", clock) for n in range(1, len(LAYOUTS) + 1)]
    rigs = [ChairRig(g.chair, scenario, clock, g, clock.now(), devices=layout_for(n + 1),
                     seed=n, pty_dir=tmp_path / g.chair)
            for n, g in enumerate(gateways)]
    observer = Observer(mqtt, site_filters(site))
    wanted = {(g.chair, d.name) for g, rig in zip(gateways, rigs, strict=True)
              for d in layout_for(int(g.chair.split("-")[1]))}
    async with running(observer.run()):
        await observer.subscribed()
        async with running(*(g.run() for g in gateways), *(r.run() for r in rigs)):
            await observer.wait_for(
                lambda _: wanted <= {(r.chair, r.device) for r in observer.payloads(Reading)}
                and {r.source for r in observer.payloads(Reading)} >= SOURCES,
                within=30,
            )


@pytest.mark.broker
async def test_gateway_command_takes_the_chairs_devices_from_the_configuration(
    broker: Broker, tmp_path: Path
) -> None:
    site = unique_site()
    mqtt = broker.settings
    (tmp_path / "config.toml").write_text(
        f'[site]\nid = "{site}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt.port}\n'
        f'[gateway]\nspool_dir = "{tmp_path / "spool"}"\n'
        '[[gateway.chairs.c2]]\nname = "ox"\nprotocol = "masimo"\nendpoint = "sim"\n'
        '[[gateway.chairs.c2]]\nname = "cuff"\nprotocol = "ble-2a35"\nendpoint = "sim"\n'
    )
    observer = Observer(mqtt, site_filters(site))
    async with running(observer.run()):
        await observer.subscribed()
        proc = await _command("gateway", "--chair", "c2", "--speed", "10", cwd=tmp_path)
        try:
            await observer.wait_for(lambda p: isinstance(p, Reading) and p.device == "ox",
                                    within=30)
            await observer.wait_for(lambda p: isinstance(p, Reading) and p.device == "cuff",
                                    within=30)
        finally:
            code, err = await _stop(proc)
    assert code == 130, err
    assert "driving ox (masimo" in err and "driving cuff (ble-2a35" in err
