"""Simulated devices for every protocol the drivers speak, producing the exact bytes.

Serial devices sit on a pseudo-terminal (the real serial driver opens its path); BLE devices
sit in a simulated bleak world (`simulators.devices.ble.SimBleHub`) that the real BLE driver
reaches through bleak's ``backend=`` seam. See `base` for pace and faults.

`make_sim` builds one by protocol name::

    sim = make_sim("nonin-8", ctx, name="oximeter", pty_dir=folder)
    sim.endpoint   # the pseudo-terminal path, or the BLE address
    await sim.run()
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from simulators.devices.base import SimContext, SimDevice
from simulators.devices.ble import DEFAULT_HUB, SimBleHub
from simulators.devices.ble_devices import BleCuffSim, BleHeartRateSim, BlePlxSim
from simulators.devices.pty import default_dir
from simulators.devices.serial import Hl7MonitorSim, MasimoSim, NoninAsciiSim, NoninSim

SIM_PROTOCOLS = (
    "ble-2a35", "ble-2a36", "ble-2a37", "ble-2a5e", "ble-2a5f",
    "nonin-2", "nonin-7", "nonin-8", "nonin-ascii", "masimo", "hl7",
)
"""Protocols with a simulated device (``ble-2a36``, intermediate cuff pressure, is the
cuff of ``ble-2a35``; the feature characteristics 0x2A49 and 0x2A60 are read from the
cuff and the oximeters)."""

BLE_PREFIX = "C4:7F:51"


def sim_address(*parts: str) -> str:
    """A stable BLE address for a simulated device, from its chair and name."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return BLE_PREFIX + "".join(f":{b:02X}" for b in digest[:3])


def make_sim(
    protocol: str,
    ctx: SimContext,
    *,
    name: str,
    chair: str = "chair",
    hub: SimBleHub | None = None,
    pty_dir: str | Path | None = None,
    address: str | None = None,
    seed: int = 0,
    max_hz: float = 4.0,
    cuff_interval_min: float = 5.0,
) -> SimDevice:
    """A simulated device for ``protocol`` measuring ``ctx``'s patient."""
    if protocol not in SIM_PROTOCOLS:
        raise ValueError(f"no simulated device for {protocol!r}; choose one of "
                         f"{', '.join(SIM_PROTOCOLS)}")
    if protocol.startswith("ble-"):
        air = hub if hub is not None else DEFAULT_HUB
        where = address or sim_address(chair, name, protocol)
        if protocol in ("ble-2a35", "ble-2a36"):
            return BleCuffSim(ctx, air, where, name=name, seed=seed, max_hz=max_hz,
                              interval_min=cuff_interval_min)
        if protocol == "ble-2a37":
            return BleHeartRateSim(ctx, air, where, name=name, seed=seed, max_hz=max_hz)
        return BlePlxSim(ctx, air, where, protocol=protocol, name=name, seed=seed,
                         max_hz=max_hz)
    folder = Path(pty_dir) if pty_dir is not None else default_dir()
    path = folder / f"{chair}-{name}"
    if protocol.startswith("nonin-") and protocol != "nonin-ascii":
        fmt = int(protocol.removeprefix("nonin-"))
        return NoninSim(ctx, path, fmt=fmt, name=name, seed=seed, max_hz=max_hz)
    if protocol == "nonin-ascii":
        return NoninAsciiSim(ctx, path, name=name, seed=seed, max_hz=max_hz)
    if protocol == "masimo":
        return MasimoSim(ctx, path, name=name, seed=seed, max_hz=max_hz)
    return Hl7MonitorSim(ctx, path, name=name, seed=seed, max_hz=max_hz,
                         cuff_interval_min=cuff_interval_min)


__all__ = [
    "DEFAULT_HUB",
    "SIM_PROTOCOLS",
    "SimBleHub",
    "SimContext",
    "SimDevice",
    "make_sim",
    "sim_address",
]
