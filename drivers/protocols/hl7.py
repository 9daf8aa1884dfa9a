"""HL7 v2 ORU^R01 observation reports as monitors, BP devices and gateways send them (IHE PCD
Technical Framework, transaction PCD-01 "Communicate PCD Data"), framed with MLLP.

MLLP (HL7 v2 Minimal Lower Layer Protocol): ``0x0B`` + message + ``0x1C 0x0D``; inside,
segments end with CR. Each message is answered with an ACK (original acknowledgement mode):
``MSA|AA`` when it was decoded, ``MSA|AE`` plus an ``ERR`` segment with the reason when not.
A batch (``FHS``/``BHS`` ... ``MSH`` ... ``BTS``/``FTS``) is answered with a batch of ACKs,
one per message, and one broken message in it costs only that message.

Observations are OBX segments whose identifier is an IEEE 11073-10101 (MDC) code, e.g.
``OBX|4|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.0.1.1|120|266016^MDC_DIM_MMHG^MDC|||||R``.
Codes come from one table shared with the FHIR export (``codes``). The numeric code names the
observation; its reference id is a cross-check, and a mismatch is noted (the value is kept).
LOINC codes (coding system ``LN``), UCUM units and MDC units are read as PCD-01 allows.

Each OBX is judged on its own: its status (OBX-11), unit and value decide whether its value
is used. An OBX for something a Reading carries that cannot be used (a unit that does not
fit, a value out of range, a status that is not a result) is reported in
``OruMessage.unknown_codes`` with the quantity it would have filled, so the gateway can say
which vital it cannot read; the rest of the message still decodes. Codes for things Chairside
does not carry (temperature, respiration rate, ...) are listed there too, without a quantity.

Observations are grouped per OBR, and within an OBR per OBX-4 channel
(``<MDS>.<VMD>.<CHAN>.<METRIC>``) when OBX-4 is dotted: NIBP systolic/diastolic/mean with the
cuff's pulse rate into ``blood_pressure``, SpO2 with the oximeter's pulse rate and perfusion
index into ``spo2``, the ECG heart rate into ``heart_rate``. The generic pulse rate goes with
the cuff or oximeter of its own VMD. The time is OBX-14, else OBR-7.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from drivers.protocols import codes
from drivers.protocols.base import (
    BufferedFramer,
    FeedResult,
    FrameError,
    Measurement,
    Unusable,
    internal_error,
)
from drivers.protocols.codes import CONTAINER_CODES, UNITS_MDC, UNITS_UCUM, MdcCode, Quantity
from drivers.value_ranges import value_range
from drivers.wire import Kind, Quality, ReadingValue, Unit

PROTOCOL = "hl7"
START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
END_BLOCK_CR = b"\x1c\x0d"

_ABNORMAL = {
    "L": "low",
    "H": "high",
    "LL": "critically_low",
    "HH": "critically_high",
    "<": "below_range",
    ">": "above_range",
    "A": "abnormal",
    "AA": "critically_abnormal",
}

# OBX-11 (HL7 table 0085), each OBX judged by its own.
_RESULT_STATUS = frozenset({"", "F", "R", "C", "U", "A", "B"})
"""A result: final, entered not verified (what PCD-01 devices send), corrected, changed to
final, amended, appended."""
_PRELIMINARY_STATUS = frozenset({"P", "S"})
"""Preliminary or partial: the value is used, the reading marked questionable."""
_NO_RESULT_STATUS: dict[str, str] = {
    "X": "unavailable",  # results cannot be obtained (PCD-01 hierarchy rows carry it too)
    "D": "withdrawn",  # deletes the OBX record
    "W": "withdrawn",  # posted in error, wrong
    "N": "not_asked",
    "I": "pending",
    "O": "no_result",  # order detail only
}

# --- parsed message -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """MSH fields as sent (components and escapes kept, so an ACK can echo them as they
    were). ``timestamp`` is MSH-7 (an ACK repeats it when no clock is given)."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    timestamp: str = ""
    message_type: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = "2.6"

    @property
    def is_oru_r01(self) -> bool:
        parts = self.message_type.split("^")
        return parts[0] == "ORU" and len(parts) > 1 and parts[1] == "R01"


@dataclass(frozen=True, slots=True)
class Observation:
    """One OBX this module could read. ``quantity`` names a ``codes.QUANTITIES`` entry
    (``systolic``, ``spo2``, ``oximeter_pulse_rate``, ``pulse_rate`` (generic), ...);
    ``value`` is None when the OBX carries no usable number and ``missing`` says why."""

    quantity: str
    value: float | None
    unit: Unit
    code: str
    name: str
    sub_id: str = ""
    status: str = ""
    abnormal: tuple[str, ...] = ()
    time: datetime | None = None
    offset: int = 0
    missing: str = ""
    preliminary: bool = False

    @property
    def metric(self) -> str:
        """The quantity's name (kept for callers of the earlier name)."""
        return self.quantity

    @property
    def path(self) -> tuple[int, ...] | None:
        """OBX-4 as ``(MDS, VMD, CHAN, METRIC)`` numbers, or None when it is not dotted."""
        return _path(self.sub_id)


