"""Nonin pulse oximeters on a serial line (9600 baud, 8N1): OEM III data formats #2, #7 and
#8, the ASCII real-time output of the handheld and tabletop models, and the command that
selects a data format. Source: Nonin OEM III module specifications; Nonin 2500/8500/9847 and
Avant 4000 operator's manuals ("Real-Time Patient Data Output").

Formats #2 and #7 stream 5-byte frames at 75 frames/s, 25 frames to a packet (one packet a
third of a second); the FLOAT byte of frame N carries a different number for each N (frame
1-2 heart rate, 3 SpO2, ...). The packet framer finds frame sync, checks every checksum,
starts a packet at the frame whose status has the sync bit, and turns each complete packet
into one ``spo2`` measurement. Format #8 is one self-contained 4-byte frame a second.

Missing data is HR 511 and SpO2 127: the field is left out, the measurement is ``invalid``
and carries ``pulse_rate_missing`` or ``spo2_missing``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from typing import Literal

from drivers.protocols.base import (
    BufferedFramer,
    FeedResult,
    FrameError,
    LineFramer,
    Measurement,
    check_value,
    worst_quality,
)
from drivers.wire import Quality, ReadingValue

PacketFormat = Literal[2, 7]
FRAME_SIZE = 5
FRAMES_PER_PACKET = 25
PACKET_SIZE = FRAME_SIZE * FRAMES_PER_PACKET
HR_MISSING = 511
SPO2_MISSING = 127

# --- status bits (formats #2 and #7) --------------------------------------------------------

STATUS_ALWAYS = 0x80
STATUS_SENSOR_DISCONNECTED = 0x40
STATUS_ARTIFACT = 0x20
STATUS_OUT_OF_TRACK = 0x10
STATUS_SENSOR_ALARM = 0x08
STATUS_RED_PERFUSION = 0x04
STATUS_GREEN_PERFUSION = 0x02
STATUS_SYNC = 0x01

STATUS_BITS: dict[int, str] = {
    STATUS_SENSOR_DISCONNECTED: "sensor_disconnected",
    STATUS_ARTIFACT: "artifact",
    STATUS_OUT_OF_TRACK: "out_of_track",
    STATUS_SENSOR_ALARM: "sensor_alarm",
}
_PERFUSION = {
    STATUS_GREEN_PERFUSION: "green",
    STATUS_RED_PERFUSION | STATUS_GREEN_PERFUSION: "yellow",
    STATUS_RED_PERFUSION: "red",
}
_PERFUSION_RANK = {"green": 1, "yellow": 2, "red": 3}

_INVALID = frozenset(
    {"sensor_disconnected", "sensor_alarm", "spo2_missing", "pulse_rate_missing"}
)
# Red perfusion (a weak pulse signal) is reported as ``low_perfusion`` too.
_QUESTIONABLE = frozenset({"artifact", "out_of_track", "low_perfusion"})


def _quality(flags: Sequence[str], values: Mapping[str, ReadingValue]) -> Quality:
    qualities: list[Quality] = []
    for f in flags:
        if f in _INVALID:
            qualities.append("invalid")
        elif f in _QUESTIONABLE:
            qualities.append("questionable")
    return worst_quality(*qualities) if values else "invalid"


def _protocol(fmt: int) -> str:
    return f"nonin-{fmt}"


# --- formats #2 and #7: frames ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoninFrame:
    """One 5-byte frame: ``status`` (bit 7 always set), ``pleth`` (8-bit in #2, 16-bit in
    #7) and ``value``, the FLOAT byte whose meaning depends on the frame's place in its
    packet."""

    status: int
    pleth: int
    value: int

    @property
    def sync(self) -> bool:
        return bool(self.status & STATUS_SYNC)

    @property
    def flags(self) -> tuple[str, ...]:
        names = [name for bit, name in STATUS_BITS.items() if self.status & bit]
        colour = _PERFUSION.get(self.status & (STATUS_RED_PERFUSION | STATUS_GREEN_PERFUSION))
        if colour:
            names.append(f"perfusion_{colour}")
        return tuple(names)


def _frame_problem(data: bytes | bytearray, i: int, fmt: int) -> str | None:
    """Why the 5 bytes at ``i`` are not a frame of format ``fmt`` (``None``: they are)."""
    if fmt == 2:
        if data[i] != 0x01:
            return f"frame starts with 0x{data[i]:02X}, not 0x01"
        status = data[i + 1]
    else:
        status = data[i]
    if not status & STATUS_ALWAYS:
        return f"status byte 0x{status:02X} lacks bit 7"
    checksum = (data[i] + data[i + 1] + data[i + 2] + data[i + 3]) & 0xFF
    if checksum != data[i + 4]:
        return f"checksum 0x{data[i + 4]:02X}, expected 0x{checksum:02X}"
    return None


def _frame_at(data: bytes | bytearray, i: int, fmt: int) -> NoninFrame:
    if fmt == 2:
        return NoninFrame(data[i + 1], data[i + 2], data[i + 3])
    return NoninFrame(data[i], data[i + 1] << 8 | data[i + 2], data[i + 3])


def decode_frame(data: bytes, fmt: PacketFormat = 2) -> NoninFrame:
    """One 5-byte frame of format #2 (``01 STATUS PLETH FLOAT CHK``) or #7 (``STATUS
    PLETH_MSB PLETH_LSB FLOAT CHK``); the checksum is the sum of bytes 1-4 mod 256."""
    if len(data) != FRAME_SIZE:
        offset = min(len(data), FRAME_SIZE)
        raise FrameError(_protocol(fmt), offset, f"a frame has 5 bytes, not {len(data)}")
    problem = _frame_problem(data, 0, fmt)
    if problem:
        raise FrameError(_protocol(fmt), 0, problem)
    return _frame_at(data, 0, fmt)


def encode_frame(frame: NoninFrame, fmt: PacketFormat = 2) -> bytes:
    """The 5 bytes of ``frame``, with the checksum. Bit 7 of the status is always set."""
    status = frame.status | STATUS_ALWAYS
    if fmt == 2:
        body = bytes((0x01, status, frame.pleth & 0xFF, frame.value & 0xFF))
    else:
        body = bytes((status, frame.pleth >> 8 & 0xFF, frame.pleth & 0xFF, frame.value & 0xFF))
    return body + bytes((sum(body) & 0xFF,))


# --- formats #2 and #7: packets --------------------------------------------------------------

# Frame number (1-based) of each number the FLOAT bytes carry.
_HR_MSB, _HR_LSB, _SPO2, _FIRMWARE = 1, 2, 3, 4
_TIMER_MSB, _TIMER_LSB, _STAT2 = 6, 7, 8
_SPO2_D, _SPO2_FAST, _SPO2_BEAT = 9, 10, 11
_E_HR_MSB, _E_HR_LSB, _E_SPO2, _E_SPO2_D = 14, 15, 16, 17
_HR_D_MSB, _HR_D_LSB, _E_HR_D_MSB, _E_HR_D_LSB = 20, 21, 22, 23


def _hr(msb: int, lsb: int) -> int | None:
    value = (msb & 0x03) << 7 | (lsb & 0x7F)
    return None if value == HR_MISSING else value


def _spo2(byte: int) -> int | None:
    return None if byte == SPO2_MISSING else byte


@dataclass(frozen=True, slots=True)
class NoninPacket:
    """25 frames of format #2 or #7, frame 1 carrying the sync bit.

    The numbers are read from the FLOAT bytes: ``pulse_rate`` and ``spo2`` are the 4-beat
    averages the measurement carries; ``*_d`` are the display values, ``e_*`` the extended
    averages, ``spo2_fast`` and ``spo2_beat_to_beat`` the faster ones. ``None`` means the
    oximeter sent the missing-data value.
    """

    format: PacketFormat
    frames: tuple[NoninFrame, ...]

    def _value(self, frame: int) -> int:
        return self.frames[frame - 1].value

    @property
    def pulse_rate(self) -> int | None:
        return _hr(self._value(_HR_MSB), self._value(_HR_LSB))

    @property
    def spo2(self) -> int | None:
        return _spo2(self._value(_SPO2))

    @property
    def firmware_revision(self) -> int:
        return self._value(_FIRMWARE)

    @property
    def timer(self) -> tuple[int, int]:
        """The raw timer bytes (MSB, LSB) of frames 6 and 7."""
        return self._value(_TIMER_MSB), self._value(_TIMER_LSB)

    @property
    def stat2(self) -> int:
        return self._value(_STAT2)

    @property
    def spo2_d(self) -> int | None:
        return _spo2(self._value(_SPO2_D))

    @property
    def spo2_fast(self) -> int | None:
        return _spo2(self._value(_SPO2_FAST))

    @property
    def spo2_beat_to_beat(self) -> int | None:
        return _spo2(self._value(_SPO2_BEAT))

    @property
    def e_pulse_rate(self) -> int | None:
        return _hr(self._value(_E_HR_MSB), self._value(_E_HR_LSB))

    @property
    def e_spo2(self) -> int | None:
        return _spo2(self._value(_E_SPO2))

    @property
    def e_spo2_d(self) -> int | None:
        return _spo2(self._value(_E_SPO2_D))

    @property
    def pulse_rate_d(self) -> int | None:
        return _hr(self._value(_HR_D_MSB), self._value(_HR_D_LSB))

    @property
    def e_pulse_rate_d(self) -> int | None:
        return _hr(self._value(_E_HR_D_MSB), self._value(_E_HR_D_LSB))

    @property
    def pleth(self) -> tuple[int, ...]:
        return tuple(f.pleth for f in self.frames)

    @property
    def flags(self) -> tuple[str, ...]:
        """Status conditions seen in any frame of the packet; the worst perfusion colour."""
        status = 0
        colour: str | None = None
        for f in self.frames:
            status |= f.status
            c = _PERFUSION.get(f.status & (STATUS_RED_PERFUSION | STATUS_GREEN_PERFUSION))
            if c and (colour is None or _PERFUSION_RANK[c] > _PERFUSION_RANK[colour]):
                colour = c
        names = [name for bit, name in STATUS_BITS.items() if status & bit]
        if colour:
            names.append(f"perfusion_{colour}")
            if colour == "red":
                names.append("low_perfusion")
        return tuple(names)

    def to_measurement(self) -> Measurement:
        protocol = _protocol(self.format)
        values: dict[str, ReadingValue] = {}
        flags = list(self.flags)
        spo2 = self.spo2
        if spo2 is None:
            flags.append("spo2_missing")
        else:
            offset = (_SPO2 - 1) * FRAME_SIZE + 3
            values["spo2"] = check_value(protocol, offset, "spo2", float(spo2), "%")
        pulse = self.pulse_rate
        if pulse is None:
            flags.append("pulse_rate_missing")
        else:
            values["pulse_rate"] = float(pulse)
        quality = _quality(flags, values)
        return Measurement(
            kind="spo2", values=values, unit="%", flags=tuple(flags), quality=quality
        )


def decode_packet(data: bytes, fmt: PacketFormat = 2) -> NoninPacket:
    """A whole packet: 125 bytes, 25 frames, the sync bit on frame 1 only."""
    protocol = _protocol(fmt)
    if len(data) != PACKET_SIZE:
        raise FrameError(
            protocol, min(len(data), PACKET_SIZE), f"a packet has 125 bytes, not {len(data)}"
        )
    frames = []
    for n in range(FRAMES_PER_PACKET):
        i = n * FRAME_SIZE
        problem = _frame_problem(data, i, fmt)
        if problem:
            raise FrameError(protocol, i, problem)
        frame = _frame_at(data, i, fmt)
        if frame.sync != (n == 0):
            reason = "frame 1 lacks the sync bit" if n == 0 else f"frame {n + 1} has the sync bit"
            raise FrameError(protocol, i + (1 if fmt == 2 else 0), reason)
        frames.append(frame)
    packet = NoninPacket(fmt, tuple(frames))
    packet.to_measurement()  # range checks: a packet that decodes also converts
    return packet


def decode_frames(data: bytes, fmt: PacketFormat = 2) -> tuple[NoninFrame, ...]:
    """Any number of whole frames (for looking at captures frame by frame)."""
    protocol = _protocol(fmt)
    if not data or len(data) % FRAME_SIZE:
        cut = len(data) - len(data) % FRAME_SIZE
        raise FrameError(protocol, cut, f"{len(data)} bytes are not whole 5-byte frames")
    frames = []
    for i in range(0, len(data), FRAME_SIZE):
        problem = _frame_problem(data, i, fmt)
        if problem:
            raise FrameError(protocol, i, problem)
        frames.append(_frame_at(data, i, fmt))
    return tuple(frames)


def encode_packet(packet: NoninPacket) -> bytes:
    return b"".join(encode_frame(f, packet.format) for f in packet.frames)


def _hr_bytes(value: int | None) -> tuple[int, int]:
    v = HR_MISSING if value is None else value
    if not 0 <= v <= HR_MISSING:
        raise ValueError(f"heart rate {v} is outside 0..511")
    return v >> 7 & 0x03, v & 0x7F


def _spo2_byte(value: int | None) -> int:
    v = SPO2_MISSING if value is None else value
    if not (0 <= v <= 100 or v == SPO2_MISSING):
        raise ValueError(f"SpO2 {v} is outside 0..100")
    return v


def build_packet(
    fmt: PacketFormat = 2,
    *,
    spo2: int | None,
    pulse_rate: int | None,
    status: int | Sequence[int] = 0,
    pleth: Sequence[int] | None = None,
    firmware_revision: int = 0x30,
    values: Mapping[int, int] | None = None,
) -> NoninPacket:
    """A packet as an oximeter would send it, for the simulators.

    ``status``: the status bits for every frame, or one status per frame (bit 7 and the sync
    bit are set by this function). The display and extended numbers repeat ``spo2`` and
    ``pulse_rate``; ``values`` overrides the FLOAT byte of any frame (1-based numbers).
    """
    statuses = [status] * FRAMES_PER_PACKET if isinstance(status, int) else list(status)
    samples = list(pleth) if pleth is not None else [128] * FRAMES_PER_PACKET
    if len(statuses) != FRAMES_PER_PACKET or len(samples) != FRAMES_PER_PACKET:
        raise ValueError("a packet has 25 frames: give 25 statuses and 25 pleth samples")
    hr_msb, hr_lsb = _hr_bytes(pulse_rate)
    sat = _spo2_byte(spo2)
    floats = dict.fromkeys(range(1, FRAMES_PER_PACKET + 1), 0)
    floats.update({
        _HR_MSB: hr_msb, _HR_LSB: hr_lsb, _SPO2: sat, _FIRMWARE: firmware_revision,
        _SPO2_D: sat, _SPO2_FAST: sat, _SPO2_BEAT: sat,
        _E_HR_MSB: hr_msb, _E_HR_LSB: hr_lsb, _E_SPO2: sat, _E_SPO2_D: sat,
        _HR_D_MSB: hr_msb, _HR_D_LSB: hr_lsb, _E_HR_D_MSB: hr_msb, _E_HR_D_LSB: hr_lsb,
    })
    floats.update(values or {})
    frames = tuple(
        NoninFrame(
            (statuses[n] & ~STATUS_SYNC & 0xFF) | STATUS_ALWAYS | (STATUS_SYNC if n == 0 else 0),
            samples[n],
            floats[n + 1],
        )
        for n in range(FRAMES_PER_PACKET)
    )
    return NoninPacket(fmt, frames)


class NoninPacketFramer(BufferedFramer):
    """Framer (``base.Framer``) for formats #2 and #7.

    Out of sync it slides byte by byte until two consecutive frames check (one could be a
    coincidence in pleth data); in sync a frame that does not check is an error and sync is
    lost. Packets start at a sync frame; a packet cut short by a lost frame or an early sync
    frame is dropped with an error. Frames before the first sync frame are counted but
    produce nothing. It holds at most 9 bytes between calls.
    """

    def __init__(self, fmt: PacketFormat = 2) -> None:
        super().__init__(max_buffer=2 * FRAME_SIZE - 1)
        self.format: PacketFormat = fmt
        self.protocol = _protocol(fmt)
        self._synced = False
        self._frames: list[NoninFrame] = []
        self._packet_offset = 0
        self._expect_sync = False

    def _restart(self) -> None:
        self._synced = False
        self._frames = []
        self._expect_sync = False

    def _take(self, data: bytes, start: int, result: FeedResult) -> None:
        buf = self._buf
        buf += data
        fmt = self.format
        n = len(buf)
        i = 0
        while True:
            if not self._synced:
                while i + 2 * FRAME_SIZE <= n and (
                    _frame_problem(buf, i, fmt) or _frame_problem(buf, i + FRAME_SIZE, fmt)
                ):
                    i += 1
                    self.stats.dropped_bytes += 1
                if i + 2 * FRAME_SIZE > n:
                    break
                self._synced = True
            if i + FRAME_SIZE > n:
                break
            problem = _frame_problem(buf, i, fmt)
            if problem:
                self._error(result, FrameError(self.protocol, self.at(i), problem))
                self._synced = False
                self._frames = []
                self._expect_sync = False
                i += 1
                self.stats.dropped_bytes += 1
                continue
            self.stats.frames += 1
            self._add(_frame_at(buf, i, fmt), self.at(i), result)
            i += FRAME_SIZE
        del buf[:i]

    def _add(self, frame: NoninFrame, offset: int, result: FeedResult) -> None:
        if frame.sync:
            if self._frames:
                self._error(result, FrameError(
                    self.protocol, offset,
                    f"sync frame after only {len(self._frames)} frames of a packet",
                ))
            self._frames = [frame]
            self._packet_offset = offset
            self._expect_sync = False
        elif self._frames:
            self._frames.append(frame)
        else:
            if self._expect_sync:
                self._error(result, FrameError(self.protocol, offset, "frame 26 of a packet"))
                self._expect_sync = False
            return
        if len(self._frames) == FRAMES_PER_PACKET:
            packet = NoninPacket(self.format, tuple(self._frames))
            self._frames = []
            self._expect_sync = True
            try:
                measurement = packet.to_measurement()
            except FrameError as e:
                offset = self._packet_offset + e.offset
                self._error(result, FrameError(e.protocol, offset, e.reason))
                return
            result.frames.append(packet)
            result.measurements.append(measurement)


# --- format #8 -------------------------------------------------------------------------------

FORMAT8_SIZE = 4


@dataclass(frozen=True, slots=True)
class NoninFormat8:
    """One format #8 frame (4 bytes, once a second, no checksum).

    Byte 1 ``1 SNSD OOT LPRF MPRF ARTF HR8 HR7`` (bit 6, sensor disconnect, is reserved on
    models that do not report it), byte 2 HR bits 6-0, byte 3 SpO2, byte 4 ``0 R SPA R SNSA R
    R LOWBAT``. ``smartpoint`` (SPA) marks a high-quality SmartPoint measurement.
    """

    spo2: int | None
    pulse_rate: int | None
    sensor_disconnected: bool = False
    out_of_track: bool = False
    low_perfusion: bool = False
    marginal_perfusion: bool = False
    artifact: bool = False
    smartpoint: bool = False
    sensor_alarm: bool = False
    low_battery: bool = False

    @property
    def flags(self) -> tuple[str, ...]:
        names = [
            name
            for name in (
                "sensor_disconnected", "out_of_track", "low_perfusion", "marginal_perfusion",
                "artifact", "smartpoint", "sensor_alarm", "low_battery",
            )
            if getattr(self, name)
        ]
        if self.spo2 is None:
            names.append("spo2_missing")
        if self.pulse_rate is None:
            names.append("pulse_rate_missing")
        return tuple(names)

    def to_measurement(self) -> Measurement:
        values: dict[str, ReadingValue] = {}
        if self.spo2 is not None:
            values["spo2"] = check_value("nonin-8", 2, "spo2", float(self.spo2), "%")
        if self.pulse_rate is not None:
            values["pulse_rate"] = float(self.pulse_rate)
        flags = self.flags
        return Measurement(
            kind="spo2", values=values, unit="%", flags=flags, quality=_quality(flags, values)
        )


def _format8_problem(data: bytes | bytearray, i: int) -> tuple[int, str] | None:
    if not data[i] & 0x80:
        return 0, f"byte 1 0x{data[i]:02X} lacks bit 7"
    for k in (1, 2, 3):
        if data[i + k] & 0x80:
            return k, f"byte {k + 1} 0x{data[i + k]:02X} has bit 7 set"
    return None


def _format8_at(data: bytes | bytearray, i: int) -> NoninFormat8:
    b1, b2, b3, b4 = data[i], data[i + 1], data[i + 2], data[i + 3]
    hr = (b1 & 0x03) << 7 | (b2 & 0x7F)
    return NoninFormat8(
        spo2=_spo2(b3),
        pulse_rate=None if hr == HR_MISSING else hr,
        sensor_disconnected=bool(b1 & 0x40),
        out_of_track=bool(b1 & 0x20),
        low_perfusion=bool(b1 & 0x10),
        marginal_perfusion=bool(b1 & 0x08),
        artifact=bool(b1 & 0x04),
        smartpoint=bool(b4 & 0x20),
        sensor_alarm=bool(b4 & 0x08),
        low_battery=bool(b4 & 0x01),
    )


def decode_format8(data: bytes) -> NoninFormat8:
    if len(data) != FORMAT8_SIZE:
        raise FrameError(
            "nonin-8", min(len(data), FORMAT8_SIZE), f"a frame has 4 bytes, not {len(data)}"
        )
    problem = _format8_problem(data, 0)
    if problem:
        raise FrameError("nonin-8", *problem)
    frame = _format8_at(data, 0)
    frame.to_measurement()
    return frame


def encode_format8(frame: NoninFormat8) -> bytes:
    hr = _hr_bytes(frame.pulse_rate)
    hr_full = HR_MISSING if frame.pulse_rate is None else frame.pulse_rate
    b1 = (
        0x80
        | (0x40 if frame.sensor_disconnected else 0)
        | (0x20 if frame.out_of_track else 0)
        | (0x10 if frame.low_perfusion else 0)
        | (0x08 if frame.marginal_perfusion else 0)
        | (0x04 if frame.artifact else 0)
        | (hr_full >> 7 & 0x03)
    )
    b4 = (
        (0x20 if frame.smartpoint else 0)
        | (0x08 if frame.sensor_alarm else 0)
        | (0x01 if frame.low_battery else 0)
    )
    return bytes((b1, hr[1], _spo2_byte(frame.spo2), b4))


class NoninFormat8Framer(BufferedFramer):
    """Framer (``base.Framer``) for format #8: only byte 1 of a frame has bit 7 set, so a
    frame start is found directly; bytes between frames are dropped."""

    protocol = "nonin-8"

    def __init__(self) -> None:
        super().__init__(max_buffer=FORMAT8_SIZE - 1)
        self._synced = False

    def _restart(self) -> None:
        self._synced = False

    def _take(self, data: bytes, start: int, result: FeedResult) -> None:
        buf = self._buf
        buf += data
        n = len(buf)
        i = 0
        while True:
            if not self._synced:
                start = i
                while i < n and not buf[i] & 0x80:
                    i += 1
                self.stats.dropped_bytes += i - start
            if i + FORMAT8_SIZE > n:
                break
            problem = _format8_problem(buf, i)
            if problem:
                k, reason = problem
                if self._synced:
                    self._error(result, FrameError(self.protocol, self.at(i + k), reason))
                # Resume at the byte with bit 7 set (k > 0) or the next one.
                skip = max(k, 1)
                self.stats.dropped_bytes += skip
                i += skip
                self._synced = False
                continue
            self._synced = True
            frame = _format8_at(buf, i)
            try:
                measurement = frame.to_measurement()
            except FrameError as e:
                self._error(result, FrameError(e.protocol, self.at(i + e.offset), e.reason))
            else:
                self.stats.frames += 1
                result.frames.append(frame)
                result.measurements.append(measurement)
            i += FORMAT8_SIZE
        del buf[:i]


# --- ASCII real-time output -----------------------------------------------------------------

_ASCII = re.compile(
    rb"^\s*(?:(\d{2}):(\d{2}):(\d{2})\s+)?SPO2=\s*(\d{1,3}|-{1,3})\s+HR=\s*(\d{1,3}|-{1,3})"
    rb"([\sFB*]*)$"
)


@dataclass(frozen=True, slots=True)
class NoninAsciiLine:
    """``[HH:MM:SS ]SPO2=XXX HR=YYY[ F][*]``: ``---`` is no data (``None``); ``F`` marks
    fast-responding values, ``*`` an event the user marked, ``B`` a detected breath (on
    models with capnography). ``time`` is the device clock, without a date."""

    spo2: int | None
    pulse_rate: int | None
    time: time | None = None
    fast: bool = False
    event: bool = False
    breath: bool = False

    @property
    def flags(self) -> tuple[str, ...]:
        names = []
        if self.spo2 is None:
            names.append("spo2_missing")
        if self.pulse_rate is None:
            names.append("pulse_rate_missing")
        for on, name in ((self.fast, "fast_response"), (self.event, "event_marker"),
                         (self.breath, "breath_detected")):
            if on:
                names.append(name)
        return tuple(names)

    def to_measurement(self) -> Measurement:
        values: dict[str, ReadingValue] = {}
        if self.spo2 is not None:
            values["spo2"] = float(self.spo2)
        if self.pulse_rate is not None:
            values["pulse_rate"] = float(self.pulse_rate)
        flags = self.flags
        return Measurement(
            kind="spo2", values=values, unit="%", flags=flags, quality=_quality(flags, values)
        )


def is_ascii_data(line: bytes) -> bool:
    """Whether a line is a data line (the device also prints a header at power-up)."""
    return b"SPO2=" in line.upper()


def decode_ascii(line: bytes) -> NoninAsciiLine:
    """One line of ASCII output, without or with its line end."""
    protocol = "nonin-ascii"
    m = _ASCII.match(line.rstrip(b"\r\n"))
    if not m:
        at = line.upper().find(b"SPO2=")
        raise FrameError(protocol, max(at, 0), "not a 'SPO2=XXX HR=YYY' line")
    hh, mm, ss, sat, hr, tail = m.groups()
    clock = None
    if hh is not None:
        h, mi, s = int(hh), int(mm), int(ss)
        if h > 23 or mi > 59 or s > 59:
            raise FrameError(protocol, m.start(1), f"time {h:02}:{mi:02}:{s:02} does not exist")
        clock = time(h, mi, s)
    spo2 = None if sat.startswith(b"-") else int(sat)
    if spo2 is not None and spo2 > 100:
        raise FrameError(protocol, m.start(4), f"SpO2 {spo2} is above 100")
    pulse = None if hr.startswith(b"-") else int(hr)
    if pulse is not None:
        check_value(protocol, m.start(5), "pulse_rate", pulse, "/min")
    return NoninAsciiLine(spo2, pulse, clock, b"F" in tail, b"*" in tail, b"B" in tail)


def encode_ascii(line: NoninAsciiLine) -> bytes:
    """The line as the device prints it, ending in CR LF."""
    parts = []
    if line.time is not None:
        parts.append(line.time.strftime("%H:%M:%S"))
    parts.append("SPO2=" + ("---" if line.spo2 is None else f"{line.spo2:03d}"))
    parts.append("HR=" + ("---" if line.pulse_rate is None else f"{line.pulse_rate:03d}"))
    if line.fast:
        parts.append("F")
    if line.breath:
        parts.append("B")
    text = " ".join(parts) + ("*" if line.event else "")
    return text.encode("ascii") + b"\r\n"


def ascii_framer() -> LineFramer:
    """Framer (``base.Framer``) for the ASCII output; header lines are ``stats.ignored``."""
    return LineFramer(
        "nonin-ascii", decode_ascii, lambda line: [line.to_measurement()], is_ascii_data, 256
    )


# --- selecting a data format -----------------------------------------------------------------

SELECTABLE_FORMATS = (2, 7, 8, 13)
"""Formats the ``02 70 02 02 ZZ 03`` command can select (ZZ = 0x02, 0x07, 0x08, 0x0D)."""
_SELECT_HEAD = b"\x02\x70\x02\x02"
_ETX = 0x03
FORMAT_SELECT_SIZE = 6


class FormatReply(enum.Enum):
    """The oximeter's answer to a format-select command."""

    ACK = 0x06
    NAK = 0x15


