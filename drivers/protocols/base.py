"""What every codec shares: the one error type, the decoded measurement, stream counters,
and the uniform framer interface.

Codecs are sans-I/O: bytes in, measurements out (and the inverse, for the simulators). They
import no I/O library and keep no clock; the driver stamps receive times and device ids.

Every protocol module offers the same layers:

* ``decode_*(frame: bytes) -> typed dataclass`` for one frame (raises only ``FrameError``);
* ``to_measurements(result) -> list[Measurement]`` (or a ``to_measurement`` method);
* ``encode_*(typed) -> bytes`` for the simulators;
* for byte streams, a framer class implementing ``Framer`` (below).

``drivers.protocols.registry.PROTOCOLS`` ties them together per protocol name.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Protocol

from drivers.errors import ChairsideError
from drivers.value_ranges import Unit, value_range
from drivers.wire import Kind, Quality, Reading, ReadingValue, new_id


class FrameError(ChairsideError, ValueError):
    """A frame that cannot be decoded. The only exception a decoder ever raises."""

    def __init__(self, protocol: str, offset: int, reason: str) -> None:
        super().__init__(f"{protocol}: byte {offset}: {reason}")
        self.protocol = protocol
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Measurement:
    """One decoded measurement, before the driver knows the chair, device and receive time.

    ``measured_at`` is the device's own time stamp when the frame carries one (naive when the
    device sends local time without an offset; the driver decides how to read it).
    """

    kind: Kind
    values: dict[str, ReadingValue]
    unit: Unit
    flags: tuple[str, ...] = ()
    quality: Quality = "valid"
    measured_at: datetime | None = None

    def to_reading(
        self,
        *,
        chair: str,
        device: str,
        source: str,
        received_at: datetime,
        seq: int | None = None,
        reading_id: str | None = None,
    ) -> Reading:
        """The wire Reading: device time when it has a usable one, else the receive time."""
        measured = self.measured_at
        if measured is None or measured.tzinfo is None:
            measured = received_at
        return Reading(
            id=reading_id or new_id(),
            chair=chair,
            device=device,
            source=source,
            kind=self.kind,
            measured_at=measured,
            received_at=received_at,
            values=dict(self.values),
            unit=self.unit,
            flags=list(self.flags),
            quality=self.quality,
            seq=seq,
        )


@dataclass(frozen=True, slots=True)
class Unusable:
    """Something a well-formed frame carried that did not become a value as sent.

    ``kind`` and ``label`` name the vital it would have filled (``heart_rate``, "heart
    rate"); both are empty for what no Reading carries (a temperature). ``kept``: the value
    was used all the same and this is a note (a cross-check that failed). Only an unusable
    value of a vital (``unreadable``) makes a device degraded: the nurse would otherwise see
    an empty tile and not know why.
    """

    kind: Kind | None
    label: str
    reason: str
    kept: bool = False
    field: str = ""
    """The Reading field it would have filled (``pulse_rate``), when ``kind`` is set."""

    @property
    def unreadable(self) -> bool:
        return self.kind is not None and not self.kept


@dataclass(slots=True)
class StreamStats:
    """What a stream framer has seen: lets a device status tell noise from silence."""

    frames: int = 0
    bad_frames: int = 0
    dropped_bytes: int = 0
    errors: list[FrameError] = field(default_factory=list)
    ignored: int = 0
    """Well-formed units that carry no data (a device's power-up banner, header lines)."""
    unreadable: int = 0
    """Values of vitals in good frames that could not be used (``Unusable.unreadable``)."""
    noted: int = 0
    """Values used with a note (``Unusable.kept``)."""
    not_carried: int = 0
    """Observations of things no Reading carries."""

    def note_error(self, error: FrameError, keep: int = 16) -> None:
        self.bad_frames += 1
        self.errors.append(error)
        del self.errors[:-keep]

    def note_unusable(self, unusable: Unusable) -> None:
        if unusable.kept:
            self.noted += 1
        elif unusable.kind is not None:
            self.unreadable += 1
        else:
            self.not_carried += 1


# --- What the codecs share beyond the error type ------------------------------------------

_QUALITY_RANK: dict[str, int] = {"valid": 0, "questionable": 1, "invalid": 2}


def worst_quality(*qualities: Quality) -> Quality:
    """The least trustworthy of several qualities (``valid`` when given none)."""
    worst: Quality = "valid"
    for q in qualities:
        if _QUALITY_RANK[q] > _QUALITY_RANK[worst]:
            worst = q
    return worst


def check_value(protocol: str, offset: int, name: str, value: float, unit: Unit) -> float:
    """``value`` if the wire contract accepts it for ``name`` (`drivers.value_ranges`), else
    a ``FrameError``: a corrupt frame fails at the value's offset instead of becoming a
    Reading the gateway would refuse later."""
    low, high = value_range(name, unit)
    if not (low <= value <= high):
        raise FrameError(protocol, offset, f"{name} {value:g} is out of range {low:g}..{high:g}")
    return value


INTERNAL_ERROR = "internal error"


def internal_error(protocol: str, offset: int, error: Exception) -> FrameError:
    """A ``FrameError`` standing for a bug in a codec, so that a framer still never raises.

    The tests assert that no reason ever starts with ``INTERNAL_ERROR``.
    """
    return FrameError(protocol, offset, f"{INTERNAL_ERROR}: {error!r}")


@dataclass(slots=True)
class FeedResult:
    """What one ``Framer.feed`` call produced, in stream order.

    ``measurements``: ready for ``Measurement.to_reading``. ``replies``: bytes the transport
    must write back to the device, in order (HL7 ACKs). ``frames``: the typed decode of every
    good frame or packet (for logging and debugging). ``errors``: frames that failed in this
    call (also counted in ``Framer.stats``). ``unusable``: what good frames carried that did
    not become a value as sent (also counted in ``Framer.stats``).
    """

    measurements: list[Measurement] = field(default_factory=list)
    replies: list[bytes] = field(default_factory=list)
    frames: list[object] = field(default_factory=list)
    errors: list[FrameError] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)

    def extend(self, other: FeedResult) -> None:
        self.measurements.extend(other.measurements)
        self.replies.extend(other.replies)
        self.frames.extend(other.frames)
        self.errors.extend(other.errors)
        self.unusable.extend(other.unusable)


class Framer(Protocol):
    """The uniform interface of every byte-stream framer (serial devices, MLLP).

    A transport owns one framer per connection and loops::

        result = framer.feed(chunk)          # chunk: any size, even one byte
        for reply in result.replies: write(reply)
        for m in result.measurements: publish(m.to_reading(...))

    Guarantees: ``feed`` never raises, whatever bytes it gets; a bad frame is counted in
    ``stats`` and reported in ``result.errors``; the framer resynchronises by itself after
    garbage; between calls it holds at most ``max_buffer`` bytes (``buffered`` says how many
    it holds now), so a flood without delimiters cannot grow memory. How the stream is cut
    into chunks never changes what comes out.

    ``flush()`` is for the end of a finite input (a capture file): it decodes what a final
    delimiter would have completed and drops the rest. ``reset()`` forgets any partial frame
    (call it after a reconnect); ``stats`` keep counting.
    """

    protocol: str
    stats: StreamStats
    max_buffer: int

    @property
    def buffered(self) -> int: ...

    def feed(self, data: bytes) -> FeedResult: ...

    def flush(self) -> FeedResult: ...

    def reset(self) -> None: ...


FramerFactory = Callable[[], Framer]
JsonDict = dict[str, Any]


class BufferedFramer:
    """The receive buffer and stream position every framer shares (as h11 and wsproto share
    one receive buffer), so that each protocol's framer holds only its own framing rules.

    ``feed`` counts every byte it is given and hands the chunk to ``_take`` with the stream
    offset of its first byte. Offsets count from the first byte this framer was ever fed,
    across ``reset`` (a reconnect): an error's offset is the position of the fault in the
    whole stream. ``_buf`` holds what a framer keeps between calls (at most ``max_buffer``
    bytes); ``_stream_offset`` turns an index into it into a stream offset while the
    framer's ``_take`` works on it. ``reset`` empties the buffer and calls ``_restart`` for
    the framer's own state; ``flush`` by default drops what is held, counted as dropped
    bytes.
    """

    protocol: str

    def __init__(self, max_buffer: int) -> None:
        self.stats = StreamStats()
        self.max_buffer = max_buffer
        self._buf = bytearray()
        self._fed = 0  # bytes ever fed: the stream offset of the next byte

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> FeedResult:
        result = FeedResult()
        start = self._fed
        self._fed += len(data)
        self._take(data, start, result)
        return result

    def _take(self, data: bytes, start: int, result: FeedResult) -> None:
        """Frame ``data``, whose first byte is at stream offset ``start``, into ``result``."""
        raise NotImplementedError

    def _stream_offset(self, index: int) -> int:
        """The stream offset of ``_buf[index]``, for a framer that appended all it was fed."""
        return self._fed - len(self._buf) + index

    def reset(self) -> None:
        self._buf.clear()
        self._restart()

    def _restart(self) -> None:
        """Forget the state of a partial frame besides the buffer (a framer's own flags)."""

    def flush(self) -> FeedResult:
        self.stats.dropped_bytes += len(self._buf)
        self.reset()
        return FeedResult()

    def _error(self, result: FeedResult, error: FrameError) -> None:
        self.stats.note_error(error)
        result.errors.append(error)


class LineFramer(BufferedFramer):
    """A framer for line-oriented ASCII devices: lines end with CR, LF or CR LF.

    ``is_data`` tells device data from the headers and banners a device prints at power-up
    (those are counted in ``stats.ignored``, not as errors); ``decode`` turns one data line
    into a typed result and ``to_measurements`` into measurements. A line longer than
    ``max_buffer`` is dropped up to its end, so a flood without line ends cannot grow memory.
    """

    def __init__(
        self,
        protocol: str,
        decode: Callable[[bytes], Any],
        to_measurements: Callable[[Any], list[Measurement]],
        is_data: Callable[[bytes], bool],
        max_buffer: int = 1024,
    ) -> None:
        super().__init__(max_buffer)
        self.protocol = protocol
        self._decode = decode
        self._to_measurements = to_measurements
        self._is_data = is_data
        self._discarding = False

    def _restart(self) -> None:
        self._discarding = False

    def _take(self, data: bytes, start: int, result: FeedResult) -> None:
        pos = 0
        n = len(data)
        while pos < n:
            end = _find_eol(data, pos)
            if end < 0:
                self._append(data[pos:], start + n, result)
                break
            self._append(data[pos:end], start + end, result)
            self._line_end(start + end, result)
            pos = end + 1

    def flush(self) -> FeedResult:
        result = FeedResult()
        self._line_end(self._fed, result)
        return result

    def _append(self, piece: bytes, until: int, result: FeedResult) -> None:
        """Add ``piece``, which ends at stream offset ``until``, to the line."""
        if self._discarding:
            self.stats.dropped_bytes += len(piece)
            return
        self._buf += piece
        if len(self._buf) > self.max_buffer:
            reason = f"line longer than {self.max_buffer} bytes"
            self._error(result, FrameError(self.protocol, until - len(self._buf), reason))
            self.stats.dropped_bytes += len(self._buf)
            self._buf.clear()
            self._discarding = True

    def _line_end(self, eol: int, result: FeedResult) -> None:
        """The line ends at stream offset ``eol`` (its line end, or the end of the input)."""
        line = bytes(self._buf)
        offset = eol - len(line)
        self._buf.clear()
        if self._discarding:
            self._discarding = False
            return
        if not line.strip():
            return
        if not self._is_data(line):
            self.stats.ignored += 1
            return
        try:
            decoded = self._decode(line)
            measurements = self._to_measurements(decoded)
        except FrameError as e:
            self._error(result, FrameError(e.protocol, offset + e.offset, e.reason))
            return
        except Exception as e:  # a codec bug must cost one line, not the connection
            self._error(result, internal_error(self.protocol, offset, e))
            return
        self.stats.frames += 1
        result.frames.append(decoded)
        result.measurements.extend(measurements)


def _find_eol(data: bytes, start: int) -> int:
    cr = data.find(b"\r", start)
    lf = data.find(b"\n", start)
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of a typed decode result, for logs and the ``decode`` command.

    Dataclasses become objects, enums their value, times ISO 8601 text, sets sorted lists.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return value.hex(" ")
    return value
