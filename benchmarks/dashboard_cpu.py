"""How much CPU `chairside dashboard` spends showing a busy floor, measured from outside.

A Mosquitto of the benchmark's own signs its users in (the site's password file and ACL, as
`chairside users` writes them). A publisher, as the engine, sends every chair's state at
1 Hz. The screen signs in as a nurse, as a person would:

- terminal: the dashboard runs in tmux at 160x48 and is typed into by keys;
- browser: `chairside serve` (textual-serve) runs on a free port, headless Chromium opens
  the page, and the benchmark types into the page's terminal (xterm.js); the tab's own
  `chairside dashboard` process, the serve process and Chromium's processes (together) are
  each measured.

CPU time (utime + stime from /proc/PID/stat) and memory (RSS, and PSS, which shares a
shared page among the processes mapping it) are sampled over two phases:

- changing: every chair's vitals move each second, and every 15 s the chair with a high
  alarm and the one with a medium alarm move on (so the overview's order changes and
  something flashes);
- unchanged: every chair's last state is published again each second, unchanged (low alarms
  only: nothing flashes), so only the ages on screen move.

    uv run python benchmarks/dashboard_cpu.py [--screen terminal|browser|both]
        [--seconds 60] [--chairs 24] [--profile FILE]

`--screen both` measures the terminal (tmux), then the browser (headless Chromium), one
after the other. `--profile
FILE` runs the dashboard (under serve: the tab's dashboard) under cProfile (much slower: for
where the time goes, not for the CPU figures) and prints its top entries. Prints machine
information and the results as Markdown; records nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import pstats
import shlex
import signal
import socket as sockets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers import topics  # noqa: E402
from drivers.mqtt import QOS, connected  # noqa: E402
from drivers.mqtt_settings import MqttSettings  # noqa: E402
from drivers.wire import EngineStatus  # noqa: E402
from tests.brokers import free_port  # noqa: E402
from tests.browser.test_serve_in_chromium import HOOK, Page  # noqa: E402
from tests.dashboard.states import alarm, chair_state  # noqa: E402
from tests.signin_site import PASSWORDS, as_user, signing_broker, write_site  # noqa: E402

SIZE = ("160", "48")
WINDOW = (1445, 1010)  # Chromium's window: about 160x48 cells of textual-serve's terminal
TICK = os.sysconf("SC_CLK_TCK")

Pids = Callable[[], list[int]]
"""The processes of one measured part, looked up at each sample (Chromium's come and go)."""


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB; PSS counts a page shared by n processes as 1/n in each."""
    rss = pss = 0.0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    return rss, pss


def children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            out.setdefault(ppid, []).append(int(entry.name))
    return out


def tree(root: int) -> list[int]:
    """``root`` and all its descendants still alive."""
    kids, out, todo = children(), [], [root]
    while todo:
        pid = todo.pop()
        if alive(pid):
            out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return []


def dashboards_under(root: int) -> list[int]:
    """The ``chairside dashboard`` processes started beneath ``root`` (not their shell)."""
    return [pid for pid in tree(root)
            if "monitor.cli" in (args := cmdline(pid)) and "dashboard" in args
            and not args[0].endswith("sh")]


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def start(argv: list[str], cwd: Path | None = None,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A process in a session of its own (stopped with its children), output discarded."""
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def tmux(socket: str, *args: str) -> str:
    done = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          check=True)
    return done.stdout


