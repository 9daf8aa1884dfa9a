"""The gateway's store-and-forward spool: readings wait on disk until the broker has them.

While the broker is unreachable, every reading the gateway accepts is appended here; when the
broker is back they are published oldest first and each is removed only after its PUBACK. A
gateway restart reopens the file and resumes where it stopped.

Durability:

* ``append`` commits with ``synchronous=FULL`` in WAL mode before it returns, so a reading
  the gateway has accepted survives a crash or a power cut.
* ``ack`` commits with ``synchronous=NORMAL`` (no fsync): a power cut can at worst undo a
  recent ack, and the reading is then published once more. Receivers drop it by its id
  (the reading id, which is also the spool key), so a lost ack costs a duplicate, never data.

Bound and full-spool policy: the spool holds at most ``capacity`` readings. At ``warn_at`` of
that, ``nearly_full`` turns true and a warning is logged once, so the gateway can report it
while there is still room. When full, ``append`` raises `SpoolFull` and stores nothing: the
reading was *not* accepted, and the caller must say so loudly (mark the device degraded,
raise a technical alarm). Dropping readings silently, old or new, is never done here.

One `Spool` owns its file: a second one on the same path (another gateway process, say) is
refused, because two publishers of one spool would publish and ack each other's readings.
Other plain readers (a diagnostic ``sqlite3`` shell) are fine.

Calls are synchronous and short (one small transaction each); the gateway may call them from
the event loop, or from a worker thread (the connection is shared under a lock).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, NamedTuple

from drivers.errors import ChairsideError

try:  # POSIX: one Spool per file, across processes.
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process guard
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

APPLICATION_ID = 0x43485350
"""Marks a SQLite file as a Chairside spool ("CHSP"), so another database is never mistaken
for one (and never written to)."""
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE spool (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a stale ack cannot hit a new row
    topic   TEXT NOT NULL,
    payload BLOB NOT NULL,
    key     TEXT NOT NULL UNIQUE                -- the reading id
);
"""


class SpoolError(ChairsideError, RuntimeError):
    """The spool cannot be opened or used; the message names the file and the cause."""


class SpoolFull(SpoolError):
    """The spool holds ``capacity`` readings: the new one was refused, not stored."""


class SpoolEntry(NamedTuple):
    """One waiting reading, as `Spool.peek` returns it."""

    rowid: int
    topic: str
    payload: bytes
    key: str


