"""How a process reaches the broker (the ``[mqtt]`` section), and the refusal of its
credentials: read by every command, including those that never connect (a report, a
replay, an export), so it imports no MQTT client."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from drivers.errors import ChairsideError


class MqttSettings(BaseModel):
    """The ``[mqtt]`` section: which broker, and how to reach it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    broker: Literal["embedded", "external"] = Field(
        default="external",
        description="embedded: an amqtt broker inside the process (demo, one machine); "
        "external: Mosquitto or another MQTT 3.1.1 broker at host:port",
    )
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=1883, ge=0, le=65535, description="0: any free port (embedded)")
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = Field(default=15, ge=5, le=600)
    reconnect_max_s: float = Field(default=10.0, gt=0, le=300)

    def with_url(self, url: str) -> MqttSettings:
        """Apply ``--broker mqtt://[user:password@]host:port`` (``mqtts://`` for TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(
                f"--broker {url!r}: expected mqtt://[user:password@]host:port or mqtts://..."
            )
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"--broker {url!r}: {exc}") from None
        update: dict[str, Any] = {
            "broker": "external",
            "host": parts.hostname,
            "port": port or (8883 if parts.scheme == "mqtts" else 1883),
            "tls": parts.scheme == "mqtts",
        }
        if parts.username is not None:
            update["username"] = unquote(parts.username)
        if parts.password is not None:
            update["password"] = SecretStr(unquote(parts.password))
        return self.model_copy(update=update)

    def url(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


class BrokerRefused(ChairsideError):
    """The broker refused this client's user name or password: trying again cannot help,
    so the process stops and says so (exit code 2 on the command line)."""
