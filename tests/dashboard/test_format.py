"""The pure parts of the dashboard: how values, times and checks read, and the bounded trends."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import pytest

from drivers.wire import BpCheck, LatestValue
from monitor.dashboard.format import (
    alarm_line,
    check_status,
    check_window,
    fmt_age,
    fmt_countdown,
    fmt_minutes,
    urgency,
)
from monitor.dashboard.history import ChairHistory, Span, block_rows, columns, scale
from monitor.localtime import clock_time, localize_times, site_zone, zone_label
from tests.dashboard.states import DOSE, T0, alarm, chair_state, m

CET = timezone(timedelta(hours=1))


def test_clock_times_are_local() -> None:
    assert clock_time(T0, UTC) == "09:00"
    assert clock_time(T0, CET, seconds=True) == "10:00:00"


@pytest.mark.parametrize(("text", "shown"), [
    ("ends at 2026-01-05T11:10:00.000Z", "ends at 12:10:00"),
    ("ends at 2026-01-05T11:10:00Z", "ends at 12:10:00"),
    ("window closed at 09:03:00Z (x)", "window closed at 10:03:00 (x)"),
    ("from 09:38Z to 23:59Z", "from 10:38 to 00:59"),
    ("no time here: 12:00 local", "no time here: 12:00 local"),
])
def test_times_inside_texts_are_shown_as_local_clock_times(text: str, shown: str) -> None:
    assert localize_times(text, CET, T0) == shown


def test_a_time_of_day_takes_the_nearest_day() -> None:
    late = T0.replace(hour=23, minute=50)
    assert localize_times("at 00:05:00Z", UTC, late) == "at 00:05:00"
    assert localize_times("at 00:05:00Z", CET, late) == "at 01:05:00"


@pytest.mark.parametrize(("seconds", "shown"), [(0, "00:00"), (65, "01:05"),
                                                (3599, "59:59"), (3725, "1:02:05")])
def test_countdowns(seconds: float, shown: str) -> None:
    assert fmt_countdown(seconds) == shown


@pytest.mark.parametrize(("seconds", "up", "shown"), [
    (0, False, "0m"), (59.9, False, "0m"), (60, False, "1m"), (4799, False, "1h19m"),
    (0.5, True, "1m"), (60, True, "1m"), (60.2, True, "2m"), (4795, True, "1h20m"),
    (7200, True, "2h00m"),
])
def test_the_overview_counts_minutes_and_the_time_left_never_short(
        seconds: float, up: bool, shown: str) -> None:
    assert fmt_minutes(seconds, up=up) == shown


@pytest.mark.parametrize(("seconds", "coarse", "shown"), [
    (4, False, "4s"), (4.9, True, "<5s"), (5, True, "5s"), (14.9, True, "10s"),
    (59.9, True, "55s"), (60, True, "1m"), (3600, True, "1h"),
])
def test_ages_on_the_overview_are_at_least_as_old_as_shown(
        seconds: float, coarse: bool, shown: str) -> None:
    assert fmt_age(seconds, coarse=coarse) == shown


def test_check_status_reads_done_due_in_due_and_overdue() -> None:
    now = m(50)
    done = BpCheck(name="pre_dose", window_start=T0, window_end=DOSE, status="done",
                   done_at=m(4), systolic=128, diastolic=82)
    pending = BpCheck(name="pre_discharge", window_start=m(110), status="pending")
    due = BpCheck(name="40_min", window_start=m(45), window_end=m(60), status="due")
    missed = BpCheck(name="40_min", window_start=m(45), window_end=m(49), status="missed")
    unknown = BpCheck(name="40_min", status="pending")
    assert check_status(done, now, UTC) == ("done 09:04 128/82", "green")
    assert check_status(pending, now, UTC)[0] == "due in 1:00:00"
    assert check_status(due, now, UTC)[0] == "DUE, closes in 10:00"
    assert check_status(missed, now, UTC) == ("OVERDUE since 09:49", "bold red")
    assert check_status(unknown, now, UTC)[0] == "not yet scheduled"
    assert check_window(due, UTC) == "09:45-10:00"
    assert check_window(pending, UTC) == "from 10:50"
    assert check_window(unknown, UTC) == "--"


def test_alarm_lines_carry_their_marker_and_technical_alarms_say_inop() -> None:
    state = chair_state("chair-1", "observation")
    assert alarm_line(alarm("chair-1", "high"), state, m(55), UTC) == "*** SYS 186 >= 180 mmHg"
    assert alarm_line(alarm("chair-1", "medium"), state, m(55), UTC).startswith("** SpO2")
    assert alarm_line(alarm("chair-1", "low"), state, m(55), UTC).startswith("* SYS 146")
    tech = alarm_line(alarm("chair-1", "medium", "technical", at=m(52)), state, m(55), UTC)
    assert tech == "** INOP SpO2 from oximeter: no data since 09:51:29 > 30 s"
    acked = alarm("chair-1", "high", acknowledged=True)
    assert alarm_line(acked, state, m(55), UTC).endswith("(ack)")


def test_a_bp_check_reminder_is_told_from_the_check_not_the_message() -> None:
    state = chair_state("chair-1", "observation")
    reminder = alarm("chair-1", "low", "technical").model_copy(update={
        "condition": "bp_check_due", "subject": "40_min",
        "message": "BP check 40_min due until 2026-01-05T10:00:00.000Z"})
    assert alarm_line(reminder, state, m(55), UTC) == "* INOP BP check 40_min: DUE, closes in 05:00"


def test_urgency_ranks_priority_then_unacknowledged() -> None:
    high = chair_state("c", "observation", alarms=[alarm("c", "high")])
    acked = chair_state("c", "observation", alarms=[alarm("c", "high", acknowledged=True)])
    low = chair_state("c", "observation", alarms=[alarm("c", "low")])
    assert urgency(high) > urgency(acked) > urgency(low) > urgency(None)


# --- trends --------------------------------------------------------------------------


def test_history_takes_each_reading_once_and_marks_the_doses() -> None:
    history = ChairHistory()
    state = chair_state("chair-1", "observation")
    assert history.add(state)
    assert not history.add(state)  # a heartbeat repeats the same readings
    assert [v for _, v in history.series["systolic"]] == [132.0]
    assert len(history.series["heart_rate"]) == 1
    assert history.doses == [DOSE, m(20)]


def test_history_starts_afresh_with_a_new_session() -> None:
    history = ChairHistory()
    history.add(chair_state("chair-1", "observation"))
    new = chair_state("chair-1", "pre_dose", m(150))
    assert new.session is not None
    new = new.model_copy(update={"session": new.session.model_copy(
        update={"patient_code": "P-0043", "started_at": m(140)})})
    history.add(new)
    assert history.doses == []
    assert all(at >= m(140) for at, _ in history.series["systolic"])


def test_history_is_bounded_and_thins_fast_streams() -> None:
    history = ChairHistory(maxlen=50, resolution_s=5.0)
    for second in range(0, 600):
        at = T0 + timedelta(seconds=second)
        state = chair_state("chair-1", "observation", at, stream_age_s=0)
        history.add(state)
    hr = history.series["heart_rate"]
    assert len(hr) == 50  # 120 buckets of 5 s, bounded to the newest 50
    assert hr[-1][0] == T0 + timedelta(seconds=599)


def test_invalid_readings_stay_out_of_the_trends() -> None:
    history = ChairHistory()
    state = chair_state("chair-1", "observation")
    bad: LatestValue = state.latest["spo2"].model_copy(
        update={"quality": "invalid", "reading_id": "bad"})
    history.add(state.model_copy(update={"latest": {"spo2": bad}}))
    assert not history.series["spo2"]


def test_plot_columns_take_the_worst_value_and_scale_has_a_floor_and_a_ceiling() -> None:
    span = Span(T0, T0 + timedelta(minutes=10))
    points = [(T0 + timedelta(minutes=1), 96.0), (T0 + timedelta(minutes=1, seconds=20), 88.0),
              (T0 + timedelta(minutes=9), 99.0)]
    cols = columns(points, span, 10, "min")
    assert cols[1] == 88.0 and cols[9] == 99.0 and cols[0] is None
    low, high = scale([99.0, 100.0], 6, ceiling=100)
    assert high == 100 and high - low == pytest.approx(6)
    rows = block_rows([None, 0.0, 50.0, 100.0], 0, 100, 2)
    assert rows == ["   █", " ▁██"]  # blank for no value, a sliver for the lowest
    assert span.column(T0 - timedelta(seconds=1), 10) is None
    assert Span.of(None, T0).end == T0


def test_site_zone_by_name_or_the_machines_own() -> None:
    assert site_zone("") is None
    assert str(site_zone("Europe/Berlin")) == "Europe/Berlin"
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        site_zone("Mars/Olympus")


@pytest.mark.parametrize(
    ("zone", "month", "label"),
    [
        ("UTC", 1, "UTC"),
        ("Europe/Berlin", 1, "Europe/Berlin (UTC+01:00)"),
        ("Europe/Berlin", 7, "Europe/Berlin (UTC+02:00)"),
        ("Asia/Kolkata", 1, "Asia/Kolkata (UTC+05:30)"),
        ("America/St_Johns", 1, "America/St_Johns (UTC-03:30)"),
    ],
)
def test_zone_labels_name_the_zone_and_its_offset_then(zone: str, month: int, label: str) -> None:
    assert zone_label(site_zone(zone), T0.replace(month=month)) == label
    assert zone_label(UTC, T0) == "UTC"
    assert zone_label(CET, T0) == "UTC+01:00"
