"""The tests' own Mosquitto is the broker they talk to: a port already taken fails its start
with the reason, instead of letting a test talk to whatever answers there."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.brokers import Mosquitto, free_port

pytestmark = pytest.mark.broker



def test_a_port_someone_else_listens_on_fails_the_start_with_the_reason(
    tmp_path: Path, binary: str,
) -> None:
    broker = Mosquitto(tmp_path, binary)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", broker.port))
        squatter.listen()
        with pytest.raises(RuntimeError, match=r"exited .* instead of listening"):
            broker.start()
    broker.start()  # once the port is free, the same broker starts and is ours
    try:
        assert broker.proc is not None and broker.proc.poll() is None
    finally:
        broker.stop()


def test_no_port_is_handed_out_twice() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
