"""Properties over arbitrary input: decoders raise only ``FrameError`` and whatever they
return is a valid Reading; framers never raise, stay bounded and do not depend on how the
bytes are cut; encoders and decoders round-trip."""

from __future__ import annotations

import contextlib
import json
import string
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.protocols import gatt, hl7, masimo, nonin
from drivers.protocols.base import INTERNAL_ERROR, FeedResult, FrameError, Framer, Measurement
from drivers.protocols.gatt import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    HeartRateMeasurement,
    IntermediateCuffPressure,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
)
from drivers.protocols.ieee11073 import DateTime, Number, Special, sfloat_from_raw
from drivers.protocols.registry import PROTOCOLS

from .helpers import check_all
from .vectors import all_vectors, stream

VECTORS = all_vectors()
VECTORS.setdefault("nonin-7", [])
SERIAL = [name for name, spec in PROTOCOLS.items() if spec.framer is not None]
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutate(frame: bytes, edits: list[tuple[int, int, str]]) -> bytes:
    data = bytearray(frame)
    for pos, byte, how in edits:
        pos = pos % (len(data) + 1)
        if how == "set" and pos < len(data):
            data[pos] = byte
        elif how == "insert":
            data.insert(pos, byte)
        elif how == "delete" and pos < len(data):
            del data[pos]
        elif how == "cut":
            del data[pos:]
    return bytes(data)


