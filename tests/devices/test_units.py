"""The parts without I/O: device specs, error classification, the tracker's states, the
outbox types, sequence numbers that survive a restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from bleak.exc import BleakDBusError, BleakDeviceNotFoundError, BleakError

from drivers.ble_driver import classify, parse_target, service_specs
from drivers.device_spec import (
    DeviceSpec,
    DeviceSpecError,
    check_protocol,
    parse_device_spec,
    unique_names,
)
from drivers.devices import make_driver
from drivers.gateway import MemoryOutbox, OutboxEntry, SeqStore
from drivers.protocols.base import StreamStats
from drivers.protocols.registry import ble_uuid
from drivers.spool import Spool, SpoolEntry, SpoolFull
from drivers.tracker import DeviceTracker
from tests.devices.helpers import ListSink, context


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nonin-8:/dev/ttyUSB0", DeviceSpec("oximeter", "nonin-8", "/dev/ttyUSB0")),
        ("ble-2a35:C4:7F:51:00:00:01", DeviceSpec("bp-cuff", "ble-2a35", "C4:7F:51:00:00:01")),
        ("ox2=masimo:socket://10.0.0.7:4001@19200",
         DeviceSpec("ox2", "masimo", "socket://10.0.0.7:4001", 19200)),
        ("HL7:/dev/serial/by-id/usb-FTDI@38400",
         DeviceSpec("monitor", "hl7", "/dev/serial/by-id/usb-FTDI", 38400)),
        ("ble-2a37:service:180d", DeviceSpec("hr-monitor", "ble-2a37", "service:180d")),
        ("ble-2a37:sim:desaturation", DeviceSpec("hr-monitor", "ble-2a37", "sim:desaturation")),
    ],
)
def test_device_specs_parse(text: str, expected: DeviceSpec) -> None:
    assert parse_device_spec(text) == expected


@pytest.mark.parametrize("text", ["nonin-8", "nonin-8:", "bad name=nonin-8:/dev/x", ":x"])
def test_bad_device_specs_say_what_is_expected(text: str) -> None:
    with pytest.raises(DeviceSpecError, match="device"):
        parse_device_spec(text)


def test_protocols_are_checked_against_the_registry() -> None:
    assert check_protocol("nonin-ascii") == "serial"
    assert check_protocol("ble-2a5e") == "ble"
    with pytest.raises(DeviceSpecError, match="unknown device protocol 'ble-2a49'"):
        check_protocol("ble-2a49")  # a feature characteristic, not a device
    with pytest.raises(DeviceSpecError, match="nonin-2"):
        check_protocol("nonin-9")


def test_repeated_names_get_a_suffix() -> None:
    specs = unique_names([parse_device_spec("nonin-8:/a"), parse_device_spec("masimo:/b")])
    assert [s.name for s in specs] == ["oximeter", "oximeter-2"]


def test_ble_targets() -> None:
    assert parse_target("ble-2a35", "c4:7f:51:00:00:01") == ("C4:7F:51:00:00:01",
                                                             ble_uuid(0x1810))
    assert parse_target("ble-2a37", "service") == (None, ble_uuid(0x180D))
    assert parse_target("ble-2a5f", "service:1822") == (None, ble_uuid(0x1822))
    with pytest.raises(ValueError, match="service must be"):
        parse_target("ble-2a5f", "service:1234")
    with pytest.raises(ValueError, match="not a BLE protocol"):
        parse_target("nonin-8", "service")
    measurements, features = service_specs(ble_uuid(0x1810))
    assert [s.name for s in measurements] == ["ble-2a35", "ble-2a36"]
    assert [s.name for s in features] == ["ble-2a49"]


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (FileNotFoundError(2, "No such file or directory"), "adapter", "no Bluetooth adapter"),
        (BleakError("No Bluetooth adapters found."), "adapter", "no Bluetooth adapter"),
        (BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", ["bluez gone"]),
         "adapter", "no Bluetooth adapter"),
        (BleakDeviceNotFoundError("AA", "Device with address AA was not found."), "missing",
         "in range"),
        (TimeoutError(), "transient", "timed out"),
        (BleakError("le-connection-abort-by-local"), "transient", "abort"),
        (BleakError("No backend with an available connection slot"), "transient", "slot"),
    ],
)
def test_ble_errors_are_classified(error: BaseException, kind: str, words: str) -> None:
    result = classify(error)
    assert result.kind == kind
    assert words in result.reason


def test_simulated_endpoints_need_the_gateway_or_the_demo() -> None:
    ctx = context()
    with pytest.raises(DeviceSpecError, match="simulated"):
        make_driver(parse_device_spec("nonin-8:sim"), "c", ListSink(), ctx.clock)


def test_tracker_states_and_counters() -> None:
    ctx = context()
    sink = ListSink()
    tracker = DeviceTracker(sink, ctx.clock, "c", DeviceSpec("oximeter", "nonin-8", "/dev/x"),
                            garbage_window_s=60.0, silence_s=None)
    tracker.link("connecting", "opening /dev/x")
    tracker.link("connected")
    stats = StreamStats(frames=10)
    tracker.saw_stream(stats)
    assert sink.states() == ["connecting", "connected"]
    stats.bad_frames, stats.dropped_bytes = 1, 7
    tracker.saw_stream(stats)
    assert sink.statuses[-1].state == "degraded"
    assert sink.statuses[-1].counters.bad_frames == 1
    assert sink.statuses[-1].counters.dropped_bytes == 7
    stats.frames = 12  # more good frames within the window: still degraded, not republished
    tracker.saw_stream(stats)
    assert len(sink.statuses) == 3
    tracker.link("disconnected", "gone")
    tracker.reconnected()
    tracker.link("connected")
    assert sink.statuses[-1].counters.reconnects == 1
    assert sink.statuses[-1].counters.frames == 12


def test_outbox_entries_are_spool_entries(tmp_path: Path) -> None:
    assert OutboxEntry is SpoolEntry
    memory = MemoryOutbox()
    memory.append("t", b"p", "k1")
    with Spool(tmp_path / "s.db", capacity=5) as spool:
        spool.append("t", b"p", "k1")
        assert type(memory.peek()[0]) is type(spool.peek()[0])
        assert spool.capacity == 5 and memory.capacity == 0
    bounded = MemoryOutbox(capacity=2, warn_at=0.5)
    bounded.append("t", b"p", "a")
    assert bounded.nearly_full
    bounded.append("t", b"p", "b")
    with pytest.raises(SpoolFull, match="NOT accepted"):
        bounded.append("t", b"p", "c")
    assert bounded.append("t", b"p", "a") == -1  # a key already waiting is not stored twice


def test_sequence_numbers_continue_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "gw.seq"
    first = SeqStore(path, block=10)
    assert [first.next("ox") for _ in range(12)] == list(range(12))
    assert first.next("hr") == 0
    second = SeqStore(path, block=10)  # the gateway restarted
    assert second.next("ox") == 20  # after the last reserved block
    assert second.next("hr") == 10
    path.write_text("not json")
    assert SeqStore(path).next("ox") == 0  # unreadable: warn and start again


def test_a_failing_spool_refuses_loudly_instead_of_losing(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    from drivers.clock import FakeClock
    from drivers.gateway import Gateway
    from drivers.mqtt_settings import MqttSettings
    from drivers.wire import DeviceStatus, Reading

    clock = FakeClock()
    spool = Spool(tmp_path / "s.db")
    gateway = Gateway(MqttSettings(), "site", "c1", clock, spool)
    gateway.device_status(DeviceStatus(chair="c1", device="ox", source="nonin-8",
                                       state="connected", at=clock.now()))
    spool.close()  # as if the disk went away
    reading = Reading(chair="c1", device="ox", source="nonin-8", kind="spo2",
                      measured_at=clock.now(), received_at=clock.now(), unit="%",
                      values={"spo2": 97.0})
    assert gateway.accept(reading) is False
    status = gateway.published_status("ox")
    assert status.state == "degraded"
    assert status.reason and "failing" in status.reason and "closed" in status.reason
    assert any("closed" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


def test_tracker_reports_an_unreadable_vital_until_it_reads_or_its_window_passes() -> None:
    from drivers.protocols.base import Measurement, Unusable

    ctx = context()
    sink = ListSink()
    tracker = DeviceTracker(sink, ctx.clock, "c", DeviceSpec("monitor", "hl7", "/dev/x"),
                            silence_s=None, unreadable_window_s=60.0)
    tracker.link("connected")
    hr = Unusable("heart_rate", "heart rate", "147842: unit x", field="heart_rate")
    temp = Unusable(None, "", "150344^MDC_TEMP^MDC: not one Chairside reads")
    note = Unusable("heart_rate", "heart rate", "reference id differs", kept=True,
                    field="heart_rate")
    tracker.saw_unusable([hr, temp, note])
    status = sink.statuses[-1]
    assert status.state == "degraded" and status.reason is not None
    assert "heart rate not readable from this device (147842: unit x)" in status.reason
    assert status.unreadable == {"heart_rate": status.reason}
    assert (status.counters.unreadable, status.counters.noted) == (1, 1)
    # The window passes without the vital coming unusable again: connected.
    later = time.monotonic() + 61
    assert tracker.state(later) == ("connected", None)
    # A usable heart rate clears it at once.
    tracker.saw_unusable([hr])
    tracker.deliver(Measurement("heart_rate", {"heart_rate": 60.0}, "/min"), "hl7")
    tracker.update()
    assert sink.statuses[-1].state == "connected" and sink.statuses[-1].unreadable == {}
