"""The registry: names, transports, UUIDs; every vector through it converts to a Reading."""

from __future__ import annotations

import pytest

from drivers.protocols.base import FeedResult
from drivers.protocols.registry import PROTOCOLS, ble_uuid, by_characteristic, lookup

from .helpers import check_all
from .vectors import all_vectors, stream

NAMES = [
    "ble-2a35", "ble-2a36", "ble-2a37", "ble-2a49", "ble-2a5e", "ble-2a5f", "ble-2a60",
    "nonin-2", "nonin-7", "nonin-8", "nonin-ascii", "masimo", "hl7",
]


def test_names() -> None:
    assert sorted(PROTOCOLS) == sorted(NAMES)
    for name, spec in PROTOCOLS.items():
        assert spec.name == name and spec.title and spec.reference


@pytest.mark.parametrize(
    ("name", "service", "char", "prop", "role"),
    [
        ("ble-2a35", "1810", "2a35", "indicate", "measurement"),
        ("ble-2a36", "1810", "2a36", "notify", "measurement"),
        ("ble-2a49", "1810", "2a49", "read", "feature"),
        ("ble-2a37", "180d", "2a37", "notify", "measurement"),
        ("ble-2a5e", "1822", "2a5e", "indicate", "measurement"),
        ("ble-2a5f", "1822", "2a5f", "notify", "measurement"),
        ("ble-2a60", "1822", "2a60", "read", "feature"),
    ],
)
def test_ble_specs(name: str, service: str, char: str, prop: str, role: str) -> None:
    spec = PROTOCOLS[name]
    assert spec.transport == "ble" and spec.framer is None
    assert spec.service_uuid == f"0000{service}-0000-1000-8000-00805f9b34fb"
    assert spec.characteristic_uuid == f"0000{char}-0000-1000-8000-00805f9b34fb"
    assert spec.gatt_property == prop and spec.role == role
    assert (spec.decode is None) == (role == "feature")
    assert (spec.features is None) == (role == "measurement")
    assert by_characteristic(spec.characteristic_uuid.upper()) is spec


def test_serial_specs_have_framers() -> None:
    for name in ("nonin-2", "nonin-7", "nonin-8", "nonin-ascii", "masimo", "hl7"):
        spec = PROTOCOLS[name]
        assert spec.transport == "serial" and spec.role == "measurement"
        assert spec.framer is not None and spec.service_uuid is None
        a, b = spec.framer(), spec.framer()
        assert a is not b and a.protocol == name


def test_ble_uuid_and_lookup() -> None:
    assert ble_uuid(0x2A35) == "00002a35-0000-1000-8000-00805f9b34fb"
    assert by_characteristic(ble_uuid(0x2A19)) is None
    with pytest.raises(KeyError, match="known: ble-2a35"):
        lookup("nonin-9")


@pytest.mark.parametrize(("name", "frames"), sorted(all_vectors().items()))
def test_every_vector_decodes_through_the_registry(name: str, frames: list[bytes]) -> None:
    spec = PROTOCOLS[name]
    for frame in frames:
        assert isinstance(spec.inspect(frame), dict)
        if spec.features is not None:
            assert all(isinstance(v, bool | dict) for v in spec.features(frame).values())
        else:
            assert spec.decode is not None
            check_all(spec.decode(frame), name)


@pytest.mark.parametrize("name", ["nonin-2", "nonin-7", "nonin-8", "nonin-ascii", "masimo", "hl7"])
def test_every_framer_decodes_a_clean_stream_in_any_chunking(name: str) -> None:
    spec = PROTOCOLS[name]
    assert spec.framer is not None
    data = stream(name)
    whole = spec.framer().feed(data)
    assert whole.measurements and not whole.errors
    check_all(whole.measurements, name)
    for size in (1, 2, 3, 7, 64):
        framer = spec.framer()
        result = FeedResult()
        for k in range(0, len(data), size):
            result.extend(framer.feed(data[k : k + size]))
        result.extend(framer.flush())
        assert result.measurements == whole.measurements
        assert len(result.replies) == len(whole.replies)
        assert framer.stats.bad_frames == 0 and framer.stats.dropped_bytes == 0
