"""HL7 v2 ORU^R01 (IHE PCD-01) over MLLP: parsing, code checks, ACKs, framing, encoding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from drivers.protocols import hl7
from drivers.protocols.base import FrameError, Measurement

from .helpers import check_all

MSH = (
    "MSH|^~\\&|AcmeMon^ACDE48234567ABCD^EUI-64|Ward|DOR|Hosp|20260105093000+0100||"
    "ORU^R01^ORU_R01|MSG00042|P|2.6|||NE|AL||UNICODE UTF-8|||"
    "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
)
OBR = "OBR|1|AB1^AcmeMon|CD1^AcmeMon|182777000^monitoring of patient^SCT|||20260105092900+0100"


def msg(*segments: str, header: str = MSH) -> bytes:
    return ("\r".join((header, *segments)) + "\r").encode()


def obx(n: int, code: str, value: str, unit: str, status: str = "R", tail: str = "",
        abnormal: str = "", vt: str = "NM") -> str:
    return f"OBX|{n}|{vt}|{code}|1.0.1.{n}|{value}|{unit}||{abnormal}|||{status}|||{tail}"


SYS = "150021^MDC_PRESS_BLD_NONINV_SYS^MDC"
DIA = "150022^MDC_PRESS_BLD_NONINV_DIA^MDC"
MEAN = "150023^MDC_PRESS_BLD_NONINV_MEAN^MDC"
SPO2 = "150456^MDC_PULS_OXIM_SAT_O2^MDC"
OXPR = "149530^MDC_PULS_OXIM_PULS_RATE^MDC"
ECGHR = "147842^MDC_ECG_HEART_RATE^MDC"
PR = "149514^MDC_PULS_RATE^MDC"
MMHG = "266016^MDC_DIM_MMHG^MDC"
KPA = "265987^MDC_DIM_KILO_PASCAL^MDC"
PCT = "262688^MDC_DIM_PERCENT^MDC"
BPM = "264864^MDC_DIM_BEAT_PER_MIN^MDC"
PLUS1 = timezone(timedelta(hours=1))

NIBP = msg(
    "PID|||PC-0042^^^Clinic^PI",
    OBR,
    "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1|||||||X",
    "OBX|2||150020^MDC_PRESS_BLD_NONINV^MDC|1.0.1|||||||X",
    obx(3, SYS, "120", MMHG, tail="20260105092930+0100"),
    obx(4, DIA, "80", MMHG),
    obx(5, MEAN, "93", MMHG),
    obx(6, PR, "72", BPM),
)


def test_pcd01_example_segment() -> None:
    """A systolic NIBP OBX as IHE PCD-01 lays it out."""
    data = msg(OBR, "OBX|4|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.0.1.1|120|"
               "266016^MDC_DIM_MMHG^MDC|||||R")
    (m,) = hl7.decode_message(data).to_measurements()
    assert (m.kind, m.values, m.unit) == ("blood_pressure", {"systolic": 120.0}, "mm[Hg]")


def test_nibp_message() -> None:
    message = hl7.decode_message(NIBP)
    assert message.header.control_id == "MSG00042" and message.header.is_oru_r01
    assert message.unknown_codes == ()  # hierarchy OBXs without values are not codes to report
    (m,) = message.to_measurements()
    assert m == Measurement(
        kind="blood_pressure",
        values={"systolic": 120.0, "diastolic": 80.0, "mean": 93.0, "pulse_rate": 72.0},
        unit="mm[Hg]",
        measured_at=datetime(2026, 1, 5, 9, 29, 30, tzinfo=PLUS1),  # OBX-14 before OBR-7
    )
    check_all([m], "hl7")


def test_obr_time_when_no_obx_time() -> None:
    (m,) = hl7.decode_message(msg(OBR, obx(1, SPO2, "97", PCT))).to_measurements()
    assert m.measured_at == datetime(2026, 1, 5, 9, 29, tzinfo=PLUS1)


def test_time_without_offset_is_naive_and_none_without_times() -> None:
    data = msg("OBR|1||||||20260105092900", obx(1, SPO2, "97", PCT))
    assert hl7.decode_message(data).to_measurements()[0].measured_at == datetime(
        2026, 1, 5, 9, 29
    )
    data = msg("OBR|1", obx(1, SPO2, "97", PCT))
    assert hl7.decode_message(data).to_measurements()[0].measured_at is None


def test_kpa() -> None:
    data = msg(OBR, obx(1, SYS, "16", KPA), obx(2, DIA, "10.7", KPA))
    (m,) = hl7.decode_message(data).to_measurements()
    assert m.unit == "kPa" and m.values == {"systolic": 16.0, "diastolic": 10.7}
    check_all([m])


def test_oximeter_and_heart_rate() -> None:
    data = msg(OBR, obx(1, SPO2, "96", PCT), obx(2, OXPR, "70", BPM), obx(3, ECGHR, "71", BPM))
    spo2, hr = hl7.decode_message(data).to_measurements()
    assert (spo2.kind, spo2.values, spo2.unit) == (
        "spo2", {"spo2": 96.0, "pulse_rate": 70.0}, "%"
    )
    assert (hr.kind, hr.values, hr.unit) == ("heart_rate", {"heart_rate": 71.0}, "/min")
    check_all([spo2, hr])


def test_generic_pulse_rate_placement() -> None:
    # With an oximeter that has no rate of its own: goes there.
    (m,) = hl7.decode_message(
        msg(OBR, obx(1, PR, "66", BPM), obx(2, SPO2, "96", PCT))
    ).to_measurements()
    assert m.values == {"spo2": 96.0, "pulse_rate": 66.0}
    # Alone: a heart rate, marked.
    (m,) = hl7.decode_message(msg(OBR, obx(1, PR, "66", BPM))).to_measurements()
    assert m.kind == "heart_rate" and m.values == {"heart_rate": 66.0}
    assert m.flags == ("from_pulse_rate",)
    check_all([m])


def test_two_oximeter_channels_give_two_measurements() -> None:
    data = msg(OBR, obx(1, SPO2, "96", PCT), obx(2, OXPR, "70", BPM),
               obx(3, SPO2, "93", PCT), obx(4, OXPR, "71", BPM))
    a, b = hl7.decode_message(data).to_measurements()
    assert a.values == {"spo2": 96.0, "pulse_rate": 70.0}
    assert b.values == {"spo2": 93.0, "pulse_rate": 71.0}


def test_one_measurement_set_per_obr() -> None:
    data = msg(OBR, obx(1, SPO2, "96", PCT), "OBR|2||||||20260105093000", obx(1, SPO2, "95", PCT))
    a, b = hl7.decode_message(data).to_measurements()
    assert a.values["spo2"] == 96.0 and b.values["spo2"] == 95.0
    assert b.measured_at == datetime(2026, 1, 5, 9, 30)


@pytest.mark.parametrize(
    ("segment", "reason"),
    [
        # The name is known but the number is wrong: the code decides, and is unknown.
        (obx(1, "150457^MDC_PULS_OXIM_SAT_O2^MDC", "97", PCT), "that is 150456"),
        (obx(1, "150037^MDC_PRESS_BLD_ART_ABP_SYS^MDC", "118", MMHG), "not one"),
        (obx(1, SPO2, "97", MMHG), "does not fit"),
        (obx(1, SPO2, "97", "266016^MDC_DIM_PERCENT^MDC"), "is MDC_DIM_MMHG"),
        (obx(1, SPO2, "97", "999999^MDC_DIM_X^MDC"), "not a known MDC unit"),
        (obx(1, SYS, "120", ""), "no unit"),
        (obx(1, SPO2, "97", "262688^MDC_DIM_PERCENT^MDC^mm[Hg]^mm[Hg]^UCUM"), "disagree"),
        (obx(1, SPO2, "97", "pct^percent^L"), "coding system"),
        (obx(1, "X1^Local^99LOCAL", "97", PCT), "coding system"),
        (obx(1, "1234-5^Other^LN", "97", PCT), "LOINC code"),
        (obx(1, SPO2, "97", PCT, vt="ST"), "value type ST"),
    ],
)
def test_unknown_or_inconsistent_codes_are_reported(segment: str, reason: str) -> None:
    message = hl7.decode_message(msg(OBR, segment, obx(9, ECGHR, "60", BPM)))
    assert len(message.unknown_codes) == 1
    assert reason in message.unknown_codes[0].reason
    # The rest of the message still decodes.
    assert [m.kind for m in message.to_measurements()] == ["heart_rate"]


def test_loinc_and_ucum_alternates() -> None:
    data = msg(OBR, obx(1, "59408-5^Oxygen saturation^LN", "97", "%^percent^UCUM"),
               obx(2, SPO2 + "^2708-6^SpO2^LN", "98",
                   "262688^MDC_DIM_PERCENT^MDC^%^%^UCUM"),
               obx(3, ECGHR, "60", "{beats}/min^^UCUM"))
    message = hl7.decode_message(data)
    assert message.unknown_codes == ()
    a, b, c = message.to_measurements()
    assert a.values == {"spo2": 97.0} and b.values == {"spo2": 98.0}
    assert c.values == {"heart_rate": 60.0}


def test_unavailable_missing_and_abnormal() -> None:
    data = msg(OBR, obx(1, SYS, "", MMHG, status="X"), obx(2, DIA, "", MMHG),
               obx(3, MEAN, "150", MMHG, abnormal="HH"), obx(4, PR, "40", BPM, abnormal="L~A"))
    (m,) = hl7.decode_message(data).to_measurements()
    assert m.values == {"mean": 150.0, "pulse_rate": 40.0}
    assert m.flags == ("systolic_unavailable", "diastolic_missing", "mean_critically_high",
                       "pulse_rate_low", "pulse_rate_abnormal")
    assert m.quality == "invalid"
    check_all([m])


def test_escaped_text_fields() -> None:
    header = MSH.replace("AcmeMon^ACDE48234567ABCD^EUI-64", "Acme\\F\\Mon")
    message = hl7.decode_message(msg(OBR, obx(1, SPO2, "97", PCT), header=header))
    assert message.header.sending_application == "Acme\\F\\Mon"  # kept as sent, for the ACK


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (b"", 0, "MSH"),
        (b"PID|1\rMSH|^~\\&|\r", 0, "MSH"),
        (b"MSH|\r", 0, "MSH"),
        (b"MSHA^~\\&|x\r", 3, "separators"),
        (msg(OBR, "obx|1"), len(MSH) + 1 + len(OBR) + 1, "segment name"),
        (msg(OBR, header=MSH.replace("ORU^R01^ORU_R01", "ADT^A01")), MSH.index("ORU"),
         "not ORU^R01"),
        (msg("OBR|1||||||2026-01-05"), len(MSH) + 1 + 11, "HL7 time"),
        (msg("OBR|1||||||20261305093000"), len(MSH) + 1 + 11, "month"),
    ],
)
def test_bad_messages(data: bytes, offset: int | bytes, reason: str) -> None:
    if isinstance(offset, bytes):  # the offset of the value between the bars
        offset = data.index(offset) + 1
    with pytest.raises(FrameError) as e:
        hl7.decode_message(data)
    assert e.value.offset == offset and reason in e.value.reason


def test_mllp_envelope_is_accepted_by_decode_message() -> None:
    assert hl7.decode_message(hl7.wrap_mllp(NIBP)).header.control_id == "MSG00042"
    with pytest.raises(FrameError) as e:
        hl7.decode_message(b"\x0bPID|1\x1c\r")
    assert e.value.offset == 1


def test_parse_ts() -> None:
    assert hl7.parse_ts("202601050930") == datetime(2026, 1, 5, 9, 30)
    assert hl7.parse_ts("20260105093001.25-0500") == datetime(
        2026, 1, 5, 9, 30, 1, 250000, tzinfo=timezone(timedelta(hours=-5))
    )
    assert hl7.parse_ts("20260105") is None  # a date is not a measurement time
    assert hl7.parse_ts("20260105093000^S") == datetime(2026, 1, 5, 9, 30)
    assert hl7.format_ts(datetime(2026, 1, 5, 9, 30, tzinfo=UTC)) == "20260105093000+0000"
    with pytest.raises(FrameError):
        hl7.parse_ts("20260105093000+2500")


@pytest.mark.parametrize("obx14", ["00010101000000+0100", "99991231235959-0100"])
def test_a_time_with_no_utc_time_is_a_frame_error_and_answered(obx14: str) -> None:
    """Year 1 east of UTC, year 9999 west of it: a datetime, but none in UTC, where every
    reading's time is kept (converting it raised OverflowError out of the driver)."""
    with pytest.raises(FrameError, match="outside the calendar in UTC"):
        hl7.parse_ts(obx14)
    message = f"MSH|^~\\&|||||||ORU^R01\rOBX||NM|150456^^MDC||97|%||||||||{obx14}\r".encode()
    result = hl7.MllpFramer().feed(hl7.wrap_mllp(message))
    assert [e.reason for e in result.errors] == [f"{obx14!r} is outside the calendar in UTC"]
    assert result.measurements == []
    assert b"MSA|AE|" in result.replies[0]


