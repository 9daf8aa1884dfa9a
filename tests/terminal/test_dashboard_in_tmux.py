"""``chairside dashboard`` and ``chairside dashboard --chair ID`` in a real terminal (tmux),
connected to a real broker where the real engine publishes, and a command sent from the
keyboard reaching the engine."""

from __future__ import annotations

import asyncio
import re
import sys
import time

import pytest

from drivers.clock import WallClock
from drivers.wire import ChairState, CommandResult
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.brokers import Broker
from tests.integration.helpers import Observer, running, site_filters, unique_site
from tests.terminal.helpers import ROOT, tmux

pytestmark = [pytest.mark.tmux, pytest.mark.broker]


async def screen_with(session: str, pattern: str, within: float = 30) -> str:
    deadline = time.monotonic() + within
    screen = ""
    while time.monotonic() < deadline:
        screen = await asyncio.to_thread(tmux, "capture-pane", "-p", "-t", session)
        if re.search(pattern, screen, re.M):
            return screen
        await asyncio.sleep(0.3)
    raise AssertionError(f"{pattern!r} not on the screen in {within:.0f}s:\n{screen}")


async def test_dashboard_chair_view_connects_and_sends_from_the_keyboard(
    broker: Broker, session: str
) -> None:
    site = unique_site()
    mqtt = broker.settings
    engine = EngineService(mqtt, site, EngineConfig(), WallClock(), chairs=["chair-1", "chair-2"],
                           restore_wait_s=0.2, tick_interval_s=0.2)
    observer = Observer(mqtt, site_filters(site))
    command = (f"cd {ROOT} && {sys.executable} -m monitor.cli dashboard --broker "
               f"mqtt://127.0.0.1:{mqtt.port} --site {site}")
    async with running(engine.run(), observer.run()):
        await engine.connected.wait()
        await observer.subscribed()
        await asyncio.to_thread(tmux, "new-session", "-d", "-s", session, "-x", "100", "-y",
                                "30", command + " --chair chair-2")
        screen = await screen_with(session, r"chair-2\s+no session")
        assert "BP check" in screen and "Discharge: no session" in screen

        # Start a session from the keyboard: n, a patient code, enter.
        await asyncio.to_thread(tmux, "send-keys", "-t", session, "n")
        await screen_with(session, r"Start a session · chair-2")
        await asyncio.to_thread(tmux, "send-keys", "-t", session, "-l", "P-0077")
        await asyncio.to_thread(tmux, "send-keys", "-t", session, "Enter")
        result = await observer.wait_for(
            lambda p: isinstance(p, CommandResult) and p.type == "start_session")
        assert result.accepted and result.chair == "chair-2", result.reasons
        await observer.wait_for(lambda p: isinstance(p, ChairState) and p.session is not None
                                and p.session.patient_code == "P-0077")
        screen = await screen_with(session, r"chair-2\s+P-0077 · spravato · PRE_DOSE")
        assert "start_session accepted" in screen or "accepted" in screen

        # Back to the overview: both chairs, the new session on its tile.
        await asyncio.to_thread(tmux, "send-keys", "-t", session, "Escape")
        screen = await screen_with(session, r"sorted by urgency")
        assert "chair-1" in screen and "chair-2" in screen and "P-0077" in screen
