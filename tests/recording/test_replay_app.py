"""The replay on the dashboard: pause, speed, seek and next alarm move the recording's clock,
and the screen shows the engine's state at that moment."""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from textual.widgets import Static

from monitor.config import DashboardSettings
from monitor.engine import EngineConfig
from monitor.recording.replay import Replay
from monitor.recording.replay_app import ReplayApp
from monitor.recording.wirelog import WireLog
from tests.recording.offline import spravato_recording
from tests.recording.scenario import SITE, at


async def test_replay_keys_move_the_recording_clock() -> None:
    replay = Replay(WireLog(list(spravato_recording())), EngineConfig())
    app = ReplayApp(replay, SITE, DashboardSettings(), speed=60, tz=UTC)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("space")
        assert app.paused
        start = replay.now
        assert at(9, 0) <= start < at(9, 30)  # it was playing until space
        await pilot.press("n")  # the next alarm: SpO2 90 % for 15 s
        assert replay.now == at(9, 30, 20)
        await pilot.press("n")  # the 40-minute BP check coming due
        assert replay.now == at(9, 40)
        await pilot.press("right_square_bracket")
        assert replay.now == at(9, 45)
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert replay.now == at(9, 35)  # backwards: replayed again from the start
        await pilot.press("g", *"10:30", "enter")
        assert replay.now == at(10, 30)
        await pilot.pause()
        state = app.floor.states["chair-1"]
        assert state.session is not None and state.session.phase == "observation"
        assert state.at == at(10, 30)
        await pilot.press("plus", "plus", "minus")
        assert app.speed == 120
        await pilot.press("space")  # play: the clock runs at 120x the wall
        assert not app.paused
        before = replay.now
        for _ in range(100):  # waits on the screen's timer, at most 10 s of wall time
            await pilot.pause(0.1)
            if replay.now - before >= timedelta(seconds=12):
                break
        assert replay.now - before >= timedelta(seconds=12)
        assert start <= replay.now


async def test_replay_speaks_the_site_time_zone() -> None:
    """The banner and "go to" use the site's zone, as every other time on the screen does."""
    replay = Replay(WireLog(list(spravato_recording())), EngineConfig())
    berlin = ZoneInfo("Europe/Berlin")
    app = ReplayApp(replay, SITE, DashboardSettings(), speed=60, tz=berlin)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("space")
        await pilot.press("g", *"11:30", "enter")  # 11:30 in Berlin in January is 10:30 UTC
        assert replay.now == at(10, 30)
        await pilot.pause()
        banner = str(app.screen.query_one("#banner", Static).render())
        assert "2026-01-05 11:30:00 Europe/Berlin (UTC+01:00)" in banner, banner


async def test_a_replays_chair_view_sends_nothing_and_n_is_the_next_alarm() -> None:
    """On a replay's chair view the command keys do nothing (n is the next alarm, not a new
    session), and the palette offers no command."""
    from monitor.dashboard.forms import CommandForm

    replay = Replay(WireLog(list(spravato_recording())), EngineConfig())
    app = ReplayApp(replay, SITE, DashboardSettings(), speed=60, tz=UTC)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("space")
        await pilot.pause()
        app.open_chair("chair-1")
        await pilot.pause()
        assert app.chair_screen() is not None
        start = replay.now
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, CommandForm)
        assert replay.now > start  # moved to the next alarm
        for key in ("d", "m", "s", "y", "x", "o", "e", "a", "p", "i"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, CommandForm), key
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Overview" in titles
        assert not {"Start session", "Manual BP", "Discharge", "Symptoms"} & set(titles)


async def test_a_replays_chair_view_binds_no_command_and_its_alarms_send_nothing() -> None:
    """The replay's chair view is the plain one: no command key is bound there at all (not
    merely refused), so `n` is the replay's next alarm, and choosing an alarm in its list
    acknowledges nothing."""
    from monitor.dashboard.chair import ChairScreen
    from monitor.dashboard.chair_actions import COMMAND_ACTIONS, ActionChairScreen

    replay = Replay(WireLog(list(spravato_recording())), EngineConfig())
    app = ReplayApp(replay, SITE, DashboardSettings(), speed=60, tz=UTC)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("space")
        app.go(at(9, 30, 20))  # the SpO2 alarm is active
        app.open_chair("chair-1")
        await pilot.pause()
        screen = app.screen
        assert type(screen) is ChairScreen and not isinstance(screen, ActionChairScreen)
        bound = {key: b.binding.action for key, b in screen.active_bindings.items()}
        assert bound["n"] == "next_alarm" and bound["escape"] == "overview"
        assert not set(bound.values()) & (COMMAND_ACTIONS | {f"app.{a}" for a in COMMAND_ACTIONS})
        assert not any(hasattr(screen, f"action_{a}") for a in COMMAND_ACTIONS)
        assert not hasattr(app, "action_start_session") and not hasattr(app, "action_ack")
        await app.refresh_view()
        await pilot.pause()
        alarms = screen.query_one("#alarms")
        assert alarms.option_count >= 1  # type: ignore[attr-defined]
        alarms.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.floor.sent == [] and app.floor.pending == {}
        await pilot.press("escape")
        await pilot.pause()
        assert app.chair_screen() is None
