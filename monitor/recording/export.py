"""A recorded session out of the recording: its wire log, a CSV of its readings, and the
anonymised copies that can leave the clinic.

A session's log holds the chair's messages from its start to its end and, first, the
picture the engine had when it started (the chair's last state, each device's and the
gateway's last status), so a replay starts where the live engine stood.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any, TextIO

from drivers.payloads import PayloadDecoder
from drivers.wire import ManualBp, Reading, StartSession, format_time, parse_time

from .sessions import SAME_START
from .store import RecordingStore, SessionRow, StoredMessage
from .wirelog import WireRecord

TAIL = timedelta(seconds=30)
"""Kept after a session's end: the engine's answer and last state follow the discharge."""

ANONYMOUS = "ANON"
"""Put where a patient code was: the contract needs one, and this one names nobody."""

WITHHELD = "withheld from the anonymised copy"
"""How an anonymised log's line begins where it left a payload out; the reason follows."""
UNREADABLE = f"{WITHHELD}: its payload could not be read (not JSON, not UTF-8, or too deep)"
INVALID = f"{WITHHELD}: the recorder found it invalid, so what it holds is not known"
UNSHIFTABLE = f"{WITHHELD}: a time in it cannot be moved by the copy's offset"
FREE_TEXT_WITHHELD = "(withheld)"
"""Put where free text was: a reason given stays given, and names nobody."""


def session_records(store: RecordingStore, session: SessionRow) -> list[WireRecord]:
    """The session's wire log, lead-in first, in arrival order (of its own site only: chair
    names repeat from site to site)."""
    start, site = session.started_at, session.site
    for message in store.latest_before(session.chair, "command", start + SAME_START, 20,
                                       site=site):
        if b'"start_session"' in message.payload and message.received_at >= start - SAME_START:
            start = min(start, message.received_at)
            break
    until = session.ended_at + TAIL if session.ended_at is not None else None
    following = [s for s in store.sessions(chair=session.chair, site=site)
                 if s.started_at > start
                 and s.id != session.id]
    if following:
        cap = min(s.started_at for s in following) - timedelta(milliseconds=1)
        until = cap if until is None else min(until, cap)
    lead: list[StoredMessage] = []
    lead += store.latest_before(session.chair, "state", start, site=site)
    lead += store.latest_before(session.chair, "gateway_status", start, site=site)
    seen: set[str] = set()
    for message in store.latest_before(session.chair, "device_status", start, 100, site=site):
        if message.topic not in seen:
            seen.add(message.topic)
            lead.append(message)
    lead.sort(key=lambda m: m.seq)
    body = store.messages(chair=session.chair, since=start, until=until, site=site)
    return [_record(m) for m in [*lead, *body]]


def _record(message: StoredMessage) -> WireRecord:
    return WireRecord(
        message.topic, message.received_at, message.payload,
        invalid=None if message.valid else (message.error or "invalid"),
    )


# -- CSV ------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "received_at", "measured_at", "chair", "device", "source", "kind", "systolic",
    "diastolic", "mean", "pulse_rate", "heart_rate", "spo2", "perfusion_index",
    "cuff_pressure", "rr_intervals", "energy_expended", "unit", "quality", "flags", "seq",
    "reading_id",
]


def readings(records: Iterable[WireRecord]) -> Iterator[tuple[WireRecord, Reading | ManualBp]]:
    """The valid readings of a log, and the manual blood pressures the nurses entered."""
    decoder = PayloadDecoder()
    for record in records:
        is_reading = "/readings/" in record.topic
        is_manual = record.topic.endswith("/commands") and b"manual_bp" in record.payload
        if record.invalid is not None or not (is_reading or is_manual):
            continue
        inbound = decoder.decode(record.topic, record.payload)
        if inbound is not None and isinstance(inbound.payload, Reading | ManualBp):
            yield record, inbound.payload


def write_csv(records: Iterable[WireRecord], out: TextIO) -> int:
    """One row per reading (a manual BP is a row with source ``manual``)."""
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    n = 0
    for record, item in readings(records):
        row: dict[str, Any] = {"received_at": format_time(record.received_at)}
        if isinstance(item, Reading):
            row.update(
                measured_at=format_time(item.measured_at), chair=item.chair,
                device=item.device, source=item.source, kind=item.kind, unit=item.unit,
                quality=item.quality, flags=";".join(item.flags),
                seq="" if item.seq is None else item.seq, reading_id=item.id,
            )
            for name, value in item.values.items():
                row[name] = (
                    ";".join(f"{v:g}" for v in value) if isinstance(value, list) else f"{value:g}"
                )
        else:
            row.update(
                measured_at=format_time(item.at), device=item.by, source="manual",
                kind="blood_pressure", unit="mm[Hg]", quality="valid", reading_id=item.id,
                systolic=item.systolic, diastolic=item.diastolic,
                pulse_rate="" if item.pulse is None else item.pulse,
                chair=record.topic.split("/")[4] if record.topic.count("/") >= 4 else "",
            )
        writer.writerow(row)
        n += 1
    return n


