"""The recording: every message of a site, with its receive time.

Two backends hold the same tables behind one interface (``RecordingStore``): an SQLite file
(``Store``, the embedded default) and a PostgreSQL database (``postgres_store``) that the
recorders of several sites share, so a region's QA reads every site in one place.
``open_store`` takes a path or a ``postgresql://`` URL.

A recording is evidence, so it is written the careful way (SQLite: WAL, ``synchronous=FULL``)
and keeps what it cannot decode, raw and marked invalid. A QoS 1 redelivery is byte-identical,
so a message is a duplicate when its key (the message id, or the topic for states and
statuses, which carry none) and its bytes have been stored before; a reused id with new
content is kept. Sessions are an index over the messages, kept up to date as they arrive.
Every message and session carries its site, since chair names repeat from site to site.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Protocol

from drivers.errors import ChairsideError
from drivers.wire import format_time

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


def is_url(where: str | Path) -> bool:
    """A PostgreSQL URL rather than a file path."""
    return str(where).startswith(("postgresql://", "postgres://"))


def open_store(where: str | Path) -> RecordingStore:
    """The store at ``where``: a ``postgresql://`` URL, or an SQLite file's path."""
    if is_url(where):
        from .postgres_store import PostgresStore

        return PostgresStore(str(where))
    return Store(where)


def store_errors() -> tuple[type[Exception], ...]:
    """The errors a store's database may raise while it is read."""
    import psycopg

    return (StoreError, sqlite3.Error, psycopg.Error)


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


class Store:
    """The recording file (SQLite). One writer (the recorder); readers may open it at the
    same time."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._add_sites()
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: {exc}") from None
        self._in_tx = False

    def _add_sites(self) -> None:
        """A recording made before messages carried their site gains the column, filled
        from the topics (one site per file then); its session index, keyed by id alone, is
        rebuilt keyed by site and id."""
        columns = [r[1] for r in self._db.execute("PRAGMA table_info(messages)")]
        if not columns or "site" in columns:
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("ALTER TABLE messages ADD COLUMN site TEXT NOT NULL DEFAULT ''")
        self._db.execute(f"UPDATE messages SET site = COALESCE({SITE_OF_TOPIC}, '')")
        self._db.execute("ALTER TABLE sessions RENAME TO sessions_before_sites")
        self._db.execute("DROP INDEX IF EXISTS sessions_chair_start")
        for statement in SESSIONS_SCHEMA.split(";"):
            if statement.strip():
                self._db.execute(statement)
        old = SESSION_COLUMNS.removesuffix(", site")
        self._db.execute(
            f"INSERT INTO sessions ({SESSION_COLUMNS}) SELECT {old}, COALESCE((SELECT m.site"
            " FROM messages m WHERE m.chair = o.chair AND m.site != '' LIMIT 1), '')"
            " FROM sessions_before_sites o")
        self._db.execute("DROP TABLE sessions_before_sites")
        self._db.execute("COMMIT")

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
        site: str | None = None,
    ) -> int | None:
        """Add a message; return its sequence number, or None when it is a duplicate."""
        self._begin()
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO messages (received_ms, received_at, topic, type, chair,"
            " payload, valid, error, retained, dedupe_key, site)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                to_ms(received_at), format_time(received_at), topic, type, chair, payload,
                int(valid), error, int(retained), dedupe_key(key, payload), site or "",
            ),
        )
        return cursor.lastrowid if cursor.rowcount else None

    def save_session(self, row: SessionRow) -> None:
        self._begin()
        self._db.execute(
            f"INSERT OR REPLACE INTO sessions ({SESSION_COLUMNS})"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            session_values(row),
        )

    def clear_sessions(self, *, site: str | None = None) -> None:
        self._begin()
        if site is None:
            self._db.execute("DELETE FROM sessions")
        else:
            self._db.execute("DELETE FROM sessions WHERE site = ?", (site,))

    def purge(
        self, now: datetime, retention_days: int, *, site: str | None = None
    ) -> tuple[int, int]:
        """Delete sessions that ended more than ``retention_days`` ago, and the messages
        older than that which no kept session spans (of ``site``, or of every site).
        Returns (sessions, messages) deleted."""
        cutoff = to_ms(now - timedelta(days=retention_days))
        mine = "" if site is None else " AND site = :site"
        self._begin()
        sessions = self._db.execute(
            "DELETE FROM sessions WHERE COALESCE(ended_ms, last_seen_ms) < :cutoff" + mine,
            {"cutoff": cutoff, "site": site},
        ).rowcount
        messages = self._db.execute(
            "DELETE FROM messages WHERE received_ms < :cutoff" + mine + " AND NOT EXISTS ("
            " SELECT 1 FROM sessions s WHERE s.chair = messages.chair"
            " AND s.site = messages.site"
            " AND messages.received_ms BETWEEN s.started_ms"
            " AND COALESCE(s.ended_ms, s.last_seen_ms))",
            {"cutoff": cutoff, "site": site},
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
        site: str | None = None,
    ) -> Iterator[StoredMessage]:
        """Messages in arrival order, optionally of one site and chair, in a time span, of
        some types."""
        where: list[str] = []
        args: list[object] = []
        if site is not None:
            where.append("site = ?")
            args.append(site)
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
            yield message_from_row(row)

    def latest_before(
        self, chair: str, type: str, before: datetime, limit: int = 1, *,
        site: str | None = None,
    ) -> list[StoredMessage]:
        mine = "" if site is None else " AND site = ?"
        rows = self._db.execute(
            _SELECT + " WHERE chair = ? AND type = ? AND received_ms < ? AND valid = 1" + mine
            + " ORDER BY received_ms DESC, seq DESC LIMIT ?",
            (chair, type, to_ms(before), *([] if site is None else [site]), limit),
        )
        return [message_from_row(r) for r in rows]

    def sessions(self, *, chair: str | None = None,
                 site: str | None = None) -> list[SessionRow]:
        where: list[str] = []
        args: list[str] = []
        if chair is not None:
            where.append("chair = ?")
            args.append(chair)
        if site is not None:
            where.append("site = ?")
            args.append(site)
        sql = f"SELECT {SESSION_COLUMNS} FROM sessions" + (
            " WHERE " + " AND ".join(where) if where else "")
        return [session_from_row(r) for r in self._db.execute(
            sql + " ORDER BY started_ms, chair, site", args)]

    def open_sessions(self, *, site: str | None = None) -> list[SessionRow]:
        sql = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE ended_ms IS NULL"
        rows = (self._db.execute(sql) if site is None
                else self._db.execute(sql + " AND site = ?", (site,)))
        return [session_from_row(r) for r in rows]

    def find_session(self, ident: str) -> SessionRow:
        """A session by its id (``site/id`` where sites share the store), or by a prefix of
        it that names only one."""
        site, prefix = split_name(ident)
        sql = (f"SELECT {SESSION_COLUMNS} FROM sessions"
               " WHERE (id = ? OR id LIKE ? ESCAPE '\\')")
        args = [prefix, like_prefix(prefix)]
        if site is not None:
            sql += " AND site = ?"
            args.append(site)
        rows = self._db.execute(sql + " ORDER BY id, site", args).fetchall()
        return pick_session(ident, [session_from_row(r) for r in rows])


_SELECT = f"SELECT {MESSAGE_COLUMNS} FROM messages"


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
