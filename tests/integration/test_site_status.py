"""``chairside status`` as a clinic runs it: a real process reading a real broker, naming
what is not live (a stopped gateway, a degraded device) and exiting 1, or 2 with one line
when the broker cannot be reached."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.clock import WallClock
from drivers.gateway import Gateway
from drivers.wire import DeviceCounters, DeviceStatus
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.brokers import Broker, free_port
from tests.integration.helpers import running, unique_site

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]


def env(port: int, site: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "CHAIRSIDE_CONFIG": str(ROOT / "config.toml"),
            "CHAIRSIDE_MQTT__BROKER": "external", "CHAIRSIDE_MQTT__HOST": "127.0.0.1",
            "CHAIRSIDE_MQTT__PORT": str(port), "CHAIRSIDE_SITE__ID": site}


async def status(port: int, site: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli", "status", env=env(port, site),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_status_names_what_is_not_live(broker: Broker) -> None:
    site = unique_site()
    mqtt = broker.settings
    clock = WallClock()
    engine = EngineService(mqtt, site, EngineConfig(), clock, chairs=["chair-1", "chair-2"],
                           restore_wait_s=1.0)
    live = Gateway(mqtt, site, "chair-1", clock, status_interval_s=1.0)
    live.device_status(DeviceStatus(chair="chair-1", device="oxi", source="nonin-8",
                                    state="degraded", at=datetime.now(UTC),
                                    reason="checksum errors: 12 in the last minute"))
    unread = "heart rate not readable from this device (147842: unit mm[Hg] does not fit)"
    live.device_status(DeviceStatus(chair="chair-1", device="monitor", source="hl7",
                                    state="degraded", at=datetime.now(UTC), reason=unread,
                                    unreadable={"heart_rate": unread},
                                    counters=DeviceCounters(frames=4, unreadable=4)))
    gone = Gateway(mqtt, site, "chair-2", clock, status_interval_s=1.0)
    async with running(engine.run(), live.run()):
        await engine.connected.wait()
        await live.connected.wait()
        async with running(gone.run()):
            await gone.connected.wait()
        await asyncio.sleep(0.5)
        code, out, err = await status(mqtt.port, site)
    assert code == 1, (out, err)
    assert "engine   online" in out
    assert "chair-2: gateway offline since" in out
    assert "chair-1/oxi: degraded: checksum errors: 12 in the last minute" in out
    assert f"chair-1/monitor: degraded: {unread}" in out
    assert "monitor      degraded     spooled 0  unreadable 4  heart rate not readable" in out
    assert "chair-1: gateway" not in out.split("PROBLEM", 1)[1]


async def test_status_with_no_broker_says_so_in_one_line_and_exits_2() -> None:
    code, _, err = await status(free_port(), unique_site())
    assert code == 2
    assert err.count("\n") == 1 and "cannot be read" in err, err
