"""The overview through Textual's Pilot, on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from textual.widgets import Static

import monitor.dashboard.app as app_module
from drivers import topics
from drivers.clock import FakeClock
from drivers.payloads import Inbound
from drivers.wire import (
    ActiveAlarm,
    ChairState,
    DoseGiven,
    EngineStatus,
    LatestValue,
    ObservationClock,
    SessionInfo,
)
from monitor.config import DashboardSettings
from monitor.dashboard.app import FLASH_S, DashboardApp
from monitor.dashboard.chair import ChairScreen
from monitor.dashboard.tile import ChairTile
from tests.dashboard import states as S

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def state(chair: str, at: datetime, *, systolic: int = 132, alarm: str | None = None) -> ChairState:
    alarms = []
    if alarm:
        alarms.append(ActiveAlarm(alarm_id=f"{chair}:bp_high:1", condition="bp_high",
                                  kind="physiological", priority=alarm,
                                  message=f"SYS {systolic} >= 180 mmHg", raised_at=at,
                                  active=True))
    return ChairState(
        chair=chair, at=at,
        session=SessionInfo(patient_code="P-7", protocol="spravato", phase="observation",
                            started_at=T0, first_dose_at=T0 + timedelta(minutes=5)),
        latest={
            "blood_pressure": LatestValue(reading_id="r1", device="cuff",
                                          values={"systolic": systolic, "diastolic": 88},
                                          unit="mm[Hg]", quality="valid", measured_at=at,
                                          received_at=at, age_s=0),
            "spo2": LatestValue(reading_id="r2", device="ox", values={"spo2": 97}, unit="%",
                                quality="valid", measured_at=at, received_at=at, age_s=0),
        },
        observation=ObservationClock(started_at=T0 + timedelta(minutes=5), elapsed_s=0,
                                     minimum_s=7200,
                                     earliest_discharge_at=T0 + timedelta(minutes=125)),
        alarms=alarms,
    )


def feed(app: DashboardApp, payload: ChairState | EngineStatus) -> None:
    if isinstance(payload, ChairState):
        topic = topics.Topic("state", "clinic", payload.chair)
    else:
        topic = topics.Topic("engine_status", "clinic")
    app.ingest(Inbound(topic, payload))


def tile_text(app: DashboardApp, chair: str) -> str:
    tile = app.query_one(f"#tile-{chair}", ChairTile)
    return str(tile.render())


async def test_tiles_show_values_with_their_age_and_the_observation_clock() -> None:
    clock = FakeClock(T0 + timedelta(minutes=45))
    app = DashboardApp(None, "clinic", DashboardSettings(), clock, chairs=["chair-1", "chair-2"])
    async with app.run_test(size=(100, 30)) as pilot:
        feed(app, state("chair-1", clock.now()))
        feed(app, EngineStatus(state="online", at=clock.now()))
        clock.advance(5)
        await app.refresh_view()
        await pilot.pause()
        text = tile_text(app, "chair-1")
        assert "P-7" in text and "observation" in text
        assert "132/88" in text and "5s" in text
        # To the minute on the overview, the time left rounded up (never sooner than it is).
        assert "obs 40m" in text and "discharge in 1h20m" in text
        assert "no data yet" in tile_text(app, "chair-2")

        clock.advance(60)  # ages move with the clock; SpO2 is now stale
        feed(app, EngineStatus(state="online", at=clock.now()))
        app.floor.last_state_at = clock.now()
        await app.refresh_view()
        assert "1m" in tile_text(app, "chair-1")


async def test_high_alarm_shows_marker_colour_class_and_sorts_first() -> None:
    clock = FakeClock(T0 + timedelta(minutes=45))
    app = DashboardApp(None, "clinic", DashboardSettings(), clock, chairs=["chair-1", "chair-2"])
    async with app.run_test(size=(100, 30)) as pilot:
        feed(app, state("chair-1", clock.now()))
        feed(app, state("chair-2", clock.now(), systolic=186, alarm="high"))
        await app.refresh_view()
        await pilot.pause()
        tile = app.query_one("#tile-chair-2", ChairTile)
        assert tile.has_class("alarm-high")
        assert "*** SYS 186 >= 180 mmHg" in tile_text(app, "chair-2")
        tiles = list(app.query(ChairTile))
        assert tiles[0].chair == "chair-2"  # urgency first
        await pilot.press("s")  # sort by chair
        await app.refresh_view()
        assert [t.chair for t in app.query(ChairTile)] == ["chair-1", "chair-2"]


async def test_offline_banner_when_engine_goes_silent_or_offline() -> None:
    clock = FakeClock(T0)
    settings = DashboardSettings(offline_after_s=10)
    app = DashboardApp(None, "clinic", settings, clock, chairs=["chair-1"])
    async with app.run_test(size=(100, 30)):
        await app.refresh_view()
        banner = app.query_one("#offline")
        assert "WAITING" in str(banner.render())
        feed(app, state("chair-1", clock.now()))
        await app.refresh_view()
        assert banner.has_class("hidden")

        clock.advance(11)  # silence longer than the limit
        await app.refresh_view()
        assert not banner.has_class("hidden")
        assert "no update for 11s" in str(banner.render())
        assert app.query_one("#tile-chair-1", ChairTile).has_class("stale")

        feed(app, state("chair-1", clock.now()))
        await app.refresh_view()
        assert banner.has_class("hidden")
        feed(app, EngineStatus(state="offline", at=clock.now()))
        await app.refresh_view()
        assert "engine has stopped" in str(banner.render())


# --- selection, flashing, the bell, coalescing -----------------------------------------


async def test_arrows_move_between_tiles_and_enter_or_click_opens_the_chair() -> None:
    app, _, _ = S.make_app(["chair-1", "chair-2", "chair-3", "chair-4"])
    async with app.run_test(size=(80, 24)) as pilot:
        for chair in ("chair-1", "chair-2", "chair-3", "chair-4"):
            S.feed(app, S.chair_state(chair, "observation"))
        app.floor.sort_by_urgency = False
        await app.refresh_view()
        await pilot.pause()
        assert isinstance(app.focused, ChairTile) and app.focused.chair == "chair-1"
        await pilot.press("right")
        assert isinstance(app.focused, ChairTile) and app.focused.chair == "chair-2"
        await pilot.press("down")  # two tiles across 80 columns
        assert isinstance(app.focused, ChairTile) and app.focused.chair == "chair-4"
        await pilot.press("left", "up")
        assert isinstance(app.focused, ChairTile) and app.focused.chair == "chair-1"
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ChairScreen) and app.screen.chair == "chair-3"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.click("#tile-chair-2")
        await pilot.pause()
        assert isinstance(app.screen, ChairScreen) and app.screen.chair == "chair-2"


async def test_the_chair_option_opens_the_chair_view() -> None:
    app, _, _ = S.make_app(["chair-1", "chair-2"], chair="chair-2")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ChairScreen) and app.screen.chair == "chair-2"
        head = str(app.screen.query_one("#chair-head", Static).render())
        assert "waiting for this chair's state" in head
        S.feed(app, S.chair_state("chair-2", "observation"))
        await app.refresh_view()
        head = str(app.screen.query_one("#chair-head", Static).render())
        assert "P-0042" in head and "discharge possible 11:10 (in 1:15:00)" in head


async def test_high_flashes_at_2_hz_medium_at_half_a_hertz_low_is_steady() -> None:
    app, _, _ = S.make_app(["chair-1", "chair-2", "chair-3"], blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        for chair, priority in (("chair-1", "high"), ("chair-2", "medium"), ("chair-3", "low")):
            S.feed(app, S.chair_state(chair, "observation", alarms=[S.alarm(chair, priority)]))
        await app.refresh_view()
        await pilot.pause()
        tiles = {t.chair: t for t in app.query(ChairTile)}
        lit: dict[str, list[bool]] = {chair: [] for chair in tiles}
        for _ in range(8):  # eight steps of 0.25 s: two seconds
            app.flash_tick()
            for chair, tile in tiles.items():
                lit[chair].append(tile.lit)
        assert lit["chair-1"] == [False, True] * 4  # on/off every 0.25 s: 2 Hz
        assert lit["chair-2"] == [True, True, True, False, False, False, False, True]  # 0.5 Hz
        assert lit["chair-3"] == [True] * 8  # low: steady
        assert 1.4 <= 1 / (2 * FLASH_S) <= 2.8 and 0.4 <= 1 / (8 * FLASH_S) <= 0.8


async def test_no_color_keeps_the_priority_markers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app, _, _ = S.make_app(["chair-1", "chair-2", "chair-3", "chair-4"])
    async with app.run_test(size=(120, 30)):
        assert app.no_color
        for chair, priority, kind in (("chair-1", "high", "physiological"),
                                      ("chair-2", "medium", "physiological"),
                                      ("chair-3", "low", "physiological"),
                                      ("chair-4", "medium", "technical")):
            S.feed(app, S.chair_state(chair, "observation", alarms=[
                S.alarm(chair, priority, kind)]))  # type: ignore[arg-type]
        await app.refresh_view()
        assert "*** SYS 186 >= 180 mmHg" in tile_text(app, "chair-1")
        assert "** SpO2 90 < 92 %" in tile_text(app, "chair-2")
        assert "* SYS 146 > 140 mmHg" in tile_text(app, "chair-3")
        assert "** INOP SpO2 from oximeter" in tile_text(app, "chair-4")


async def test_the_bell_rings_for_a_new_high_alarm_unless_paused_or_off() -> None:
    app, clock, _ = S.make_app(["chair-1", "chair-2"])
    async with app.run_test(size=(100, 30)):
        S.feed(app, S.chair_state("chair-2", "observation", alarms=[S.alarm("chair-2", "medium")]))
        await app.refresh_view()
        assert app.bell_count == 0  # medium: no bell
        S.feed(app, S.chair_state("chair-1", "observation", alarms=[S.alarm("chair-1", "high")]))
        await app.refresh_view()
        assert app.bell_count == 1
        await app.refresh_view()
        assert app.bell_count == 1  # once per alarm, then ...
        clock.advance(10)
        S.feed(app, S.chair_state("chair-1", "observation", clock.now(),
                                  alarms=[S.alarm("chair-1", "high")]))
        await app.refresh_view()
        assert app.bell_count == 2  # ... again every 10 s while unacknowledged
        paused = S.chair_state("chair-1", "observation", clock.now(),
                               alarms=[S.alarm("chair-1", "high")]).model_copy(
            update={"audio_paused_until": clock.now() + S.timedelta(seconds=60)})
        S.feed(app, paused)
        clock.advance(10)
        await app.refresh_view()
        assert app.bell_count == 2  # audio paused at that chair
        clock.advance(60)  # the pause is over
        app.floor.last_state_at = clock.now()
        await app.refresh_view()
        assert app.bell_count == 3
        S.feed(app, S.chair_state("chair-1", "observation", clock.now(),
                                  alarms=[S.alarm("chair-1", "high", acknowledged=True)]))
        clock.advance(20)
        await app.refresh_view()
        assert app.bell_count == 3  # acknowledged: silent

    slow, clock, _ = S.make_app(["chair-1"], settings=DashboardSettings(bell_repeat_s=30.0))
    async with slow.run_test(size=(100, 30)):
        S.feed(slow, S.chair_state("chair-1", "observation", alarms=[S.alarm("chair-1", "high")]))
        await slow.refresh_view()
        assert slow.bell_count == 1
        for _ in range(2):
            clock.advance(10)
            slow.last_state_at = clock.now()
            await slow.refresh_view()
        assert slow.bell_count == 1  # the clinic asked for every 30 s
        clock.advance(10)
        slow.last_state_at = clock.now()
        await slow.refresh_view()
        assert slow.bell_count == 2

    quiet, _, _ = S.make_app(["chair-1"], settings=DashboardSettings(bell=False))
    async with quiet.run_test(size=(100, 30)):
        S.feed(quiet, S.chair_state("chair-1", "observation", alarms=[S.alarm("chair-1", "high")]))
        await quiet.refresh_view()
        assert quiet.bell_count == 0


async def test_a_burst_of_states_collapses_to_the_newest_per_chair() -> None:
    app, clock, _ = S.make_app(["chair-1", "chair-2"])
    async with app.run_test(size=(100, 30)) as pilot:
        handled: list[tuple[str, int]] = []
        original = app.ingest

        def counting(inbound: Inbound, site: str | None = None) -> None:
            payload = inbound.payload
            assert isinstance(payload, ChairState)
            handled.append((payload.chair, int(payload.latest["blood_pressure"].values["systolic"])))
            original(inbound, site)

        app.ingest = counting  # type: ignore[method-assign]
        for systolic in range(100, 200):  # 100 states of chair-1, queued at once
            state = S.chair_state("chair-1", "observation", systolic=systolic)
            app.post_message(app.Received(Inbound(topics.Topic("state", "clinic", "chair-1"), state)))
        app.post_message(app.Received(Inbound(topics.Topic("state", "clinic", "chair-2"),
                                              S.chair_state("chair-2", "observation"))))
        await pilot.pause()
        assert len(handled) < 10  # coalesced
        assert ("chair-1", 199) in handled and handled[-1][0] == "chair-2"
        assert app.floor.states["chair-1"].latest["blood_pressure"].values["systolic"] == 199
        results = DashboardApp.Received(Inbound(topics.Topic("command_result", "clinic", "chair-1"),
                                                S.result(DoseGiven(at=clock.now(), by="n"),
                                                         "chair-1", True)))
        assert not results.can_replace(results)  # answers are never dropped


async def test_without_a_heart_rate_device_the_oximeter_pulse_rate_is_shown_as_pr() -> None:
    clock = FakeClock(T0 + timedelta(minutes=45))
    app = DashboardApp(None, "clinic", DashboardSettings(), clock, chairs=["chair-1"])
    async with app.run_test(size=(100, 30)) as pilot:
        base = state("chair-1", clock.now())
        oximeter = base.latest["spo2"].model_copy(update={"values": {"spo2": 97, "pulse_rate": 71}})
        feed(app, base.model_copy(update={"latest": {**base.latest, "spo2": oximeter}}))
        await app.refresh_view()
        await pilot.pause()
        text = tile_text(app, "chair-1")
        assert "PR" in text and "71" in text
        assert "HR  " not in text

        feed(app, state("chair-1", clock.now()))  # no pulse rate either: HR stays blank
        await app.refresh_view()
        await pilot.pause()
        assert "HR" in tile_text(app, "chair-1") and "PR" not in tile_text(app, "chair-1")


async def test_a_vital_the_monitor_sends_unreadable_says_so_on_the_tile_and_chair_view() -> None:
    """The gateway could read the monitor's heart rate OBX but not use it (its state says
    why): the tile says "not readable" instead of an empty value, the chair view's panel says
    so with the reason as its tooltip."""
    from monitor.dashboard.widgets import VitalPanel

    clock = FakeClock(T0 + timedelta(minutes=45))
    app = DashboardApp(None, "clinic", DashboardSettings(), clock, chairs=["chair-1"])
    reason = ("monitor: heart rate not readable from this device (147842^MDC_ECG_HEART_RATE"
              "^MDC: unit /h is not a known UCUM unit here)")
    async with app.run_test(size=(100, 30)) as pilot:
        plain = state("chair-1", clock.now())
        feed(app, plain.model_copy(update={"unreadable": {"heart_rate": reason}}))
        feed(app, EngineStatus(state="online", at=clock.now()))
        await app.refresh_view()
        await pilot.pause()
        hr_line = next(line for line in tile_text(app, "chair-1").splitlines()
                       if line.startswith("HR"))
        assert "not readable" in hr_line
        app.open_chair("chair-1")
        await pilot.pause()
        assert isinstance(app.screen, ChairScreen)
        await app.refresh_view()
        await pilot.pause()
        panel = app.screen.query_one("#vital-hr", VitalPanel)
        assert panel.border_subtitle == "NOT READABLE" and panel.tooltip == reason
        assert app.screen.query_one("#vital-spo2", VitalPanel).border_subtitle != "NOT READABLE"

        # Readable again: the state no longer names it, and the tile no longer says so.
        app.pop_screen()
        feed(app, state("chair-1", clock.now()))
        await app.refresh_view()
        await pilot.pause()
        assert "not readable" not in tile_text(app, "chair-1")


async def test_a_chair_screen_refreshed_while_not_all_mounted_waits_for_the_next_refresh() -> None:
    app, _, _ = S.make_app(["chair-1", "chair-2"], chair="chair-2")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChairScreen)
        limits = DashboardSettings().stale_after_s
        shown = S.chair_state("chair-2", "observation")
        # A part not mounted (yet, or any more): the refresh shows what it can and goes on.
        await screen.query_one("#trend-sys").remove()
        screen.show(shown, None, [], S.NOW["observation"], limits, None)
        head = str(screen.query_one("#chair-head", Static).render())
        assert "P-0042" in head
        await app.refresh_view()  # and the app's own refresh goes on too


async def test_the_refresh_timer_draws_again_only_when_something_shown_may_have_changed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same state again, within the same second, draws nothing; a state that differs,
    the clock's next second, or the engine going offline draws at the next tick."""
    app, clock, _ = S.make_app(["chair-1"])
    async with app.run_test(size=(100, 30)) as pilot:
        shown = S.chair_state("chair-1", "observation")
        feed(app, shown)
        await app.refresh_view()
        await pilot.pause()
        drawn: list[datetime] = []
        refresh = app_module.refresh_screens

        async def counted(target: DashboardApp) -> None:
            drawn.append(clock.now())
            await refresh(target)

        monkeypatch.setattr(app_module, "refresh_screens", counted)
        feed(app, shown.model_copy())  # equal, not the same object
        await app._refresh_tick()
        await app._refresh_tick()
        assert drawn == []
        feed(app, S.chair_state("chair-1", "observation", systolic=184))
        await app._refresh_tick()
        assert len(drawn) == 1
        assert "184" in tile_text(app, "chair-1")
        await app._refresh_tick()
        assert len(drawn) == 1
        clock.advance(1.0)
        await app._refresh_tick()
        assert len(drawn) == 2
        await app.refresh_view()  # asked for directly: always drawn
        assert len(drawn) == 3
        feed(app, EngineStatus(state="offline", at=clock.now()))
        await app._refresh_tick()
        assert len(drawn) == 4
        assert "engine has stopped" in str(app.query_one("#offline").render())
