"""The alarms of one chair and their life cycle, after IEC 60601-1-8.

An alarm is keyed by its condition and subject (the device, stream or BP check it is about),
so a condition that goes on holding never raises twice. Its life: ``raised``; possibly
``escalated`` (a higher tier fired, or nobody acknowledged it in time); ``acknowledged``;
``cleared`` when its condition ends, except that a latching alarm stays on screen until it is
acknowledged. Ids derive from the chair, the condition and a per-chair counter, so replaying
the same inputs gives the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drivers.wire import PRIORITY_RANK, ActiveAlarm, AlarmEvent, AlarmKind, Priority

from .config import AudioPause, Escalation

Key = tuple[str, str]
"""(condition, subject); the subject is "" for a chair-wide condition."""


@dataclass(slots=True)
class Alarm:
    alarm_id: str
    condition: str
    subject: str
    kind: AlarmKind
    priority: Priority
    message: str
    raised_at: datetime
    latching: bool
    reading_id: str | None = None
    active: bool = True
    acknowledged: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    escalated: bool = False
    priority_at: datetime | None = None
    """When it reached its present priority (escalation timing counts from here)."""

    def view(self) -> ActiveAlarm:
        return ActiveAlarm(
            alarm_id=self.alarm_id, condition=self.condition, kind=self.kind,
            priority=self.priority, message=self.message, raised_at=self.raised_at,
            active=self.active, acknowledged=self.acknowledged,
            acknowledged_at=self.acknowledged_at, acknowledged_by=self.acknowledged_by,
            escalated=self.escalated, subject=self.subject or None, latching=self.latching,
            reading_id=self.reading_id,
        )

    @property
    def blocks_discharge(self) -> bool:
        """High or medium, and still holding or not yet acknowledged."""
        return PRIORITY_RANK[self.priority] >= PRIORITY_RANK["medium"] and (
            self.active or not self.acknowledged
        )


class AlarmBook:
    """One chair's alarms, their ids, and its audio pause."""

    def __init__(self, chair: str, counter: int = 0) -> None:
        self.chair = chair
        self.counter = counter
        self.alarms: dict[Key, Alarm] = {}
        self.audio_paused_until: datetime | None = None

    # --- conditions ---------------------------------------------------------------------

    def get(self, condition: str, subject: str = "") -> Alarm | None:
        return self.alarms.get((condition, subject))

    def holds(
        self,
        now: datetime,
        condition: str,
        kind: AlarmKind,
        priority: Priority,
        message: str,
        *,
        subject: str = "",
        latching: bool = False,
        reading_id: str | None = None,
        audio: AudioPause | None = None,
    ) -> list[AlarmEvent]:
        """The condition holds: raise it, or escalate it when the priority rose."""
        alarm = self.alarms.get((condition, subject))
        if alarm is None:
            self.counter += 1
            alarm = Alarm(
                alarm_id=f"{self.chair}:{condition}:{self.counter}", condition=condition,
                subject=subject, kind=kind, priority=priority, message=message,
                raised_at=now, latching=latching, reading_id=reading_id,
            )
            self.alarms[(condition, subject)] = alarm
            self._end_pause(priority, audio)
            return [self._event(alarm, "raised", now, "raised")]
        alarm.active = True
        if PRIORITY_RANK[priority] > PRIORITY_RANK[alarm.priority]:
            alarm.priority = priority
            alarm.message = message
            alarm.latching = alarm.latching or latching
            alarm.reading_id = reading_id
            alarm.acknowledged = False
            alarm.acknowledged_at = None
            alarm.acknowledged_by = None
            alarm.escalated = False
            alarm.priority_at = now
            self._end_pause(priority, audio)
            return [self._event(alarm, "escalated", now, f"escalated-{priority}")]
        return []

    def release(self, now: datetime, condition: str, subject: str = "") -> list[AlarmEvent]:
        """The condition no longer holds: clear the alarm, or latch it until acknowledged."""
        alarm = self.alarms.get((condition, subject))
        if alarm is None:
            return []
        if alarm.latching and not alarm.acknowledged:
            alarm.active = False
            return []
        del self.alarms[(condition, subject)]
        return [self._event(alarm, "cleared", now, "cleared", f"cleared: {alarm.message}")]

    def latch(self, now: datetime, condition: str, subject: str = "") -> list[AlarmEvent]:
        """A one-off condition (e.g. a missed check): keep it shown until acknowledged."""
        alarm = self.alarms.get((condition, subject))
        if alarm is None:
            return []
        alarm.latching = True
        return self.release(now, condition, subject)

    # --- people -------------------------------------------------------------------------

    def find(self, alarm_id: str) -> Alarm | None:
        for alarm in self.alarms.values():
            if alarm.alarm_id == alarm_id:
                return alarm
        return None

    def acknowledge(self, alarm: Alarm, by: str, now: datetime) -> list[AlarmEvent]:
        alarm.acknowledged = True
        alarm.acknowledged_at = now
        alarm.acknowledged_by = by
        events = [self._event(alarm, "acknowledged", now, "acknowledged", by=by)]
        if not alarm.active:
            del self.alarms[(alarm.condition, alarm.subject)]
            events.append(
                self._event(alarm, "cleared", now, "cleared", f"cleared: {alarm.message}")
            )
        return events

    def pause_audio(self, until: datetime) -> None:
        self.audio_paused_until = until

    def _end_pause(self, priority: Priority, audio: AudioPause | None) -> None:
        if audio is None or audio.ended_by is None or self.audio_paused_until is None:
            return
        if PRIORITY_RANK[priority] >= PRIORITY_RANK[audio.ended_by]:
            self.audio_paused_until = None

    # --- time ---------------------------------------------------------------------------

    def escalate(self, now: datetime, escalation: Escalation) -> list[AlarmEvent]:
        """Escalate every alarm left unacknowledged longer than its priority allows."""
        events: list[AlarmEvent] = []
        for alarm in self.alarms.values():
            if alarm.acknowledged or alarm.escalated:
                continue
            after = escalation.after(alarm.priority)
            since = alarm.priority_at or alarm.raised_at
            if after is None or now - since < timedelta(seconds=after):
                continue
            alarm.escalated = True
            message = f"{alarm.message} (not acknowledged for {after:g} s)"
            tag = f"escalated-unacknowledged-{alarm.priority}"
            events.append(self._event(alarm, "escalated", now, tag, message))
        return events

    def next_escalation(self, escalation: Escalation) -> datetime | None:
        """When the first alarm left unacknowledged will have waited too long."""
        found: datetime | None = None
        for alarm in self.alarms.values():
            if alarm.acknowledged or alarm.escalated:
                continue
            after = escalation.after(alarm.priority)
            if after is None:
                continue
            when = (alarm.priority_at or alarm.raised_at) + timedelta(seconds=after)
            if found is None or when < found:
                found = when
        return found

    def expire_pause(self, now: datetime) -> bool:
        if self.audio_paused_until is not None and now >= self.audio_paused_until:
            self.audio_paused_until = None
            return True
        return False

    def clear_all(self, now: datetime, why: str) -> list[AlarmEvent]:
        """Close every alarm (the session closed: there is no patient left to alarm for)."""
        events = [
            self._event(a, "cleared", now, "cleared", f"cleared ({why}): {a.message}")
            for a in self.alarms.values()
        ]
        self.alarms.clear()
        self.audio_paused_until = None
        return events

    # --- views --------------------------------------------------------------------------

    def views(self) -> list[ActiveAlarm]:
        """Highest priority first, then oldest, then id (a stable order for the screen)."""
        ordered = sorted(
            self.alarms.values(),
            key=lambda a: (-PRIORITY_RANK[a.priority], a.raised_at, a.alarm_id),
        )
        return [a.view() for a in ordered]

    def restore(self, alarm: ActiveAlarm) -> None:
        self.alarms[(alarm.condition, alarm.subject or "")] = Alarm(
            alarm_id=alarm.alarm_id, condition=alarm.condition, subject=alarm.subject or "",
            kind=alarm.kind, priority=alarm.priority, message=alarm.message,
            raised_at=alarm.raised_at, latching=alarm.latching, reading_id=alarm.reading_id,
            active=alarm.active, acknowledged=alarm.acknowledged,
            acknowledged_at=alarm.acknowledged_at, acknowledged_by=alarm.acknowledged_by,
            escalated=alarm.escalated,
        )
        number = alarm.alarm_id.rsplit(":", 1)[-1]
        if number.isdigit():
            self.counter = max(self.counter, int(number))

    def _event(
        self, alarm: Alarm, event: str, now: datetime, tag: str, message: str | None = None,
        by: str | None = None,
    ) -> AlarmEvent:
        return AlarmEvent.model_validate({
            "id": f"{alarm.alarm_id}:{tag}",
            "alarm_id": alarm.alarm_id,
            "chair": self.chair,
            "condition": alarm.condition,
            "kind": alarm.kind,
            "priority": alarm.priority,
            "event": event,
            "at": now,
            "message": message or alarm.message,
            "reading_id": alarm.reading_id,
            "by": by,
        })
