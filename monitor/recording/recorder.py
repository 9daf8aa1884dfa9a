"""``chairside record``: every message of the site, appended to the recording.

The recorder keeps a persistent MQTT session under a stable client id, so the broker queues
the site's messages while the recorder or the broker restarts. It acknowledges a message
(QoS 1 PUBACK) only after the message is committed to disk, so a crash between receipt and
write makes the broker deliver it again instead of losing it; the redelivery is then
dropped as a duplicate.

A chair's state is kept where it says something new (`thinning`): the rest say only what the
recorded readings and time already do, and a replay regenerates them exactly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiomqtt

from drivers import topics
from drivers.clock import Clock
from drivers.mqtt import (
    QOS,
    Incoming,
    ack,
    make_client,
    manual_acks,
    payload_bytes,
    stay_connected,
)
from drivers.mqtt_settings import MqttSettings
from drivers.payloads import PayloadDecoder
from drivers.wire import ChairState, Reading, Recorded

from .sessions import SessionTracker
from .store import RecordingStore
from .thinning import StateThinning

log = logging.getLogger(__name__)

MAX_PAYLOAD = 256 * 1024
"""A payload larger than any the site's parts send (a chair state is tens of kB) is not
recorded whole: any client could otherwise fill the recording's disk."""
KEPT_INVALID = 4 * 1024
"""How much of a payload that cannot be used is kept, raw, to show what it was."""

BATCH = 500
"""Messages committed (one fsync) and acknowledged together when they arrive in a burst."""

_ID_KEYS = {"reading": "reading", "alarm": "alarm", "command": "command",
            "command_result": "result"}


@dataclass(frozen=True, slots=True)
class Classified:
    """What the recorder knows of one raw message before storing it."""

    type: str | None
    chair: str | None
    key: str
    valid: bool
    error: str | None
    payload: Any = None


def classify(topic: str, payload: bytes, decoder: PayloadDecoder) -> Classified:
    """Decode a message for the index; a message that fails is still recorded, marked why."""
    try:
        parsed = topics.parse(topic)
    except topics.TopicError as exc:
        return Classified(None, None, topic, False, str(exc))
    before = decoder.last_error
    decoder.last_error = None
    inbound = decoder.decode(topic, payload)
    if inbound is None:
        error = (decoder.last_error or "").removeprefix(topic + ": ") or (
            "empty payload (a retained message deleted)")
        decoder.last_error = before
        return Classified(parsed.type, parsed.chair, topic, False, error)
    model = inbound.payload
    prefix = _ID_KEYS.get(parsed.type)
    ident = getattr(model, "id", None)
    key = f"{prefix}:{ident}" if prefix and isinstance(ident, str) else topic
    return Classified(parsed.type, parsed.chair, key, True, None, model)


