"""`chairside engine` with `[mqtt] broker = "embedded"` hosts the broker for the processes of
a one-machine site; it needs a port they can find."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiomqtt

from drivers import topics
from drivers.wire import EngineStatus
from tests.brokers import free_port

ROOT = Path(__file__).resolve().parents[2]


def env(port: int) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "CHAIRSIDE_CONFIG": str(ROOT / "config.toml"),
            "CHAIRSIDE_MQTT__BROKER": "embedded", "CHAIRSIDE_MQTT__PORT": str(port),
            "CHAIRSIDE_SITE__ID": "hosted"}


async def test_the_engine_hosts_the_embedded_broker(tmp_path: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli", "engine", env=env(port), cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        status: EngineStatus | None = None
        for _ in range(100):  # the process imports and starts: up to 20 s
            try:
                async with aiomqtt.Client("127.0.0.1", port) as client:
                    await client.subscribe(topics.engine_status("hosted"), qos=1)
                    async with asyncio.timeout(5):
                        async for message in client.messages:
                            status = EngineStatus.model_validate_json(bytes(message.payload))
                            break
                break
            except (aiomqtt.MqttError, TimeoutError):
                assert proc.returncode is None, await proc.communicate()
                await asyncio.sleep(0.2)
        assert status is not None and status.state == "online"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(20):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            raise


def test_a_hosted_broker_needs_a_fixed_port(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "engine"], env=env(0),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "mqtt.port = 0" in done.stderr and "fixed port" in done.stderr
    assert "Traceback" not in done.stderr
