"""Masimo ASCII lines: both documented examples, key variants, EXC and ALARM bits."""

from __future__ import annotations

from datetime import datetime

import pytest

from drivers.protocols import masimo
from drivers.protocols.base import FrameError
from drivers.protocols.masimo import MasimoLine

from .helpers import as_reading

RAD8 = b"09/21/08 09:56:12 SpO2=097 PR=069 PI=04.69 EXC=800:SET"
RADICAL7 = (
    b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=072 PI=03.45% SPCO=--.-% SPMET=--.-% "
    b"DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000\r\n"
)


def test_rad8_example() -> None:
    line = masimo.decode_line(RAD8)
    assert line == MasimoLine(
        at=datetime(2008, 9, 21, 9, 56, 12), spo2=97.0, pulse_rate=69.0, perfusion_index=4.69,
        exceptions=0x800,
    )
    assert line.set_mode
    m = line.to_measurement()
    assert m.values == {"spo2": 97.0, "pulse_rate": 69.0, "perfusion_index": 4.69}
    assert m.flags == () and m.quality == "valid" and m.unit == "%"
    assert m.measured_at == datetime(2008, 9, 21, 9, 56, 12)
    as_reading(m)


def test_radical7_example() -> None:
    line = masimo.decode_line(RADICAL7)
    assert (line.spo2, line.pulse_rate, line.perfusion_index) == (98.0, 72.0, 3.45)
    assert line.serial_number == "0000056661" and line.alarm == 0 and line.exceptions == 0
    assert dict(line.extra) == {
        "SPCO": "--.-%", "SPMET": "--.-%", "DESAT": "--", "PIDELTA": "+--", "PVI": "---"
    }
    m = line.to_measurement()
    assert m.quality == "valid" and m.flags == ()
    as_reading(m)


def test_keys_in_any_order_and_case() -> None:
    line = masimo.decode_line(b"01/02/26 03:04:05 pi=1.5 bpm=80 spo2=95")
    assert (line.spo2, line.pulse_rate, line.perfusion_index) == (95.0, 80.0, 1.5)


@pytest.mark.parametrize(
    ("exc", "flags", "quality"),
    [
        ("000001", ("no_sensor",), "invalid"),
        ("000002", ("defective_sensor",), "invalid"),
        ("000004", ("low_perfusion",), "questionable"),
        ("000008", ("pulse_search",), "questionable"),
        ("000010", ("interference",), "questionable"),
        ("000020", ("sensor_off",), "invalid"),
        ("000040", ("ambient_light",), "questionable"),
        ("000080", ("unrecognized_sensor",), "invalid"),
        ("000400", ("low_signal_iq",), "questionable"),
        ("000800", (), "valid"),
        ("000100", ("exception_bit_8",), "valid"),
        ("000424", ("low_perfusion", "sensor_off", "low_signal_iq"), "invalid"),
    ],
)
def test_exception_bits(exc: str, flags: tuple[str, ...], quality: str) -> None:
    line = b"02/22/16 22:47:45 SPO2=098% BPM=072 PI=03.45% EXC=" + exc.encode()
    m = masimo.decode_line(line).to_measurement()
    assert m.flags == flags and m.quality == quality


@pytest.mark.parametrize(
    ("alarm", "flags"),
    [("0001", ("alarm_spo2_high",)), ("0002", ("alarm_spo2_low",)),
     ("0004", ("alarm_pulse_rate_high",)), ("0009", ("alarm_spo2_high", "alarm_bit_3"))],
)
def test_alarm_bits(alarm: str, flags: tuple[str, ...]) -> None:
    line = b"02/22/16 22:47:45 SPO2=088% BPM=072 ALARM=" + alarm.encode()
    m = masimo.decode_line(line).to_measurement()
    assert m.flags == flags and m.quality == "valid"


def test_dashes_are_absent_values() -> None:
    line = masimo.decode_line(b"02/22/16 22:47:45 SPO2=---% BPM=--- PI=--.--% EXC=000020")
    assert line.missing == ("spo2", "pulse_rate", "perfusion_index")
    m = line.to_measurement()
    assert m.values == {} and m.quality == "invalid"
    assert m.flags == ("spo2_missing", "pulse_rate_missing", "perfusion_index_missing",
                       "sensor_off")
    as_reading(m)
    pi_only = masimo.decode_line(b"02/22/16 22:47:45 SPO2=097% BPM=070 PI=--.--%")
    assert pi_only.to_measurement().quality == "valid"


@pytest.mark.parametrize(
    ("line", "offset", "reason"),
    [
        (b"", 0, "date"),
        (b"SPO2=097 PR=069", 0, "date"),
        (b"13/21/08 09:56:12 SpO2=097", 0, "month"),
        (b"09/21/08 09:61:12 SpO2=097", 0, "minute"),
        (b"09/21/08 0956:12 SpO2=097", 9, "time"),
        (b"09/21/08 09:56:12 SpO2=1O0", 23, "number"),
        (b"09/21/08 09:56:12 SpO2=101", 23, "spo2"),
        (b"09/21/08 09:56:12 SpO2=097 PR=600", 30, "pulse_rate"),
        (b"09/21/08 09:56:12 SpO2=097 EXC=zz", 31, "hexadecimal"),
        (b"09/21/08 09:56:12 SpO2=097 SPO2=098", 27, "twice"),
        (b"09/21/08 09:56:12 SPCO=01.0", 0, "no SpO2"),
    ],
)
def test_bad_lines(line: bytes, offset: int, reason: str) -> None:
    with pytest.raises(FrameError) as e:
        masimo.decode_line(line)
    assert e.value.offset == offset and reason in e.value.reason


@pytest.mark.parametrize("style", ["rad8", "radical7"])
def test_encode_round_trip(style: masimo.Style) -> None:
    line = MasimoLine(
        at=datetime(2026, 1, 5, 9, 30, 1), spo2=96.0, pulse_rate=88.0, perfusion_index=2.5,
        exceptions=0x804, alarm=0x0002, serial_number="123", extra=(("PVI", "---"),),
    )
    data = masimo.encode_line(line, style)
    assert data.endswith(b"\r\n")
    assert masimo.decode_line(data) == line


def test_encoder_styles() -> None:
    line = masimo.decode_line(RAD8)
    assert masimo.encode_line(line, "rad8") == b"09/21/08 09:56:12 SpO2=097 PR=069 PI=04.69 " \
        b"EXC=000800\r\n"
    assert b"SPO2=097% BPM=069 PI=04.69%" in masimo.encode_line(line, "radical7")


def test_framer() -> None:
    framer = masimo.framer()
    data = b"Masimo Rad-8\r\n" + RADICAL7 + b"x" * 5000 + b"\r\n" + RAD8 + b"\n"
    out = []
    for k in range(0, len(data), 7):
        out.extend(framer.feed(data[k : k + 7]).measurements)
        assert framer.buffered <= framer.max_buffer
    assert len(out) == 2 and out[1].values["spo2"] == 97.0
    assert framer.stats.ignored == 1 and framer.stats.bad_frames == 1
    assert framer.stats.dropped_bytes == 5000
