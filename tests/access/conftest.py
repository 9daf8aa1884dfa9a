"""The signed-in broker of the access tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.access.site import SecureBroker, make_ca, need_mosquitto


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[SecureBroker]:
    need_mosquitto()
    b = SecureBroker(tmp_path, make_ca(tmp_path / "tls"))
    b.broker.start()
    yield b
    b.broker.stop()
