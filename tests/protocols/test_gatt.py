"""Bluetooth SIG health characteristics: public vectors, every flag, bad frames."""

from __future__ import annotations

from datetime import datetime

import pytest

from drivers.protocols import gatt
from drivers.protocols.base import FrameError
from drivers.protocols.gatt import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    HeartRateMeasurement,
    IntermediateCuffPressure,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
)
from drivers.protocols.ieee11073 import DateTime, Special

from .helpers import as_reading, h

# --- public vectors (Nordic Android-BLE-Common-Library tests, SpeziBluetooth PLXTests) ------


def test_bp_vector_mmhg_with_everything() -> None:
    bp = gatt.decode_blood_pressure(h("1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00"))
    assert bp == BloodPressureMeasurement(
        systolic=138.0,
        diastolic=88.0,
        mean=120.0,
        unit="mm[Hg]",
        timestamp=DateTime(None, 4, 17, 20, 41, 59),
        pulse_rate=60.0,
        user_id=1,
        status=0x0027,
    )
    m = bp.to_measurement()
    assert m.kind == "blood_pressure" and m.unit == "mm[Hg]"
    assert m.values == {"systolic": 138.0, "diastolic": 88.0, "mean": 120.0, "pulse_rate": 60.0}
    assert set(m.flags) == {
        "body_movement", "cuff_loose", "irregular_pulse", "improper_position",
        "timestamp_incomplete",
    }
    assert m.quality == "questionable"
    assert m.measured_at is None  # year unknown: no device time
    as_reading(m)


def test_bp_vector_kpa() -> None:
    bp = gatt.decode_blood_pressure(h("15 BD F0 0B 00 9F F0 3C 00 12 00"))
    assert (bp.unit, bp.systolic, bp.diastolic, bp.mean) == ("kPa", 18.9, 11.0, 15.9)
    assert bp.pulse_rate == 60.0 and bp.status == 0x0012 and bp.timestamp is None
    m = bp.to_measurement()
    assert m.unit == "kPa"
    assert m.flags == ("cuff_loose", "pulse_rate_below_range")
    assert as_reading(m).in_mmhg("systolic") == pytest.approx(141.76, abs=0.01)


def test_intermediate_cuff_pressure_vector() -> None:
    icp = gatt.decode_intermediate_cuff_pressure(h("00 D7 F0 00 00 00 00"))
    assert icp == IntermediateCuffPressure(cuff_pressure=21.5)
    m = icp.to_measurement()
    assert (m.kind, m.values, m.unit, m.quality) == (
        "cuff_pressure", {"cuff_pressure": 21.5}, "mm[Hg]", "valid"
    )
    as_reading(m)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("04 FF", HeartRateMeasurement(255, sensor_contact_supported=True)),
        (
            "1E 55 32 00 21 00",
            HeartRateMeasurement(85, True, True, energy_expended=50, rr_intervals=(33,)),
        ),
        (
            "1F 01 01 32 01 01 00 02 01 FF FF",
            HeartRateMeasurement(257, True, True, 306, (1, 258, 65535), uint16=True),
        ),
    ],
)
def test_heart_rate_vectors(data: str, expected: HeartRateMeasurement) -> None:
    hr = gatt.decode_heart_rate(h(data))
    assert hr == expected
    assert gatt.encode_heart_rate(hr) == h(data)
    as_reading(hr.to_measurement())


def test_heart_rate_measurement_values() -> None:
    m = gatt.decode_heart_rate(h("1F 01 01 32 01 01 00 02 01 FF FF")).to_measurement()
    assert m.values == {
        "heart_rate": 257.0,
        "energy_expended": 306.0,
        "rr_intervals": [1 / 1024, 258 / 1024, 65535 / 1024],
    }
    no_contact = gatt.decode_heart_rate(h("04 FF")).to_measurement()
    assert no_contact.flags == ("no_sensor_contact",) and no_contact.quality == "questionable"
    assert gatt.decode_heart_rate(h("1E 55 32 00 21 00")).to_measurement().values[
        "rr_intervals"
    ] == [33 / 1024]


