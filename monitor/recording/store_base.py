"""What both stores of a recording share: the tables, the rows, the interface and its error.

The SQLite file (``store``) and the PostgreSQL database (``postgres_store``) each build on
this; neither imports the other, and ``store.open_store`` picks one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol

from drivers.errors import ChairsideError

MESSAGES_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq         INTEGER PRIMARY KEY,
    received_ms INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    topic       TEXT NOT NULL,
    type        TEXT,
    chair       TEXT,
    payload     BLOB NOT NULL,
    valid       INTEGER NOT NULL,
    error       TEXT,
    retained    INTEGER NOT NULL DEFAULT 0,
    dedupe_key  TEXT NOT NULL,
    site        TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_site_dedupe ON messages (site, dedupe_key);
CREATE INDEX IF NOT EXISTS messages_chair_time ON messages (chair, received_ms);
CREATE INDEX IF NOT EXISTS messages_chair_type_time ON messages (chair, type, received_ms);
"""
# A duplicate is a duplicate within its site: two sites' engines may send the same bytes
# (alarm ids are derived from chair, condition and a counter). A recording made before
# messages had a site keeps its key UNIQUE on its own as well; it holds one site.
# A session's key is its site and id, since two sites may start a session on a chair of the
# same name in the same second. A message or session recorded without a site has the site ''.
SESSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id              TEXT NOT NULL,
    chair           TEXT NOT NULL,
    patient_code    TEXT,
    protocol        TEXT,
    dose_mg         REAL,
    lot             TEXT,
    started_ms      INTEGER NOT NULL,
    first_dose_ms   INTEGER,
    ended_ms        INTEGER,
    end_kind        TEXT,
    discharged_by   TEXT,
    override_reason TEXT,
    last_seen_ms    INTEGER NOT NULL,
    alarms_high     INTEGER NOT NULL DEFAULT 0,
    alarms_medium   INTEGER NOT NULL DEFAULT 0,
    alarms_low      INTEGER NOT NULL DEFAULT 0,
    alarm_ids       TEXT NOT NULL DEFAULT '',
    site            TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (site, id)
);
CREATE INDEX IF NOT EXISTS sessions_chair_start ON sessions (chair, started_ms);
"""
SCHEMA = MESSAGES_SCHEMA + SESSIONS_SCHEMA

SITE_OF_TOPIC = (
    "CASE WHEN topic LIKE 'chairside/v1/%/%' THEN"
    " substr(topic, 14, instr(substr(topic, 14), '/') - 1) END"
)
"""SQL: the site named in a ``chairside/v1/{site}/...`` topic (for recordings made before
messages carried their site)."""

MESSAGE_COLUMNS = "seq, received_ms, topic, type, chair, payload, valid, error, retained, site"
SESSION_COLUMNS = (
    "id, chair, patient_code, protocol, dose_mg, lot, started_ms, first_dose_ms, ended_ms,"
    " end_kind, discharged_by, override_reason, last_seen_ms, alarms_high, alarms_medium,"
    " alarms_low, alarm_ids, site"
)


def to_ms(when: datetime) -> int:
    return round(when.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def dedupe_key(key: str, payload: bytes) -> str:
    """The identity of a message for duplicate removal: its key plus a hash of its bytes."""
    return f"{key}#{hashlib.sha256(payload).hexdigest()[:24]}"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One recorded message, as received."""

    seq: int
    received_at: datetime
    topic: str
    type: str | None
    chair: str | None
    payload: bytes
    valid: bool
    error: str | None
    retained: bool = False
    site: str | None = None


@dataclass(slots=True)
class SessionRow:
    """A session as the recording shows it (see ``sessions.SessionTracker``)."""

    id: str
    chair: str
    started_at: datetime
    last_seen: datetime
    patient_code: str | None = None
    protocol: str | None = None
    dose_mg: float | None = None
    lot: str | None = None
    first_dose_at: datetime | None = None
    ended_at: datetime | None = None
    end_kind: str | None = None
    discharged_by: str | None = None
    override_reason: str | None = None
    alarms: dict[str, str] = field(default_factory=dict)
    """alarm_id -> highest priority it reached."""
    site: str | None = None
    """The site it was recorded at (None only in a recording older than the site column)."""

    @property
    def name(self) -> str:
        """``site/id``: the session's name in a store that holds several sites."""
        return self.id if self.site is None else f"{self.site}/{self.id}"

    def alarm_counts(self) -> dict[str, int]:
        counts = {"high": 0, "medium": 0, "low": 0}
        for priority in self.alarms.values():
            counts[priority] = counts.get(priority, 0) + 1
        return counts

    def monitoring_min(self) -> float:
        """Minutes from the first dose (else the start) to the end (else the last message)."""
        begin = self.first_dose_at or self.started_at
        end = self.ended_at or self.last_seen
        return max(0.0, (end - begin).total_seconds() / 60)


class StoreError(ChairsideError):
    """The store cannot be opened: one line that says where and why."""


