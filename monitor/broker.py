"""The embedded MQTT broker (amqtt) for the zero-setup demo and development on one machine.

A clinic runs Mosquitto (or a clustered broker); the topics are the same. The embedded
broker listens on loopback only and is not for a network. Given the site's users, it signs
every client in against the password hashes Mosquitto would be given; the ACL is
Mosquitto's alone (see `monitor.broker_auth`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

from drivers.mqtt import MqttSettings
from monitor.access.directory import Directory

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def embedded_broker(
    settings: MqttSettings, users: tuple[Directory, dict[str, str]] | None = None
) -> AsyncIterator[MqttSettings]:
    """Run an amqtt broker on loopback for the duration; yields the settings to reach it
    (with the port filled in when the configuration asked for any free port).

    ``users``: the directory and its password hashes; then only its enabled users connect."""
    from amqtt.broker import Broker  # imported here: only the demo pays for it

    from monitor.broker_auth import AUTH_PLUGIN

    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)
    port = settings.port or free_port()
    plugins: dict[str, Any] = {
        "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
    }
    if users is not None:
        directory, hashes = users
        enabled = directory.enabled()
        plugins = {
            AUTH_PLUGIN: {"passwords": {u: h for u, h in hashes.items() if u in enabled}},
        }
    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": plugins,
    }
    broker = Broker(config)
    await broker.start()
    log.info("embedded MQTT broker on 127.0.0.1:%d", port)
    try:
        yield settings.model_copy(update={"host": "127.0.0.1", "port": port, "broker": "embedded"})
    finally:
        with contextlib.suppress(Exception):
            await broker.shutdown()
