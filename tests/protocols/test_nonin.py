"""Nonin formats #2, #7, #8, ASCII output and format selection."""

from __future__ import annotations

from datetime import time

import pytest

from drivers.protocols import nonin
from drivers.protocols.base import FrameError
from drivers.protocols.nonin import (
    FormatReply,
    NoninAsciiLine,
    NoninFormat8,
    NoninFrame,
)

from .helpers import as_reading, h

# --- public format #2 vectors (pufferfish-software TestNoninOEM3.cpp) -------------------------


@pytest.mark.parametrize(
    ("data", "frame", "sync"),
    [
        ("01 81 01 00 83", NoninFrame(0x81, 1, 0), True),  # sync frame, HR MSB 0
        ("01 80 01 48 CA", NoninFrame(0x80, 1, 72), False),  # HR LSB 72
        ("01 80 01 61 E3", NoninFrame(0x80, 1, 97), False),  # SpO2 97
        ("01 80 01 30 B2", NoninFrame(0x80, 1, 48), False),  # firmware revision 48
    ],
)
def test_public_format2_frames(data: str, frame: NoninFrame, sync: bool) -> None:
    decoded = nonin.decode_frame(h(data))
    assert decoded == frame and decoded.sync is sync and decoded.flags == ()
    assert nonin.encode_frame(decoded) == h(data)


def test_public_vectors_make_a_packet() -> None:
    """The four public frames as frames 1-4 of a packet: HR 72, SpO2 97, firmware 48."""
    frames = [h("01 81 01 00 83"), h("01 80 01 48 CA"), h("01 80 01 61 E3"), h("01 80 01 30 B2")]
    rest = [nonin.encode_frame(NoninFrame(0x80, 1, 0)) for _ in range(21)]
    packet = nonin.decode_packet(b"".join(frames + rest))
    assert (packet.pulse_rate, packet.spo2, packet.firmware_revision) == (72, 97, 48)
    m = packet.to_measurement()
    assert m.values == {"spo2": 97.0, "pulse_rate": 72.0} and m.quality == "valid"
    as_reading(m)


def test_heart_rate_msb_and_lsb() -> None:
    packet = nonin.build_packet(spo2=95, pulse_rate=300)
    assert packet.frames[0].value == 2 and packet.frames[1].value == 300 - 256
    assert nonin.decode_packet(nonin.encode_packet(packet)).pulse_rate == 300


def test_all_float_slots() -> None:
    packet = nonin.build_packet(
        spo2=96, pulse_rate=70,
        values={6: 1, 7: 2, 8: 0x20, 9: 95, 10: 94, 11: 93, 14: 0, 15: 71, 16: 92, 17: 91,
                20: 0, 21: 69, 22: 0, 23: 68},
    )
    p = nonin.decode_packet(nonin.encode_packet(packet))
    assert (p.spo2_d, p.spo2_fast, p.spo2_beat_to_beat, p.e_spo2, p.e_spo2_d) == (
        95, 94, 93, 92, 91
    )
    assert (p.e_pulse_rate, p.pulse_rate_d, p.e_pulse_rate_d) == (71, 69, 68)
    assert p.timer == (1, 2) and p.stat2 == 0x20


@pytest.mark.parametrize(
    ("status", "flags", "quality"),
    [
        (0x00, (), "valid"),
        (0x40, ("sensor_disconnected",), "invalid"),
        (0x20, ("artifact",), "questionable"),
        (0x10, ("out_of_track",), "questionable"),
        (0x08, ("sensor_alarm",), "invalid"),
        (0x02, ("perfusion_green",), "valid"),
        (0x06, ("perfusion_yellow",), "valid"),
        (0x04, ("perfusion_red", "low_perfusion"), "questionable"),
        (0x24, ("artifact", "perfusion_red", "low_perfusion"), "questionable"),
    ],
)
def test_status_bits(status: int, flags: tuple[str, ...], quality: str) -> None:
    for fmt in (2, 7):
        packet = nonin.build_packet(fmt, spo2=97, pulse_rate=72, status=status)  # type: ignore[arg-type]
        m = nonin.decode_packet(nonin.encode_packet(packet), fmt).to_measurement()  # type: ignore[arg-type]
        assert m.flags == flags and m.quality == quality
        as_reading(m)


def test_packet_flags_union_and_worst_perfusion() -> None:
    statuses = [0x02] * 25
    statuses[5] = 0x06
    statuses[12] = 0x20
    m = nonin.build_packet(spo2=97, pulse_rate=72, status=statuses).to_measurement()
    assert m.flags == ("artifact", "perfusion_yellow") and m.quality == "questionable"


