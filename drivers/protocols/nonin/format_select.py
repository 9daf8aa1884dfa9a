"""Selecting a Nonin data format: the host's command, the oximeter's ACK or NAK, and the
device-side framer a simulated oximeter reads the command with."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from drivers.protocols.base import (
    BufferedFramer,
    FeedResult,
    FrameError,
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