@pytest.mark.parametrize(
    ("data", "spo2", "pr"),
    [("00 64 00 5A 00", 100.0, 90.0), ("00 E8 F3 84 F3", 100.0, 90.0)],
)
def test_plx_continuous_plain_vectors(data: str, spo2: float, pr: float) -> None:
    plx = gatt.decode_plx_continuous(h(data))
    assert plx == PlxContinuous(spo2, pr)
    m = plx.to_measurement()
    assert m.values == {"spo2": spo2, "pulse_rate": pr} and m.quality == "valid"
    as_reading(m)


def test_plx_continuous_with_status_and_pai() -> None:
    plx = gatt.decode_plx_continuous(h("1C 5F 00 5A 00 20 00 00 00 00 57 F0"))
    assert plx == PlxContinuous(
        95.0, 90.0, measurement_status=0x0020, device_status=0, pulse_amplitude_index=8.7
    )
    m = plx.to_measurement()
    assert m.values == {"spo2": 95.0, "pulse_rate": 90.0, "perfusion_index": 8.7}
    assert m.flags == ("measurement_ongoing",) and m.quality == "valid"


def test_plx_continuous_with_fast_and_slow() -> None:
    plx = gatt.decode_plx_continuous(
        h("1F DE F3 CA F3 CA F3 5A F5 D4 F3 B2 F2 20 01 00 00 00 7A E3")
    )
    assert plx == PlxContinuous(
        spo2=99.0,
        pulse_rate=97.0,
        spo2_fast=97.0,
        pulse_rate_fast=137.0,
        spo2_slow=98.0,
        pulse_rate_slow=69.0,
        measurement_status=0x0120,
        device_status=0,
        pulse_amplitude_index=8.9,
    )
    m = plx.to_measurement()
    assert m.values == {"spo2": 99.0, "pulse_rate": 97.0, "perfusion_index": 8.9}
    assert m.flags == ("measurement_ongoing", "fully_qualified_data")
    as_reading(m)


def test_plx_spot_check_vector() -> None:
    plx = gatt.decode_plx_spot_check(
        h("0F AC F3 BE F5 E8 07 0B 1D 17 08 39 20 40 22 00 00 66 E3")
    )
    assert plx == PlxSpotCheck(
        spo2=94.0,
        pulse_rate=147.0,
        timestamp=DateTime(2024, 11, 29, 23, 8, 57),
        measurement_status=0x4020,
        device_status=0x000022,
        pulse_amplitude_index=8.7,
    )
    m = plx.to_measurement()
    assert m.measured_at == datetime(2024, 11, 29, 23, 8, 57)
    assert set(m.flags) == {
        "measurement_ongoing", "questionable_measurement", "equipment_malfunction", "low_perfusion"
    }
    assert m.quality == "invalid"  # the oximeter reports an equipment malfunction
    as_reading(m)


def test_plx_features_vector() -> None:
    f = gatt.decode_plx_features(h("A3 00 40 10 80 01 00"))
    assert f == PlxFeatures(
        features=frozenset(
            {"measurement_status_support", "device_status_support", "spo2pr_slow",
             "multiple_bonds"}
        ),
        supported_measurement_status=frozenset({"early_estimated_data", "calibration_ongoing"}),
        supported_device_status=frozenset({"non_pulsatile_signal", "questionable_pulse"}),
    )
    d = f.as_dict()
    assert d["spo2pr_slow"] is True and d["spo2pr_fast"] is False
    assert isinstance(d["supported_measurement_status"], dict)
    assert d["supported_measurement_status"]["calibration_ongoing"] is True
    assert gatt.encode_plx_features(f) == h("A3 00 40 10 80 01 00")


