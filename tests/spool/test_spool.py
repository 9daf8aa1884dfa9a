"""The store-and-forward spool: order, restart, bound, duplicates, crash safety, bad files."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from drivers.spool import Spool, SpoolEntry, SpoolError, SpoolFull

TOPIC = "chairside/v1/site/chairs/c1/readings/spo2"


def _fill(spool: Spool, n: int, start: int = 0) -> list[int]:
    return [
        spool.append(TOPIC, f"payload {i}".encode(), f"id-{i}") for i in range(start, start + n)
    ]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "spool.db"


def test_oldest_first_and_ack_removes_exactly_one() -> None:
    with Spool(":memory:") as spool:
        rowids = _fill(spool, 5)
        assert rowids == sorted(rowids)
        entries = spool.peek(3)
        assert [e.key for e in entries] == ["id-0", "id-1", "id-2"]
        assert entries[0] == SpoolEntry(rowids[0], TOPIC, b"payload 0", "id-0")
        spool.ack(rowids[1])  # out of order: only that one goes
        assert [e.key for e in spool.peek()] == ["id-0", "id-2", "id-3", "id-4"]
        spool.ack(rowids[1])  # a repeated ack is harmless
        spool.ack(10_000)
        assert len(spool) == 4


def test_order_is_kept_across_a_restart(path: Path) -> None:
    spool = Spool(path)
    _fill(spool, 50)
    for entry in spool.peek(20):
        spool.ack(entry.rowid)
    spool.close()
    with Spool(path) as again:
        assert len(again) == 30
        _fill(again, 5, start=50)
        keys = [e.key for e in again.peek(1000)]
        assert keys == [f"id-{i}" for i in range(20, 55)]


def test_row_ids_are_never_reused(path: Path) -> None:
    # A stale ack (a PUBACK for a row already gone) must never remove a newer reading.
    with Spool(path) as spool:
        (first,) = _fill(spool, 1)
        spool.ack(first)
        (second,) = _fill(spool, 1, start=1)
        assert second > first
        spool.ack(first)
        assert len(spool) == 1
    with Spool(path) as spool:
        (third,) = _fill(spool, 1, start=2)
        assert third > second


def test_a_duplicate_key_is_stored_once(path: Path) -> None:
    with Spool(path) as spool:
        one = spool.append(TOPIC, b"first", "same")
        two = spool.append(TOPIC, b"second", "same")
        assert one == two
        assert len(spool) == 1
        assert spool.peek() == [SpoolEntry(one, TOPIC, b"first", "same")]
    # Also after a restart (the gateway re-offers what it had in hand).
    with Spool(path) as spool:
        assert spool.append(TOPIC, b"again", "same") == one
        assert len(spool) == 1


def test_the_bound_is_enforced_and_nothing_is_stored_past_it() -> None:
    with Spool(":memory:", capacity=10) as spool:
        _fill(spool, 10)
        assert spool.full
        with pytest.raises(SpoolFull, match=r"full \(10 readings.*id-10 was NOT accepted"):
            spool.append(TOPIC, b"x", "id-10")
        assert len(spool) == 10
        assert [e.key for e in spool.peek(100)][-1] == "id-9"
        # A reading already held is still "accepted" when full: it is not new.
        assert spool.append(TOPIC, b"x", "id-3") == spool.peek(100)[3].rowid
        spool.ack(spool.peek(1)[0].rowid)
        assert not spool.full
        _fill(spool, 1, start=10)
        assert spool.capacity == 10 and len(spool) == 10


def test_full_spool_policy_survives_restart(path: Path) -> None:
    with Spool(path, capacity=3) as spool:
        _fill(spool, 3)
    with Spool(path, capacity=3) as spool, pytest.raises(SpoolFull):
        spool.append(TOPIC, b"x", "new")


def test_warns_once_when_nearly_full(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="drivers.spool")
    with Spool(":memory:", capacity=10, warn_at=0.8) as spool:
        _fill(spool, 7)
        assert not spool.nearly_full and not caplog.records
        _fill(spool, 1, start=7)
        assert spool.nearly_full and not spool.full
        _fill(spool, 1, start=8)
        assert len(caplog.records) == 1
        assert "80% full (8 of 10" in caplog.records[0].getMessage()
        # Drained below the level and filled again: warned again.
        for entry in spool.peek(3):
            spool.ack(entry.rowid)
        assert not spool.nearly_full
        _fill(spool, 2, start=9)
        assert len(caplog.records) == 2


def test_nearly_full_is_known_at_reopen(path: Path) -> None:
    with Spool(path, capacity=10) as spool:
        _fill(spool, 9)
    with Spool(path, capacity=10) as spool:
        assert spool.nearly_full and len(spool) == 9


def test_append_is_committed_before_it_returns(path: Path) -> None:
    with Spool(path) as spool:
        _fill(spool, 3)
        # Another connection (another process would do the same) sees it at once.
        other = sqlite3.connect(path)
        try:
            keys = [r[0] for r in other.execute("SELECT key FROM spool ORDER BY id")]
        finally:
            other.close()
        assert keys == ["id-0", "id-1", "id-2"]
        other = sqlite3.connect(path)
        try:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            other.close()


def test_a_killed_gateway_loses_nothing_it_accepted(path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from drivers.spool import Spool\n"
        "spool = Spool(sys.argv[1])\n"
        "for i in range(200):\n"
        "    spool.append('t', b'p', f'id-{i}')\n"
        "    if i == 150:\n"
        "        ack = spool.peek(1)[0].rowid\n"
        "        spool.ack(ack)\n"
        "print('appended', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert done.stdout.strip() == "appended", done.stderr
    assert done.returncode == -9
    # The killed process left its WAL and its lock file behind; both must be fine.
    with Spool(path) as spool:
        keys = [e.key for e in spool.peek(1000)]
        assert keys == [f"id-{i}" for i in range(1, 200)]


def test_a_second_spool_on_the_same_file_is_refused(path: Path) -> None:
    with Spool(path), pytest.raises(SpoolError, match="in use by another gateway"):
        Spool(path)
    with Spool(path) as spool:  # released on close
        assert len(spool) == 0


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(path: Path) -> None:
    garbage = os.urandom(4096)
    path.write_bytes(garbage)
    with pytest.raises(SpoolError, match=r"spool\.db is not a spool database"):
        Spool(path)
    assert path.read_bytes() == garbage


def test_another_sqlite_database_is_refused(path: Path) -> None:
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE patients (name TEXT)")
    other.commit()
    other.close()
    with pytest.raises(SpoolError, match="not a Chairside spool"):
        Spool(path)


def test_a_corrupt_spool_is_reported(path: Path) -> None:
    with Spool(path) as spool:
        for i in range(300):
            spool.append(TOPIC, os.urandom(200), f"id-{i}")
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[2 * page : 3 * page] = b"\xff" * page  # wreck a b-tree page, keep the header
    path.write_bytes(bytes(data))
    with pytest.raises(SpoolError, match=r"corrupt|not a spool database|malformed"):
        Spool(path)


def test_a_missing_folder_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match=r"cannot open spool .*does the folder exist"):
        Spool(tmp_path / "absent" / "spool.db")


def test_a_path_through_a_file_gives_a_clear_error(tmp_path: Path) -> None:
    # Unwritable even for root: the "folder" is a regular file.
    (tmp_path / "not-a-folder").write_text("x")
    with pytest.raises(SpoolError, match=r"cannot open spool .*not-a-folder"):
        Spool(tmp_path / "not-a-folder" / "spool.db")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_read_only_folder_gives_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(SpoolError, match=r"cannot open spool|read-only"):
            Spool(folder / "spool.db")
    finally:
        folder.chmod(0o700)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_read_only_spool_file_fails_at_open_not_at_the_first_reading(path: Path) -> None:
    with Spool(path) as spool:
        _fill(spool, 2)
    path.chmod(0o400)
    try:
        with pytest.raises(SpoolError, match="read-only"):
            Spool(path)
    finally:
        path.chmod(0o600)


def test_use_after_close_is_an_error_and_close_is_idempotent() -> None:
    spool = Spool(":memory:")
    spool.close()
    spool.close()
    with pytest.raises(SpoolError, match="closed"):
        spool.append(TOPIC, b"x", "k")
    with pytest.raises(SpoolError, match="closed"):
        spool.peek()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Spool(":memory:", capacity=0)
    with pytest.raises(ValueError, match="warn_at"):
        Spool(":memory:", warn_at=1.5)


def test_calls_from_worker_threads_are_serialised(path: Path) -> None:
    with Spool(path) as spool:
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                _fill(spool, 50, start=n * 1000)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert len(spool) == 200
        assert len({e.key for e in spool.peek(1000)}) == 200


def test_probe_writes_and_leaves_nothing_behind(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    spool.append("t", b"x", "k1")
    spool.probe()
    assert len(spool) == 1 and [e.key for e in spool.peek()] == ["k1"]
    spool.close()
    with pytest.raises(SpoolError, match="closed"):
        spool.probe()
