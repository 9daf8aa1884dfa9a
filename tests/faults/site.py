"""A whole site as real processes, for injecting faults into it from outside.

Mosquitto (persistence on, its own configuration, a free port), ``chairside engine``,
``chairside record`` and one ``chairside gateway`` per chair with simulated devices through
the real drivers, each an OS process of its own that a test may SIGKILL, stop or start.

Ground truth is taken outside the delivery chain: what each gateway accepted comes from its
ledger (``--ledger``: id, device and sequence number per reading, written as it is accepted);
what was delivered comes from the recording's file; what the nurse sees comes from a screen
that subscribes like a dashboard. A scripted nurse sends commands as a dashboard does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import aiomqtt
import psycopg
from pydantic import SecretStr

from drivers import topics
from drivers.ledger import read_ledger
from drivers.mqtt import QOS, make_client, payload_bytes
from drivers.mqtt_settings import MqttSettings
from drivers.payloads import PayloadDecoder
from drivers.wire import (
    AckAlarm,
    ActiveAlarm,
    AlarmEvent,
    ChairState,
    CommandBase,
    DoseGiven,
    EngineStatus,
    GatewayStatus,
    ManualBp,
    Reading,
    StartSession,
)
from monitor.access.commands import write_files
from monitor.access.directory import Directory, User, new
from monitor.access.passwords import hash_password
from tests.brokers import Mosquitto, signing_in

ROOT = Path(__file__).resolve().parents[2]

DEVICES = (
    ("oximeter", "ble-2a5f", "sim"),  # BLE PLX continuous: SpO2 and pulse rate, once a second
    ("finger", "nonin-8", "sim"),     # serial Nonin #8 through a pseudo-terminal and pyserial
    ("strap", "ble-2a37", "sim"),     # BLE heart rate strap
)
"""A chair's devices: about five readings a second through three real drivers."""

KEEPALIVE_S = 5
GATEWAY_OFFLINE_DELAY_S = 3.0
BROKER_FINDS_SILENCE_S = 1.5 * KEEPALIVE_S + 7
"""The longest Mosquitto 2.0 takes to drop a silent client: 1.5 keep-alives, plus up to
about 7 s because it checks keep-alives only every 6 s and in whole seconds
(benchmarks/RESULTS-keepalive.md: 7.5 to 12.7 s at a keep-alive of 5 s)."""


class Proc:
    """One ``chairside`` command as an OS process, its output in a log file."""

    def __init__(self, name: str, argv: list[str], workdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.workdir = workdir
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None, f"{self.name} is already running"
        self._out = self.log.open("ab")
        self._out.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
        self._out.flush()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        env.pop("CHAIRSIDE_CONFIG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", *self.argv], cwd=self.workdir, env=env,
            stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: nothing of the process's own shutdown runs."""
        self._end(signal.SIGKILL)

    def stop(self) -> int | None:
        """SIGTERM, as systemd stops a unit; SIGKILL after 15 s."""
        return self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> int | None:
        if self.proc is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        if self._out is not None:
            self._out.close()
        return code

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class Seen:
    """What a screen of the site has received, with the wall time of arrival."""

    states: dict[str, tuple[float, ChairState]] = field(default_factory=dict)
    history: list[tuple[float, ChairState]] = field(default_factory=list)
    gateways: dict[str, tuple[float, GatewayStatus]] = field(default_factory=dict)
    alarms: list[tuple[float, AlarmEvent]] = field(default_factory=list)
    engine: EngineStatus | None = None


class Screen:
    """Subscribes to the whole site as a dashboard does, and reconnects as one does."""

    def __init__(self, mqtt: MqttSettings, site: str) -> None:
        self.mqtt = mqtt
        self.site = site
        self.seen = Seen()
        self.decoder = PayloadDecoder()
        self.since = datetime.min.replace(tzinfo=UTC)  # statuses older than this are ignored

    async def run(self) -> None:
        while True:
            try:
                async with make_client(self.mqtt, "screen-" + uuid.uuid4().hex[:8]) as client:
                    await client.subscribe(topics.site_filter(self.site), qos=QOS)
                    async for message in client.messages:
                        self._take(message)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    def _take(self, message: aiomqtt.Message) -> None:
        inbound = self.decoder.decode(message.topic.value, payload_bytes(message),
                                      message.retain)
        if inbound is None:
            return
        now, payload = time.monotonic(), inbound.payload
        if isinstance(payload, ChairState):
            self.seen.states[payload.chair] = (now, payload)
            self.seen.history.append((now, payload))
        elif isinstance(payload, GatewayStatus):
            if payload.at >= self.since:
                self.seen.gateways[payload.chair] = (now, payload)
        elif isinstance(payload, AlarmEvent):
            self.seen.alarms.append((now, payload))
        elif isinstance(payload, EngineStatus) and payload.at >= self.since:
            self.seen.engine = payload

    def forget(self) -> None:
        """Forget the statuses seen so far, and take only ones stamped after now: a broker
        that saved on its way down hands back the old "online" statuses at once."""
        self.seen.engine = None
        self.seen.gateways.clear()
        self.since = datetime.now(UTC)

    def state(self, chair: str) -> ChairState | None:
        found = self.seen.states.get(chair)
        return found[1] if found else None

    def alarm(self, chair: str, condition: str, *, active: bool | None = True,
              subject: str | None = None) -> ActiveAlarm | None:
        """The alarm of this condition the chair's latest state shows, if any."""
        state = self.state(chair)
        for alarm in state.alarms if state else []:
            if alarm.condition == condition and (active is None or alarm.active == active) and (
                    subject is None or alarm.subject == subject):
                return alarm
        return None

    @staticmethod
    async def until(check: Callable[[], Any], within: float, what: str) -> Any:
        """Wait for ``check`` to give something true; fail with ``what`` after ``within`` s."""
        deadline = time.monotonic() + within
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"not seen within {within:.0f} s: {what}")
            await asyncio.sleep(0.05)


