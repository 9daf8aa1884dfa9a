"""What a gateway accepted, one JSON line per reading: the audit of what it owes downstream.

Each line is written and handed to the kernel as the reading is accepted (line-buffered), so
it survives the gateway being killed, and it can be read while the gateway runs. Set with
``chairside gateway --ledger FILE``: for an audit of a chair's feed, or as the ground truth a
fault test compares with the recording.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType

from drivers.wire import Reading


class Ledger:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8", buffering=1)

    def __call__(self, reading: Reading) -> None:
        self._file.write(json.dumps({"id": reading.id, "device": reading.device,
                                     "seq": reading.seq, "kind": reading.kind}) + "\n")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_ledger(path: str | Path) -> list[dict[str, object]]:
    """Every complete line of a ledger (a line cut short by a kill is not a reading)."""
    found: list[dict[str, object]] = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.endswith("\n"):
                found.append(json.loads(line))
    return found
