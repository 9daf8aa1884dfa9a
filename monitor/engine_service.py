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
events and command results it raised and a chair state that includes it, each acknowledged by
the broker (`monitor.input_acks`). An engine that dies before that gets the input again from
the broker when it returns. Each input is acknowledged as soon as that holds, not on a timer,
so the broker's window of unacknowledged messages (Mosquitto: 20) never fills at a clinic's
rates. Publishes do not wait on each other's PUBACK, and alarm events and command results
leave before chair states.
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
from drivers.gateway import MemoryOutbox, OutboxEntry
from drivers.mqtt import (
    QOS,
    Incoming,
    ack,
    make_client,
    manual_acks,
    payload_bytes,
    retained,
    stay_connected,
    will,
)
from drivers.mqtt_confirmations import Confirmations
from drivers.mqtt_settings import MqttSettings
from drivers.payloads import PayloadDecoder
from drivers.tasks import first_failure, raise_if_cancelled
from drivers.wire import (
    AlarmEvent,
    AnsweredCommands,
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
from monitor.input_acks import InputAcks

log = logging.getLogger(__name__)

Output = ChairState | AlarmEvent | CommandResult
EVENTS_IN_FLIGHT = 32
"""Alarm events and command results published and not yet acknowledged by the broker, at
most: a long backlog (after the broker was away) leaves in order without each publish's
timeout running while it waits its turn in the client."""
STATES_IN_FLIGHT = 16
"""Chair states published and not yet acknowledged, at most (and one per chair): an alarm
event raised meanwhile waits behind no more than these on the wire."""
CLIENT_IN_FLIGHT = EVENTS_IN_FLIGHT + STATES_IN_FLIGHT + 1
"""And the engine's own status, one at a time: nothing waits in the client's queue."""


class SeenIds:
    """The ids of recent commands and statuses, to drop QoS 1 redeliveries (bounded): a
    command the engine answered is not answered again, a status not applied twice."""

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
        publish_timeout_s: float = 10.0,
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
        self.publish_timeout_s = publish_timeout_s
        self.on_output = on_output
        self.decoder = PayloadDecoder(log)
        self.started_at = clock.now()
        self.connected = asyncio.Event()
        self._seen = SeenIds()
        # Alarm events, command results and the retained answered lists, kept until PUBACK.
        self._events = MemoryOutbox()
        self._retained_rows: set[int] = set()  # the outbox rows published retained
        # The newest state of each chair not yet published, and its version: every state the
        # engine emits for a chair counts up, and an input waits for its chair's version.
        self._states: dict[str, tuple[ChairState, int]] = {}
        self._versions: dict[str, int] = {}
        self._acks = InputAcks()
        self._wakeup = asyncio.Event()
        self._restored = False
        # The publishes of the present connection (`_publish`), not yet acknowledged.
        self._live: aiomqtt.Client | None = None
        self._confirmations: Confirmations | None = None
        self._events_in_flight: set[int] = set()
        self._states_in_flight: set[str] = set()
        self._states_due = 0.0  # loop time from which states no input waits for may leave
        self._raised = 0  # alarm events and answers emitted, counted

    @property
    def unacknowledged(self) -> int:
        """Inputs received on this connection and not yet acknowledged to the broker."""
        return len(self._acks)

    # -- pure side ------------------------------------------------------------------------

    def process(self, topic: str, payload: bytes, now: datetime) -> None:
        """Decode one message and feed it to the engine."""
        inbound = self.decoder.decode(topic, payload)
        if inbound is None:
            return
        message = inbound.payload
        chair = inbound.topic.chair
        if chair is None or isinstance(
            message, ChairState | AnsweredCommands | AlarmEvent | CommandResult | EngineStatus
        ):
            return
        if isinstance(message, Reading):
            # The engine drops a reading it has seen by id, in each chair's own bounded
            # window: keeping every reading's id here too held 20,000 of them (about 3 MB).
            key = None
        elif isinstance(message, DeviceStatus | GatewayStatus):
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
        cause = self._acks.current
        if cause is not None and self.engine.state_pending(chair):
            # Its state is built when published (`_publish`): the input waits for it.
            self._acks.wait_state(cause, chair, self._versions.get(chair, 0) + 1)

    def tick(self, now: datetime) -> None:
        self._emit(self.engine.tick(now))

    def _emit(self, outputs: Iterable[Output]) -> None:
        cause = self._acks.current  # the input being handled, if any: it waits for these
        for out in outputs:
            if isinstance(out, ChairState):
                version = self._versions.get(out.chair, 0) + 1
                self._versions[out.chair] = version
                self._states[out.chair] = (out, version)
                if cause is not None:
                    self._acks.wait_state(cause, out.chair, version)
            else:
                if isinstance(out, AlarmEvent) and self.clock.rate != 1.0:
                    # A simulated clock: say how fast, so a replay knows how far apart in
                    # clock time two runs of the same moment may land.
                    out = out.model_copy(update={"clock_rate": self.clock.rate})
                # Alarm events are unique by id; a command's answer by id and time (the same
                # command answered again after a restart is a second message).
                key = out.id if isinstance(out, AlarmEvent) else f"result:{out.id}:{out.at}"
                self._events.append(topics.engine_output(self.site, out), out.to_json(), key)
                self._raised += 1
                if cause is not None:
                    self._acks.wait_event(cause, key)
                if isinstance(out, CommandResult):
                    # The command is acknowledged only once the broker holds its answer
                    # retained too: delivered again after a restart, it is not applied twice.
                    answers = self.engine.answers(out.chair, self.clock.now())
                    key = f"answered:{out.chair}:{self._raised}"
                    row = self._events.append(topics.answered(self.site, out.chair),
                                              answers.to_json(), key)
                    self._retained_rows.add(row)
                    if cause is not None:
                        self._acks.wait_event(cause, key)
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
            max_inflight=CLIENT_IN_FLIGHT,
        )
        # Acknowledge an input once its effects are out.
        manual_acks(client)
        return client

    def _lost(self, exc: aiomqtt.MqttError, delay: float) -> None:
        self.connected.clear()
        log.warning("engine: broker %s lost (%s); retry in %.2fs", self.mqtt.url(), exc, delay)

    async def _session(self, client: aiomqtt.Client) -> None:
        # Message ids belong to a connection: what the last one left unacknowledged, the
        # broker sends again. Publishes it left unconfirmed are sent again from the outbox.
        self._acks = InputAcks()
        self._live = client
        self._confirmations = Confirmations(client, timeout_s=self.publish_timeout_s)
        for flt in ("readings/+", "devices/+/status", "gateway/status", "commands/+",
                    "commands"):
            await client.subscribe(topics.chairs_filter(self.site, flt), qos=QOS)
        await client.publish(
            topics.engine_status(self.site), self._status("online").to_json(), qos=QOS,
            retain=True,
        )
        # A barrier first: an input the broker gives again, now a duplicate with no outputs of
        # its own, is not acknowledged before the outputs it caused on the last connection
        # (still in the outbox) and every chair's present state are out.
        self._acks.current = barrier = self._acks.received(None)
        for entry in self._events.peek(len(self._events)):
            self._acks.wait_event(barrier, entry.key)
        self._emit(self.engine.states(self.clock.now()))
        self._acks.current = None
        self.connected.set()
        try:
            await first_failure(self._consume(client), self._publish(client),
                                self._ticker(client))
        finally:
            self._live = self._confirmations = None
            self._events_in_flight.clear()
            self._states_in_flight.clear()

    async def _restore(self, client: aiomqtt.Client) -> None:
        """Recover open sessions from every chair's retained ChairState.

        A clean connection of its own, so nothing queued for the engine competes with the
        states. The end of the retained states is known, not guessed: a marker published once
        the subscription is acknowledged arrives after all of them. ``restore_wait_s`` only
        bounds a broker that never routes the marker back."""
        answers_filter = topics.chairs_filter(self.site, "answered")
        filters = [topics.chairs_filter(self.site, "state"), answers_filter]
        states: dict[str, ChairState] = {}
        answered: dict[str, AnsweredCommands] = {}
        unreadable: list[str] = []
        try:
            async with asyncio.timeout(self.restore_wait_s):
                async for message in retained(client, self.site, filters, self.mqtt.username):
                    inbound = self.decoder.decode(
                        message.topic.value, payload_bytes(message), retained=True
                    )
                    payload = inbound.payload if inbound is not None else None
                    if isinstance(payload, ChairState):
                        states[payload.chair] = payload
                    elif isinstance(payload, AnsweredCommands):
                        if not self.chairs or payload.chair in self.chairs:
                            answered[payload.chair] = payload
                    elif message.topic.matches(answers_filter):
                        log.error("engine: the retained answers on %s are unreadable; a "
                                  "command delivered again may be answered twice",
                                  message.topic.value)
                    else:
                        unreadable.append(message.topic.value)
        except TimeoutError:
            log.warning(
                "engine: the broker did not route the restore marker back within %.1fs; "
                "recovering from the %d states received", self.restore_wait_s, len(states)
            )
        now = self.clock.now()
        if states or answered:
            self._emit(self.engine.restore(list(states.values()), now, answered.values()))
            log.info("engine: recovered %d chairs from retained state, with the answered "
                     "commands of %d", len(states), len(answered))
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
        async for message in Incoming(client):
            raised = self._raised
            self._handle(client, message)
            if self._raised != raised:
                # An alarm or an answer leaves now, before the next input waiting in the
                # client's queue is handled and before any state is built.
                self._send_events(client)

    def _handle(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        if message.qos > 0:
            self._acks.current = self._acks.received(message.mid, message.qos)
        try:
            self.process(message.topic.value, payload_bytes(message), self.clock.now())
        finally:
            self._acks.current = None
        self._send_acks(client)  # one that caused nothing (a duplicate) needs no wait
        self._wakeup.set()

    def _send_acks(self, client: aiomqtt.Client) -> None:
        for mid, qos in self._acks.ready():
            ack(client, mid, qos)

    async def _ticker(self, client: aiomqtt.Client) -> None:
        status_topic = topics.engine_status(self.site)
        beats = 0
        status_in_flight = False

        def status_sent() -> None:
            nonlocal status_in_flight
            status_in_flight = False

        while True:
            raise_if_cancelled()
            await asyncio.sleep(self.tick_interval_s)
            # A publish unacknowledged for the client's timeout (the broker stopped
            # answering without closing the connection), or a confirmation that failed:
            # this session ends; the next sends again what this one could not.
            self._confirmed().check()
            self.tick(self.clock.now())
            beats += 1
            if beats % 10 == 0 and not status_in_flight:
                status_in_flight = True
                self._confirmed().publish(status_topic, self._status("online").to_json(),
                                          retain=True, confirmed=status_sent)

    async def _publish(self, client: aiomqtt.Client) -> None:
        """Alarm events and command answers leave first, as soon as they exist. A chair's
        state leaves at once when an input waits for it, otherwise (time passing) at most
        every ``state_min_interval_s``; either way one at a time per chair, the newest
        replacing any older one not yet sent. Publishes do not wait on each other: each
        PUBACK releases what waited for it (`_send`)."""
        loop = asyncio.get_running_loop()
        while True:
            raise_if_cancelled()
            self._wakeup.clear()
            # Alarm events leave before any state is built: a state costs more than the
            # judgement that raised the alarm, and the alarm must not wait for it.
            self._send_events(client)
            # States are built here, not with each input: each chair as it stood after its
            # last input, which the inputs waiting for that chair's next version then await.
            pending = self.engine.pending_states()
            if pending:  # (an empty emit would wake this loop again: it would spin)
                self._emit(pending)
            now = loop.time()
            held = self._send_states(client, now)
            if held:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, self._states_due - now)):
                        await self._wakeup.wait()
            else:
                await self._wakeup.wait()

    def _send_events(self, client: aiomqtt.Client) -> None:
        for entry in self._events.peek(len(self._events)):
            if len(self._events_in_flight) >= EVENTS_IN_FLIGHT:
                return
            if entry.rowid in self._events_in_flight:
                continue
            self._events_in_flight.add(entry.rowid)
            self._send(client, entry.topic, entry.payload, entry.rowid in self._retained_rows,
                       lambda e=entry: self._event_sent(e))  # type: ignore[misc]

    def _send_states(self, client: aiomqtt.Client, now: float) -> bool:
        """Publish the states that may leave now; whether some wait for the state timer."""
        timed = now >= self._states_due
        held = False
        for chair in list(self._states):
            if chair in self._states_in_flight or len(self._states_in_flight) >= STATES_IN_FLIGHT:
                continue  # sent when the one in flight is acknowledged
            waited_for = self._acks.waited_for(chair)
            if not (waited_for or timed):
                held = True
                continue
            state, version = self._states.pop(chair)
            self._states_in_flight.add(chair)
            # A state lost to a dropped connection is harmless: on reconnecting, every
            # chair's present state is published again, and unacknowledged inputs come back.
            self._send(client, topics.state(self.site, chair), state.to_json(), True,
                       lambda c=chair, v=version: self._state_sent(c, v))  # type: ignore[misc]
        if timed:
            self._states_due = now + self.state_min_interval_s
        return held

    def _confirmed(self) -> Confirmations:
        if self._confirmations is None:  # set for the session, with `_live`
            raise RuntimeError("the engine service publishes only while connected")
        return self._confirmations

    def _send(self, client: aiomqtt.Client, topic: str, payload: bytes | str, retain: bool,
              sent: Callable[[], None]) -> None:
        """Publish without awaiting the PUBACK: ``sent`` runs when it comes, unless the
        connection was lost meanwhile (then the outbox, or the next connection's states,
        send it again)."""

        def confirmed() -> None:
            if self._live is client:
                sent()
                if self._states or len(self._events) > len(self._events_in_flight):
                    self._wakeup.set()  # what waited for a publish in flight may leave

        self._confirmed().publish(topic, payload, retain=retain, confirmed=confirmed)

    def _event_sent(self, entry: OutboxEntry) -> None:
        self._events.ack(entry.rowid)
        self._retained_rows.discard(entry.rowid)
        self._events_in_flight.discard(entry.rowid)
        self._acks.event_done(entry.key)
        self._release()

    def _state_sent(self, chair: str, version: int) -> None:
        self._states_in_flight.discard(chair)
        self._acks.state_done(chair, version)
        self._release()

    def _release(self) -> None:
        if self._live is not None:
            self._send_acks(self._live)
