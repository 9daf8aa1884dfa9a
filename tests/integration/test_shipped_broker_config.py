"""The Mosquitto configuration a clinic is told to run starts, and carries the settings the
delivery guarantee and the latency rely on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.broker
SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto.conf"


def test_the_shipped_configuration_sets_what_the_guarantees_need() -> None:
    text = SHIPPED.read_text()
    settings = dict(re.findall(r"^(\w+) (.+)$", text, re.MULTILINE))
    assert settings["persistence"] == "true"
    assert settings["set_tcp_nodelay"] == "true"
    assert int(settings["autosave_interval"]) <= 30
    assert int(settings["max_queued_messages"]) >= 100_000
    assert int(settings["message_size_limit"]) >= 256 * 1024


# That Mosquitto runs the shipped file as it is (sign-in, ACL, TLS listener) is shown in
# tests/access/test_broker_access.py, with only its paths and ports changed.
