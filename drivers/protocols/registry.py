"""Every protocol Chairside speaks, by the name that appears in a Reading's ``source``.

Transports look a protocol up here and need nothing else::

    spec = PROTOCOLS["ble-2a35"]
    # BLE: subscribe to spec.characteristic_uuid (spec.gatt_property says notify, indicate
    # or read) on spec.service_uuid, and for each value:
    measurements = spec.decode(value)          # role "measurement"
    features = spec.features(value)            # role "feature" (read once at connection)

    spec = PROTOCOLS["nonin-2"]
    framer = spec.framer()                     # serial: a base.Framer per connection
    result = framer.feed(chunk)

``decode`` takes one frame: a BLE characteristic value, a Nonin #2/#7 packet (125 bytes;
whole 5-byte frames short of a packet are checked and give no measurement), a Nonin #8
frame, one ASCII line, one HL7 message. ``inspect`` returns the typed decode as JSON-ready
data, for debugging. Encoders for the simulators live in the protocol modules (``gatt``,
``nonin``, ``masimo``, ``hl7``); ``ProtocolSpec.module`` names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from drivers.protocols import gatt, hl7, masimo, nonin
from drivers.protocols.base import Framer, JsonDict, Measurement, Unusable, to_jsonable

Transport = Literal["ble", "serial"]
Role = Literal["measurement", "feature"]
GattProperty = Literal["notify", "indicate", "read"]

SERVICE_BLOOD_PRESSURE = 0x1810
SERVICE_HEART_RATE = 0x180D
SERVICE_PULSE_OXIMETER = 0x1822


def ble_uuid(short: int) -> str:
    """The full 128-bit form of a Bluetooth SIG 16-bit UUID (as bleak spells it)."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    """How to talk to one protocol.

    ``decode`` is set for role ``measurement``, ``features`` for role ``feature``; both raise
    only ``FrameError``. BLE protocols have the UUIDs and property; serial ones a ``framer``
    factory (a fresh ``base.Framer`` per connection).
    """

    name: str
    title: str
    transport: Transport
    role: Role
    module: str
    inspect: Callable[[bytes], JsonDict]
    decode: Callable[[bytes], list[Measurement]] | None = None
    features: Callable[[bytes], JsonDict] | None = None
    service_uuid: str | None = None
    characteristic_uuid: str | None = None
    gatt_property: GattProperty | None = None
    framer: Callable[[], Framer] | None = None
    reference: str = ""
    unusable: Callable[[bytes], list[Unusable]] | None = None
    """What a frame carried that did not become a value as sent (protocols that can carry
    values a Reading cannot use: HL7)."""
    device_name: str | None = None
    """The name its devices get when the device spec gives none (``oximeter``)."""
    silence_s: float | None = None
    """Serial: seconds without a good frame after which the port is reported and reopened;
    None for a device that may rightly stay quiet for minutes (an HL7 monitor)."""
    format_select: int | None = None
    """Serial: the data format the driver asks the device for at every connection (Nonin
    #2, #7 and #8)."""


def _measurement_list(
    decoder: Callable[[bytes], gatt.GattMeasurement],
) -> Callable[[bytes], list[Measurement]]:
    """A characteristic's decoder as a ``decode``: its one measurement in a list."""

    def decode(data: bytes) -> list[Measurement]:
        return [decoder(data).to_measurement()]

    return decode


def _inspect_json(decoder: Callable[[bytes], Any]) -> Callable[[bytes], JsonDict]:
    """A typed decoder as an ``inspect``: its result as JSON-ready data."""

    def inspect(data: bytes) -> JsonDict:
        result = to_jsonable(decoder(data))
        return result if isinstance(result, dict) else {"value": result}

    return inspect


def _features_json(decoder: Callable[[bytes], Any]) -> Callable[[bytes], JsonDict]:
    """A feature characteristic's decoder as ``features``: what the device supports."""

    def features(data: bytes) -> JsonDict:
        result: JsonDict = decoder(data).as_dict()
        return result

    return features


def _nonin_packet_decode(fmt: nonin.PacketFormat) -> Callable[[bytes], list[Measurement]]:
    def decode(data: bytes) -> list[Measurement]:
        if len(data) == nonin.PACKET_SIZE and data[1 if fmt == 2 else 0] & nonin.STATUS_SYNC:
            return [nonin.decode_packet(data, fmt).to_measurement()]
        nonin.decode_frames(data, fmt)
        return []

    return decode


def _nonin_frame_json(frame: nonin.NoninFrame) -> JsonDict:
    return {
        "status": f"0x{frame.status:02X}",
        "sync": frame.sync,
        "flags": list(frame.flags),
        "pleth": frame.pleth,
        "value": frame.value,
    }


def _nonin_packet_inspect(fmt: nonin.PacketFormat) -> Callable[[bytes], JsonDict]:
    def inspect(data: bytes) -> JsonDict:
        if len(data) == nonin.PACKET_SIZE and data[1 if fmt == 2 else 0] & nonin.STATUS_SYNC:
            p = nonin.decode_packet(data, fmt)
            return {
                "format": fmt,
                "spo2": p.spo2,
                "pulse_rate": p.pulse_rate,
                "spo2_d": p.spo2_d,
                "pulse_rate_d": p.pulse_rate_d,
                "spo2_fast": p.spo2_fast,
                "spo2_beat_to_beat": p.spo2_beat_to_beat,
                "e_spo2": p.e_spo2,
                "e_spo2_d": p.e_spo2_d,
                "e_pulse_rate": p.e_pulse_rate,
                "e_pulse_rate_d": p.e_pulse_rate_d,
                "firmware_revision": p.firmware_revision,
                "stat2": p.stat2,
                "timer": list(p.timer),
                "flags": list(p.flags),
                "pleth": list(p.pleth),
            }
        frames = nonin.decode_frames(data, fmt)
        return {"format": fmt, "frames": [_nonin_frame_json(f) for f in frames]}

    return inspect


def _hl7_inspect(data: bytes) -> JsonDict:
    messages = hl7.decode_messages(data)
    items: list[JsonDict] = []
    for message in messages:
        item: JsonDict = to_jsonable(message)
        item["unknown_codes"] = [str(u) for u in message.unknown_codes]
        items.append(item)
    if len(items) == 1:
        return items[0]
    return {"batch": items, "unknown_codes": [u for i in items for u in i["unknown_codes"]]}


def _hl7_unusable(data: bytes) -> list[Unusable]:
    return [u for message in hl7.decode_messages(data) for u in message.unusable]


def _hl7_decode(data: bytes) -> list[Measurement]:
    """One message or a batch of them."""
    return [m for message in hl7.decode_messages(data) for m in message.to_measurements()]


def _ble(
    name: str,
    title: str,
    service: int,
    characteristic: int,
    prop: GattProperty,
    decoder: Callable[[bytes], Any],
    *,
    feature: bool = False,
    reference: str,
    device_name: str | None = None,
) -> ProtocolSpec:
    return ProtocolSpec(
        name=name,
        title=title,
        transport="ble",
        role="feature" if feature else "measurement",
        module="drivers.protocols.gatt",
        inspect=_inspect_json(decoder),
        decode=None if feature else _measurement_list(decoder),
        features=_features_json(decoder) if feature else None,
        service_uuid=ble_uuid(service),
        characteristic_uuid=ble_uuid(characteristic),
        gatt_property=prop,
        reference=reference,
        device_name=device_name,
    )


_BPS = "Bluetooth SIG Blood Pressure Service 1.1; GATT Specification Supplement"
_HRS = "Bluetooth SIG Heart Rate Service 1.0; GATT Specification Supplement"
_PLXS = "Bluetooth SIG Pulse Oximeter Service 1.0; GATT Specification Supplement"
_NONIN = "Nonin OEM III module specification (data formats #2, #7, #8)"

PROTOCOLS: dict[str, ProtocolSpec] = {
    spec.name: spec
    for spec in (
        _ble("ble-2a35", "Blood Pressure Measurement", SERVICE_BLOOD_PRESSURE, 0x2A35,
             "indicate", gatt.decode_blood_pressure, reference=_BPS, device_name="bp-cuff"),
        _ble("ble-2a36", "Intermediate Cuff Pressure", SERVICE_BLOOD_PRESSURE, 0x2A36,
             "notify", gatt.decode_intermediate_cuff_pressure, reference=_BPS,
             device_name="bp-cuff"),
        _ble("ble-2a37", "Heart Rate Measurement", SERVICE_HEART_RATE, 0x2A37,
             "notify", gatt.decode_heart_rate, reference=_HRS, device_name="hr-monitor"),
        _ble("ble-2a49", "Blood Pressure Feature", SERVICE_BLOOD_PRESSURE, 0x2A49,
             "read", gatt.decode_blood_pressure_feature, feature=True, reference=_BPS),
        _ble("ble-2a5e", "PLX Spot-Check Measurement", SERVICE_PULSE_OXIMETER, 0x2A5E,
             "indicate", gatt.decode_plx_spot_check, reference=_PLXS, device_name="oximeter"),
        _ble("ble-2a5f", "PLX Continuous Measurement", SERVICE_PULSE_OXIMETER, 0x2A5F,
             "notify", gatt.decode_plx_continuous, reference=_PLXS, device_name="oximeter"),
        _ble("ble-2a60", "PLX Features", SERVICE_PULSE_OXIMETER, 0x2A60,
             "read", gatt.decode_plx_features, feature=True, reference=_PLXS),
        ProtocolSpec(
            name="nonin-2",
            title="Nonin data format #2 (5-byte frames, 25-frame packets)",
            transport="serial",
            role="measurement",
            module="drivers.protocols.nonin",
            inspect=_nonin_packet_inspect(2),
            decode=_nonin_packet_decode(2),
            framer=lambda: nonin.NoninPacketFramer(2),
            reference=_NONIN,
            device_name="oximeter",
            silence_s=5.0,
            format_select=2,
        ),
        ProtocolSpec(
            name="nonin-7",
            title="Nonin data format #7 (16-bit pleth, 25-frame packets)",
            transport="serial",
            role="measurement",
            module="drivers.protocols.nonin",
            inspect=_nonin_packet_inspect(7),
            decode=_nonin_packet_decode(7),
            framer=lambda: nonin.NoninPacketFramer(7),
            reference=_NONIN,
            device_name="oximeter",
            silence_s=5.0,
            format_select=7,
        ),
        ProtocolSpec(
            name="nonin-8",
            title="Nonin data format #8 (4 bytes a second)",
            transport="serial",
            role="measurement",
            module="drivers.protocols.nonin",
            inspect=_inspect_json(nonin.decode_format8),
            decode=lambda data: [nonin.decode_format8(data).to_measurement()],
            framer=nonin.NoninFormat8Framer,
            reference=_NONIN,
            device_name="oximeter",
            silence_s=10.0,
            format_select=8,
        ),
        ProtocolSpec(
            name="nonin-ascii",
            title="Nonin ASCII real-time output (SPO2=XXX HR=YYY)",
            transport="serial",
            role="measurement",
            module="drivers.protocols.nonin",
            inspect=_inspect_json(nonin.decode_ascii),
            decode=lambda data: [nonin.decode_ascii(data).to_measurement()],
            framer=nonin.ascii_framer,
            reference="Nonin 2500, 8500, 9847, Avant 4000 operator's manuals",
            device_name="oximeter",
            silence_s=10.0,
        ),
        ProtocolSpec(
            name="masimo",
            title="Masimo ASCII serial output (Rad-8, Radical-7)",
            transport="serial",
            role="measurement",
            module="drivers.protocols.masimo",
            inspect=_inspect_json(masimo.decode_line),
            decode=lambda data: [masimo.decode_line(data).to_measurement()],
            framer=masimo.framer,
            reference="Masimo Rad-8 and Radical-7 operator's manuals",
            device_name="oximeter",
            silence_s=10.0,
        ),
        ProtocolSpec(
            name="hl7",
            title="HL7 v2 ORU^R01 (IHE PCD-01) over MLLP",
            transport="serial",
            role="measurement",
            module="drivers.protocols.hl7",
            inspect=_hl7_inspect,
            decode=_hl7_decode,
            framer=hl7.MllpFramer,
            reference="HL7 v2.6; IHE PCD Technical Framework (PCD-01); IEEE 11073-10101",
            device_name="monitor",
            unusable=_hl7_unusable,
        ),
    )
}
"""Protocol name -> spec: ``ble-2a35 ble-2a36 ble-2a37 ble-2a49 ble-2a5e ble-2a5f ble-2a60
nonin-2 nonin-7 nonin-8 nonin-ascii masimo hl7``."""


def lookup(name: str) -> ProtocolSpec:
    """The spec of ``name``; a ``KeyError`` that lists the known names otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; known: {' '.join(PROTOCOLS)}") from None


def by_characteristic(uuid: str) -> ProtocolSpec | None:
    """The BLE spec of a characteristic UUID (any case), e.g. for a notification handler."""
    wanted = uuid.lower()
    for spec in PROTOCOLS.values():
        if spec.characteristic_uuid == wanted:
            return spec
    return None


__all__ = [
    "PROTOCOLS",
    "SERVICE_BLOOD_PRESSURE",
    "SERVICE_HEART_RATE",
    "SERVICE_PULSE_OXIMETER",
    "GattProperty",
    "ProtocolSpec",
    "Role",
    "Transport",
    "ble_uuid",
    "by_characteristic",
    "lookup",
]
