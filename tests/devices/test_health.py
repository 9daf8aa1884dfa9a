"""A device's health on explicit times: every state a driver reports, reached by stepping
``now`` by hand, as the engine's tests step theirs."""

from __future__ import annotations

from drivers.health import DeviceHealth
from drivers.protocols.base import StreamStats, Unusable

HR = Unusable("heart_rate", "heart rate", "147842: unit mm[Hg]", field="heart_rate")


def connected(now: float = 0.0, *, garbage_window_s: float = 10.0,
              silence_s: float | None = None,
              unreadable_window_s: float = 1800.0) -> DeviceHealth:
    health = DeviceHealth(now, garbage_window_s=garbage_window_s, silence_s=silence_s,
                          unreadable_window_s=unreadable_window_s)
    health.link("connected", None, now)
    return health


def test_a_new_device_is_connecting_then_connected() -> None:
    health = DeviceHealth(0.0)
    assert health.state(0.0) == ("connecting", None)
    health.link("connecting", "opening /dev/x", 0.0)
    assert health.state(5.0) == ("connecting", "opening /dev/x")
    health.link("connected", None, 1.0)
    assert health.state(1.0) == ("connected", None)


def test_silence_degrades_at_the_limit_counted_from_the_link_or_the_last_frame() -> None:
    health = connected(100.0, silence_s=10.0)
    assert health.state(109.9) == ("connected", None)
    assert health.state(110.0) == ("degraded", "no data for more than 10 s")
    health.saw_stream(StreamStats(frames=1), 110.0)
    assert health.state(119.9)[0] == "connected"
    assert health.state(120.0)[0] == "degraded"


def test_no_silence_limit_means_never_silent() -> None:
    health = connected(silence_s=None)
    assert health.state(1e9) == ("connected", None)


def test_bad_frames_degrade_for_the_garbage_window_only() -> None:
    health = connected(garbage_window_s=10.0)
    health.saw_stream(StreamStats(frames=5), 1.0)
    health.saw_stream(StreamStats(frames=6, bad_frames=1, dropped_bytes=7), 2.0)
    state, reason = health.state(11.9)
    assert state == "degraded" and reason is not None and "bad frames in the last 10 s" in reason
    assert health.state(12.0) == ("connected", None)
    counters = health.counters()
    assert (counters.frames, counters.bad_frames, counters.dropped_bytes) == (6, 1, 7)


def test_more_good_frames_do_not_restart_the_garbage_window() -> None:
    health = connected(garbage_window_s=10.0)
    health.saw_stream(StreamStats(frames=1, bad_frames=1), 0.0)
    health.saw_stream(StreamStats(frames=50, bad_frames=1), 9.0)
    assert health.state(10.0)[0] == "connected"


def test_a_single_bad_frame_counts_besides_the_stream() -> None:
    """A reading the contract refused is counted as one bad frame; the framer's next counts
    neither lose it as garbage nor take it for new garbage."""
    health = connected(garbage_window_s=10.0)
    health.saw_stream(StreamStats(frames=3), 0.0)
    health.saw_frames(0.0, bad=1, error="nonin-8: spo2 out of range")
    assert health.last_error == "nonin-8: spo2 out of range"
    assert health.state(20.0)[0] == "connected"
    health.saw_stream(StreamStats(frames=4), 20.0)
    assert health.state(20.0)[0] == "connected"
    health.saw_stream(StreamStats(frames=4, bad_frames=1), 21.0)
    assert health.state(21.0)[0] == "degraded"


def test_a_problem_degrades_until_cleared_or_the_link_goes() -> None:
    health = connected()
    health.problem("the oximeter refused data format #8 (NAK)")
    assert health.state(0.0) == ("degraded", "the oximeter refused data format #8 (NAK)")
    health.link("disconnected", "port gone", 1.0)
    assert health.state(1.0) == ("disconnected", "port gone")
    health.link("connected", None, 2.0)
    assert health.state(2.0) == ("connected", None)


def test_an_unreadable_vital_degrades_until_it_reads_the_link_changes_or_its_window_passes() -> None:
    health = connected(unreadable_window_s=60.0)
    assert health.saw_unusable([HR], 0.0) == [HR]
    assert health.saw_unusable([HR], 30.0) == []  # already reported: nothing new
    expected = "heart rate not readable from this device (147842: unit mm[Hg])"
    assert health.state(89.9) == ("degraded", expected)
    assert health.unreadable_kinds(89.9) == {"heart_rate": expected}
    assert health.state(90.0) == ("connected", None)  # 60 s after it was last seen
    health.saw_unusable([HR], 100.0)
    health.delivered("heart_rate", ["heart_rate"], 101.0)
    assert health.state(101.0) == ("connected", None)
    health.saw_unusable([HR], 102.0)
    health.link("disconnected", "gone", 103.0)
    health.link("connected", None, 104.0)
    assert health.state(104.0) == ("connected", None)  # another connection, maybe another device
    assert health.counters().unreadable == 4  # counts only grow


def test_notes_and_values_no_reading_carries_do_not_degrade() -> None:
    health = connected()
    note = Unusable("heart_rate", "heart rate", "reference id differs", kept=True,
                    field="heart_rate")
    temp = Unusable(None, "", "150344^MDC_TEMP^MDC: not one Chairside reads")
    assert health.saw_unusable([note, temp], 0.0) == []
    assert health.state(0.0) == ("connected", None)
    assert (health.counters().noted, health.counters().unreadable) == (1, 0)


def test_readings_reconnects_and_refusals_are_counted() -> None:
    health = connected(silence_s=5.0)
    health.delivered("spo2", ["spo2", "pulse_rate"], 4.0)
    assert health.state(8.9)[0] == "connected"  # a reading is data too
    health.refused_one()
    health.reconnected()
    counters = health.counters()
    assert (counters.readings, counters.reconnects, health.refused) == (1, 1, 1)