# --- flags of our own, from the specs --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "flags", "quality"),
    [
        (0x0000, (), "valid"),
        (0x0001, ("body_movement",), "questionable"),
        (0x0002, ("cuff_loose",), "questionable"),
        (0x0004, ("irregular_pulse",), "valid"),
        (0x0008, ("pulse_rate_above_range",), "valid"),
        (0x0010, ("pulse_rate_below_range",), "valid"),
        (0x0018, ("pulse_rate_range_reserved",), "valid"),
        (0x0020, ("improper_position",), "questionable"),
        (0xFFC0, (), "valid"),  # reserved bits are ignored
    ],
)
def test_bp_status_bits(status: int, flags: tuple[str, ...], quality: str) -> None:
    frame = gatt.encode_blood_pressure(BloodPressureMeasurement(120, 80, 93, status=status))
    m = gatt.decode_blood_pressure(frame).to_measurement()
    assert m.flags == flags and m.quality == quality


def test_bp_specials_leave_the_field_out_with_a_flag() -> None:
    frame = gatt.encode_blood_pressure(
        BloodPressureMeasurement(120, 80, Special.NAN, pulse_rate=Special.NRES)
    )
    assert frame == h("04 78 00 50 00 FF 07 00 08")
    m = gatt.decode_blood_pressure(frame).to_measurement()
    assert m.values == {"systolic": 120.0, "diastolic": 80.0}
    assert m.flags == ("mean_nan", "pulse_rate_nres")
    as_reading(m)


def test_bp_all_specials_is_invalid() -> None:
    frame = gatt.encode_blood_pressure(
        BloodPressureMeasurement(
            Special.POSITIVE_INFINITY, Special.NEGATIVE_INFINITY, Special.RESERVED
        )
    )
    m = gatt.decode_blood_pressure(frame).to_measurement()
    assert m.values == {} and m.quality == "invalid"
    assert m.flags == ("systolic_pos_inf", "diastolic_neg_inf", "mean_reserved")
    as_reading(m)


def test_bp_with_full_time_stamp_and_user_unknown() -> None:
    bp = BloodPressureMeasurement(
        121, 79, 93, timestamp=DateTime(2026, 1, 5, 9, 30, 0), user_id=0xFF
    )
    frame = gatt.encode_blood_pressure(bp)
    assert frame[0] == 0x0A
    back = gatt.decode_blood_pressure(frame)
    assert back == bp
    assert back.to_measurement().measured_at == datetime(2026, 1, 5, 9, 30)


def test_reserved_flag_bits_are_ignored() -> None:
    bp = gatt.decode_blood_pressure(h("E0 78 00 50 00 5D 00"))
    assert (bp.systolic, bp.diastolic, bp.mean) == (120.0, 80.0, 93.0)
    hr = gatt.decode_heart_rate(h("E0 48"))
    assert hr.heart_rate == 72


def test_intermediate_cuff_pressure_sends_nan_for_unused_fields() -> None:
    frame = gatt.encode_intermediate_cuff_pressure(
        IntermediateCuffPressure(3.5, unit="kPa", pulse_rate=61, status=0x0001)
    )
    assert frame == h("15 23 F0 FF 07 FF 07 3D 00 01 00")
    m = gatt.decode_intermediate_cuff_pressure(frame).to_measurement()
    assert m.values == {"cuff_pressure": 3.5, "pulse_rate": 61.0} and m.unit == "kPa"
    assert m.flags == ("body_movement",) and m.quality == "questionable"


def test_bp_feature() -> None:
    f = gatt.decode_blood_pressure_feature(h("3F 01"))
    assert f == BloodPressureFeature(
        body_movement_detection=True,
        cuff_fit_detection=True,
        irregular_pulse_detection=True,
        pulse_rate_range_detection=True,
        measurement_position_detection=True,
        multiple_bonds=True,
        user_facing_time=True,
    )
    assert f.as_dict()["e2e_crc"] is False
    assert gatt.encode_blood_pressure_feature(f) == h("3F 01")