class Recorder:
    """Appends a site's messages to a store, keeps the site's session index and retention
    (other sites may share the store: each recorder minds its own)."""

    def __init__(
        self,
        mqtt: MqttSettings,
        site: str,
        store: RecordingStore,
        clock: Clock,
        *,
        client_id: str | None = None,
        retention_days: int | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.site = topics.check_ident(site, "site")
        self.store = store
        self.clock = clock
        self.client_id = client_id or f"chairside-recorder-{site}"
        self.retention_days = retention_days
        self.decoder = PayloadDecoder(logging.getLogger(__name__ + ".payloads"))
        self.tracker = SessionTracker(store.open_sessions(site=self.site))
        self.connected = asyncio.Event()
        self._arrivals: deque[datetime] = deque()
        self.recorded = 0
        self.duplicates = 0
        self.invalid = 0
        self.truncated = 0
        self._last_state: dict[str, bytes] = {}
        self.thinning: StateThinning[tuple[str, bytes, datetime, bool]] = StateThinning()
        self._last_reading: tuple[str, str] | None = None  # (chair, id) of the last recorded
        self._changed = asyncio.Condition()
        self._last_purge: datetime | None = None

    # -- the synchronous side (also used by tests and re-indexing) -----------------------

    @property
    def thinned(self) -> int:
        """Chair states taken but not kept: nothing in them that the recording lacks."""
        return self.thinning.dropped

    def record(self, topic: str, payload: bytes, now: datetime, retained: bool = False) -> bool:
        """Append one message (uncommitted), or for a chair state that says nothing new,
        take it without keeping it; False when it is a duplicate."""
        self._last_reading = None
        if len(payload) > MAX_PAYLOAD:
            found = Classified(None, None, topic, False,
                               f"oversized: {len(payload)} bytes, over the {MAX_PAYLOAD} allowed")
        else:
            try:
                found = classify(topic, payload, self.decoder)
            except Exception as exc:  # a message that breaks decoding must not stop recording
                found = Classified(None, None, topic, False, f"could not be decoded: {exc!r}")
        if found.valid and isinstance(found.payload, ChairState) and found.chair is not None:
            return self._record_state(found.chair, found, topic, payload, now, retained)
        key, kept, error = found.key, payload, found.error
        if not found.valid and len(payload) > KEPT_INVALID:
            # Kept in part, marked, and told apart from another by the digest of the whole.
            digest = hashlib.sha256(payload).hexdigest()
            kept = payload[:KEPT_INVALID]
            key = f"{found.key}#sha256={digest}"
            error = (f"{error}; truncated: the first {KEPT_INVALID} of {len(payload)} bytes "
                     f"kept (sha256 {digest})")
            self.truncated += 1
        seq = self.store.append(
            topic, kept, now, key=key, type=found.type, chair=found.chair,
            valid=found.valid, error=error, retained=retained, site=self.site,
        )
        if found.valid and isinstance(found.payload, Reading) and found.chair is not None:
            self._last_reading = (found.chair, found.payload.id)
        if seq is None:
            self.duplicates += 1
            return False
        self.recorded += 1
        if not found.valid:
            self.invalid += 1
            log.info("recorded an invalid message on %s: %s", topic, found.error)
            return True
        for row in self.tracker.observe(found.chair, found.payload, now):
            row.site = self.site
            self.store.save_session(row)
        return True

    def purge_if_due(self, now: datetime) -> None:
        if self.retention_days is None:
            return
        if self._last_purge is not None and now - self._last_purge < timedelta(days=1):
            return
        self._last_purge = now
        sessions, messages = self.store.purge(now, self.retention_days, site=self.site)
        if sessions or messages:
            log.info("retention: deleted %d sessions and %d messages", sessions, messages)

    def _record_state(self, chair: str, found: Classified, topic: str, payload: bytes,
                      now: datetime, retained: bool) -> bool:
        if self._last_state.get(chair) == payload:
            self.duplicates += 1  # a redelivery, or a retained state seen again
            return False
        self._last_state[chair] = payload
        # The sessions follow every state; the store keeps those that say something new.
        for row in self.tracker.observe(chair, found.payload, now):
            row.site = self.site
            self.store.save_session(row)
        kept = self.thinning.take(chair, found.payload, (topic, payload, now, retained), now)
        stored = [self._append(t, p, at, found, r) for t, p, at, r in kept]
        self.recorded += sum(1 for seq in stored if seq is not None)
        if stored and stored[-1] is None:
            self.duplicates += 1
            return False
        return True

    def _append(self, topic: str, payload: bytes, at: datetime, found: Classified,
                retained: bool) -> int | None:
        return self.store.append(topic, payload, at, key=found.key, type=found.type,
                                 chair=found.chair, valid=True, retained=retained,
                                 site=self.site)

    async def wait_recorded(self, count: int, within: float = 15.0) -> None:
        """Wait until ``count`` messages have been taken, kept or thinned (tests, tools)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: self.recorded + self.thinned >= count)

    # -- the broker side -----------------------------------------------------------------

    async def run(self) -> None:
        """Record until cancelled, reconnecting with backoff."""
        await stay_connected(self.mqtt, self._client, self._session, name="recorder",
                             lost=self._lost)

    def _client(self) -> aiomqtt.Client:
        # Each message is stamped when it reaches this process, not when its batch is
        # written: a recorder that falls behind for a moment must not record a silence.
        arrivals: deque[datetime] = deque()
        self._arrivals = arrivals
        clock = self.clock

        class Stamped(asyncio.Queue[aiomqtt.Message]):
            def put_nowait(self, item: aiomqtt.Message) -> None:
                super().put_nowait(item)
                arrivals.append(clock.now())

        client = make_client(self.mqtt, self.client_id, clean_session=False, queue_type=Stamped)
        # Acknowledge only what is on disk.
        manual_acks(client)
        return client

    async def _session(self, client: aiomqtt.Client) -> None:
        await client.subscribe(topics.site_filter(self.site), qos=QOS)
        self.connected.set()
        self.purge_if_due(self.clock.now())
        await self._consume(client)

    def _lost(self, exc: aiomqtt.MqttError, delay: float) -> None:
        self.connected.clear()
        log.warning("recorder: broker %s lost (%s); retry in %.2fs", self.mqtt.url(), exc, delay)

    async def _consume(self, client: aiomqtt.Client) -> None:
        messages = Incoming(client)
        while True:
            batch = [await anext(messages)]
            while len(messages) and len(batch) < BATCH:
                batch.append(await anext(messages))
            now = self.clock.now()
            committed: dict[str, list[str]] = {}
            for message in batch:
                topic = message.topic.value
                arrived = self._arrivals.popleft() if self._arrivals else now
                if topic.endswith("/recorded"):
                    continue  # our own word to the gateways: not a message of the site
                self.record(topic, payload_bytes(message), min(arrived, now), message.retain)
                reading = self._last_reading
                if reading is not None:
                    committed.setdefault(reading[0], []).append(reading[1])
            self.store.commit()
            # On disk: the broker may let go of the batch at once (a broker that waits long
            # for an acknowledgement may give up and drop the message), and each gateway of
            # the readings in it, a duplicate too, since the gateway that resent it waits.
            for message in batch:
                if message.qos > 0:
                    ack(client, message.mid, message.qos)
            for chair, ids in committed.items():
                for start in range(0, len(ids), 1000):
                    word = Recorded(chair=chair, at=now, ids=ids[start:start + 1000])
                    await client.publish(topics.recorded(self.site, chair), word.to_json(),
                                         qos=QOS)
            async with self._changed:
                self._changed.notify_all()
            self.purge_if_due(now)


def reindex(store: RecordingStore, site: str | None = None) -> int:
    """Rebuild the session index from the messages (after an upgrade, or to check it), of
    one site or of every site in the store; returns how many sessions it holds then."""
    decoder = PayloadDecoder(logging.getLogger(__name__ + ".payloads"))
    trackers: dict[str | None, SessionTracker] = {}
    store.clear_sessions(site=site)
    count = 0
    for message in store.messages(site=site):
        if not message.valid or message.type is None:
            continue
        found = classify(message.topic, message.payload, decoder)
        tracker = trackers.setdefault(message.site, SessionTracker())
        for row in tracker.observe(found.chair, found.payload, message.received_at):
            row.site = message.site
            store.save_session(row)
            count += 1
    store.commit()
    return len(store.sessions(site=site)) if count else 0
