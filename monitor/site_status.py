"""``chairside status``: the whole site at a glance, from what its parts publish retained.

One clean connection reads every retained message of the site. The end of them is known,
not guessed: a marker published once the subscription is acknowledged arrives after all of
them. A part whose status is offline, or older than its heartbeat allows, is named; so is
every device not connected, with its reason (a vital it sends that cannot be read among
them: "heart rate not readable from this device ..."), and what waits in each gateway's
spool.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from drivers import topics
from drivers.mqtt import connected, payload_bytes, retained
from drivers.mqtt_settings import MqttSettings
from drivers.payloads import PayloadDecoder
from drivers.wire import DeviceStatus, EngineStatus, GatewayStatus

STALE_AFTER_S = 30.0
"""A part's retained "online" older than this (its heartbeat is every 5-10 s) is not live."""


@dataclass
class SiteStatus:
    """What the site's retained statuses say, with the time they were read."""

    now: datetime
    engine: EngineStatus | None = None
    gateways: dict[str, GatewayStatus] = field(default_factory=dict)
    devices: dict[tuple[str, str], DeviceStatus] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Every reason the site is not fully monitored, one line each."""
        found: list[str] = []
        if self.engine is None:
            found.append("engine: never seen (no status on the broker)")
        elif self.engine.state != "online":
            found.append(f"engine: offline since {self.engine.at:%Y-%m-%d %H:%M:%S}Z")
        elif self._age(self.engine.at) > STALE_AFTER_S:
            found.append(f"engine: silent for {self._age(self.engine.at):.0f} s")
        for chair, gw in sorted(self.gateways.items()):
            if gw.state != "online":
                found.append(f"{chair}: gateway offline since {gw.at:%Y-%m-%d %H:%M:%S}Z")
            elif self._age(gw.at) > STALE_AFTER_S:
                found.append(f"{chair}: gateway silent for {self._age(gw.at):.0f} s")
        for (chair, device), dev in sorted(self.devices.items()):
            if dev.state != "connected":
                reason = f": {dev.reason}" if dev.reason else ""
                found.append(f"{chair}/{device}: {dev.state}{reason}")
        return found

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.engine is not None:
            out.append(f"engine   {self.engine.state:<8} {self._when(self.engine.at)}"
                       f"  rejected {self.engine.rejected}"
                       + (f" (last: {self.engine.last_rejected})"
                          if self.engine.last_rejected else ""))
        for chair, gw in sorted(self.gateways.items()):
            out.append(f"{chair:<8} gateway {gw.state:<8} {self._when(gw.at)}"
                       f"  spool {gw.spool_depth}"
                       + (f" of {gw.spool_capacity}" if gw.spool_capacity else ""))
            for (c, device), dev in sorted(self.devices.items()):
                if c == chair:
                    unread = dev.counters.unreadable
                    out.append(f"           {device:<12} {dev.state:<12} "
                               f"spooled {dev.counters.spooled}"
                               + (f"  unreadable {unread}" if unread else "")
                               + (f"  {dev.reason}" if dev.reason else ""))
        return out

    def _age(self, at: datetime) -> float:
        return (self.now - at).total_seconds()

    def _when(self, at: datetime) -> str:
        return f"{self._age(at):.0f} s ago"


async def read_site(mqtt: MqttSettings, site: str, now: datetime,
                    within: float = 5.0) -> SiteStatus:
    """Every retained status of ``site``, read on a clean connection of its own."""
    status = SiteStatus(now=now)
    decoder = PayloadDecoder()
    async with connected(mqtt, f"chairside-status-{uuid.uuid4().hex[:8]}") as client:
        async with asyncio.timeout(within):
            async for message in retained(client, site, topics.site_filter(site),
                                          mqtt.username):
                inbound = decoder.decode(message.topic.value, payload_bytes(message), True)
                if inbound is None:
                    continue
                payload = inbound.payload
                if isinstance(payload, EngineStatus):
                    status.engine = payload
                elif isinstance(payload, GatewayStatus):
                    status.gateways[payload.chair] = payload
                elif isinstance(payload, DeviceStatus):
                    status.devices[(payload.chair, payload.device)] = payload
    return status
