"""Every fault at random moments for 30 minutes, on a site of 12 chairs: 0 lost, 0 missed.

    uv run python benchmarks/faults_long.py [--minutes 30] [--chairs 12] [--seed 1]

The same site of real processes as the fault suite (``tests/faults``): Mosquitto with
persistence (autosave once an hour, so a SIGKILL loses what it held in memory), the engine,
the recorder and one gateway per chair with three simulated devices through the real
drivers; every gateway reaches the broker through a relay of its own, so any one can be cut
off. Chair c1 also has a serial oximeter in a process of its own, to unplug. The spools sit
on a tmpfs of their own (when run as root), to fill.

One fault at a time, at random, with 10 to 40 s of normal running between. After each, the
site must be back by itself; then a scripted nurse enters a BP of 192/104 at a random chair
and the high BP alarm must show within 20 s, and the fault's own alarm (gateway offline,
device offline, readings refused) must have shown within its limit. At the end every
reading a gateway's ledger holds must be in the recording once.

Writes its table to ``benchmarks/RESULTS-faults.md`` with the machine and the load average.
Exit code 0 when nothing was lost, doubled or missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers import topics  # noqa: E402
from drivers.mqtt import QOS, make_client  # noqa: E402
from drivers.wire import AckAlarm, ManualBp  # noqa: E402
from tests.brokers import mosquitto_path  # noqa: E402
from tests.faults.site import (  # noqa: E402
    BROKER_FINDS_SILENCE_S,
    GATEWAY_OFFLINE_DELAY_S,
    Disk,
    DiskUnavailable,
    Nurse,
    Proc,
    Screen,
    Site,
    flood_reading,
)
from tests.integration.helpers import Link  # noqa: E402

ALARM_WITHIN_S = 20.0
PARTITION_WITHIN_S = BROKER_FINDS_SILENCE_S + GATEWAY_OFFLINE_DELAY_S + 5


@dataclass
class Tally:
    runs: int = 0
    alarms_expected: int = 0
    alarms_missed: int = 0
    latencies: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class LongRun:
    def __init__(self, workdir: Path, chairs: int, rng: random.Random) -> None:
        self.workdir = workdir
        self.rng = rng
        binary = mosquitto_path()
        if binary is None:
            raise SystemExit("the long fault run needs Mosquitto")
        self.disk: Disk | None = Disk(workdir / "disk", "full", size_mb=64)
        try:
            self.disk.mount()
        except DiskUnavailable as exc:
            print(f"no disk of its own ({exc}): the full-disk fault is left out")
            self.disk = None
        names = [f"c{n + 1}" for n in range(chairs)]
        self.site = Site(workdir, binary, names,
                         spool_dir=self.disk.where if self.disk else None)
        self.links = {c: Link("127.0.0.1", self.site.broker.port) for c in names}
        self.device = Proc("device-c1", ["simulate", "--protocol", "nonin-8", "--name", "usb",
                                         "--dir", str(workdir / "ports")], workdir)
        self.screen = Screen(self.site.mqtt, self.site.site)
        self.nurse = Nurse(self.site.nurse_mqtt, self.site.site)
        self.tally: dict[str, Tally] = defaultdict(Tally)

    async def start(self) -> None:
        (self.workdir / "ports").mkdir()
        self.device.start()
        port = self.workdir / "ports" / "sim-usb"
        await Screen.until(port.exists, 15, "the unpluggable oximeter's port")
        for chair, link in self.links.items():
            await link.start()
            self.site.reroute(chair, link.port)
        self.site.gateways["c1"].argv += ["--device", f"usb=nonin-8:{port}"]
        self.site.start()
        asyncio.get_running_loop().create_task(self.screen.run())
        await self.site.up(self.screen, within=60)
        for chair in self.site.chairs:
            await self.nurse.open_session(chair, self.screen, within=60)

    def stop(self) -> None:
        self.site.close()
        self.device.stop()
        if self.disk is not None:
            self.disk.__exit__()

    async def expect(self, fault: str, check: object, within: float, what: str) -> None:
        tally = self.tally[fault]
        tally.alarms_expected += 1
        began = time.monotonic()
        try:
            await self.screen.until(check, within, what)  # type: ignore[arg-type]
            tally.latencies.append(time.monotonic() - began)
        except AssertionError as exc:
            tally.alarms_missed += 1
            # Late or never: wait a minute more, to tell which.
            try:
                await self.screen.until(check, 60, what)  # type: ignore[arg-type]
                tally.notes.append(f"{exc}; shown after {time.monotonic() - began:.1f} s")
            except AssertionError:
                tally.notes.append(f"{exc}; not shown after {time.monotonic() - began:.0f} s")

    async def back(self) -> None:
        """The whole site is live again, as the screen sees it."""
        await self.site.up(self.screen, within=60)

    async def bp_check(self, fault: str) -> None:
        chair = self.rng.choice(self.site.chairs)
        tally = self.tally[fault]
        tally.alarms_expected += 1
        try:
            tally.latencies.append(await self.nurse.bp_alarm(chair, self.screen, ALARM_WITHIN_S))
        except AssertionError as exc:
            tally.alarms_missed += 1
            tally.notes.append(str(exc))

    # -- the faults -----------------------------------------------------------------------

    async def broker_stop(self) -> None:
        self.site.broker.stop()
        await asyncio.sleep(self.rng.uniform(2, 10))
        self.screen.forget()
        self.site.broker.start()

    async def broker_sigkill(self) -> None:
        self.site.broker.kill()
        await asyncio.sleep(self.rng.uniform(2, 10))
        self.screen.forget()
        self.site.broker.start()

    async def engine_sigkill(self) -> None:
        self.site.engine.kill()
        waiting = self.rng.choice([0, 19, 20, 500, 5000])
        async with make_client(self.site.mqtt, "flood-" + uuid.uuid4().hex[:6]) as client:
            for n in range(waiting):
                reading = flood_reading("c1", n)
                self.site.extra[reading.id] = reading
                await client.publish(topics.reading(self.site.site, "c1", reading.kind),
                                     reading.to_json(), qos=QOS)
        chair = self.rng.choice(self.site.chairs)
        await self.nurse.send(chair, ManualBp(at=datetime.now(UTC), by="nurse", systolic=192,
                                              diastolic=104))
        self.screen.forget()
        self.site.engine.start()
        self.tally["engine SIGKILL"].notes.append(f"{waiting} inputs waiting")
        await self.expect("engine SIGKILL", lambda: self.screen.alarm(chair, "bp_high"),
                          ALARM_WITHIN_S + 10, f"{chair}: BP entered while the engine was down")
        alarm = self.screen.alarm(chair, "bp_high")
        if alarm is not None:  # make way for the next check
            await self.nurse.clear_bp_alarm(chair, self.screen, alarm, ALARM_WITHIN_S)

    async def recorder_sigkill(self) -> None:
        self.site.recorder.kill()
        await asyncio.sleep(self.rng.uniform(2, 15))
        self.site.recorder.start()

    async def gateway_sigkill(self) -> None:
        proc = self.site.gateways[self.rng.choice(self.site.chairs)]
        proc.kill()
        await asyncio.sleep(self.rng.uniform(1, 5))
        proc.start()

    async def gateway_exit(self) -> None:
        chair = self.rng.choice(self.site.chairs)
        proc = self.site.gateways[chair]
        proc.stop()
        await self.expect("gateway exit", lambda: self.screen.alarm(chair, "gateway_offline"),
                          GATEWAY_OFFLINE_DELAY_S + 5, f"{chair}: gateway offline")
        proc.start()
        self.screen.forget()

    async def partition(self) -> None:
        chair = self.rng.choice(self.site.chairs)
        link = self.links[chair]
        link.cut.set()
        await self.expect("partition", lambda: self.screen.alarm(chair, "gateway_offline"),
                          PARTITION_WITHIN_S, f"{chair}: gateway offline after the cut")
        await asyncio.sleep(self.rng.uniform(0, 10))
        link.cut.clear()
        self.screen.forget()

    async def unplug(self) -> None:
        self.device.kill()
        await self.expect("unplug and replug",
                          lambda: self.screen.alarm("c1", "device_offline", subject="usb"),
                          25, "c1: usb oximeter offline")
        self.device.start()
        await self.screen.until(lambda: not self.screen.alarm("c1", "device_offline"), 30,
                                "c1: usb oximeter back")

    async def flood(self) -> None:
        async with make_client(self.site.mqtt, "garbage-" + uuid.uuid4().hex[:6]) as client:
            for n in range(self.rng.randint(50, 500)):
                chair = self.rng.choice(self.site.chairs)
                payload = (b"{%d" % n + b"x" * 300_000) if n % 25 == 0 else b"\xff garbage %d" % n
                await client.publish(topics.reading(self.site.site, chair, "spo2"), payload,
                                     qos=QOS)

    async def disk_full(self) -> None:
        assert self.disk is not None
        self.disk.fail()
        # A spool whose file still has room inside it (SQLite reuses its free pages and its
        # write-ahead log) goes on storing: no reading is refused, and none must alarm. The
        # chairs whose ledgers stop growing are refusing, and each of those must alarm.
        counts = self._per_chair()
        await asyncio.sleep(6)
        grown = self._per_chair()
        refusing = [c for c in self.site.chairs if grown[c] == counts[c]]
        self.tally["spool disk full"].notes.append(
            f"{len(refusing)} of {len(self.site.chairs)} spools refusing")
        for chair in refusing:
            await self.expect("spool disk full",
                              lambda c=chair: self.screen.alarm(c, "readings_refused"), 14,
                              f"{chair}: readings refused by a full disk")
        await asyncio.sleep(self.rng.uniform(0, 5))
        self.disk.repair()
        # Latched: acknowledge every chair's, so the next full disk shows anew.
        await asyncio.sleep(3)
        for c in self.site.chairs:
            alarm = self.screen.alarm(c, "readings_refused", active=None)
            if alarm is not None:
                await self.nurse.send(c, AckAlarm(at=datetime.now(UTC), by="nurse",
                                                  alarm_id=alarm.alarm_id))

    def _per_chair(self) -> dict[str, int]:
        counts = dict.fromkeys(self.site.chairs, 0)
        for chair, _, _ in self.site.accepted().values():
            counts[chair] += 1
        return counts

    def faults(self) -> dict[str, object]:
        found: dict[str, object] = {
            "broker stop/start": self.broker_stop,
            "broker SIGKILL": self.broker_sigkill,
            "engine SIGKILL": self.engine_sigkill,
            "recorder SIGKILL": self.recorder_sigkill,
            "gateway SIGKILL": self.gateway_sigkill,
            "gateway exit": self.gateway_exit,
            "partition": self.partition,
            "unplug and replug": self.unplug,
            "malformed flood": self.flood,
        }
        if self.disk is not None:
            found["spool disk full"] = self.disk_full
        return found

    async def run(self, minutes: float) -> None:
        faults = self.faults()
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            await asyncio.sleep(self.rng.uniform(10, 40))
            name = self.rng.choice(sorted(faults))
            print(f"{time.strftime('%H:%M:%S')} {name}", flush=True)
            self.tally[name].runs += 1
            await faults[name]()  # type: ignore[operator]
            try:
                await self.back()
            except AssertionError as exc:
                self.tally[name].notes.append(f"site not back: {exc}")
            await self.bp_check(name)


def machine() -> str:
    load = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    return (f"{platform.node()}: {os.cpu_count()} cores ({cpu}), Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}; load "
            f"average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def table(run: LongRun, minutes: float, chairs: int, seed: int, accepted: int,
          missing: list[str], doubled: list[str], before: str, after: str) -> str:
    lines = [
        "# Long fault run",
        "",
        f"`uv run python benchmarks/faults_long.py --minutes {minutes:g} --chairs {chairs} "
        f"--seed {seed}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"- Machine at the start: {before}",
        f"- Machine at the end: {after}",
        f"- Readings the gateways accepted (ledgers, plus the inputs published while the "
        f"engine was down): {accepted}",
        f"- Lost (accepted, not in the recording): **{len(missing)}**",
        f"- Recorded twice: **{len(doubled)}**",
        "",
        "| fault | times | alarms expected | missed | slowest (s) | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, t in sorted(run.tally.items()):
        slowest = f"{max(t.latencies):.1f}" if t.latencies else "-"
        notes = "; ".join(sorted(set(t.notes)))[:300]
        lines.append(f"| {name} | {t.runs} | {t.alarms_expected} | {t.alarms_missed} | "
                     f"{slowest} | {notes} |")
    lines += [
        "",
        "An alarm is expected after every fault (the high BP alarm for a manual BP of 192/104 "
        "at a random chair, within 20 s of the site being back) and for each fault that takes "
        "a chair's monitoring away (gateway offline after a partition within the broker's "
        f"own bound, {BROKER_FINDS_SILENCE_S:g} s: 1.5 keep-alives plus up to 7 s because "
        "Mosquitto 2.0 checks keep-alives every 6 s (RESULTS-keepalive.md), then its "
        f"{GATEWAY_OFFLINE_DELAY_S:g} s delay, 5 s allowed for the rest; device offline, "
        "readings refused). Slowest: the longest wait for any of them.",
    ]
    return "\n".join(lines) + "\n"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--chairs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-faults.md")
    args = parser.parse_args()
    before = machine()
    workdir = Path(tempfile.mkdtemp(prefix="chairside-faults-"))
    run = LongRun(workdir, args.chairs, random.Random(args.seed))
    try:
        await run.start()
        await run.run(args.minutes)
        accepted, missing, doubled = await run.site.all_recorded(120)
    except BaseException:
        print(run.site.logs())
        raise
    finally:
        run.stop()
        for link in run.links.values():
            with contextlib.suppress(Exception):
                await link.stop()
    text = table(run, args.minutes, args.chairs, args.seed, accepted, missing, doubled,
                 before, machine())
    args.out.write_text(text)
    print(text)
    missed = sum(t.alarms_missed for t in run.tally.values())
    shutil.rmtree(workdir, ignore_errors=True)
    return 0 if not missing and not doubled and not missed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
