"""The command ``chairside serve`` runs for each browser tab: the same configuration, broker
and site, and ``--kiosk`` and ``--remote`` passed on, so a wall display in a browser is read
only too, and a remote tab follows the site's bridge."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main as cli
from monitor.serve import dashboard_command


def test_each_tab_runs_the_dashboard_with_the_same_options() -> None:
    argv = shlex.split(dashboard_command(Path("/etc/chairside.toml"), "mqtt://b:1883",
                                         "clinic", "chair-2"))
    assert argv[1:4] == ["-m", "monitor.cli", "dashboard"]
    assert argv[4:] == ["--config", "/etc/chairside.toml", "--broker", "mqtt://b:1883",
                        "--site", "clinic", "--chair", "chair-2"]
    assert "--kiosk" not in argv and "--remote" not in argv


def test_a_kiosk_tab_is_a_kiosk_dashboard() -> None:
    argv = shlex.split(dashboard_command(None, None, None, None, kiosk=True))
    assert argv[-2:] == ["dashboard", "--kiosk"]


def test_a_remote_tab_watches_the_site_from_the_region() -> None:
    argv = shlex.split(dashboard_command(None, "mqtts://region:8883", "east", None,
                                         remote=True))
    assert argv[-5:] == ["--broker", "mqtts://region:8883", "--site", "east", "--remote"]


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """What `chairside dashboard` builds its App with (the App itself does not run)."""
    import monitor.dashboard.app as app_module

    built: dict[str, object] = {}

    class Recorded:
        def __init__(self, *args: object, **kwargs: object) -> None:
            built.update(kwargs)

        def run(self) -> None:
            built["ran"] = True

    monkeypatch.setattr(app_module, "DashboardApp", Recorded)
    monkeypatch.setattr("monitor.cli.log_to_file", lambda path: None)
    return built


def test_the_dashboard_command_passes_remote_on(made: dict[str, object]) -> None:
    """`chairside dashboard --remote` builds a screen that follows the site's bridge."""
    result = CliRunner().invoke(cli, ["dashboard", "--site", "east", "--remote"])
    assert result.exit_code == 0, result.output
    assert made["remote"] is True and made["ran"] is True
    result = CliRunner().invoke(cli, ["dashboard", "--site", "east"])
    assert result.exit_code == 0, result.output
    assert made["remote"] is False


def test_the_dashboard_command_watches_several_sites(made: dict[str, object]) -> None:
    """`--sites east,west` (or `all`) builds a screen of several sites; a name that cannot be
    a site, or none at all, is a configuration error (exit 2) with the reason."""
    result = CliRunner().invoke(cli, ["dashboard", "--sites", "east, west"])
    assert result.exit_code == 0, result.output
    assert made["sites"] == ["east", "west"] and made["ran"] is True
    result = CliRunner().invoke(cli, ["dashboard", "--sites", "all"])
    assert result.exit_code == 0 and made["sites"] == ["all"]
    result = CliRunner().invoke(cli, ["dashboard", "--sites", "east,we st"])
    assert result.exit_code == 2 and "--sites: site 'we st' is not a valid identifier" in (
        result.output)
    result = CliRunner().invoke(cli, ["dashboard", "--sites", ","])
    assert result.exit_code == 2 and "name one site or more" in result.output
    argv = shlex.split(dashboard_command(None, "mqtts://region:8883", None, None,
                                         sites="east,west"))
    assert argv[-2:] == ["--sites", "east,west"]
