"""`chairside decode`: public vectors in, wire Readings out; bad frames named, exit 1."""

from __future__ import annotations

import json

from click.testing import CliRunner

from monitor.cli import main


def test_decode_prints_readings_and_names_bad_frames() -> None:
    result = CliRunner().invoke(main, [
        "decode", "ble-2a35", "1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00",
        "15 BD F0", "00 D7 F0 00 00 00 00"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert lines[0]["values"] == {"systolic": 138.0, "diastolic": 88.0, "mean": 120.0,
                                  "pulse_rate": 60.0}
    assert "irregular_pulse" in lines[0]["flags"]
    assert "ble-2a35: byte 3: truncated" in result.stderr


def test_decode_stream_from_stdin() -> None:
    line = b"09/21/08 09:56:12 SpO2=097 PR=069 PI=04.69 EXC=800:SET\r\n"
    result = CliRunner().invoke(main, ["decode", "masimo"], input=b"\x00junk\r\n" + line)
    assert result.exit_code == 0, result.stderr
    reading = json.loads(result.stdout.strip().splitlines()[-1])
    assert reading["values"]["spo2"] == 97 and reading["values"]["pulse_rate"] == 69


def test_unknown_protocol_exits_2() -> None:
    result = CliRunner().invoke(main, ["decode", "carrier-pigeon", "00"])
    assert result.exit_code == 2