@pytest.mark.parametrize(
    ("spo2", "pr", "values", "flags"),
    [
        (None, 72, {"pulse_rate": 72.0}, ("spo2_missing",)),
        (97, None, {"spo2": 97.0}, ("pulse_rate_missing",)),
        (None, None, {}, ("spo2_missing", "pulse_rate_missing")),
    ],
)
def test_missing_data(spo2: int | None, pr: int | None, values: dict[str, float],
                      flags: tuple[str, ...]) -> None:
    packet = nonin.build_packet(spo2=spo2, pulse_rate=pr)
    assert packet.frames[2].value == (127 if spo2 is None else spo2)
    m = nonin.decode_packet(nonin.encode_packet(packet)).to_measurement()
    assert m.values == values and m.flags == flags and m.quality == "invalid"
    as_reading(m)


def test_format7_frames_carry_16_bit_pleth() -> None:
    frame = NoninFrame(0x81, 0x1234, 0)
    data = nonin.encode_frame(frame, 7)
    assert data == h("81 12 34 00") + bytes([(0x81 + 0x12 + 0x34) & 0xFF])
    assert nonin.decode_frame(data, 7) == frame


@pytest.mark.parametrize(
    ("data", "fmt", "offset", "reason"),
    [
        ("01 80 01 48 CB", 2, 0, "checksum"),
        ("02 80 01 48 CB", 2, 0, "not 0x01"),
        ("01 00 01 48 4A", 2, 0, "bit 7"),
        ("01 80 01 48", 2, 4, "5 bytes"),
        ("01 80 01 48 CA 00", 2, 5, "5 bytes"),
        ("00 12 34 00 46", 7, 0, "bit 7"),
    ],
)
def test_bad_frames(data: str, fmt: int, offset: int, reason: str) -> None:
    with pytest.raises(FrameError) as e:
        nonin.decode_frame(h(data), fmt)  # type: ignore[arg-type]
    assert e.value.offset == offset and reason in e.value.reason


def test_bad_packets() -> None:
    good = nonin.encode_packet(nonin.build_packet(spo2=97, pulse_rate=72))
    with pytest.raises(FrameError) as e:
        nonin.decode_packet(good[:-1])
    assert e.value.offset == 124
    with pytest.raises(FrameError) as e:
        nonin.decode_packet(good[5:] + good[:5])  # sync frame last
    assert e.value.offset == 1 and "sync" in e.value.reason
    bad = bytearray(good)
    bad[13] = 101  # SpO2 101 in frame 3 (fix the checksum)
    bad[14] = sum(bad[10:14]) & 0xFF
    with pytest.raises(FrameError) as e:
        nonin.decode_packet(bytes(bad))
    assert e.value.offset == 13 and "spo2" in e.value.reason
    bad[14] ^= 1
    with pytest.raises(FrameError) as e:
        nonin.decode_packet(bytes(bad))
    assert e.value.offset == 10 and "checksum" in e.value.reason


def test_decode_frames() -> None:
    assert len(nonin.decode_frames(h("01 81 01 00 83 01 80 01 48 CA"))) == 2
    with pytest.raises(FrameError) as e:
        nonin.decode_frames(h("01 81 01 00 83 01 80"))
    assert e.value.offset == 5


# --- packet framer ----------------------------------------------------------------------------


def _stream(n: int, fmt: int = 2, spo2: int = 97) -> bytes:
    return b"".join(
        nonin.encode_packet(nonin.build_packet(fmt, spo2=spo2, pulse_rate=60 + k))  # type: ignore[arg-type]
        for k in range(n)
    )


@pytest.mark.parametrize("fmt", [2, 7])
def test_framer_one_byte_at_a_time(fmt: int) -> None:
    framer = nonin.NoninPacketFramer(fmt)  # type: ignore[arg-type]
    out = []
    for b in _stream(4, fmt):
        r = framer.feed(bytes([b]))
        out.extend(r.measurements)
        assert not r.errors
        assert framer.buffered <= framer.max_buffer
    assert [m.values["pulse_rate"] for m in out] == [60.0, 61.0, 62.0, 63.0]
    assert framer.stats.frames == 100 and framer.stats.bad_frames == 0
    assert framer.stats.dropped_bytes == 0


def test_framer_resynchronises_after_garbage() -> None:
    framer = nonin.NoninPacketFramer(2)
    stream = _stream(2)
    data = b"\x01\x80\xff garbage" + stream[:60] + b"\x55\xaa" + stream[60:] + _stream(2)
    r = framer.feed(data)
    # Packet 1 is cut by the garbage (dropped with an error); packet 2 and the next two pass.
    assert [m.values["pulse_rate"] for m in r.measurements] == [61.0, 60.0, 61.0]
    assert framer.stats.bad_frames >= 1 and r.errors
    assert framer.stats.dropped_bytes >= 12