class Nurse:
    """Sends commands as a dashboard does: QoS 1, retried while the broker is away."""

    def __init__(self, mqtt: MqttSettings, site: str) -> None:
        self.mqtt = mqtt
        self.site = site

    async def send(self, chair: str, command: CommandBase, within: float = 60.0) -> None:
        async with asyncio.timeout(within):
            while True:
                try:
                    async with make_client(self.mqtt, "nurse-" + uuid.uuid4().hex[:8]) as c:
                        await c.publish(topics.commands(self.site, chair, self.mqtt.username),
                                        command.to_json(), qos=QOS)
                        return
                except aiomqtt.MqttError:
                    await asyncio.sleep(0.2)

    async def open_session(self, chair: str, screen: Screen, within: float = 30.0) -> None:
        now = datetime.now(UTC)
        await self.send(chair, StartSession(at=now, by="nurse", patient_code=f"P-{chair}",
                                            protocol="spravato"))
        await self.send(chair, ManualBp(at=now, by="nurse", systolic=124, diastolic=78))
        await self.send(chair, DoseGiven(at=datetime.now(UTC), by="nurse"))
        await screen.until(lambda: (s := screen.state(chair)) and s.session
                           and s.session.first_dose_at is not None,
                           within, f"{chair}: session open and dosed")

    async def bp_alarm(self, chair: str, screen: Screen, within: float) -> float:
        """A manual BP of 192/104: the high BP alarm must show; then a normal BP and an
        acknowledgement take it away again, ready for the next time. Returns the seconds
        from the command to the alarm on the screen."""
        sent = time.monotonic()
        await self.send(chair, ManualBp(at=datetime.now(UTC), by="nurse", systolic=192,
                                        diastolic=104))
        alarm = await screen.until(lambda: screen.alarm(chair, "bp_high"), within,
                                   f"{chair}: high BP alarm after a manual BP of 192/104")
        latency = time.monotonic() - sent
        assert alarm.priority == "high", alarm
        await self.clear_bp_alarm(chair, screen, alarm, within)
        return latency

    async def clear_bp_alarm(self, chair: str, screen: Screen, alarm: ActiveAlarm,
                             within: float) -> None:
        """A normal BP latches the high BP alarm, and an acknowledgement takes it away."""
        await self.send(chair, ManualBp(at=datetime.now(UTC), by="nurse", systolic=122,
                                        diastolic=76))
        await screen.until(lambda: screen.alarm(chair, "bp_high", active=False), within,
                           f"{chair}: high BP alarm latched once BP is normal")
        await self.send(chair, AckAlarm(at=datetime.now(UTC), by="nurse",
                                        alarm_id=alarm.alarm_id))
        await screen.until(lambda: not screen.alarm(chair, "bp_high", active=None), within,
                           f"{chair}: high BP alarm gone once acknowledged")


