"""Nonin OEM III data formats #2 and #7: 5-byte frames, 25 to a packet, and the framer that
finds frame sync and turns each whole packet into one ``spo2`` measurement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from drivers.protocols.base import (
    BufferedFramer,
    FeedResult,
    FrameError,
    Measurement,
    check_value,
)
from drivers.protocols.nonin.values import (
    HR_MISSING,
    hr_bytes,
    protocol_name,
    quality,
    spo2_byte,
    spo2_value,
)
from drivers.wire import ReadingValue

PacketFormat = Literal[2, 7]
FRAME_SIZE = 5
FRAMES_PER_PACKET = 25
PACKET_SIZE = FRAME_SIZE * FRAMES_PER_PACKET

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
        raise FrameError(protocol_name(fmt), offset, f"a frame has 5 bytes, not {len(data)}")
    problem = _frame_problem(data, 0, fmt)
    if problem:
        raise FrameError(protocol_name(fmt), 0, problem)
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
        return spo2_value(self._value(_SPO2))

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
        return spo2_value(self._value(_SPO2_D))

    @property
    def spo2_fast(self) -> int | None:
        return spo2_value(self._value(_SPO2_FAST))

    @property
    def spo2_beat_to_beat(self) -> int | None:
        return spo2_value(self._value(_SPO2_BEAT))

    @property
    def e_pulse_rate(self) -> int | None:
        return _hr(self._value(_E_HR_MSB), self._value(_E_HR_LSB))

    @property
    def e_spo2(self) -> int | None:
        return spo2_value(self._value(_E_SPO2))

    @property
    def e_spo2_d(self) -> int | None:
        return spo2_value(self._value(_E_SPO2_D))

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
        protocol = protocol_name(self.format)
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
        verdict = quality(flags, values)
        return Measurement(
            kind="spo2", values=values, unit="%", flags=tuple(flags), quality=verdict
        )


def decode_packet(data: bytes, fmt: PacketFormat = 2) -> NoninPacket:
    """A whole packet: 125 bytes, 25 frames, the sync bit on frame 1 only."""
    protocol = protocol_name(fmt)
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
    protocol = protocol_name(fmt)
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
    hr_msb, hr_lsb = hr_bytes(pulse_rate)
    sat = spo2_byte(spo2)
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
        self.protocol = protocol_name(fmt)
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
                self._error(result, FrameError(self.protocol, self._stream_offset(i), problem))
                self._synced = False
                self._frames = []
                self._expect_sync = False
                i += 1
                self.stats.dropped_bytes += 1
                continue
            self.stats.frames += 1
            self._add(_frame_at(buf, i, fmt), self._stream_offset(i), result)
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