def _path(sub_id: str) -> tuple[int, ...] | None:
    parts = sub_id.strip().split(".")
    if len(parts) < 3 or not all(p.isascii() and p.isdigit() for p in parts):  # not '³'
        return None
    return tuple(int(p) for p in parts)


@dataclass(frozen=True, slots=True)
class UnknownCode:
    """An OBX whose value was not used as sent, and why.

    ``quantity``: what it would have filled when it names something a Reading carries (the
    gateway reports the device degraded: that vital is not readable from it); None for
    things Chairside does not carry. ``kept``: the value was used all the same, and this is
    a note (a reference id that differs from the table's, a missing unit that can only be
    one)."""

    offset: int
    identifier: str
    unit: str
    reason: str
    quantity: str | None = None
    kept: bool = False

    @property
    def metric(self) -> str | None:
        return self.quantity

    @property
    def unreadable(self) -> bool:
        """A value a Reading could have carried and does not."""
        return self.quantity is not None and not self.kept

    def __str__(self) -> str:
        return f"byte {self.offset}: {self.identifier} [{self.unit}]: {self.reason}"

    def unusable(self) -> Unusable:
        """The gateway's form: which Reading kind lost what, and why."""
        q = codes.QUANTITIES[self.quantity] if self.quantity else None
        return Unusable(
            kind=q.kind if q else None,
            label=q.label if q else "",
            reason=f"{self.identifier}: {self.reason}",
            kept=self.kept,
            field=q.field if q else "",
        )


@dataclass(frozen=True, slots=True)
class ObservationGroup:
    """The OBXs under one OBR (``time``: OBR-7)."""

    set_id: str = ""
    service: str = ""
    time: datetime | None = None
    observations: tuple[Observation, ...] = ()


@dataclass(frozen=True, slots=True)
class OruMessage:
    header: MessageHeader
    groups: tuple[ObservationGroup, ...]
    unknown_codes: tuple[UnknownCode, ...] = ()

    def to_measurements(self) -> list[Measurement]:
        out: list[Measurement] = []
        for group in self.groups:
            out.extend(_group_measurements(group))
        return out

    @property
    def unusable(self) -> list[Unusable]:
        return [u.unusable() for u in self.unknown_codes]


# --- low-level parsing ----------------------------------------------------------------------


@dataclass(slots=True)
class _Segment:
    name: str
    fields: list[str]
    offset: int
    is_msh: bool = False

    def get(self, n: int) -> str:
        """Field n (1-based, as HL7 numbers them), '' when absent."""
        index = n - 1 if self.is_msh else n
        return self.fields[index] if 0 <= index < len(self.fields) else ""

    def at(self, n: int) -> int:
        """Offset of field n in the message."""
        index = min(n - 1 if self.is_msh else n, len(self.fields))
        return self.offset + sum(len(f) + 1 for f in self.fields[:index])


@dataclass(frozen=True, slots=True)
class _Encoding:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    def unescape(self, text: str) -> str:
        if self.escape not in text:
            return text
        e = self.escape
        table = {
            "F": self.field, "S": self.component, "T": self.subcomponent,
            "R": self.repetition, "E": self.escape,
        }
        return re.sub(
            re.escape(e) + r"([FSTRE])" + re.escape(e), lambda m: table[m.group(1)], text
        )

    def components(self, text: str) -> list[str]:
        return [self.unescape(c) for c in text.split(self.component)]


_SEGMENT = re.compile(r"[^\r\n]+")


def _unwrap(data: bytes) -> tuple[bytes, int]:
    """The message without its MLLP envelope, and how many bytes were cut in front."""
    cut = 0
    if data.startswith(START_BLOCK):
        data, cut = data[1:], 1
    if data.endswith(END_BLOCK_CR):
        data = data[:-2]
    elif data.endswith(END_BLOCK):
        data = data[:-1]
    return data, cut


def _segments(text: str) -> tuple[list[_Segment], _Encoding]:
    if not text.startswith("MSH") or len(text) < 8:
        raise FrameError(PROTOCOL, 0, "a message starts with an MSH segment")
    fs = text[3]
    enc_chars = text[4:].split(fs, 1)[0]
    if len(enc_chars) < 4 or fs.isalnum() or fs in "\r\n":
        raise FrameError(PROTOCOL, 3, "MSH-1/MSH-2 do not define the separators")
    enc = _Encoding(fs, enc_chars[0], enc_chars[1], enc_chars[2], enc_chars[3])
    segments = []
    for m in _SEGMENT.finditer(text):
        parts = m.group().split(fs)
        name = parts[0]
        if not re.fullmatch(r"[A-Z][A-Z0-9]{2}", name):
            raise FrameError(PROTOCOL, m.start(), f"{name[:8]!r} is not a segment name")
        segments.append(_Segment(name, parts, m.start(), name == "MSH" and m.start() == 0))
    return segments, enc


