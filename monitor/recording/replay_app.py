"""The replay on the dashboard: the same overview, fed by the engine replaying a recording
instead of by the broker (`ReplaySource`), with the recording's clock in charge (so every age
on screen is the age it had then). A replay only shows: its chair view is the plain
`ChairScreen`, which binds no command key, so `n` there is the next alarm as everywhere.

Keys: space pause, + and - speed (1x to 600x), n next alarm, [ and ] five minutes back or
on, home the start, g go to a time.
"""

from __future__ import annotations

import time as walltime
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from drivers import topics
from drivers.payloads import Inbound
from drivers.wire import ChairState
from monitor.config import DashboardSettings
from monitor.dashboard.app import DashboardApp
from monitor.dashboard.chair import ChairScreen
from monitor.localtime import zone_label

from .replay import Replay

SPEEDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
STEP = timedelta(minutes=5)


class GotoScreen(ModalScreen[str | None]):
    """Asks for a time to go to."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, zone: str) -> None:
        super().__init__()
        self.zone = zone

    def compose(self) -> ComposeResult:
        yield Input(placeholder=f"go to HH:MM[:SS] ({self.zone})", id="goto")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReplaySource:
    """The dashboard's data source in a replay: the recording's clock, moved by the wall time
    passed times the speed (or set), and every chair state the engine published on the way.
    No timer and no screen of its own: the App steps it."""

    def __init__(self, replay: Replay, site: str, speed: float) -> None:
        self.replay = replay
        self.site = site
        self.speed = min(SPEEDS, key=lambda s: abs(s - speed))
        self.paused = False

    def advance(self, wall_s: float) -> list[Inbound]:
        """What happened in ``wall_s`` wall seconds of play (nothing while paused)."""
        if self.paused or self.replay.finished:
            return []
        target = min(self.replay.now + timedelta(seconds=wall_s * self.speed), self.replay.end)
        return self._inbound(self.replay.advance(target))

    def seek(self, when: datetime) -> list[Inbound]:
        """Stand at ``when`` (backwards too: the engine replays from the start)."""
        self.replay.seek(when)
        return self.now_showing()

    def now_showing(self) -> list[Inbound]:
        """Every chair's state at the replay's present moment."""
        return self._inbound(self.replay.engine.states(self.replay.now))

    def _inbound(self, outputs: Sequence[object]) -> list[Inbound]:
        return [Inbound(topics.Topic("state", self.site, out.chair), out)
                for out in outputs if isinstance(out, ChairState)]

    def faster(self) -> None:
        self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])

    def slower(self) -> None:
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])

    def banner(self, tz: tzinfo | None) -> str:
        self.replay.clock.speed = self.speed
        state = "PAUSED" if self.paused else ("END" if self.replay.finished else "playing")
        now = self.replay.now
        return (f"REPLAY {now.astimezone(tz):%Y-%m-%d %H:%M:%S} {zone_label(tz, now)}  "
                f"{state}  x{self.speed:g}  "
                f"(space pause, +/- speed, n next alarm, [ ] 5 min, g go to)")


class ReplayApp(DashboardApp):
    """The overview, replaying: it shows what happened and sends nothing. Its chair view is
    the plain `ChairScreen`, which binds no command key (so `n` is the next alarm there)."""

    SENDS_COMMANDS = False
    CHAIR_SCREEN = ChairScreen

    BINDINGS: ClassVar[list[BindingType]] = [
        *DashboardApp.BINDINGS,
        Binding("space", "pause", "Pause"),
        Binding("plus,equals_sign", "faster", "Faster"),
        Binding("minus", "slower", "Slower"),
        Binding("n", "next_alarm", "Next alarm"),
        Binding("right_square_bracket", "forward", "+5 min"),
        Binding("left_square_bracket", "rewind", "-5 min"),
        Binding("home", "to_start", "Start", show=False),
        Binding("g", "goto", "Go to"),
    ]

    def __init__(
        self,
        replay: Replay,
        site: str,
        settings: DashboardSettings,
        *,
        speed: float = 60.0,
        exit_after_s: float | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        super().__init__(None, site, settings, replay.clock, chairs=replay.prepared.chairs,
                         banner="REPLAY", exit_after_s=exit_after_s, tz=tz)
        self.replay = replay
        self.feed = ReplaySource(replay, site, speed)
        self._wall = walltime.monotonic()

    @property
    def paused(self) -> bool:
        return self.feed.paused

    @property
    def speed(self) -> float:
        return self.feed.speed

    async def on_mount(self) -> None:
        await super().on_mount()
        self._take(self.feed.now_showing())
        self.set_interval(0.1, self.step)

    # -- time ----------------------------------------------------------------------------

    def step(self) -> None:
        """Move the recording's clock by the wall time passed times the speed."""
        wall = walltime.monotonic()
        elapsed, self._wall = wall - self._wall, wall
        self._take(self.feed.advance(elapsed))

    def go(self, when: datetime) -> None:
        self._take(self.feed.seek(when))

    def _take(self, inbound: list[Inbound]) -> None:
        for message in inbound:
            self.ingest(message)
        banner = self.query("#banner")
        if banner:
            banner.first(Static).update(self.feed.banner(self.tz))

    # -- keys ----------------------------------------------------------------------------

    def action_pause(self) -> None:
        self.feed.paused = not self.feed.paused
        self._take([])

    def action_faster(self) -> None:
        self.feed.faster()
        self._take([])

    def action_slower(self) -> None:
        self.feed.slower()
        self._take([])

    def action_next_alarm(self) -> None:
        when = self.replay.next_alarm(self.replay.now)
        if when is None:
            self.notify("no later alarm in this recording")
            return
        self.go(when)

    def action_forward(self) -> None:
        self.go(self.replay.now + STEP)

    def action_rewind(self) -> None:
        self.go(self.replay.now - STEP)

    def action_to_start(self) -> None:
        self.go(self.replay.start)

    def action_goto(self) -> None:
        def chosen(value: str | None) -> None:
            if not value:
                return
            try:
                # The time as the screen shows it: the site's zone, on the replay's day there.
                day = self.replay.now.astimezone(self.tz).date()
                naive = datetime.combine(day, time.fromisoformat(value))
                local = naive.replace(tzinfo=self.tz) if self.tz else naive.astimezone()
                wanted = local.astimezone(UTC)
            except ValueError:
                self.notify(f"not a time: {value!r} (HH:MM[:SS])", severity="error")
                return
            self.go(wanted)

        self.push_screen(GotoScreen(zone_label(self.tz, self.replay.now)), chosen)
