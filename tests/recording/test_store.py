"""The recording's store, the same suite over SQLite and PostgreSQL: what is kept, what is
dropped, what a reader sees before and after a commit, sessions by id and by site, and the
retention."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from drivers import topics
from drivers.clock import FakeClock
from drivers.mqtt_settings import MqttSettings
from drivers.wire import ChairState
from monitor.recording import export
from monitor.recording.recorder import Recorder, reindex
from monitor.recording.store import SessionRow, Store, StoreError, open_store
from tests.recording.conftest import StoreFactory
from tests.recording.offline import record_site, spravato_recording
from tests.recording.scenario import START

CHAIR = "chair-1"


def _append(store: object, topic: str, payload: bytes, at_s: float = 0, **kw: object) -> object:
    kw.setdefault("key", topic)
    kw.setdefault("type", "reading")
    kw.setdefault("chair", CHAIR)
    kw.setdefault("valid", True)
    kw.setdefault("site", "east")
    return store.append(topic, payload, START + timedelta(seconds=at_s), **kw)  # type: ignore[attr-defined]


def test_duplicates_are_dropped_by_key_and_bytes(open_recording: StoreFactory) -> None:
    store = open_recording()
    topic = topics.reading("east", CHAIR, "heart_rate")
    first = _append(store, topic, b'{"a":1}', key="reading:r1")
    assert isinstance(first, int)
    assert _append(store, topic, b'{"a":1}', 5, key="reading:r1") is None
    again = _append(store, topic, b'{"a":2}', key="reading:r1")  # a reused id, new content
    assert isinstance(again, int) and again > first
    # Another site's engine may send the very same bytes: not a redelivery of this one's.
    assert _append(store, topic, b'{"a":1}', key="reading:r1", site="west") is not None
    store.commit()
    assert store.count() == 3
    assert [m.payload for m in store.messages(site="east")] == [b'{"a":1}', b'{"a":2}']


def test_a_reader_sees_only_what_was_committed(open_recording: StoreFactory) -> None:
    writer, reader = open_recording(), open_recording()
    topic = topics.reading("east", CHAIR, "spo2")
    _append(writer, topic, b"one", key="reading:1")
    _append(writer, topic, b"two", key="reading:2")
    assert reader.count() == 0  # not durable yet: the recorder has acknowledged nothing
    writer.commit()
    assert reader.count() == 2
    assert [m.payload for m in reader.messages()] == [b"one", b"two"]


def test_malformed_bytes_are_kept_exactly(open_recording: StoreFactory) -> None:
    store = open_recording()
    raw = bytes(range(256)) + b"\x00{not json"
    _append(store, "chairside/v1/east/chairs/chair-1/mystery", raw, valid=False,
            type=None, error="not a chairside/v1 topic")
    store.commit()
    (kept,) = store.messages()
    assert kept.payload == raw and not kept.valid
    assert kept.error == "not a chairside/v1 topic" and kept.type is None
    assert kept.received_at == START and kept.site == "east"


def test_messages_by_site_chair_time_and_type(open_recording: StoreFactory) -> None:
    store = open_recording()
    for i, (site, chair, kind) in enumerate([("east", "chair-1", "reading"),
                                             ("west", "chair-1", "reading"),
                                             ("east", "chair-2", "state"),
                                             ("east", "chair-1", "state")]):
        _append(store, f"chairside/v1/{site}/chairs/{chair}/x", f"m{i}".encode(), i,
                key=f"k{i}", site=site, chair=chair, type=kind, retained=kind == "state")
    store.commit()

    def payloads(**kw: object) -> list[bytes]:
        return [m.payload for m in store.messages(**kw)]  # type: ignore[arg-type]

    assert payloads() == [b"m0", b"m1", b"m2", b"m3"]
    assert payloads(site="east") == [b"m0", b"m2", b"m3"]
    assert payloads(site="east", chair="chair-1") == [b"m0", b"m3"]
    assert payloads(chair="chair-1") == [b"m0", b"m1", b"m3"]
    assert payloads(types=["state"]) == [b"m2", b"m3"]
    assert payloads(since=START + timedelta(seconds=1),
                    until=START + timedelta(seconds=2)) == [b"m1", b"m2"]
    assert [m.retained for m in store.messages()] == [False, False, True, True]
    latest = store.latest_before("chair-1", "reading", START + timedelta(seconds=9), 5)
    assert [m.payload for m in latest] == [b"m1", b"m0"]
    mine = store.latest_before("chair-1", "reading", START + timedelta(seconds=9), 5,
                               site="east")
    assert [m.payload for m in mine] == [b"m0"]


def _session(ident: str, site: str | None, start_min: int, **kw: object) -> SessionRow:
    at = START + timedelta(minutes=start_min)
    return SessionRow(id=ident, chair=CHAIR, started_at=at, last_seen=at, site=site,
                      **kw)  # type: ignore[arg-type]


def test_sessions_are_kept_per_site_and_found_by_name(open_recording: StoreFactory) -> None:
    store = open_recording()
    store.save_session(_session("chair-1-20260105-090000", "east", 0, patient_code="P1",
                                alarms={"a1": "high", "a2": "low"}))
    store.save_session(_session("chair-1-20260105-090000", "west", 0, patient_code="P2"))
    store.save_session(_session("chair-1-20260105-110000", "east", 120, patient_code="P3"))
    row = _session("chair-1-20260105-110000", "east", 120, patient_code="P3",
                   ended_at=START + timedelta(hours=3), end_kind="discharged", dose_mg=56.0)
    store.save_session(row)  # the same session again, now ended: replaced, not doubled
    store.commit()
    assert [(s.site, s.patient_code) for s in store.sessions()] == [
        ("east", "P1"), ("west", "P2"), ("east", "P3")]
    assert [s.patient_code for s in store.sessions(site="east")] == ["P1", "P3"]
    assert [s.patient_code for s in store.open_sessions(site="east")] == ["P1"]
    ended = store.find_session("chair-1-20260105-11")
    assert (ended.end_kind, ended.dose_mg, ended.ended_at) == (
        "discharged", 56.0, START + timedelta(hours=3))
    assert store.find_session("west/chair-1-20260105-090000").patient_code == "P2"
    first = store.sessions()[0]
    assert first.alarm_counts() == {"high": 1, "medium": 0, "low": 1}
    with pytest.raises(KeyError, match=r"names 2 sessions: east/chair-1-20260105-090000, "
                                       r"west/chair-1-20260105-090000"):
        store.find_session("chair-1-20260105-090000")
    with pytest.raises(KeyError, match="no recorded session"):
        store.find_session("chair-9")
    with pytest.raises(KeyError, match="no recorded session"):
        store.find_session("chair_1%")  # wildcards are taken literally


def test_retention_deletes_one_sites_old_sessions_and_messages(
    open_recording: StoreFactory,
) -> None:
    store = open_recording()
    for site in ("east", "west"):
        store.save_session(_session("chair-1-20260105-090000", site, 0,
                                    ended_at=START + timedelta(hours=1)))
        _append(store, f"chairside/v1/{site}/chairs/chair-1/x", site.encode(), 60,
                key=f"in-{site}", site=site)  # inside the session
        _append(store, f"chairside/v1/{site}/chairs/chair-1/x", b"old " + site.encode(),
                -600, key=f"out-{site}", site=site)  # before it
    store.commit()
    later = START + timedelta(days=30)
    assert store.purge(later, retention_days=400) == (0, 0)
    assert store.purge(later, retention_days=20, site="east") == (1, 2)
    assert [s.site for s in store.sessions()] == ["west"]
    assert sorted(m.payload for m in store.messages()) == [b"old west", b"west"]
    assert store.purge(later, retention_days=20) == (1, 2)
    assert store.count() == 0


def test_two_sites_share_a_store_and_each_session_exports_its_own(
    open_recording: StoreFactory,
) -> None:
    """Two sites record the same day on chairs of the same names into one store: each keeps
    its own sessions, a session's export holds its own site's messages only, and the index
    rebuilt from the messages is the same."""
    store = open_recording()
    made = spravato_recording()
    record_site(store, "east", made)
    record_site(store, "west", made)
    rows = store.sessions()
    assert sorted((r.site, r.chair) for r in rows) == [("east", CHAIR), ("west", CHAIR)]
    east = store.find_session(f"east/{rows[0].id}")
    records = export.session_records(store, east)
    assert records and all("/east/" in r.topic for r in records)
    alone = Store(":memory:")
    record_site(alone, "east", made)
    assert [(r.topic, r.payload) for r in records] == [
        (r.topic, r.payload) for r in export.session_records(alone, alone.sessions()[0])]
    before = [(r.site, r.id, r.patient_code, r.alarm_counts(), r.ended_at) for r in rows]
    assert reindex(store) == 2
    assert [(r.site, r.id, r.patient_code, r.alarm_counts(), r.ended_at)
            for r in store.sessions()] == before
    assert reindex(store, "west") == 1 and len(store.sessions()) == 2


def test_a_restarted_recorder_follows_only_its_own_sites_open_sessions(
    open_recording: StoreFactory,
) -> None:
    store = open_recording()
    made = spravato_recording()
    cut = len(made) // 2
    record_site(store, "east", made[:cut])
    record_site(store, "west", made[:cut])
    again = record_site(open_recording(), "east", made[cut:])
    assert not again.tracker.open  # west's session, still open, is not east's to follow
    east, west = store.sessions(site="east"), store.sessions(site="west")
    assert len(east) == 1 and east[0].ended_at is not None
    assert len(west) == 1 and west[0].ended_at is None


def test_an_old_sqlite_recording_gains_the_site_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE messages (seq INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL,
            received_at TEXT NOT NULL, topic TEXT NOT NULL, type TEXT, chair TEXT,
            payload BLOB NOT NULL, valid INTEGER NOT NULL, error TEXT,
            retained INTEGER NOT NULL DEFAULT 0, dedupe_key TEXT NOT NULL UNIQUE);
        CREATE TABLE sessions (id TEXT PRIMARY KEY, chair TEXT NOT NULL, patient_code TEXT,
            protocol TEXT, dose_mg REAL, lot TEXT, started_ms INTEGER NOT NULL,
            first_dose_ms INTEGER, ended_ms INTEGER, end_kind TEXT, discharged_by TEXT,
            override_reason TEXT, last_seen_ms INTEGER NOT NULL,
            alarms_high INTEGER NOT NULL DEFAULT 0, alarms_medium INTEGER NOT NULL DEFAULT 0,
            alarms_low INTEGER NOT NULL DEFAULT 0, alarm_ids TEXT NOT NULL DEFAULT '');
        INSERT INTO messages VALUES (1, 0, 't', 'chairside/v1/north/chairs/chair-1/state',
            'state', 'chair-1', x'7b7d', 1, NULL, 1, 'k1');
        INSERT INTO messages VALUES (2, 0, 't', 'garbage', NULL, NULL, x'00', 0, 'bad', 0, 'k2');
        INSERT INTO sessions (id, chair, started_ms, last_seen_ms)
            VALUES ('chair-1-20260105-090000', 'chair-1', 0, 0);
    """)
    db.commit()
    db.close()
    with Store(path) as store:
        assert [m.site for m in store.messages()] == ["north", None]
        assert [s.site for s in store.sessions()] == ["north"]
        assert store.find_session("north/chair-1").id == "chair-1-20260105-090000"
        state = ChairState(chair=CHAIR, at=START)
        Recorder(MqttSettings(), "north", store, FakeClock(START)).record(
            topics.state("north", CHAIR), state.to_json(), START)
        store.commit()
        assert store.count() == 3