async def wait_for(socket: str, session: str, text: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        screen = tmux(socket, "capture-pane", "-p", "-t", session)
        if text in screen:
            return screen
        await asyncio.sleep(0.25)
    raise TimeoutError(f"{text!r} never appeared:\n{screen}")


class Floor:
    """The states the publisher sends: moving in the changing phase, frozen after."""

    def __init__(self, chairs: list[str]) -> None:
        self.chairs = chairs
        self.changing = True
        self.frozen: dict[str, bytes] = {}
        self.step = 0

    def payloads(self) -> dict[str, bytes]:
        if not self.changing:
            return self.frozen
        now = datetime.now(UTC)
        self.step += 1
        turn = self.step // 15
        out: dict[str, bytes] = {}
        for i, chair in enumerate(self.chairs):
            alarms = [alarm(chair, "low")] if i % 5 == 0 else []
            if i == turn % len(self.chairs):
                alarms = [alarm(chair, "high")]
            elif i == (turn + 7) % len(self.chairs):
                alarms = [alarm(chair, "medium")]
            state = chair_state(chair, "observation", now, alarms=alarms,
                                hr=70 + (self.step + i) % 9, spo2=95 + (self.step + i) % 4)
            out[chair] = state.to_json()
        return out

    def freeze(self) -> None:
        """From now on the same states again and again, none alarming above low."""
        now = datetime.now(UTC)
        self.frozen = {
            chair: chair_state(chair, "observation", now,
                               alarms=[alarm(chair, "low")] if i % 5 == 0 else []).to_json()
            for i, chair in enumerate(self.chairs)
        }
        self.changing = False


async def publish(mqtt: MqttSettings, site: str, floor: Floor, stop: asyncio.Event) -> None:
    async with connected(mqtt, f"bench-engine-{uuid.uuid4().hex[:6]}") as client:
        while not stop.is_set():
            began = time.monotonic()
            status = EngineStatus(state="online", at=datetime.now(UTC))
            await client.publish(topics.engine_status(site), status.to_json(), qos=QOS,
                                 retain=True)
            for chair, payload in floor.payloads().items():
                await client.publish(topics.state(site, chair), payload, qos=QOS, retain=True)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))


@dataclass
class Sample:
    cpu: float  # % of one core
    rss: float  # MB, summed over the part's processes
    pss: float
    processes: int


@dataclass
class Phase:
    parts: dict[str, Sample]
    load_before: str
    load_during: str
    load_after: str


async def measure(parts: dict[str, Pids], seconds: float) -> Phase:
    """Each part's CPU over ``seconds`` and its memory at the end.

    A process that starts during the phase counts from zero; one that ends during it loses
    its time since the start (Chromium's processes live as long as the tab here)."""
    load_before = loadavg()
    start = {name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in parts.items()}
    wall0 = time.monotonic()
    await asyncio.sleep(seconds / 2)
    load_during = loadavg()
    await asyncio.sleep(seconds / 2)
    wall = time.monotonic() - wall0
    out: dict[str, Sample] = {}
    for name, pids in parts.items():
        cpu = rss = pss = 0.0
        alive = pids()
        for pid in alive:
            with contextlib.suppress(OSError):
                cpu += cpu_seconds(pid) - start[name].get(pid, 0.0)
                r, p = memory_mb(pid)
                rss, pss = rss + r, pss + p
        out[name] = Sample(100 * cpu / wall, rss, pss, len(alive))
    return Phase(out, load_before, load_during, loadavg())


@dataclass
class Site:
    tmp: Path
    site: str
    config: Path
    mqtt: MqttSettings
    chairs: list[str]
    cells: str = ""  # the screen's size, columns x rows


@contextlib.asynccontextmanager
async def in_tmux(site: Site, profile: Path | None) -> AsyncIterator[dict[str, Pids]]:
    """The dashboard in tmux at 160x48, signed in as the nurse by keys."""
    socket, session = f"bench-{uuid.uuid4().hex[:6]}", "dash"
    python = [sys.executable]
    if profile is not None:
        python += ["-m", "cProfile", "-o", str(profile)]
    command = (f"cd {site.tmp} && PYTHONPATH={ROOT} exec {' '.join(python)} -m monitor.cli "
               f"dashboard --config {site.config} --broker mqtt://127.0.0.1:{site.mqtt.port}")
    tmux(socket, "new-session", "-d", "-s", session, "-x", SIZE[0], "-y", SIZE[1], command)
    try:
        await wait_for(socket, session, "User name")
        tmux(socket, "send-keys", "-t", session, "-l", "amy")
        tmux(socket, "send-keys", "-t", session, "Enter")
        await asyncio.sleep(0.5)
        tmux(socket, "send-keys", "-t", session, "-l", PASSWORDS["amy"])
        tmux(socket, "send-keys", "-t", session, "Enter")
        await wait_for(socket, session, site.chairs[-1])
        site.cells = "x".join(SIZE)
        pid = int(tmux(socket, "display", "-p", "-t", session, "#{pane_pid}"))
        yield {"dashboard": lambda: [pid] if alive(pid) else []}
        tmux(socket, "send-keys", "-t", session, "q")
        await gone([pid])
    finally:
        await asyncio.to_thread(subprocess.run, ["tmux", "-L", socket, "kill-server"],
                                capture_output=True)


