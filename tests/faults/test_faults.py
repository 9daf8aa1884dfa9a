"""Every single fault, injected into a site of real processes: nothing lost, nothing doubled,
every expected alarm on the screen.

Each scenario starts Mosquitto (persistence on, autosave once an hour), the engine, the
recorder and two gateways with three simulated devices each through the real drivers, opens
a dosed Spravato session on every chair, injects one fault, and then checks from outside:

* every reading a gateway's ledger says it accepted is in the recording, and none twice;
* a manual BP of 192/104 raises the high BP alarm on the screen within ALARM_WITHIN_S of
  the site being back (or of the command, where the fault leaves the engine up);
* the fault itself is signalled where it takes a chair's monitoring away.

``benchmarks/faults_long.py`` runs every fault at random moments for 30 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers import topics
from drivers.mqtt import QOS, connected, make_client
from drivers.mqtt_settings import BrokerRefused
from drivers.wire import ManualBp
from tests.faults.site import (
    BROKER_FINDS_SILENCE_S,
    GATEWAY_OFFLINE_DELAY_S,
    KEEPALIVE_S,
    Disk,
    DiskUnavailable,
    Nurse,
    Proc,
    Screen,
    Site,
    flood_reading,
    running_site,
)
from tests.integration.helpers import Link

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]

CHAIRS = ["c1", "c2"]
ALARM_WITHIN_S = 20.0
SETTLE_S = 60.0
"""Seconds the recording has to catch up once the fault is over (a gateway resends what is
unconfirmed after 5 s, doubling while no word comes)."""



@contextlib.asynccontextmanager
async def live(site: Site) -> AsyncIterator[tuple[Screen, Nurse]]:
    """The site running, a screen watching it and a nurse with a dosed session per chair."""
    with running_site(site):
        screen, nurse = Screen(site.mqtt, site.site), Nurse(site.nurse_mqtt, site.site)
        task = asyncio.create_task(screen.run())
        try:
            await site.up(screen)
            for chair in site.chairs:
                await nurse.open_session(chair, screen)
            await asyncio.sleep(2)  # readings flowing
            yield screen, nurse
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def nothing_lost(site: Site, *, contiguous: bool = True) -> int:
    """Every accepted reading recorded once; with ``contiguous`` (no gateway restarted and
    nothing refused), no sequence number missing either."""
    accepted, missing, doubled = await site.all_recorded(SETTLE_S)
    assert accepted > 0
    assert not missing, (f"{len(missing)} of {accepted} accepted readings are not in the "
                         f"recording: {site.describe(missing)}")
    assert not doubled, f"{len(doubled)} readings recorded twice: {site.describe(doubled)}"
    # The recording keeps one copy by construction; what must stay small is how often a
    # gateway sent its unconfirmed readings again (each time doubling its wait).
    resends = site.resends()
    assert max(resends.values(), default=0) <= 6, f"resent too often: {resends}"
    if contiguous:
        gaps = site.seq_gaps()
        assert not gaps, f"sequence numbers missing from the recording: {gaps}"
    return accepted


async def alarms_work(site: Site, screen: Screen, nurse: Nurse) -> None:
    for chair in site.chairs:
        await nurse.bp_alarm(chair, screen, ALARM_WITHIN_S)


def grown(site: Site, chair: str, device: str, since: int) -> int:
    return sum(1 for c, d, _ in site.accepted().values() if c == chair and d == device) - since


# -- the broker ---------------------------------------------------------------------------

@pytest.mark.parametrize(("how", "signed_in"),
                         [("stop", False), ("sigkill", False), ("sigkill", True)])
async def test_broker_down_and_back(tmp_path: Path, binary: str, how: str,
                                    signed_in: bool) -> None:
    """Signed in, every process has its own user and the broker's ACL: what the gateways,
    engine and recorder publish after reconnecting (wills, restore markers, confirmations)
    is all allowed, and nothing is lost to it."""
    site = Site(tmp_path, binary, CHAIRS, signed_in=signed_in)
    async with live(site) as (screen, nurse):
        site.broker.stop() if how == "stop" else site.broker.kill()
        await asyncio.sleep(5)  # the gateways spool meanwhile
        screen.forget()
        site.broker.start()
        # The nurse acts once the screen is live again: a broker killed before it saved
        # has lost the engine's subscriptions until the engine connects again.
        await site.up(screen)
        await alarms_work(site, screen, nurse)
        await nothing_lost(site)
        assert all(p.alive for p in site.processes()), site.logs()
        if signed_in:
            with pytest.raises(BrokerRefused):
                async with connected(site.as_user("nobody"), "anonymous-probe"):
                    pass


# -- the engine ---------------------------------------------------------------------------

@pytest.mark.parametrize("waiting", [0, 19, 20, 500, 5000])
async def test_engine_sigkill_with_inputs_waiting(tmp_path: Path, binary: str,
                                                  waiting: int) -> None:
    """Killed with a session open; while it is away the nurse enters a BP of 192/104 and
    ``waiting`` more inputs queue for it. Back, it has every session, never shows a chair
    idle, and raises the alarm the waiting BP calls for."""
    site = Site(tmp_path, binary, CHAIRS)
    async with live(site) as (screen, nurse):
        site.engine.kill()
        async with make_client(site.mqtt, "flood-" + uuid.uuid4().hex[:6]) as client:
            for n in range(waiting):
                reading = flood_reading("c1", n)
                site.extra[reading.id] = reading
                await client.publish(topics.reading(site.site, "c1", reading.kind),
                                     reading.to_json(), qos=QOS)
        last = reading.id if waiting else None
        await nurse.send("c2", ManualBp(at=datetime.now(UTC), by="nurse", systolic=192,
                                        diastolic=104))
        restarted = time.monotonic()
        site.engine.start()
        await screen.until(lambda: screen.alarm("c2", "bp_high"), ALARM_WITHIN_S,
                           "c2: the high BP alarm for the BP entered while the engine was down")
        await screen.until(lambda: all(screen.seen.states[c][0] > restarted for c in CHAIRS),
                           ALARM_WITHIN_S, "both chairs' states from the restarted engine")
        after = [(s.chair, s.session is not None) for at, s in screen.seen.history
                 if at > restarted]
        assert all(has for _, has in after), f"a chair shown without its session: {after}"
        if waiting:  # the last input that waited is the chair's latest cuff pressure
            await screen.until(lambda: (s := screen.state("c1")) and "cuff_pressure" in s.latest
                               and s.latest["cuff_pressure"].reading_id == last,
                               ALARM_WITHIN_S, "c1: the last waiting input applied")
        await nurse.bp_alarm("c1", screen, ALARM_WITHIN_S)
        await nothing_lost(site)


# -- the recorder -------------------------------------------------------------------------

async def test_recorder_sigkill(tmp_path: Path, binary: str) -> None:
    site = Site(tmp_path, binary, CHAIRS)
    async with live(site) as (screen, nurse):
        site.recorder.kill()
        await alarms_work(site, screen, nurse)  # monitoring does not depend on the recorder
        await asyncio.sleep(4)
        site.recorder.start()
        await nothing_lost(site)


async def test_recorder_sigkill_writing_to_a_central_store(
    tmp_path: Path, binary: str, postgres_url: str
) -> None:
    """The recorder writes to PostgreSQL and is SIGKILLed twice mid-stream: whatever it had
    not committed it had not acknowledged, so the broker and the gateways give it again;
    what it had committed is dropped as a duplicate when it comes again."""
    site = Site(tmp_path, binary, ["c1"], store=postgres_url)
    async with live(site):
        for _ in range(2):
            await asyncio.sleep(2)  # recording under way
            recorded = sum(site.recorded().values())
            assert recorded > 0, site.logs()
            site.recorder.kill()
            await asyncio.sleep(3)  # readings go on, unrecorded
            site.recorder.start()
        await nothing_lost(site)
    assert not site.recording.exists()  # every message went to PostgreSQL


# -- the gateways -------------------------------------------------------------------------

async def test_gateway_sigkill_with_a_full_spool(tmp_path: Path, binary: str) -> None:
    """With the recorder away nothing is confirmed, so the spool (100 readings) fills and
    refuses: the chair alarms at once. The gateway is killed full; back with the recorder,
    every reading it accepted is recorded once."""
    site = Site(tmp_path, binary, CHAIRS, spool_capacity=100)
    async with live(site) as (screen, nurse):
        site.recorder.kill()
        alarm = await screen.until(lambda: screen.alarm("c1", "readings_refused"), 120,
                                   "c1: readings refused by a full spool")
        assert alarm.priority == "medium" and "full" in alarm.message
        site.gateways["c1"].kill()
        held = site.accepted_of("c1")
        site.recorder.start()
        site.gateways["c1"].start()
        await nothing_lost(site, contiguous=False)
        await screen.until(lambda: site.accepted_of("c1") > held + 5, 20,
                           "c1 taking readings again")
        await screen.until(lambda: screen.alarm("c1", "readings_refused", active=False),
                           ALARM_WITHIN_S, "c1: refusal over, still shown (latched)")
        await alarms_work(site, screen, nurse)


async def test_a_network_partition_shows_the_gateway_offline(tmp_path: Path,
                                                             binary: str) -> None:
    site = Site(tmp_path, binary, CHAIRS)
    link = Link("127.0.0.1", site.broker.port)
    await link.start()
    try:
        site.reroute("c1", link.port)
        async with live(site) as (screen, nurse):
            await asyncio.sleep(2)  # heartbeats through the link, newer than the will
            cut = time.monotonic()
            link.cut.set()
            # The broker finds the silent link after 1.5 keep-alives and its next check,
            # then the delay runs (and the engine's tick, the screen's subscription).
            within = BROKER_FINDS_SILENCE_S + GATEWAY_OFFLINE_DELAY_S + 2
            await screen.until(lambda: screen.alarm("c1", "gateway_offline"), within,
                               "c1: gateway offline after the network cut")
            assert time.monotonic() - cut > 1.5 * KEEPALIVE_S - 1  # found by its silence
            assert not screen.alarm("c2", "gateway_offline")
            await asyncio.sleep(3)
            link.cut.clear()  # the network is back: the gateway reconnects by itself
            await screen.until(lambda: not screen.alarm("c1", "gateway_offline"), 30,
                               "c1: gateway back online")
            await alarms_work(site, screen, nurse)
            await nothing_lost(site)
    finally:
        await link.stop()


async def test_a_gateway_that_exits_says_so(tmp_path: Path, binary: str) -> None:
    site = Site(tmp_path, binary, CHAIRS)
    async with live(site) as (screen, nurse):
        assert site.gateways["c1"].stop() == 0
        await screen.until(lambda: screen.alarm("c1", "gateway_offline"),
                           GATEWAY_OFFLINE_DELAY_S + 10, "c1: gateway offline once it exited")
        site.gateways["c1"].start()
        await screen.until(lambda: not screen.alarm("c1", "gateway_offline"), 30,
                           "c1: gateway back")
        await alarms_work(site, screen, nurse)
        await nothing_lost(site, contiguous=False)  # the restart skips to its next block


async def test_device_unplug_and_replug(tmp_path: Path, binary: str) -> None:
    """A serial oximeter served by ``chairside simulate`` in a process of its own: killing
    that process unplugs it (its pseudo-terminal goes away); starting it again plugs it
    back at the same path."""
    site = Site(tmp_path, binary, CHAIRS)
    ports = tmp_path / "ports"
    ports.mkdir()
    device = Proc("device-c1", ["simulate", "--protocol", "nonin-8", "--name", "usb",
                                "--dir", str(ports)], tmp_path)
    device.start()
    path = ports / "sim-usb"
    await Screen.until(path.exists, 15, f"the simulated oximeter's port {path}")
    gateway = site.gateways["c1"]
    gateway.argv += ["--device", f"usb=nonin-8:{path}"]  # the chair's one device
    try:
        async with live(site) as (screen, _):
            before = grown(site, "c1", "usb", 0)
            assert before > 0, gateway.tail()
            device.kill()
            alarm = await screen.until(lambda: screen.alarm("c1", "device_offline",
                                                            subject="usb"),
                                       25, "c1: usb oximeter offline once unplugged")
            assert alarm.priority == "medium"
            count = grown(site, "c1", "usb", 0)
            device.start()
            await screen.until(lambda: not screen.alarm("c1", "device_offline"), 20,
                               "c1: usb oximeter back")
            await screen.until(lambda: grown(site, "c1", "usb", count) > 3, 10,
                               "c1: readings from the replugged oximeter")
            await nothing_lost(site)
    finally:
        device.stop()


async def test_a_flood_of_malformed_and_oversized_payloads(tmp_path: Path,
                                                           binary: str) -> None:
    site = Site(tmp_path, binary, CHAIRS)
    async with live(site) as (screen, nurse):
        size_before = _size(site.recording)
        async with make_client(site.mqtt, "flood-" + uuid.uuid4().hex[:6]) as client:
            for n in range(300):
                await client.publish(topics.reading(site.site, "c1", "spo2"),
                                     b"\xff\x00 not json " + str(n).encode(), qos=QOS)
            for n in range(20):  # each different: identical ones are one redelivered message
                await client.publish(topics.reading(site.site, "c2", "spo2"),
                                     b"{%d" % n + b"x" * 1_000_000, qos=QOS)
            ghost = flood_reading("ghost", 0).model_copy(update={"chair": "ghost"})
            await client.publish(topics.reading(site.site, "ghost", "heart_rate"),
                                 ghost.to_json(), qos=QOS)
            # Times with no UTC time (a monitor's clock never set, east of UTC; the
            # calendar's last second, west of it): converting one raised OverflowError,
            # which pydantic does not catch, and the engine service ended on it.
            for n, when in enumerate(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]):
                reading = flood_reading("c1", n).to_json()
                stamp = reading.split(b'"measured_at":"', 1)[1].split(b'"', 1)[0]
                await client.publish(topics.reading(site.site, "c1", "cuff_pressure"),
                                     reading.replace(stamp, when.encode(), 1), qos=QOS)
        await screen.until(lambda: (e := screen.seen.engine) and e.rejected >= 323, 30,
                           "engine status counting the rejected messages")
        await alarms_work(site, screen, nurse)
        await nothing_lost(site)
        errors = site.errors_recorded()
        assert len(errors) >= 322
        assert sum("outside the calendar" in e for e in errors) == 2
        assert sum("truncated" in e for e in errors) >= 20
        grew = _size(site.recording) - size_before
        assert grew < 12_000_000, f"the recording grew by {grew} bytes for 20 MB of garbage"
        assert "ghost" not in screen.seen.states


def _size(db: Path) -> int:
    """A SQLite file's size with its write-ahead log."""
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