def _header(msh: _Segment) -> MessageHeader:
    get = msh.get
    return MessageHeader(
        sending_application=get(3),
        sending_facility=get(4),
        receiving_application=get(5),
        receiving_facility=get(6),
        timestamp=get(7),
        message_type=get(9),
        control_id=get(10),
        processing_id=get(11) or "P",
        version=get(12) or "2.6",
    )


def decode_header(data: bytes) -> MessageHeader:
    """Only the MSH of a message (with or without MLLP envelope): enough to answer it."""
    body, cut = _unwrap(data)
    try:
        segments, _enc = _segments(body.decode("latin-1"))
    except FrameError as e:
        raise FrameError(e.protocol, e.offset + cut, e.reason) from None
    return _header(segments[0])


_TS = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$")


def parse_ts(text: str, offset: int = 0) -> datetime | None:
    """An HL7 DTM/TS, to the minute at least; naive when it carries no offset. ``None`` for
    an empty field or one that is less precise than a minute (not a measurement time)."""
    text = text.split("^", 1)[0].strip()
    if not text:
        return None
    m = _TS.match(text)
    if not m:
        if re.fullmatch(r"\d{4,10}([+-]\d{4})?", text):
            return None
        raise FrameError(PROTOCOL, offset, f"{text!r} is not an HL7 time")
    year, month, day, hour, minute = (int(x) for x in m.groups()[:5])
    second = int(m.group(6) or 0)
    micro = int((m.group(7) or "0").ljust(6, "0")[:6])
    tz = None
    if m.group(8):
        sign = -1 if m.group(8)[0] == "-" else 1
        hh, mm = int(m.group(8)[1:3]), int(m.group(8)[3:5])
        if hh > 23 or mm > 59:
            raise FrameError(PROTOCOL, offset, f"{text!r} has an impossible UTC offset")
        tz = timezone(sign * timedelta(hours=hh, minutes=mm))
    try:
        at = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as e:
        raise FrameError(PROTOCOL, offset, f"{text!r}: {e}") from None
    try:
        at.astimezone(UTC)  # a reading's time is kept in UTC
    except OverflowError:
        raise FrameError(PROTOCOL, offset, f"{text!r} is outside the calendar in UTC") from None
    return at


def format_ts(at: datetime) -> str:
    """``YYYYMMDDHHMMSS`` (+``ZZZZ`` when ``at`` carries an offset)."""
    text = at.strftime("%Y%m%d%H%M%S")
    if at.utcoffset() is not None:
        text += at.strftime("%z")
    return text


def _lookup_unit(comps: list[str]) -> tuple[Unit | None, str]:
    """The unit of an OBX-6 (MDC code, UCUM code, or both), or ``None`` and why not."""
    found: list[Unit] = []
    for code, name, system in (comps[0:3], comps[3:6]):
        if not code and not name:
            continue
        if system == "MDC" or (not system and code.isdigit()):
            known = UNITS_MDC.get(code) if code else None
            if known is None and not code:
                by_name = codes.UNITS_MDC_BY_REFID.get(name)
                known = (name, by_name[1]) if by_name else None
            if known is None:
                return None, f"unit {code or name} is not a known MDC unit"
            if name and code and name != known[0]:
                return None, f"unit code {code} is {known[0]}, not {name}"
            found.append(known[1])
        elif system in ("UCUM", "ISO+", "ANS+", ""):
            unit = UNITS_UCUM.get(code) or codes.UNITS_TEXT.get(code.lower())
            if unit is None:
                return None, f"unit {code!r} is not a known UCUM unit here"
            found.append(unit)
        else:
            return None, f"unit coding system {system!r} is not MDC or UCUM"
    if not found:
        return None, "no unit"
    if any(u != found[0] for u in found):
        return None, "the unit's MDC and UCUM codes disagree"
    return found[0], ""


@dataclass(frozen=True, slots=True)
class _Lookup:
    """What an OBX-3 names: ``code`` when it is read (with a ``note`` on a cross-check that
    failed), else ``reason`` and the quantity its name points to, if any."""

    code: MdcCode | None = None
    quantity: Quantity | None = None
    reason: str = ""
    note: str = ""
    candidate: Quantity | None = None