def encode_format_select(fmt: int) -> bytes:
    """The host's command selecting data format ``fmt``."""
    if fmt not in SELECTABLE_FORMATS:
        raise ValueError(f"format {fmt} cannot be selected; choose one of {SELECTABLE_FORMATS}")
    return _SELECT_HEAD + bytes((fmt, _ETX))


def decode_format_select(data: bytes) -> int:
    """The format a host's command asks for (the simulator's side)."""
    protocol = "nonin-select"
    for i, expected in enumerate(_SELECT_HEAD):
        if i >= len(data):
            raise FrameError(protocol, i, "truncated format-select command")
        if data[i] != expected:
            raise FrameError(protocol, i, f"0x{data[i]:02X}, expected 0x{expected:02X}")
    if len(data) < FORMAT_SELECT_SIZE:
        raise FrameError(protocol, len(data), "truncated format-select command")
    if data[5] != _ETX:
        raise FrameError(protocol, 5, f"0x{data[5]:02X}, expected ETX 0x03")
    if len(data) > FORMAT_SELECT_SIZE:
        raise FrameError(protocol, FORMAT_SELECT_SIZE, "bytes after the command")
    if data[4] not in SELECTABLE_FORMATS:
        raise FrameError(protocol, 4, f"format 0x{data[4]:02X} cannot be selected")
    return data[4]


