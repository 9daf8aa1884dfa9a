"""The recording in PostgreSQL: the same tables and guarantees as the SQLite file, for the
recorders of several sites writing to one central database.

Each recorder holds one connection and one transaction per batch: ``commit`` returns once
PostgreSQL has made the batch durable (``synchronous_commit`` as the server has it, ``on``
unless the region's DBA turned it off), and only then does the recorder acknowledge the
batch. Duplicates are dropped by the same key as in SQLite, within the message's site
(``ON CONFLICT DO NOTHING``), so a redelivery after a restart never doubles a message.

The password is never in the URL kept in a configuration file: libpq reads it from
``PGPASSWORD`` or the password file (``PGPASSFILE``, ``~/.pgpass``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from drivers.wire import format_time

from .store_base import (
    MESSAGE_COLUMNS,
    SESSION_COLUMNS,
    SessionRow,
    StoredMessage,
    StoreError,
    dedupe_key,
    like_prefix,
    message_from_row,
    pick_session,
    session_from_row,
    session_values,
    split_name,
    to_ms,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_ms BIGINT NOT NULL,
    received_at TEXT NOT NULL,
    topic       TEXT NOT NULL,
    type        TEXT,
    chair       TEXT,
    payload     BYTEA NOT NULL,
    valid       BOOLEAN NOT NULL,
    error       TEXT,
    retained    BOOLEAN NOT NULL DEFAULT FALSE,
    dedupe_key  TEXT NOT NULL,
    site        TEXT NOT NULL DEFAULT '',
    UNIQUE (site, dedupe_key)
);
CREATE INDEX IF NOT EXISTS messages_site_chair_time ON messages (site, chair, received_ms);
CREATE INDEX IF NOT EXISTS messages_site_chair_type_time
    ON messages (site, chair, type, received_ms);
CREATE INDEX IF NOT EXISTS messages_time ON messages (received_ms);
CREATE TABLE IF NOT EXISTS sessions (
    id              TEXT NOT NULL,
    chair           TEXT NOT NULL,
    patient_code    TEXT,
    protocol        TEXT,
    dose_mg         DOUBLE PRECISION,
    lot             TEXT,
    started_ms      BIGINT NOT NULL,
    first_dose_ms   BIGINT,
    ended_ms        BIGINT,
    end_kind        TEXT,
    discharged_by   TEXT,
    override_reason TEXT,
    last_seen_ms    BIGINT NOT NULL,
    alarms_high     INTEGER NOT NULL DEFAULT 0,
    alarms_medium   INTEGER NOT NULL DEFAULT 0,
    alarms_low      INTEGER NOT NULL DEFAULT 0,
    alarm_ids       TEXT NOT NULL DEFAULT '',
    site            TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (site, id)
);
CREATE INDEX IF NOT EXISTS sessions_chair_start ON sessions (site, chair, started_ms);
"""

SCHEMA_LOCK = 0x63686169
"""An advisory lock held while the tables are created: recorders of several sites may start
at once, and ``CREATE TABLE IF NOT EXISTS`` is not safe against itself."""

_SCHEMA_OBJECTS = tuple(re.findall(r"IF NOT EXISTS (\w+)", SCHEMA))
"""The tables and indexes the schema makes, by name."""

PAGE = 5000
"""Messages fetched per query while a long span is read, so memory stays bounded."""

_SELECT = f"SELECT {MESSAGE_COLUMNS} FROM messages"