async def gone(pids: list[int]) -> None:
    """Wait up to 20 s for the processes to end (a profile is written on the way out)."""
    for _ in range(100):
        if not any(map(alive, pids)):
            return
        await asyncio.sleep(0.2)


def chromium() -> str:
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("Chromium is not installed (Debian: apt-get install -y chromium)")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def listening(port: int, proc: subprocess.Popen[bytes], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}")
        with contextlib.suppress(OSError), sockets.create_connection(("127.0.0.1", port), 0.2):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")


def serve_argv(site: Site, port: int, profile: Path | None) -> list[str]:
    """``chairside serve`` on ``port``; under ``profile``, each tab's dashboard runs under
    cProfile (the serve process itself does not)."""
    args = ["--config", str(site.config), "--broker", f"mqtt://127.0.0.1:{site.mqtt.port}",
            "--host", "127.0.0.1", "--port", str(port)]
    if profile is None:
        return [sys.executable, "-m", "monitor.serve", *args]
    prefix = shlex.join([sys.executable, "-m", "cProfile", "-o", str(profile)])
    wrap = ("import sys, monitor.serve as s\n"
            "build = s.dashboard_command\n"
            f"s.dashboard_command = lambda *a, **k: {prefix!r} + ' ' + "
            "build(*a, **k).split(' ', 1)[1]\n"
            "s.serve()\n")
    return [sys.executable, "-c", wrap, *args]


