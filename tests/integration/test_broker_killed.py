"""Mosquitto killed (SIGKILL) mid-stream, with an autosave far off: what it acknowledged but
had not saved is gone from the broker. No reading may be lost: a gateway lets a reading go
only on the recorder's word that it is committed. Ground truth is what the gateway accepted,
by id, against what is in the recording."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.clock import FakeClock
from drivers.gateway import Gateway
from drivers.spool import Spool
from drivers.wire import Reading
from monitor.recording.recorder import Recorder
from monitor.recording.store import Store
from tests.brokers import Broker, Mosquitto, mosquitto_path
from tests.devices.helpers import wait_until
from tests.integration.helpers import bp, running, subscribed, unique_site

pytestmark = pytest.mark.broker


@pytest.fixture
def killable_broker(tmp_path: Path) -> Mosquitto:
    binary = mosquitto_path()
    if binary is None:
        pytest.skip("Mosquitto is not installed (the test kills its process)")
    workdir = tmp_path / "broker"
    workdir.mkdir()
    broker = Mosquitto(workdir, binary, autosave_interval=3600)
    broker.start()
    return broker


async def test_no_reading_is_lost_when_the_broker_is_killed(
    killable_broker: Mosquitto, tmp_path: Path,
) -> None:
    site, chair = unique_site(), "chair-1"
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    mqtt = killable_broker.settings
    store = Store(tmp_path / "rec.db")
    recorder = Recorder(mqtt, site, store, clock)
    gateway = Gateway(mqtt, site, chair, clock, Spool(tmp_path / "spool.db"),
                      confirm_by="recorder")
    accepted: list[str] = []
    try:
        async with running(recorder.run(), gateway.run()):
            await recorder.connected.wait()
            await gateway.connected.wait()
            for n in range(600):
                reading = bp(chair, clock, 110 + n % 50, 70)
                assert gateway.accept(reading)
                accepted.append(reading.id)
                clock.advance(1)
                if n == 300:
                    killable_broker.kill()
                    await asyncio.sleep(1.0)
                    killable_broker.start()
                await asyncio.sleep(0.002)
            assert await gateway.drain(within=60), f"{len(gateway.outbox)} never confirmed"
        recorded = [m.payload for m in store.messages(types=["reading"])]
        ids = [Reading.model_validate_json(p).id for p in recorded]
        assert sorted(ids) == sorted(accepted), (
            f"lost {len(set(accepted) - set(ids))}, doubled {len(ids) - len(set(ids))}")
        assert len(ids) == len(set(ids))
    finally:
        store.close()
        killable_broker.stop()


async def test_readings_nobody_recorded_are_sent_again_until_the_recorder_has_them(
    broker: Broker, tmp_path: Path,
) -> None:
    """Published while no recorder subscribes (as after a broker restart that lost the
    recorder's session): the broker has no one to give them to; the gateway, lacking the
    recorder's word, sends them again once the recorder is there."""
    site, chair = unique_site(), "chair-2"
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    mqtt = broker.settings
    store = Store(tmp_path / "rec.db")
    gateway = Gateway(mqtt, site, chair, clock, Spool(tmp_path / "spool.db"),
                      confirm_by="recorder", resend_after_s=0.5)
    sent = [bp(chair, clock, 120 + n, 80) for n in range(10)]
    try:
        async with running(gateway.run()):
            await gateway.connected.wait()
            for reading in sent:
                assert gateway.accept(reading)
            await wait_until(lambda: gateway.published >= len(sent), what="all published")
            assert len(gateway.outbox) == len(sent)  # PUBACKed, yet kept
            recorder = Recorder(mqtt, site, store, clock)
            async with running(recorder.run()):
                assert await gateway.drain(within=15)
        ids = [Reading.model_validate_json(m.payload).id
               for m in store.messages(types=["reading"])]
        assert ids == [r.id for r in sent]
    finally:
        store.close()


async def test_a_reading_the_broker_lost_is_sent_again_while_newer_ones_are_confirmed(
    broker: Broker, tmp_path: Path,
) -> None:
    """The recorder's word for the readings that follow says nothing of one it never got: a
    chair streaming once a second must not hold an orphan back for ever."""
    site, chair = unique_site(), "chair-4"
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    mqtt = broker.settings
    store = Store(tmp_path / "rec.db")
    gateway = Gateway(mqtt, site, chair, clock, Spool(tmp_path / "spool.db"),
                      confirm_by="recorder", resend_after_s=0.5)
    orphan = bp(chair, clock, 150, 90)
    try:
        async with running(gateway.run()):
            await gateway.connected.wait()
            assert gateway.accept(orphan)  # nobody records it: as if the broker lost it
            await wait_until(lambda: gateway.published >= 1, what="the orphan published")
            recorder = Recorder(mqtt, site, store, clock)
            async with running(recorder.run()):
                await recorder.connected.wait()
                stream = []
                for n in range(30):  # a newer reading confirmed every 0.1 s, for 3 s
                    stream.append(bp(chair, clock, 120, 80 - n % 5))
                    assert gateway.accept(stream[-1])
                    await asyncio.sleep(0.1)
                recorded = {Reading.model_validate_json(m.payload).id
                            for m in store.messages(types=["reading"])}
                assert orphan.id in recorded, "the orphan waited while the stream flowed"
                assert await gateway.drain(within=10)
        ids = {Reading.model_validate_json(m.payload).id
               for m in store.messages(types=["reading"])}
        assert ids == {orphan.id} | {r.id for r in stream}
    finally:
        store.close()


async def test_with_no_recorder_the_gateway_resends_ever_more_rarely(
    broker: Broker, tmp_path: Path,
) -> None:
    """No recorder at all: the readings wait in the spool (nothing is let go unrecorded), and
    the resends back off, so a site whose recorder is down is not flooded by its gateways."""
    site, chair = unique_site(), "chair-3"
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    gateway = Gateway(broker.settings, site, chair, clock, Spool(tmp_path / "spool.db"),
                      confirm_by="recorder", resend_after_s=0.2)
    async with running(gateway.run()):
        await gateway.connected.wait()
        for n in range(10):
            assert gateway.accept(bp(chair, clock, 120 + n, 80))
        await asyncio.sleep(1.6)
    assert len(gateway.outbox) == 10
    # Sent once, then again after 0.2, 0.6 and 1.4 s: 40 at most (every 0.2 s would be 80).
    assert 10 <= gateway.published <= 40, gateway.published


async def test_a_recorder_that_lags_is_not_sent_the_whole_outbox_again_and_again(
    broker: Broker, tmp_path: Path,
) -> None:
    """A recorder whose word comes 1.5 s after each reading (three times the gateway's wait
    here) still confirms everything; meanwhile each reading goes out again a few times, not
    once per wait: the wait grows while the oldest stays unconfirmed."""
    from collections import Counter

    from drivers import topics
    from drivers.mqtt import QOS, make_client, payload_bytes
    from drivers.wire import Recorded

    site, chair = unique_site(), "chair-5"
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    mqtt = broker.settings
    gateway = Gateway(mqtt, site, chair, clock, Spool(tmp_path / "spool.db"),
                      confirm_by="recorder", resend_after_s=0.5)
    copies: Counter[str] = Counter()
    ready = asyncio.Event()

    async def slow_recorder() -> None:
        async with make_client(mqtt, "slow-" + site) as client:
            await client.subscribe(topics.chairs_filter(site, "readings/+"), qos=QOS)
            ready.set()

            async def confirm(rid: str) -> None:
                await asyncio.sleep(1.5)
                word = Recorded(chair=chair, at=clock.now(), ids=[rid])
                await client.publish(topics.recorded(site, chair), word.to_json(), qos=QOS)

            pending = set()
            async for message in client.messages:
                rid = Reading.model_validate_json(payload_bytes(message)).id
                copies[rid] += 1
                task = asyncio.create_task(confirm(rid))
                pending.add(task)
                task.add_done_callback(pending.discard)

    async with running(slow_recorder(), gateway.run()):
        await subscribed(ready, 15, "the slow recorder")
        await gateway.connected.wait()
        for n in range(20):
            assert gateway.accept(bp(chair, clock, 120 + n, 80))
            await asyncio.sleep(0.1)
        assert await gateway.drain(within=20)
    assert len(copies) == 20
    assert max(copies.values()) <= 3, copies  # one wait at 0.5 s, the next at 1 s, ...