class PostgresStore:
    """A recording in a PostgreSQL database, shared by the sites of a region."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        self.url = url
        try:
            self._db = psycopg.connect(url, autocommit=True,
                                       connect_timeout=max(1, round(connect_timeout)))
            with self._db.transaction():
                if not self._schema_present():
                    self._db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                    if not self._schema_present():  # not made while this one waited
                        self._db.execute(SCHEMA)
        except psycopg.Error as exc:
            raise StoreError(f"{_safe(url)}: {_first_line(exc)}") from None
        self._in_tx = False

    def _schema_present(self) -> bool:
        """Whether every table and index of the schema exists (a catalog lookup, which locks
        no table). ``CREATE INDEX IF NOT EXISTS`` locks its table even when the index is
        there, tables in the schema's order, so a recorder starting beside another that
        was purging (the tables in the other order) could deadlock with it."""
        row = self._db.execute(
            "SELECT " + ", ".join("to_regclass(%s) IS NOT NULL" for _ in _SCHEMA_OBJECTS),
            _SCHEMA_OBJECTS).fetchone()
        return row is not None and all(row)

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Commit what is pending, as the SQLite file does; a connection already lost has
        nothing more to commit (what it held was never acknowledged)."""
        idle_or_open = self._db.info.transaction_status in (
            TransactionStatus.IDLE, TransactionStatus.INTRANS)
        if self._in_tx and not self._db.broken and idle_or_open:
            self.commit()
        self._db.close()

    # -- writing -------------------------------------------------------------------------

    def _begin(self) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True

    def commit(self) -> None:
        """Make everything appended so far durable (one commit for the batch)."""
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
        row = self._db.execute(
            "INSERT INTO messages (received_ms, received_at, topic, type, chair, payload,"
            " valid, error, retained, dedupe_key, site)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
            " ON CONFLICT (site, dedupe_key) DO NOTHING RETURNING seq",
            (to_ms(received_at), format_time(received_at), topic, type, chair, payload,
             valid, error, retained, dedupe_key(key, payload), site or ""),
        ).fetchone()
        return None if row is None else int(row[0])

    def save_session(self, row: SessionRow) -> None:
        self._begin()
        values = session_values(row)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c not in ("id", "site"))
        self._db.execute(
            f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ({', '.join(['%s'] * 18)})"
            f" ON CONFLICT (site, id) DO UPDATE SET {updates}",
            values,
        )

    def clear_sessions(self, *, site: str | None = None) -> None:
        self._begin()
        if site is None:
            self._db.execute("DELETE FROM sessions")
        else:
            self._db.execute("DELETE FROM sessions WHERE site = %s", (site,))

    def purge(
        self, now: datetime, retention_days: int, *, site: str | None = None
    ) -> tuple[int, int]:
        """Delete sessions that ended more than ``retention_days`` ago, and the messages
        older than that which no kept session spans (of ``site``, or of every site).
        Returns (sessions, messages) deleted."""
        args: dict[str, Any] = {"cutoff": to_ms(now - timedelta(days=retention_days)),
                                "site": site}
        mine = "" if site is None else " AND site = %(site)s"
        self._begin()
        sessions = self._db.execute(
            "DELETE FROM sessions WHERE COALESCE(ended_ms, last_seen_ms) < %(cutoff)s" + mine,
            args,
        ).rowcount
        messages = self._db.execute(
            "DELETE FROM messages m WHERE received_ms < %(cutoff)s" + mine + " AND NOT EXISTS ("
            " SELECT 1 FROM sessions s WHERE s.chair = m.chair"
            " AND s.site = m.site"
            " AND m.received_ms BETWEEN s.started_ms AND COALESCE(s.ended_ms, s.last_seen_ms))",
            args,
        ).rowcount
        self.commit()
        return sessions, messages

    # -- reading -------------------------------------------------------------------------

    def count(self) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()
        return 0 if row is None else int(row[0])

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
        some types; read a page at a time."""
        where: list[str] = ["seq > %s"]
        args: list[Any] = []
        if site is not None:
            where.append("site = %s")
            args.append(site)
        if chair is not None:
            where.append("chair = %s")
            args.append(chair)
        if since is not None:
            where.append("received_ms >= %s")
            args.append(to_ms(since))
        if until is not None:
            where.append("received_ms <= %s")
            args.append(to_ms(until))
        if types is not None:
            where.append("type = ANY(%s)")
            args.append(list(types))
        sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY seq LIMIT {PAGE}"
        after = 0
        while True:
            rows = self._db.execute(sql, [after, *args]).fetchall()
            for row in rows:
                yield message_from_row(row)
            if len(rows) < PAGE:
                return
            after = int(rows[-1][0])

    def latest_before(
        self, chair: str, type: str, before: datetime, limit: int = 1, *,
        site: str | None = None,
    ) -> list[StoredMessage]:
        mine = "" if site is None else " AND site = %s"
        rows = self._db.execute(
            _SELECT + " WHERE chair = %s AND type = %s AND received_ms < %s AND valid" + mine
            + " ORDER BY received_ms DESC, seq DESC LIMIT %s",
            (chair, type, to_ms(before), *([] if site is None else [site]), limit),
        ).fetchall()
        return [message_from_row(r) for r in rows]

    def sessions(self, *, chair: str | None = None,
                 site: str | None = None) -> list[SessionRow]:
        where: list[str] = []
        args: list[str] = []
        if chair is not None:
            where.append("chair = %s")
            args.append(chair)
        if site is not None:
            where.append("site = %s")
            args.append(site)
        sql = f"SELECT {SESSION_COLUMNS} FROM sessions" + (
            " WHERE " + " AND ".join(where) if where else "")
        rows = self._db.execute(sql + " ORDER BY started_ms, chair, site", args).fetchall()
        return [session_from_row(r) for r in rows]

    def open_sessions(self, *, site: str | None = None) -> list[SessionRow]:
        sql = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE ended_ms IS NULL"
        rows = (self._db.execute(sql) if site is None
                else self._db.execute(sql + " AND site = %s", (site,))).fetchall()
        return [session_from_row(r) for r in rows]

    def find_session(self, ident: str) -> SessionRow:
        """A session by its id (``site/id`` where sites share the store), or by a prefix of
        it that names only one."""
        site, prefix = split_name(ident)
        sql = (f"SELECT {SESSION_COLUMNS} FROM sessions"
               " WHERE (id = %s OR id LIKE %s ESCAPE '\\')")
        args = [prefix, like_prefix(prefix)]
        if site is not None:
            sql += " AND site = %s"
            args.append(site)
        rows = self._db.execute(sql + " ORDER BY id, site", args).fetchall()
        return pick_session(ident, [session_from_row(r) for r in rows])


_COLUMNS = [c.strip() for c in SESSION_COLUMNS.split(",")]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _safe(url: str) -> str:
    """The connection string without a password, for messages."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return "the PostgreSQL store"
    info.pop("password", None)
    return make_conninfo("", **info)
