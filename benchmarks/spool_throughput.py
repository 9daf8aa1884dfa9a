"""How fast the gateway's spool takes and gives back readings on this machine.

Appends commit with an fsync each (nothing accepted may be lost), so their rate is the
storage's fsync rate; peek+ack is what draining a backlog after a broker outage costs.

    uv run python benchmarks/spool_throughput.py [--count N] [--dir FOLDER]

``--dir`` should be on the storage the gateway will use (an SD card is much slower than the
laptop's SSD). Prints machine information and the results; records nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from drivers.spool import Spool
from drivers.wire import Reading

TOPIC = "chairside/v1/bench/chairs/c1/readings/spo2"


def _payload() -> bytes:
    """A realistic reading: an SpO2 sample as the gateway would publish it."""
    now = datetime.now(UTC)
    return Reading(
        chair="c1",
        device="oximeter",
        source="ble-2a5f",
        kind="spo2",
        measured_at=now,
        received_at=now,
        values={"spo2": 97.0, "pulse_rate": 72.0, "perfusion_index": 3.4},
        unit="%",
        seq=1,
    ).to_json()


def _machine(folder: Path) -> None:
    print(f"python   {platform.python_version()} ({platform.python_implementation()})")
    print(f"sqlite   {sqlite3.sqlite_version}")
    print(f"system   {platform.system()} {platform.release()} {platform.machine()}")
    print(f"cpu      {platform.processor() or 'unknown'}, {os.cpu_count()} logical cores")
    print(f"folder   {folder}")


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:10.0f} /s  ({seconds / n * 1e6:8.1f} us each, {n} in {seconds:.2f} s)"


def run(count: int, folder: Path, batch: int) -> None:
    payload = _payload()
    path = folder / "bench-spool.db"
    for leftover in folder.glob("bench-spool.db*"):
        leftover.unlink()
    _machine(folder)
    print(f"payload  {len(payload)} bytes, {count} readings, peek batch {batch}")
    print()
    with Spool(path, capacity=2 * max(count, 1)) as spool:
        started = time.perf_counter()
        for i in range(count):
            spool.append(TOPIC, payload, f"bench-{i}")
        print(f"append            {_rate(count, time.perf_counter() - started)}")

        started = time.perf_counter()
        for i in range(min(count, 1000)):
            spool.append(TOPIC, payload, f"bench-{i}")
        print(f"append duplicate  {_rate(min(count, 1000), time.perf_counter() - started)}")

    started = time.perf_counter()
    spool = Spool(path, capacity=2 * max(count, 1))
    print(f"reopen            {(time.perf_counter() - started) * 1e3:10.1f} ms  ({count} waiting)")
    with spool:
        started = time.perf_counter()
        drained = 0
        while entries := spool.peek(batch):
            for entry in entries:
                spool.ack(entry.rowid)
            drained += len(entries)
        print(f"peek+ack          {_rate(drained, time.perf_counter() - started)}")
    for leftover in folder.glob("bench-spool.db*"):
        leftover.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=2000, help="readings to append")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the spool file")
    parser.add_argument("--batch", type=int, default=200, help="peek batch (the gateway: 200)")
    args = parser.parse_args()
    if args.dir is not None:
        run(args.count, args.dir, args.batch)
        return
    with tempfile.TemporaryDirectory(prefix="chairside-bench-") as folder:
        run(args.count, Path(folder), args.batch)


if __name__ == "__main__":
    main()