def _lookup_code(comps: list[str]) -> _Lookup:
    """The observation an OBX-3 names. The MDC code decides; its reference id, when it is not
    one the table lists for that code, is noted. A code this table does not know is never
    guessed from its name, but the name says what could not be read."""
    reasons: list[str] = []
    candidate: Quantity | None = None
    for code, name, system in (comps[0:3], comps[3:6]):
        if not code and not name:
            continue
        if system == "MDC" or (not system and code.isdigit()):
            known = codes.BY_MDC.get(code) if code else codes.BY_REFID.get(name)
            if known is not None:
                quantity = codes.quantity_of(known)
                note = ""
                if code and name and name not in known.names():
                    note = (f"code {code} is {known.refid}; the reference id sent is {name}; "
                            "read by its code")
                return _Lookup(known, quantity, note=note)
            by_name = codes.BY_REFID.get(name)
            if by_name is not None:
                candidate = candidate or codes.quantity_of(by_name)
                reasons.append(f"code {code} is not {name} (that is {by_name.code}); "
                               "the code decides and is not one Chairside reads")
            else:
                reasons.append(f"MDC code {code or name} is not one Chairside reads")
        elif system == "LN":
            by_loinc = codes.BY_LOINC.get(code)
            if by_loinc is not None:
                return _Lookup(None, by_loinc)
            reasons.append(f"LOINC code {code} is not one Chairside reads")
        else:
            reasons.append(f"coding system {system!r} is not MDC or LN")
    return _Lookup(reason="; ".join(reasons) or "no observation identifier", candidate=candidate)


def _is_batch(text: str) -> bool:
    return text.startswith(("FHS", "BHS"))


def decode_message(data: bytes) -> OruMessage:
    """One ORU^R01 message (its MLLP envelope, if any, is removed first)."""
    body, cut = _unwrap(data)
    try:
        return _decode(body.decode("latin-1"))
    except FrameError as e:
        raise FrameError(e.protocol, e.offset + cut, e.reason) from None


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch (HL7 v2.6 section 2.10.3): its header segments as sent and, per message, the
    decoded message or the error it raised, in order."""

    file_header: str = ""
    batch_header: str = ""
    messages: tuple[OruMessage | FrameError, ...] = ()
    raw: tuple[tuple[int, str], ...] = ()
    """Each message's offset in the batch and its text, for answering it."""


def decode_batch(data: bytes) -> Batch:
    """A batch of messages (``FHS``/``BHS`` ... ``BTS``/``FTS``); a lone message is read as a
    batch of one. A message that fails is kept as its ``FrameError`` (offsets from the start
    of ``data``); the others decode."""
    body, cut = _unwrap(data)
    text = body.decode("latin-1")
    if not _is_batch(text):
        raw: tuple[tuple[int, str], ...] = ((cut, text),)
        try:
            return Batch(messages=(_decode(text),), raw=raw)
        except FrameError as e:
            return Batch(messages=(FrameError(e.protocol, e.offset + cut, e.reason),), raw=raw)
    file_header = batch_header = ""
    pieces: list[tuple[int, str]] = []
    for m in _SEGMENT.finditer(text):
        line = m.group()
        name = line[:3]
        if name == "FHS":
            file_header = line
        elif name == "BHS":
            batch_header = line
        elif name in ("BTS", "FTS"):
            continue
        elif name == "MSH" or not pieces:
            pieces.append((m.start(), line))
        else:
            start, first = pieces[-1]
            pieces[-1] = (start, first + "\r" + line)
    messages: list[OruMessage | FrameError] = []
    for start, message in pieces:
        try:
            messages.append(_decode(message + "\r"))
        except FrameError as e:
            messages.append(FrameError(e.protocol, e.offset + start + cut, e.reason))
    raw = tuple((start + cut, message + "\r") for start, message in pieces)
    return Batch(file_header, batch_header, tuple(messages), raw)


def decode_messages(data: bytes) -> list[OruMessage]:
    """Every message of a batch, or the one message; the first that fails raises."""
    out: list[OruMessage] = []
    for item in decode_batch(data).messages:
        if isinstance(item, FrameError):
            raise item
        out.append(item)
    return out


def _decode(text: str) -> OruMessage:
    segments, enc = _segments(text)
    msh = segments[0]
    header = _header(msh)
    if not header.is_oru_r01:
        raise FrameError(
            PROTOCOL, msh.at(9), f"message type {header.message_type!r} is not ORU^R01"
        )
    groups: list[ObservationGroup] = []
    current: ObservationGroup | None = None
    observations: list[Observation] = []
    unknown: list[UnknownCode] = []

    def close() -> None:
        if current is not None or observations:
            base = current or ObservationGroup()
            groups.append(
                ObservationGroup(base.set_id, base.service, base.time, tuple(observations))
            )

    for seg in segments[1:]:
        if seg.name == "OBR":
            close()
            observations = []
            current = ObservationGroup(
                set_id=seg.get(1),
                service=enc.unescape(seg.get(4)),
                time=parse_ts(seg.get(7), seg.at(7)),
            )
        elif seg.name == "OBX":
            obs = _observation(seg, enc, unknown)
            if obs is not None:
                observations.append(obs)
        elif seg.name == "MSH":
            raise FrameError(PROTOCOL, seg.offset, "a second MSH outside a batch")
    close()
    return OruMessage(header, tuple(groups), tuple(unknown))