# -- anonymising ----------------------------------------------------------------------------

_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_FREE_TEXT = frozenset({"note", "detail", "override_reason", "end_reason"})
"""Fields whose free text may name someone (an end of session's ``reason`` too)."""
_CODE_IN_PAYLOAD = re.compile(
    rb'\\*"patient_code\\*"\s*:\s*\\*"([A-Za-z0-9][A-Za-z0-9_-]{0,31})(?![A-Za-z0-9_-])')
"""A patient code as the payload holds it, also inside a payload encoded twice."""


class _CannotShift(Exception):
    """A time that the offset would move out of the calendar."""


def random_offset(rng: random.Random | None = None) -> timedelta:
    """Between one and two years back, to the second: dates no longer point at a visit."""
    rng = rng or random.SystemRandom()
    return -timedelta(days=365 + rng.randrange(365), seconds=rng.randrange(86_400))


def anonymize(records: Iterable[WireRecord], offset: timedelta) -> list[WireRecord]:
    """Patient codes replaced by ``ANON`` (under their own key, and in the engine's reasons:
    its refusal of a second start names the open session's patient), free text replaced,
    every time shifted by ``offset`` (so intervals, and hence every check and alarm, are
    unchanged). Codes are replaced in no other text: a code may be a number or a word that
    ids, enums and alarm messages hold too (``5`` in the alarm id ``chair-1:spo2_low:5``).

    What cannot be scrubbed does not leave: a payload the recorder found invalid (its shape
    is not known, so a code could be anywhere in it), one that cannot be read, and one with
    a time the offset cannot move. The line stays, empty, saying why."""
    records = list(records)
    codes = sorted({code.decode() for record in records
                    for code in _CODE_IN_PAYLOAD.findall(record.payload)},
                   key=lambda code: (-len(code), code))
    names = (re.compile(rf"(?<![A-Za-z0-9_-])(?:{'|'.join(map(re.escape, codes))})"
                        rf"(?![A-Za-z0-9_-])") if codes else None)
    out = []
    for record in records:
        payload, invalid = b"", record.invalid
        if invalid is not None:
            if record.payload:  # an empty one is a retained message deleted: nothing in it
                invalid = INVALID
        else:
            try:
                payload = json.dumps(_scrub(json.loads(record.payload), offset, names),
                                     separators=(",", ":")).encode()
            except (ValueError, RecursionError):  # not JSON, not UTF-8, or too deep to walk
                invalid = UNREADABLE
            except _CannotShift:
                invalid = UNSHIFTABLE
        out.append(WireRecord(record.topic, record.received_at + offset, payload,
                              record.line, invalid))
    return out


def _scrub(value: Any, offset: timedelta, names: re.Pattern[str] | None) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "patient_code" and v is not None:
                v = ANONYMOUS
            elif isinstance(v, str) and (k in _FREE_TEXT or (
                    k == "reason" and value.get("type") == "end_session")):
                v = FREE_TEXT_WITHHELD
            elif k == "reasons" and names and isinstance(v, list):
                v = [names.sub(ANONYMOUS, r) if isinstance(r, str) else _scrub(r, offset, None)
                     for r in v]
            else:
                v = _scrub(v, offset, names)
            out[k] = v
        return out
    if isinstance(value, list):
        return [_scrub(v, offset, names) for v in value]
    if isinstance(value, str) and _TIME.match(value):
        try:
            when = parse_time(value)
        except ValueError:
            return value
        try:
            return format_time(when + offset)
        except OverflowError:
            raise _CannotShift(value) from None
    return value


def patient_code(records: Iterable[WireRecord]) -> str | None:
    """The patient code of the log's session start, if it has one."""
    decoder = PayloadDecoder()
    for record in records:
        if record.topic.endswith("/commands") and b"start_session" in record.payload:
            inbound = decoder.decode(record.topic, record.payload)
            if inbound is not None and isinstance(inbound.payload, StartSession):
                return inbound.payload.patient_code
    return None