# -- the spool's disk ---------------------------------------------------------------------

@pytest.mark.parametrize(("fault", "recorder"), [("full", "away"), ("read-only", "away"),
                                                 ("read-only", "up")])
async def test_a_failing_spool_disk_with_readings_waiting(tmp_path: Path, binary: str,
                                                          fault: str, recorder: str) -> None:
    """Readings wait in the spools (the recorder is away, or up and confirming, so removals
    meet the failing disk too); then the spools' disk fills up or turns read-only. The
    gateways live on, the chairs alarm at once, and they recover by themselves when the disk
    does; everything they accepted is recorded."""
    with Disk(tmp_path / "disk", fault) as disk:
        try:
            disk.mount()
        except DiskUnavailable as exc:
            pytest.skip(str(exc))
        site = Site(tmp_path, binary, CHAIRS, spool_dir=disk.where)
        async with live(site) as (screen, nurse):
            if recorder == "away":
                site.recorder.kill()
                await asyncio.sleep(3)  # readings waiting for the recorder's word
            disk.fail()
            alarm = await screen.until(lambda: screen.alarm("c1", "readings_refused"), 30,
                                       f"c1: readings refused by a {fault} spool disk")
            assert alarm.priority == "medium"
            await asyncio.sleep(3)
            assert all(g.alive for g in site.gateways.values()), site.logs()
            disk.repair()
            count = site.accepted_of("c1")
            await screen.until(lambda: site.accepted_of("c1") > count + 5, 20,
                               "c1 accepting readings again once the disk recovered")
            if fault == "read-only":  # the spool moved to the repaired filesystem
                assert "reopened on its new disk" in site.gateways["c1"].log.read_text()
            if recorder == "away":
                site.recorder.start()
            await nothing_lost(site, contiguous=False)  # refused readings keep their numbers
            await screen.until(lambda: screen.alarm("c1", "readings_refused", active=False),
                               ALARM_WITHIN_S, "c1: refusal over, still shown (latched)")
            await alarms_work(site, screen, nurse)