def test_an_obx4_whose_digits_are_not_ascii_names_no_channel() -> None:
    """'³' is a digit to str.isdigit, not to int(): the observation keeps no sub-id path."""
    message = "MSH|^~\\&|||||||ORU^R01\rOBX||NM|150456^^MDC|\xb3.0.0|97|%\r".encode("latin-1")
    result = hl7.MllpFramer().feed(hl7.wrap_mllp(message))
    assert result.errors == []
    assert [(m.kind, m.values) for m in result.measurements] == [("spo2", {"spo2": 97.0})]


# --- ACK ----------------------------------------------------------------------------------------


def test_ack_accept() -> None:
    header = hl7.decode_header(NIBP)
    ack = hl7.build_ack(header)
    assert ack == (
        b"MSH|^~\\&|DOR|Hosp|AcmeMon^ACDE48234567ABCD^EUI-64|Ward|20260105093000+0100||"
        b"ACK^R01^ACK|ACKMSG00042|P|2.6\rMSA|AA|MSG00042\r"
    )
    assert hl7.decode_ack(ack) == hl7.Ack("AA", "MSG00042")
    at = datetime(2026, 1, 5, 8, 30, 5, tzinfo=UTC)
    assert b"|20260105083005+0000||" in hl7.build_ack(header, at=at, control_id="A1")


