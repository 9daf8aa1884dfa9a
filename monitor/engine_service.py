"""``chairside engine``: the pure engine wired to the broker.

The engine is the one authority on session state and alarms. This module only moves
messages: broker -> ``Engine.handle`` / ``Engine.tick`` -> broker. It uses a persistent MQTT
session so the broker queues readings and commands while the engine restarts, and on start it
recovers open sessions from the retained ChairState it published before, over a connection of
its own, before it resumes the persistent session: the broker sends a client only so many
unacknowledged messages at a time (Mosquitto: 20), and on the persistent session the inputs it
kept would come first and hold the retained states back. The inputs are applied after the
recovery, in the order they were sent.

An input is acknowledged to the broker (PUBACK) only once what it changed has left: the alarm
events it raised and the chair state that includes it, each acknowledged by the broker in turn.
An engine that dies before that gets the input again from the broker when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import aiomqtt

from drivers import topics
from drivers.clock import Clock
from drivers.gateway import MemoryOutbox
from drivers.mqtt import (
    QOS,
    MqttSettings,
    PayloadDecoder,
    ack,
    make_client,
    manual_acks,
    payload_bytes,
    retained,
    stay_connected,
    will,
)
from drivers.tasks import first_failure, raise_if_cancelled
from drivers.wire import (
    AlarmEvent,
    ChairState,
    CommandResult,
    DeviceStatus,
    EngineStatus,
    GatewayStatus,
    Reading,
)
from monitor import __version__
from monitor.access.directory import DirectoryError, load
from monitor.access.roles import Role
from monitor.engine import Engine, EngineConfig

log = logging.getLogger(__name__)

Output = ChairState | AlarmEvent | CommandResult
ACK_SOON = 14
"""Inputs waiting for their acknowledgement after which the engine publishes at once rather
than at the next state interval: a broker sends a client only so many unacknowledged messages
(Mosquitto: 20) before it waits."""


class SeenIds:
    """The ids of recent messages, to drop QoS 1 redeliveries (bounded)."""

    def __init__(self, size: int = 20_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def seen(self, key: str) -> bool:
        if key in self._ids:
            return True
        self._ids[key] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return False


class UsersFile:
    """The site's user directory, read again when the file changes: a user disabled by
    `chairside users` can send nothing more, without restarting the engine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._roles: dict[str, Role] = {}
        self.roles()  # a directory that cannot be read stops the engine at its start

    def roles(self) -> dict[str, Role]:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError as exc:
            if self._stamp is None:
                raise DirectoryError(f"{self.path}: {exc.strerror}") from None
            log.error("engine: user directory %s: %s; keeping the users read before",
                      self.path, exc.strerror)
            return self._roles
        if stamp != self._stamp:
            try:
                found = load(self.path)
            except DirectoryError:
                if self._stamp is None:
                    raise
                log.exception("engine: keeping the users read before")
                return self._roles
            self._roles = {name: u.role for name, u in found.enabled().items()}
            self._stamp = stamp
        return self._roles


