"""Where a live dashboard's data comes from: the broker. One connection (kept up by the one
reconnect loop of every client) subscribes to the site's chair states, the engine's answers
and its status, hands each decoded message to the App as a `Received`, and publishes the
commands the screen sends. A screen that watches its site from the regional broker follows
the site's bridge state as well (`BridgeState`), so it can tell the site is out of reach.
A replay feeds the same floor from a recording instead
(`monitor.recording.replay_app`)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import aiomqtt
from textual.message import Message

from drivers import topics
from drivers.errors import ChairsideError
from drivers.mqtt import QOS, Incoming, make_client, payload_bytes, stay_connected
from drivers.mqtt_settings import BrokerRefused, MqttSettings
from drivers.payloads import PayloadDecoder
from drivers.wire import CommandBase
from monitor.sites import BRIDGE_ROOT, bridge_state_topic

from .floor import Link
from .messages import BridgeState, Received, Refused, SiteHeard

log = logging.getLogger("monitor.dashboard.app")


class NotConnected(ChairsideError):
    """A command cannot be sent: there is no connection to the broker."""


class BrokerSource:
    """The site's states, answers and engine status from the broker, as one user."""

    def __init__(self, mqtt: MqttSettings, site: str, link: Link,
                 post: Callable[[Message], object], *, bridge: bool = False) -> None:
        self.mqtt = mqtt
        self.site = site
        self.bridge_topic = bridge_state_topic(site) if bridge else None
        """Where the site's bridge says whether it is up, followed at the region only: at
        the site the same topic speaks of the uplink, which the site's screens need not."""
        self.link = link
        self.post = post
        self.decoder = PayloadDecoder(log)
        self._client: aiomqtt.Client | None = None

    async def run(self) -> None:
        """Stay connected until cancelled, or until the broker refuses these credentials
        (trying again cannot help): then `Refused` says so."""
        mqtt = self.mqtt
        identifier = f"chairside-dashboard-{self.site}-{uuid.uuid4().hex[:8]}"

        async def session(client: aiomqtt.Client) -> None:
            await client.subscribe(topics.chairs_filter(self.site, "state"), qos=QOS)
            await client.subscribe(topics.chairs_filter(self.site, "command-results"), qos=QOS)
            await client.subscribe(topics.engine_status(self.site), qos=QOS)
            if self.bridge_topic is not None:
                await client.subscribe(self.bridge_topic, qos=QOS)
            self._client = client
            self.link.connected = self.link.ever_connected = True
            try:
                async for message in Incoming(client):
                    if message.topic.value == self.bridge_topic:
                        word = payload_bytes(message).strip()
                        if word in (b"0", b"1"):
                            self.post(BridgeState(word == b"1", self.site))
                        continue
                    inbound = self.decoder.decode(
                        message.topic.value, payload_bytes(message), message.retain
                    )
                    if inbound is not None:
                        self.post(Received(inbound, self.site))
            finally:
                self._client = None

        def lost(exc: aiomqtt.MqttError, delay: float) -> None:
            log.warning("dashboard: broker lost (%s); retry in %.2fs", exc, delay)
            self.link.connected = False

        try:
            await stay_connected(mqtt, lambda: make_client(mqtt, identifier), session,
                                 name="dashboard", lost=lost)
        except BrokerRefused as exc:
            log.error("dashboard: %s", exc)
            self.link.connected = False
            self.post(Refused(str(exc)))

    async def publish(self, chair: str, command: CommandBase, user: str | None) -> None:
        """Signed in (``user``): under the user's own topic, where the broker lets only that
        user publish."""
        client = self._client
        if client is None:
            raise NotConnected("no connection to the broker")
        await client.publish(topics.commands(self.site, chair, user), command.to_json(),
                             qos=QOS)


class SitesHeard:
    """The sites whose bridge the regional broker holds a state of, as the signed-in user may
    read them: each new one is posted as `SiteHeard` (a region screen watching "all")."""

    def __init__(self, mqtt: MqttSettings, post: Callable[[Message], object]) -> None:
        self.mqtt = mqtt
        self.post = post
        self.heard: set[str] = set()

    async def run(self) -> None:
        mqtt = self.mqtt
        identifier = f"chairside-dashboard-sites-{uuid.uuid4().hex[:8]}"

        async def session(client: aiomqtt.Client) -> None:
            await client.subscribe(f"{BRIDGE_ROOT}/+/state", qos=QOS)
            async for message in Incoming(client):
                site = message.topic.value.split("/")[2]
                if site not in self.heard:
                    self.heard.add(site)
                    self.post(SiteHeard(site))

        try:
            await stay_connected(mqtt, lambda: make_client(mqtt, identifier), session,
                                 name="dashboard-sites")
        except BrokerRefused as exc:
            log.error("dashboard: %s", exc)  # each site's own source says so on its floor


SEND_ERRORS = (NotConnected, aiomqtt.MqttError, OSError)
"""What a failed send raises: the screen says NOT SENT with it."""
