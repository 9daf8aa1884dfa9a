"""The recorder's store, SQLite file against PostgreSQL: messages a second and bytes kept.

Run: ``uv run python benchmarks/central_store.py [--hours 0.5] [--sites 2] [--url URL]``

One synthetic Spravato session's full recording (benchmarks/replay.py: the inputs and what
the engine published for them) is recorded as the recorder records it (classify, append,
session index, a commit every 500 messages), once into an SQLite file and once into
PostgreSQL; then ``--sites`` recorders, one process per site, write the same session at
once into one PostgreSQL database, as a region's sites do. Without ``--url`` a PostgreSQL of
the benchmark's own is started (tests/postgres.py), with fsync off: the figures are the
recorder's and the database's work, not the disk's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from benchmarks.replay import SITE, machine, session_inputs
from drivers.clock import FakeClock
from drivers.mqtt_settings import MqttSettings
from monitor.engine import EngineConfig
from monitor.recording.recorder import BATCH, Recorder
from monitor.recording.replay import with_engine_outputs
from monitor.recording.store import open_store
from monitor.recording.wirelog import WireRecord

_RECORDS: list[WireRecord] = []


def record(where: str | Path, site: str, records: list[WireRecord]) -> float:
    """Record as ``site``'s recorder; seconds taken."""
    with open_store(where) as store:
        recorder = Recorder(MqttSettings(), site, store, FakeClock())
        started = time.perf_counter()
        for n, r in enumerate(records, 1):
            recorder.record(r.topic.replace(f"/{SITE}/", f"/{site}/", 1), r.payload,
                            r.received_at)
            if n % BATCH == 0:
                store.commit()
        store.commit()
        return time.perf_counter() - started


def _site(job: tuple[str, str]) -> float:
    return record(job[0], job[1], _RECORDS)


def db_bytes(url: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hours", type=float, default=0.5)
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--url", default=None, help="an admin URL of a PostgreSQL to use")
    args = parser.parse_args()
    machine()
    print(f"load     {Path('/proc/loadavg').read_text().strip()} (before)")
    records = with_engine_outputs(session_inputs(hours=args.hours), EngineConfig(), SITE)
    size = sum(len(r.payload) for r in records)
    print(f"session  {args.hours} h: {len(records)} messages, {size / 1e6:.1f} MB of payloads")
    _RECORDS.extend(records)

    from tests.postgres import PostgresServer, machine_server, own_server

    server: PostgresServer = machine_server(args.url) if args.url else own_server()
    try:
        with TemporaryDirectory() as tmp:
            path = Path(tmp) / "rec.db"
            took = record(path, "east", records)
            on_disk = path.stat().st_size + sum(
                p.stat().st_size for p in Path(tmp).glob("rec.db-*"))
            print(f"sqlite   {took:6.2f} s  {len(records) / took:8,.0f} msg/s  "
                  f"{on_disk / len(records):6.0f} B/msg on disk")
        url = server.create_database()
        try:
            empty = db_bytes(url)
            took = record(url, "east", records)
            kept = db_bytes(url) - empty
            print(f"postgres {took:6.2f} s  {len(records) / took:8,.0f} msg/s  "
                  f"{kept / len(records):6.0f} B/msg on disk")
            jobs = [(url, f"site{i}") for i in range(args.sites)]
            started = time.perf_counter()
            with multiprocessing.get_context("fork").Pool(args.sites) as pool:
                each = pool.map(_site, jobs)
            wall = time.perf_counter() - started
            total = len(records) * args.sites
            print(f"postgres {args.sites} sites at once: {wall:6.2f} s  {total / wall:8,.0f} "
                  f"msg/s together (each {', '.join(f'{t:.2f} s' for t in each)})")
        finally:
            server.drop_database(url)
    finally:
        server.stop()
    print(f"load     {Path('/proc/loadavg').read_text().strip()} (after)")
    print(f"cores    {os.cpu_count()}")


if __name__ == "__main__":
    main()
