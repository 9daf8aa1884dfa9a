"""``chairside dashboard`` on a site with a user directory, in a real terminal (tmux), against
a Mosquitto that enforces the site's passwords and ACL: it asks who is there, showing nothing
of a patient; ``--kiosk`` signs nobody in, connects as the configured display account and
offers no command."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers import topics
from drivers.clock import WallClock
from drivers.wire import StartSession
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.integration.helpers import publish, running, unique_site
from tests.signin_site import PASSWORDS, as_user, signing_broker, write_site
from tests.terminal.helpers import ROOT, socket_of, tmux
from tests.terminal.test_dashboard_in_tmux import screen_with

pytestmark = [pytest.mark.tmux, pytest.mark.broker]


async def test_the_terminal_signs_in_and_the_kiosk_only_shows(
    session: str, tmp_path: Path
) -> None:
    site = unique_site()
    directory = write_site(tmp_path, site, ("chair-1",))
    config = tmp_path / "config.toml"
    config.write_text(f'[site]\nid = "{site}"\n\n[access]\nusers = "{directory.path}"\n')
    (tmp_path / "broker").mkdir()
    with signing_broker(tmp_path / "broker", directory) as broker:
        mqtt = broker.settings
        engine = EngineService(as_user(mqtt, "engine"), site, EngineConfig(), WallClock(),
                               chairs=["chair-1"], restore_wait_s=0.2, tick_interval_s=0.2,
                               users=directory.path)
        async with running(engine.run()):
            await engine.connected.wait()
            start = StartSession(at=datetime.now(UTC), by="amy", patient_code="P-0042",
                                 protocol="spravato")
            await publish(as_user(mqtt, "amy"), topics.commands(site, "chair-1", "amy"),
                          start.to_json())
            base = (f"cd {tmp_path} && PYTHONPATH={ROOT} {sys.executable} -m monitor.cli "
                    f"dashboard --config {config}")

            # Without --kiosk: the sign-in, and no chair.
            await asyncio.to_thread(
                tmux, "new-session", "-d", "-s", session, "-x", "100", "-y", "30",
                base + f" --broker mqtt://127.0.0.1:{mqtt.port}")
            screen = await screen_with(session, r"sign in")
            await asyncio.sleep(1)
            screen = await asyncio.to_thread(tmux, "capture-pane", "-p", "-t", session)
            assert "User name" in screen and "chair-1" not in screen and "P-0042" not in screen
            await asyncio.to_thread(tmux, "send-keys", "-t", session, "-l", "amy")
            await asyncio.to_thread(tmux, "send-keys", "-t", session, "Enter")
            await asyncio.sleep(0.5)  # a person's pace: the password field has the focus now
            await asyncio.to_thread(tmux, "send-keys", "-t", session, "-l", PASSWORDS["amy"])
            await asyncio.to_thread(tmux, "send-keys", "-t", session, "Enter")
            screen = await screen_with(session, r"P-0042")
            assert "signed in: amy · nurse" in screen
            await asyncio.to_thread(tmux, "send-keys", "-t", session, "q")
            await asyncio.sleep(1)

            # --kiosk: the display account of [mqtt], read only.
            kiosk = session + "-kiosk"
            wall = f"mqtt://wall:{PASSWORDS['wall']}@127.0.0.1:{mqtt.port}"
            await asyncio.to_thread(
                tmux, "new-session", "-d", "-s", kiosk, "-x", "100", "-y", "30",
                base + f" --broker {wall} --kiosk --chair chair-1")
            try:
                screen = await screen_with(kiosk, r"P-0042")
                assert "KIOSK · read only" in screen and "sign in" not in screen
                footer = screen.strip().splitlines()[-1]
                for word in ("New session", "Ack", "Discharge", "Dose"):
                    assert word not in footer, footer
                await asyncio.to_thread(tmux, "send-keys", "-t", kiosk, "n")
                screen = await screen_with(kiosk, r"sends no commands")
                assert "Start a session" not in screen
            finally:
                await asyncio.to_thread(subprocess.run, ["tmux", *socket_of(kiosk), "kill-server"],
                                        capture_output=True)
