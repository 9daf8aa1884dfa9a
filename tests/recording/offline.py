"""A recording made without a broker: the inputs and the engine's answers to them, given to
the recorder at the times they would have arrived (for tests of what comes after)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from drivers.clock import FakeClock
from drivers.mqtt_settings import MqttSettings
from monitor.engine import EngineConfig
from monitor.recording.recorder import Recorder
from monitor.recording.replay import with_engine_outputs
from monitor.recording.store import RecordingStore, Store
from monitor.recording.wirelog import WireRecord
from tests.recording.scenario import SITE, spravato_inputs

SPO2_ALARM = "chair-1:spo2_low:5"
"""Deterministic: the fifth alarm of chair-1 is the SpO2 87 % alarm at 09:50:10."""


def record_offline(db: Path, records: list[WireRecord] | None = None,
                   config: EngineConfig | None = None) -> Store:
    """Record a session (by default the Spravato one) into a new recording file."""
    store = Store(db)
    recorder = Recorder(MqttSettings(), SITE, store, FakeClock())
    made = spravato_recording() if records is None else with_engine_outputs(
        records, config or EngineConfig(), SITE)
    for record in made:
        recorder.record(record.topic, record.payload, record.received_at)
    store.commit()
    return store


def record_site(store: RecordingStore, site: str,
                records: tuple[WireRecord, ...] | None = None) -> Recorder:
    """Record a session (by default the Spravato one) as ``site``'s recorder would, into a
    store that other sites may share."""
    recorder = Recorder(MqttSettings(), site, store, FakeClock())
    for record in spravato_recording() if records is None else records:
        topic = record.topic.replace(f"/{SITE}/", f"/{site}/", 1)
        recorder.record(topic, record.payload, record.received_at)
    store.commit()
    return recorder


@cache
def spravato_recording() -> tuple[WireRecord, ...]:
    """The hand-computed Spravato session with its SpO2 alarm acknowledged, as recorded."""
    return tuple(with_engine_outputs(spravato_inputs(ack_alarm_id=SPO2_ALARM), EngineConfig(), SITE))
