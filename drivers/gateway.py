"""The gateway: one chair's drivers in, Readings and device status out to the broker.

A reading the gateway accepts is kept until the broker has acknowledged it (QoS 1 PUBACK):
in an outbox that is either in memory or, for a clinic, the on-disk spool, so a broker that
restarts or a network that drops loses nothing and a gateway restart resumes where it was.
Readings leave in the order they were accepted.

Store and forward, in detail:

* Every reading carries a unique id, which is also its outbox key: a reading offered twice is
  stored once, and a receiver drops a QoS 1 redelivery by its id.
* Readings are published oldest first, one at a time: each leaves the outbox only after its
  PUBACK. When the connection breaks before the PUBACK, the reading is published again
  after the reconnect: a receiver may see it twice (and drops the copy by its id), never
  out of order, and never misses one. (Several publishes in flight were measured slower
  than one at a time with aiomqtt, see benchmarks/gateway_throughput.py.)
* The outbox is bounded. At its warning level every device status the gateway publishes turns
  ``degraded`` with the fill level as the reason, and a warning is logged. When it is full a
  new reading is refused, never silently dropped: ``accept`` returns False, the device is
  reported degraded and an error is logged (once per episode).
* Sequence numbers (``Reading.seq``) are per device and keep growing across gateway restarts
  when a `SeqStore` is given: numbers are reserved on disk a block at a time, so a restart
  continues after the last reserved block (a jump in ``seq`` at a gateway restart is not a
  loss; ``GatewayStatus`` online marks the restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import os
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

import aiomqtt

from drivers import topics
from drivers.clock import Clock
from drivers.mqtt import QOS, Incoming, make_client, payload_bytes, stay_connected, will
from drivers.mqtt_settings import MqttSettings
from drivers.payloads import PayloadDecoder
from drivers.spool import Spool, SpoolEntry, SpoolError, SpoolFull
from drivers.tasks import first_failure, raise_if_cancelled
from drivers.wire import DeviceStatus, GatewayStatus, Reading, Recorded

log = logging.getLogger(__name__)

OutboxEntry = SpoolEntry
"""One waiting message: the in-memory outbox and the on-disk spool hand out the same type."""


class Outbox(Protocol):
    """Where accepted readings wait for the broker: oldest first, removed only on PUBACK.

    ``append`` raises `drivers.spool.SpoolFull` when the outbox holds ``capacity`` entries
    (0: unbounded); ``nearly_full`` turns true at the warning level.
    """

    def append(self, topic: str, payload: bytes, key: str) -> int: ...
    def peek(self, limit: int = 100, after: int = 0) -> list[OutboxEntry]: ...
    def ack(self, rowid: int) -> None: ...
    def probe(self) -> None: ...
    def __len__(self) -> int: ...

    @property
    def capacity(self) -> int: ...

    @property
    def nearly_full(self) -> bool: ...


class MemoryOutbox:
    """An outbox that lives as long as the process (tests, the demo).

    ``capacity`` 0 is unbounded; otherwise it refuses like the spool (`SpoolFull`) and warns
    at ``warn_at`` of it.
    """

    def __init__(self, capacity: int = 0, warn_at: float = 0.8) -> None:
        if capacity < 0:
            raise ValueError(f"outbox capacity must be 0 (unbounded) or more, got {capacity}")
        self._items: OrderedDict[int, OutboxEntry] = OrderedDict()
        self._keys: set[str] = set()
        self._next = 1
        self._capacity = capacity
        self._warn_at = warn_at

    def append(self, topic: str, payload: bytes, key: str) -> int:
        if key in self._keys:
            return -1
        if self._capacity and len(self._items) >= self._capacity:
            raise SpoolFull(
                f"outbox is full ({len(self._items)} readings waiting for the broker, capacity "
                f"{self._capacity}); reading {key} was NOT accepted"
            )
        entry = OutboxEntry(self._next, topic, payload, key)
        self._next += 1
        self._items[entry.rowid] = entry
        self._keys.add(key)
        return entry.rowid

    def peek(self, limit: int = 100, after: int = 0) -> list[OutboxEntry]:
        """The oldest ``limit`` entries after row ``after``, in the order appended."""
        found: list[OutboxEntry] = []
        for rowid, entry in self._items.items():
            if rowid > after:
                found.append(entry)
                if len(found) >= limit:
                    break
        return found

    def ack(self, rowid: int) -> None:
        entry = self._items.pop(rowid, None)
        if entry is not None:
            self._keys.discard(entry.key)

    def probe(self) -> None:
        """Memory does not fail."""

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[OutboxEntry]:
        return iter(self._items.values())

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def nearly_full(self) -> bool:
        return bool(self._capacity) and len(self._items) >= self._warn_at * self._capacity


def spool_path(spool_dir: str | Path, site: str, chair: str) -> Path:
    """Where a chair's spool lives: ``{spool_dir}/{site}-{chair}.db``."""
    site = topics.check_ident(site, "site")
    return Path(spool_dir) / f"{site}-{topics.check_ident(chair, 'chair')}.db"


