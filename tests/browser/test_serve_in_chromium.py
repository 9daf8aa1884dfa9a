"""``chairside serve`` in headless Chromium: the page runs the dashboard and shows the chairs.

textual-serve draws the terminal with xterm.js on a canvas, so the page's DOM holds no text.
The test drives Chromium over its remote debugging protocol: before the page loads, a small
script keeps a reference to the page's xterm.js terminal when the page creates it; the test
then reads the terminal's screen buffer, the text a person sees. A screenshot is saved next
to the test's temporary files for a human to look at when it fails.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drivers import topics
from drivers.clock import WallClock
from drivers.gateway import Gateway
from drivers.wire import Reading, StartSession
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.brokers import Broker, free_port
from tests.integration.helpers import publish, running, unique_site
from tests.signin_site import PASSWORDS, as_user, signing_broker, write_site

pytestmark = [pytest.mark.broker, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
CHAIRS = ("chair-1", "chair-2")

# Keep the page's xterm.js terminal when the page assigns it (``this.terminal = new
# Terminal(...)``), and read its screen as lines of text.
HOOK = """
(() => {
  Object.defineProperty(Object.prototype, "terminal", {
    configurable: true,
    get() { return undefined; },
    set(value) {
      Object.defineProperty(this, "terminal",
        { value, writable: true, configurable: true, enumerable: true });
      if (value && typeof value.write === "function" && !window.__chairsideTerminal) {
        window.__chairsideTerminal = value;
      }
    },
  });
  window.__chairsideScreen = () => {
    const term = window.__chairsideTerminal;
    if (!term) return "";
    const buffer = term.buffer.active;
    const lines = [];
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i);
      if (line) lines.push(line.translateToString(true));
    }
    return lines.join("\\n");
  };
})();
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    reason = "Chromium is not installed (Debian: apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def wait_listening(port: int, proc: subprocess.Popen[bytes], within: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"chairside serve exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise AssertionError(f"chairside serve did not listen on port {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def serving(args: list[str], cwd: Path) -> Iterator[int]:
    """``chairside serve ARGS`` on a free port; yields the port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.serve", *args, "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_listening(port, proc)
        yield port
    finally:
        stop(proc)


@pytest.fixture
def serve(broker: Broker, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """``chairside serve`` on a free port, for a site of this test's own."""
    site = unique_site()
    with serving(["--broker", f"mqtt://127.0.0.1:{broker.settings.port}", "--site", site],
                 tmp_path) as port:
        yield site, port


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[int]:
    """Headless Chromium with its remote debugging port; yields the port."""
    binary = chromium()
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
         "--window-size=1280,800", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and active.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Chromium did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        yield int(active.read_text().splitlines()[0])
    finally:
        stop(proc)


class Page:
    """One tab, driven over the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._next = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        await self.ws.send_json({"id": self._next, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=30)
            if message.get("id") == self._next:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def text(self) -> str:
        result = await self.call("Runtime.evaluate", expression="window.__chairsideScreen()",
                                 returnByValue=True)
        return str(result.get("result", {}).get("value") or "")

    async def type(self, text: str) -> None:
        """Type into the page's terminal, as a person at the keyboard would."""
        await self.call("Runtime.evaluate",
                        expression="window.__chairsideTerminal && window.__chairsideTerminal.focus()")
        await self.call("Input.insertText", text=text)
        await asyncio.sleep(0.5)  # typed, not pasted: the screen takes a burst as one paste

    async def enter(self) -> None:
        for kind in ("keyDown", "char", "keyUp"):
            await self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                            windowsVirtualKeyCode=13, nativeVirtualKeyCode=13,
                            **({} if kind == "keyUp" else {"text": "\r"}))
        await asyncio.sleep(0.5)

    async def until(self, check: Callable[[str], bool], within: float = 90.0) -> str:
        """The screen's text once ``check`` holds for it (or the last seen, after ``within``)."""
        screen = ""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            screen = await self.text()
            if check(screen):
                break
            await asyncio.sleep(0.5)
        return screen

    async def screenshot(self) -> bytes:
        shot = await self.call("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])


@contextlib.asynccontextmanager
async def page(port: int) -> AsyncIterator[Page]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        target = next(t for t in targets if t.get("type") == "page")
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            yield Page(ws)


def bp(chair: str, systolic: int, diastolic: int) -> Reading:
    now = datetime.now(UTC)
    return Reading(chair=chair, device="cuff", source="ble-2a35", kind="blood_pressure",
                   measured_at=now, received_at=now, unit="mm[Hg]",
                   values={"systolic": systolic, "diastolic": diastolic})


async def test_the_browser_page_shows_every_chair_and_the_alarm_marker(
    broker: Broker, serve: tuple[str, int], browser: int, tmp_path: Path
) -> None:
    site, port = serve
    mqtt = broker.settings
    engine = EngineService(mqtt, site, EngineConfig(), WallClock(), chairs=list(CHAIRS),
                           restore_wait_s=0.2, tick_interval_s=0.2)
    gateway = Gateway(mqtt, site, "chair-1", WallClock())
    async with running(engine.run(), gateway.run()):
        await engine.connected.wait()
        await gateway.connected.wait()
        start = StartSession(at=datetime.now(UTC), by="nurse", patient_code="P-0042",
                             protocol="spravato", dose_mg=56)
        await publish(mqtt, topics.commands(site, "chair-1"), start.to_json())
        gateway.accept(bp("chair-1", 186, 104))  # a high alarm, before dosing too

        async with page(browser) as tab:
            await tab.call("Page.enable")
            await tab.call("Page.addScriptToEvaluateOnNewDocument", source=HOOK)
            await tab.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
            screen = ""
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                screen = await tab.text()
                if all(c in screen for c in CHAIRS) and "***" in screen and "P-0042" in screen:
                    break
                await asyncio.sleep(0.5)
            shot = await tab.call("Page.captureScreenshot", format="png")
            (tmp_path / "chairside-serve.png").write_bytes(base64.b64decode(shot["data"]))
    assert all(c in screen for c in CHAIRS), f"the page does not show every chair:\n{screen}"
    assert "P-0042" in screen and "*** SYS 186 >= 180 mmHg" in screen, screen
    assert "BP" in screen and "186/104" in screen, screen


async def test_the_browser_page_asks_who_is_there_before_it_shows_a_patient(
    browser: int, tmp_path: Path
) -> None:
    """A site with a user directory, and a Mosquitto that enforces its passwords and ACL: the
    page shows the sign-in and nothing of a patient; signed in, it shows the chair."""
    site = unique_site()
    directory = write_site(tmp_path, site, CHAIRS)
    config = tmp_path / "config.toml"
    config.write_text(f'[site]\nid = "{site}"\n\n[access]\nusers = "{directory.path}"\n')
    (tmp_path / "broker").mkdir()
    with signing_broker(tmp_path / "broker", directory) as broker:
        mqtt = broker.settings
        engine = EngineService(as_user(mqtt, "engine"), site, EngineConfig(), WallClock(),
                               chairs=list(CHAIRS), restore_wait_s=0.2, tick_interval_s=0.2,
                               users=directory.path)
        gateway = Gateway(as_user(mqtt, "gw-chair-1"), site, "chair-1", WallClock())
        async with running(engine.run(), gateway.run()):
            await engine.connected.wait()
            await gateway.connected.wait()
            start = StartSession(at=datetime.now(UTC), by="amy", patient_code="P-0042",
                                 protocol="spravato", dose_mg=56)
            await publish(as_user(mqtt, "amy"), topics.commands(site, "chair-1", "amy"),
                          start.to_json())
            gateway.accept(bp("chair-1", 186, 104))

            with serving(["--config", str(config), "--broker",
                          f"mqtt://127.0.0.1:{mqtt.port}"], tmp_path) as port:
                async with page(browser) as tab:
                    await tab.call("Page.enable")
                    await tab.call("Page.addScriptToEvaluateOnNewDocument", source=HOOK)
                    await tab.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
                    await tab.until(lambda text: "sign in" in text and "Password" in text)
                    await asyncio.sleep(2)  # were anything of a patient coming, it would be here
                    before = await tab.text()
                    (tmp_path / "chairside-serve-sign-in.png").write_bytes(await tab.screenshot())

                    await tab.type("amy")
                    await tab.enter()
                    await tab.type("not-her-password")
                    await tab.enter()
                    refused = await tab.until(lambda text: "wrong user name or password" in text)

                    await tab.type(PASSWORDS["amy"])
                    await tab.enter()
                    after = await tab.until(lambda text: all(c in text for c in CHAIRS)
                                            and "P-0042" in text and "***" in text)
                    (tmp_path / "chairside-serve-signed-in.png").write_bytes(
                        await tab.screenshot())
    assert "sign in" in before and "Password" in before, before
    for secret in ("chair-1", "chair-2", "P-0042", "186", "SYS"):
        assert secret not in before, f"{secret!r} shown before sign-in:\n{before}"
    assert "wrong user name or password" in refused, refused
    assert "P-0042" in after and "*** SYS 186 >= 180 mmHg" in after, after
    assert "signed in: amy · nurse" in after, after