class Site:
    """Broker, engine, recorder and gateways of one site, each an OS process."""

    def __init__(self, workdir: Path, binary: str, chairs: list[str], *,
                 autosave_interval: int = 3600, spool_capacity: int = 200_000,
                 spool_dir: Path | None = None, signed_in: bool = False,
                 store: str | None = None, site: str | None = None,
                 guests: Mapping[str, User] | None = None,
                 broker_config: Sequence[str] = ()) -> None:
        """``signed_in``: every process, the screen and the nurse connect with their own user
        and password, and the broker enforces the ACL that `chairside users` writes.
        ``store``: the recorder writes to this PostgreSQL URL instead of an SQLite file.
        ``site``: the site's id (default: a new one). ``guests``: users of the directory who
        sign in elsewhere (a region's people, whose commands come down a bridge), so no
        password of theirs is kept here. ``broker_config``: more lines for the broker's
        configuration (a bridge to a region)."""
        self.workdir = workdir
        self.site = site or "f" + uuid.uuid4().hex[:8]
        self.chairs = chairs
        (workdir / "broker").mkdir(parents=True, exist_ok=True)
        self.directory = self._users(workdir / "access", guests or {}) if signed_in else None
        extra = [] if self.directory is None else signing_in(
            self.directory.passwd_path, self.directory.acl_path)
        extra = [*extra, *broker_config]
        # Autosave once an hour: a SIGKILL loses whatever the broker held in memory only.
        self.broker = Mosquitto(workdir / "broker", binary, autosave_interval=autosave_interval,
                                extra_config=extra)
        self.spool_dir = spool_dir or workdir / "spool"
        self.recording = workdir / "recording.db"
        self.store = store
        self.config = workdir / "config.toml"
        self._write_config(spool_capacity)
        self.engine = Proc("engine", ["engine", "--config", str(self.config),
                                      *self._broker_arg("engine")], workdir)
        self.recorder = Proc("recorder", ["record", "--config", str(self.config),
                                          *self._broker_arg("recorder")], workdir)
        self.gateways = {chair: self._gateway(chair) for chair in chairs}
        self.extra: dict[str, Reading] = {}  # readings the test published itself

    def _users(self, folder: Path, guests: Mapping[str, User]) -> Directory:
        folder.mkdir(parents=True, exist_ok=True)
        directory = new(folder / "users.toml", self.site)
        people = {"engine": User(role="engine"), "recorder": User(role="recorder"),
                  "nurse": User(role="nurse"), "screen": User(role="qa"),
                  **{f"gw-{c}": User(role="gateway", chair=c) for c in self.chairs}}
        for name, user in {**people, **guests}.items():
            directory = directory.with_user(name, user)
        write_files(directory, {name: hash_password(self.password(name), iterations=1000)
                                for name in people})
        return directory

    @staticmethod
    def password(user: str) -> str:
        return f"pw-of-{user}"

    def _broker_arg(self, user: str, port: int | None = None) -> list[str]:
        if self.directory is None:
            return [] if port is None else ["--broker", f"mqtt://127.0.0.1:{port}"]
        port = port or self.broker.port
        return ["--broker", f"mqtt://{user}:{self.password(user)}@127.0.0.1:{port}"]

    def _write_config(self, spool_capacity: int) -> None:
        chairs = "\n".join(
            f'[[gateway.chairs.{chair}]]\nname = "{name}"\nprotocol = "{protocol}"\n'
            f'endpoint = "{endpoint}"\n'
            for chair in self.chairs for name, protocol, endpoint in DEVICES)
        self.config.write_text(f"""
log_level = "INFO"
[site]
id = "{self.site}"
[mqtt]
broker = "external"
host = "127.0.0.1"
port = {self.broker.port}
keepalive_s = {KEEPALIVE_S}
reconnect_max_s = 1.0
[gateway]
spool_dir = "{self.spool_dir}"
spool_capacity = {spool_capacity}
status_interval_s = 1.0
confirm_by = "recorder"
{chairs}
[recorder]
path = "{self.recording}"
{f'store = "{self.store}"' if self.store else ""}
{f'[access]{chr(10)}users = "{self.directory.path}"' if self.directory else ""}
[engine]
state_interval_s = 1.0
[engine.technical.gateway_offline]
priority = "medium"
delay_s = {GATEWAY_OFFLINE_DELAY_S}
""")

    def ledger(self, chair: str) -> Path:
        return self.workdir / f"accepted-{chair}.jsonl"

    def _gateway(self, chair: str, port: int | None = None) -> Proc:
        argv = ["gateway", "--config", str(self.config), "--chair", chair,
                "--ledger", str(self.ledger(chair)), *self._broker_arg(f"gw-{chair}", port)]
        return Proc(f"gateway-{chair}", argv, self.workdir)

    def reroute(self, chair: str, port: int) -> Proc:
        """The chair's gateway, to be started through another port (a relay)."""
        assert not self.gateways[chair].alive
        self.gateways[chair] = self._gateway(chair, port)
        return self.gateways[chair]

    @property
    def mqtt(self) -> MqttSettings:
        """What the test's screen connects as (on a signed-in site, a QA user: it reads all
        and can publish nothing)."""
        return self.as_user("screen")

    @property
    def nurse_mqtt(self) -> MqttSettings:
        return self.as_user("nurse")

    def as_user(self, user: str) -> MqttSettings:
        signed = self.directory is not None
        return MqttSettings(broker="external", host="127.0.0.1", port=self.broker.port,
                            keepalive_s=KEEPALIVE_S, reconnect_max_s=0.5,
                            username=user if signed else None,
                            password=SecretStr(self.password(user)) if signed else None)

    def start(self) -> None:
        self.broker.start()
        self.recorder.start()
        self.engine.start()
        for proc in self.gateways.values():
            proc.start()

    def close(self) -> None:
        for proc in [*self.gateways.values(), self.engine, self.recorder]:
            proc.stop()
        self.broker.stop()

    async def up(self, screen: Screen, within: float = 30.0) -> None:
        """Every part live on the screen: the engine online, every gateway online."""
        await screen.until(lambda: screen.seen.engine and screen.seen.engine.state == "online",
                           within, "engine online")
        for chair in self.chairs:
            await screen.until(lambda c=chair: (g := screen.seen.gateways.get(c))  # type: ignore[misc]
                               and g[1].state == "online", within, f"{chair}: gateway online")

    def processes(self) -> list[Proc]:
        return [self.engine, self.recorder, *self.gateways.values()]

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.processes())

    # -- ground truth ---------------------------------------------------------------------

    def accepted(self) -> dict[str, tuple[str, str, int | None]]:
        """Every reading the gateways accepted (id -> chair, device, seq), and the test's own."""
        found: dict[str, tuple[str, str, int | None]] = {}
        for chair in self.chairs:
            if self.ledger(chair).exists():
                for line in read_ledger(self.ledger(chair)):
                    found[str(line["id"])] = (chair, str(line["device"]), line["seq"])  # type: ignore[assignment]
        for rid, reading in self.extra.items():
            found[rid] = (reading.chair, reading.device, reading.seq)
        return found

    def _central(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of the PostgreSQL recording (none before the recorder made its tables)."""
        assert self.store is not None
        with psycopg.connect(self.store, autocommit=True) as db:
            try:
                return db.execute(sql).fetchall()
            except psycopg.errors.UndefinedTable:
                return []

    def _readings(self) -> list[tuple[str, dict[str, Any]]]:
        """(chair, payload) of every valid reading in the PostgreSQL recording."""
        rows = self._central("SELECT chair, payload FROM messages"
                             " WHERE type = 'reading' AND valid")
        return [(str(chair), json.loads(bytes(payload))) for chair, payload in rows]

    def recorded(self) -> Counter[str]:
        """How many times each reading id is in the recording."""
        if self.store is not None:
            return Counter(str(payload["id"]) for _, payload in self._readings())
        if not self.recording.exists():
            return Counter()
        db = sqlite3.connect(f"file:{self.recording}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("SELECT json_extract(payload, '$.id') FROM messages "
                              "WHERE type = 'reading' AND valid = 1").fetchall()
        finally:
            db.close()
        return Counter(str(r[0]) for r in rows)

    def errors_recorded(self) -> list[str]:
        if self.store is not None:
            return [str(r[0]) for r in self._central(
                "SELECT error FROM messages WHERE NOT valid")]
        db = sqlite3.connect(f"file:{self.recording}?mode=ro", uri=True, timeout=10)
        try:
            return [str(r[0]) for r in db.execute(
                "SELECT error FROM messages WHERE valid = 0").fetchall()]
        finally:
            db.close()

    async def all_recorded(self, within: float) -> tuple[int, list[str], list[str]]:
        """Wait until every reading accepted so far is in the recording; return how many
        were accepted, which are missing and which are there more than once. The accepted
        set is taken once: readings keep coming, and the ones after it are not waited for."""
        deadline = time.monotonic() + within
        accepted = self.accepted()
        while True:
            recorded = self.recorded()
            missing = sorted(set(accepted) - set(recorded))
            doubled = sorted(rid for rid, n in recorded.items() if n > 1)
            if not missing or time.monotonic() > deadline:
                return len(accepted), missing, doubled
            await asyncio.sleep(0.25)

    def seq_gaps(self) -> dict[str, list[int]]:
        """Sequence numbers missing from the recording, per chair/device, between the first
        and the last recorded: readings lost before the gateway took them leave a gap that
        no ledger shows. (A gateway restart skips to its next reserved block, and a refused
        reading keeps its number: gaps there are expected.)"""
        if self.store is not None:
            rows = [(chair, p.get("device"), p.get("seq")) for chair, p in self._readings()]
        else:
            db = sqlite3.connect(f"file:{self.recording}?mode=ro", uri=True, timeout=10)
            try:
                rows = db.execute(
                    "SELECT chair, json_extract(payload, '$.device'),"
                    " json_extract(payload, '$.seq')"
                    " FROM messages WHERE type = 'reading' AND valid = 1").fetchall()
            finally:
                db.close()
        seqs: dict[str, set[int]] = {}
        for chair, device, seq in rows:
            if seq is not None:
                seqs.setdefault(f"{chair}/{device}", set()).add(int(seq))
        return {name: sorted(set(range(min(s), max(s) + 1)) - s)
                for name, s in seqs.items() if len(s) < max(s) - min(s) + 1}

    def resends(self) -> dict[str, int]:
        """How many times each gateway sent unconfirmed readings again (from its log)."""
        return {chair: proc.log.read_text(errors="replace").count("sending them again")
                for chair, proc in self.gateways.items() if proc.log.exists()}

    def accepted_of(self, chair: str) -> int:
        return sum(1 for c, _, _ in self.accepted().values() if c == chair)

    def describe(self, ids: list[str]) -> str:
        accepted = self.accepted()
        return ", ".join(f"{accepted[i][0]}/{accepted[i][1]}#{accepted[i][2]}"
                         for i in ids[:20] if i in accepted)


def flood_reading(chair: str, n: int) -> Reading:
    """An input of a kind no simulated device of the site sends (cuff pressure), so the
    chair's state shows exactly which of them the engine applied last."""
    now = datetime.now(UTC)
    return Reading(chair=chair, device="flood", source="ble-2a36", kind="cuff_pressure",
                   measured_at=now, received_at=now, unit="mm[Hg]",
                   values={"cuff_pressure": 40 + n % 100}, seq=n)


def _run(*argv: str) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True)
    if done.returncode != 0:
        raise OSError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


