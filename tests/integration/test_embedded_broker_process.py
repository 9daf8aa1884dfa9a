"""The embedded broker runs in a process of its own: it serves while its owner runs, says why
when it cannot start, and never outlives its owner, however the owner ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.mqtt import connected
from drivers.mqtt_settings import MqttSettings
from monitor.broker import embedded_broker

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie has exited and waits only for its parent's wait
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


async def test_it_serves_from_another_process_and_stops_with_its_owner() -> None:
    import multiprocessing

    async with embedded_broker(MqttSettings(broker="embedded", port=0)) as live:
        children = multiprocessing.active_children()
        assert [c.name for c in children] == ["chairside-broker"]
        pid = children[0].pid
        assert pid is not None and pid != os.getpid()
        async with connected(live.model_copy(update={"broker": "external"}), "probe") as client:
            await client.publish("chairside/v1/probe", b"1", qos=1)
    assert gone_within(pid, 10)


async def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"did not start on 127.0.0.1:{port}: .+"):
            async with embedded_broker(MqttSettings(broker="embedded", port=port)):
                pass


OWNER = """
import asyncio, multiprocessing, sys, time
from drivers.mqtt import MqttSettings
from monitor.broker import embedded_broker

async def main():
    async with embedded_broker(MqttSettings(broker="embedded", port=0)):
        print(multiprocessing.active_children()[0].pid, flush=True)
        await asyncio.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


def test_it_does_not_outlive_an_owner_killed_outright(tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert owner.stdout is not None
        pid = int(owner.stdout.readline())
        assert alive(pid)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        # its end of the pipe closed with it: the broker reads end-of-file and exits
        assert gone_within(pid, 10), f"broker {pid} outlived its owner"
    finally:
        owner.kill()