def test_ack_error_carries_the_reason() -> None:
    header = hl7.decode_header(NIBP)
    ack = hl7.build_ack(header, "AE", text="value 'x|y' is not a number")
    segments = ack.decode().split("\r")
    assert segments[1] == "MSA|AE|MSG00042|value 'x\\F\\y' is not a number"
    assert segments[2] == (
        "ERR|||207^Application internal error^HL70357|E||||value 'x\\F\\y' is not a number"
    )
    assert hl7.decode_ack(hl7.wrap_mllp(ack)) == hl7.Ack(
        "AE", "MSG00042", "value 'x|y' is not a number"
    )


def test_ack_without_header() -> None:
    ack = hl7.build_ack(None, "AE", text="no MSH")
    assert ack.split(b"\r")[1] == b"MSA|AE||no MSH"


def test_decode_ack_refuses_other_messages() -> None:
    with pytest.raises(FrameError):
        hl7.decode_ack(NIBP)
    with pytest.raises(FrameError):
        hl7.decode_ack(b"MSH|^~\\&|a|b|c|d|||ACK|1|P|2.6\r")


# --- MLLP framer ---------------------------------------------------------------------------------


def test_framer_byte_by_byte_with_acks() -> None:
    second = NIBP.replace(b"MSG00042", b"MSG00043")
    data = b"noise" + hl7.wrap_mllp(NIBP) + b"\r\n" + hl7.wrap_mllp(second)
    framer = hl7.MllpFramer()
    measurements, replies = [], []
    for b in data:
        r = framer.feed(bytes([b]))
        measurements.extend(r.measurements)
        replies.extend(r.replies)
        assert not r.errors
    assert len(measurements) == 2
    assert [hl7.decode_ack(r).control_id for r in replies] == ["MSG00042", "MSG00043"]
    assert all(r.startswith(b"\x0b") and r.endswith(b"\x1c\r") for r in replies)
    assert framer.stats.frames == 2 and framer.stats.dropped_bytes == 7


