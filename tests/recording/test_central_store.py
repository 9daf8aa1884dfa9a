"""QA over a region's central store: two sites recorded into one PostgreSQL database, and
`sessions`, `export`, `report` and the month view run over it as over a site's file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.config import ConfigError, load_settings
from monitor.recording.commands import COMMANDS
from monitor.recording.store import open_store
from tests.postgres import PostgresServer, unavailable
from tests.recording.offline import record_offline, record_site

SESSION = "chair-1-20260105-090000"


@pytest.fixture(scope="module")
def region(postgres_server: PostgresServer | str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A central store with the Spravato day at sites east and west, and east's own file."""
    if isinstance(postgres_server, str):
        unavailable(postgres_server)
        raise AssertionError
    url = postgres_server.create_database()
    with open_store(url) as store:
        record_site(store, "east")
        record_site(store, "west")
    site_file = tmp_path_factory.mktemp("site") / "east.db"
    record_offline(site_file).close()
    yield url, site_file
    postgres_server.drop_database(url)


def run(*args: str, env: dict[str, str] | None = None) -> str:
    command = {c.name: c for c in COMMANDS}[args[0]]
    result = CliRunner().invoke(command, list(args[1:]), catch_exceptions=False,
                                env={"CHAIRSIDE_CONFIG": "", **(env or {})})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_sessions_name_each_sites_session(region: tuple[str, Path]) -> None:
    url, _ = region
    lines = run("sessions", "--db", url).splitlines()
    assert [line.split()[:3] for line in lines[1:]] == [
        [f"east/{SESSION}", "chair-1", "P-0042"], [f"west/{SESSION}", "chair-1", "P-0042"]]
    rows = [json.loads(line) for line in run("sessions", "--db", url, "--json").splitlines()]
    assert [(r["id"], r["site"]) for r in rows] == [(f"east/{SESSION}", "east"),
                                                    (f"west/{SESSION}", "west")]
    (west,) = [json.loads(line) for line in run("sessions", "--db", url, "--json", "--site",
                                                "west").splitlines()]
    assert west["id"] == SESSION and west["alarms"] == rows[1]["alarms"]
    # The store named by the configuration (here its environment) when --db is not given.
    assert run("sessions", env={"CHAIRSIDE_RECORDER__STORE": url}) == run(
        "sessions", "--db", url)


def test_export_and_report_from_the_region_equal_the_sites_own(
    region: tuple[str, Path],
) -> None:
    url, site_file = region
    central = run("export", f"east/{SESSION}", "--db", url)
    assert central == run("export", SESSION, "--db", str(site_file))
    west = run("export", f"west/{SESSION}", "--db", url)
    assert west == central.replace("/east/", "/west/")
    from_region = json.loads(run("report", f"east/{SESSION}", "--db", url, "--format",
                                 "json"))
    from_site = json.loads(run("report", SESSION, "--db", str(site_file), "--format", "json"))
    for key in ("session", "blood_pressure", "spo2", "heart_rate", "alarms", "compliance"):
        assert from_region[key] == from_site[key], key
    command = {c.name: c for c in COMMANDS}["report"]
    ambiguous = CliRunner().invoke(command, [SESSION, "--db", url],
                                   env={"CHAIRSIDE_CONFIG": ""})
    assert ambiguous.exit_code == 2
    assert f"names 2 sessions: east/{SESSION}, west/{SESSION}" in ambiguous.output


def test_the_month_view_sums_up_every_site(region: tuple[str, Path]) -> None:
    url, site_file = region
    args = ["--from", "2026-01-05", "--to", "2026-01-05", "--format", "json", "--workers", "1"]
    both = json.loads(run("qa", "--db", url, *args))
    alone = json.loads(run("qa", "--db", str(site_file), *args))
    assert (both["sessions"], alone["sessions"]) == (2, 1)
    for name, check in alone["checks"].items():
        assert both["checks"][name]["failed"] == 2 * check["failed"], name


def test_an_unreachable_store_is_one_line_and_exit_2() -> None:
    command = {c.name: c for c in COMMANDS}["sessions"]
    result = CliRunner().invoke(command, ["--db", "postgresql://qa@127.0.0.1:1/region"],
                                env={"CHAIRSIDE_CONFIG": ""})
    assert result.exit_code == 2
    assert result.output.startswith("chairside: ") and len(result.output.splitlines()) == 1


def test_a_password_in_the_configured_store_url_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[recorder]\nstore = "postgresql://recorder:s3cret@db/chairside"\n')
    with pytest.raises(ConfigError, match="PGPASSWORD") as caught:
        load_settings(config)
    assert "s3cret" not in str(caught.value)
    config.write_text('[recorder]\nstore = "postgresql://recorder@db/chairside"\n')
    assert load_settings(config).recorder.where() == "postgresql://recorder@db/chairside"