class DiskUnavailable(Exception):
    """This machine cannot give the test a filesystem of its own (not root, no loop)."""


class Disk:
    """A real filesystem of the test's own (root only), mounted at ``where``.

    ``full``: a small tmpfs, filled by a file and emptied by removing it. ``read-only``: an
    ext4 image on a loop device mounted ``errors=remount-ro``; ``fail`` makes the kernel
    record a filesystem error, so ext4 turns read-only under the open spool, as it does on
    a failing disk; ``repair`` does what an administrator does (unmount, fsck, mount again).
    """

    def __init__(self, where: Path, kind: str, size_mb: int = 4) -> None:
        self.where, self.kind, self.size_mb = where, kind, size_mb
        self.image = where.with_suffix(".img")
        self.loops: list[str] = []
        self.filler = where / "filler"

    def __enter__(self) -> Disk:
        return self

    def mount(self) -> None:
        """Make and mount the filesystem; DiskUnavailable where this machine cannot."""
        self.where.mkdir()
        try:
            if self.kind == "full":
                _run("mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(self.where))
            else:
                _run("truncate", "-s", f"{max(32, self.size_mb)}M", str(self.image))
                _run("mkfs.ext4", "-q", str(self.image))
                self._mount()
        except OSError as exc:
            raise DiskUnavailable(f"cannot make a filesystem of its own here: {exc}") from exc

    def _mount(self) -> None:
        loop = _run("losetup", "-f", "--show", str(self.image))
        self.loops.append(loop)
        _run("mount", "-o", "errors=remount-ro", loop, str(self.where))

    def fail(self) -> None:
        if self.kind == "full":
            # Unbuffered: nothing is left to write when the file is closed on a full disk.
            with contextlib.suppress(OSError), self.filler.open("ab", buffering=0) as fh:
                while True:
                    fh.write(b"\0" * 65536)
        else:
            device = Path(self.loops[-1]).name
            Path(f"/sys/fs/ext4/{device}/trigger_fs_error").write_text("fault test\n")

    def repair(self) -> None:
        if self.kind == "full":
            self.filler.unlink()
            return
        _run("umount", "-l", str(self.where))
        subprocess.run(["e2fsck", "-fy", str(self.image)], capture_output=True, check=False)
        self._mount()

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", "-l", str(self.where)], capture_output=True, check=False)
        for loop in self.loops:
            subprocess.run(["losetup", "-d", loop], capture_output=True, check=False)


@contextlib.contextmanager
def running_site(site: Site) -> Iterator[Site]:
    site.start()
    try:
        yield site
    except BaseException:
        print(site.logs())
        raise
    finally:
        site.close()