def encode_format_reply(accepted: bool) -> bytes:
    return bytes((FormatReply.ACK.value if accepted else FormatReply.NAK.value,))


def decode_format_reply(data: bytes) -> FormatReply:
    """The oximeter's one-byte answer: ACK ``06`` or NAK ``15``.

    The answer is the first byte after the command, so read it before the new format's data
    (send the command while the port is quiet, or discard what was buffered before it).
    """
    if len(data) != 1:
        raise FrameError("nonin-select", min(len(data), 1), f"a reply is 1 byte, not {len(data)}")
    try:
        return FormatReply(data[0])
    except ValueError:
        raise FrameError("nonin-select", 0, f"0x{data[0]:02X} is neither ACK nor NAK") from None


@dataclass(frozen=True, slots=True)
class FormatSelect:
    """A format-select command as a simulated oximeter received it, and its answer."""

    format: int
    accepted: bool


class FormatSelectFramer(BufferedFramer):
    """Framer (``base.Framer``) for the device side of a serial line: finds format-select
    commands in what the host sends and queues the ACK (format in ``supported``) or NAK."""

    protocol = "nonin-select"

    def __init__(self, supported: Sequence[int] = (2, 7, 8)) -> None:
        super().__init__(max_buffer=FORMAT_SELECT_SIZE - 1)
        self.supported = frozenset(supported)

    def _take(self, data: bytes, start: int, result: FeedResult) -> None:
        buf = self._buf
        buf += data
        i = 0
        n = len(buf)
        while True:
            start = i
            while i < n and buf[i] != _SELECT_HEAD[0]:
                i += 1
            self.stats.dropped_bytes += i - start
            if i + FORMAT_SELECT_SIZE > n:
                # Keep a possible command start; drop what cannot be one.
                tail = bytes(buf[i:n])
                if tail and not _SELECT_HEAD.startswith(tail[: len(_SELECT_HEAD)]):
                    self.stats.dropped_bytes += 1
                    i += 1
                    continue
                break
            candidate = bytes(buf[i : i + FORMAT_SELECT_SIZE])
            if not candidate.startswith(_SELECT_HEAD) or candidate[5] != _ETX:
                self.stats.dropped_bytes += 1
                i += 1
                continue
            fmt = candidate[4]
            accepted = fmt in self.supported
            self.stats.frames += 1
            result.frames.append(FormatSelect(fmt, accepted))
            result.replies.append(encode_format_reply(accepted))
            i += FORMAT_SELECT_SIZE
        del buf[:i]


__all__ = [
    "FORMAT8_SIZE",
    "FRAMES_PER_PACKET",
    "FRAME_SIZE",
    "PACKET_SIZE",
    "SELECTABLE_FORMATS",
    "FormatReply",
    "FormatSelect",
    "FormatSelectFramer",
    "NoninAsciiLine",
    "NoninFormat8",
    "NoninFormat8Framer",
    "NoninFrame",
    "NoninPacket",
    "NoninPacketFramer",
    "ascii_framer",
    "build_packet",
    "decode_ascii",
    "decode_format8",
    "decode_format_reply",
    "decode_format_select",
    "decode_frame",
    "decode_frames",
    "decode_packet",
    "encode_ascii",
    "encode_format8",
    "encode_format_reply",
    "encode_format_select",
    "encode_frame",
    "encode_packet",
    "is_ascii_data",
]