def open_spool(
    spool_dir: str | Path, site: str, chair: str, capacity: int, warn_fraction: float
) -> Spool:
    """Open (creating the folder if needed) the spool of one chair's gateway."""
    path = spool_path(spool_dir, site, chair)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Spool(path, capacity=capacity, warn_at=warn_fraction)


class SeqStore:
    """Per-device sequence numbers that survive a restart.

    Numbers are reserved ``block`` at a time in a small JSON file (written atomically and
    fsynced once per block), so a restart goes on after the last reserved block: numbers stay
    unique and increasing per device, with at most one jump per restart.
    """

    def __init__(self, path: str | Path, block: int = 1000) -> None:
        if block < 1:
            raise ValueError("block must be at least 1")
        self.path = Path(path)
        self.block = block
        self._next: dict[str, int] = {}
        self._limit: dict[str, int] = {}
        self._reserved: dict[str, int] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            log.warning("sequence file %s unreadable (%s); starting sequences at 0",
                        self.path, exc)
            data = {}
        if isinstance(data, dict):
            for device, value in data.items():
                if isinstance(device, str) and isinstance(value, int) and value >= 0:
                    self._reserved[device] = value
                    self._next[device] = value
                    self._limit[device] = value

    def next(self, device: str) -> int:
        n = self._next.get(device, 0)
        if n >= self._limit.get(device, 0):
            self._limit[device] = n + self.block
            self._reserved[device] = n + self.block
            self._save()
        self._next[device] = n + 1
        return n

    def _save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = json.dumps(self._reserved, sort_keys=True).encode()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:  # numbers stay unique in this run; only restarts could repeat
            log.error("cannot save sequence numbers to %s: %s", self.path, exc)