@pytest.mark.parametrize(
    ("measurement", "device", "flags", "quality"),
    [
        (0x0040, 0, ("early_estimated_data",), "questionable"),
        (0x0080, 0, ("validated_data",), "valid"),
        (0x0200, 0, ("data_from_storage",), "valid"),
        (0x0400, 0, ("demonstration_data",), "questionable"),
        (0x0800, 0, ("testing_data",), "questionable"),
        (0x1000, 0, ("calibration_ongoing",), "questionable"),
        (0x2000, 0, ("measurement_unavailable",), "invalid"),
        (0x4000, 0, ("questionable_measurement",), "questionable"),
        (0x8000, 0, ("invalid_measurement",), "invalid"),
        (0x001F, 0, (), "valid"),  # reserved bits
        (0, 0x000001, ("extended_display_update_ongoing",), "valid"),
        (0, 0x000004, ("signal_processing_irregularity",), "questionable"),
        (0, 0x000008, ("inadequate_signal",), "questionable"),
        (0, 0x000010, ("poor_signal",), "questionable"),
        (0, 0x000020, ("low_perfusion",), "questionable"),
        (0, 0x000040, ("erratic_signal",), "questionable"),
        (0, 0x000080, ("non_pulsatile_signal",), "questionable"),
        (0, 0x000100, ("questionable_pulse",), "questionable"),
        (0, 0x000200, ("signal_analysis_ongoing",), "valid"),
        (0, 0x000400, ("sensor_interference",), "questionable"),
        (0, 0x000800, ("sensor_off",), "invalid"),
        (0, 0x001000, ("unknown_sensor",), "questionable"),
        (0, 0x002000, ("sensor_displaced",), "questionable"),
        (0, 0x004000, ("sensor_malfunction",), "invalid"),
        (0, 0x008000, ("sensor_disconnected",), "invalid"),
        (0, 0xFF0000, (), "valid"),  # reserved bits
    ],
)
def test_plx_status_bits(measurement: int, device: int, flags: tuple[str, ...], quality: str) -> None:
    plx = PlxContinuous(97, 70, measurement_status=measurement, device_status=device)
    m = gatt.decode_plx_continuous(gatt.encode_plx_continuous(plx)).to_measurement()
    assert m.flags == flags and m.quality == quality
    as_reading(m)


def test_plx_spot_check_clock_not_set_gives_no_device_time() -> None:
    plx = PlxSpotCheck(97, 70, timestamp=DateTime(2000, 1, 1, 0, 0, 5), device_clock_not_set=True)
    frame = gatt.encode_plx_spot_check(plx)
    assert frame[0] == 0x11
    m = gatt.decode_plx_spot_check(frame).to_measurement()
    assert m.measured_at is None and "device_clock_not_set" in m.flags


def test_plx_spo2_nan_is_flagged_and_invalid_when_nothing_left() -> None:
    m = gatt.decode_plx_continuous(h("00 FF 07 FF 07")).to_measurement()
    assert m.values == {} and m.quality == "invalid"
    assert m.flags == ("spo2_nan", "pulse_rate_nan")
    as_reading(m)


def test_plx_encoder_wants_fast_values_in_pairs() -> None:
    with pytest.raises(ValueError):
        gatt.encode_plx_continuous(PlxContinuous(97, 70, spo2_fast=96))


