"""How many readings a second go from a simulated device, through the real transport, driver
and gateway, to the broker (each counted at its PUBACK) on this machine.

    uv run python benchmarks/gateway_throughput.py [--count N] [--broker mqtt://HOST:PORT]

Without ``--broker`` it starts a Mosquitto of its own on a free loopback port (or, where
Mosquitto is not installed, the embedded broker, and says so). Cases:

* ``serial nonin-8``: 4-byte Nonin frames written to a pseudo-terminal as fast as it takes
  them; the serial driver reads, decodes and delivers; the gateway publishes (QoS 1).
* ``ble 2a37``: Heart Rate notifications from a simulated peripheral through bleak (with the
  simulated backend) and the BLE driver.
* each with the in-memory outbox and with the on-disk spool (an fsync per reading), and the
  driver alone (no broker) to separate decoding from publishing.

A clinic's devices send a few readings a second per chair; the numbers say how much headroom
one gateway process has. Prints machine information and the results; records nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from drivers.ble_driver import BleDriver
from drivers.clock import WallClock
from drivers.device_spec import DeviceSpec
from drivers.gateway import Gateway, MemoryOutbox, Outbox
from drivers.mqtt_settings import MqttSettings
from drivers.protocols import gatt, nonin
from drivers.protocols.registry import SERVICE_HEART_RATE, ble_uuid
from drivers.serial_driver import SerialDriver
from drivers.spool import Spool
from drivers.tracker import Sink
from drivers.wire import DeviceStatus, Reading
from simulators.devices.ble import SimBleHub, SimCharacteristic, SimPeripheral, SimService
from simulators.devices.pty import PtyLine

HRM = ble_uuid(0x2A37)


def machine() -> None:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"date     {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"nproc    {nproc}")
    print(f"cpu      {model}")
    print(f"python   {platform.python_version()} ({platform.python_implementation()})")
    print(f"system   {platform.system()} {platform.release()} {platform.machine()}")


class CountingSink:
    """Driver alone: count readings, drop them."""

    def __init__(self) -> None:
        self.readings = 0

    def accept(self, reading: Reading) -> bool:
        self.readings += 1
        return True

    def device_status(self, status: DeviceStatus) -> None:
        return None

    def next_seq(self, device: str) -> int:
        return self.readings


@contextlib.contextmanager
def own_broker(folder: Path) -> AsyncIterator[tuple[MqttSettings, str]]:  # type: ignore[misc]
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if binary is None:
        yield MqttSettings(broker="embedded", port=port), "embedded (amqtt)"
        return
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 1000000\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        version = subprocess.run([binary, "-h"], capture_output=True, text=True).stdout
        yield (MqttSettings(host="127.0.0.1", port=port),
               f"mosquitto ({version.splitlines()[0] if version else binary})")
    finally:
        proc.terminate()
        proc.wait(10)


async def _until(predicate: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not finish in time")
        await asyncio.sleep(0.005)


async def _write_all(line: PtyLine, data: bytes) -> None:
    """Write everything, waiting when the pseudo-terminal's buffer is full."""
    view = memoryview(data)
    while view:
        sent = line.write(bytes(view[:1024]))
        view = view[sent:]
        if sent == 0:
            await asyncio.sleep(0.0005)
        else:
            await asyncio.sleep(0)


async def serial_case(count: int, sink: Sink, folder: Path,
                      published: Callable[[], int]) -> float:
    clock = WallClock()
    line = PtyLine(folder / f"bench-{time.monotonic_ns()}")
    selector = nonin.FormatSelectFramer()
    line.on_receive = lambda data: [line.write(r) for r in selector.feed(data).replies] and None
    line.plug()
    driver = SerialDriver(DeviceSpec("oximeter", "nonin-8", str(line.path)), "c1", sink, clock,
                          nonin.NoninFormat8Framer, silence_s=None)
    task = asyncio.create_task(driver.run())
    try:
        await _until(lambda: selector.stats.frames > 0, 10)
        await asyncio.sleep(0.1)
        frames = b"".join(
            nonin.encode_format8(nonin.NoninFormat8(spo2=90 + i % 10, pulse_rate=60 + i % 40))
            for i in range(count)
        )
        start = time.perf_counter()
        await _write_all(line, frames)
        await _until(lambda: published() >= count, 300)
        return time.perf_counter() - start
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        line.close()


