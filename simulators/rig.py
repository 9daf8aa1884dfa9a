"""One chair's simulated devices and the real drivers that read them, feeding a gateway.

The demo runs a `ChairRig` per chair: simulated devices produce the bytes of their protocol
(serial devices on pseudo-terminals, BLE devices in the simulated BLE world), and the same
drivers a clinic runs (`drivers.serial_driver`, `drivers.ble_driver`) open them, decode them
and hand Readings and device status to the chair's gateway. Only the device end is
simulated.

Layouts mix serial and BLE devices (`LAYOUTS`, by chair number, cycling):

* chair 1: BLE cuff (2A35/2A36) + BLE heart-rate monitor (2A37) + Nonin #8 oximeter (serial)
* chair 2: BLE cuff + Masimo oximeter (serial)
* chair 3: HL7 monitor over a pseudo-terminal (BP, SpO2, HR) + BLE PLX oximeter (2A5F)
* chair 4: BLE cuff + Nonin ASCII oximeter (serial) + BLE heart-rate monitor

`resolve_simulated` serves ``chairside gateway``: devices written ``PROTOCOL:sim`` or
``PROTOCOL:sim:SCENARIO`` get a simulated device in the gateway's process (a BLE device
simulated in another process cannot be reached: the simulated BLE world lives in one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from drivers.clock import Clock
from drivers.device_spec import DeviceSpec
from drivers.devices import Driver, DriverOptions, make_driver
from drivers.tracker import Sink
from simulators.devices import SimBleHub, SimContext, SimDevice, make_sim
from simulators.patient import Patient
from simulators.scenario import Scenario, load_scenario

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RigDevice:
    name: str
    protocol: str


LAYOUTS: tuple[tuple[RigDevice, ...], ...] = (
    (RigDevice("bp-cuff", "ble-2a35"), RigDevice("hr-monitor", "ble-2a37"),
     RigDevice("oximeter", "nonin-8")),
    (RigDevice("bp-cuff", "ble-2a35"), RigDevice("oximeter", "masimo")),
    (RigDevice("monitor", "hl7"), RigDevice("oximeter", "ble-2a5f")),
    (RigDevice("bp-cuff", "ble-2a35"), RigDevice("oximeter", "nonin-ascii"),
     RigDevice("hr-monitor", "ble-2a37")),
)


def layout_for(number: int) -> tuple[RigDevice, ...]:
    """The devices of chair ``number`` (1-based), cycling through `LAYOUTS`."""
    return LAYOUTS[(number - 1) % len(LAYOUTS)]


RIG_OPTIONS = DriverOptions(reconnect_max_s=2.0, garbage_window_s=3.0)
"""Driver tuning for simulated devices: quicker reconnects, a shorter garbage window (wall
seconds; the demo's simulated time runs much faster)."""


class ChairRig:
    """Simulated devices + real drivers for one chair."""

    def __init__(
        self,
        chair: str,
        scenario: Scenario,
        clock: Clock,
        sink: Sink,
        session_start: datetime,
        *,
        devices: Sequence[RigDevice] = LAYOUTS[0],
        hub: SimBleHub | None = None,
        pty_dir: str | Path | None = None,
        seed: int | None = None,
        max_hz: float = 4.0,
        cuff_interval_min: float = 5.0,
        options: DriverOptions | None = None,
    ) -> None:
        self.chair = chair
        self.hub = hub if hub is not None else SimBleHub()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if pty_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="chairside-rig-")
            pty_dir = self._tmp.name
        self.ctx = SimContext(Patient(scenario, seed), clock, session_start)
        self.sims: list[SimDevice] = [
            make_sim(d.protocol, self.ctx, name=d.name, chair=chair, hub=self.hub,
                     pty_dir=pty_dir, seed=(seed or 0) * 31 + i, max_hz=max_hz,
                     cuff_interval_min=cuff_interval_min)
            for i, d in enumerate(devices)
        ]
        self.drivers: list[Driver] = [
            make_driver(DeviceSpec(d.name, d.protocol, sim.endpoint), chair, sink, clock,
                        options or RIG_OPTIONS, ble_client_backend=self.hub.client_backend(),
                        ble_scanner_backend=self.hub.scanner_backend())
            for d, sim in zip(devices, self.sims, strict=True)
        ]

    async def run(self) -> None:
        """Run the devices, then the drivers, until cancelled."""
        tasks = [asyncio.create_task(sim.run(), name=f"sim-{self.chair}-{sim.name}")
                 for sim in self.sims]
        await asyncio.sleep(0)  # the devices are plugged in and advertising first
        tasks += [asyncio.create_task(d.run(), name=f"driver-{self.chair}-{d.name}")
                  for d in self.drivers]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.close()

    def close(self) -> None:
        for sim in self.sims:
            with contextlib.suppress(Exception):
                sim.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def resolve_simulated(
    specs: Sequence[DeviceSpec],
    chair: str,
    clock: Clock,
    session_start: datetime,
    *,
    scenario: Scenario,
    hub: SimBleHub,
    pty_dir: str | Path,
    seed: int | None = None,
    max_hz: float = 4.0,
) -> tuple[list[DeviceSpec], list[SimDevice]]:
    """Replace ``sim`` / ``sim:SCENARIO`` endpoints by simulated devices run here.

    Returns the specs with real endpoints (pseudo-terminal paths, BLE addresses of ``hub``)
    and the simulated devices to run before the drivers.
    """
    out: list[DeviceSpec] = []
    sims: list[SimDevice] = []
    for i, spec in enumerate(specs):
        if not spec.simulated:
            out.append(spec)
            continue
        chosen = scenario
        _, _, name = spec.endpoint.partition(":")
        if name:
            chosen = load_scenario(name)
        ctx = SimContext(Patient(chosen, seed), clock, session_start)
        protocol = "ble-2a35" if spec.protocol == "ble-2a36" else spec.protocol
        sim = make_sim(protocol, ctx, name=spec.name, chair=chair, hub=hub, pty_dir=pty_dir,
                       seed=(seed or 0) * 31 + i, max_hz=max_hz)
        sims.append(sim)
        out.append(replace(spec, endpoint=sim.endpoint))
    return out, sims


__all__ = ["LAYOUTS", "RIG_OPTIONS", "ChairRig", "RigDevice", "layout_for", "resolve_simulated"]