def frames_for(name: str) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, and valid frames of the protocol with a few bytes changed."""
    edits = st.lists(
        st.tuples(st.integers(0, 300), st.integers(0, 255),
                  st.sampled_from(["set", "insert", "delete", "cut"])),
        max_size=4,
    )
    options: list[st.SearchStrategy[bytes]] = [st.binary(max_size=160)]
    if VECTORS[name]:
        options.append(st.builds(_mutate, st.sampled_from(VECTORS[name]), edits))
    return st.one_of(*options)


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
@FAST
@given(data=st.data())
def test_decoders_raise_only_frame_error(name: str, data: st.DataObject) -> None:
    spec = PROTOCOLS[name]
    frame = data.draw(frames_for(name))
    with contextlib.suppress(FrameError):
        json.dumps(spec.inspect(frame))
    try:
        if spec.decode is not None:
            check_all(spec.decode(frame), name)
        if spec.features is not None:
            json.dumps(spec.features(frame))
    except FrameError:
        pass


@FAST
@given(st.binary(max_size=140), st.sampled_from([2, 7]))
def test_nonin_frame_decoders_raise_only_frame_error(data: bytes, fmt: int) -> None:
    for decoder in (nonin.decode_frame, nonin.decode_frames, nonin.decode_packet):
        with contextlib.suppress(FrameError):
            decoder(data, fmt)  # type: ignore[operator]
    for other in (nonin.decode_format_select, nonin.decode_format_reply, nonin.decode_ascii,
                  hl7.decode_ack, hl7.decode_header, masimo.decode_line):
        with contextlib.suppress(FrameError):
            other(data)  # type: ignore[operator]


@FAST
@given(st.text(max_size=30))
def test_hl7_time_parser_raises_only_frame_error(text: str) -> None:
    with contextlib.suppress(FrameError):
        hl7.parse_ts(text)


# --- framers -----------------------------------------------------------------------------------


def _pieces(name: str) -> st.SearchStrategy[list[bytes]]:
    clean = stream(name)
    valid_slice = st.tuples(st.integers(0, len(clean)), st.integers(0, len(clean))).map(
        lambda ab: clean[min(ab) : max(ab)]
    )
    return st.lists(st.one_of(st.binary(max_size=48), valid_slice, st.just(clean)), max_size=12)


def _run(name: str, pieces: list[bytes],
         make: Callable[[], Framer] | None = None) -> tuple[Any, ...]:
    spec = PROTOCOLS[name]
    assert spec.framer is not None
    framer = (make or spec.framer)()
    total = FeedResult()
    for piece in pieces:
        result = framer.feed(piece)
        assert framer.buffered <= framer.max_buffer
        total.extend(result)
    total.extend(framer.flush())
    check_all(total.measurements, name)
    assert not any(e.reason.startswith(INTERNAL_ERROR) for e in total.errors)
    s = framer.stats
    assert min(s.frames, s.bad_frames, s.dropped_bytes, s.ignored) >= 0
    assert len(s.errors) <= 16
    return (
        total.measurements,
        total.replies,
        [(e.offset, e.reason) for e in total.errors],
        (s.frames, s.bad_frames, s.dropped_bytes, s.ignored),
    )


@pytest.mark.parametrize("name", SERIAL)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_framers_never_raise_stay_bounded_and_ignore_chunking(
    name: str, data: st.DataObject
) -> None:
    pieces = data.draw(_pieces(name))
    joined = b"".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(joined)), max_size=10)))
    rechunked = [joined[a:b] for a, b in zip([0, *cuts], [*cuts, len(joined)], strict=True)]
    one_byte = [joined[k : k + 1] for k in range(len(joined))]
    expected = _run(name, [joined])
    assert _run(name, rechunked) == expected
    assert _run(name, one_byte) == expected


@pytest.mark.parametrize("max_buffer", [1, 16, 80, 300])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_message_too_long_is_named_alike_however_the_stream_is_cut(
    max_buffer: int, data: st.DataObject
) -> None:
    """With a buffer smaller than the messages, so too long meets cut short (a start block
    before the end): which is named depends on the bytes, not on the reads."""
    def small() -> Framer:
        return hl7.MllpFramer(max_buffer=max_buffer)
    pieces = data.draw(_pieces("hl7"))
    joined = b"".join(pieces)
    one_byte = [joined[k : k + 1] for k in range(len(joined))]
    assert _run("hl7", one_byte, small) == _run("hl7", [joined], small)

    def one() -> Framer:
        return hl7.MllpFramer(max_buffer=1)
    assert _run("hl7", [b"\x0bAA\x0b"], one) == _run("hl7", [b"\x0b", b"A", b"A", b"\x0b"], one)


@pytest.mark.parametrize("name", SERIAL)
@pytest.mark.parametrize("between", ["reset", "flush"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_an_error_offset_is_its_position_in_the_whole_stream(
    name: str, between: str, data: st.DataObject
) -> None:
    """Every framer counts offsets from the first byte it was fed, across a reset (a
    reconnect) or a flush: what a fresh framer reports at offset k is reported at
    ``len(before) + k`` after ``before``."""
    spec = PROTOCOLS[name]
    assert spec.framer is not None
    before = b"".join(data.draw(_pieces(name)))
    after = b"".join(data.draw(_pieces(name)))
    fresh = spec.framer()
    expected = [(e.offset, e.reason) for e in [*fresh.feed(after).errors, *fresh.flush().errors]]
    framer = spec.framer()
    framer.feed(before)
    getattr(framer, between)()
    got = [*framer.feed(after).errors, *framer.flush().errors]
    assert [(e.offset - len(before), e.reason) for e in got] == expected


@pytest.mark.parametrize("name", SERIAL)
def test_a_flood_without_delimiters_stays_bounded(name: str) -> None:
    spec = PROTOCOLS[name]
    assert spec.framer is not None
    framer = spec.framer()
    for flood in (b"\x0b" + b"x" * 300_000, b"A" * 300_000, bytes(range(256)) * 1200):
        for k in range(0, len(flood), 65536):
            framer.feed(flood[k : k + 65536])
            assert framer.buffered <= framer.max_buffer
    # ... and it still decodes what comes after.
    framer.reset()
    assert framer.feed(b"\r\n" + stream(name)).measurements


def test_format_select_framer_property() -> None:
    @settings(max_examples=80, deadline=None)
    @given(st.lists(st.one_of(st.binary(max_size=10),
                              st.sampled_from([nonin.encode_format_select(f) for f in (2, 7, 8)])),
                    max_size=10))
    def check(pieces: list[bytes]) -> None:
        framer = nonin.FormatSelectFramer()
        for piece in pieces:
            r = framer.feed(piece)
            assert framer.buffered <= framer.max_buffer
            assert all(x in (b"\x06", b"\x15") for x in r.replies)

    check()


# --- round trips ---------------------------------------------------------------------------------


def sfloats(low: float, high: float, specials: bool = True) -> st.SearchStrategy[Number]:
    numbers = st.builds(
        lambda m, e: sfloat_from_raw(((e & 0xF) << 12) | (m & 0xFFF)),
        st.integers(0, 2045), st.integers(-3, 2),
    ).filter(lambda v: isinstance(v, float) and low <= v <= high)
    if not specials:
        return numbers
    return st.one_of(numbers, st.sampled_from(list(Special)))


date_times = st.builds(
    DateTime,
    st.one_of(st.none(), st.integers(1582, 9999)),
    st.one_of(st.none(), st.integers(1, 12)),
    st.one_of(st.none(), st.integers(1, 31)),
    st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
)


def _bp(unit: str) -> st.SearchStrategy[BloodPressureMeasurement]:
    high = 400 if unit == "mm[Hg]" else 53
    p = sfloats(0, high)
    return st.builds(
        BloodPressureMeasurement, p, p, p, st.just(unit),
        st.one_of(st.none(), date_times), st.one_of(st.none(), sfloats(0, 300)),
        st.one_of(st.none(), st.integers(0, 255)), st.one_of(st.none(), st.integers(0, 0xFFFF)),
    )


def _roundtrip(decode: Any, encode: Any, value: Any) -> Measurement:
    back = decode(encode(value))
    assert back == value
    m: Measurement = back.to_measurement()
    check_all([m])
    return m


@FAST
@given(st.one_of(_bp("mm[Hg]"), _bp("kPa")))
def test_blood_pressure_round_trip(bp: BloodPressureMeasurement) -> None:
    _roundtrip(gatt.decode_blood_pressure, gatt.encode_blood_pressure, bp)


@FAST
@given(st.builds(IntermediateCuffPressure, sfloats(0, 53), st.sampled_from(["mm[Hg]", "kPa"]),
                 st.one_of(st.none(), date_times), st.one_of(st.none(), sfloats(0, 300)),
                 st.one_of(st.none(), st.integers(0, 255)),
                 st.one_of(st.none(), st.integers(0, 0xFFFF))))
def test_cuff_pressure_round_trip(icp: IntermediateCuffPressure) -> None:
    _roundtrip(gatt.decode_intermediate_cuff_pressure, gatt.encode_intermediate_cuff_pressure, icp)


@FAST
@given(st.integers(0, 511), st.booleans(), st.booleans(), st.booleans(),
       st.one_of(st.none(), st.integers(0, 0xFFFF)),
       st.lists(st.integers(0, 0xFFFF), max_size=8))
def test_heart_rate_round_trip(hr: int, supported: bool, detected: bool, wide: bool,
                               energy: int | None, rr: list[int]) -> None:
    value = HeartRateMeasurement(hr, supported, detected, energy, tuple(rr), wide or hr > 255)
    _roundtrip(gatt.decode_heart_rate, gatt.encode_heart_rate, value)


_status = st.one_of(st.none(), st.integers(0, 0xFFFF))
_device = st.one_of(st.none(), st.integers(0, 0xFFFFFF))
_pai = st.one_of(st.none(), sfloats(0, 100))


@FAST
@given(st.builds(PlxSpotCheck, sfloats(0, 100), sfloats(0, 300), st.one_of(st.none(), date_times),
                 _status, _device, _pai, st.booleans()))
def test_plx_spot_check_round_trip(plx: PlxSpotCheck) -> None:
    _roundtrip(gatt.decode_plx_spot_check, gatt.encode_plx_spot_check, plx)


@FAST
@given(sfloats(0, 100), sfloats(0, 300),
       st.one_of(st.none(), st.tuples(sfloats(0, 100), sfloats(0, 300))),
       st.one_of(st.none(), st.tuples(sfloats(0, 100), sfloats(0, 300))),
       _status, _device, _pai)
def test_plx_continuous_round_trip(spo2: Number, pr: Number, fast: Any, slow: Any,
                                   status: int | None, device: int | None,
                                   pai: Number | None) -> None:
    fast = fast or (None, None)
    slow = slow or (None, None)
    plx = PlxContinuous(spo2, pr, *fast, *slow, status, device, pai)
    _roundtrip(gatt.decode_plx_continuous, gatt.encode_plx_continuous, plx)


@FAST
@given(st.lists(st.booleans(), min_size=9, max_size=9),
       st.sets(st.sampled_from(list(gatt.PLX_FEATURE_BITS.values()))),
       st.sets(st.sampled_from(list(gatt.PLX_MEASUREMENT_STATUS_BITS.values()))),
       st.sets(st.sampled_from(list(gatt.PLX_DEVICE_STATUS_BITS.values()))))
def test_feature_round_trips(bits: list[bool], features: set[str], status: set[str],
                             device: set[str]) -> None:
    bp = BloodPressureFeature(*bits)
    assert gatt.decode_blood_pressure_feature(gatt.encode_blood_pressure_feature(bp)) == bp
    plx = PlxFeatures(
        frozenset(features),
        frozenset(status) if "measurement_status_support" in features else frozenset(),
        frozenset(device) if "device_status_support" in features else frozenset(),
    )
    assert gatt.decode_plx_features(gatt.encode_plx_features(plx)) == plx


_spo2 = st.one_of(st.none(), st.integers(0, 100))
_rate = st.one_of(st.none(), st.integers(0, 510))


@FAST
@given(st.sampled_from([2, 7]), _spo2, _rate, st.lists(st.integers(0, 0x7E), min_size=25,
                                                         max_size=25), st.data())
def test_nonin_packet_round_trip(fmt: int, spo2: int | None, rate: int | None,
                                 statuses: list[int], data: st.DataObject) -> None:
    top = 0xFF if fmt == 2 else 0xFFFF
    pleth = data.draw(st.lists(st.integers(0, top), min_size=25, max_size=25))
    packet = nonin.build_packet(fmt, spo2=spo2, pulse_rate=rate, status=statuses,  # type: ignore[arg-type]
                                pleth=pleth)
    back = nonin.decode_packet(nonin.encode_packet(packet), fmt)  # type: ignore[arg-type]
    assert back == packet and (back.spo2, back.pulse_rate) == (spo2, rate)
    check_all([back.to_measurement()])


@FAST
@given(st.builds(nonin.NoninFormat8, _spo2, _rate, *[st.booleans()] * 8))
def test_nonin_format8_round_trip(frame: nonin.NoninFormat8) -> None:
    _roundtrip(nonin.decode_format8, nonin.encode_format8, frame)


@FAST
@given(st.builds(nonin.NoninAsciiLine, _spo2, st.one_of(st.none(), st.integers(0, 511)),
                 st.one_of(st.none(), st.times().map(lambda t: t.replace(microsecond=0))),
                 st.booleans(), st.booleans(), st.booleans()))
def test_nonin_ascii_round_trip(line: nonin.NoninAsciiLine) -> None:
    _roundtrip(nonin.decode_ascii, nonin.encode_ascii, line)


_key = st.text(string.ascii_uppercase, min_size=1, max_size=6).filter(
    lambda k: k not in ("SPO2", "PR", "BPM", "PI", "EXC", "ALARM", "SN")
)
_token_value = st.text(string.ascii_letters + string.digits + "-.%+", min_size=1, max_size=8)


@FAST
@given(
    st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.sampled_from(["value", "missing"]), st.integers(0, 100),
    st.sampled_from(["value", "missing", "absent"]), st.integers(0, 511),
    st.sampled_from(["value", "missing", "absent"]), st.integers(0, 9999),
    st.one_of(st.none(), st.integers(0, 0xFFFFFF)), st.one_of(st.none(), st.integers(0, 0xFFFF)),
    st.one_of(st.none(), st.text(string.digits, min_size=1, max_size=10)),
    st.lists(st.tuples(_key, st.one_of(st.none(), _token_value)), max_size=3),
    st.sampled_from(["rad8", "radical7"]),
)
def test_masimo_round_trip(at: datetime, s_how: str, spo2: int, p_how: str, pr: int,
                           i_how: str, pi: int, exc: int | None, alarm: int | None,
                           serial: str | None, extra: list[tuple[str, str | None]],
                           style: masimo.Style) -> None:
    hows = {"spo2": s_how, "pulse_rate": p_how, "perfusion_index": i_how}
    line = masimo.MasimoLine(
        at=at,
        spo2=float(spo2) if s_how == "value" else None,
        pulse_rate=float(pr) if p_how == "value" else None,
        perfusion_index=pi / 100 if i_how == "value" else None,
        exceptions=exc,
        alarm=alarm,
        serial_number=serial,
        missing=tuple(name for name, how in hows.items() if how == "missing"),
        extra=tuple(extra),
    )
    back = masimo.decode_line(masimo.encode_line(line, style))
    assert back == line
    check_all([back.to_measurement()])


_tenths = st.integers(0, 3000).map(lambda k: k / 10)


@FAST
@given(st.lists(st.one_of(
    st.builds(lambda s, d, m: Measurement("blood_pressure", {"systolic": s, "diastolic": d,
                                                             "mean": m}, "mm[Hg]"),
              _tenths, _tenths, _tenths),
    st.builds(lambda s, p: Measurement("spo2", {"spo2": s, "pulse_rate": p}, "%"),
              st.integers(0, 1000).map(lambda k: k / 10), _tenths),
    st.builds(lambda h: Measurement("heart_rate", {"heart_rate": h}, "/min"), _tenths),
), max_size=4))
def test_hl7_round_trip(ms: list[Measurement]) -> None:
    at = datetime(2026, 1, 5, 9, 30)
    message = hl7.decode_message(hl7.encode_oru(ms, control_id="R", at=at))
    expected = [Measurement(m.kind, m.values, m.unit, measured_at=at) for m in ms]
    assert message.to_measurements() == expected
    check_all(expected)
