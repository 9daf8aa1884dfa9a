"""A wire log reads back what was written: each payload as it was, whether its line is in
the form the recorder writes (its payload's text cut out as it stands) or any other JSON."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from monitor.recording import wirelog
from monitor.recording.wirelog import BadLine, WireRecord

AT = datetime(2026, 1, 5, 9, 0, 0, 125000, tzinfo=UTC)
T = TypeVar("T")
TOPIC = "chairside/v1/east/chairs/chair-1/readings/spo2"
PAYLOADS = [
    b'{"values":{"spo2":97},"note":"caf\xc3\xa9 \\"quoted\\"","n":[1,2.5,null,true]}',
    b'{"trap":"},\\"invalid\\":\\"not this\\"}","x":{}}',  # the tail's text inside a value
    b'[1,2,3]', b'"just a string"', b"42",
    b'{"s":"\\ud800 half a surrogate pair"}',  # valid JSON, but the string has no UTF-8
]


def roundtrip(records: list[WireRecord]) -> list[WireRecord]:
    out = io.StringIO()
    wirelog.write(records, out)
    log = wirelog.read_lines(io.StringIO(out.getvalue()))  # lines keep their "\n"
    assert log.bad == []
    return log.records


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("invalid", [None, 'values.spo2=150 is out of range, "say"'])
def test_a_written_line_gives_back_its_payload_byte_for_byte(
    payload: bytes, invalid: str | None,
) -> None:
    (back,) = roundtrip([WireRecord(TOPIC, AT, payload, invalid=invalid)])
    assert (back.topic, back.received_at, back.payload, back.invalid) == (
        TOPIC, AT, payload, invalid)


@pytest.mark.parametrize("payload", [b'{"a":1e400}', b'{"a":NaN}', b"[-Infinity]"])
def test_a_payload_that_is_json_only_to_python_is_kept_as_its_text(payload: bytes) -> None:
    """Python reads NaN and infinities (1e400 is one) as JSON; written back as JSON they
    would be ``NaN`` and ``Infinity``, which no other reader takes, and 1e400 would not be
    what was sent."""
    line = wirelog.to_line(WireRecord(TOPIC, AT, payload, invalid="out of range"))
    def refuse(name: str) -> None:
        raise ValueError(name)
    assert json.loads(line, parse_constant=refuse)["payload_text"] == payload.decode()
    (back,) = roundtrip([WireRecord(TOPIC, AT, payload, invalid="out of range")])
    assert back.payload == payload


@pytest.mark.parametrize("line", [
    # spaces, another key order, a key the recorder does not write, Windows line ends
    '{ "topic": "%s", "received_at": "2026-01-05T09:00:00.125Z", "payload": {"a": [1, 2]} }',
    '{"received_at":"2026-01-05T09:00:00.125Z","topic":"%s","payload":{"a":[1,2]}}',
    '{"topic":"%s","received_at":"2026-01-05T09:00:00.125Z","payload":{"a":[1,2]},"by":"qa"}\r\n',
    '{"topic":"%s","received_at":"2026-01-05T09:00:00.125Z","payload":{"a":[1,2]},"invalid":7}',
])
def test_a_line_in_another_form_gives_the_same_payload(line: str) -> None:
    parsed = wirelog.parse_line(line % TOPIC, 1)
    assert isinstance(parsed, WireRecord)
    assert parsed.topic == TOPIC and parsed.received_at == AT
    assert json.loads(parsed.payload) == {"a": [1, 2]}


def test_text_and_bytes_that_are_not_json_come_back_as_they_were() -> None:
    records = [WireRecord(TOPIC, AT, b"not json {"), WireRecord(TOPIC, AT, b"\xff\xfe\x00")]
    assert [r.payload for r in roundtrip(records)] == [b"not json {", b"\xff\xfe\x00"]


def test_a_line_without_a_payload_is_named() -> None:
    parsed = wirelog.parse_line(
        f'{{"topic":"{TOPIC}","received_at":"2026-01-05T09:00:00.125Z"}}', 3)
    assert parsed == BadLine(3, "no 'payload'")


@pytest.mark.parametrize("payload", [
    '{"n":123456789012345678901234567890}', '{"x":NaN,"y":-Infinity}',
    '{"s":"\\ud800 lone"}', '{"f":0.30000000000000004,"e":1e-7}', '{"k":1,"k":2}',
])
def test_a_line_reads_as_the_standard_library_reads_it(payload: str) -> None:
    # In a form the recorder does not write, so the payload is rebuilt from what was parsed.
    line = f'{{"received_at":"2026-01-05T09:00:00.125Z","topic":"{TOPIC}","payload":{payload}}}'
    parsed = wirelog.parse_line(line, 1)
    assert isinstance(parsed, WireRecord)
    # Compared as text, since NaN is not equal to itself.
    assert json.dumps(json.loads(parsed.payload)) == json.dumps(json.loads(payload))


@pytest.mark.parametrize(("line", "reason"), [
    ('{"topic": "a",', "not JSON: Expecting property name enclosed in double quotes: "
     "line 1 column 15 (char 14)"),
    ('{"topic":"a"} trailing', "not JSON: Extra data: line 1 column 15 (char 14)"),
    ("[1, 2]", "not a JSON object"),
    ('{"topic":"a","received_at":"2026-01-05T09:00:00.125Z","payload_text":"\\udc00"}',
     "payload_text holds half a surrogate pair, not text"),
])
def test_a_line_that_is_not_a_json_object_is_named_in_the_standard_words(
    line: str, reason: str,
) -> None:
    assert wirelog.parse_line(line, 4) == BadLine(4, reason)


def test_text_holding_half_a_surrogate_pair_reads_as_its_escape() -> None:
    """Text handed to `read_lines` (not a file, which is read as UTF-8) may hold one."""
    for line in ('{"topic":"%s","received_at":"2026-01-05T09:00:00.125Z","payload":"\ud800"}',
                 '{"topic":"%s","received_at":"2026-01-05T09:00:00.125Z","payload":["\ud800"]}'):
        parsed = wirelog.parse_line(line % TOPIC, 1)
        assert isinstance(parsed, WireRecord)
        assert json.loads(parsed.payload) in ("\ud800", ["\ud800"])


def _nested(depth: int) -> bytes:
    return b'{"v":1,"x":' + b"[" * depth + b"]" * depth + b"}"


def _deeper(frames: int, call: Callable[[], T]) -> T:
    """``call`` made with ``frames`` more frames on the stack."""
    return call() if frames == 0 else _deeper(frames - 1, call)


def test_a_payload_nested_however_deep_is_written_and_read_back_as_it_came() -> None:
    """Kept as JSON up to a fixed depth, as its text beyond it; and the line reads back in a
    reader whose stack is deeper than the writer's (the standard library's JSON reader stops
    at the interpreter's recursion limit less its caller's depth)."""
    depths = [150, wirelog.MAX_PAYLOAD_DEPTH - 1, wirelog.MAX_PAYLOAD_DEPTH, 600,
              *range(900, 1100), 5000]
    records = [WireRecord(TOPIC, AT, _nested(d), invalid="too deep") for d in depths]
    lines = [_deeper(200, lambda r=r: wirelog.to_line(r)) for r in records]  # type: ignore[misc]
    assert [json.loads(line).keys() >= {"payload"} for line in lines] == [
        d + 1 <= wirelog.MAX_PAYLOAD_DEPTH for d in depths]  # the object around it: one more
    for frames in (0, 400):
        read = _deeper(frames, lambda: wirelog.read_lines(lines))
        assert read.bad == []
        assert [(r.payload, r.invalid) for r in read.records] == [
            (_nested(d), "too deep") for d in depths]


def test_a_payload_written_back_deeper_than_the_stack_allows_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A line in another form, read at the top of a stack too shallow to write its payload
    back (made so here, since which depth does it depends on the caller)."""
    def too_deep(value: object) -> str:
        raise RecursionError
    monkeypatch.setattr(wirelog, "_dumps", too_deep)
    line = f'{{"received_at":"2026-01-05T09:00:00.125Z","topic":"{TOPIC}","payload":[[1]]}}'
    assert wirelog.parse_line(line, 3) == BadLine(3, "payload nested too deeply to read")


def test_a_line_nested_too_deeply_is_named_not_raised() -> None:
    """In a form the recorder does not write (its own keeps such a payload as text), and at
    every depth around where the standard library stops (see above)."""
    reasons = set()
    for depth in [*range(900, 1100), 5000]:
        payload = "[" * depth + "]" * depth
        line = (f'{{"received_at":"2026-01-05T09:00:00.125Z","topic":"{TOPIC}",'
                f'"payload":{payload}}}')
        parsed = wirelog.parse_line(line, 2)
        if isinstance(parsed, WireRecord):
            assert parsed.payload == payload.encode()
        else:
            reasons.add(parsed.reason)
    assert reasons and reasons <= {"not JSON: nested too deeply to read",
                                   "payload nested too deeply to read"}
