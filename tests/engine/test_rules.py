"""Physiological alarm rules: every default rule at its limits, delays and reading quality."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.wire import MMHG_PER_KPA
from monitor.engine import Output
from monitor.engine.config import AlarmRule, Limit
from monitor.engine.readings import Sample
from monitor.engine.rules import RuleSet, RuleState, quiet
from tests.engine.helpers import T0, Clinic, events


def dosed(protocol: str = "spravato") -> Clinic:
    """A session just after its first dose, with a pre-dose baseline of 120/80."""
    c = Clinic()
    c.start(protocol=protocol)
    c.bp(120, 80)
    c.now += timedelta(minutes=1)
    c.dose()
    c.now += timedelta(minutes=1)
    return c


# --- blood pressure ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("sys", "dia", "conditions"),
    [
        # baseline 120/80
        (159, 99, set()),
        (159, 104, {"bp_high"}),
        (150, 90, set()),
        (160, 90, {"bp_high", "bp_rise"}),
        (150, 105, {"bp_high", "bp_rise"}),
    ],
)
def test_bp_conditions_after_dose(sys: int, dia: int, conditions: set[str]) -> None:
    c = dosed()
    c.bp(sys, dia)
    assert c.conditions() & {"bp_high", "bp_rise"} == conditions


@pytest.mark.parametrize(
    ("sys", "dia", "raised", "message"),
    [
        (159, 80, False, None),
        (160, 80, True, "SYS rise +40 >= 40 mmHg from baseline 120"),
        (140, 104, False, None),
        (140, 105, True, "DIA rise +25 >= 25 mmHg from baseline 80"),
    ],
)
def test_bp_rise_from_baseline(sys: int, dia: int, raised: bool, message: str | None) -> None:
    c = dosed()
    out = c.bp(sys, dia)
    found = events(out, "bp_rise", "raised")
    assert bool(found) is raised
    if found:
        assert found[0].message == message
        assert found[0].priority == "medium"


def test_bp_rise_needs_a_baseline_and_a_dose() -> None:
    c = Clinic()
    c.start()
    c.bp(120, 80)
    c.bp(165, 85)          # before the dose: no rise rule
    assert "bp_rise" not in c.conditions()
    c2 = Clinic()
    c2.start()
    c2.dose()              # no pre-dose BP: no baseline
    c2.bp(150, 95)
    assert "bp_rise" not in c2.conditions()


@pytest.mark.parametrize(
    ("sys", "dia", "raised"),
    [(140, 90, False), (141, 80, True), (130, 91, True)],
)
def test_pre_dose_baseline_advisory(sys: int, dia: int, raised: bool) -> None:
    c = Clinic()
    c.start()
    out = c.bp(sys, dia)
    found = events(out, "bp_baseline_elevated", "raised")
    assert bool(found) is raised
    if raised:
        assert found[0].priority == "low"
        assert found[0].message.startswith("pre-dose ")
        # an advisory, never a block: the dose is accepted and the advisory ends
        out = c.dose()
        assert events(out, "bp_baseline_elevated", "cleared")


def test_bp_tiers_escalate_one_alarm() -> None:
    c = dosed()
    c.bp(165, 85)
    first = c.alarm("bp_high")
    assert first.priority == "medium"
    out = c.bp(185, 90)
    (escalated,) = events(out, "bp_high", "escalated")
    assert escalated.alarm_id == first.alarm_id
    assert escalated.priority == "high"
    assert escalated.message == "SYS 185 >= 180 mmHg"
    # falling back to the medium tier keeps the high priority of the same alarm
    c.bp(170, 85)
    assert c.alarm("bp_high").priority == "high"
    assert c.alarm("bp_high").alarm_id == first.alarm_id


def test_kpa_is_converted_before_rules() -> None:
    c = dosed()
    kpa = 180 / MMHG_PER_KPA + 0.001
    out = c.bp(kpa, 10.0, unit="kPa")
    (raised,) = events(out, "bp_high", "raised")
    assert raised.priority == "high"
    assert raised.message == "SYS 180 >= 180 mmHg"
    c2 = dosed()
    c2.bp(179.4 / MMHG_PER_KPA, 10.0, unit="kPa")
    assert c2.alarm("bp_high").priority == "medium"


def test_manual_bp_drives_rules() -> None:
    c = dosed()
    out = c.manual_bp(182, 95)
    (raised,) = events(out, "bp_high", "raised")
    assert raised.reading_id is not None
    assert c.state().latest["blood_pressure"].device == "manual"


# --- SpO2 ---------------------------------------------------------------------------------

def _spo2_for(c: Clinic, value: float, seconds: int) -> list[Output]:
    out: list[Output] = []
    for _ in range(seconds):
        c.now += timedelta(seconds=1)
        out += c.spo2(value)
        out += c.tick()
    return out


@pytest.mark.parametrize(
    ("value", "seconds", "priority"),
    [
        (92, 60, None),
        (91, 14, None),
        (91, 15, "medium"),
        (88, 15, "medium"),
        (87, 9, None),
        (87, 10, "high"),
    ],
)
def test_spo2_low_delays(value: float, seconds: int, priority: str | None) -> None:
    c = dosed()
    c.spo2(value)
    _spo2_for(c, value, seconds)
    alarm = c.alarm("spo2_low")
    if priority is None:
        assert alarm is None
    else:
        assert alarm.priority == priority
        assert alarm.message.startswith(f"SpO2 {value:g} < ")


def test_spo2_brief_dip_does_not_alarm() -> None:
    c = dosed()
    c.spo2(90)
    _spo2_for(c, 90, 10)
    _spo2_for(c, 96, 1)
    _spo2_for(c, 90, 10)
    assert c.alarm("spo2_low") is None


def test_spo2_medium_escalates_to_high() -> None:
    c = dosed()
    c.spo2(90)
    _spo2_for(c, 90, 15)
    first = c.alarm("spo2_low")
    assert first.priority == "medium"
    out = _spo2_for(c, 86, 11)
    (escalated,) = events(out, "spo2_low", "escalated")
    assert escalated.alarm_id == first.alarm_id
    assert escalated.priority == "high"
    assert escalated.message == "SpO2 86 < 88 %"


def test_spo2_recovery_clears_medium_but_high_latches() -> None:
    c = dosed()
    c.spo2(90)
    _spo2_for(c, 90, 15)
    out = _spo2_for(c, 97, 1)
    assert events(out, "spo2_low", "cleared")
    c.spo2(85)
    _spo2_for(c, 85, 10)
    out = _spo2_for(c, 97, 1)
    assert not events(out, "spo2_low", "cleared")
    alarm = c.alarm("spo2_low")
    assert alarm.active is False
    assert alarm.latching is True


def test_stale_stream_value_stops_holding() -> None:
    c = dosed()
    c.spo2(90)
    c.advance(seconds=40)   # silence: the last value is older than the 30 s no-data limit
    assert c.alarm("spo2_low") is None
    assert "no_data" in c.conditions() or "spo2_missing" in c.conditions()


# --- heart rate ---------------------------------------------------------------------------

def _hr_for(c: Clinic, value: float, seconds: int, every: int = 5) -> None:
    for _ in range(seconds // every):
        c.now += timedelta(seconds=every)
        c.hr(value)
        c.tick()


@pytest.mark.parametrize(
    ("value", "seconds", "condition", "priority"),
    [
        (120, 400, "hr_high", None),
        (121, 295, "hr_high", None),
        (121, 300, "hr_high", "medium"),
        (140, 300, "hr_high", "medium"),
        (141, 10, "hr_high", "high"),
        (141, 5, "hr_high", None),
        (50, 400, "hr_low", None),
        (49, 300, "hr_low", "medium"),
        (39, 10, "hr_low", "high"),
        (40, 10, "hr_low", None),
    ],
)
def test_heart_rate(value: float, seconds: int, condition: str, priority: str | None) -> None:
    c = dosed()
    c.hr(value)
    _hr_for(c, value, seconds)
    alarm = c.alarm(condition)
    if priority is None:
        assert alarm is None
    else:
        assert alarm.priority == priority
        assert alarm.message.startswith(f"HR {value:g} ")


def test_oximeter_pulse_counts_as_heart_rate() -> None:
    c = dosed()
    for _ in range(12):
        c.now += timedelta(seconds=1)
        c.send(c.reading("spo2", {"spo2": 97, "pulse_rate": 150}))
        c.tick()
    assert c.alarm("hr_high").priority == "high"


# --- reading quality and time ------------------------------------------------------------

def test_invalid_readings_never_alarm() -> None:
    c = dosed()
    for _ in range(5):
        c.bp(250, 150, quality="invalid")
    for _ in range(30):
        c.now += timedelta(seconds=1)
        c.spo2(70, quality="invalid")
        c.tick()
    assert c.conditions() & {"bp_high", "spo2_low"} == set()
    # but it is shown, with its quality
    assert c.state().latest["spo2"].quality == "invalid"


def test_questionable_bp_needs_a_second_reading() -> None:
    c = dosed()
    out = c.bp(190, 95, quality="questionable")
    assert events(out, "bp_high") == []
    assert c.state().latest["blood_pressure"].quality == "questionable"
    c.advance(seconds=30)
    out = c.bp(188, 96, quality="questionable")
    (raised,) = events(out, "bp_high", "raised")
    assert raised.message == "SYS 188 >= 180 mmHg"


def test_questionable_then_normal_does_not_alarm() -> None:
    c = dosed()
    c.bp(190, 95, quality="questionable")
    c.bp(130, 80)
    c.bp(131, 80)
    assert "bp_high" not in c.conditions()


def test_questionable_spo2_alarms_after_its_delay() -> None:
    c = dosed()
    c.spo2(85, quality="questionable")
    for _ in range(10):
        c.now += timedelta(seconds=1)
        c.spo2(85, quality="questionable")
        c.tick()
    assert c.alarm("spo2_low").priority == "high"


def test_device_clock_far_off_is_flagged_and_judged_by_receive_time() -> None:
    c = dosed()
    c.bp(130, 80, measured_at=c.now - timedelta(hours=3))
    latest = c.state().latest["blood_pressure"]
    assert "clock_skew" in latest.flags
    assert latest.age_s == 0
    # the reading counts for checks at its receive time
    session = c.state().session
    assert session is not None


def test_device_clock_slightly_off_is_trusted() -> None:
    c = dosed()
    c.now += timedelta(seconds=20)
    c.bp(130, 80, measured_at=c.now - timedelta(seconds=10))
    latest = c.state().latest["blood_pressure"]
    assert "clock_skew" not in latest.flags
    assert latest.age_s == 10


def test_older_reading_arriving_late_does_not_replace_latest() -> None:
    c = dosed()
    c.now += timedelta(seconds=30)
    c.spo2(97)
    c.spo2(80, measured_at=c.now - timedelta(seconds=20))
    assert c.state().latest["spo2"].values == {"spo2": 97}


def test_spooled_burst_is_judged_by_device_time() -> None:
    """Fifteen seconds of low SpO2 delivered at once after a gateway reconnect."""
    c = dosed()
    c.now += timedelta(seconds=40)
    start = c.now - timedelta(seconds=20)
    out = []
    for s in range(16):
        out += c.spo2(90, measured_at=start + timedelta(seconds=s))
    (raised,) = events(out, "spo2_low", "raised")
    assert raised.priority == "medium"


def test_no_physiological_alarms_without_a_session() -> None:
    c = Clinic()
    c.bp(200, 120)
    for _ in range(20):
        c.now += timedelta(seconds=1)
        c.spo2(80)
        c.tick()
    assert c.state().alarms == []


def test_bp_of_previous_patient_does_not_alarm_for_the_next() -> None:
    c = Clinic()
    c.bp(185, 100)
    c.now += timedelta(minutes=5)
    c.start()
    assert "bp_high" not in c.conditions()


def test_rule_limited_to_a_protocol() -> None:
    from monitor.engine import AlarmRule, EngineConfig, Limit

    base = EngineConfig()
    rule = AlarmRule(name="iv_bp_very_high", condition="bp_very_high", priority="high",
                     protocols=["iv_ketamine"],
                     any_of=[Limit(parameter="systolic", op=">", value=200)])
    config = base.model_copy(update={"rules": [*base.rules, rule]})
    for protocol, expected in (("iv_ketamine", True), ("spravato", False)):
        c = Clinic(config)
        c.start(protocol=protocol)
        c.bp(120, 80)
        c.dose()
        c.bp(205, 100)
        assert ("bp_very_high" in c.conditions()) is expected


# --- the glance that skips judging a quiet reading ------------------------------------------

_limits = st.lists(
    st.builds(Limit, parameter=st.sampled_from(["heart_rate", "spo2"]),
              op=st.sampled_from([">=", ">", "<=", "<"]),
              value=st.integers(30, 160).map(float)),
    min_size=1, max_size=6)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_limits, st.integers(25, 165).map(float), st.sampled_from(["heart_rate", "spo2"]))
def test_the_glance_sees_a_breach_exactly_where_a_limit_holds(
    limits: list[Limit], value: float, parameter: str,
) -> None:
    rule = AlarmRule(name="r", condition="c", priority="medium", any_of=limits)
    ruleset = RuleSet.of([rule])
    params = {parameter: Sample(value, T0, "id", True)}
    holds = any(limit.holds(value) for limit in limits if limit.parameter == parameter)
    assert quiet(ruleset, {}, params, set()) is not holds


def test_the_glance_judges_a_rule_timing_a_breach_or_a_condition_with_an_alarm() -> None:
    rule = AlarmRule(name="r", condition="c", priority="medium",
                     any_of=[Limit(parameter="spo2", op="<", value=92)])
    ruleset = RuleSet.of([rule])
    params = {"spo2": Sample(97.0, T0, "id", True)}
    assert quiet(ruleset, {}, params, set())
    assert not quiet(ruleset, {"r": RuleState(since=T0)}, params, set())
    assert quiet(ruleset, {"r": RuleState()}, params, set())
    assert not quiet(ruleset, {}, params, {("c", "")})
    rise = AlarmRule(name="r", condition="c", priority="medium",
                     any_of=[Limit(parameter="systolic_rise", op=">=", value=40)])
    assert not quiet(RuleSet.of([rise]), {}, {}, set())
