"""HL7 v2 ORU^R01 observation reports as monitors and BP devices send them (IHE PCD
Technical Framework, transaction PCD-01 "Communicate PCD Data"), framed with MLLP.

MLLP (HL7 v2 Minimal Lower Layer Protocol): ``0x0B`` + message + ``0x1C 0x0D``; inside,
segments end with CR. Each message is answered with an ACK (original acknowledgement mode):
``MSA|AA`` when it was decoded, ``MSA|AE`` plus an ``ERR`` segment with the reason when not.

Observations are OBX segments whose identifier is an IEEE 11073-10101 (MDC) code, e.g.
``OBX|4|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.0.1.1|120|266016^MDC_DIM_MMHG^MDC|||||R``.
Codes and units are checked against a table (``CODES``): sample messages in the wild carry
wrong codes, so a code this module does not know, or a code whose name or unit does not
match, is reported in ``OruMessage.unknown_codes`` and never guessed at. LOINC codes (coding
system ``LN``) and UCUM units are accepted as the alternates PCD-01 allows.

Observations are grouped per OBR into measurements: NIBP systolic/diastolic/mean (with the
generic pulse rate, if any) into ``blood_pressure``, SpO2 and the oximeter's pulse rate into
``spo2``, the ECG heart rate into ``heart_rate``. The time is OBX-14, else OBR-7.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

from drivers.protocols.base import (
    FeedResult,
    FrameError,
    Measurement,
    StreamStats,
    check_value,
    internal_error,
)
from drivers.wire import Kind, Quality, ReadingValue, Unit

PROTOCOL = "hl7"
START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
END_BLOCK_CR = b"\x1c\x0d"

# --- code tables ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Code:
    """One observation this module understands: MDC code and reference id, LOINC codes, the
    Reading field it fills and the units it may come in."""

    mdc: str
    refid: str
    loinc: tuple[str, ...]
    metric: str
    units: frozenset[Unit]


_PRESSURE_UNITS: frozenset[Unit] = frozenset({"mm[Hg]", "kPa"})
_RATE: frozenset[Unit] = frozenset({"/min"})
CODES: tuple[Code, ...] = (
    Code("150021", "MDC_PRESS_BLD_NONINV_SYS", ("8480-6",), "systolic", _PRESSURE_UNITS),
    Code("150022", "MDC_PRESS_BLD_NONINV_DIA", ("8462-4",), "diastolic", _PRESSURE_UNITS),
    Code("150023", "MDC_PRESS_BLD_NONINV_MEAN", ("8478-0",), "mean", _PRESSURE_UNITS),
    Code("150456", "MDC_PULS_OXIM_SAT_O2", ("59408-5", "2708-6"), "spo2", frozenset({"%"})),
    Code("149530", "MDC_PULS_OXIM_PULS_RATE", ("8889-8",), "oximeter_pulse_rate", _RATE),
    Code("147842", "MDC_ECG_HEART_RATE", ("8867-4",), "heart_rate", _RATE),
    Code("149514", "MDC_PULS_RATE", (), "pulse_rate", _RATE),
)
_BY_MDC = {c.mdc: c for c in CODES}
_BY_REFID = {c.refid: c for c in CODES}
_BY_LOINC = {code: c for c in CODES for code in c.loinc}

CONTAINER_CODES = {"150020": "MDC_PRESS_BLD_NONINV"}
"""Codes of PCD-01 hierarchy levels (panels) that carry no value of their own."""

UNITS_MDC: dict[str, tuple[str, Unit]] = {
    "266016": ("MDC_DIM_MMHG", "mm[Hg]"),
    "265987": ("MDC_DIM_KILO_PASCAL", "kPa"),
    "262688": ("MDC_DIM_PERCENT", "%"),
    "264864": ("MDC_DIM_BEAT_PER_MIN", "/min"),
}
_UNIT_MDC_CODE: dict[Unit, tuple[str, str]] = {u: (c, n) for c, (n, u) in UNITS_MDC.items()}
UNITS_UCUM: dict[str, Unit] = {
    "mm[Hg]": "mm[Hg]",
    "kPa": "kPa",
    "%": "%",
    "/min": "/min",
    "1/min": "/min",
    "{beat}/min": "/min",
    "{beats}/min": "/min",
}

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
_PRIMARY = frozenset({"systolic", "diastolic", "spo2", "heart_rate"})

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
    """One OBX this module understood. ``metric``: ``systolic``, ``diastolic``, ``mean``,
    ``spo2``, ``oximeter_pulse_rate``, ``heart_rate`` or ``pulse_rate`` (generic)."""

    metric: str
    value: float | None
    unit: Unit
    code: str
    name: str
    sub_id: str = ""
    status: str = ""
    abnormal: tuple[str, ...] = ()
    time: datetime | None = None
    offset: int = 0


@dataclass(frozen=True, slots=True)
class UnknownCode:
    """An OBX with a value that was not used, and why."""

    offset: int
    identifier: str
    unit: str
    reason: str

    def __str__(self) -> str:
        return f"byte {self.offset}: {self.identifier} [{self.unit}]: {self.reason}"


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
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as e:
        raise FrameError(PROTOCOL, offset, f"{text!r}: {e}") from None


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
            known = UNITS_MDC.get(code)
            if known is None:
                return None, f"unit code {code} is not a known MDC unit"
            if name and name != known[0]:
                return None, f"unit code {code} is {known[0]}, not {name}"
            found.append(known[1])
        elif system in ("UCUM", ""):
            unit = UNITS_UCUM.get(code)
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


def _lookup_code(comps: list[str]) -> tuple[Code | None, str]:
    """The code of an OBX-3, or ``None`` and why not."""
    reasons: list[str] = []
    for code, name, system in (comps[0:3], comps[3:6]):
        if not code and not name:
            continue
        if system == "MDC" or (not system and code.isdigit()):
            known = _BY_MDC.get(code)
            if known is None:
                by_name = _BY_REFID.get(name)
                if by_name is not None:
                    reasons.append(
                        f"code {code} is not {name} (that is {by_name.mdc}); not guessing"
                    )
                else:
                    reasons.append(f"MDC code {code} {name} is not one this gateway reads")
                continue
            if name and name != known.refid:
                reasons.append(f"code {code} is {known.refid}, not {name}; not guessing")
                continue
            return known, ""
        if system == "LN":
            known = _BY_LOINC.get(code)
            if known is not None:
                return known, ""
            reasons.append(f"LOINC code {code} is not one this gateway reads")
        else:
            reasons.append(f"coding system {system!r} is not MDC or LN")
    return None, "; ".join(reasons) or "no observation identifier"


def decode_message(data: bytes) -> OruMessage:
    """One ORU^R01 message (its MLLP envelope, if any, is removed first)."""
    body, cut = _unwrap(data)
    try:
        return _decode(body.decode("latin-1"))
    except FrameError as e:
        raise FrameError(e.protocol, e.offset + cut, e.reason) from None


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
    close()
    return OruMessage(header, tuple(groups), tuple(unknown))


def _observation(seg: _Segment, enc: _Encoding, unknown: list[UnknownCode]) -> Observation | None:
    value_type = seg.get(2)
    raw_value = seg.get(5).split(enc.repetition, 1)[0].strip()
    status = seg.get(11).strip().upper()
    identifier = enc.unescape(seg.get(3))
    unit_text = enc.unescape(seg.get(6))
    if not raw_value and not value_type:
        return None  # a PCD-01 hierarchy level (MDS, VMD, channel): no value of its own
    comps = enc.components(seg.get(3)) + [""] * 6
    if comps[0] in CONTAINER_CODES and not raw_value:
        return None
    code, reason = _lookup_code(comps)
    if code is None:
        unknown.append(UnknownCode(seg.at(3), identifier, unit_text, reason))
        return None
    unit, reason = _lookup_unit(enc.components(seg.get(6)) + [""] * 6)
    if unit is None or unit not in code.units:
        if unit is not None:
            reason = f"unit {unit} does not fit {code.refid}"
        unknown.append(UnknownCode(seg.at(6), identifier, unit_text, reason))
        return None
    if value_type and value_type != "NM":
        unknown.append(
            UnknownCode(seg.at(2), identifier, unit_text, f"value type {value_type}, not NM")
        )
        return None
    value: float | None = None
    if raw_value and status not in ("X", "D", "W"):
        try:
            value = float(raw_value)
        except ValueError:
            raise FrameError(PROTOCOL, seg.at(5), f"{raw_value[:20]!r} is not a number") from None
        field_name = {"oximeter_pulse_rate": "pulse_rate"}.get(code.metric, code.metric)
        check_value(PROTOCOL, seg.at(5), field_name, value, unit)
    abnormal = tuple(
        _ABNORMAL[a] for a in seg.get(8).split(enc.repetition) if a.strip() in _ABNORMAL
    )
    return Observation(
        metric=code.metric,
        value=value,
        unit=unit,
        code=code.mdc,
        name=code.refid,
        sub_id=seg.get(4),
        status=status,
        abnormal=abnormal,
        time=parse_ts(seg.get(14), seg.at(14)),
        offset=seg.offset,
    )


# --- observations -> measurements -----------------------------------------------------------

_TARGET: dict[str, tuple[Kind, str]] = {
    "systolic": ("blood_pressure", "systolic"),
    "diastolic": ("blood_pressure", "diastolic"),
    "mean": ("blood_pressure", "mean"),
    "spo2": ("spo2", "spo2"),
    "oximeter_pulse_rate": ("spo2", "pulse_rate"),
    "heart_rate": ("heart_rate", "heart_rate"),
}


@dataclass(slots=True)
class _Slot:
    kind: Kind
    unit: Unit
    values: dict[str, ReadingValue] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    flags: list[str] = field(default_factory=list)
    time: datetime | None = None
    bad_primary: bool = False

    def add(self, name: str, obs: Observation) -> None:
        self.seen.add(name)
        if obs.time is not None and self.time is None:
            self.time = obs.time
        if obs.value is not None:
            self.values[name] = obs.value
        else:
            suffix = {"X": "unavailable", "D": "withdrawn", "W": "withdrawn"}.get(
                obs.status, "missing"
            )
            self.flags.append(f"{name}_{suffix}")
            self.bad_primary |= name in _PRIMARY
        self.flags.extend(f"{name}_{a}" for a in obs.abnormal)

    def measurement(self, fallback: datetime | None) -> Measurement:
        quality: Quality = "invalid" if self.bad_primary or not self.values else "valid"
        return Measurement(
            kind=self.kind,
            values=self.values,
            unit=self.unit,
            flags=tuple(self.flags),
            quality=quality,
            measured_at=self.time or fallback,
        )


def _group_measurements(group: ObservationGroup) -> list[Measurement]:
    """One measurement per kind and channel: a metric seen again opens a new one (a monitor
    with two oximeter channels gives two ``spo2`` measurements)."""
    slots: list[_Slot] = []
    latest: dict[Kind, _Slot] = {}
    generic: list[Observation] = []
    for obs in group.observations:
        if obs.metric == "pulse_rate":
            generic.append(obs)
            continue
        kind, name = _TARGET[obs.metric]
        unit: Unit = obs.unit if kind == "blood_pressure" else ("%" if kind == "spo2" else "/min")
        slot = latest.get(kind)
        if slot is None or name in slot.seen or slot.unit != unit:
            slot = _Slot(kind, unit)
            slots.append(slot)
            latest[kind] = slot
        slot.add(name, obs)
    for obs in generic:
        # The generic pulse rate belongs with the cuff (NIBP monitors send it), else with an
        # oximeter channel that has no rate of its own, else it stands as a heart rate.
        bp, ox = latest.get("blood_pressure"), latest.get("spo2")
        if bp is not None and "pulse_rate" not in bp.seen:
            bp.add("pulse_rate", obs)
        elif ox is not None and "pulse_rate" not in ox.seen:
            ox.add("pulse_rate", obs)
        else:
            slot = _Slot("heart_rate", "/min", flags=["from_pulse_rate"])
            slots.append(slot)
            slot.add("heart_rate", obs)
    return [slot.measurement(group.time) for slot in slots]


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

_ENCODE_CODES: dict[tuple[Kind, str], Code] = {
    ("blood_pressure", "systolic"): _BY_MDC["150021"],
    ("blood_pressure", "diastolic"): _BY_MDC["150022"],
    ("blood_pressure", "mean"): _BY_MDC["150023"],
    ("blood_pressure", "pulse_rate"): _BY_MDC["149514"],
    ("spo2", "spo2"): _BY_MDC["150456"],
    ("spo2", "pulse_rate"): _BY_MDC["149530"],
    ("heart_rate", "heart_rate"): _BY_MDC["147842"],
}


def _number(value: float) -> str:
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
            unit: Unit = next(iter(code.units)) if len(code.units) == 1 else m.unit
            unit_code, unit_name = _UNIT_MDC_CODE[unit]
            segments.append(
                f"OBX|{k}|NM|{code.mdc}^{code.refid}^MDC|1.0.{n}.{k}|{_number(value)}|"
                f"{unit_code}^{unit_name}^MDC|||||R|||{when}"
            )
    return ("\r".join(segments) + "\r").encode("utf-8")


# --- MLLP framer ----------------------------------------------------------------------------


class MllpFramer:
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
        self.stats = StreamStats()
        self.max_buffer = max_buffer
        self._clock = clock
        self._buf = bytearray()
        self._inside = False
        self._after_end = False
        self._offset = 0  # stream offset of the next byte fed
        self._start = 0  # stream offset of the current message's start block

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def reset(self) -> None:
        self._buf.clear()
        self._inside = False
        self._after_end = False

    def flush(self) -> FeedResult:
        result = FeedResult()
        if self._inside:
            self._error(result, FrameError(PROTOCOL, self._start, "message without end block"))
            self.stats.dropped_bytes += len(self._buf) + 1
        self.reset()
        return result

    def feed(self, data: bytes) -> FeedResult:
        result = FeedResult()
        i, n = 0, len(data)
        base = self._offset
        self._offset += n
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
            if restart >= 0 and (end < 0 or restart < end):
                self._error(result, FrameError(
                    PROTOCOL, base + restart, "start block inside a message"
                ))
                self.stats.dropped_bytes += len(self._buf) + 1 + restart - i
                self._inside = False
                i = restart
                continue
            stop = n if end < 0 else end
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
        return result

    def _message(self, message: bytes, offset: int, result: FeedResult) -> None:
        at = self._clock() if self._clock is not None else None
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
            ack = build_ack(header, "AE", text=error.reason, error_code=code, at=at)
            result.replies.append(wrap_mllp(ack))
            return
        self.stats.frames += 1
        result.frames.append(decoded)
        result.measurements.extend(measurements)
        result.replies.append(wrap_mllp(build_ack(decoded.header, "AA", at=at)))

    def _error(self, result: FeedResult, error: FrameError) -> None:
        self.stats.note_error(error)
        result.errors.append(error)


__all__ = [
    "CODES",
    "Ack",
    "Code",
    "MessageHeader",
    "MllpFramer",
    "Observation",
    "ObservationGroup",
    "OruMessage",
    "UnknownCode",
    "build_ack",
    "decode_ack",
    "decode_header",
    "decode_message",
    "encode_oru",
    "escape",
    "format_ts",
    "parse_ts",
    "to_measurements",
    "wrap_mllp",
]
