"""The embedded MQTT broker (amqtt) for the zero-setup demo and development on one machine.

A clinic runs Mosquitto (or a clustered broker); the topics are the same. The embedded
broker listens on loopback only and is not for a network. Given the site's users, it signs
every client in against the password hashes Mosquitto would be given; the ACL is
Mosquitto's alone (see `monitor.broker_auth`).

It runs in a process of its own. In the demo every other part shares one process, and a
broker in that process's event loop waits behind them: amqtt gives a subscriber five seconds
to acknowledge a QoS 1 message and then drops it for that subscriber, so a busy loop (the
demo's accelerated warm-up, a loaded machine) would cost the recorder messages. Its own
process has its own core, and a broker of the shape a clinic runs: separate from its clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import socket
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from typing import Any

from drivers.mqtt_settings import MqttSettings
from monitor.access.directory import Directory

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
"""How long the broker's process may take to import amqtt and listen."""
STOP_TIMEOUT_S = 10.0
"""How long it may take to close its clients' sessions before it is killed."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def broker_config(port: int, users: tuple[Directory, dict[str, str]] | None) -> dict[str, Any]:
    """amqtt's configuration: loopback on ``port``; with users, only the enabled ones sign in."""
    from monitor.broker_auth import AUTH_PLUGIN

    plugins: dict[str, Any] = {
        "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
    }
    if users is not None:
        directory, hashes = users
        enabled = directory.enabled()
        plugins = {
            AUTH_PLUGIN: {"passwords": {u: h for u, h in hashes.items() if u in enabled}},
        }
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": plugins,
    }


@contextlib.asynccontextmanager
async def embedded_broker(
    settings: MqttSettings, users: tuple[Directory, dict[str, str]] | None = None
) -> AsyncIterator[MqttSettings]:
    """Run an amqtt broker on loopback, in a child process, for the duration; yields the
    settings to reach it (with the port filled in when the configuration asked for any free
    port).

    ``users``: the directory and its password hashes; then only its enabled users connect.
    Raises RuntimeError, with amqtt's reason, when the broker does not start."""
    port = settings.port or free_port()
    ours, theirs = multiprocessing.Pipe()
    # spawn, not fork: the parent has an event loop and threads running.
    process = multiprocessing.get_context("spawn").Process(
        target=serve, args=(broker_config(port, users), theirs), name="chairside-broker",
        daemon=True,
    )
    process.start()
    theirs.close()
    try:
        word = await asyncio.to_thread(_answer, ours, START_TIMEOUT_S)
        if word != "ready":
            raise RuntimeError(f"the embedded MQTT broker did not start on 127.0.0.1:{port}: "
                               f"{word}")
        log.info("embedded MQTT broker on 127.0.0.1:%d (pid %s)", port, process.pid)
        yield settings.model_copy(update={"host": "127.0.0.1", "port": port, "broker": "embedded"})
    finally:
        ours.close()  # the broker's process reads end-of-file: it shuts down
        await asyncio.to_thread(process.join, STOP_TIMEOUT_S)
        if process.is_alive():
            log.warning("embedded MQTT broker did not stop within %.0fs; killed", STOP_TIMEOUT_S)
            process.kill()
            await asyncio.to_thread(process.join, STOP_TIMEOUT_S)


def _answer(conn: Connection, timeout: float) -> str:
    try:
        if not conn.poll(timeout):
            return f"no answer within {timeout:.0f}s"
        return str(conn.recv())
    except EOFError:
        return "its process exited"


def serve(config: dict[str, Any], conn: Connection) -> None:
    """The broker's process: serve until the parent closes its end of ``conn`` (or dies)."""
    asyncio.run(_serve(config, conn))


async def _serve(config: dict[str, Any], conn: Connection) -> None:
    from amqtt.broker import Broker  # imported here: only the demo pays for it

    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.basicConfig(format="chairside broker: %(levelname)s %(name)s: %(message)s")
    broker = Broker(config)
    try:
        await broker.start()
    except Exception as exc:  # amqtt's own error types; the parent shows the reason
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    conn.send("ready")
    closed = asyncio.Event()
    asyncio.get_running_loop().add_reader(conn.fileno(), closed.set)
    await closed.wait()
    with contextlib.suppress(Exception):
        await broker.shutdown()