# --- bad frames --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decoder", "data", "offset"),
    [
        (gatt.decode_blood_pressure, "", 0),
        (gatt.decode_blood_pressure, "00 78 00 50", 3),
        (gatt.decode_blood_pressure, "02 78 00 50 00 5D 00 E8 07", 7),  # time stamp cut
        (gatt.decode_blood_pressure, "04 78 00 50 00 5D 00 48", 7),  # pulse rate cut
        (gatt.decode_blood_pressure, "08 78 00 50 00 5D 00", 7),  # user ID missing
        (gatt.decode_blood_pressure, "10 78 00 50 00 5D 00 01", 7),  # status cut
        (gatt.decode_blood_pressure, "00 78 00 50 00 5D 00 00", 7),  # trailing byte
        (gatt.decode_intermediate_cuff_pressure, "00 D7 F0 00 00 00", 5),
        (gatt.decode_heart_rate, "00", 1),
        (gatt.decode_heart_rate, "01 48", 1),  # uint16 cut
        (gatt.decode_heart_rate, "08 48 01", 2),  # energy cut
        (gatt.decode_heart_rate, "10 48", 2),  # RR flag, no RR
        (gatt.decode_heart_rate, "10 48 00 04 01", 4),  # odd RR bytes
        (gatt.decode_heart_rate, "00 48 00", 2),  # trailing byte
        (gatt.decode_blood_pressure_feature, "3F", 0),
        (gatt.decode_blood_pressure_feature, "3F 00 00", 2),
        (gatt.decode_plx_spot_check, "00 61 00", 3),
        (gatt.decode_plx_spot_check, "02 61 00 48 00 20", 5),
        (gatt.decode_plx_spot_check, "04 61 00 48 00 00 00", 5),
        (gatt.decode_plx_spot_check, "00 61 00 48 00 00", 5),
        (gatt.decode_plx_continuous, "01 61 00 48 00 61 00", 7),
        (gatt.decode_plx_continuous, "10 61 00 48 00", 5),
        (gatt.decode_plx_continuous, "00 61 00 48 00 FF", 5),
        (gatt.decode_plx_features, "03 00 00 00 00 00", 4),
        (gatt.decode_plx_features, "00 00 00", 2),
    ],
)
def test_truncated_and_trailing_bytes(decoder: object, data: str, offset: int) -> None:
    with pytest.raises(FrameError) as e:
        decoder(h(data))  # type: ignore[operator]
    assert e.value.offset == offset


@pytest.mark.parametrize(
    ("decoder", "data", "offset", "field"),
    [
        (gatt.decode_plx_continuous, "00 8C 00 48 00", 1, "spo2"),  # SpO2 140 %
        (gatt.decode_plx_continuous, "00 FF 0F 48 00", 1, "spo2"),  # SpO2 -1 %
        (gatt.decode_plx_continuous, "00 61 00 00 02", 3, "pulse_rate"),  # PR 512
        (gatt.decode_plx_continuous, "10 61 00 48 00 65 00", 5, "perfusion_index"),  # PAI 101
        (gatt.decode_blood_pressure, "00 91 01 50 00 5D 00", 1, "systolic"),  # 401 mmHg
        (gatt.decode_blood_pressure, "01 36 00 50 00 5D 00", 1, "systolic"),  # 54 kPa
        (gatt.decode_blood_pressure, "00 78 00 FF 0F 5D 00", 3, "diastolic"),  # -1
        (gatt.decode_heart_rate, "01 00 02", 1, "heart_rate"),  # 512 /min
    ],
)
def test_out_of_range_values_are_frame_errors(
    decoder: object, data: str, offset: int, field: str
) -> None:
    with pytest.raises(FrameError) as e:
        decoder(h(data))  # type: ignore[operator]
    assert e.value.offset == offset and field in e.value.reason


def test_protocol_names_in_errors() -> None:
    for decoder, name in (
        (gatt.decode_blood_pressure, "ble-2a35"),
        (gatt.decode_intermediate_cuff_pressure, "ble-2a36"),
        (gatt.decode_heart_rate, "ble-2a37"),
        (gatt.decode_blood_pressure_feature, "ble-2a49"),
        (gatt.decode_plx_spot_check, "ble-2a5e"),
        (gatt.decode_plx_continuous, "ble-2a5f"),
        (gatt.decode_plx_features, "ble-2a60"),
    ):
        with pytest.raises(FrameError) as e:
            decoder(b"")
        assert e.value.protocol == name