def test_an_unreachable_postgresql_is_one_line() -> None:
    with pytest.raises(StoreError, match=r"dbname=nowhere host=127\.0\.0\.1 port=1: .*refused"
                       ) as caught:
        open_store("postgresql://chairside:secret@127.0.0.1:1/nowhere?connect_timeout=1")
    assert "secret" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_lost_postgresql_connection_fails_the_batch_and_commits_none_of_it(
    postgres_url: str,
) -> None:
    import psycopg

    from monitor.recording.store import store_errors

    store = open_store(postgres_url)
    topic = topics.reading("east", CHAIR, "spo2")
    _append(store, topic, b"kept", key="reading:0")
    store.commit()
    _append(store, topic, b"lost", key="reading:1")
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    with pytest.raises(store_errors()):
        _append(store, topic, b"after", key="reading:2")
        store.commit()
    store.close()  # nothing more to commit, and no second failure
    with open_store(postgres_url) as again:
        assert [m.payload for m in again.messages()] == [b"kept"]


def test_a_recorder_starting_beside_a_busy_one_takes_no_table_lock(postgres_url: str) -> None:
    """Creating the schema locks both tables, in its own order, even when nothing is to be
    made; a recorder purging holds them in the other order, and two recorders starting
    together deadlocked (PostgreSQL aborted one: the recording stopped). With the schema
    there, a starting recorder reads the catalog only: it opens while another holds the
    sessions table, and does not wait for it."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    from monitor.recording.postgres_store import PostgresStore

    open_store(postgres_url).close()  # the schema, as the first recorder made it
    impatient = make_conninfo(postgres_url, options="-c lock_timeout=2000")
    with psycopg.connect(postgres_url) as busy:  # a transaction, as a purge's is
        busy.execute("DELETE FROM sessions WHERE site = 'elsewhere'")
        with PostgresStore(impatient) as second:  # before: lock timeout, a StoreError
            assert second.count() == 0
        busy.rollback()