def test_framer_answers_a_bad_message_with_ae() -> None:
    bad = msg("OBR|1||||||20261305093000", obx(1, SPO2, "97", PCT))
    framer = hl7.MllpFramer(clock=lambda: datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    r = framer.feed(hl7.wrap_mllp(bad) + hl7.wrap_mllp(b"garbage\r"))
    assert not r.measurements and len(r.errors) == 2
    first, second = (hl7.decode_ack(x) for x in r.replies)
    assert first.code == "AE" and first.control_id == "MSG00042" and "month" in first.text
    assert second.code == "AE" and second.control_id == ""
    assert b"20260105080000+0000" in r.replies[0]
    assert r.errors[0].offset == 1 + bad.index(b"20261305")


def test_framer_rejects_unsupported_message_type_with_code_200() -> None:
    framer = hl7.MllpFramer()
    r = framer.feed(hl7.wrap_mllp(msg(header=MSH.replace("ORU^R01^ORU_R01", "ADT^A01"))))
    assert b"ERR|||200^Unsupported message type^HL70357" in r.replies[0]


def test_framer_start_block_inside_a_message_and_overflow() -> None:
    framer = hl7.MllpFramer(max_buffer=2000)
    r = framer.feed(b"\x0bMSH|half a message" + hl7.wrap_mllp(NIBP))
    assert len(r.measurements) == 1 and len(r.errors) == 1
    r = framer.feed(b"\x0b" + b"x" * 5000)
    assert framer.buffered <= 2000 and len(r.errors) == 1
    r = framer.feed(b"y" * 5000 + b"\x1c\r" + hl7.wrap_mllp(NIBP))
    assert len(r.measurements) == 1 and not r.errors
    assert framer.stats.dropped_bytes >= 10000


def test_framer_flush_reports_unterminated_message() -> None:
    framer = hl7.MllpFramer()
    framer.feed(b"\x0bMSH|^~\\&|")
    r = framer.flush()
    assert len(r.errors) == 1 and framer.buffered == 0


def test_end_block_without_cr_is_accepted() -> None:
    framer = hl7.MllpFramer()
    r = framer.feed(b"\x0b" + NIBP + b"\x1c" + b"\x0b" + NIBP + b"\x1c\r")
    assert len(r.measurements) == 2 and framer.stats.dropped_bytes == 0


# --- encoder ------------------------------------------------------------------------------------


def test_encode_round_trip() -> None:
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    ms = [
        Measurement("blood_pressure", {"systolic": 131.0, "diastolic": 84.0, "mean": 99.7,
                                       "pulse_rate": 77.0}, "mm[Hg]", measured_at=at),
        Measurement("blood_pressure", {"systolic": 17.5, "diastolic": 11.2}, "kPa",
                    measured_at=at),
        Measurement("spo2", {"spo2": 95.0, "pulse_rate": 81.0}, "%", measured_at=at),
        Measurement("heart_rate", {"heart_rate": 80.0}, "/min", measured_at=at),
    ]
    data = hl7.encode_oru(ms, control_id="C1", at=at)
    message = hl7.decode_message(data)
    assert message.unknown_codes == ()
    assert message.to_measurements() == ms
    framer = hl7.MllpFramer()
    assert framer.feed(hl7.wrap_mllp(data)).measurements == ms


def test_encode_refuses_what_hl7_here_cannot_carry() -> None:
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        hl7.encode_oru([Measurement("cuff_pressure", {"cuff_pressure": 50.0}, "mm[Hg]")],
                       control_id="C", at=at)
    with pytest.raises(ValueError):
        hl7.encode_oru([Measurement("heart_rate", {"rr_intervals": [0.8]}, "/min")],
                       control_id="C", at=at)


# --- real feeds -----------------------------------------------------------------------------------

NIBP_PR = "149546^MDC_PULS_RATE_NON_INV^MDC"


def test_nibp_pulse_rate_149546_goes_with_the_cuff() -> None:
    """IHE PCD TF-2 (PCD-01 episodic NIBP example) and the GE B40 HL7 Reference Manual
    (2062665-001, "VMD Reference IDs, MDC Codes"): the NIBP VMD reports its pulse rate as
    149546 MDC_PULS_RATE_NON_INV in /min (264864)."""
    data = msg(
        OBR,
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
        "OBX|2||70686^MDC_DEV_PRESS_BLD_NONINV_VMD^MDC|1.7.0.0|||||||X",
        "OBX|3||70687^MDC_DEV_PRESS_BLD_NONINV_CHAN^MDC|1.7.1.0|||||||X",
        "OBX|4|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.7.1.1|121|266016^MDC_DIM_MMHG^MDC|||||R",
        "OBX|5|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.7.1.2|79|266016^MDC_DIM_MMHG^MDC|||||R",
        "OBX|6|NM|150023^MDC_PRESS_BLD_NONINV_MEAN^MDC|1.7.1.3|93|266016^MDC_DIM_MMHG^MDC|||||R",
        f"OBX|7|NM|{NIBP_PR}|1.7.1.4|68|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R",
    )
    message = hl7.decode_message(data)
    assert message.unknown_codes == ()
    (m,) = message.to_measurements()
    assert m.kind == "blood_pressure"
    assert m.values == {"systolic": 121.0, "diastolic": 79.0, "mean": 93.0, "pulse_rate": 68.0}
    check_all([m])


def test_known_code_with_another_reference_name_is_read() -> None:
    """Philips PIC iX (IntelliVue MX500) as the HL7 FHIR Point-of-Care Device IG's v2 mapping
    page shows it (BillLHolden/Kb-uv-pocd, input/pagecontent/mappingv2.md): heart rate as
    ``147842^MDC_ECG_CARD_BEAT_RATE^MDC``, OBX-7 ``50-120``, status F. The code identifies
    the observation; that reference id is one the table lists for 147842."""
    data = msg(
        OBR,
        "OBX|7|NM|147842^MDC_ECG_CARD_BEAT_RATE^MDC|1.2.1.1|60|264864^MDC_DIM_BEAT_PER_MIN^MDC"
        "|50-120||||F",
    )
    message = hl7.decode_message(data)
    (m,) = message.to_measurements()
    assert (m.kind, m.values) == ("heart_rate", {"heart_rate": 60.0})
    assert m.quality == "valid"
    assert message.unknown_codes == ()


def test_a_reference_id_the_table_does_not_list_is_noted_and_the_value_kept() -> None:
    """The code decides (IEEE 11073-10101 codes are the identifiers; reference ids are their
    names): a name the table does not list for the code is a failed cross-check, noted."""
    message = hl7.decode_message(msg(OBR, obx(1, "147842^MDC_HEART_RATE_ECG^MDC", "61", BPM)))
    (m,) = message.to_measurements()
    assert m.values == {"heart_rate": 61.0} and m.quality == "valid"
    (note,) = message.unknown_codes
    assert note.kept and not note.unreadable and note.quantity == "heart_rate"
    assert "MDC_HEART_RATE_ECG" in note.reason and "read by its code" in note.reason
    assert message.unusable[0].kept and message.unusable[0].kind == "heart_rate"


def test_code_and_unit_disagree_the_value_is_not_read() -> None:
    """The code says SpO2, the name says pulse rate, the unit is /min: the name is noted and
    the unit, which does not fit SpO2, keeps the value out; SpO2 is unreadable."""
    message = hl7.decode_message(
        msg(OBR, obx(1, "150456^MDC_PULS_OXIM_PULS_RATE^MDC", "70", BPM))
    )
    assert message.to_measurements() == []
    note, refused = message.unknown_codes
    assert note.kept and "MDC_PULS_OXIM_PULS_RATE" in note.reason
    assert refused.unreadable and refused.quantity == "spo2" and "does not fit" in refused.reason


def test_a_unit_that_can_only_be_one_is_read_when_missing() -> None:
    message = hl7.decode_message(msg(OBR, obx(1, SPO2, "97", "")))
    (m,) = message.to_measurements()
    assert m.values == {"spo2": 97.0}
    (note,) = message.unknown_codes
    assert note.kept and "always in %" in note.reason


@pytest.mark.parametrize(
    ("segment", "quantity", "reason"),
    [
        (obx(1, SPO2, "97.x", PCT), "spo2", "not a number"),
        (obx(1, SPO2, "101", PCT), "spo2", "out of range"),
        (obx(1, SYS, "-5", MMHG), "systolic", "out of range"),
        # A monitor's "no value" marker (XH80X sample data: -999 in every metric).
        (obx(1, "150301^MDC_PRESS_CUFF_SYS^MDC", "-999", MMHG), "systolic", "out of range"),
        (obx(1, ECGHR, "60", BPM, status="Q"), "heart_rate", "result status 'Q'"),
        (obx(1, ECGHR, "60", BPM, vt="ST"), "heart_rate", "value type ST"),
    ],
)
def test_one_bad_value_costs_that_value_only(segment: str, quantity: str, reason: str) -> None:
    other = obx(9, SPO2, "95", PCT) if quantity == "heart_rate" else obx(9, ECGHR, "60", BPM)
    message = hl7.decode_message(msg(OBR, segment, other))
    (unknown,) = message.unknown_codes
    assert unknown.unreadable and unknown.quantity == quantity and reason in unknown.reason
    assert len(message.to_measurements()) == 1  # the other OBX still arrives


def test_framer_counts_what_it_could_not_read_and_still_accepts() -> None:
    framer = hl7.MllpFramer()
    r = framer.feed(hl7.wrap_mllp(msg(OBR, obx(1, SPO2, "140", PCT), obx(2, ECGHR, "60", BPM))))
    assert [m.kind for m in r.measurements] == ["heart_rate"] and not r.errors
    assert hl7.decode_ack(r.replies[0]).code == "AA"
    (unusable,) = r.unusable
    assert (unusable.kind, unusable.label, unusable.unreadable) == ("spo2", "SpO2", True)
    assert framer.stats.unreadable == 1 and framer.stats.noted == 0


def test_one_withdrawn_component_leaves_the_others() -> None:
    """HL7 v2.6 table 0085: ``D`` deletes one OBX record. A diastolic marked D while systolic
    and mean are final costs the diastolic, not the reading (each OBX-11 judges its own
    OBX)."""
    data = msg(OBR, obx(1, SYS, "142", MMHG, status="F"), obx(2, DIA, "91", MMHG, status="D"),
               obx(3, MEAN, "108", MMHG, status="F"))
    (m,) = hl7.decode_message(data).to_measurements()
    assert m.values == {"systolic": 142.0, "mean": 108.0}
    assert m.flags == ("diastolic_withdrawn",)
    assert m.quality == "valid"
    check_all([m])


def test_obx4_channels_keep_pulse_rates_with_their_own_vmd() -> None:
    """OBX-4 ``<MDS>.<VMD>.<CHAN>.<METRIC>`` (IHE PCD TF-2, PCD-01 containment; GE B40 HL7
    Reference Manual 2062665-001, "OBX-4"): a generic pulse rate in the SpO2 VMD belongs to
    the oximeter even when an NIBP in another VMD has no rate; the NIBP's own rate stays
    with it."""
    data = msg(
        OBR,
        "OBX|1|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.7.1.1|118|266016^MDC_DIM_MMHG^MDC|||||R",
        "OBX|2|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.7.1.2|76|266016^MDC_DIM_MMHG^MDC|||||R",
        "OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R",
        "OBX|4|NM|149514^MDC_PULS_RATE^MDC|1.3.1.2|71|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R",
        "OBX|5|NM|150448^MDC_PULS_OXIM_PERF_REL^MDC|1.3.1.3|2.4|262688^MDC_DIM_PERCENT^MDC|||||R",
    )
    bp, spo2 = hl7.decode_message(data).to_measurements()
    assert bp.values == {"systolic": 118.0, "diastolic": 76.0}
    assert spo2.values == {"spo2": 97.0, "pulse_rate": 71.0, "perfusion_index": 2.4}
    check_all([bp, spo2])


def test_two_channels_of_one_kind_stay_apart_by_obx4() -> None:
    data = msg(OBR, "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|97|262688^MDC_DIM_PERCENT^MDC",
               "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.2.1|93|262688^MDC_DIM_PERCENT^MDC",
               "OBX|3|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.3.1.2|70|264864^MDC_DIM_BEAT_PER_MIN^MDC")
    a, b = hl7.decode_message(data).to_measurements()
    assert a.values == {"spo2": 97.0, "pulse_rate": 70.0} and b.values == {"spo2": 93.0}


@pytest.mark.parametrize(
    ("status", "values", "flags", "quality"),
    [
        ("F", {"heart_rate": 60.0}, (), "valid"),
        ("C", {"heart_rate": 60.0}, (), "valid"),
        ("P", {"heart_rate": 60.0}, ("heart_rate_preliminary",), "questionable"),
        ("X", {}, ("heart_rate_unavailable",), "invalid"),
        ("W", {}, ("heart_rate_withdrawn",), "invalid"),
        ("N", {}, ("heart_rate_not_asked",), "invalid"),
    ],
)
def test_result_status_of_each_obx(status: str, values: dict[str, float],
                                   flags: tuple[str, ...], quality: str) -> None:
    """HL7 v2.6 table 0085 (OBX-11), one OBX at a time."""
    (m,) = hl7.decode_message(msg(OBR, obx(1, ECGHR, "60", BPM, status=status))).to_measurements()
    assert (m.values, m.flags, m.quality) == (values, flags, quality)


@pytest.mark.parametrize(
    ("unit", "ok"),
    [(BPM, True), ("/min^/min^UCUM", True), ("{beat}/min^^UCUM", True),
     ("^MDC_DIM_BEAT_PER_MIN^MDC", True), ("bpm^bpm^UCUM", True),
     (BPM + "^/min^/min^UCUM", True), ("264864^MDC_DIM_BEAT_PER_MIN^MDC^%^%^UCUM", False)],
)
def test_units_in_mdc_and_ucum(unit: str, ok: bool) -> None:
    message = hl7.decode_message(msg(OBR, obx(1, ECGHR, "60", unit)))
    assert bool(message.to_measurements()) == ok


def test_sn_value_type_with_a_plain_number() -> None:
    """SN (structured numeric) ``=^72`` is the number 72; ``<^40`` is not one number."""
    (m,) = hl7.decode_message(msg(OBR, obx(1, ECGHR, "=^72", BPM, vt="SN"))).to_measurements()
    assert m.values == {"heart_rate": 72.0}
    message = hl7.decode_message(msg(OBR, obx(1, ECGHR, "<^40", BPM, vt="SN")))
    assert message.to_measurements() == [] and message.unknown_codes[0].unreadable


BATCH = (
    "FHS|^~\\&|GW^ACDE48234567ABCD^EUI-64|Ward|DOR|Hosp|20260105093000+0100||||F1\r"
    "BHS|^~\\&|GW^ACDE48234567ABCD^EUI-64|Ward|DOR|Hosp|20260105093000+0100||||B1\r"
    + NIBP.decode()
    + msg(OBR, obx(1, SPO2, "97", PCT)).decode().replace("MSG00042", "MSG00043")
    + "MSH|^~\\&|GW|Ward|DOR|Hosp|20260105093000||ADT^A01|MSG00044|P|2.6\r"
    "BTS|3\rFTS|1\r"
).encode()


def test_batch_messages_decode_one_by_one() -> None:
    """HL7 v2.6 section 2.10.3: ``[FHS] [BHS] {MSH ...} [BTS] [FTS]``."""
    batch = hl7.decode_batch(BATCH)
    nibp, spo2, adt = batch.messages
    assert isinstance(nibp, hl7.OruMessage) and isinstance(spo2, hl7.OruMessage)
    assert isinstance(adt, FrameError) and "not ORU^R01" in adt.reason
    assert BATCH[adt.offset:].startswith(b"ADT")
    with pytest.raises(FrameError):
        hl7.decode_messages(BATCH)


def test_framer_answers_a_batch_with_a_batch_of_acks() -> None:
    framer = hl7.MllpFramer()
    r = framer.feed(hl7.wrap_mllp(BATCH))
    assert [m.kind for m in r.measurements] == ["blood_pressure", "spo2"]
    assert len(r.errors) == 1 and framer.stats.frames == 2
    (reply,) = r.replies
    lines = reply.strip(b"\x0b\x1c\r").split(b"\r")
    assert lines[0].startswith(b"FHS|^~\\&|DOR|Hosp|GW^ACDE48234567ABCD^EUI-64|Ward|")
    assert lines[0].endswith(b"|F1") and lines[1].endswith(b"|B1")
    assert [line for line in lines if line.startswith(b"MSA")] == [
        b"MSA|AA|MSG00042", b"MSA|AA|MSG00043", b"MSA|AE|MSG00044|message type 'ADT\\S\\A01' is not ORU\\S\\R01",
    ]
    assert lines[-2:] == [b"BTS|3", b"FTS|1"]