async def ble_case(count: int, sink: Sink, published: Callable[[], int]) -> float:
    clock = WallClock()
    hub = SimBleHub()
    peripheral = hub.add(SimPeripheral("C4:7F:51:BE:AC:01", "bench", [
        SimService(ble_uuid(SERVICE_HEART_RATE), [SimCharacteristic(HRM, ["notify"])]),
    ]))
    driver = BleDriver(DeviceSpec("hr-monitor", "ble-2a37", peripheral.address), "c1", sink,
                       clock, client_backend=hub.client_backend(),
                       scanner_backend=hub.scanner_backend())
    task = asyncio.create_task(driver.run())
    try:
        await _until(lambda: driver.tracker.link_state == "connected", 10)
        values = [gatt.encode_heart_rate(gatt.HeartRateMeasurement(60 + i % 60,
                                                                   rr_intervals=(900,)))
                  for i in range(count)]
        start = time.perf_counter()
        for i, value in enumerate(values):
            peripheral.notify(HRM, value)
            if i % 50 == 49:
                await asyncio.sleep(0)  # let the gateway publish meanwhile
        await _until(lambda: published() >= count, 300)
        return time.perf_counter() - start
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run(count: int, mqtt: MqttSettings, folder: Path) -> list[tuple[str, int, float]]:
    results: list[tuple[str, int, float]] = []
    for transport in ("serial nonin-8", "ble 2a37"):
        alone = CountingSink()
        if transport.startswith("serial"):
            seconds = await serial_case(count, alone, folder, lambda s=alone: s.readings)
        else:
            seconds = await ble_case(count, alone, lambda s=alone: s.readings)
        results.append((f"{transport}: driver alone", count, seconds))
        for outbox_name in ("memory outbox", "spool (fsync)"):
            outbox: Outbox
            spool: Spool | None = None
            if outbox_name.startswith("memory"):
                outbox = MemoryOutbox()
            else:
                spool = Spool(folder / f"bench-{time.monotonic_ns()}.db", capacity=10 * count)
                outbox = spool
            gateway = Gateway(mqtt, "bench", "c1", WallClock(), outbox,
                              client_id=f"bench-{time.monotonic_ns()}")
            gw_task = asyncio.create_task(gateway.run())
            try:
                await asyncio.wait_for(gateway.connected.wait(), 15)
                if transport.startswith("serial"):
                    seconds = await serial_case(count, gateway, folder,
                                                lambda g=gateway: g.published)
                else:
                    seconds = await ble_case(count, gateway, lambda g=gateway: g.published)
            finally:
                gw_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await gw_task
                if spool is not None:
                    spool.close()
            results.append((f"{transport} -> gateway ({outbox_name}) -> broker", count, seconds))
    return results


async def main_async(count: int, broker: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="chairside-bench-") as tmp:
        folder = Path(tmp)
        if broker:
            mqtt = MqttSettings().with_url(broker)
            results = await run(count, mqtt, folder)
            kind = broker
        else:
            with own_broker(folder) as (mqtt, kind):
                if mqtt.broker == "embedded":
                    from monitor.broker import embedded_broker

                    async with embedded_broker(mqtt) as live:
                        results = await run(count, live, folder)
                else:
                    results = await run(count, mqtt, folder)
    print(f"broker   {kind}")
    print(f"count    {count} readings per case")
    print()
    for name, n, seconds in results:
        print(f"{name:<62} {n / seconds:9.0f} readings/s  ({seconds:6.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="readings per case")
    parser.add_argument("--broker", default=None, help="mqtt://host:port (default: own)")
    args = parser.parse_args()
    machine()
    asyncio.run(main_async(args.count, args.broker))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