def test_framer_starts_mid_packet() -> None:
    framer = nonin.NoninPacketFramer(2)
    r = framer.feed(_stream(3)[7 * 5 + 2 :])
    assert [m.values["pulse_rate"] for m in r.measurements] == [61.0, 62.0]
    assert not r.errors and framer.stats.dropped_bytes == 3


def test_framer_reports_a_short_packet_and_a_long_one() -> None:
    frames = [nonin.encode_frame(f) for f in nonin.build_packet(spo2=97, pulse_rate=72).frames]
    short = b"".join(frames[:10])
    framer = nonin.NoninPacketFramer(2)
    r = framer.feed(short + b"".join(frames) + b"".join(frames) + frames[1])
    assert len(r.measurements) == 2
    assert [e.reason for e in r.errors] == [
        "sync frame after only 10 frames of a packet", "frame 26 of a packet"
    ]


def test_framer_reports_out_of_range_packet() -> None:
    framer = nonin.NoninPacketFramer(2)
    packet = nonin.build_packet(spo2=97, pulse_rate=72, values={3: 120})
    r = framer.feed(nonin.encode_packet(packet))
    assert not r.measurements and len(r.errors) == 1 and r.errors[0].offset == 13


def test_framer_reset_and_flush() -> None:
    framer = nonin.NoninPacketFramer(2)
    framer.feed(_stream(1)[:50])
    framer.reset()
    assert framer.buffered == 0
    r = framer.feed(_stream(1))
    assert len(r.measurements) == 1
    framer.feed(b"\x01\x81")
    framer.flush()
    assert framer.buffered == 0


# --- format #8 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "frame"),
    [
        ("80 48 61 00", NoninFormat8(97, 72)),
        ("81 2C 5F 20", NoninFormat8(95, 172, smartpoint=True)),
        ("83 7F 7F 00", NoninFormat8(None, None)),
        ("FC 3C 60 09", NoninFormat8(96, 60, True, True, True, True, True, False, True, True)),
    ],
)
def test_format8(data: str, frame: NoninFormat8) -> None:
    assert nonin.decode_format8(h(data)) == frame
    assert nonin.encode_format8(frame) == h(data)
    as_reading(frame.to_measurement())


@pytest.mark.parametrize(
    ("frame", "flags", "quality"),
    [
        (NoninFormat8(97, 72), (), "valid"),
        (NoninFormat8(97, 72, low_battery=True), ("low_battery",), "valid"),
        (NoninFormat8(97, 72, smartpoint=True), ("smartpoint",), "valid"),
        (NoninFormat8(97, 72, marginal_perfusion=True), ("marginal_perfusion",), "valid"),
        (NoninFormat8(97, 72, low_perfusion=True), ("low_perfusion",), "questionable"),
        (NoninFormat8(97, 72, artifact=True), ("artifact",), "questionable"),
        (NoninFormat8(97, 72, out_of_track=True), ("out_of_track",), "questionable"),
        (NoninFormat8(97, 72, sensor_alarm=True), ("sensor_alarm",), "invalid"),
        (NoninFormat8(97, 72, sensor_disconnected=True), ("sensor_disconnected",), "invalid"),
        (NoninFormat8(None, 72), ("spo2_missing",), "invalid"),
    ],
)
def test_format8_flags(frame: NoninFormat8, flags: tuple[str, ...], quality: str) -> None:
    m = nonin.decode_format8(nonin.encode_format8(frame)).to_measurement()
    assert m.flags == flags and m.quality == quality


@pytest.mark.parametrize(
    ("data", "offset"),
    [("00 48 61 00", 0), ("80 C8 61 00", 1), ("80 48 E1 00", 2), ("80 48 61 80", 3),
     ("80 48 65 00", 2), ("80 48 61", 3)],
)
def test_format8_bad(data: str, offset: int) -> None:
    with pytest.raises(FrameError) as e:
        nonin.decode_format8(h(data))
    assert e.value.offset == offset


def test_format8_framer() -> None:
    frames = [nonin.encode_format8(NoninFormat8(90 + k, 60 + k)) for k in range(5)]
    data = b"\x10\x20" + frames[0] + frames[1][:2] + frames[2] + b"\x7f" + frames[3] + frames[4]
    framer = nonin.NoninFormat8Framer()
    out = []
    for b in data:
        r = framer.feed(bytes([b]))
        out.extend(r.measurements)
        assert framer.buffered <= framer.max_buffer
    assert [m.values["spo2"] for m in out] == [90.0, 92.0, 93.0, 94.0]
    assert framer.stats.frames == 4 and framer.stats.bad_frames == 2
    assert framer.stats.dropped_bytes == 5


