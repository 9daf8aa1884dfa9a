"""Real MQTT brokers for the tests: a Mosquitto of the tests' own on a free port, with its own
configuration; or, only where Mosquitto is not installed and CI is unset, the embedded broker
(the tests say so in their report header). Under CI=true a missing Mosquitto fails the run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from drivers.mqtt_settings import MqttSettings


def _ephemeral_low() -> int:
    """Where the kernel's range of ports handed to clients begins."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free port below the kernel's ephemeral range.

    A client that keeps reconnecting to a stopped broker on an ephemeral port can, one day,
    be given that very port as its own source port and connect to itself (TCP simultaneous
    open); it then holds the port and the restarted broker cannot listen. Ports outside the
    range are never handed to clients."""
    low = _ephemeral_low()
    span = range(max(1024, low - 12000), low)
    for port in (random.choice(span) for _ in range(len(span))):
        if port in _handed_out:  # free now, but given to a broker that has not started yet
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port below the ephemeral range")


_handed_out: set[int] = set()


def mosquitto_path() -> str | None:
    """Mosquitto's binary, or None (CHAIRSIDE_TEST_BROKER=embedded pretends it is absent)."""
    if os.environ.get("CHAIRSIDE_TEST_BROKER") == "embedded":
        return None
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )


def _wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on port {port} within {timeout}s")


def _listening_inodes(port: int) -> set[str]:
    """The inodes of the sockets listening on ``port`` (Linux's /proc/net/tcp)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    found.add(fields[9])
    return found


def _wait_owned(proc: subprocess.Popen[bytes], port: int, log: Path,
                timeout: float = 10.0) -> None:
    """Until ``proc`` itself listens on ``port``. Something else answering there (a broker
    left on it, or one of ours given the same port) would let the test talk to the wrong
    broker; a Mosquitto that could not listen exits, and the test is told why."""
    deadline = time.monotonic() + timeout
    fds = Path(f"/proc/{proc.pid}/fd")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"Mosquitto exited ({proc.returncode}) instead of listening on "
                               f"port {port}: {said.strip() or 'nothing in its log'}")
        if not fds.exists():  # no /proc here: a connection is all there is to go on
            _wait_listening(port, max(0.1, deadline - time.monotonic()))
            return
        inodes = _listening_inodes(port)
        with contextlib.suppress(OSError):
            if inodes and any(os.readlink(fd).removeprefix("socket:[").rstrip("]") in inodes
                              for fd in fds.iterdir()):
                return
        time.sleep(0.02)
    raise RuntimeError(f"Mosquitto did not listen on port {port} within {timeout}s")


def signing_in(password_file: Path, acl_file: Path) -> list[str]:
    """The ``extra_config`` of a Mosquitto that signs every client in: no anonymous client,
    the password file and ACL that `chairside users` writes."""
    return ["allow_anonymous false", f"password_file {password_file}", f"acl_file {acl_file}"]


class Mosquitto:
    """A Mosquitto process of the tests' own; `stop` and `start` simulate a broker restart
    (persistence on, so persistent sessions and retained messages survive it)."""

    kind = "mosquitto"

    def __init__(self, workdir: Path, binary: str, autosave_interval: int = 1,
                 extra_config: Sequence[str] = ()) -> None:
        """``extra_config``: lines after the defaults (a later line wins), e.g. a password
        file, an ACL, ``allow_anonymous false`` or a TLS listener."""
        self.workdir = workdir
        self.binary = binary
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {workdir}/",
            f"autosave_interval {autosave_interval}",
            "max_queued_messages 100000",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            # As root, Mosquitto drops to the mosquitto user, who cannot write in the tests'
            # private folders: no persistence, no log. Stay as the caller instead.
            lines.append("user root")
        lines.extend(extra_config)
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def settings(self) -> MqttSettings:
        return MqttSettings(broker="external", host="127.0.0.1", port=self.port,
                            keepalive_s=5, reconnect_max_s=0.5)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_owned(self.proc, self.port, self.log)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, so what it had not yet saved is gone."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class EmbeddedBroker:
    """The embedded amqtt broker in a thread of its own (its loop outlives each test's)."""

    kind = "embedded"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def settings(self) -> MqttSettings:
        return MqttSettings(broker="external", host="127.0.0.1", port=self.port,
                            keepalive_s=5, reconnect_max_s=0.5)

    def start(self) -> None:
        from monitor.broker import embedded_broker

        ready = threading.Event()

        async def serve() -> None:
            self._stop = asyncio.Event()
            async with embedded_broker(MqttSettings(broker="embedded", port=self.port)):
                ready.set()
                await self._stop.wait()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        _wait_listening(self.port)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None


Broker = Mosquitto | EmbeddedBroker


def make_broker(workdir: Path) -> Broker:
    binary = mosquitto_path()
    if binary is not None:
        return Mosquitto(workdir, binary)
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError("CI=true but Mosquitto is not installed: broker tests must not skip")
    return EmbeddedBroker(workdir)