class Gateway:
    """Publishes what a chair's drivers produce. Drivers call `accept` and `device_status`;
    `run` keeps the broker connection (reconnecting with backoff) and drains the outbox."""

    def __init__(
        self,
        mqtt: MqttSettings,
        site: str,
        chair: str,
        clock: Clock,
        outbox: Outbox | None = None,
        *,
        client_id: str | None = None,
        seq_store: SeqStore | None = None,
        status_interval_s: float = 10.0,
        confirm_by: Literal["broker", "recorder"] = "broker",
        resend_after_s: float = 5.0,
        on_accept: Callable[[Reading], None] | None = None,
    ) -> None:
        self.mqtt = mqtt
        # Told of every reading the gateway took: an audit of what it owes downstream.
        self.on_accept = on_accept
        # "recorder": a reading leaves the outbox only when the recorder says it is committed
        # (the broker's PUBACK alone is not durable); "broker": on PUBACK, where no recorder runs.
        self.confirm_by = confirm_by
        # Unconfirmed this long, a reading is sent again: a broker that restarted before the
        # recorder subscribed again had no one to give it to.
        self.resend_after_s = resend_after_s
        # Doubled at each resend that no word followed (a recorder that is down gets the
        # backlog from the broker's queue when it returns; it need not come again and again).
        self._resend_wait = resend_after_s
        self.site = topics.check_ident(site, "site")
        self.chair = topics.check_ident(chair, "chair")
        self.clock = clock
        self.outbox: Outbox = outbox if outbox is not None else MemoryOutbox()
        self.client_id = client_id or f"chairside-gateway-{site}-{chair}"
        self.seq_store = seq_store
        self.status_interval_s = status_interval_s
        self.connected = asyncio.Event()
        self.published = 0
        self.refused = 0
        self._wakeup = asyncio.Event()
        self._emptied = asyncio.Event()
        self._statuses: dict[str, DeviceStatus] = {}
        self._status_dirty: set[str] = set()
        self._seq: dict[str, int] = {}
        self._waiting: dict[str, int] = {}  # readings per device in the outbox (this run)
        self._key_device: dict[str, str] = {}
        self._refusing: set[str] = set()  # devices whose last reading was refused
        self._refusal = "full"
        self._warned_level = False
        self._connection: str | None = None  # named anew for every broker connection
        # Readings the broker confirmed that the outbox could not remove (its disk failed):
        # not sent again, their removal retried until the disk works.
        self._unremoved: dict[int, str] = {}
        # Published and waiting for the recorder's word: reading id -> (row, loop time it was
        # first sent). Each reading's own wait counts: the word for newer readings says
        # nothing of an older one the broker may have lost. The heap finds the oldest.
        self._unconfirmed: dict[str, tuple[int, float]] = {}
        self._ages: list[tuple[float, str]] = []  # (first sent, id); stale entries skipped
        self._sent: set[str] = set()  # sent on this connection and not due again
        self._sent_after = 0  # the row up to which the outbox has been gone through
        self._next_probe = 0.0  # loop time of the next try of a refusing disk
        # The recorder's word can come before the broker's PUBACK is handled here (both
        # arrive within a millisecond): kept, so the reading leaves once its PUBACK is in.
        self._confirmed_early: OrderedDict[str, None] = OrderedDict()
        # Confirmed lately: a batch read from the outbox before the word came may still
        # hold them, and they must not be sent (and waited for) again.
        self._confirmed: OrderedDict[str, None] = OrderedDict()

    # -- called by drivers ---------------------------------------------------------------

    def next_seq(self, device: str) -> int:
        """A per-device sequence number, so a receiver can check order and gaps."""
        if self.seq_store is not None:
            return self.seq_store.next(device)
        n = self._seq.get(device, 0)
        self._seq[device] = n + 1
        return n

    def accept(self, reading: Reading) -> bool:
        """Take a reading: from here on it is the gateway's to deliver.

        Returns False when the outbox is full (or its disk fails) and the reading was
        refused: logged, and the device is reported degraded until readings are taken again.
        """
        if reading.chair != self.chair:
            raise ValueError(f"reading for chair {reading.chair!r} sent to gateway {self.chair!r}")
        try:
            rowid = self.outbox.append(
                topics.reading(self.site, self.chair, reading.kind), reading.to_json(), reading.id
            )
        except SpoolError as exc:  # full, or the disk failed: refused, and said loudly
            self.refused += 1
            if reading.device not in self._refusing:
                self._refusing.add(reading.device)
                log.error("gateway %s: %s", self.chair, exc)
                self._mark(reading.device)
            self._refusal = "full" if isinstance(exc, SpoolFull) else f"failing: {exc}"
            return False
        if reading.device in self._refusing and self._refusal != "full":
            self._refusing.discard(reading.device)  # the disk works again
            log.warning("gateway %s: outbox accepts readings of %s again", self.chair,
                        reading.device)
            self._mark(reading.device)
        if rowid != -1 and reading.id not in self._key_device:
            self._key_device[reading.id] = reading.device
            self._waiting[reading.device] = self._waiting.get(reading.device, 0) + 1
        if self.on_accept is not None:
            self.on_accept(reading)
        self._check_level()
        self._wakeup.set()
        return True

    def device_status(self, status: DeviceStatus) -> None:
        """Record a device's state; the newest one per device is published, retained."""
        self._statuses[status.device] = status
        self._mark(status.device)

    def _mark(self, device: str) -> None:
        if device in self._statuses:
            self._status_dirty.add(device)
            self._wakeup.set()

    # -- what is published ---------------------------------------------------------------

    def _check_level(self) -> None:
        capacity = self.outbox.capacity
        if self._refusing and self._refusal == "full" and (
            not capacity or len(self.outbox) < capacity
        ):
            log.warning("gateway %s: outbox has room again (%d waiting)", self.chair,
                        len(self.outbox))
            self._status_dirty.update(self._refusing & set(self._statuses))
            self._refusing.clear()
            self._wakeup.set()
        level = self.outbox.nearly_full
        if level != self._warned_level:
            self._warned_level = level
            depth, capacity = len(self.outbox), self.outbox.capacity
            if level:
                log.warning(
                    "gateway %s: outbox %d%% full (%d of %d readings waiting for the broker); "
                    "devices reported degraded", self.chair, _percent(depth, capacity), depth,
                    capacity,
                )
            else:
                log.warning("gateway %s: outbox below its warning level again (%d waiting)",
                            self.chair, depth)
            self._status_dirty.update(self._statuses)
            self._wakeup.set()

    def published_status(self, device: str) -> DeviceStatus:
        """A device's status as it goes on the wire: the driver's own, with the outbox's
        count and, while the outbox is nearly full or refusing, degraded with the reason."""
        status = self._statuses[device]
        counters = status.counters.model_copy(update={"spooled": self._waiting.get(device, 0)})
        update: dict[str, object] = {"counters": counters}
        problem: str | None = None
        depth, capacity = len(self.outbox), self.outbox.capacity
        if device in self._refusing and self._refusal != "full":
            problem = f"gateway outbox {self._refusal}: new readings are refused"
        elif device in self._refusing:
            problem = (f"gateway outbox full ({depth} of {capacity} readings waiting for the "
                       "broker): new readings are refused")
        elif self.outbox.nearly_full:
            problem = (f"gateway outbox {_percent(depth, capacity)}% full ({depth} of {capacity} "
                       "readings waiting for the broker)")
        if device in self._refusing:
            update["refusing"] = True
        if problem is not None and status.state in ("connected", "degraded"):
            update["state"] = "degraded"
            update["reason"] = f"{status.reason}; {problem}" if status.reason else problem
        return status.model_copy(update=update)

    def _gateway_status(self, state: str) -> GatewayStatus:
        return GatewayStatus(
            chair=self.chair,
            state="online" if state == "online" else "offline",
            at=self.clock.now(),
            spool_depth=len(self.outbox),
            spool_capacity=self.outbox.capacity,
            connection=self._connection,
        )

    # -- the broker side -----------------------------------------------------------------

    async def run(self) -> None:
        """Connect, publish, reconnect; returns only when cancelled."""
        await stay_connected(self.mqtt, self._client, self._session,
                             name=f"gateway {self.chair}", lost=self._lost)

    def _client(self) -> aiomqtt.Client:
        # A name for this connection, in the will and in every heartbeat on it, so the engine
        # knows the will for the end of the connection it came with.
        self._connection = uuid.uuid4().hex[:12]
        status_topic = topics.gateway_status(self.site, self.chair)
        return make_client(self.mqtt, self.client_id,
                           will=will(status_topic, self._gateway_status("offline")))

    def _lost(self, exc: aiomqtt.MqttError, delay: float) -> None:
        self.connected.clear()
        log.warning("gateway %s: broker %s unreachable (%s); %d readings waiting; retry in "
                    "%.2fs", self.chair, self.mqtt.url(), exc, len(self.outbox), delay)

    async def _session(self, client: aiomqtt.Client) -> None:
        status_topic = topics.gateway_status(self.site, self.chair)
        lost = _disconnection(client)
        if lost is not None:
            lost.add_done_callback(_mark_read)
        # What was sent but not confirmed goes again, oldest first: a broker that crashed may
        # have lost it though it acknowledged it.
        self._sent.clear()
        self._sent_after = 0
        if self.confirm_by == "recorder":
            await client.subscribe(topics.recorded(self.site, self.chair), qos=QOS)
        await client.publish(
            status_topic, self._gateway_status("online").to_json(), qos=QOS, retain=True
        )
        self._status_dirty.update(self._statuses)
        self.connected.set()
        if len(self.outbox):
            log.info("gateway %s: broker back; publishing %d waiting readings",
                     self.chair, len(self.outbox))
        try:
            if self.confirm_by == "recorder":
                await first_failure(self._pump(client, status_topic),
                                    self._confirmations(client))
            else:
                await self._pump(client, status_topic)
        except asyncio.CancelledError:
            await self._say_offline(client, status_topic)
            raise

    async def _say_offline(self, client: aiomqtt.Client, status_topic: str) -> None:
        """A gateway that stops disconnects cleanly, and a clean disconnect sends no will: say
        offline ourselves, or the chair would look monitored for as long as we are gone."""
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with asyncio.timeout(2.0):
                await client.publish(
                    status_topic, self._gateway_status("offline").to_json(), qos=QOS, retain=True
                )

    async def _pump(self, client: aiomqtt.Client, status_topic: str) -> None:
        loop = asyncio.get_running_loop()
        next_status = loop.time() + self.status_interval_s
        while True:
            raise_if_cancelled()
            self._wakeup.clear()
            if loop.time() >= next_status:
                next_status = loop.time() + self.status_interval_s
                await client.publish(
                    status_topic, self._gateway_status("online").to_json(), qos=QOS, retain=True
                )
            for device in sorted(self._status_dirty):
                self._status_dirty.discard(device)
                await client.publish(
                    topics.device_status(self.site, self.chair, device),
                    self.published_status(device).to_json(),
                    qos=QOS,
                    retain=True,
                )
            self._retry_removals()
            self._probe_if_refusing(loop.time())
            self._resend_if_overdue(loop.time())
            batch = self._peek()
            entries = [e for e in batch if e.rowid not in self._unremoved
                       and e.key not in self._sent]
            stopped = False
            for entry in entries:
                await self._publish(client, entry)
                if self._unremoved:
                    stopped = True  # the disk fails: wait before trying it again
                    break
            if batch and not stopped and self.confirm_by == "recorder":
                # Past what this batch held, sent now or before: the next rows come next.
                self._sent_after = max(self._sent_after, batch[-1].rowid)
                if not entries:
                    continue
            if not len(self.outbox):
                self._emptied.set()
            if self._unremoved or self._disk_refusing():
                await self._idle(client, PROBE_EVERY_S)
            elif not entries and not self._status_dirty:
                wait = next_status - loop.time()
                oldest = self._oldest_unconfirmed()
                if oldest is not None:
                    wait = min(wait, oldest + self._resend_wait - loop.time())
                await self._idle(client, max(0.0, wait))

    def _peek(self) -> list[OutboxEntry]:
        try:
            return self.outbox.peek(200, after=self._sent_after)
        except SpoolError as exc:
            self._disk_failing(exc)
            return []

    def _remove(self, rowid: int, key: str) -> bool:
        """Take a confirmed reading out of the outbox; False if its disk refuses."""
        try:
            self.outbox.ack(rowid)
        except SpoolError as exc:
            self._unremoved[rowid] = key
            self._disk_failing(exc)
            return False
        self._unremoved.pop(rowid, None)
        device = self._key_device.pop(key, None)
        if device is not None:
            self._waiting[device] -= 1
        return True

    def _retry_removals(self) -> None:
        if not self._unremoved:
            return
        for rowid, key in list(self._unremoved.items()):
            if not self._remove(rowid, key):
                return
        self._disk_works_again("outbox disk works again")

    def _disk_works_again(self, what: str) -> None:
        """The devices that were refused are reported as they are again."""
        log.warning("gateway %s: %s", self.chair, what)
        self._status_dirty.update(self._refusing & set(self._statuses))
        self._refusing.clear()
        self._refusal = "full"

    def _disk_failing(self, exc: SpoolError) -> None:
        """The outbox's disk fails under readings already taken: the gateway lives on, keeps
        them in memory until the disk returns, and every device says so."""
        if not self._refusal.startswith("failing") or not self._refusing:
            log.error("gateway %s: outbox disk failing (%s); %d confirmed readings kept until "
                      "it works again", self.chair, exc, len(self._unremoved))
        self._refusal = f"failing: {exc}"
        newly = set(self._statuses) - self._refusing
        self._refusing.update(self._statuses)
        self._status_dirty.update(newly)

    async def _idle(self, client: aiomqtt.Client, at_most: float) -> None:
        """Wait for work, the status interval, or the connection's loss (then raise)."""
        waiter = asyncio.ensure_future(self._wakeup.wait())
        watched: set[asyncio.Future[Any]] = {waiter}
        lost = _disconnection(client)
        if lost is not None:
            watched.add(lost)
        try:
            await asyncio.wait(watched, timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if lost is not None and lost.done():
            raise aiomqtt.MqttError("connection to the broker lost")

    async def _publish(self, client: aiomqtt.Client, entry: OutboxEntry) -> None:
        """Publish one entry; ack it after its PUBACK. A connection lost meanwhile ends the
        wait at once (aiomqtt would otherwise wait for the PUBACK until its timeout)."""
        if self.confirm_by == "recorder":
            if entry.key in self._confirmed:
                return  # confirmed while its batch waited: it has left the outbox
            self._track(entry)
        sending = asyncio.ensure_future(client.publish(entry.topic, entry.payload, qos=QOS))
        lost = _disconnection(client)
        if lost is not None and not sending.done():
            watched: set[asyncio.Future[Any]] = {sending, lost}
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            if not sending.done():
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sending
                raise aiomqtt.MqttError("connection to the broker lost while publishing")
        await sending
        self.published += 1
        if self.confirm_by == "recorder":
            self._sent_after = max(self._sent_after, entry.rowid)
            if entry.key in self._confirmed_early:  # the word came before the PUBACK
                del self._confirmed_early[entry.key]
                self._confirm(entry.key)
            elif entry.key in self._unconfirmed:
                self._sent.add(entry.key)
            return
        if not self._remove(entry.rowid, entry.key):
            return
        if self._refusing or self._warned_level:
            self._check_level()

    def _disk_refusing(self) -> bool:
        return bool(self._refusing) and self._refusal.startswith("failing")

    def _probe_if_refusing(self, now: float) -> None:
        """While the disk refuses new readings, try it now and then: when it works again the
        devices say so at once, not at their next reading (a cuff's may be 5 minutes off)."""
        if not (self._disk_refusing() or self._unremoved) or now < self._next_probe:
            return
        self._next_probe = now + PROBE_EVERY_S
        try:
            self.outbox.probe()  # reopens the spool where a repaired disk is mounted again
        except SpoolError:
            return
        if self._unremoved:
            self._retry_removals()
        else:
            self._disk_works_again("outbox disk accepts writes again")

    def _oldest_unconfirmed(self) -> float | None:
        """When the oldest reading still waiting for the recorder's word was first sent."""
        while self._ages:
            sent_at, key = self._ages[0]
            known = self._unconfirmed.get(key)
            if known is not None and known[1] == sent_at:
                return sent_at
            heapq.heappop(self._ages)
        return None

    def _track(self, entry: OutboxEntry) -> None:
        """A reading about to be published waits for the recorder's word from now on (the
        word may come before the broker's PUBACK is handled)."""
        if entry.key not in self._unconfirmed:
            now = asyncio.get_running_loop().time()
            self._unconfirmed[entry.key] = (entry.rowid, now)
            heapq.heappush(self._ages, (now, entry.key))

    def _confirm(self, key: str) -> bool:
        """The recorder has committed this reading: it leaves the outbox."""
        known = self._unconfirmed.pop(key, None)
        self._sent.discard(key)
        if known is None:
            return False
        self._remove(known[0], key)
        _remember(self._confirmed, key)
        return True

    def _resend_if_overdue(self, now: float) -> None:
        """Readings unconfirmed for the present wait are sent again, and only those; the
        wait doubles each time, so a recorder that is down or lagging is not flooded."""
        oldest = self._oldest_unconfirmed()
        if oldest is None or now - oldest < self._resend_wait:
            return
        waited = self._resend_wait
        self._resend_wait = min(waited * 2, RESEND_MAX_S)
        # The wait says how often; what goes again is all that has waited the shortest wait.
        overdue = [key for key, (_, sent_at) in self._unconfirmed.items()
                   if now - sent_at >= self.resend_after_s]
        log.warning("gateway %s: %d readings unconfirmed by the recorder, the oldest for "
                    "%.0f s; sending them again", self.chair, len(overdue), now - oldest)
        self._sent.difference_update(overdue)
        self._sent_after = 0

    async def _confirmations(self, client: aiomqtt.Client) -> None:
        """The recorder's word that readings are committed: only now do they leave."""
        decoder = PayloadDecoder(log)
        async for message in Incoming(client):
            inbound = decoder.decode(message.topic.value, payload_bytes(message))
            if inbound is None or not isinstance(inbound.payload, Recorded):
                continue
            for key in inbound.payload.ids:
                if not self._confirm(key):  # not sent by this run yet (a run before sent it)
                    _remember(self._confirmed_early, key)
            # The recorder keeps up (nothing it was sent waits long): the next reading the
            # broker loses is sent again soon. A recorder that lags keeps the wait growing.
            oldest = self._oldest_unconfirmed()
            if oldest is None or asyncio.get_running_loop().time() - oldest < self.resend_after_s:
                self._resend_wait = self.resend_after_s
            if self._refusing or self._warned_level:
                self._check_level()
            if not len(self.outbox):
                self._emptied.set()
            self._wakeup.set()

    async def drain(self, within: float = 10.0) -> bool:
        """Wait until the outbox is empty (for a clean stop); False if time ran out."""
        try:
            async with asyncio.timeout(within):
                while len(self.outbox):
                    self._emptied.clear()
                    await self._emptied.wait()
        except TimeoutError:
            return False
        return True


EARLY_KEPT = 10_000
"""Reading ids kept of the recorder's word: for readings this run has not sent yet, and for
readings confirmed lately that a batch read before the word may still hold."""
PROBE_EVERY_S = 1.0
"""How often a disk that refuses new readings is tried again."""
RESEND_MAX_S = 300.0
"""The longest a gateway waits, with no word from the recorder, before sending again."""


def _remember(keys: OrderedDict[str, None], key: str) -> None:
    """Keep ``key`` among the newest EARLY_KEPT, the oldest forgotten first."""
    keys[key] = None
    if len(keys) > EARLY_KEPT:
        keys.popitem(last=False)


def _disconnection(client: aiomqtt.Client) -> asyncio.Future[None] | None:
    """The future aiomqtt completes when the connection drops (None if it has none)."""
    future = getattr(client, "_disconnected", None)
    return future if isinstance(future, asyncio.Future) else None


def _mark_read(future: asyncio.Future[None]) -> None:
    """aiomqtt sets a connection's loss on this future as an exception and never reads it,
    so asyncio would log "Future exception was never retrieved" after every broker outage.
    The loss is handled where it is watched; here it is only marked read."""
    if not future.cancelled():
        future.exception()


def _percent(depth: int, capacity: int) -> int:
    return 100 * depth // capacity if capacity else 0


__all__ = [
    "Gateway",
    "MemoryOutbox",
    "Outbox",
    "OutboxEntry",
    "SeqStore",
    "open_spool",
    "spool_path",
]