class EngineService:
    def __init__(
        self,
        mqtt: MqttSettings,
        site: str,
        config: EngineConfig,
        clock: Clock,
        *,
        chairs: Iterable[str] = (),
        tick_interval_s: float = 0.5,
        state_min_interval_s: float = 0.25,
        restore_wait_s: float = 1.0,
        on_output: Callable[[Output], None] | None = None,
        users: Path | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.site = site
        self.clock = clock
        # States are built when they are published, not with every input (``_publish``).
        self.engine = Engine(config, publish_states="deferred")
        self._users = UsersFile(users) if users is not None else None
        if self._users is not None:
            self.engine.roles = self._users.roles()
        # The site's chairs, where it names them: a message for any other chair is refused,
        # so a stray or hostile client cannot put a ghost chair on every screen.
        self.chairs = frozenset(chairs)
        for chair in self.chairs:
            self.engine.ensure_chair(chair)
        self.tick_interval_s = tick_interval_s
        self.state_min_interval_s = state_min_interval_s
        self.restore_wait_s = restore_wait_s
        self.on_output = on_output
        self.decoder = PayloadDecoder(log)
        self.started_at = clock.now()
        self.connected = asyncio.Event()
        self._seen = SeenIds()
        self._events = MemoryOutbox()  # alarm events and command results, kept until PUBACK
        self._states: dict[str, ChairState] = {}  # newest state per chair, not yet published
        self._wakeup = asyncio.Event()
        self._events_waiting = asyncio.Event()
        self._restored = False
        self._unacked: list[tuple[int, int]] = []  # (mid, qos) of inputs handled, not yet acked

    # -- pure side ------------------------------------------------------------------------

    def process(self, topic: str, payload: bytes, now: datetime) -> None:
        """Decode one message and feed it to the engine."""
        inbound = self.decoder.decode(topic, payload)
        if inbound is None:
            return
        message = inbound.payload
        chair = inbound.topic.chair
        if chair is None or isinstance(
            message, ChairState | AlarmEvent | CommandResult | EngineStatus
        ):
            return
        if isinstance(message, Reading | DeviceStatus | GatewayStatus):
            key = getattr(message, "id", None)
        else:
            key = f"command:{message.id}"
        if self.chairs and chair not in self.chairs:
            self.decoder.refuse(topic, f"chair {chair!r} is not one of this site's chairs")
            return
        if key is not None and self._seen.seen(key):
            return
        sender = inbound.topic.user
        if self._users is not None and inbound.topic.type == "command":
            self.engine.roles = self._users.roles()
        self._emit(self.engine.handle(chair, message, now, sender))

    def tick(self, now: datetime) -> None:
        self._emit(self.engine.tick(now))

    def _emit(self, outputs: Iterable[Output]) -> None:
        for out in outputs:
            if isinstance(out, ChairState):
                self._states[out.chair] = out
            else:
                if isinstance(out, AlarmEvent) and self.clock.rate != 1.0:
                    # A simulated clock: say how fast, so a replay knows how far apart in
                    # clock time two runs of the same moment may land.
                    out = out.model_copy(update={"clock_rate": self.clock.rate})
                # Alarm events are unique by id; a command's answer by id and time (the same
                # command answered again after a restart is a second message).
                key = out.id if isinstance(out, AlarmEvent) else f"result:{out.id}:{out.at}"
                self._events.append(topics.engine_output(self.site, out), out.to_json(), key)
                self._events_waiting.set()
            if self.on_output is not None:
                self.on_output(out)
        self._wakeup.set()

    # -- broker side ----------------------------------------------------------------------

    def _status(self, state: str) -> EngineStatus:
        return EngineStatus(
            state="online" if state == "online" else "offline",
            at=self.clock.now(),
            started_at=self.started_at,
            version=__version__,
            rejected=self.decoder.rejected_total,
            last_rejected=self.decoder.last_error,
        )

    async def run(self) -> None:
        if not self._restored:
            nonce = uuid.uuid4().hex
            await stay_connected(
                self.mqtt,
                lambda: make_client(self.mqtt, f"chairside-engine-{self.site}-sync-{nonce[:8]}"),
                self._restore, name="engine (recovering sessions)", lost=self._lost)
        await stay_connected(self.mqtt, self._client, self._session, name="engine",
                             lost=self._lost)

    def _client(self) -> aiomqtt.Client:
        client = make_client(
            self.mqtt,
            f"chairside-engine-{self.site}",
            will=will(topics.engine_status(self.site), self._status("offline")),
            clean_session=False,
        )
        # Acknowledge an input once its effects are out.
        manual_acks(client)
        return client

    def _lost(self, exc: aiomqtt.MqttError, delay: float) -> None:
        self.connected.clear()
        log.warning("engine: broker %s lost (%s); retry in %.2fs", self.mqtt.url(), exc, delay)

    async def _session(self, client: aiomqtt.Client) -> None:
        self._unacked = []  # message ids belong to a connection
        for flt in ("readings/+", "devices/+/status", "gateway/status", "commands/+",
                    "commands"):
            await client.subscribe(topics.chairs_filter(self.site, flt), qos=QOS)
        await client.publish(
            topics.engine_status(self.site), self._status("online").to_json(), qos=QOS,
            retain=True,
        )
        self._emit(self.engine.states(self.clock.now()))
        self.connected.set()
        await first_failure(self._consume(client), self._publish(client), self._ticker(client))

    async def _restore(self, client: aiomqtt.Client) -> None:
        """Recover open sessions from every chair's retained ChairState.

        A clean connection of its own, so nothing queued for the engine competes with the
        states. The end of the retained states is known, not guessed: a marker published once
        the subscription is acknowledged arrives after all of them. ``restore_wait_s`` only
        bounds a broker that never routes the marker back."""
        flt = topics.chairs_filter(self.site, "state")
        states: dict[str, ChairState] = {}
        unreadable: list[str] = []
        try:
            async with asyncio.timeout(self.restore_wait_s):
                async for message in retained(client, self.site, flt, self.mqtt.username):
                    inbound = self.decoder.decode(
                        message.topic.value, payload_bytes(message), retained=True
                    )
                    if inbound is not None and isinstance(inbound.payload, ChairState):
                        states[inbound.payload.chair] = inbound.payload
                    else:
                        unreadable.append(message.topic.value)
        except TimeoutError:
            log.warning(
                "engine: the broker did not route the restore marker back within %.1fs; "
                "recovering from the %d states received", self.restore_wait_s, len(states)
            )
        now = self.clock.now()
        if states:
            self._emit(self.engine.restore(list(states.values()), now))
            log.info("engine: recovered %d chairs from retained state", len(states))
        for topic in unreadable:
            log.error("engine: retained state on %s is unreadable; that chair is not recovered",
                      topic)
            try:
                chair = topics.parse(topic).chair
            except topics.TopicError:
                chair = None
            if chair is not None and (not self.chairs or chair in self.chairs):
                self._emit(self.engine.not_recovered(
                    chair, "its retained state is unreadable", now))
        self._restored = True

    async def _consume(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._handle(message)

    def _handle(self, message: aiomqtt.Message) -> None:
        self.process(message.topic.value, payload_bytes(message), self.clock.now())
        if message.qos > 0:
            self._unacked.append((message.mid, message.qos))
            if len(self._unacked) >= ACK_SOON:
                self._events_waiting.set()
        self._wakeup.set()

    @staticmethod
    def _ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        if message.qos > 0:
            ack(client, message.mid, message.qos)

    async def _ticker(self, client: aiomqtt.Client) -> None:
        status_topic = topics.engine_status(self.site)
        beats = 0
        while True:
            raise_if_cancelled()
            await asyncio.sleep(self.tick_interval_s)
            self.tick(self.clock.now())
            beats += 1
            if beats % 10 == 0:
                await client.publish(
                    status_topic, self._status("online").to_json(), qos=QOS, retain=True
                )

    async def _publish(self, client: aiomqtt.Client) -> None:
        """Alarm events and command answers leave first, as soon as they exist. Chair states
        are coalesced, only the newest per chair, and sent at most every
        ``state_min_interval_s``: a burst of readings never holds an alarm back, and screens
        and the recorder get the present without every intermediate step."""
        while True:
            raise_if_cancelled()
            self._wakeup.clear()
            self._events_waiting.clear()
            while len(self._events):
                for entry in self._events.peek(200):
                    await client.publish(entry.topic, entry.payload, qos=QOS)
                    self._events.ack(entry.rowid)
            # Every input handled so far is in these states or in the events just sent.
            pending = self.engine.pending_states()
            if pending:
                self._emit(pending)
            states, self._states = self._states, {}
            acks, self._unacked = self._unacked, []
            # A state lost to a dropped connection is harmless: on reconnecting, every
            # chair's present state is published again, and unacknowledged inputs come back.
            for chair, state in states.items():
                await client.publish(
                    topics.state(self.site, chair), state.to_json(), qos=QOS, retain=True
                )
            for mid, qos in acks:
                ack(client, mid, qos)
            if len(self._events) or len(self._unacked) >= ACK_SOON:
                continue
            if states or self._unacked:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.state_min_interval_s):
                        await self._events_waiting.wait()
            else:
                await self._wakeup.wait()
