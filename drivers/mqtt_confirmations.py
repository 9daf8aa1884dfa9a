"""QoS 1 publishes confirmed by a call on their PUBACK, not by a coroutine awaiting it.

aiomqtt's ``publish`` is a coroutine that waits for its PUBACK: a task for the caller to run
it, a ``wait_for`` task and a timer for its timeout, and three or four turns of the event
loop between the PUBACK and the caller hearing of it. A process that publishes at the
broker's pace (the engine service: a state or an event for every input, each awaited before
the input is acknowledged) spent a good part of its CPU on that machinery.

`Confirmations` publishes through paho directly. Each PUBACK is registered where aiomqtt's
own ``on_publish`` looks for it, so aiomqtt still sees every publish as pending and routes
its PUBACK here. The confirmed publishes' calls run together on the loop's next turn, out of
paho's callbacks, so whatever they send is written at once (`drivers.mqtt._write_at_once`).
One deadline replaces the timer of each publish: `check` raises once the oldest publish has
waited ``timeout_s`` (aiomqtt's own publish timeout), which is how a broker that stopped
answering without closing the connection is found before the keep-alive would find it. It
raises too once a confirmation's call has failed: what that call was to release is held,
and only a new connection (the broker giving the inputs again) frees it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiomqtt
from aiomqtt.exceptions import MqttCodeError
from paho.mqtt.client import MQTT_ERR_SUCCESS

from drivers.mqtt import QOS

log = logging.getLogger(__name__)


class _Confirmation(asyncio.Event):
    """What aiomqtt's ``on_publish`` pops and sets for a PUBACK: here, a call."""

    def __init__(self, owner: Confirmations, mid: int, confirmed: Callable[[], None]) -> None:
        super().__init__()
        self._owner, self._mid, self._confirmed = owner, mid, confirmed

    def set(self) -> None:
        self._owner._arrived(self._mid, self._confirmed)


class Confirmations:
    """The QoS 1 publishes of one connection awaiting their PUBACK.

    Belongs to one connected client: when the connection goes, it goes with it, and the calls
    of publishes it never confirmed are never made (whoever published sends again on the next
    connection)."""

    def __init__(self, client: aiomqtt.Client, *, timeout_s: float | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self._client = client
        self._loop = asyncio.get_running_loop()
        self._clock = self._loop.time if clock is None else clock
        self.timeout_s = float(client.timeout) if timeout_s is None else timeout_s
        self._waiting: dict[int, float] = {}  # mid -> loop time published, oldest first
        self._arrived_calls: list[Callable[[], None]] = []
        self._failed: BaseException | None = None

    def __len__(self) -> int:
        return len(self._waiting)

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False,
                confirmed: Callable[[], None]) -> None:
        """Hand a QoS 1 publish to the client; ``confirmed`` is called once the broker has
        acknowledged it. Raises `aiomqtt.MqttCodeError` if the client cannot take it (the
        connection is gone), as aiomqtt's publish does."""
        info = self._client._client.publish(topic, payload, QOS, retain)
        if info.rc != MQTT_ERR_SUCCESS:
            raise MqttCodeError(info.rc, "Could not publish message")
        # paho gives no message id twice while its publish awaits a PUBACK, and reads the
        # PUBACK only on a later turn of the loop (no thread of its own runs here).
        self._waiting[info.mid] = self._clock()
        self._client._pending_publishes[info.mid] = _Confirmation(self, info.mid, confirmed)

    def check(self) -> None:
        """Raise `aiomqtt.MqttError` if a publish has waited longer than ``timeout_s`` for
        its PUBACK (the broker has stopped answering), or if a confirmed publish's call
        failed (what it was to release is held: the connection must end, so that the
        broker gives it again)."""
        if self._failed is not None:
            raise aiomqtt.MqttError(
                f"a publish's confirmation failed: {self._failed!r}") from self._failed
        for published in self._waiting.values():
            waited = self._clock() - published
            if waited > self.timeout_s:
                raise aiomqtt.MqttError(
                    f"a publish waited {waited:.1f}s for the broker's acknowledgement "
                    f"(more than {self.timeout_s:g}s)")
            return  # the oldest is in time: so are the rest

    def _arrived(self, mid: int, confirmed: Callable[[], None]) -> None:
        self._waiting.pop(mid, None)
        if not self._arrived_calls:
            self._loop.call_soon(self._run)
        self._arrived_calls.append(confirmed)

    def _run(self) -> None:
        calls, self._arrived_calls = self._arrived_calls, []
        for call in calls:
            try:
                call()
            except Exception as exc:  # one failure does not hold back the others' calls
                log.exception("the confirmation of a publish failed")
                if self._failed is None:
                    self._failed = exc
