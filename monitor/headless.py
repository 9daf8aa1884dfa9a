"""A screenless view: one line per chair summary and one per alarm event, from the broker.

It subscribes like a dashboard does, so what it prints is what a dashboard would show.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TextIO

import aiomqtt

from drivers import topics
from drivers.clock import Clock
from drivers.mqtt import QOS, Incoming, make_client, payload_bytes, stay_connected
from drivers.mqtt_settings import MqttSettings
from drivers.payloads import PayloadDecoder
from drivers.wire import AlarmEvent, ChairState, CommandResult
from monitor.dashboard.format import MARKERS, age_s, fmt_age, fmt_duration, fmt_value

log = logging.getLogger(__name__)


def summary_line(state: ChairState, now: datetime) -> str:
    """``09:41:02 chair-2 spravato observation 0:31:12 BP 176/98 (2m) HR 88 (1s) SpO2 97 (1s)``"""
    parts = [now.strftime("%H:%M:%S"), state.chair]
    if state.session:
        parts += [state.session.protocol, state.session.phase]
    else:
        parts.append("idle")
    if state.observation:
        parts.append(fmt_duration((now - state.observation.started_at).total_seconds()))
    for kind, label in (("blood_pressure", "BP"), ("heart_rate", "HR"), ("spo2", "SpO2")):
        latest = state.latest.get(kind)
        shown = fmt_value(kind, latest)
        if latest is not None:
            shown += f" ({fmt_age(age_s(latest, now))})"
        parts.append(f"{label} {shown}")
    top = state.highest_alarm()
    if top is not None:
        parts.append(f"{MARKERS[top.priority]} {top.condition}")
    return " ".join(parts)


def alarm_line(event: AlarmEvent) -> str:
    return (
        f"{event.at.strftime('%H:%M:%S')} ALARM {event.event} {MARKERS[event.priority]} "
        f"{event.priority} {event.condition} {event.chair}: {event.message}"
    )


def result_line(result: CommandResult) -> str:
    verdict = "accepted" if result.accepted else "REFUSED: " + "; ".join(result.reasons)
    return f"{result.at.strftime('%H:%M:%S')} COMMAND {result.type} {result.chair}: {verdict}"


async def print_feed(
    mqtt: MqttSettings,
    site: str,
    clock: Clock,
    out: TextIO,
    *,
    summary_every_s: float = 2.0,
) -> None:
    """Print chair summaries (each chair at most every ``summary_every_s`` wall seconds) and
    every alarm event and command result, until cancelled."""
    decoder = PayloadDecoder(log)
    last_printed: dict[str, float] = {}
    loop = asyncio.get_running_loop()

    async def session(client: aiomqtt.Client) -> None:
        for leaf in ("state", "alarms", "command-results"):
            await client.subscribe(topics.chairs_filter(site, leaf), qos=QOS)
        async for message in Incoming(client):
            inbound = decoder.decode(message.topic.value, payload_bytes(message))
            if inbound is None:
                continue
            payload = inbound.payload
            if isinstance(payload, AlarmEvent):
                print(alarm_line(payload), file=out, flush=True)
            elif isinstance(payload, CommandResult):
                print(result_line(payload), file=out, flush=True)
            elif isinstance(payload, ChairState):
                wall = loop.time()
                if wall - last_printed.get(payload.chair, -1e9) >= summary_every_s:
                    last_printed[payload.chair] = wall
                    print(summary_line(payload, clock.now()), file=out, flush=True)

    await stay_connected(mqtt, lambda: make_client(mqtt, f"chairside-headless-{site}-{id(out)}"),
                         session, name="headless view")
