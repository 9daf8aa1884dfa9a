"""Decode throughput of every protocol codec: single-frame decode and stream framer.

Run: ``uv run python benchmarks/decode_throughput.py [--seconds 0.5]``

A "frame" is the protocol's own unit: a BLE characteristic value, a 5-byte Nonin #2/#7
frame (25 make one packet and one measurement), a 4-byte Nonin #8 frame, an ASCII line, an
HL7 message. Decode = ``ProtocolSpec.decode`` (or ``features``) on one frame, to
measurements; framer = ``Framer.feed`` on a stream cut into 4 KiB chunks, to measurements.
The device rates to compare with: Nonin #2/#7 75 frames/s, everything else about 1/s.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from drivers.protocols import gatt, hl7, nonin
from drivers.protocols.base import FramerFactory, Measurement
from drivers.protocols.ieee11073 import DateTime
from drivers.protocols.registry import PROTOCOLS

AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _frames() -> dict[str, bytes]:
    """One representative frame per protocol (every optional field present)."""
    return {
        "ble-2a35": gatt.encode_blood_pressure(gatt.BloodPressureMeasurement(
            138, 88, 120, timestamp=DateTime(2026, 1, 5, 9, 30, 0), pulse_rate=60, user_id=1,
            status=0x0027)),
        "ble-2a36": gatt.encode_intermediate_cuff_pressure(
            gatt.IntermediateCuffPressure(21.5)),
        "ble-2a37": bytes.fromhex("1E 55 32 00 21 00"),
        "ble-2a49": bytes.fromhex("3F 01"),
        "ble-2a5e": bytes.fromhex("0F AC F3 BE F5 E8 07 0B 1D 17 08 39 20 40 22 00 00 66 E3"),
        "ble-2a5f": bytes.fromhex("1F DE F3 CA F3 CA F3 5A F5 D4 F3 B2 F2 20 01 00 00 00 7A E3"),
        "ble-2a60": bytes.fromhex("A3 00 40 10 80 01 00"),
        "nonin-2": nonin.encode_packet(nonin.build_packet(2, spo2=97, pulse_rate=72)),
        "nonin-7": nonin.encode_packet(nonin.build_packet(7, spo2=97, pulse_rate=72)),
        "nonin-8": nonin.encode_format8(nonin.NoninFormat8(97, 72, smartpoint=True)),
        "nonin-ascii": b"14:03:27 SPO2=097 HR=072 F",
        "masimo": b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=072 PI=03.45% "
                  b"SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000800",
        "hl7": hl7.encode_oru(
            [Measurement("blood_pressure", {"systolic": 120.0, "diastolic": 80.0,
                                            "mean": 93.0, "pulse_rate": 72.0}, "mm[Hg]"),
             Measurement("spo2", {"spo2": 97.0, "pulse_rate": 70.0}, "%")],
            control_id="B1", at=AT),
    }


def _stream(name: str, frame: bytes, count: int) -> tuple[bytes, int]:
    """A stream of ``count`` units and how many frames (in the table's sense) it holds."""
    if name in ("nonin-2", "nonin-7"):
        return frame * count, count * nonin.FRAMES_PER_PACKET
    if name == "nonin-8":
        return frame * count, count
    if name == "hl7":
        return hl7.wrap_mllp(frame) * count, count
    return (frame + b"\r\n") * count, count


def _rate(work: Callable[[], int], seconds: float) -> float:
    """Units per second of ``work`` (which returns the units it did), best of 3 runs."""
    best = 0.0
    for _ in range(3):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            done += work()
        best = max(best, done / elapsed)
    return best


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {datetime.now(UTC):%Y-%m-%d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.6, help="time per measurement")
    args = parser.parse_args()
    frames = _frames()
    print(_machine())
    print()
    print(f"| {'protocol':<11} | {'decode frames/s':>15} | {'framer frames/s':>15} "
          f"| {'framer MB/s':>11} |")
    print(f"|{'-' * 13}|{'-' * 16}:|{'-' * 16}:|{'-' * 12}:|")
    for name, spec in PROTOCOLS.items():
        frame = frames[name]
        per_decode = nonin.FRAMES_PER_PACKET if name in ("nonin-2", "nonin-7") else 1
        single = spec.decode or spec.features
        assert single is not None

        def decode(single: Callable[[bytes], object] = single, frame: bytes = frame,
                   per: int = per_decode) -> int:
            for _ in range(100):
                single(frame)
            return 100 * per

        decode_rate = _rate(decode, args.seconds)
        framer_cell = mb_cell = "-"
        if spec.framer is not None:
            data, units = _stream(name, frame, 200)
            def feed(
                data: bytes = data, units: int = units, factory: FramerFactory = spec.framer
            ) -> int:
                framer = factory()
                measurements = 0
                for k in range(0, len(data), 4096):
                    measurements += len(framer.feed(data[k : k + 4096]).measurements)
                assert measurements and not framer.stats.bad_frames
                return units

            framer_rate = _rate(feed, args.seconds)
            framer_cell = f"{framer_rate:,.0f}"
            mb_cell = f"{framer_rate * len(data) / units / 1e6:.2f}"
        print(f"| {name:<11} | {decode_rate:>15,.0f} | {framer_cell:>15} | {mb_cell:>11} |")


if __name__ == "__main__":
    main()
