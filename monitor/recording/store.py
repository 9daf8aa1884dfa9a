"""The recording: every message of a site, with its receive time, in one SQLite file.

A recording is evidence, so the file is written the careful way (WAL, ``synchronous=FULL``)
and keeps what it cannot decode, raw and marked invalid. A QoS 1 redelivery is byte-identical,
so a message is a duplicate when its key (the message id, or the topic for states and
statuses, which carry none) and its bytes have been stored before; a reused id with new
content is kept. Sessions are an index over the messages, kept up to date as they arrive.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from drivers.wire import format_time

SCHEMA = """
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
    dedupe_key  TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS messages_chair_time ON messages (chair, received_ms);
CREATE INDEX IF NOT EXISTS messages_chair_type_time ON messages (chair, type, received_ms);
CREATE TABLE IF NOT EXISTS sessions (
    id              TEXT PRIMARY KEY,
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
    alarm_ids       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sessions_chair_start ON sessions (chair, started_ms);
"""


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


class Store:
    """The recording file. One writer (the recorder); readers may open it at the same time."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(SCHEMA)
        self._in_tx = False

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._in_tx:
            self.commit()
        self._db.close()

    # -- writing -------------------------------------------------------------------------

    def _begin(self) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_tx = True

    def commit(self) -> None:
        """Make everything appended so far durable (one fsync for the batch)."""
        if self._in_tx:
            self._db.execute("COMMIT")
            self._in_tx = False

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
    ) -> int | None:
        """Add a message; return its sequence number, or None when it is a duplicate."""
        self._begin()
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO messages (received_ms, received_at, topic, type, chair,"
            " payload, valid, error, retained, dedupe_key) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                to_ms(received_at), format_time(received_at), topic, type, chair, payload,
                int(valid), error, int(retained), dedupe_key(key, payload),
            ),
        )
        return cursor.lastrowid if cursor.rowcount else None

    def save_session(self, row: SessionRow) -> None:
        self._begin()
        counts = row.alarm_counts()
        self._db.execute(
            "INSERT OR REPLACE INTO sessions (id, chair, patient_code, protocol, dose_mg, lot,"
            " started_ms, first_dose_ms, ended_ms, end_kind, discharged_by, override_reason,"
            " last_seen_ms, alarms_high, alarms_medium, alarms_low, alarm_ids)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                row.id, row.chair, row.patient_code, row.protocol, row.dose_mg, row.lot,
                to_ms(row.started_at), _ms(row.first_dose_at), _ms(row.ended_at),
                row.end_kind, row.discharged_by, row.override_reason, to_ms(row.last_seen),
                counts["high"], counts["medium"], counts["low"],
                ",".join(f"{a}={p}" for a, p in row.alarms.items()),
            ),
        )

    def clear_sessions(self) -> None:
        self._begin()
        self._db.execute("DELETE FROM sessions")

    def purge(self, now: datetime, retention_days: int) -> tuple[int, int]:
        """Delete sessions that ended more than ``retention_days`` ago, and the messages
        older than that which no kept session spans. Returns (sessions, messages) deleted."""
        cutoff = to_ms(now - timedelta(days=retention_days))
        self._begin()
        sessions = self._db.execute(
            "DELETE FROM sessions WHERE COALESCE(ended_ms, last_seen_ms) < ?", (cutoff,)
        ).rowcount
        messages = self._db.execute(
            "DELETE FROM messages WHERE received_ms < :cutoff AND NOT EXISTS ("
            " SELECT 1 FROM sessions s WHERE s.chair = messages.chair"
            " AND messages.received_ms BETWEEN s.started_ms"
            " AND COALESCE(s.ended_ms, s.last_seen_ms))",
            {"cutoff": cutoff},
        ).rowcount
        self.commit()
        return sessions, messages

    # -- reading -------------------------------------------------------------------------

    def count(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()
        return int(n)

    def messages(
        self,
        *,
        chair: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        types: Iterable[str] | None = None,
    ) -> Iterator[StoredMessage]:
        """Messages in arrival order, optionally of one chair, in a time span, of some types."""
        where: list[str] = []
        args: list[object] = []
        if chair is not None:
            where.append("chair = ?")
            args.append(chair)
        if since is not None:
            where.append("received_ms >= ?")
            args.append(to_ms(since))
        if until is not None:
            where.append("received_ms <= ?")
            args.append(to_ms(until))
        if types is not None:
            wanted = list(types)
            where.append(f"type IN ({','.join('?' * len(wanted))})")
            args.extend(wanted)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        for row in self._db.execute(sql, args):
            yield _message(row)

    def latest_before(
        self, chair: str, type: str, before: datetime, limit: int = 1
    ) -> list[StoredMessage]:
        rows = self._db.execute(
            _SELECT + " WHERE chair = ? AND type = ? AND received_ms < ? AND valid = 1"
            " ORDER BY received_ms DESC, seq DESC LIMIT ?",
            (chair, type, to_ms(before), limit),
        )
        return [_message(r) for r in rows]

    def sessions(self, *, chair: str | None = None) -> list[SessionRow]:
        sql = "SELECT * FROM sessions"
        args: list[str] = []
        if chair is not None:
            sql += " WHERE chair = ?"
            args.append(chair)
        return [_session(r) for r in self._db.execute(sql + " ORDER BY started_ms, chair", args)]

    def open_sessions(self) -> list[SessionRow]:
        rows = self._db.execute("SELECT * FROM sessions WHERE ended_ms IS NULL")
        return [_session(r) for r in rows]

    def find_session(self, ident: str) -> SessionRow:
        """A session by its id, or by a prefix of it that names only one."""
        rows = self._db.execute(
            "SELECT * FROM sessions WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY id",
            (ident, ident.replace("%", "\\%").replace("_", "\\_") + "%"),
        ).fetchall()
        exact = [r for r in rows if r[0] == ident]
        if exact:
            return _session(exact[0])
        if len(rows) == 1:
            return _session(rows[0])
        if not rows:
            raise KeyError(f"no recorded session {ident!r} (see `chairside sessions`)")
        names = ", ".join(r[0] for r in rows[:5])
        raise KeyError(f"{ident!r} names {len(rows)} sessions: {names}")


_SELECT = (
    "SELECT seq, received_ms, topic, type, chair, payload, valid, error, retained FROM messages"
)


def _ms(when: datetime | None) -> int | None:
    return None if when is None else to_ms(when)


def _message(row: tuple[object, ...]) -> StoredMessage:
    seq, ms, topic, type_, chair, payload, valid, error, retained = row
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
    )


def _session(row: tuple[object, ...]) -> SessionRow:
    (ident, chair, patient, protocol, dose, lot, started, first_dose, ended, end_kind, by,
     override, last_seen, _h, _m, _l, alarm_ids) = row
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
    )
