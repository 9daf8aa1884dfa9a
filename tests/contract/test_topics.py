"""The topic contract: one place builds and parses every topic."""

from __future__ import annotations

import pytest

from drivers import topics


@pytest.mark.parametrize(
    ("built", "parsed"),
    [
        (topics.reading("north", "chair-1", "spo2"),
         topics.Topic("reading", "north", "chair-1", kind="spo2")),
        (topics.device_status("north", "chair-1", "cuff"),
         topics.Topic("device_status", "north", "chair-1", device="cuff")),
        (topics.gateway_status("north", "chair-1"), topics.Topic("gateway_status", "north", "chair-1")),
        (topics.commands("north", "c2"), topics.Topic("command", "north", "c2")),
        (topics.commands("north", "c2", "ana"), topics.Topic("command", "north", "c2", user="ana")),
        (topics.command_results("north", "c2"), topics.Topic("command_result", "north", "c2")),
        (topics.state("north", "c2"), topics.Topic("state", "north", "c2")),
        (topics.alarms("north", "c2"), topics.Topic("alarm", "north", "c2")),
        (topics.engine_status("north"), topics.Topic("engine_status", "north")),
    ],
)
def test_every_topic_round_trips(built: str, parsed: topics.Topic) -> None:
    assert topics.parse(built) == parsed
    assert str(parsed) == built


def test_topic_layout_is_the_documented_one() -> None:
    assert topics.reading("s", "c", "blood_pressure") == "chairside/v1/s/chairs/c/readings/blood_pressure"
    assert topics.device_status("s", "c", "d") == "chairside/v1/s/chairs/c/devices/d/status"
    assert topics.engine_status("s") == "chairside/v1/s/engine/status"
    assert topics.chairs_filter("s", "state") == "chairside/v1/s/chairs/+/state"
    assert topics.site_filter("s") == "chairside/v1/s/#"


@pytest.mark.parametrize(
    "bad",
    [
        "chairside/v2/s/chairs/c/state",
        "other/v1/s/chairs/c/state",
        "chairside/v1/s/chairs/c/readings/temperature",
        "chairside/v1/s/chairs/c/unknown",
        "chairside/v1/s/chairs/c",
        "chairside/v1/s/chairs/c/devices/d/other",
        "chairside/v1/s/engine",
    ],
)
def test_foreign_topics_are_refused(bad: str) -> None:
    with pytest.raises(topics.TopicError):
        topics.parse(bad)


@pytest.mark.parametrize("ident", ["", "a/b", "+", "#", "has space", "-lead", "x" * 65])
def test_identifiers_that_would_break_topics_are_refused(ident: str) -> None:
    with pytest.raises(topics.TopicError):
        topics.state("site", ident)
