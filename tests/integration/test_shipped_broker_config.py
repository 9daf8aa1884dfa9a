"""The Mosquitto configuration a clinic is told to run starts, and carries the settings the
delivery guarantee and the latency rely on."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from drivers.mqtt import MqttSettings, make_client
from tests.brokers import _wait_listening, free_port, mosquitto_path

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


def _start(binary: str, conf: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def test_mosquitto_runs_the_shipped_configuration(tmp_path: Path) -> None:
    binary = mosquitto_path()
    if binary is None:
        pytest.skip("Mosquitto is not installed")
    port = free_port()
    conf = SHIPPED.read_text()
    conf = conf.replace("listener 1883 127.0.0.1", f"listener {port} 127.0.0.1")
    conf = conf.replace("persistence_location /var/lib/mosquitto/",
                        f"persistence_location {tmp_path}/")
    if os.geteuid() == 0:
        conf += "\nuser root\n"  # else Mosquitto drops to a user who cannot write here
    path = tmp_path / "chairside.conf"
    path.write_text(conf)
    proc = _start(binary, path)
    try:
        _wait_listening(port)
        async with make_client(MqttSettings(host="127.0.0.1", port=port), "probe") as client:
            await client.publish("chairside/probe", b"x", qos=1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
