"""Alarm life cycle (IEC 60601-1-8): raise, escalate, acknowledge, latch, clear, audio pause;
and the technical alarms."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.engine.helpers import Clinic, events, result, states


def dosed() -> Clinic:
    c = Clinic()
    c.start(protocol="im_ketamine")
    c.bp(120, 80)
    c.now += timedelta(minutes=1)
    c.spo2(97)
    c.dose()
    c.now += timedelta(minutes=1)
    return c


def test_alarm_ids_are_deterministic_and_events_unique() -> None:
    c = dosed()
    out = c.bp(185, 95)
    (raised,) = events(out, "bp_high", "raised")
    assert raised.alarm_id.startswith("chair-1:bp_high:")
    assert raised.id == f"{raised.alarm_id}:raised"
    out = c.ack(raised.alarm_id)
    out += c.bp(120, 80)
    ids = [e.id for e in events(c.outputs)]
    assert len(ids) == len(set(ids))


def test_non_latching_alarm_clears_with_its_condition() -> None:
    c = dosed()
    c.bp(165, 85)
    out = c.bp(130, 80)
    (cleared,) = events(out, "bp_high", "cleared")
    assert cleared.message.startswith("cleared: SYS 165")
    assert c.alarm("bp_high") is None


def test_latching_alarm_stays_until_acknowledged() -> None:
    c = dosed()
    c.bp(185, 95)
    out = c.bp(130, 80)
    assert events(out, "bp_high") == []
    alarm = c.alarm("bp_high")
    assert alarm.active is False
    assert alarm.acknowledged is False
    out = c.ack(alarm.alarm_id, by="nurse:ann")
    assert result(out).accepted
    ack, cleared = events(out, "bp_high")
    assert (ack.event, ack.by) == ("acknowledged", "nurse:ann")
    assert cleared.event == "cleared"
    assert c.alarm("bp_high") is None


def test_acknowledged_alarm_stays_while_condition_holds() -> None:
    c = dosed()
    c.bp(185, 95)
    alarm = c.alarm("bp_high")
    c.ack(alarm.alarm_id)
    shown = c.alarm("bp_high")
    assert shown.acknowledged and shown.active
    assert shown.acknowledged_by == "nurse"
    out = c.bp(130, 80)
    assert [e.event for e in events(out, "bp_high")] == ["cleared"]


def test_condition_returning_while_latched_is_the_same_alarm() -> None:
    c = dosed()
    c.bp(185, 95)
    first = c.alarm("bp_high")
    c.bp(130, 80)
    out = c.bp(186, 95)
    assert events(out, "bp_high") == []
    again = c.alarm("bp_high")
    assert again.alarm_id == first.alarm_id
    assert again.active


def test_ack_refusals() -> None:
    c = dosed()
    refused = result(c.ack("chair-1:bp_high:99"))
    assert not refused.accepted
    assert "no alarm chair-1:bp_high:99" in refused.reasons[0]
    c.bp(185, 95)
    alarm = c.alarm("bp_high")
    c.ack(alarm.alarm_id, by="nurse:ann")
    refused = result(c.ack(alarm.alarm_id, by="nurse:bob"))
    assert not refused.accepted
    assert "already acknowledged by nurse:ann" in refused.reasons[0]


@pytest.mark.parametrize(
    ("sys", "priority", "after_s"),
    [(185, "high", 60), (165, "medium", 120)],
)
def test_unacknowledged_alarm_escalates(sys: int, priority: str, after_s: int) -> None:
    c = dosed()
    c.bp(sys, 90)
    out = c.advance(seconds=after_s - 1)
    assert events(out, "bp_high", "escalated") == []
    out = c.advance(seconds=1)
    (escalated,) = events(out, "bp_high", "escalated")
    assert escalated.priority == priority
    assert f"not acknowledged for {after_s} s" in escalated.message
    assert c.alarm("bp_high").escalated
    # escalation happens once
    assert events(c.advance(seconds=after_s * 2), "bp_high", "escalated") == []


def test_acknowledged_alarm_does_not_escalate() -> None:
    c = dosed()
    c.bp(185, 95)
    c.advance(seconds=30)
    c.ack(c.alarm("bp_high").alarm_id)
    assert events(c.advance(seconds=120), "bp_high", "escalated") == []


def test_low_priority_never_escalates_by_default() -> None:
    c = Clinic()
    c.start()
    c.bp(150, 85)     # pre-dose advisory
    assert c.alarm("bp_baseline_elevated").priority == "low"
    assert events(c.advance(minutes=10, step_s=10), event="escalated") == []


# --- audio pause --------------------------------------------------------------------------

def test_audio_pause_is_time_limited() -> None:
    c = dosed()
    c.bp(165, 90)
    out = c.pause(90)
    assert result(out).accepted
    assert states(out)[-1].audio_paused_until == c.now + timedelta(seconds=90)
    c.advance(seconds=89)
    assert c.state().audio_paused_until is not None
    c.advance(seconds=1)
    assert c.state().audio_paused_until is None


def test_audio_pause_longer_than_allowed_is_refused() -> None:
    c = dosed()
    refused = result(c.pause(300))
    assert not refused.accepted
    assert "at most 120 s" in refused.reasons[0]


def test_new_high_alarm_ends_audio_pause_but_medium_does_not() -> None:
    c = dosed()
    c.pause(120)
    c.bp(165, 90)   # medium
    assert c.state().audio_paused_until is not None
    c.bp(185, 90)   # escalates to high
    assert c.state().audio_paused_until is None


# --- technical alarms ---------------------------------------------------------------------

def test_no_data_per_device_and_kind() -> None:
    c = dosed()
    c.hr(70)
    c.advance(seconds=30)
    assert "no_data" not in c.conditions()
    out = c.advance(seconds=1)
    raised = events(out, "no_data", "raised")
    assert {e.message.split(":")[0] for e in raised} == {"heart rate from ecg"}
    alarm = c.alarm("no_data")
    assert alarm.kind == "technical"
    assert alarm.subject == "ecg/heart_rate"
    assert "> 30 s" in alarm.message
    out = c.hr(72)
    assert events(out, "no_data", "cleared")


def test_pulse_oximetry_required_during_observation() -> None:
    c = dosed()        # IM ketamine requires SpO2; the last one came a minute ago
    c.tick()
    alarm = c.alarm("spo2_missing")
    assert alarm is not None
    assert alarm.priority == "medium"
    assert "SpO2 required by protocol im_ketamine" in alarm.message
    # the spo2_missing alarm stands for the silent oximeter: no second alarm
    assert not any(a.subject == "oxi/spo2" for a in c.state().alarms)
    out = c.spo2(97)
    assert events(out, "spo2_missing", "cleared")


def test_pulse_oximetry_not_required_before_dosing() -> None:
    c = Clinic()
    c.start()
    c.advance(minutes=5, step_s=10)
    assert "spo2_missing" not in c.conditions()


def test_pulse_oximetry_never_connected() -> None:
    c = Clinic()
    c.start()
    c.bp(120, 80)
    out = c.dose()
    (raised,) = events(out, "spo2_missing", "raised")
    assert "no SpO2 reading yet" in raised.message


@pytest.mark.parametrize(
    ("state", "condition", "priority"),
    [
        ("disconnected", "device_offline", "medium"),
        ("offline", "device_offline", "medium"),
        ("degraded", "device_degraded", "low"),
    ],
)
def test_device_status_alarms_after_delay(state: str, condition: str, priority: str) -> None:
    c = dosed()
    c.device("connected", device="cuff")
    c.device(state, device="cuff", reason="cable")
    c.advance(seconds=9)
    assert condition not in c.conditions()
    c.advance(seconds=1)
    alarm = c.alarm(condition)
    assert alarm.priority == priority
    assert alarm.subject == "cuff"
    assert alarm.message == f"device cuff {state}: cable"
    out = c.device("connected", device="cuff")
    assert events(out, condition, "cleared")
    assert c.state().devices == {"cuff": "connected"}


def test_refused_readings_alarm_at_once_and_stay_until_acknowledged() -> None:
    """A spool that refuses readings loses them: not the low "degraded" after 10 s, but a
    medium alarm at once, latched so the gap is seen after the disk recovers."""
    from drivers.wire import DeviceStatus

    c = dosed()
    c.device("connected", device="oxi")
    out = c.send(DeviceStatus(chair=c.chair, device="oxi", source="test", state="degraded",
                              at=c.now, reason="gateway outbox full", refusing=True))
    (raised,) = events(out, "readings_refused", "raised")
    assert raised.priority == "medium"
    assert "refused" in raised.message and "gateway outbox full" in raised.message
    c.advance(seconds=15)
    assert "device_degraded" not in c.conditions()  # one alarm for one problem
    c.device("connected", device="oxi")
    alarm = c.alarm("readings_refused")
    assert not alarm.active and alarm.latching
    c.ack(alarm.alarm_id)
    assert "readings_refused" not in c.conditions()


def test_brief_disconnect_does_not_alarm() -> None:
    c = dosed()
    c.device("disconnected", device="cuff")
    c.advance(seconds=5)
    c.device("connected", device="cuff")
    c.advance(seconds=20)
    assert "device_offline" not in c.conditions()


def test_gateway_offline() -> None:
    c = dosed()
    c.gateway("offline")
    c.advance(seconds=10)
    assert c.alarm("gateway_offline").priority == "medium"
    out = c.gateway("online")
    assert events(out, "gateway_offline", "cleared")


def test_a_gateways_last_will_ends_its_connection_though_older_than_its_heartbeats() -> None:
    """The broker sends the will it was given at connect time: its time is the connection's
    start, before every heartbeat on it. It still says the gateway is gone now."""
    c = dosed()
    connected_at = c.now
    c.gateway("online", connection="k1")
    c.advance(seconds=30)
    c.gateway("online", connection="k1")  # a heartbeat
    c.advance(seconds=30)
    c.gateway("offline", connection="k1", at=connected_at)
    c.advance(seconds=10)
    alarm = c.alarm("gateway_offline")
    assert alarm is not None and alarm.priority == "medium"
    # An old will of an earlier connection changes nothing once a new one is up.
    c.gateway("online", connection="k2")
    c.gateway("offline", connection="k1", at=connected_at)
    c.advance(seconds=10)
    assert "gateway_offline" not in c.conditions()


def test_an_old_offline_without_a_connection_is_still_stale() -> None:
    c = dosed()
    then = c.now
    c.advance(seconds=30)
    c.gateway("online", connection="k1")
    c.gateway("offline", at=then)
    c.advance(seconds=20)
    assert "gateway_offline" not in c.conditions()


def test_technical_alarms_only_during_a_session() -> None:
    c = Clinic()
    c.device("offline", device="cuff")
    c.gateway("offline")
    c.advance(seconds=30)
    assert c.state().alarms == []
    assert c.state().devices == {"cuff": "offline"}


def test_symptoms_of_a_hypertensive_emergency_raise_a_high_alarm_naming_the_referral() -> None:
    """Spravato label: refer a patient with symptoms of a hypertensive crisis or of
    hypertensive encephalopathy for emergency care immediately."""
    from drivers.wire import Symptoms

    c = dosed()
    out = c.cmd(Symptoms, symptoms=["chest_pain", "severe_headache"], by="nurse:ann")
    assert result(out).accepted
    (raised,) = events(out, "hypertensive_emergency", "raised")
    assert raised.priority == "high" and raised.kind == "physiological"
    assert raised.message == (
        "symptoms of hypertensive crisis or hypertensive encephalopathy: chest pain, sudden "
        "severe headache (reported by nurse:ann); refer for emergency care immediately")
    alarm = c.alarm("hypertensive_emergency")
    assert alarm.latching and not alarm.active  # an observation: shown until acknowledged
    c.advance(minutes=10)
    assert "hypertensive_emergency" in c.conditions()
    # Reported again while it shows: one alarm, its message the newest.
    out = c.cmd(Symptoms, symptoms=["seizure"])
    assert not events(out, "hypertensive_emergency", "raised")
    assert "seizure" in c.alarm("hypertensive_emergency").message
    c.ack(alarm.alarm_id)
    assert "hypertensive_emergency" not in c.conditions()


def test_symptoms_need_an_open_session() -> None:
    from drivers.wire import Symptoms

    c = Clinic()
    out = c.cmd(Symptoms, symptoms=["chest_pain"])
    assert not result(out).accepted
    assert "needs an open session" in result(out).reasons[0]


def test_a_vital_a_device_cannot_read_is_in_the_state_and_the_degraded_alarm() -> None:
    """The gateway says which vital it cannot read from a device and why: the chair's state
    carries it per vital (a screen shows it instead of an empty value) and the device's
    degraded alarm names it."""
    from drivers.wire import DeviceStatus

    c = dosed()
    c.device("connected", device="monitor")
    why = "heart rate not readable from this device (147842: unit mm[Hg] does not fit)"
    c.send(DeviceStatus(chair=c.chair, device="monitor", source="hl7", state="degraded",
                        at=c.now, reason=why, unreadable={"heart_rate": why}))
    assert c.state().unreadable == {"heart_rate": f"monitor: {why}"}
    c.advance(seconds=10)
    assert c.alarm("device_degraded").message == f"device monitor degraded: {why}"
    c.device("connected", device="monitor")
    assert c.state().unreadable == {}
