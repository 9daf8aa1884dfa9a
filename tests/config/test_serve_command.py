"""The command ``chairside serve`` runs for each browser tab: the same configuration, broker
and site, and ``--kiosk`` passed on, so a wall display in a browser is read only too."""

from __future__ import annotations

import shlex
from pathlib import Path

from monitor.serve import dashboard_command


def test_each_tab_runs_the_dashboard_with_the_same_options() -> None:
    argv = shlex.split(dashboard_command(Path("/etc/chairside.toml"), "mqtt://b:1883",
                                         "clinic", "chair-2"))
    assert argv[1:4] == ["-m", "monitor.cli", "dashboard"]
    assert argv[4:] == ["--config", "/etc/chairside.toml", "--broker", "mqtt://b:1883",
                        "--site", "clinic", "--chair", "chair-2"]
    assert "--kiosk" not in argv


def test_a_kiosk_tab_is_a_kiosk_dashboard() -> None:
    argv = shlex.split(dashboard_command(None, None, None, None, kiosk=True))
    assert argv[-2:] == ["dashboard", "--kiosk"]
