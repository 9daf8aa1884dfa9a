"""A site watched from the regional broker, on a fake clock: its bridge's word and its
silence make it unreachable, the banner says since when, no command may leave, and the
bridge's return with fresh states makes it live again. Without a bridge followed (a screen
at the site) the bridge's word changes nothing."""

from __future__ import annotations

from datetime import UTC

from drivers.clock import FakeClock
from drivers.wire import CommandResult, EngineStatus
from monitor.config import DashboardSettings
from monitor.dashboard.floor import Bridge, Floor

from . import states as S

CUT = "SITE east UNREACHABLE since {}: the chairs below are its last known state, not live"


def remote_floor(speed: float = 1.0) -> tuple[Floor, FakeClock]:
    clock = FakeClock(S.NOW["observation"], speed=speed)
    floor = Floor(DashboardSettings(), clock)
    floor.tz = UTC
    floor.bridge = Bridge("east")
    return floor, clock


def test_the_bridges_will_makes_the_site_unreachable_until_it_returns() -> None:
    floor, clock = remote_floor()
    start = clock.now().strftime("%H:%M:%S")
    floor.take_bridge(True)
    floor.take_state(S.chair_state("chair-1", "observation", clock.now()))
    assert floor.offline() is None and floor.not_sendable() is None
    clock.advance(3)
    floor.take_bridge(False)
    down = clock.now().strftime("%H:%M:%S")
    assert down != start
    assert floor.offline() == CUT.format(down)
    assert floor.not_sendable() == (
        f"site east unreachable since {down}: the command would wait at the region and act "
        "whenever the site came back")
    # The engine's retained status still says online, and states may still trickle in
    # (queued before the cut): the bridge's word stands until it says otherwise.
    floor.take_status(EngineStatus(state="online", at=clock.now()))
    floor.take_state(S.chair_state("chair-1", "observation", clock.now()))
    clock.advance(30)
    floor.take_bridge(False)  # said again: still down since the first word
    assert floor.offline() == CUT.format(down)
    floor.take_bridge(True)
    assert floor.unreachable() is None and floor.not_sendable() is None
    # Back, but the newest state is from before: not live until a fresh one comes.
    assert floor.offline() == "MONITORING OFFLINE: no update for 30s"
    floor.take_state(S.chair_state("chair-1", "observation", clock.now()))
    assert floor.offline() is None


def test_a_silent_site_is_unreachable_after_the_offline_limit_once_its_bridge_was_up() -> None:
    floor, clock = remote_floor(speed=60)
    floor.take_bridge(True)
    floor.take_state(S.chair_state("chair-1", "observation", clock.now()))
    heard = clock.now().strftime("%H:%M:%S")
    clock.advance(10 * 60)  # ten wall seconds at 60 times: at the limit, not past it
    assert floor.unreachable() is None
    clock.advance(60)
    assert floor.unreachable() == CUT.format(heard)
    assert floor.offline() == CUT.format(heard)  # before the "no update" banner
    assert floor.not_sendable() is not None
    # An answer is something of the site too: heard again, in reach again.
    floor.take_result(CommandResult(id="x", chair="chair-1", type="pause_audio",
                                    accepted=True, at=clock.now()))
    assert floor.unreachable() == CUT.format(heard)  # take_result alone records nothing
    floor.take(CommandResult(id="x", chair="chair-1", type="pause_audio", accepted=True,
                             at=clock.now()))
    assert floor.unreachable() is None


def test_silence_before_the_bridge_is_heard_is_the_offline_rule_only() -> None:
    floor, clock = remote_floor()
    floor.take_state(S.chair_state("chair-1", "observation", clock.now()))
    clock.advance(11)
    assert floor.unreachable() is None
    assert floor.offline() == "MONITORING OFFLINE: no update for 11s"


def test_a_lost_broker_is_said_before_the_site() -> None:
    clock = FakeClock(S.NOW["observation"])
    floor = Floor(DashboardSettings(), clock, "mqtt://region:1883")
    floor.bridge = Bridge("east")
    floor.link.connected = floor.link.ever_connected = True
    floor.take_bridge(False)
    assert floor.offline() is not None and floor.offline().startswith("SITE east UNREACHABLE")
    floor.link.connected = False
    assert floor.offline() == "MONITORING OFFLINE: lost the broker mqtt://region:1883"


def test_a_screen_at_the_site_ignores_the_bridge() -> None:
    clock = FakeClock(S.NOW["observation"])
    floor = Floor(DashboardSettings(), clock)
    floor.take_state(S.chair_state("chair-1", "observation", clock.now()))
    floor.take_bridge(False)  # the uplink is down: the site itself is fine
    assert floor.unreachable() is None and floor.offline() is None
    assert floor.not_sendable() is None


def test_signing_out_keeps_the_bridges_word() -> None:
    floor, _ = remote_floor()
    floor.take_bridge(False)
    floor.forget()
    assert floor.bridge is not None and floor.bridge.up is False
    assert floor.unreachable() is not None
