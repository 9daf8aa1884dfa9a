from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import Broker, make_broker, mosquitto_path


def pytest_report_header(config: pytest.Config) -> str:
    if mosquitto_path():
        return f"MQTT broker tests: Mosquitto ({mosquitto_path()}), started by the tests"
    return "MQTT broker tests: Mosquitto not installed, using the EMBEDDED broker instead"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker of the tests' own for the whole run."""
    b = make_broker(tmp_path_factory.mktemp("broker"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker for one test, which the test may stop and start."""
    b = make_broker(tmp_path)
    b.start()
    yield b
    b.stop()
