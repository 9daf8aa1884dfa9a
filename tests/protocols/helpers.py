"""Shared by the protocol tests: every measurement must become a valid wire Reading."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from drivers.protocols.base import Measurement
from drivers.wire import Reading

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def as_reading(m: Measurement, source: str = "test") -> Reading:
    """The Reading of ``m`` (raises if the wire contract refuses it)."""
    return m.to_reading(chair="chair-1", device="dev", source=source, received_at=NOW)


def check_all(ms: Iterable[Measurement], source: str = "test") -> list[Reading]:
    return [as_reading(m, source) for m in ms]


def h(text: str) -> bytes:
    return bytes.fromhex(text)
