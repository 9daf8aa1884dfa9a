"""Required BP checks: windows, what satisfies them, reminders and missed checks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drivers.wire import BpCheck
from tests.engine.helpers import Clinic, events


def check(c: Clinic, name: str) -> BpCheck:
    (found,) = [b for b in c.state().bp_checks if b.name == name]
    return found


def spravato() -> Clinic:
    c = Clinic()
    c.start()
    c.bp(120, 80)
    c.dose()
    return c


def test_spravato_checks_and_windows() -> None:
    c = spravato()
    checks = {b.name: b for b in c.state().bp_checks}
    assert list(checks) == ["pre_dose", "40_min", "pre_discharge"]
    assert checks["pre_dose"].status == "done"
    assert checks["pre_dose"].systolic == 120
    assert (checks["40_min"].window_start, checks["40_min"].window_end) == (c.at(35), c.at(50))
    assert checks["40_min"].status == "pending"
    assert checks["pre_discharge"].window_start == c.at(100)
    assert checks["pre_discharge"].window_end is None
    assert all(b.required for b in checks.values())


def test_pre_dose_check_is_due_at_start() -> None:
    c = Clinic()
    out = c.start()
    (raised,) = events(out, "bp_check_due", "raised")
    assert raised.priority == "low"
    assert raised.message == "BP check pre_dose due before dosing"
    assert check(c, "pre_dose").status == "due"
    out = c.bp(120, 80)
    assert events(out, "bp_check_due", "cleared")
    assert check(c, "pre_dose").status == "done"


def test_dose_without_pre_dose_bp_misses_it() -> None:
    c = Clinic()
    c.start()
    out = c.dose()
    (escalated,) = events(out, "bp_check_due", "escalated")
    assert escalated.priority == "medium"
    assert "BP check pre_dose missed" in escalated.message
    assert check(c, "pre_dose").status == "missed"
    # a BP after the dose is not a pre-dose BP
    c.advance(seconds=10)
    c.bp(120, 80)
    assert check(c, "pre_dose").status == "missed"


@pytest.mark.parametrize(
    ("at_min", "at_s", "status"),
    [(34, 59, "pending"), (35, 0, "done"), (40, 0, "done"), (50, 0, "done"), (50, 1, "missed")],
)
def test_40_minute_window_boundaries(at_min: int, at_s: int, status: str) -> None:
    c = spravato()
    c.goto(minutes=at_min, seconds=at_s, step_s=30)
    c.bp(130, 80)
    got = check(c, "40_min")
    assert got.status == status
    if status == "done":
        assert got.done_at == c.at(at_min, at_s)
        assert got.reading_id is not None


def test_reminder_when_window_opens_then_escalated_when_missed() -> None:
    c = spravato()
    out = c.goto(minutes=34, seconds=59, step_s=1)
    assert [e for e in events(out, "bp_check_due") if "40_min" in e.message] == []
    out = c.goto(minutes=35)
    (raised,) = events(out, "bp_check_due", "raised")
    assert raised.message == "BP check 40_min due until 09:50:00Z"
    assert check(c, "40_min").status == "due"
    out = c.goto(minutes=50, step_s=1)
    assert events(out, "bp_check_due", "escalated") == []
    out = c.goto(minutes=50, seconds=1)
    (escalated,) = events(out, "bp_check_due", "escalated")
    assert escalated.alarm_id == raised.alarm_id
    assert escalated.priority == "medium"
    assert escalated.message == (
        "BP check 40_min missed: window closed at 09:50:00Z"
    )
    alarm = c.alarm("bp_check_due")
    assert alarm.active is False and alarm.latching
    # it is signalled once (then escalated if nobody acknowledges it), and stays until
    # acknowledged
    later = events(c.advance(minutes=5, step_s=10), "bp_check_due")
    assert [e.id for e in later] == [f"{raised.alarm_id}:escalated-unacknowledged-medium"]
    out = c.ack(alarm.alarm_id)
    assert [e.event for e in events(out, "bp_check_due")] == ["acknowledged", "cleared"]
    assert check(c, "40_min").status == "missed"
    assert any("40_min missed" in u.reason for u in c.state().discharge.unmet)


@pytest.mark.parametrize(
    ("how", "done"),
    [("valid", True), ("questionable", True), ("invalid", False), ("manual", True)],
)
def test_what_satisfies_a_check(how: str, done: bool) -> None:
    c = spravato()
    c.goto(minutes=40, step_s=30)
    if how == "manual":
        c.manual_bp(130, 80)
    else:
        c.bp(130, 80, quality=how)
    assert (check(c, "40_min").status == "done") is done


def test_device_clock_off_counts_at_receive_time() -> None:
    c = spravato()
    c.goto(minutes=40, step_s=30)
    c.bp(130, 80, measured_at=c.now - timedelta(hours=2))
    assert check(c, "40_min").status == "done"
    assert check(c, "40_min").done_at == c.at(40)


def test_pre_discharge_check_opens_20_minutes_before_the_end() -> None:
    c = spravato()
    c.goto(minutes=99, step_s=30)
    assert check(c, "pre_discharge").status == "pending"
    out = c.goto(minutes=100, step_s=30)
    (raised,) = [e for e in events(out, "bp_check_due", "raised") if "pre_discharge" in e.message]
    assert raised.message == "BP check pre_discharge due before discharge"
    c.goto(minutes=130, step_s=60)
    assert check(c, "pre_discharge").status == "due"   # never missed: open until discharge
    c.bp(125, 80)
    assert check(c, "pre_discharge").status == "done"


def test_iv_schedule_during_and_after_the_infusion() -> None:
    c = Clinic()
    c.start(protocol="iv_ketamine")
    c.bp(120, 80)
    c.dose()
    names = [b.name for b in c.state().bp_checks]
    assert names == ["pre_dose", "infusion+10m", "infusion+20m", "infusion+30m",
                     "infusion+40m", "pre_discharge"]
    c.goto(minutes=10, step_s=30)
    assert check(c, "infusion+10m").status == "due"
    c.bp(125, 82)
    assert check(c, "infusion+10m").status == "done"
    assert not check(c, "infusion+10m").required
    c.goto(minutes=40, step_s=30)
    c.infusion_end()
    names = [b.name for b in c.state().bp_checks]
    assert names == ["pre_dose", "infusion+10m", "infusion+20m", "infusion+30m",
                     "infusion+40m", "recovery+15m", "recovery+30m", "recovery+45m",
                     "recovery+60m", "pre_discharge"]
    recovery = check(c, "recovery+15m")
    assert (recovery.window_start, recovery.window_end) == (c.at(53), c.at(60))
    assert check(c, "infusion+20m").status == "missed"
    assert check(c, "pre_discharge").window_start == c.at(80)
    # optional checks, even missed, do not block discharge
    blocking = [u.reason for u in c.state().discharge.unmet if u.condition == "bp_check"]
    assert blocking == ["BP check pre_discharge pending from 10:20:00Z"]


def test_iv_overrunning_infusion_keeps_scheduling_checks() -> None:
    c = Clinic()
    c.start(protocol="iv_ketamine")
    c.bp(120, 80)
    c.dose()
    c.goto(minutes=55, step_s=60)
    names = [b.name for b in c.state().bp_checks]
    assert "infusion+50m" in names
    assert "infusion+60m" not in names


def test_im_schedule() -> None:
    c = Clinic()
    c.start(protocol="im_ketamine")
    c.bp(120, 80)
    c.dose()
    names = [b.name for b in c.state().bp_checks]
    assert names == ["pre_dose", *[f"post_dose+{m}m" for m in range(15, 121, 15)],
                     "pre_discharge"]


def test_checks_freeze_when_the_session_closes() -> None:
    c = spravato()
    c.end()
    c.goto(minutes=60, step_s=60)
    assert check(c, "40_min").status == "pending"
    assert c.state().alarms == []


def test_reminder_of_a_check_that_vanishes_is_cleared() -> None:
    """An infusion ending just before a check's time takes the check, and its reminder."""
    c = Clinic()
    c.start(protocol="iv_ketamine")
    c.bp(120, 80)
    c.dose()
    c.goto(minutes=10, step_s=30)
    c.bp(121, 80)
    c.goto(minutes=18, seconds=30, step_s=30)
    assert any("infusion+20m" in a.message for a in c.state().alarms)
    out = c.infusion_end()
    assert any("infusion+20m" in e.message for e in events(out, "bp_check_due", "cleared"))
    assert "infusion+20m" not in [b.name for b in c.state().bp_checks]


