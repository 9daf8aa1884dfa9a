"""The recorder: what it keeps, what it drops, and that a broker or recorder restart loses
nothing."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from drivers import topics
from drivers.clock import FakeClock
from drivers.mqtt import QOS, make_client
from drivers.mqtt_settings import MqttSettings
from drivers.wire import ChairState, StartSession
from monitor.recording.recorder import KEPT_INVALID, MAX_PAYLOAD, Recorder, reindex
from monitor.recording.store import Store
from tests.brokers import Broker
from tests.integration.helpers import running, unique_site
from tests.recording.conftest import StoreFactory
from tests.recording.scenario import START, hr

SITE = "east"
CHAIR = "chair-1"


def recorder(open_recording: StoreFactory, clock: FakeClock | None = None,
             **kw: object) -> Recorder:
    return Recorder(MqttSettings(), SITE, open_recording(), clock or FakeClock(START),
                    **kw)  # type: ignore[arg-type]


def test_duplicates_are_dropped_and_everything_else_kept(open_recording: StoreFactory) -> None:
    rec = recorder(open_recording)
    reading = hr(CHAIR, START, 72)
    topic = topics.reading(SITE, CHAIR, "heart_rate")
    assert rec.record(topic, reading.to_json(), START)
    assert not rec.record(topic, reading.to_json(), START + timedelta(seconds=5))  # QoS 1 dup
    # The same id with other content is not a redelivery: kept, as evidence.
    changed = reading.model_copy(update={"values": {"heart_rate": 73.0}})
    assert rec.record(topic, changed.to_json(), START)
    # A retained state seen again on reconnect is dropped; a new one is kept.
    state = ChairState(chair=CHAIR, at=START)
    state_topic = topics.state(SITE, CHAIR)
    assert rec.record(state_topic, state.to_json(), START, retained=True)
    assert not rec.record(state_topic, state.to_json(), START, retained=True)
    later = ChairState(chair=CHAIR, at=START + timedelta(seconds=5),
                       unreadable={"spo2": "spo2: unit 'mmHg' is not one of %"})
    assert rec.record(state_topic, later.to_json(), START)
    rec.store.commit()
    assert (rec.recorded, rec.duplicates, rec.invalid) == (4, 2, 0)


def test_malformed_payloads_are_recorded_raw_and_marked(open_recording: StoreFactory) -> None:
    rec = recorder(open_recording)
    topic = topics.reading(SITE, CHAIR, "spo2")
    bad = {
        topic: b"{not json",
        topics.reading(SITE, CHAIR, "heart_rate"): b'{"v":1,"kind":"heart_rate"}',
        f"chairside/v1/{SITE}/chairs/{CHAIR}/mystery": b"{}",
    }
    for t, payload in bad.items():
        assert rec.record(t, payload, START)
    assert not rec.record(topic, b"{not json", START)  # its redelivery
    rec.store.commit()
    stored = list(rec.store.messages())
    assert [m.payload for m in stored] == list(bad.values())
    assert all(not m.valid and m.error for m in stored)
    assert "JSON" in (stored[0].error or "")
    assert "not a chairside/v1 topic" in (stored[2].error or "")
    assert rec.invalid == 3


def test_store_is_wal_with_full_sync(tmp_path: Path) -> None:
    store = Store(tmp_path / "rec.db")
    assert store._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_retention_deletes_old_sessions_and_their_messages(
    open_recording: StoreFactory,
) -> None:
    clock = FakeClock(START)
    rec = recorder(open_recording, clock)
    commands = topics.commands(SITE, CHAIR)

    def session(at_days: int, code: str) -> None:
        when = START + timedelta(days=at_days)
        start = StartSession(at=when, by="nurse", patient_code=code, protocol="spravato")
        rec.record(commands, start.to_json(), when)
        from drivers.wire import CommandResult, EndSession

        result = CommandResult(id=start.id, chair=CHAIR, type="start_session", accepted=True,
                               at=when)
        rec.record(topics.command_results(SITE, CHAIR), result.to_json(), when)
        rec.record(topics.reading(SITE, CHAIR, "heart_rate"), hr(CHAIR, when, 70).to_json(),
                   when + timedelta(minutes=1))
        end = EndSession(at=when, by="nurse")
        end_at = when + timedelta(hours=2)
        rec.record(commands, end.to_json(), end_at)
        done = CommandResult(id=end.id, chair=CHAIR, type="end_session", accepted=True,
                             at=end_at)
        rec.record(topics.command_results(SITE, CHAIR), done.to_json(), end_at)

    session(0, "OLD")
    session(30, "NEW")
    rec.store.commit()
    assert [s.patient_code for s in rec.store.sessions()] == ["OLD", "NEW"]
    deleted = rec.store.purge(START + timedelta(days=40), retention_days=20)
    assert deleted == (1, 5)
    assert [s.patient_code for s in rec.store.sessions()] == ["NEW"]
    assert rec.store.count() == 5
    # The index can always be rebuilt from the messages.
    assert reindex(rec.store) == 1


async def _publish_readings(mqtt: MqttSettings, site: str, first: int, count: int) -> list[bytes]:
    sent = []
    async with make_client(mqtt, "pub-" + uuid.uuid4().hex[:8]) as client:
        for i in range(first, first + count):
            payload = hr(CHAIR, START + timedelta(seconds=i), 60 + i % 50).to_json()
            await client.publish(topics.reading(site, CHAIR, "heart_rate"), payload, qos=QOS)
            sent.append(payload)
    return sent


def _recorded(store: Store) -> list[bytes]:
    return [m.payload for m in store.messages(types=["reading"])]


@pytest.mark.broker
async def test_recorder_survives_a_broker_restart(
    own_broker: Broker, tmp_path: Path
) -> None:
    site = unique_site()
    mqtt = own_broker.settings
    store = Store(tmp_path / "rec.db")
    rec = Recorder(mqtt, site, store, FakeClock(START))
    async with running(rec.run()):
        await rec.connected.wait()
        before = await _publish_readings(mqtt, site, 0, 50)
        await rec.wait_recorded(50)
        own_broker.stop()
        own_broker.start()
        # Published at once, most of it before the recorder is back: the broker keeps it
        # in the recorder's persistent session.
        after = await _publish_readings(mqtt, site, 50, 50)
        await rec.wait_recorded(100)
        assert rec.connected.is_set()
    assert _recorded(store) == before + after
    assert rec.duplicates == 0 or len(_recorded(store)) == 100


@pytest.mark.broker
async def test_messages_sent_while_the_recorder_is_down_are_recorded(
    broker: Broker, tmp_path: Path
) -> None:
    site = unique_site()
    mqtt = broker.settings
    store = Store(tmp_path / "rec.db")
    first = Recorder(mqtt, site, store, FakeClock(START))
    async with running(first.run()):
        await first.connected.wait()
        before = await _publish_readings(mqtt, site, 0, 10)
        await first.wait_recorded(10)
    while_down = await _publish_readings(mqtt, site, 10, 30)
    second = Recorder(mqtt, site, store, FakeClock(START))
    async with running(second.run()):
        await second.wait_recorded(30)
        await asyncio.sleep(0)
    assert _recorded(store) == before + while_down


@pytest.mark.broker
async def test_a_flood_of_oversized_payloads_is_kept_in_part_marked_and_counted(
    broker: Broker, tmp_path: Path
) -> None:
    """Forty 1 MB payloads (garbage, and a reading padded with an unknown field) from any
    client: each is recorded, a few kB of it, with its size and digest; the disk is spared."""
    site = unique_site()
    mqtt = broker.settings
    path = tmp_path / "rec.db"
    store = Store(path)
    rec = Recorder(mqtt, site, store, FakeClock(START))
    topic = topics.reading(site, "chair-1", "spo2")
    padded = json.dumps({"v": 1, "id": "pad", "chair": "chair-1", "device": "oxi",
                         "source": "nonin-8", "kind": "spo2",
                         "measured_at": "2026-01-05T09:00:00.000Z",
                         "received_at": "2026-01-05T09:00:00.000Z", "values": {"spo2": 97},
                         "unit": "%", "junk": "x" * 1_000_000}).encode()
    async with running(rec.run()):
        await rec.connected.wait()
        async with make_client(mqtt, "flood-" + unique_site()) as client:
            for n in range(39):
                await client.publish(topic, bytes([n]) * 1_000_000, qos=1)
            await client.publish(topic, padded, qos=1)
        await rec.wait_recorded(40)
    kept = list(store.messages())
    assert len(kept) == 40 and rec.truncated == 40 and rec.invalid == 40
    assert all(len(m.payload) == KEPT_INVALID for m in kept)
    assert all(re.search(rf"truncated: the first {KEPT_INVALID} of 100\d{{4}} bytes kept \(sha256 ",
                         m.error or "") for m in kept)
    assert f"over the {MAX_PAYLOAD} allowed" in (kept[-1].error or "")
    store.close()
    assert path.stat().st_size < 2_000_000