def _number(text: str, value_type: str, enc: _Encoding) -> float | None:
    """The number of an NM value, or of an SN value that is a plain number (``^120``,
    ``=^120``); None when it is not one."""
    if value_type == "SN":
        parts = text.split(enc.component)
        if len(parts) != 2 or parts[0].strip() not in ("", "="):
            return None
        text = parts[1]
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _observation(seg: _Segment, enc: _Encoding, unknown: list[UnknownCode]) -> Observation | None:
    value_type = seg.get(2).strip()
    raw_value = seg.get(5).split(enc.repetition, 1)[0].strip()
    status = seg.get(11).strip().upper()
    identifier = enc.unescape(seg.get(3))
    unit_text = enc.unescape(seg.get(6))
    if not raw_value and not value_type:
        return None  # a PCD-01 hierarchy level (MDS, VMD, channel): no value of its own
    comps = enc.components(seg.get(3)) + [""] * 6
    if comps[0] in CONTAINER_CODES and not raw_value:
        return None

    def refuse(offset: int, reason: str, quantity: Quantity | None) -> None:
        name = quantity.name if quantity is not None else None
        unknown.append(UnknownCode(offset, identifier, unit_text, reason, name))

    found = _lookup_code(comps)
    quantity = found.quantity
    if quantity is None:
        refuse(seg.at(3), found.reason, found.candidate)
        return None
    if found.note:
        unknown.append(UnknownCode(seg.at(3), identifier, unit_text, found.note,
                                   quantity.name, kept=True))
    unit, reason = _lookup_unit(enc.components(seg.get(6)) + [""] * 6)
    if unit is None and reason == "no unit" and len(quantity.units) == 1:
        (unit,) = quantity.units
        unknown.append(UnknownCode(seg.at(6), identifier, unit_text,
                                   f"no unit; {quantity.label} is always in {unit}",
                                   quantity.name, kept=True))
    if unit is None or unit not in quantity.units:
        if unit is not None:
            reason = f"unit {unit} does not fit {quantity.label}"
        refuse(seg.at(6), reason, quantity)
        return None
    if value_type not in ("", "NM", "SN"):
        refuse(seg.at(2), f"value type {value_type}, not NM", quantity)
        return None
    if status and status not in _RESULT_STATUS and status not in _PRELIMINARY_STATUS \
            and status not in _NO_RESULT_STATUS:
        refuse(seg.at(11), f"result status {status!r} is not one HL7 defines", quantity)
        return None
    value: float | None = None
    missing = _NO_RESULT_STATUS.get(status, "")
    if raw_value and not missing:
        value = _number(raw_value, value_type, enc)
        if value is None:
            refuse(seg.at(5), f"{raw_value[:20]!r} is not a number", quantity)
            return None
        low, high = value_range(quantity.field, unit)
        if not low <= value <= high:
            refuse(seg.at(5), f"{quantity.field} {value:g} is out of range {low:g}..{high:g}",
                   quantity)
            return None
    elif not missing:
        missing = "missing"
    abnormal = tuple(
        _ABNORMAL[a] for a in seg.get(8).split(enc.repetition) if a.strip() in _ABNORMAL
    )
    return Observation(
        quantity=quantity.name,
        value=value,
        unit=unit,
        code=found.code.code if found.code else "",
        name=found.code.refid if found.code else "",
        sub_id=seg.get(4),
        status=status,
        abnormal=abnormal,
        time=parse_ts(seg.get(14), seg.at(14)),
        offset=seg.offset,
        missing=missing,
        preliminary=status in _PRELIMINARY_STATUS,
    )


# --- observations -> measurements -----------------------------------------------------------


@dataclass(slots=True)
class _Slot:
    kind: Kind
    unit: Unit
    chan: tuple[int, ...] | None = None
    values: dict[str, ReadingValue] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    flags: list[str] = field(default_factory=list)
    time: datetime | None = None
    preliminary: bool = False

    def add(self, name: str, obs: Observation) -> None:
        self.seen.add(name)
        if obs.time is not None and self.time is None:
            self.time = obs.time
        if obs.value is not None:
            self.values[name] = obs.value
            if obs.preliminary:
                self.preliminary = True
                self.flags.append(f"{name}_preliminary")
        else:
            self.flags.append(f"{name}_{obs.missing or 'missing'}")
        self.flags.extend(f"{name}_{a}" for a in obs.abnormal)

    def measurement(self, fallback: datetime | None) -> Measurement:
        primaries = {q.field for q in codes.QUANTITIES.values()
                     if q.primary and q.kind == self.kind}
        usable = bool(self.values) and (not primaries or bool(primaries & set(self.values)))
        quality: Quality = (
            "invalid" if not usable else "questionable" if self.preliminary else "valid"
        )
        return Measurement(
            kind=self.kind,
            values=self.values,
            unit=self.unit,
            flags=tuple(self.flags),
            quality=quality,
            measured_at=self.time or fallback,
        )


_PULSE_HOMES: dict[str, tuple[Kind, ...]] = {
    "nibp_pulse_rate": ("blood_pressure",),
    "pulse_rate": ("blood_pressure", "spo2"),
}
"""Where a pulse rate that is not a channel's own goes: the cuff's with the cuff; the generic
one with the cuff (NIBP monitors send it) or else an oximeter without a rate of its own."""


