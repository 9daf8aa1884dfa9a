from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import Broker, make_broker, mosquitto_path
from tests.postgres import NoPostgres, PostgresServer, start_server, unavailable

PURE = ("engine", "protocols", "config", "spool", "service", "access/test_acl.py",
        "access/test_engine_access.py", "devices/test_health.py", "dashboard/test_floor.py",
        "dashboard/test_density.py", "dashboard/test_floor_bridge.py")
"""Where the pure tests live: the cores on fake clocks and in-memory inputs, no broker, no
terminal, no browser, no other process. `pytest -m pure` runs them in well under a minute."""
SLOW_LANES = ("broker", "tmux", "browser", "faults")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        where = Path(str(item.path)).relative_to(root).as_posix()
        slow = any(item.get_closest_marker(lane) for lane in SLOW_LANES)
        if not slow and any(where == p or where.startswith(p + "/") for p in PURE):
            item.add_marker(pytest.mark.pure)


def pytest_report_header(config: pytest.Config) -> str:
    if mosquitto_path():
        return f"MQTT broker tests: Mosquitto ({mosquitto_path()}), started by the tests"
    return "MQTT broker tests: Mosquitto not installed, using the EMBEDDED broker instead"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker of the tests' own for the whole run."""
    b = make_broker(tmp_path_factory.mktemp("broker"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def binary(request: pytest.FixtureRequest) -> str:
    """Mosquitto's binary, for a test that starts Mosquittos of its own configuration;
    without one the test is skipped."""
    found = mosquitto_path()
    if found is None:
        pytest.skip(f"{request.node.name} starts Mosquittos of its own and needs Mosquitto")
    return found


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker for one test, which the test may stop and start."""
    b = make_broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | str]:
    """The tests' PostgreSQL for the whole run, started on first use; or why there is none."""
    try:
        server = start_server()
    except NoPostgres as exc:
        yield str(exc)
        return
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer | str) -> Iterator[str]:
    """A new database of its own for one test (skips, or under CI fails, without a server)."""
    if isinstance(postgres_server, str):
        unavailable(postgres_server)
        raise AssertionError  # unreachable: skip and fail raise
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)
