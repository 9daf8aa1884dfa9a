"""The wire log: a session as JSON Lines, the unit QA shares.

One object a line: ``topic``, ``received_at`` (ISO 8601 UTC, milliseconds) and ``payload``
(the message's JSON). A message that was not JSON is kept as ``payload_text`` (or
``payload_base64`` when not even UTF-8); one the recorder could not validate carries
``invalid`` with the reason. Reading a log never stops at a bad line: it names the line and
the reason, and goes on.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, TextIO

from pydantic_core import from_json

from drivers.wire import format_time, parse_time


@dataclass(frozen=True, slots=True)
class WireRecord:
    """One message as it was received."""

    topic: str
    received_at: datetime
    payload: bytes
    line: int | None = None
    invalid: str | None = None


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(slots=True)
class WireLog:
    """The records of a log in order, and the lines that could not be read."""

    records: list[WireRecord] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    source: str = ""


MAX_PAYLOAD_DEPTH = 400
"""Deepest payload a line holds as JSON; a deeper one is kept as its text. Python's JSON
reader recurses once a level and stops at the interpreter's recursion limit (1,000 by
default) less the depth of its caller, so a payload written as JSON just because the writer
could read it might not read back in another program: at this depth any reader with 600
frames to spare reads every line."""


def to_line(record: WireRecord) -> str:
    try:
        payload = json.loads(record.payload)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deeply to read
        return _line(record)
    if (record.payload.count(b"[") + record.payload.count(b"{") > MAX_PAYLOAD_DEPTH
            and _deeper_than(payload, MAX_PAYLOAD_DEPTH)):
        return _line(record)
    try:
        return _line(record, payload)
    # RecursionError: called with less stack to spare than the payload needs; ValueError:
    # NaN or an infinity (1e400 reads as one), which no reader but Python's takes as JSON.
    except (RecursionError, ValueError):
        return _line(record)


_AS_TEXT = object()
"""`_line`'s payload when the record's own bytes are to be kept as text (or base64)."""


def _line(record: WireRecord, payload: Any = _AS_TEXT) -> str:
    obj: dict[str, Any] = {"topic": record.topic, "received_at": format_time(record.received_at)}
    if payload is _AS_TEXT:
        _as_text(obj, record.payload)
    else:
        obj["payload"] = payload
    if record.invalid is not None:
        obj["invalid"] = record.invalid
    return _dumps(obj, allow_nan=False)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (walked without
    recursion, since the value may be as deep as the reader allows)."""
    if not isinstance(value, dict | list):
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False


def _as_text(obj: dict[str, Any], payload: bytes) -> None:
    """A payload kept as it came: its text, or base64 where it is not UTF-8."""
    try:
        obj["payload_text"] = payload.decode()
    except UnicodeDecodeError:
        obj["payload_base64"] = base64.b64encode(payload).decode()


def _dumps(value: Any, *, allow_nan: bool = True) -> str:
    """Compact JSON, UTF-8 where it can be: a string holding half a surrogate pair
    (``"\\ud800"`` is valid JSON) has no UTF-8, so that value is written escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), allow_nan=allow_nan)
    return text


def write(records: Iterable[WireRecord], out: TextIO) -> int:
    n = 0
    for record in records:
        out.write(to_line(record) + "\n")
        n += 1
    return n


def _loads(text: str) -> Any:
    """`json.loads`, two to three times faster on a log's lines: pydantic's parser first
    (reading the lines is most of the time a log takes to read), and the standard library's
    where that one refuses, for its verdict and its wording of the error."""
    try:
        return from_json(text)
    except (ValueError, TypeError):  # TypeError: a str holding half a surrogate pair
        pass
    try:
        return json.loads(text)
    except RecursionError:  # pydantic's parser stops at 200 levels, the standard one later
        raise ValueError("nested too deeply to read") from None


def parse_line(text: str, line: int) -> WireRecord | BadLine:
    try:
        obj = _loads(text)
    except ValueError as exc:
        return BadLine(line, f"not JSON: {exc}")
    if not isinstance(obj, dict):
        return BadLine(line, "not a JSON object")
    topic = obj.get("topic")
    if not isinstance(topic, str) or not topic:
        return BadLine(line, "no 'topic'")
    raw_time = obj.get("received_at")
    if not isinstance(raw_time, str):
        return BadLine(line, "no 'received_at'")
    try:
        received_at = parse_time(raw_time)
    except ValueError:
        return BadLine(line, f"received_at {raw_time!r} is not an ISO 8601 time")
    if received_at.tzinfo is None:
        return BadLine(line, f"received_at {raw_time!r} has no UTC offset")
    if "payload" in obj:
        try:
            payload = (_payload_as_written(text, obj, topic, raw_time)
                       or _dumps(obj["payload"]).encode())
        except RecursionError:
            return BadLine(line, "payload nested too deeply to read")
    elif isinstance(obj.get("payload_text"), str):
        try:
            payload = obj["payload_text"].encode()
        except UnicodeEncodeError:
            return BadLine(line, "payload_text holds half a surrogate pair, not text")
    elif isinstance(obj.get("payload_base64"), str):
        try:
            payload = base64.b64decode(obj["payload_base64"], validate=True)
        except (binascii.Error, ValueError):
            return BadLine(line, "payload_base64 is not base64")
    else:
        return BadLine(line, "no 'payload'")
    invalid = obj.get("invalid")
    return WireRecord(topic, received_at, payload, line,
                      invalid if isinstance(invalid, str) else None)


def _payload_as_written(text: str, obj: dict[str, Any], topic: str,
                        raw_time: str) -> bytes | None:
    """The payload's own text, cut from a line in the form `to_line` writes (most of the
    time a log spends being read would otherwise go to encoding again what was just
    decoded); None for a line in any other form."""
    keys = list(obj)
    if keys not in (_KEYS, _KEYS_INVALID):
        return None
    head = (f'{{"topic":{encode_basestring(topic)},'
            f'"received_at":{encode_basestring(raw_time)},"payload":')
    tail = "}"
    if len(keys) == 4:
        invalid = obj["invalid"]
        if not isinstance(invalid, str):
            return None
        tail = f',"invalid":{encode_basestring(invalid)}}}'
    line = text.rstrip("\r\n")
    if not (line.startswith(head) and line.endswith(tail)):
        return None
    try:
        return line[len(head):len(line) - len(tail)].encode()
    except UnicodeEncodeError:  # half a surrogate pair in the text given: written escaped
        return None


_KEYS = ["topic", "received_at", "payload"]
_KEYS_INVALID = [*_KEYS, "invalid"]


def read_lines(lines: Iterable[str], source: str = "") -> WireLog:
    log = WireLog(source=source)
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        parsed = parse_line(text, number)
        if isinstance(parsed, BadLine):
            log.bad.append(parsed)
        else:
            log.records.append(parsed)
    return log


def read(path: Path) -> WireLog:
    with path.open(encoding="utf-8", errors="replace") as fh:
        return read_lines(fh, str(path))
