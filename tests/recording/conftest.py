"""The recording's stores for the tests: every store test runs over both backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.recording.postgres_store import PostgresStore
from monitor.recording.store import RecordingStore, Store, open_store

StoreFactory = Callable[[], RecordingStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_recording(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens the test's recording, as often as asked (a writer and its readers): an SQLite
    file, or a PostgreSQL database of the test's own."""
    where: str | Path
    if request.param == "sqlite":
        where = tmp_path / "rec.db"
    else:
        where = request.getfixturevalue("postgres_url")
    opened: list[RecordingStore] = []

    def factory() -> RecordingStore:
        store = open_store(where)
        assert isinstance(store, Store if request.param == "sqlite" else PostgresStore)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()
