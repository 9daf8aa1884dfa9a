"""Public test vectors by protocol name, plus one valid frame of our own for the protocols
that have none (for the registry, CLI and property tests).

Sources: Nordic Semiconductor Android-BLE-Common-Library unit tests (blood pressure, heart
rate), StanfordSpezi SpeziBluetooth PLXTests.swift (pulse oximeter), pez-globo
pufferfish-software TestNoninOEM3.cpp (Nonin #2), the Masimo Rad-8 and Radical-7 manuals'
example lines."""

from __future__ import annotations

from datetime import UTC, datetime

from drivers.protocols import hl7, nonin
from drivers.protocols.base import Measurement

PUBLIC: dict[str, list[str]] = {
    "ble-2a35": [
        "1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00",
        "15 BD F0 0B 00 9F F0 3C 00 12 00",
    ],
    "ble-2a36": ["00 D7 F0 00 00 00 00"],
    "ble-2a37": ["04 FF", "1E 55 32 00 21 00", "1F 01 01 32 01 01 00 02 01 FF FF"],
    "ble-2a5f": [
        "00 64 00 5A 00",
        "00 E8 F3 84 F3",
        "1C 5F 00 5A 00 20 00 00 00 00 57 F0",
        "1F DE F3 CA F3 CA F3 5A F5 D4 F3 B2 F2 20 01 00 00 00 7A E3",
    ],
    "ble-2a5e": ["0F AC F3 BE F5 E8 07 0B 1D 17 08 39 20 40 22 00 00 66 E3"],
    "ble-2a60": ["A3 00 40 10 80 01 00"],
    "nonin-2": ["01 81 01 00 83", "01 80 01 48 CA", "01 80 01 61 E3", "01 80 01 30 B2"],
    "masimo": [
        b"09/21/08 09:56:12 SpO2=097 PR=069 PI=04.69 EXC=800:SET".hex(),
        b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=072 PI=03.45% SPCO=--.-% "
        b"SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000".hex(),
    ],
    "nonin-ascii": [b"SPO2=097 HR=072".hex(), b"12:00:01 SPO2=--- HR=---".hex()],
}

_AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
HL7_MESSAGE = hl7.encode_oru(
    [
        Measurement("blood_pressure", {"systolic": 120.0, "diastolic": 80.0, "mean": 93.0},
                    "mm[Hg]", measured_at=_AT),
        Measurement("spo2", {"spo2": 97.0, "pulse_rate": 70.0}, "%", measured_at=_AT),
    ],
    control_id="V1",
    at=_AT,
)

OWN: dict[str, list[str]] = {
    "ble-2a49": ["3F 01"],
    "nonin-2": [nonin.encode_packet(nonin.build_packet(2, spo2=97, pulse_rate=72)).hex()],
    "nonin-7": [nonin.encode_packet(nonin.build_packet(7, spo2=96, pulse_rate=71)).hex()],
    "nonin-8": ["80 48 61 00"],
    "hl7": [HL7_MESSAGE.hex()],
}


def all_vectors() -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for table in (PUBLIC, OWN):
        for name, frames in table.items():
            out.setdefault(name, []).extend(bytes.fromhex(f) for f in frames)
    return out


def stream(name: str) -> bytes:
    """A valid byte stream of a serial protocol, several frames long."""
    if name in ("nonin-2", "nonin-7"):
        fmt = 2 if name == "nonin-2" else 7
        return b"".join(
            nonin.encode_packet(nonin.build_packet(fmt, spo2=90 + k, pulse_rate=60 + k))
            for k in range(3)
        )
    if name == "nonin-8":
        return b"".join(
            nonin.encode_format8(nonin.NoninFormat8(90 + k, 60 + k)) for k in range(5)
        )
    if name == "hl7":
        return hl7.wrap_mllp(HL7_MESSAGE) * 2
    return b"\r\n".join(bytes.fromhex(f) for f in PUBLIC[name]) + b"\r\n"
