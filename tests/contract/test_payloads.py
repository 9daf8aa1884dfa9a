"""Malformed MQTT payloads are logged with topic and reason, counted, and skipped."""

from __future__ import annotations

import logging

import pytest

from drivers import topics
from drivers.mqtt_settings import MqttSettings
from drivers.payloads import PayloadDecoder
from drivers.wire import Reading

GOOD = (
    b'{"v":1,"id":"r1","chair":"chair-1","device":"ox","source":"nonin-8","kind":"spo2",'
    b'"measured_at":"2026-01-05T09:00:00.000Z","received_at":"2026-01-05T09:00:00.000Z",'
    b'"values":{"spo2":97},"unit":"%"}'
)
TOPIC = topics.reading("clinic", "chair-1", "spo2")


def test_good_payload_decodes() -> None:
    inbound = PayloadDecoder().decode(TOPIC, GOOD)
    assert inbound is not None
    assert isinstance(inbound.payload, Reading)
    assert inbound.topic.chair == "chair-1"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (TOPIC, b"{not json", "Invalid JSON"),
        (TOPIC, b"\xff\xfe\x00", "Invalid JSON"),
        (TOPIC, b"[1,2,3]", "should be an object"),
        (TOPIC, GOOD.replace(b'"spo2":97', b'"spo2":140'), "out of range"),
        (TOPIC, GOOD.replace(b'"v":1', b'"v":7'), "v:"),
        (topics.reading("clinic", "chair-2", "spo2"), GOOD, "does not match the topic"),
        ("chairside/v1/clinic/chairs/chair-1/bogus", GOOD, "not a chairside/v1 topic"),
        (topics.commands("clinic", "chair-1"), b'{"v":1,"type":"fly"}', "type"),
        # a monitor whose clock was never set, east of UTC: no UTC time exists for it
        (TOPIC, GOOD.replace(b'"2026-01-05T09:00:00.000Z"', b'"0001-01-01T00:00:00+01:00"', 1),
         "outside the calendar once in UTC"),
        (TOPIC, GOOD.replace(b'"2026-01-05T09:00:00.000Z"', b'"9999-12-31T23:59:59-01:00"', 1),
         "outside the calendar once in UTC"),
    ],
)
def test_bad_payloads_are_counted_and_named(
    topic: str, payload: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    decoder = PayloadDecoder()
    with caplog.at_level(logging.WARNING):
        assert decoder.decode(topic, payload) is None
    assert decoder.rejected[topic] == 1
    assert decoder.rejected_total == 1
    assert decoder.last_error is not None and reason in decoder.last_error
    assert topic in caplog.text


def test_decoder_carries_on_after_a_bad_payload() -> None:
    decoder = PayloadDecoder()
    assert decoder.decode(TOPIC, b"garbage") is None
    assert decoder.decode(TOPIC, GOOD) is not None
    assert decoder.rejected_total == 1


def test_empty_payload_is_a_retained_delete_not_an_error() -> None:
    decoder = PayloadDecoder()
    assert decoder.decode(topics.state("clinic", "chair-1"), b"") is None
    assert decoder.rejected_total == 0


@pytest.mark.parametrize(
    ("url", "host", "port", "user", "tls"),
    [
        ("mqtt://broker.local:1884", "broker.local", 1884, None, False),
        ("mqtt://nurse:s%40cret@10.0.0.5", "10.0.0.5", 1883, "nurse", False),
        ("mqtts://broker", "broker", 8883, None, True),
    ],
)
def test_broker_url_overrides(url: str, host: str, port: int, user: str | None, tls: bool) -> None:
    s = MqttSettings(broker="embedded").with_url(url)
    assert (s.broker, s.host, s.port, s.username, s.tls) == ("external", host, port, user, tls)
    if user:
        assert s.password is not None and s.password.get_secret_value() == "s@cret"


@pytest.mark.parametrize("url", ["http://x:1", "mqtt://", "mqtt://host:99999", "host:1883"])
def test_bad_broker_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="--broker"):
        MqttSettings().with_url(url)