class RecordingStore(Protocol):
    """What the recorder writes and QA reads, whichever database holds the recording.

    Writes gather in one transaction until ``commit``, which makes them durable; the
    recorder acknowledges messages only after it returns. ``site=None`` reads every site."""

    def __enter__(self) -> RecordingStore: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def close(self) -> None: ...

    def commit(self) -> None: ...

    def append(
        self,
        topic: str,
        payload: bytes,
        received_at: datetime,
        *,
        key: str,
        type: str | None,
        chair: str | None,
        valid: bool,
        error: str | None = None,
        retained: bool = False,
        site: str | None = None,
    ) -> int | None: ...

    def save_session(self, row: SessionRow) -> None: ...

    def clear_sessions(self, *, site: str | None = None) -> None: ...

    def purge(
        self, now: datetime, retention_days: int, *, site: str | None = None
    ) -> tuple[int, int]: ...

    def count(self) -> int: ...

    def messages(
        self,
        *,
        chair: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        types: Iterable[str] | None = None,
        site: str | None = None,
    ) -> Iterator[StoredMessage]: ...

    def latest_before(
        self, chair: str, type: str, before: datetime, limit: int = 1, *,
        site: str | None = None,
    ) -> list[StoredMessage]: ...

    def sessions(self, *, chair: str | None = None,
                 site: str | None = None) -> list[SessionRow]: ...

    def open_sessions(self, *, site: str | None = None) -> list[SessionRow]: ...

    def find_session(self, ident: str) -> SessionRow: ...


def split_name(ident: str) -> tuple[str | None, str]:
    """``site/id`` -> (site, id); a bare id (or prefix) has no site."""
    site, sep, rest = ident.partition("/")
    return (site, rest) if sep else (None, ident)


def pick_session(ident: str, rows: list[SessionRow]) -> SessionRow:
    """The session ``ident`` names among ``rows`` (those whose id is it or starts with it):
    the one with that very id, or the only one; else a KeyError that says why."""
    _, prefix = split_name(ident)
    exact = [r for r in rows if r.id == prefix]
    found = exact or rows
    if len(found) == 1:
        return found[0]
    if not found:
        raise KeyError(f"no recorded session {ident!r} (see `chairside sessions`)")
    several_sites = len({r.site for r in found}) > 1
    names = ", ".join(r.name if several_sites else r.id for r in found[:5])
    raise KeyError(f"{ident!r} names {len(found)} sessions: {names}")


def like_prefix(prefix: str) -> str:
    """A LIKE pattern for ids starting with ``prefix`` (its wildcards escaped by ``\\``)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def session_values(row: SessionRow) -> tuple[object, ...]:
    """A session's columns in ``SESSION_COLUMNS`` order."""
    counts = row.alarm_counts()
    return (
        row.id, row.chair, row.patient_code, row.protocol, row.dose_mg, row.lot,
        to_ms(row.started_at), _ms(row.first_dose_at), _ms(row.ended_at),
        row.end_kind, row.discharged_by, row.override_reason, to_ms(row.last_seen),
        counts["high"], counts["medium"], counts["low"],
        ",".join(f"{a}={p}" for a, p in row.alarms.items()), row.site or "",
    )


def _ms(when: datetime | None) -> int | None:
    return None if when is None else to_ms(when)


def message_from_row(row: tuple[object, ...]) -> StoredMessage:
    seq, ms, topic, type_, chair, payload, valid, error, retained, site = row
    assert isinstance(seq, int) and isinstance(ms, int) and isinstance(topic, str)
    return StoredMessage(
        seq=seq,
        received_at=from_ms(ms),
        topic=topic,
        type=type_ if isinstance(type_, str) else None,
        chair=chair if isinstance(chair, str) else None,
        payload=bytes(payload) if isinstance(payload, bytes | bytearray | memoryview) else b"",
        valid=bool(valid),
        error=error if isinstance(error, str) else None,
        retained=bool(retained),
        site=site if isinstance(site, str) and site else None,
    )


def session_from_row(row: tuple[object, ...]) -> SessionRow:
    (ident, chair, patient, protocol, dose, lot, started, first_dose, ended, end_kind, by,
     override, last_seen, _h, _m, _l, alarm_ids, site) = row
    alarms: dict[str, str] = {}
    for item in str(alarm_ids or "").split(","):
        if "=" in item:
            alarm, priority = item.rsplit("=", 1)
            alarms[alarm] = priority
    return SessionRow(
        id=str(ident),
        chair=str(chair),
        patient_code=None if patient is None else str(patient),
        protocol=None if protocol is None else str(protocol),
        dose_mg=float(dose) if isinstance(dose, int | float) else None,
        lot=None if lot is None else str(lot),
        started_at=from_ms(int(str(started))),
        first_dose_at=None if first_dose is None else from_ms(int(str(first_dose))),
        ended_at=None if ended is None else from_ms(int(str(ended))),
        end_kind=None if end_kind is None else str(end_kind),
        discharged_by=None if by is None else str(by),
        override_reason=None if override is None else str(override),
        last_seen=from_ms(int(str(last_seen))),
        alarms=alarms,
        site=site if isinstance(site, str) and site else None,
    )