def _group_measurements(group: ObservationGroup) -> list[Measurement]:
    """One measurement per kind and channel: a quantity seen again opens a new one (a
    monitor with two oximeter channels gives two ``spo2`` measurements), and so does another
    OBX-4 channel."""
    slots: list[_Slot] = []
    latest: dict[tuple[Kind, tuple[int, ...] | None], _Slot] = {}
    pulses: list[Observation] = []
    for obs in group.observations:
        if obs.quantity in _PULSE_HOMES:
            pulses.append(obs)
            continue
        quantity = codes.QUANTITIES[obs.quantity]
        kind = quantity.kind
        unit: Unit = obs.unit if kind == "blood_pressure" else ("%" if kind == "spo2" else "/min")
        path = obs.path
        key = (kind, path[:3] if path else None)
        slot = latest.get(key)
        if slot is None or quantity.field in slot.seen or slot.unit != unit:
            slot = _Slot(kind, unit, chan=key[1])
            slots.append(slot)
            latest[key] = slot
        slot.add(quantity.field, obs)
    for obs in pulses:
        home = _pulse_home(slots, obs)
        if home is not None:
            home.add("pulse_rate", obs)
        else:
            path = obs.path
            slot = _Slot("heart_rate", "/min", chan=path[:3] if path else None,
                         flags=["from_pulse_rate"])
            slots.append(slot)
            slot.add("heart_rate", obs)
    return [slot.measurement(group.time) for slot in slots]


def _pulse_home(slots: list[_Slot], obs: Observation) -> _Slot | None:
    """The measurement a pulse rate joins: of its own OBX-4 channel first, then of its VMD
    (a channel of the same VMD, or one without OBX-4), newest first; None if there is none."""
    path = obs.path
    tiers: list[Callable[[_Slot], bool]]
    if path is None:
        tiers = [lambda s: True]
    else:
        tiers = [lambda s: s.chan == path[:3],
                 lambda s: s.chan is None or s.chan[:2] == path[:2]]
    for tier in tiers:
        for kind in _PULSE_HOMES[obs.quantity]:
            for slot in reversed(slots):
                if slot.kind == kind and "pulse_rate" not in slot.seen and tier(slot):
                    return slot
    return None


def to_measurements(message: OruMessage) -> list[Measurement]:
    return message.to_measurements()


# --- ACK --------------------------------------------------------------------------------------

AckCode = Literal["AA", "AE", "AR"]
ERROR_UNSUPPORTED_MESSAGE_TYPE = 200
ERROR_APPLICATION_INTERNAL = 207
_HL70357 = {
    ERROR_UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ERROR_APPLICATION_INTERNAL: "Application internal error",
}