# --- ASCII ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "decoded"),
    [
        (b"SPO2=097 HR=072", NoninAsciiLine(97, 72)),
        (b"SPO2=097 HR=072\r\n", NoninAsciiLine(97, 72)),
        (b"SPO2=--- HR=---", NoninAsciiLine(None, None)),
        (b"SPO2=098 HR=065 F", NoninAsciiLine(98, 65, fast=True)),
        (b"SPO2=098 HR=065*", NoninAsciiLine(98, 65, event=True)),
        (b"14:03:27 SPO2=099 HR=101", NoninAsciiLine(99, 101, time(14, 3, 27))),
        (b"14:03:27 SPO2=099 HR=101 B*", NoninAsciiLine(99, 101, time(14, 3, 27), False, True,
                                                         True)),
    ],
)
def test_ascii_lines(line: bytes, decoded: NoninAsciiLine) -> None:
    assert nonin.decode_ascii(line) == decoded
    assert nonin.decode_ascii(nonin.encode_ascii(decoded)) == decoded
    as_reading(decoded.to_measurement())


def test_ascii_missing_is_invalid_and_flags() -> None:
    m = nonin.decode_ascii(b"SPO2=--- HR=---").to_measurement()
    assert m.values == {} and m.quality == "invalid"
    assert m.flags == ("spo2_missing", "pulse_rate_missing")
    m = nonin.decode_ascii(b"SPO2=097 HR=072 F*").to_measurement()
    assert m.flags == ("fast_response", "event_marker") and m.quality == "valid"


@pytest.mark.parametrize(
    ("line", "offset"),
    [(b"SPO2=101 HR=072", 5), (b"25:00:00 SPO2=097 HR=072", 0), (b"SPO2=097 HR=072 X", 0),
     (b"Nonin 9847 V1.2", 0), (b"SPO2=097 HR=999", 12)],
)
def test_ascii_bad(line: bytes, offset: int) -> None:
    with pytest.raises(FrameError) as e:
        nonin.decode_ascii(line)
    assert e.value.offset == offset


def test_ascii_framer_skips_header_and_keeps_going() -> None:
    data = (b"Nonin 9847 04/05/26 14:03:20\r\n14:03:21 SPO2=097 HR=072\r\n"
            b"14:03:22 SPO2=1x7 HR=072\r\n14:03:23 SPO2=--- HR=---\r\n14:03:24 SPO2=096 HR=071")
    framer = nonin.ascii_framer()
    out = []
    for b in data:
        out.extend(framer.feed(bytes([b])).measurements)
    out.extend(framer.flush().measurements)
    assert [m.values.get("spo2") for m in out] == [97.0, None, 96.0]
    assert framer.stats.ignored == 1 and framer.stats.bad_frames == 1
    assert framer.stats.errors[0].offset == data.index(b"SPO2=1x7")


# --- format selection -------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "data"), [(2, "02 70 02 02 02 03"), (7, "02 70 02 02 07 03"),
                                           (8, "02 70 02 02 08 03"), (13, "02 70 02 02 0D 03")])
def test_format_select(fmt: int, data: str) -> None:
    assert nonin.encode_format_select(fmt) == h(data)
    assert nonin.decode_format_select(h(data)) == fmt


@pytest.mark.parametrize(
    ("data", "offset"),
    [("02 70 02 02 07", 5), ("03 70 02 02 07 03", 0), ("02 70 02 02 07 04", 5),
     ("02 70 02 02 05 03", 4), ("02 70 02 02 07 03 00", 6), ("02 71", 1)],
)
def test_format_select_bad(data: str, offset: int) -> None:
    with pytest.raises(FrameError) as e:
        nonin.decode_format_select(h(data))
    assert e.value.offset == offset


def test_format_select_refuses_unknown_format() -> None:
    with pytest.raises(ValueError):
        nonin.encode_format_select(5)


def test_format_reply() -> None:
    assert nonin.decode_format_reply(b"\x06") is FormatReply.ACK
    assert nonin.decode_format_reply(b"\x15") is FormatReply.NAK
    assert nonin.encode_format_reply(True) == b"\x06"
    assert nonin.encode_format_reply(False) == b"\x15"
    for bad in (b"", b"\x07", b"\x06\x06"):
        with pytest.raises(FrameError):
            nonin.decode_format_reply(bad)


def test_format_select_framer_answers_each_command() -> None:
    framer = nonin.FormatSelectFramer(supported=(2, 8))
    data = b"\x02\x02noise" + nonin.encode_format_select(8) + b"\x02\x70" + \
        nonin.encode_format_select(7)
    replies = []
    for b in data:
        replies.extend(framer.feed(bytes([b])).replies)
        assert framer.buffered <= framer.max_buffer
    assert replies == [b"\x06", b"\x15"]
    assert [f.format for f in framer.feed(nonin.encode_format_select(2)).frames] == [2]
