"""Configuration: the shipped file loads; every bad file or value is one clear line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import (
    PACKAGED_DEFAULTS,
    ConfigError,
    Settings,
    load_settings,
    packaged_defaults,
    with_options,
)

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_loads_and_matches_the_model_defaults() -> None:
    settings = load_settings(ROOT / "config.toml")
    assert settings.site.id == "clinic"
    assert settings.mqtt.port == 1883
    assert settings.demo.chairs == 4
    # the clinical section of the file is the engine's documented defaults
    from monitor.engine.config import EngineConfig

    assert settings.engine == EngineConfig()


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAIRSIDE_MQTT__PORT", "1999")
    monkeypatch.setenv("CHAIRSIDE_SITE__ID", "east-wing")
    settings = load_settings(ROOT / "config.toml")
    assert settings.mqtt.port == 1999
    assert settings.site.id == "east-wing"


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[mqtt]\nport = 'abc'\n", ["mqtt.port", "'abc'", "valid integer"]),
        ("[mqtt]\nport = 70000\n", ["mqtt.port", "70000", "less than or equal to 65535"]),
        ("[mqtt]\nbroker = 'cloud'\n", ["mqtt.broker", "'cloud'", "'embedded' or 'external'"]),
        ("[site]\nid = 'a/b'\n", ["site.id", "'a/b'", "not a valid identifier"]),
        ("[site]\ntimezone = 'Mars/Olympus'\n",
         ["site.timezone", "'Mars/Olympus'", "unknown time zone", "America/New_York"]),
        ("[demo]\nspeed = -1\n", ["demo.speed", "-1", "greater than 0"]),
        ("[mqtt]\nprot = 1\n", ["mqtt.prot", "not a known setting"]),
        ("[mqtt\nport = 1\n", ["not valid TOML"]),
    ],
)
def test_bad_values_name_key_value_and_rule(tmp_path: Path, text: str, needles: list[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for needle in needles:
        assert needle in message
    assert "\n" not in message


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(tmp_path / "nope.toml")


def test_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[mqtt]\nport = 'abc'\n")
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "mqtt.port = 'abc'" in lines[0]


def test_bad_broker_option_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--broker", "http://x", "--headless", "--duration", "1"])
    assert result.exit_code == 2
    assert "--broker" in result.output


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[engine]\nbogus = 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "schema", "--config", str(path)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "engine.bogus" in proc.stderr


# --- layers: the packaged defaults, the site's file, the environment -----------------------


def test_the_defaults_are_package_data() -> None:
    found = resources.files("monitor") / "defaults.toml"
    assert found.is_file()
    assert found.read_text(encoding="utf-8") == PACKAGED_DEFAULTS.read_text(encoding="utf-8")
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert "monitor" in wheel["targets"]["wheel"]["packages"]
    assert not {"exclude", "only-include", "artifacts"} & set(wheel["targets"]["wheel"])


def test_the_annotated_config_toml_holds_the_packaged_values() -> None:
    annotated = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    assert annotated == packaged_defaults()


def test_without_a_site_file_the_packaged_defaults_are_the_models_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHAIRSIDE_CONFIG", raising=False)
    assert load_settings().model_dump() == Settings.model_construct().model_dump()


def test_a_site_file_changes_only_what_it_names(tmp_path: Path) -> None:
    site = tmp_path / "config.toml"
    site.write_text("[mqtt]\nport = 1999\n[engine.technical.device_offline]\npriority = 'high'\n")
    settings = load_settings(site)
    assert settings.mqtt.port == 1999
    assert settings.mqtt.host == "127.0.0.1"
    offline = settings.engine.technical.device_offline
    assert (offline.priority, offline.delay_s) == ("high", 10.0)


def test_a_site_file_gives_its_protocols_whole(tmp_path: Path) -> None:
    site = tmp_path / "config.toml"
    site.write_text("[engine.protocols.short]\ntitle = 'Short'\ndosing = 'single'\n"
                    "observation_min = 30\n")
    assert list(load_settings(site).engine.protocols) == ["short"]


@pytest.mark.parametrize(
    ("broker", "site", "needle"),
    [("http://x", None, "--broker 'http://x'"), (None, "a/b", "--site 'a/b': site id 'a/b' is not a valid identifier")],
)
def test_bad_command_line_options_are_config_errors(
    broker: str | None, site: str | None, needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        with_options(load_settings(ROOT / "config.toml"), broker, site)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)