@pytest.mark.parametrize("medicine", ["psychostimulant", "maoi"])
def test_a_psychostimulant_or_maoi_brings_a_bp_check_every_15_minutes(medicine: str) -> None:
    """The label: monitor BP more closely with psychostimulants or MAOIs. Reminders, not a
    block on discharge."""
    c = Clinic()
    c.start(concomitant=[medicine])
    c.bp(120, 80)
    c.dose()
    names = [b.name for b in c.state().bp_checks]
    assert names == ["pre_dose", "40_min", *[f"closer+{m}m" for m in range(15, 121, 15)],
                     "pre_discharge"]
    first = check(c, "closer+15m")
    assert (first.window_start, first.window_end) == (c.at(13), c.at(20))
    assert not first.required
    out = c.goto(minutes=13, step_s=30)
    assert any("closer+15m due" in e.message for e in events(out, "bp_check_due", "raised"))
    c.bp(130, 84)
    assert check(c, "closer+15m").status == "done"


def test_without_such_a_medicine_the_spravato_checks_are_the_three() -> None:
    c = Clinic()
    c.start(concomitant=["benzodiazepine"])
    c.bp(120, 80)
    c.dose()
    assert [b.name for b in c.state().bp_checks] == ["pre_dose", "40_min", "pre_discharge"]