@contextlib.asynccontextmanager
async def in_chromium(site: Site, profile: Path | None) -> AsyncIterator[dict[str, Pids]]:
    """``chairside serve`` opened in headless Chromium, signed in as the nurse by typing
    into the page."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAIRSIDE_")}
    env["PYTHONPATH"] = str(ROOT)
    server = start(serve_argv(site, port, profile), cwd=site.tmp, env=env)
    browser_profile = site.tmp / "chromium-profile"
    browser = start(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--no-default-browser-check", f"--user-data-dir={browser_profile}",
         "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
         f"--window-size={WINDOW[0]},{WINDOW[1]}", "about:blank"])
    try:
        await listening(port, server)
        active = browser_profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active.exists() and active.read_text().strip()):
            if browser.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Chromium did not start (exit code {browser.poll()})")
            await asyncio.sleep(0.1)
        devtools = int(active.read_text().splitlines()[0])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{devtools}/json/list") as response:
                targets = await response.json()
            target = next(t for t in targets if t.get("type") == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                tab = Page(ws)
                await tab.call("Page.enable")
                await tab.call("Page.addScriptToEvaluateOnNewDocument", source=HOOK)
                await tab.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
                await expect(tab, "Password")
                await tab.type("amy")
                await tab.enter()
                await tab.type(PASSWORDS["amy"])
                await tab.enter()
                await expect(tab, site.chairs[-1])
                size = await tab.call(
                    "Runtime.evaluate", returnByValue=True,
                    expression="[window.__chairsideTerminal.cols, "
                               "window.__chairsideTerminal.rows].join('x')")
                site.cells = str(size["result"]["value"])
                dashboard = dashboards_under(server.pid)
                if len(dashboard) != 1:
                    raise RuntimeError(f"expected the tab's one dashboard, found {dashboard}")
                yield {
                    "dashboard (the tab's)": lambda: [p for p in dashboard if alive(p)],
                    "serve": lambda: [server.pid] if server.poll() is None else [],
                    "Chromium (all its processes)": lambda: tree(browser.pid),
                }
                await tab.type("q")
                await gone(dashboard)
    finally:
        stop(browser)
        stop(server)


async def expect(tab: Page, text: str, within: float = 90.0) -> None:
    screen = await tab.until(lambda seen: text in seen, within)
    if text not in screen:
        raise TimeoutError(f"{text!r} never appeared in the page:\n{screen}")


SCREENS = {"terminal": in_tmux, "browser": in_chromium}


async def run(screens: list[str], seconds: float, count: int, profile: Path | None) -> None:
    chairs = [f"chair-{i}" for i in range(1, count + 1)]
    results: list[tuple[str, str, Phase, Phase]] = []
    loads = [loadavg()]
    for screen in screens:
        name = f"bench{uuid.uuid4().hex[:6]}"
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            directory = write_site(tmp, name, tuple(chairs))
            config = tmp / "config.toml"
            config.write_text(f'[site]\nid = "{name}"\n\n[access]\nusers = "{directory.path}"\n')
            (tmp / "broker").mkdir()
            with signing_broker(tmp / "broker", directory) as broker:
                site = Site(tmp, name, config, broker.settings, chairs)
                floor, stop_publishing = Floor(chairs), asyncio.Event()
                publisher = asyncio.create_task(
                    publish(as_user(broker.settings, "engine"), name, floor, stop_publishing))
                began = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
                try:
                    async with SCREENS[screen](site, profile) as parts:
                        await asyncio.sleep(10)  # warm up: every tile mounted, trends filling
                        changing = await measure(parts, seconds)
                        floor.freeze()
                        await asyncio.sleep(3)
                        unchanged = await measure(parts, seconds)
                except (TimeoutError, RuntimeError) as failed:  # the other screen still runs
                    print(f"{screen}: not measured: {failed}", file=sys.stderr)
                    continue
                finally:
                    stop_publishing.set()
                    await publisher
        results.append((f"{screen} {site.cells}", began, changing, unchanged))
    loads.append(loadavg())
    report(results, seconds, count, profile, loads)


def report(results: list[tuple[str, str, Phase, Phase]], seconds: float, count: int,
           profile: Path | None, loads: list[str]) -> None:
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} cores (nproc), {cpu_model()}")
    print(f"python: {platform.python_version()}")
    print(f"load average (/proc/loadavg, 1/5/15 min): {loads[0]} before, {loads[1]} after")
    print(f"{count} chairs at 1 Hz, {seconds:.0f} s per phase"
          + (" (under cProfile)" if profile else ""))
    print()
    print("| screen | began (UTC) | process | phase | CPU (% of one core) | RSS (MB) | PSS (MB) "
          "| processes | 1-min load before / during / after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for screen, began, *phases in results:
        for phase_name, phase in zip(("changing", "unchanged"), phases, strict=True):
            load = " / ".join(x.split()[0] for x in (phase.load_before, phase.load_during,
                                                      phase.load_after))
            for part, s in phase.parts.items():
                print(f"| {screen} | {began} | {part} | {phase_name} | {s.cpu:.1f} | "
                      f"{s.rss:.0f} | {s.pss:.0f} | {s.processes} | {load} |")
    if profile is not None and profile.exists():
        print()
        stats = pstats.Stats(str(profile))
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screen", choices=("terminal", "browser", "both"),
                        default="terminal")
    parser.add_argument("--seconds", type=float, default=60.0, help="per phase")
    parser.add_argument("--chairs", type=int, default=24)
    parser.add_argument("--profile", type=Path, default=None, metavar="FILE")
    args = parser.parse_args()
    profile = args.profile.resolve() if args.profile is not None else None
    screens = ["terminal", "browser"] if args.screen == "both" else [args.screen]
    if profile is not None and len(screens) > 1:
        parser.error("--profile needs one --screen")
    asyncio.run(run(screens, args.seconds, args.chairs, profile))


if __name__ == "__main__":
    main()
