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

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

from drivers.wire import format_time

from .store_base import (
    MESSAGE_COLUMNS,
    MESSAGES_SCHEMA,
    SCHEMA,
    SESSION_COLUMNS,
    SESSIONS_SCHEMA,
    SITE_OF_TOPIC,
    RecordingStore,
    SessionRow,
    StoredMessage,
    StoreError,
    dedupe_key,
    from_ms,
    like_prefix,
    message_from_row,
    pick_session,
    session_from_row,
    session_values,
    split_name,
    to_ms,
)

__all__ = [
    "MESSAGES_SCHEMA",
    "MESSAGE_COLUMNS",
    "SCHEMA",
    "SESSIONS_SCHEMA",
    "SESSION_COLUMNS",
    "SITE_OF_TOPIC",
    "RecordingStore",
    "SessionRow",
    "Store",
    "StoreError",
    "StoredMessage",
    "dedupe_key",
    "from_ms",
    "is_url",
    "like_prefix",
    "message_from_row",
    "open_store",
    "pick_session",
    "session_from_row",
    "session_values",
    "split_name",
    "store_errors",
    "to_ms",
]

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