def escape(text: str) -> str:
    """``text`` made safe for a field with the standard separators ``|^~\\&``."""
    out = text.replace("\\", "\\E\\")
    for ch, esc in (("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        out = out.replace(ch, esc)
    return out.replace("\r", " ").replace("\n", " ")


def build_ack(
    header: MessageHeader | None,
    code: AckCode = "AA",
    *,
    text: str = "",
    error_code: int = ERROR_APPLICATION_INTERNAL,
    at: datetime | None = None,
    control_id: str | None = None,
) -> bytes:
    """The ACK for a message (no MLLP envelope; see ``wrap_mllp``).

    Sender and receiver are swapped from ``header``; ``header`` is ``None`` when the message
    was too broken to read its MSH (MSA-2 is then empty). MSH-7 is ``at`` or, without a
    clock, the original message's own time. For AE/AR, ``text`` goes to MSA-3 and ERR-8 and
    ``error_code`` (HL7 table 0357) to ERR-3.
    """
    h = header or MessageHeader()
    timestamp = format_ts(at) if at is not None else h.timestamp
    ack_id = escape(control_id) if control_id is not None else f"ACK{h.control_id}"
    msh = "|".join((
        "MSH", "^~\\&",
        h.receiving_application, h.receiving_facility,
        h.sending_application, h.sending_facility,
        timestamp, "", "ACK^R01^ACK", ack_id, h.processing_id, h.version,
    ))
    msa = f"MSA|{code}|{h.control_id}"
    segments = [msh]
    if code == "AA":
        segments.append(msa)
    else:
        segments.append(f"{msa}|{escape(text)}")
        name = _HL70357.get(error_code, "")
        segments.append(f"ERR|||{error_code}^{escape(name)}^HL70357|E||||{escape(text)}")
    return ("\r".join(segments) + "\r").encode("latin-1", "replace")


def build_batch_ack(batch: Batch, acks: Sequence[bytes], *, at: datetime | None = None) -> bytes:
    """The answer to a batch: a batch of ``acks`` (one per message, in order) under a BHS
    whose sender and receiver are swapped from the batch's and whose BHS-12 names the batch
    answered; FHS/FTS around it when the batch came in a file."""

    def header(line: str, name: str) -> str:
        fields = line.split(line[3]) if len(line) > 3 else [name]

        def get(n: int) -> str:
            return fields[n - 1] if 0 < n - 1 < len(fields) else ""

        enc = get(2) or "^~\\&"
        when = format_ts(at) if at is not None else get(7)
        return "|".join((name, enc, get(5), get(6), get(3), get(4), when, "", "", "", "",
                         get(11))).rstrip("|")

    lines: list[str] = []
    if batch.file_header:
        lines.append(header(batch.file_header, "FHS"))
    lines.append(header(batch.batch_header or "BHS|^~\\&", "BHS"))
    body = b"".join(acks).decode("latin-1").rstrip("\r")
    if body:
        lines.append(body)
    lines.append(f"BTS|{len(acks)}")
    if batch.file_header:
        lines.append("FTS|1")
    return ("\r".join(lines) + "\r").encode("latin-1", "replace")


@dataclass(frozen=True, slots=True)
class Ack:
    """A decoded ACK: what a device simulator gets back."""

    code: str
    control_id: str
    text: str = ""


def decode_ack(data: bytes) -> Ack:
    body, cut = _unwrap(data)
    try:
        segments, enc = _segments(body.decode("latin-1"))
    except FrameError as e:
        raise FrameError(e.protocol, e.offset + cut, e.reason) from None
    header = _header(segments[0])
    if not header.message_type.startswith("ACK"):
        raise FrameError(PROTOCOL, segments[0].at(9) + cut, "not an ACK")
    for seg in segments[1:]:
        if seg.name == "MSA":
            return Ack(seg.get(1), enc.unescape(seg.get(2)), enc.unescape(seg.get(3)))
    raise FrameError(PROTOCOL, len(data), "ACK without MSA segment")


def wrap_mllp(message: bytes) -> bytes:
    return START_BLOCK + message + END_BLOCK_CR


# --- encoder ----------------------------------------------------------------------------------

_ENCODE_CODES: dict[tuple[Kind, str], MdcCode] = {
    ("blood_pressure", "systolic"): codes.BY_MDC["150021"],
    ("blood_pressure", "diastolic"): codes.BY_MDC["150022"],
    ("blood_pressure", "mean"): codes.BY_MDC["150023"],
    ("blood_pressure", "pulse_rate"): codes.BY_MDC["149546"],
    ("spo2", "spo2"): codes.BY_MDC["150456"],
    ("spo2", "pulse_rate"): codes.BY_MDC["149530"],
    ("spo2", "perfusion_index"): codes.BY_MDC["150448"],
    ("heart_rate", "heart_rate"): codes.BY_MDC["147842"],
}


def _format_number(value: float) -> str:
    return format(value, ".10g")


def encode_oru(
    measurements: Sequence[Measurement],
    *,
    control_id: str,
    at: datetime,
    sending_application: str = "CHAIRSIDE-SIM",
    sending_facility: str = "",
    receiving_application: str = "",
    receiving_facility: str = "",
) -> bytes:
    """An ORU^R01 message (no MLLP envelope) with one OBR per measurement and one OBX per
    value, in the PCD-01 layout. Values a Reading cannot carry in HL7 here (RR intervals,
    energy, perfusion index, cuff pressure) raise ``ValueError``; flags are not encoded."""
    msh = "|".join((
        "MSH", "^~\\&",
        escape(sending_application), escape(sending_facility),
        escape(receiving_application), escape(receiving_facility),
        format_ts(at), "", "ORU^R01^ORU_R01", escape(control_id), "P", "2.6",
        "", "", "NE", "AL", "", "UNICODE UTF-8", "", "",
        "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
    ))
    segments = [msh]
    for n, m in enumerate(measurements, start=1):
        when = format_ts(m.measured_at or at)
        segments.append(
            f"OBR|{n}|{escape(control_id)}^{escape(sending_application)}||"
            f"182777000^monitoring of patient^SCT|||{when}"
        )
        for k, (name, value) in enumerate(m.values.items(), start=1):
            code = _ENCODE_CODES.get((m.kind, name))
            if code is None or isinstance(value, list):
                raise ValueError(f"{m.kind}.{name} has no HL7 observation here")
            units = codes.quantity_of(code).units
            unit: Unit = next(iter(units)) if len(units) == 1 else m.unit
            unit_code, unit_name = codes.UNIT_MDC_CODE[unit]
            segments.append(
                f"OBX|{k}|NM|{code.code}^{code.refid}^MDC|1.0.{n}.{k}|{_format_number(value)}|"
                f"{unit_code}^{unit_name}^MDC|||||R|||{when}"
            )
    return ("\r".join(segments) + "\r").encode("utf-8")


# --- MLLP framer ----------------------------------------------------------------------------


class MllpFramer(BufferedFramer):
    """Framer (``base.Framer``) for MLLP: one result per message, and the ACK to send back
    in ``replies`` (MLLP-framed) for every message, decoded or not.

    Bytes outside ``0x0B ... 0x1C 0x0D`` are dropped. A start block inside a message, or a
    message longer than ``max_buffer``, is an error; the framer then waits for the next start
    block. ``clock`` (optional) stamps the ACKs' MSH-7; without one an ACK repeats the time of
    the message it answers, so the framer stays free of clocks.
    """

    protocol = PROTOCOL

    def __init__(
        self, max_buffer: int = 256 * 1024, clock: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__(max_buffer)
        self._clock = clock
        self._inside = False
        self._after_end = False
        self._start = 0  # stream offset of the current message's start block

    def _restart(self) -> None:
        self._inside = False
        self._after_end = False

    def flush(self) -> FeedResult:
        result = FeedResult()
        if self._inside:
            self._error(result, FrameError(PROTOCOL, self._start, "message without end block"))
            self.stats.dropped_bytes += len(self._buf) + 1
        self.reset()
        return result

    def _take(self, data: bytes, base: int, result: FeedResult) -> None:
        i, n = 0, len(data)
        while i < n:
            if self._after_end:
                self._after_end = False
                if data[i] == 0x0D:
                    i += 1
                    continue
            if not self._inside:
                j = data.find(START_BLOCK, i)
                if j < 0:
                    self.stats.dropped_bytes += n - i
                    break
                self.stats.dropped_bytes += j - i
                self._inside = True
                self._start = base + j
                self._buf.clear()
                i = j + 1
                continue
            end = data.find(END_BLOCK, i)
            restart = data.find(START_BLOCK, i)
            cut_short = restart >= 0 and (end < 0 or restart < end)
            stop = restart if cut_short else n if end < 0 else end
            # Too long is judged before cut short, on the bytes before the new start block:
            # fed a byte at a time, the length is what is seen first.
            if cut_short and len(self._buf) + stop - i <= self.max_buffer:
                self._error(result, FrameError(
                    PROTOCOL, base + restart, "start block inside a message"
                ))
                self.stats.dropped_bytes += len(self._buf) + 1 + restart - i
                self._inside = False
                i = restart
                continue
            if len(self._buf) + stop - i > self.max_buffer:
                self._error(result, FrameError(
                    PROTOCOL, self._start, f"message longer than {self.max_buffer} bytes"
                ))
                self.stats.dropped_bytes += len(self._buf) + 1 + stop - i
                self._buf.clear()
                self._inside = False
                i = stop  # a following end block is dropped as garbage
                continue
            self._buf += data[i:stop]
            if end < 0:
                break
            self._inside = False
            self._after_end = True
            i = end + 1
            self._message(bytes(self._buf), self._start + 1, result)
            self._buf.clear()

    def _message(self, message: bytes, offset: int, result: FeedResult) -> None:
        at = self._clock() if self._clock is not None else None
        text = message.decode("latin-1")
        if not _is_batch(text):
            result.replies.append(wrap_mllp(self._answer(message, offset, result, at)))
            return
        try:
            batch = decode_batch(message)
        except Exception as e:  # a codec bug: the whole block is answered as one error
            error = internal_error(PROTOCOL, offset, e)
            self._error(result, error)
            ack = build_ack(None, "AE", text=error.reason, at=at)
            result.replies.append(wrap_mllp(ack))
            return
        acks = [
            self._answer(raw.encode("latin-1"), offset + start, result, at)
            for start, raw in batch.raw
        ]
        result.replies.append(wrap_mllp(build_batch_ack(batch, acks, at=at)))

    def _answer(
        self, message: bytes, offset: int, result: FeedResult, at: datetime | None
    ) -> bytes:
        """Decode one message into ``result`` and return its ACK."""
        try:
            header: MessageHeader | None = decode_header(message)
        except FrameError:
            header = None
        try:
            decoded = decode_message(message)
            measurements = decoded.to_measurements()
        except Exception as e:  # FrameError; anything else is a codec bug, answered all the same
            if isinstance(e, FrameError):
                error = FrameError(e.protocol, offset + e.offset, e.reason)
            else:
                error = internal_error(PROTOCOL, offset, e)
            self._error(result, error)
            code = (
                ERROR_UNSUPPORTED_MESSAGE_TYPE
                if header is not None and not header.is_oru_r01
                else ERROR_APPLICATION_INTERNAL
            )
            return build_ack(header, "AE", text=error.reason, error_code=code, at=at)
        self.stats.frames += 1
        for unusable in decoded.unusable:
            self.stats.note_unusable(unusable)
            result.unusable.append(unusable)
        result.frames.append(decoded)
        result.measurements.extend(measurements)
        return build_ack(decoded.header, "AA", at=at)


__all__ = [
    "Ack",
    "Batch",
    "MessageHeader",
    "MllpFramer",
    "Observation",
    "ObservationGroup",
    "OruMessage",
    "UnknownCode",
    "build_ack",
    "build_batch_ack",
    "decode_ack",
    "decode_batch",
    "decode_header",
    "decode_message",
    "decode_messages",
    "encode_oru",
    "escape",
    "format_ts",
    "parse_ts",
    "to_measurements",
    "wrap_mllp",
]
