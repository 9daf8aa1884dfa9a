"""Who did what: every command of a span of the recording with its authenticated sender,
that sender's role, and the engine's answer (accepted, or refused and why).

The sender is what the broker vouched for (the user its topic names); a command whose payload
claimed someone else appears under its real sender, refused. A command with no recorded
answer is listed as such: it reached the recording but maybe not the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, tzinfo
from typing import Any

from drivers import topics
from drivers.payloads import PayloadDecoder
from drivers.wire import COMMAND_ADAPTER, CommandResult, format_time
from monitor.localtime import clock_time

from .wirelog import WireRecord


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    chair: str
    sender: str | None
    claimed_by: str | None
    role: str | None
    type: str
    id: str
    outcome: str
    """accepted, refused, no answer, or unreadable"""
    reasons: tuple[str, ...]
    detail: str

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = format_time(self.at)
        out["reasons"] = list(self.reasons)
        return out


def entries(records: Iterable[WireRecord]) -> list[Entry]:
    """The audit of these records (a session's log, or a day of the recording)."""
    decoder = PayloadDecoder()
    answers: dict[str, CommandResult] = {}
    commands: list[tuple[WireRecord, topics.Topic]] = []
    for record in records:
        try:
            topic = topics.parse(record.topic)
        except topics.TopicError:
            continue
        if topic.type == "command":
            commands.append((record, topic))
        elif topic.type == "command_result":
            inbound = decoder.decode(record.topic, record.payload)
            if inbound is not None and isinstance(inbound.payload, CommandResult):
                answers.setdefault(inbound.payload.id, inbound.payload)
    out: list[Entry] = []
    seen: set[str] = set()
    for record, topic in commands:
        try:
            command = COMMAND_ADAPTER.validate_json(record.payload)
        except ValueError as exc:
            reason = str(exc).splitlines()[0]
            out.append(Entry(record.received_at, topic.chair or "?", topic.user, None, None,
                             "?", "?", "unreadable", (reason,), ""))
            continue
        if command.id in seen:
            continue  # a redelivery
        seen.add(command.id)
        answer = answers.get(command.id)
        outcome = "no answer" if answer is None else (
            "accepted" if answer.accepted else "refused")
        sender = answer.by if answer is not None and answer.by else topic.user
        out.append(Entry(
            at=record.received_at, chair=topic.chair or "?", sender=sender,
            claimed_by=command.by, role=answer.role if answer is not None else None,
            type=command.type, id=command.id, outcome=outcome,
            reasons=tuple(answer.reasons) if answer is not None else (),
            detail=_detail(command),
        ))
    return out


def _detail(command: Any) -> str:
    match command.type:
        case "start_session":
            return f"patient {command.patient_code}, {command.protocol}"
        case "ack_alarm":
            return f"alarm {command.alarm_id}"
        case "discharge" if command.override_reason:
            return f"override: {command.override_reason}"
        case "manual_bp":
            return f"{command.systolic}/{command.diastolic}"
        case "pause_audio":
            return f"{command.seconds} s"
        case "end_session" if command.reason:
            return f"reason: {command.reason}"
    return ""


def render(found: list[Entry], tz: tzinfo | None, title: str) -> str:
    lines = [title, f"{len(found)} commands"]
    for e in found:
        who = e.sender or f"(unsigned, claims {e.claimed_by})"
        role = f" ({e.role})" if e.role else ""
        lines.append(f"{clock_time(e.at, tz, seconds=True)}  {e.chair:<10} {who}{role:<12} "
                     f"{e.type:<14} {e.outcome.upper():<9} {e.detail}".rstrip())
        lines.extend(f"{'':>12}✗ {r}" if e.outcome == "refused" else f"{'':>12}note: {r}"
                     for r in e.reasons)
    return "\n".join(lines) + "\n"