# --- real feeds: fields a conforming device sends ---------------------------------------------


def test_intermediate_cuff_pressure_keeps_its_pulse_rate() -> None:
    """0x2A36 has the layout of 0x2A35, pulse rate included (Bluetooth SIG Blood Pressure
    Service 1.1, section 3.2; GATT Specification Supplement, "Intermediate Cuff Pressure": flags
    bit 2 "Pulse Rate present"). Built from that layout: flags 0x04, cuff 21.5 mmHg (``D7 F0``,
    as in Nordic's vector), the unused fields NaN, pulse rate 72 (``48 00``)."""
    icp = gatt.decode_intermediate_cuff_pressure(h("04 D7 F0 FF 07 FF 07 48 00"))
    assert icp.pulse_rate == 72.0
    m = icp.to_measurement()
    assert m.values == {"cuff_pressure": 21.5, "pulse_rate": 72.0}
    assert as_reading(m).number("pulse_rate") == 72.0
    assert gatt.encode_intermediate_cuff_pressure(icp) == h("04 D7 F0 FF 07 FF 07 48 00")


# PLX Spot-Check cases built byte by byte from the Pulse Oximeter Service 1.0 layout (section
# 3.1, flags b0 time stamp, b1 measurement status, b2 device and sensor status, b3 PAI, b4
# device clock not set). Beyond SpeziBluetooth's one vector above, no public capture of
# 0x2A5E was found.
@pytest.mark.parametrize(
    ("data", "values", "flags", "quality", "measured_at"),
    [
        # Flags 0: SpO2 97, PR 72 and nothing else.
        ("00 61 00 48 00", {"spo2": 97.0, "pulse_rate": 72.0}, (), "valid", None),
        # From measurement storage, validated (status 0x0280): a stored spot-check, with its
        # own time, 2026-01-05 09:12:30.
        ("03 60 00 4B 00 EA 07 01 05 09 0C 1E 80 02",
         {"spo2": 96.0, "pulse_rate": 75.0}, ("validated_data", "data_from_storage"), "valid",
         datetime(2026, 1, 5, 9, 12, 30)),
        # Measurement unavailable (status bit 13), SpO2 and PR sent as NaN.
        ("02 FF 07 FF 07 00 20", {}, ("spo2_nan", "pulse_rate_nan", "measurement_unavailable"),
         "invalid", None),
        # Sensor off the finger (device status bit 11) and PAI 0.4 % (04 F0).
        ("0C 62 00 50 00 00 08 00 04 F0",
         {"spo2": 98.0, "pulse_rate": 80.0, "perfusion_index": 0.4}, ("sensor_off",),
         "invalid", None),
        # Early estimate (status bit 6) with 0.1 % resolution: SpO2 95.5 (BB F3), PR 64.
        ("02 BB F3 40 00 40 00", {"spo2": 95.5, "pulse_rate": 64.0}, ("early_estimated_data",),
         "questionable", None),
    ],
)
def test_plx_spot_check_cases(data: str, values: dict[str, float], flags: tuple[str, ...],
                              quality: str, measured_at: datetime | None) -> None:
    plx = gatt.decode_plx_spot_check(h(data))
    m = plx.to_measurement()
    assert (m.values, m.flags, m.quality, m.measured_at) == (values, flags, quality, measured_at)
    assert gatt.encode_plx_spot_check(plx) == h(data)
    as_reading(m)


@pytest.mark.parametrize(
    ("data", "offset"),
    [("01 61 00 48 00 EA 07 01", 5), ("04 61 00 48 00 00 08", 5), ("00 61 00 48 00 00", 5)],
)
def test_plx_spot_check_cut_short_or_too_long(data: str, offset: int) -> None:
    with pytest.raises(FrameError) as e:
        gatt.decode_plx_spot_check(h(data))
    assert e.value.offset == offset and e.value.protocol == "ble-2a5e"
