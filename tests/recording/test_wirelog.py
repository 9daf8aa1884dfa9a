"""A wire log reads back what was written: each payload as it was, whether its line is in
the form the recorder writes (its payload's text cut out as it stands) or any other JSON."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from monitor.recording import wirelog
from monitor.recording.wirelog import BadLine, WireRecord

AT = datetime(2026, 1, 5, 9, 0, 0, 125000, tzinfo=UTC)
TOPIC = "chairside/v1/east/chairs/chair-1/readings/spo2"
PAYLOADS = [
    b'{"values":{"spo2":97},"note":"caf\xc3\xa9 \\"quoted\\"","n":[1,2.5,null,true]}',
    b'{"trap":"},\\"invalid\\":\\"not this\\"}","x":{}}',  # the tail's text inside a value
    b'[1,2,3]', b'"just a string"', b"42",
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
