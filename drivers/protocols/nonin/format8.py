"""Nonin OEM III data format #8: one self-contained 4-byte frame a second, no checksum."""

from __future__ import annotations

from dataclasses import dataclass

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
    quality,
    spo2_byte,
    spo2_value,
)
from drivers.wire import ReadingValue

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
            kind="spo2", values=values, unit="%", flags=flags, quality=quality(flags, values)
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
        spo2=spo2_value(b3),
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
    hr = hr_bytes(frame.pulse_rate)
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
    return bytes((b1, hr[1], spo2_byte(frame.spo2), b4))


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
                    offset = self._stream_offset(i + k)
                    self._error(result, FrameError(self.protocol, offset, reason))
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
                offset = self._stream_offset(i + e.offset)
                self._error(result, FrameError(e.protocol, offset, e.reason))
            else:
                self.stats.frames += 1
                result.frames.append(frame)
                result.measurements.append(measurement)
            i += FORMAT8_SIZE
        del buf[:i]
