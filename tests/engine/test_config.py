"""The engine's configuration: shipped defaults, the packaged TOML that holds them, validation."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.config import PACKAGED_DEFAULTS, load_settings
from monitor.engine import EngineConfig

ENGINE_DIR = Path(__file__).parents[2] / "monitor" / "engine"


def engine_section(text: str) -> EngineConfig:
    """The ``[engine]`` section of a TOML text, validated by the model alone."""
    return EngineConfig.model_validate(tomllib.loads(text).get("engine", {}))


def test_defaults_toml_equals_model_defaults() -> None:
    assert engine_section(PACKAGED_DEFAULTS.read_text(encoding="utf-8")) == EngineConfig()


def test_defaults_toml_is_a_complete_engine_section() -> None:
    data = tomllib.loads(PACKAGED_DEFAULTS.read_text(encoding="utf-8"))
    assert "engine" in data
    section = data["engine"]
    assert set(section) == set(EngineConfig.model_fields)
    for name, protocol in section["protocols"].items():
        assert set(protocol) >= {"title", "dosing", "observation_min", "observation_from",
                                 "requires_spo2", "bp_checks", "discharge"}, name


def test_defaults_toml_says_who_owns_the_numbers() -> None:
    text = PACKAGED_DEFAULTS.read_text(encoding="utf-8")
    assert "THE CLINIC OWNS THESE NUMBERS" in text
    assert "does not replace" in text


def test_shipped_protocols() -> None:
    config = EngineConfig()
    assert set(config.protocols) == {"spravato", "iv_ketamine", "im_ketamine"}
    assert config.protocols["spravato"].observation_min == 120
    assert config.protocols["spravato"].requires_spo2


def test_missing_section_gives_defaults(tmp_path: Path) -> None:
    site = tmp_path / "config.toml"
    site.write_text("[site]\nid = 'east'\n")
    assert load_settings(site).engine == EngineConfig()


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        ("[engine]\nunknown_key = 1\n", "unknown_key"),
        ("[engine.audio_pause]\nmax_s = 900\n", "max_s"),
        ("[engine.escalation_s]\nhigh = -1\n", "high"),
        ("[[engine.rules]]\nname='x'\ncondition='x'\npriority='urgent'\n"
         "any_of=[{parameter='spo2', op='<', value=90}]\n", "priority"),
        ("[[engine.rules]]\nname='x'\ncondition='x'\npriority='low'\nprotocols=['nope']\n"
         "any_of=[{parameter='spo2', op='<', value=90}]\n", "unknown protocol"),
        ("[[engine.rules]]\nname='x'\ncondition='x'\npriority='low'\n"
         "any_of=[{parameter='glucose', op='<', value=90}]\n", "parameter"),
        ("[[engine.rules]]\nname='x'\ncondition='x'\npriority='low'\n"
         "any_of=[{parameter='spo2', op='<', value=inf}]\n", "finite number"),
        ("[[engine.rules]]\nname='x'\ncondition='x'\npriority='low'\n"
         "any_of=[{parameter='spo2', op='<', value=nan}]\n", "finite number"),
        ("[engine.protocols.p]\ntitle='p'\ndosing='single'\nobservation_min=60\n"
         "observation_from='infusion_end'\n", "infusion_end"),
        ("[engine.protocols.p]\ntitle='p'\ndosing='single'\nobservation_min=60\n"
         "[[engine.protocols.p.bp_checks]]\nname='e'\nkind='every'\n", "every_min"),
    ],
)
def test_invalid_configs_are_refused(toml: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        engine_section(toml)


def test_config_is_frozen() -> None:
    config = EngineConfig()
    with pytest.raises(ValidationError):
        config.state_interval_s = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("by", "allowed"),
    [("physician", True), ("Physician:dr-lee", True), ("prescriber:x", True),
     ("nurse", False), ("nurse:physician", False)],
)
def test_override_roles(by: str, allowed: bool) -> None:
    assert EngineConfig().may_override(by) is allowed


def test_engine_imports_no_io() -> None:
    """The engine is pure: no asyncio, MQTT, BLE, serial or UI imports, and no clock."""
    forbidden = {"asyncio", "aiomqtt", "bleak", "serial", "textual", "socket", "random",
                 "uuid", "time", "amqtt"}
    for path in ENGINE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
        assert ".now(" not in path.read_text(encoding="utf-8"), path.name
