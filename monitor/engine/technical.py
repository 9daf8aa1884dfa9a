"""Technical alarms and BP-check reminders: the equipment and the workflow, not the patient.

A silent stream, a device or gateway that went away, a pulse oximeter the protocol requires
but that is not live (Spravato REMS), and a BP check that is due or was missed. Each is shown
apart from physiological alarms, as central stations show "INOP" conditions.

The chair owns one ``TechnicalConditions`` and hands it what it knows of the equipment as an
``Equipment``: this module sees the facts it judges and the alarm book, never the chair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

from drivers.wire import AlarmEvent, DeviceState

from .alarms import AlarmBook, Key
from .checks import Check, Slot
from .config import AudioPause, NoDataLimits, RulePhase, TechnicalAlarm, TechnicalAlarms
from .deadlines import beyond, soonest
from .readings import show_time

KIND_LABEL: dict[str, str] = {
    "blood_pressure": "blood pressure",
    "cuff_pressure": "cuff pressure",
    "heart_rate": "heart rate",
    "spo2": "SpO2",
}


@dataclass(frozen=True, slots=True)
class Equipment:
    """What a chair knows of its equipment at one moment: all the conditions judge."""

    streams: Mapping[tuple[str, str], datetime]
    """Time of the last usable reading per (device, kind)."""
    devices: Mapping[str, DeviceState]
    reasons: Mapping[str, str | None]
    """Why each device is in its state, as its driver said (absent: no reason known)."""
    refusing: Set[str]
    """Devices whose readings the gateway cannot keep."""
    gateway: tuple[Literal["online", "offline"], datetime] | None
    """The gateway's state and since when; None before it ever said."""
    spo2_at: datetime | None
    """Time of the latest SpO2 value; None before the first."""


