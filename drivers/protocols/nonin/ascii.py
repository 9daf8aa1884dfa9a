"""The Nonin ASCII real-time output of the handheld and tabletop models (2500, 8500, 9847,
Avant 4000): one ``SPO2=XXX HR=YYY`` line a second."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from drivers.protocols.base import (
    FrameError,
    LineFramer,
    Measurement,
    check_value,
)
from drivers.protocols.nonin.values import quality
from drivers.wire import ReadingValue

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
            kind="spo2", values=values, unit="%", flags=flags, quality=quality(flags, values)
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
