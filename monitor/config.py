"""The clinic's configuration, in layers: the defaults shipped in the package
(``monitor/defaults.toml``), the site's ``config.toml``, ``CHAIRSIDE_...`` environment
variables (``__`` for nesting, e.g. ``CHAIRSIDE_MQTT__PORT=1884``), then command-line
overrides. A site's file names only what it changes; a table it names keeps the shipped
values of the keys it leaves out, except the tables it fills with its own names (its
protocols, its chairs), which it gives whole.

An invalid file or value stops the command with one clear message naming the key, the bad
value and what is allowed (exit code 2): a monitoring system must never start on a guess.
"""

from __future__ import annotations

import os
import tomllib
from datetime import tzinfo
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from drivers.errors import ChairsideError
from drivers.mqtt_settings import MqttSettings
from drivers.topics import TopicError, check_ident
from monitor.engine.config import EngineConfig
from monitor.localtime import site_zone

DEFAULT_PATH = Path("config.toml")

PACKAGED_DEFAULTS: Traversable = resources.files("monitor") / "defaults.toml"
"""The shipped defaults, package data so that an installed wheel has them too."""

WHOLE_TABLES: frozenset[tuple[str, ...]] = frozenset(
    {("engine", "protocols"), ("gateway", "chairs")}
)
"""Tables keyed by the site's own names: a layer that names one replaces it whole."""


SECRET_ERROR = "secret_in_config"
"""A value refused because it holds a secret: the message does not repeat it."""


class ConfigError(ChairsideError):
    """The configuration cannot be used; the message says which key and why."""


class SiteSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default="clinic", description="site identifier used in MQTT topics")
    name: str = "Chairside clinic"
    timezone: str = Field(
        default="",
        description="IANA time zone of the site for screens and reports; \"\" = the machine's",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        site_zone(value)
        return value

    def zone(self) -> tzinfo | None:
        """The site's time zone; None means the machine's own."""
        return site_zone(self.timezone)

    @field_validator("id")
    @classmethod
    def _ident(cls, value: str) -> str:
        try:
            return check_ident(value, "site id")
        except TopicError as exc:
            raise ValueError(str(exc)) from None


class DeviceEntry(BaseModel):
    """One device of one chair, as the gateway drives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    protocol: str = Field(min_length=1)
    endpoint: str = Field(min_length=1, description="serial path or URL, or BLE address")
    baudrate: int = Field(default=9600, gt=0)


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    spool_dir: Path = Field(default=Path("var/spool"))
    spool_capacity: int = Field(default=200_000, ge=100)
    spool_warn_fraction: float = Field(default=0.8, gt=0, lt=1)
    status_interval_s: float = Field(default=10.0, gt=0)
    confirm_by: Literal["recorder", "broker"] = "recorder"
    chairs: dict[str, list[DeviceEntry]] = Field(default_factory=dict)


class DemoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chairs: int = Field(default=4, ge=1, le=24)
    speed: float = Field(default=60.0, gt=0, le=3600)
    scenarios: list[str] = Field(
        default_factory=lambda: [
            "hypertensive-response",
            "uneventful",
            "desaturation",
            "device-dropout",
        ],
        min_length=1,
    )
    warmup_min: float = Field(default=40.0, ge=0, le=240)
    warmup_wall_s: float = Field(default=16.0, ge=0.5, le=120)
    stagger_min: float = Field(default=6.0, ge=0, le=120)
    seed: int = 7
    record_path: Path | None = Path("var/demo-recording.db")


class DashboardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stale_after_s: dict[str, float] = Field(
        default_factory=lambda: {
            "blood_pressure": 900.0,
            "cuff_pressure": 60.0,
            "heart_rate": 20.0,
            "spo2": 20.0,
        }
    )
    offline_after_s: float = Field(default=10.0, gt=0)
    bell: bool = True
    bell_repeat_s: float = Field(
        default=10.0, gt=0, description="wall seconds between bells while a high alarm sounds"
    )
    pause_audio_s: int = Field(
        default=120, ge=1, le=600, description="how long the Pause audio action silences"
    )
    answer_timeout_s: float = Field(
        default=10.0, gt=0,
        description="wall seconds a command may wait for the engine's answer before the "
        "screen says it has had none",
    )
    user: str = Field(default="nurse", min_length=1, max_length=64,
                      description="on a site without sign-in, who this screen's commands are "
                      "from (role or role:name); signed in, the user's own name is")
    serve_host: str = "127.0.0.1"
    serve_port: int = Field(default=8000, ge=1, le=65535)


class AccessSettings(BaseModel):
    """``[access]``: who may sign in, and for how long a screen stays unlocked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: Path | None = Field(
        default=None,
        description="the site's user directory (written by `chairside users`); absent: no "
        "sign-in, and the broker must then accept anonymous clients on loopback only",
    )
    idle_lock_s: float = Field(
        default=300.0, gt=0, le=86400,
        description="wall seconds without a key or click after which a screen asks for the "
        "password again before any command",
    )


class RecorderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Path("var/recording.db")
    store: str | None = Field(
        default=None,
        description="where the recorder writes and QA reads: a `postgresql://user@host/db` "
        "URL for a store the sites of a region share (its password in PGPASSWORD or a libpq "
        "password file, never here), or an SQLite file's path; absent: `path`",
    )
    retention_days: int = Field(default=400, ge=1)

    @field_validator("store")
    @classmethod
    def _no_secret(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(("postgresql://", "postgres://")):
            credentials = value.split("://", 1)[1].split("@", 1)
            if (len(credentials) == 2 and ":" in credentials[0]) or "password=" in value:
                raise PydanticCustomError(
                    SECRET_ERROR, "a password in the store URL: give it in PGPASSWORD or a "
                    "libpq password file (PGPASSFILE) instead")
        return value

    def where(self) -> str | Path:
        """The store to open: ``store`` if set, else the SQLite file at ``path``."""
        return self.store if self.store else self.path


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHAIRSIDE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    site: SiteSettings = Field(default_factory=SiteSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    recorder: RecorderSettings = Field(default_factory=RecorderSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    log_level: str = Field(default="WARNING", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")


def _settings_class(files: dict[str, Any]) -> type[Settings]:
    """A Settings subclass reading ``files`` (the layered TOML) below the environment."""

    class FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, InitSettingsSource(settings_cls, files)

    return FileSettings


def layered(low: dict[str, Any], high: dict[str, Any],
            at: tuple[str, ...] = ()) -> dict[str, Any]:
    """``high`` over ``low``: tables merge key by key, other values (and whole tables) replace."""
    merged = dict(low)
    for key, value in high.items():
        here = (*at, key)
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict) and here not in WHOLE_TABLES:
            merged[key] = layered(below, value, here)
        else:
            merged[key] = value
    return merged


def packaged_defaults() -> dict[str, Any]:
    """The shipped defaults as a table."""
    return tomllib.loads(PACKAGED_DEFAULTS.read_text(encoding="utf-8"))


def resolve_path(path: Path | None) -> Path | None:
    """``--config`` if given, else ``$CHAIRSIDE_CONFIG``, else ./config.toml if present."""
    if path is not None:
        return path
    env = os.environ.get("CHAIRSIDE_CONFIG")
    if env:
        return Path(env)
    return DEFAULT_PATH if DEFAULT_PATH.exists() else None


def _read_site_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such configuration file")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load and validate every layer; raise ConfigError with one clear line on any problem."""
    resolved = resolve_path(path)
    where = str(resolved) if resolved else "configuration"
    files = packaged_defaults()
    if resolved is not None:
        files = layered(files, _read_site_file(resolved))
    try:
        return _settings_class(files)(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_error(where, exc)) from None


def with_options(settings: Settings, broker: str | None = None,
                 site: str | None = None) -> Settings:
    """The command line's ``--broker`` and ``--site`` over the loaded settings."""
    update: dict[str, Any] = {}
    try:
        if broker:
            update["mqtt"] = settings.mqtt.with_url(broker)
        if site:
            update["site"] = SiteSettings.model_validate({**settings.site.model_dump(), "id": site})
    except ValidationError as exc:
        rule = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(f"--site {site!r}: {rule}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return settings.model_copy(update=update) if update else settings


def describe_error(where: str, exc: ValidationError) -> str:
    """``config.toml: mqtt.port = 'abc': Input should be a valid integer``: key, value, rule."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(root)"
        if err["type"] == "missing":
            lines.append(f"{where}: {key} is required")
            continue
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: {key} is not a known setting")
            continue
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict | list) else "(table)"
        if err["type"] == SECRET_ERROR:
            shown = "(not shown: it holds a secret)"
        rule = err["msg"].removeprefix("Value error, ")  # our validators' own words
        lines.append(f"{where}: {key} = {shown}: {rule}")
    if len(lines) > 1:
        return lines[0] + f" (and {len(lines) - 1} more: " + "; ".join(lines[1:4]) + ")"
    return lines[0]