class TechnicalConditions:
    """One chair's technical conditions: how long each has held, and the checks missed.

    A condition alarms once it has held for its delay, so when it began is kept between
    evaluations; a missed check escalates once, so which have is kept too.
    """

    def __init__(self, book: AlarmBook, rules: TechnicalAlarms, no_data: NoDataLimits,
                 audio: AudioPause) -> None:
        self.book = book
        self.rules = rules
        self.stale_after = no_data.by_kind()
        """Each kind's longest silence (`NoDataLimits.for_kind`), looked up per reading."""
        self.audio = audio
        self.held: dict[Key, datetime] = {}
        self.missed: set[str] = set()
        self.missing = False
        """Whether required SpO2 was missing at the last full evaluation."""

    def begin(self) -> None:
        """A new session: no condition has held, no check was missed."""
        self.held.clear()
        self.missed.clear()

    def resume(self, condition: str, subject: str, since: datetime) -> None:
        """Take back, after a restart, a condition that was alarming from ``since``."""
        self.held[(condition, subject)] = since

    def resume_missed(self, names: Iterable[str]) -> None:
        """Take back, after a restart, the checks already reported missed."""
        self.missed = set(names)

    def evaluate(self, equipment: Equipment, protocol: str, requires_spo2: bool,
                 phase: RulePhase, now: datetime) -> list[AlarmEvent]:
        """Equipment conditions: silent streams, required SpO2, devices and gateway."""
        cfg = self.rules
        events: list[AlarmEvent] = []
        # Pulse oximetry the protocol requires (Spravato REMS: a pulse oximeter on site).
        spo2_at = equipment.spo2_at
        missing = self.missing = self._spo2_missing(spo2_at, requires_spo2, phase, now)
        events += self._condition(
            now,
            "spo2_missing",
            "",
            missing,
            cfg.spo2_missing,
            lambda: (
                f"SpO2 required by protocol {protocol}: "
                + ("no SpO2 reading yet" if spo2_at is None else f"none since {show_time(spo2_at)}")
            ),
        )
        for (device, kind), last in sorted(equipment.streams.items()):
            limit = self.stale_after[kind]
            silent = limit is not None and (now - last).total_seconds() > limit
            if kind == "spo2" and missing:
                silent = False  # the spo2_missing alarm already says it
            events += self._condition(
                now,
                "no_data",
                f"{device}/{kind}",
                silent,
                cfg.no_data,
                partial(_no_data_text, device, kind, last, limit or 0.0),
            )
        for device, state in sorted(equipment.devices.items()):
            reason = equipment.reasons.get(device)
            detail = f"device {device} {state}" + (f": {reason}" if reason else "")
            events += self._condition(
                now,
                "device_offline",
                device,
                state in ("disconnected", "offline"),
                cfg.device_offline,
                partial(str, detail),
            )
            refused = device in equipment.refusing
            events += self._condition(
                now,
                "readings_refused",
                device,
                refused,
                cfg.readings_refused,
                partial(str, f"readings of {device} are refused by the gateway and lost"
                        + (f": {reason}" if reason else "")),
            )
            events += self._condition(
                now,
                "device_degraded",
                device,
                state == "degraded" and not refused,  # readings_refused already says it
                cfg.device_degraded,
                partial(str, detail),
            )
        gateway = equipment.gateway
        events += self._condition(
            now,
            "gateway_offline",
            "",
            gateway is not None and gateway[0] == "offline",
            cfg.gateway_offline,
            lambda: f"gateway offline since {show_time(gateway[1]) if gateway else '?'}",
        )
        return events

    def _spo2_missing(self, spo2_at: datetime | None, requires_spo2: bool, phase: RulePhase,
                      now: datetime) -> bool:
        spo2_limit = self.stale_after["spo2"]
        return (
            requires_spo2
            and phase in ("dosing", "observation")
            and (
                spo2_at is None
                or (spo2_limit is not None and (now - spo2_at).total_seconds() > spo2_limit)
            )
        )

    def fresh_stream(self, streams: Mapping[tuple[str, str], datetime],
                     spo2_at: datetime | None, stream: tuple[str, str] | None,
                     requires_spo2: bool, phase: RulePhase,
                     now: datetime) -> list[AlarmEvent] | None:
        """A reading made ``stream`` (and perhaps SpO2, now at ``spo2_at``) fresher, and
        nothing else changed: judge only its silence. None when whether SpO2 is missing
        changed, which touches every SpO2 stream: then ``evaluate`` must judge everything."""
        missing = self._spo2_missing(spo2_at, requires_spo2, phase, now)
        if missing != self.missing:
            return None
        if stream is None:
            return []
        device, kind = stream
        last = streams[stream]
        limit = self.stale_after[kind]
        silent = limit is not None and (now - last).total_seconds() > limit
        if kind == "spo2" and missing:
            silent = False
        subject = f"{device}/{kind}"
        if not silent:  # the common case: no alarm message to prepare
            return self._clear(now, "no_data", subject)
        return self._condition(now, "no_data", subject, silent, self.rules.no_data,
                               partial(_no_data_text, device, kind, last, limit or 0.0))

    def next_change(self, equipment: Equipment, now: datetime) -> datetime | None:
        """The first moment after ``now`` at which time alone changes a condition here: a
        stream or SpO2 going silent, or a condition that holds reaching its delay."""
        found: list[datetime] = []
        spo2_limit = self.stale_after["spo2"]
        if equipment.spo2_at is not None and spo2_limit is not None:
            found.append(beyond(equipment.spo2_at, spo2_limit))
        for (_, kind), last in equipment.streams.items():
            limit = self.stale_after[kind]
            if limit is not None:
                found.append(beyond(last, limit))
        for key, since in self.held.items():
            alarm = self.book.alarms.get(key)
            if alarm is None or not alarm.active:
                rule: TechnicalAlarm = getattr(self.rules, key[0])
                found.append(since + timedelta(seconds=rule.delay_s))
        return soonest(found, now)

    def _clear(self, now: datetime, condition: str, subject: str) -> list[AlarmEvent]:
        """A technical condition that does not hold: forget its delay, release its alarm."""
        key = (condition, subject)
        if self.held.pop(key, None) is None and key not in self.book.alarms:
            return []
        return self.book.release(now, condition, subject)

    def _condition(
        self,
        now: datetime,
        condition: str,
        subject: str,
        holds: bool,
        rule: TechnicalAlarm,
        message: Callable[[], str],
    ) -> list[AlarmEvent]:
        """A technical condition with its delay: alarm once it has held that long."""
        if not holds:
            return self._clear(now, condition, subject)
        book = self.book
        key = (condition, subject)
        since = self.held.setdefault(key, now)
        if now - since < timedelta(seconds=rule.delay_s):
            return []
        if key in book.alarms and book.alarms[key].active:
            return []
        return book.holds(
            now,
            condition,
            "technical",
            rule.priority,
            message(),
            subject=subject,
            latching=rule.latching,
            audio=self.audio,
        )

    def reminders(self, slots: list[tuple[Slot, Check]], now: datetime) -> list[AlarmEvent]:
        """A BP check due raises a low reminder; a missed one escalates it, once, and latches."""
        book = self.book
        due, missed = self.rules.bp_check_due, self.rules.bp_check_missed
        events: list[AlarmEvent] = []
        for slot, check in slots:
            name = check.name
            if check.status == "due":
                until = (
                    f" until {show_time(slot.window_end)}"
                    if slot.window_end
                    else " before dosing"
                    if slot.spec.kind == "pre_dose"
                    else " before discharge"
                )
                events += book.holds(
                    now,
                    "bp_check_due",
                    "technical",
                    due.priority,
                    f"BP check {name} due{until}",
                    subject=name,
                    latching=due.latching,
                )
            elif check.status == "missed":
                if name in self.missed:
                    continue
                self.missed.add(name)
                closed = show_time(slot.window_end) if slot.window_end else "?"
                text = f"BP check {name} missed: window closed at {closed}"
                events += book.holds(
                    now, "bp_check_due", "technical", due.priority, f"BP check {name} due",
                    subject=name,
                )
                events += book.holds(
                    now,
                    "bp_check_due",
                    "technical",
                    missed.priority,
                    text,
                    subject=name,
                    latching=missed.latching,
                    audio=self.audio,
                )
                events += (
                    book.latch(now, "bp_check_due", name)
                    if missed.latching
                    else book.release(now, "bp_check_due", name)
                )
            else:
                events += book.release(now, "bp_check_due", name)
        # A check can vanish (an infusion that ended before it): its reminder goes too.
        names = {check.name for _, check in slots}
        for condition, subject in list(book.alarms):
            if condition == "bp_check_due" and subject not in names:
                events += book.release(now, condition, subject)
        return events


def _no_data_text(device: str, kind: str, last: datetime, limit: float) -> str:
    return f"{KIND_LABEL[kind]} from {device}: no data since {show_time(last)} > {limit:g} s"