class Spool:
    """A bounded, ordered, crash-safe queue of readings in one SQLite file."""

    def __init__(self, path: str | Path, capacity: int = 100_000, warn_at: float = 0.8) -> None:
        if capacity < 1:
            raise ValueError(f"spool capacity must be at least 1, got {capacity}")
        if not 0 < warn_at <= 1:
            raise ValueError(f"spool warn_at must be a share in (0, 1], got {warn_at}")
        self.path = str(path)
        self._capacity = capacity
        self._warn_at = warn_at
        self._lock = threading.Lock()
        self._lock_file: IO[bytes] | None = None
        self._memory = self.path == ":memory:"
        if not self._memory:
            self._lock_file = self._claim()
        self._db: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the open file
        try:
            self._db, self._count = self._open()
            if not self._memory:
                found = os.stat(self.path)
                self._identity = (found.st_dev, found.st_ino)
        except sqlite3.Error as exc:
            self._release()
            raise SpoolError(self._explain(exc)) from exc
        except BaseException:
            self._release()
            raise
        self._warned = False
        self._check_level()

    # --- opening ---------------------------------------------------------------------------

    def _claim(self) -> IO[bytes] | None:
        """Lock ``<path>.lock`` so a second Spool on the same file fails at once."""
        if fcntl is None:  # pragma: no cover
            return None
        lock_path = self.path + ".lock"
        try:
            handle = open(lock_path, "ab")  # noqa: SIM115 - held for the Spool's lifetime
        except OSError as exc:
            raise SpoolError(
                f"cannot open spool {self.path}: {exc.strerror} ({lock_path}); "
                "does the folder exist and is it writable?"
            ) from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise SpoolError(
                f"spool {self.path} is in use by another gateway (lock {lock_path} is held)"
            ) from exc
        return handle

    def _open(self) -> tuple[sqlite3.Connection, int]:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=5.0)
        try:
            # Reading the header first: a file that is not a database fails here, before
            # any pragma could write to it.
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if application_id != APPLICATION_ID and (application_id != 0 or tables != 0):
                raise SpoolError(
                    f"{self.path} is an SQLite database but not a Chairside spool "
                    f"(application_id {application_id:#x}); refusing to use it"
                )
            if not self._memory:
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode != "wal":
                    raise SpoolError(f"spool {self.path}: cannot use WAL mode (got {mode!r})")
            db.execute("PRAGMA synchronous=FULL")
            if application_id == 0:
                db.executescript(
                    "BEGIN IMMEDIATE;"
                    + _SCHEMA
                    + f"PRAGMA application_id={APPLICATION_ID};"
                    + f"PRAGMA user_version={SCHEMA_VERSION};"
                    + "COMMIT;"
                )
            else:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version != SCHEMA_VERSION:
                    raise SpoolError(
                        f"spool {self.path} has schema version {version}; this gateway "
                        f"reads version {SCHEMA_VERSION}"
                    )
                problems = [str(row[0]) for row in db.execute("PRAGMA quick_check")]
                if problems != ["ok"]:
                    detail = " ".join(problems[:3]).replace("*** in database main ***", "")
                    detail = " ".join(detail.split())
                    raise SpoolError(
                        f"spool {self.path} is corrupt ({detail}). Move it "
                        "aside (its readings may be recoverable with sqlite3 .recover) and "
                        "start the gateway again"
                    )
                # Writable? Fail at start, not at the first reading.
                db.execute("BEGIN IMMEDIATE")
                db.execute("DELETE FROM spool WHERE 0")
                db.execute("COMMIT")
            count = int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
        except BaseException:
            db.close()
            raise
        return db, count

    def _explain(self, exc: sqlite3.Error) -> str:
        text = str(exc)
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
            return f"spool {self.path} is not a spool database (corrupt or another file): {text}"
        if "unable to open" in text:
            return (
                f"cannot open spool {self.path}: {text}; does the folder exist and is it writable?"
            )
        if "readonly" in text or "read-only" in text:
            return f"spool {self.path} is read-only: {text}"
        return f"spool {self.path}: {text}"

    def _release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the handle drops the flock
            self._lock_file = None

    # --- the queue ----------------------------------------------------------------------------

    def append(self, topic: str, payload: bytes, key: str) -> int:
        """Store a reading; once this returns it is on disk. Returns its row id.

        A key already waiting is not stored again: its existing row id is returned (the
        gateway may re-offer a reading after a restart). Raises `SpoolFull` when full.
        """
        with self._lock:
            db = self._connection()
            try:
                # Looked up first: a duplicate then costs a read, not an fsync.
                row = db.execute("SELECT id FROM spool WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    return int(row[0])
                if self._count >= self._capacity:
                    raise SpoolFull(
                        f"spool {self.path} is full ({self._count} readings waiting for the "
                        f"broker, capacity {self._capacity}); reading {key} was NOT accepted"
                    )
                cursor = db.execute(
                    "INSERT INTO spool (topic, payload, key) VALUES (?, ?, ?)",
                    (topic, payload, key),
                )
            except sqlite3.Error as exc:
                raise SpoolError(self._explain(exc)) from exc
            if cursor.lastrowid is None:  # pragma: no cover - sqlite3 sets it on INSERT
                raise SpoolError(f"spool {self.path}: no row id for reading {key}")
            self._count += 1
            self._check_level()
            return cursor.lastrowid

    def peek(self, limit: int = 100, after: int = 0) -> list[SpoolEntry]:
        """The oldest ``limit`` waiting readings after row ``after``, in the order they were
        appended."""
        with self._lock:
            db = self._connection()
            try:
                rows = db.execute(
                    "SELECT id, topic, payload, key FROM spool WHERE id > ? ORDER BY id LIMIT ?",
                    (after, limit),
                ).fetchall()
            except sqlite3.Error as exc:
                raise SpoolError(self._explain(exc)) from exc
        return [SpoolEntry(int(r[0]), str(r[1]), bytes(r[2]), str(r[3])) for r in rows]

    def ack(self, rowid: int) -> None:
        """Remove a reading the broker has confirmed (PUBACK). Unknown row ids are ignored,
        so a repeated ack is harmless."""
        with self._lock:
            db = self._connection()
            try:
                db.execute("PRAGMA synchronous=NORMAL")
                try:
                    cursor = db.execute("DELETE FROM spool WHERE id = ?", (rowid,))
                finally:
                    db.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise SpoolError(self._explain(exc)) from exc
            if cursor.rowcount > 0:
                self._count -= cursor.rowcount
                self._check_level()

    def __len__(self) -> int:
        return self._count

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def nearly_full(self) -> bool:
        """At or above the warning level: report it while there is still room."""
        return self._count >= self._warn_at * self._capacity

    @property
    def full(self) -> bool:
        """The next new reading would be refused."""
        return self._count >= self._capacity

    def _check_level(self) -> None:
        if self.nearly_full and not self._warned:
            self._warned = True
            log.warning(
                "spool %s is %d%% full (%d of %d readings waiting for the broker)",
                self.path,
                100 * self._count // self._capacity,
                self._count,
                self._capacity,
            )
        elif not self.nearly_full:
            self._warned = False

    # --- lifetime ---------------------------------------------------------------------------

    def probe(self) -> None:
        """Write one row and remove it, each committed: raises SpoolError while the disk
        refuses writes (full, read-only, failing), so a gateway knows when it works again
        without waiting for a device's next reading."""
        with self._lock:
            try:
                self._write_probe(self._connection())
            except sqlite3.Error as exc:
                if not self._reopened():
                    raise SpoolError(self._explain(exc)) from exc

    @staticmethod
    def _write_probe(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS probe (at REAL)")
        db.execute("INSERT INTO probe (at) VALUES (julianday('now'))")
        db.execute("DELETE FROM probe")

    def _reopened(self) -> bool:
        """Whether the path now names another file that works, and the spool moved to it.

        A filesystem that turned read-only after an error (ext4 ``errors=remount-ro``) stays
        so until it is repaired and mounted again; the open file still belongs to the old
        mount. Once the path leads to a new mount, the spool opens it there (what was
        committed before the error is in it) and carries on."""
        if self._memory or self._identity is None:
            return False
        try:
            found = os.stat(self.path)
        except OSError:
            return False
        if (found.st_dev, found.st_ino) == self._identity:
            return False
        try:
            lock = self._claim()
        except SpoolError:
            return False
        db: sqlite3.Connection | None = None
        try:
            db, count = self._open()
            self._write_probe(db)
            if count < self._count:
                # Not the file it had (or a repair cut it short): taking it would drop
                # readings still waiting. Left alone, loudly; the old file is kept.
                raise SpoolError(f"it holds {count} readings, fewer than the {self._count} "
                                 "waiting")
        except BaseException as exc:
            if db is not None:
                db.close()
            if lock is not None:
                lock.close()
            if not isinstance(exc, sqlite3.Error | SpoolError):
                raise
            log.warning("spool %s: the file at its path cannot be used yet: %s", self.path, exc)
            return False
        with contextlib.suppress(sqlite3.Error):
            if self._db is not None:
                self._db.close()
        self._release()
        self._db, self._count, self._lock_file = db, count, lock
        self._identity = (found.st_dev, found.st_ino)
        log.warning("spool %s: reopened on its new disk (%d readings waiting)", self.path, count)
        return True

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise SpoolError(f"spool {self.path} is closed")
        return self._db

    def close(self) -> None:
        """Close the file (the WAL is checkpointed) and release the lock; idempotent."""
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                db.close()
            self._release()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Spool({self.path!r}, {self._count}/{self._capacity})"


__all__ = ["APPLICATION_ID", "Spool", "SpoolEntry", "SpoolError", "SpoolFull"]
