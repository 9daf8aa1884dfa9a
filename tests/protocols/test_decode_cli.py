"""``chairside decode``: hex arguments, stdin streams, errors and exit codes."""

from __future__ import annotations

import io
import json

import pytest

from drivers.decode import run
from drivers.protocols import nonin
from drivers.wire import Reading

from .vectors import PUBLIC, stream


def call(protocol: str, *frames: str, stdin: bytes = b"") -> tuple[int, list[dict[str, object]],
                                                                 str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(protocol, list(frames), io.BytesIO(stdin), out, err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_hex_frames_print_valid_readings() -> None:
    code, lines, err = call("ble-2a35", *PUBLIC["ble-2a35"])
    assert code == 0 and err == ""
    readings = [Reading.model_validate(x) for x in lines]
    assert [r.values["systolic"] for r in readings] == [138.0, 18.9]
    assert readings[0].source == "ble-2a35" and readings[0].chair == "-"
    assert readings[1].unit == "kPa"


def test_device_local_time_is_shown_beside_the_reading() -> None:
    code, lines, _ = call("ble-2a5e", *PUBLIC["ble-2a5e"])
    assert code == 0 and lines[0]["device_time"] == "2024-11-29T23:08:57"
    Reading.model_validate(lines[0])


def test_feature_characteristic_prints_named_booleans() -> None:
    code, lines, _ = call("ble-2a60", "A3 00 40 10 80 01 00")
    assert code == 0
    features = lines[0]["features"]
    assert isinstance(features, dict) and features["multiple_bonds"] is True


def test_single_nonin_frame_prints_its_fields() -> None:
    code, lines, _ = call("nonin-2", "01 81 01 00 83")
    assert code == 0
    assert lines == [{"protocol": "nonin-2", "frame": {"format": 2, "frames": [
        {"status": "0x81", "sync": True, "flags": [], "pleth": 1, "value": 0}]}}]


def test_bad_frame_reports_and_exits_1_after_decoding_the_rest() -> None:
    code, lines, err = call("ble-2a37", "1E 55 32", "zz", "04 FF")
    assert code == 1 and len(lines) == 1
    assert "frame 1: ble-2a37: byte 2: truncated" in err
    assert "frame 2: ble-2a37: not hexadecimal" in err


def test_unknown_protocol_exits_2() -> None:
    code, lines, err = call("ble-2a99", "00")
    assert code == 2 and not lines and "unknown protocol" in err


@pytest.mark.parametrize("name", ["nonin-2", "nonin-7", "nonin-8", "nonin-ascii", "masimo", "hl7"])
def test_stdin_stream(name: str) -> None:
    noise = b"garbage!\r\n" if name in ("nonin-ascii", "masimo") else b"garbage!"
    code, lines, err = call(name, stdin=noise + stream(name))
    assert code == 0 and lines
    for line in lines:
        Reading.model_validate(line)
    assert f"{name}: " in err and "bytes dropped" in err


def test_stdin_stream_with_errors_exits_1() -> None:
    data = stream("nonin-2")
    code, lines, err = call("nonin-2", stdin=data[:70] + b"\x01\x80\x00\x00\x00" + data[125:])
    assert code == 1 and len(lines) == 2 and "error: nonin-2: byte 70" in err


def test_stdin_hex_lines_for_ble() -> None:
    code, lines, _ = call("ble-2a5f", stdin=b"00 64 00 5A 00\n\n00 E8 F3 84 F3\n")
    assert code == 0 and [x["values"] for x in lines] == [{"spo2": 100.0, "pulse_rate": 90.0}] * 2


def test_hl7_unknown_codes_are_noted() -> None:
    message = (b"MSH|^~\\&|A|B|C|D|20260105093000||ORU^R01|1|P|2.6\r"
               b"OBR|1\rOBX|1|NM|150037^MDC_PRESS_BLD_ART_ABP_SYS^MDC|1|118|266016^MDC_DIM_MMHG^MDC"
               b"\rOBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|2|97|262688^MDC_DIM_PERCENT^MDC\r")
    code, lines, err = call("hl7", message.hex())
    assert code == 0 and len(lines) == 1 and "note: hl7:" in err and "150037" in err


def test_format8_frame() -> None:
    code, lines, _ = call("nonin-8", nonin.encode_format8(nonin.NoninFormat8(None, 72)).hex())
    assert code == 0 and lines[0]["quality"] == "invalid" and lines[0]["flags"] == [
        "spo2_missing"
    ]


HL7_HEAD = b"MSH|^~\\&|A|B|C|D|20260105093000||ORU^R01|1|P|2.6\rOBR|1\r"


def test_hl7_a_vital_that_cannot_be_read_exits_1_and_says_which() -> None:
    message = (HL7_HEAD
               + b"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1|61|266016^MDC_DIM_MMHG^MDC\r"
               + b"OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|2|97|262688^MDC_DIM_PERCENT^MDC\r")
    code, lines, err = call("hl7", message.hex())
    assert code == 1 and [x["kind"] for x in lines] == ["spo2"]
    assert "error: hl7: heart rate not readable:" in err and "does not fit" in err


def test_hl7_a_message_that_yields_nothing_exits_1() -> None:
    """The case that used to pass silently: nothing published and exit 0."""
    message = HL7_HEAD + b"OBX|1|NM|150344^MDC_TEMP^MDC|1|36.6|268192^MDC_DIM_DEGC^MDC\r"
    code, lines, err = call("hl7", message.hex())
    assert code == 1 and lines[0]["protocol"] == "hl7"
    assert "note: hl7:" in err and "error: hl7: no reading: 1 observation(s) not read" in err


def test_hl7_a_note_alone_keeps_exit_0() -> None:
    message = HL7_HEAD + b"OBX|1|NM|147842^MDC_HEART_RATE_ECG^MDC|1|61|264864^^MDC\r"
    code, lines, err = call("hl7", message.hex())
    assert code == 0 and lines[0]["values"] == {"heart_rate": 61.0}
    assert "note: hl7:" in err and "read by its code" in err and "error" not in err


def test_hl7_stream_judges_each_message() -> None:
    good = HL7_HEAD + b"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|2|97|262688^MDC_DIM_PERCENT^MDC\r"
    bad = HL7_HEAD + b"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1|900|264864^^MDC\r"
    from drivers.protocols import hl7

    code, _, err = call("hl7", stdin=hl7.wrap_mllp(good) + hl7.wrap_mllp(bad))
    assert code == 1 and "heart rate not readable" in err and "out of range" in err
    code, _, err = call("hl7", stdin=hl7.wrap_mllp(good) * 2)
    assert code == 0
