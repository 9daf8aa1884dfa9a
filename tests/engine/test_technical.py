"""The technical conditions judged from their narrow inputs alone, without a chair."""

from __future__ import annotations

from datetime import datetime, timedelta

from drivers.wire import DeviceState
from monitor.engine.alarms import AlarmBook
from monitor.engine.config import EngineConfig
from monitor.engine.technical import Equipment, TechnicalConditions
from tests.engine.helpers import CHAIR, T0


def _conditions() -> tuple[TechnicalConditions, AlarmBook]:
    config = EngineConfig()
    book = AlarmBook(CHAIR)
    return TechnicalConditions(book, config.technical, config.no_data_s,
                               config.audio_pause), book


def _equipment(*, devices: dict[str, DeviceState] | None = None, spo2_at: datetime | None = T0,
               refusing: frozenset[str] = frozenset()) -> Equipment:
    return Equipment(streams={}, devices=devices or {}, reasons={"oxi": "unplugged"},
                     refusing=refusing, gateway=None, spo2_at=spo2_at)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_an_offline_device_alarms_once_its_delay_has_passed() -> None:
    technical, book = _conditions()
    offline = _equipment(devices={"oxi": "offline"})
    assert technical.evaluate(offline, "spravato", False, "dosing", _at(0)) == []
    assert technical.evaluate(offline, "spravato", False, "dosing", _at(9)) == []
    events = technical.evaluate(offline, "spravato", False, "dosing", _at(10))
    assert [(e.condition, e.event, e.message) for e in events] == [
        ("device_offline", "raised", "device oxi offline: unplugged")]
    back = technical.evaluate(_equipment(devices={"oxi": "connected"}), "spravato", False,
                              "dosing", _at(11))
    assert [(e.condition, e.event) for e in back] == [("device_offline", "cleared")]
    assert book.alarms == {}


def test_a_new_session_forgets_how_long_a_condition_held() -> None:
    technical, _ = _conditions()
    offline = _equipment(devices={"oxi": "offline"})
    technical.evaluate(offline, "spravato", False, "dosing", _at(0))
    technical.begin()
    assert technical.evaluate(offline, "spravato", False, "dosing", _at(10)) == []


def test_required_spo2_missing_names_the_protocol() -> None:
    technical, _ = _conditions()
    events = technical.evaluate(_equipment(spo2_at=None), "spravato", True, "dosing", _at(0))
    assert [(e.condition, e.message) for e in events] == [
        ("spo2_missing", "SpO2 required by protocol spravato: no SpO2 reading yet")]
    assert technical.evaluate(_equipment(spo2_at=None), "spravato", True, "pre_dose",
                              _at(1))[0].event == "cleared"
