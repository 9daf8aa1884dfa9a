"""``chairside decode PROTOCOL [HEX ...]``: decode captured frames to JSON, for field work.

Each HEX argument is one frame (spaces allowed inside). Without any, standard input is read:
a raw byte stream through the protocol's framer (serial protocols), or one hex frame per line
(BLE characteristics, which have no byte stream). Output, one JSON object a line: a wire
Reading per measurement (chair and device ``-``, received now; ``device_time`` is added when
the device sent a local time without offset, which a Reading's ``measured_at`` cannot hold),
the named booleans of a feature characteristic, or the decoded fields of a frame that makes
no measurement on its own (a single Nonin frame).

What a good frame carried that did not become a value as sent is on stderr too: ``note:`` for
a value used with a note (a reference id other than the table's) or for something no Reading
carries (a temperature); ``error:`` for a vital that could not be read (a unit that does not
fit, a value out of range, a status that is not a result) and for a message that yields no
reading at all while it carried observations.

Exit status: 0; 1 when any frame failed or any vital could not be read (the errors are on
stderr, the rest still decoded); 2 for an unknown protocol.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO

from drivers.protocols.base import FeedResult, FrameError, Measurement, Unusable
from drivers.protocols.registry import PROTOCOLS, ProtocolSpec

CHUNK = 4096


def _reading_json(spec: ProtocolSpec, m: Measurement, now: datetime, seq: int) -> str:
    reading = m.to_reading(chair="-", device="-", source=spec.name, received_at=now, seq=seq)
    out: dict[str, Any] = json.loads(reading.model_dump_json(exclude_none=True))
    if m.measured_at is not None and m.measured_at.tzinfo is None:
        out["device_time"] = m.measured_at.isoformat()
    return json.dumps(out)


class _Printer:
    def __init__(self, spec: ProtocolSpec, stdout: TextIO, stderr: TextIO) -> None:
        self.spec = spec
        self.stdout = stdout
        self.stderr = stderr
        self.now = datetime.now(UTC)
        self.seq = 0
        self.failed = False

    def measurements(self, ms: Iterable[Measurement]) -> None:
        for m in ms:
            print(_reading_json(self.spec, m, self.now, self.seq), file=self.stdout)
            self.seq += 1

    def json(self, obj: dict[str, Any]) -> None:
        print(json.dumps(obj), file=self.stdout)

    def error(self, error: FrameError | str, where: str = "") -> None:
        self.failed = True
        print(f"error: {where}{error}", file=self.stderr)

    def notes(self, notes: Iterable[object]) -> None:
        for note in notes:
            print(f"note: {self.spec.name}: {note}", file=self.stderr)

    def unusable(self, items: Iterable[Unusable], produced: bool, where: str = "") -> None:
        """Report what was not read; a vital that could not be read, or a message that
        yields nothing while it carried observations, fails the run."""
        items = list(items)
        for item in items:
            if item.unreadable:
                self.error(f"{self.spec.name}: {item.label} not readable: {item.reason}", where)
            else:
                self.notes([item.reason])
        unread = [item for item in items if not item.kept]
        if not produced and unread:
            self.error(f"{self.spec.name}: no reading: {len(unread)} observation(s) not read",
                       where)

    def frame(self, data: bytes, where: str) -> None:
        spec = self.spec
        try:
            if spec.features is not None:
                self.json({"protocol": spec.name, "features": spec.features(data)})
                return
            assert spec.decode is not None
            ms = spec.decode(data)
            detail = spec.inspect(data)
            unusable = spec.unusable(data) if spec.unusable is not None else []
        except FrameError as e:
            self.error(e, where)
            return
        self.unusable(unusable, bool(ms), where)
        if ms:
            self.measurements(ms)
        else:
            self.json({"protocol": spec.name, "frame": detail})

    def fed(self, result: FeedResult) -> None:
        for error in result.errors:
            self.error(error)
        per_frame = False
        for frame in result.frames:
            items = getattr(frame, "unusable", None)
            to_measurements = getattr(frame, "to_measurements", None)
            if isinstance(items, list) and callable(to_measurements):
                per_frame = True
                self.unusable(items, bool(to_measurements()))
        if not per_frame:
            self.unusable(result.unusable, True)
        self.measurements(result.measurements)


def _parse_hex(text: str) -> bytes:
    cleaned = "".join(text.split())
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    return bytes.fromhex(cleaned)


def run(
    protocol: str, hex_frames: list[str], stdin: BinaryIO, stdout: TextIO, stderr: TextIO
) -> int:
    """Decode ``hex_frames``, or the byte stream on ``stdin`` when there are none."""
    spec = PROTOCOLS.get(protocol)
    if spec is None:
        print(
            f"error: unknown protocol {protocol!r}; known: {' '.join(PROTOCOLS)}", file=stderr
        )
        return 2
    out = _Printer(spec, stdout, stderr)

    def one(text: str, where: str) -> None:
        try:
            data = _parse_hex(text)
        except ValueError:
            out.error(f"{spec.name}: not hexadecimal: {text.strip()[:40]!r}", where)
            return
        out.frame(data, where)

    if hex_frames:
        for n, text in enumerate(hex_frames, start=1):
            one(text, f"frame {n}: " if len(hex_frames) > 1 else "")
    elif spec.framer is None:
        for n, raw in enumerate(stdin, start=1):
            line = raw.decode("ascii", "replace")
            if line.strip():
                one(line, f"line {n}: ")
    else:
        framer = spec.framer()
        read = getattr(stdin, "read1", stdin.read)
        while chunk := read(CHUNK):
            out.fed(framer.feed(chunk))
        out.fed(framer.flush())
        s = framer.stats
        print(
            f"{spec.name}: {s.frames} frames, {s.bad_frames} bad, "
            f"{s.dropped_bytes} bytes dropped, {s.ignored} lines ignored",
            file=stderr,
        )
    return 1 if out.failed else 0


__all__ = ["run"]
