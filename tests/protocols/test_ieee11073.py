"""IEEE 11073-20601 SFLOAT, FLOAT and Date Time."""

from __future__ import annotations

import contextlib
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.protocols.base import FrameError
from drivers.protocols.ieee11073 import (
    DateTime,
    Special,
    decode_date_time,
    decode_float,
    decode_sfloat,
    encode_date_time,
    encode_sfloat,
    float_from_raw,
    float_to_raw,
    sfloat_from_raw,
    sfloat_to_raw,
)

from .helpers import h


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("78 00", 120.0),  # exponent 0: not biased
        ("BD F0", 18.9),  # exponent -1, mantissa 189
        ("0B 00", 11.0),
        ("9F F0", 15.9),
        ("D7 F0", 21.5),
        ("64 00", 100.0),
        ("E8 F3", 100.0),  # 1000e-1
        ("84 F3", 90.0),
        ("57 F0", 8.7),
        ("66 E3", 8.7),  # 870e-2
        ("00 00", 0.0),
        ("FF 0F", -1.0),  # mantissa -1
        ("01 18", -20470.0),  # mantissa -2047 with exponent 1 is a number, not reserved
        ("FD 07", 2045.0),
        ("03 08", -2045.0),
        ("01 70", 1e7),  # exponent 7
        ("01 80", 1e-8),  # exponent -8
        ("FF 17", 20470.0),  # mantissa 2047 with exponent 1 is a number, not NaN
    ],
)
def test_sfloat_values(data: str, expected: float) -> None:
    value = decode_sfloat(h(data))
    assert isinstance(value, float)
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("data", "special"),
    [
        ("FF 07", Special.NAN),
        ("00 08", Special.NRES),
        ("FE 07", Special.POSITIVE_INFINITY),
        ("02 08", Special.NEGATIVE_INFINITY),
        ("01 08", Special.RESERVED),
    ],
)
def test_sfloat_specials_are_never_numbers(data: str, special: Special) -> None:
    assert decode_sfloat(h(data)) is special
    assert encode_sfloat(special) == h(data)


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (0x007FFFFF, Special.NAN),
        (0x00800000, Special.NRES),
        (0x007FFFFE, Special.POSITIVE_INFINITY),
        (0x00800002, Special.NEGATIVE_INFINITY),
        (0x00800001, Special.RESERVED),
    ],
)
def test_float_specials(raw: int, special: Special) -> None:
    assert float_from_raw(raw) is special
    assert float_to_raw(special) == raw


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("78 00 00 00", 120.0),
        ("BD 00 00 FF", 18.9),
        ("FF FF FF 00", -1.0),
        ("01 00 00 02", 100.0),
        ("1F 85 01 FE", 996.15),  # mantissa 0x01851F = 99615, exponent -2
        ("00 00 80 7F", -8388608e127),
    ],
)
def test_float_values(data: str, expected: float) -> None:
    value = decode_float(h(data))
    assert isinstance(value, float)
    assert value == pytest.approx(expected, rel=1e-12)


def test_encoder_prefers_the_shortest_exact_form() -> None:
    assert encode_sfloat(120) == h("78 00")
    assert encode_sfloat(18.9) == h("BD F0")
    assert encode_sfloat(8.7, exponent=-2) == h("66 E3")
    assert encode_sfloat(100.0, exponent=-1) == h("E8 F3")
    assert sfloat_to_raw(1e5) == 0x23E8  # 1000e2
    assert decode_sfloat(encode_sfloat(1 / 3)) == pytest.approx(0.333)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e12])
def test_encoder_refuses_what_it_cannot_hold(bad: float) -> None:
    with pytest.raises(ValueError):
        encode_sfloat(bad)


def test_encoder_refuses_a_mantissa_that_does_not_fit_the_exponent() -> None:
    with pytest.raises(ValueError):
        encode_sfloat(3000, exponent=0)
    with pytest.raises(ValueError):
        encode_sfloat(1, exponent=9)


def test_truncated_numbers_raise_frame_error_with_offset() -> None:
    with pytest.raises(FrameError) as e:
        decode_sfloat(h("01 02 03"), 2, protocol="x")
    assert (e.value.protocol, e.value.offset) == ("x", 2)
    with pytest.raises(FrameError):
        decode_float(h("01 02 03"))


def test_date_time() -> None:
    dt = decode_date_time(h("E8 07 0B 1D 17 08 39"))
    assert dt == DateTime(2024, 11, 29, 23, 8, 57)
    assert dt.to_datetime() == datetime(2024, 11, 29, 23, 8, 57)
    unknown = decode_date_time(h("00 00 04 11 14 29 3B"))
    assert unknown == DateTime(None, 4, 17, 20, 41, 59)
    assert not unknown.complete and unknown.to_datetime() is None
    assert decode_date_time(h("E8 07 00 00 00 00 00")).to_datetime() is None
    # A date that does not exist decodes, but gives no datetime.
    assert decode_date_time(h("E8 07 02 1F 00 00 00")).to_datetime() is None
    assert encode_date_time(dt) == h("E8 07 0B 1D 17 08 39")
    assert encode_date_time(datetime(2024, 11, 29, 23, 8, 57)) == h("E8 07 0B 1D 17 08 39")
    assert encode_date_time(unknown) == h("00 00 04 11 14 29 3B")


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        ("E8 07 0D 01 00 00 00", 2),  # month 13
        ("E8 07 01 20 00 00 00", 3),  # day 32
        ("E8 07 01 01 18 00 00", 4),  # hour 24
        ("E8 07 01 01 00 3C 00", 5),
        ("E8 07 01 01 00 00 3C", 6),
        ("01 00 01 01 00 00 00", 0),  # year 1
        ("E8 07 01 01 00 00", 0),  # truncated
    ],
)
def test_date_time_out_of_range(data: str, offset: int) -> None:
    with pytest.raises(FrameError) as e:
        decode_date_time(h(data))
    assert e.value.offset == offset


def test_every_sfloat_round_trips() -> None:
    """All 65,536 SFLOATs: the encoder finds a form that decodes to the same value."""
    for raw in range(0x10000):
        value = sfloat_from_raw(raw)
        assert sfloat_from_raw(sfloat_to_raw(value)) == value, hex(raw)


def test_mantissas_next_to_the_specials() -> None:
    # With exponent 0 they are the specials, so 2047 can only be rounded ...
    assert sfloat_from_raw(sfloat_to_raw(2047.0)) == 2050.0
    # ... with another exponent they are numbers, used when no other form is exact.
    assert sfloat_to_raw(20470.0) == 0x17FF
    assert sfloat_to_raw(-20480.0) == 0x1800


@settings(max_examples=300)
@given(st.integers(0, 0xFFFFFFFF))
def test_float_raw_round_trip(raw: int) -> None:
    value = float_from_raw(raw)
    assert float_from_raw(float_to_raw(value)) == value


@settings(max_examples=200)
@given(st.integers(-2045, 2045), st.integers(-8, 7))
def test_sfloat_encode_decode_with_exponent(mantissa: int, exponent: int) -> None:
    value = sfloat_from_raw(((exponent & 0xF) << 12) | (mantissa & 0xFFF))
    assert isinstance(value, float)
    assert decode_sfloat(encode_sfloat(value, exponent)) == value


@settings(max_examples=200)
@given(st.binary(max_size=12), st.integers(-2, 14))
def test_number_decoders_raise_only_frame_error(data: bytes, offset: int) -> None:
    for decoder in (decode_sfloat, decode_float, decode_date_time):
        with contextlib.suppress(FrameError):
            decoder(data, offset)
