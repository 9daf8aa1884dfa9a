"""The demo's users, made afresh for each run: the demo signs in like a clinic does, with
nothing to set up. Its people have known passwords (shown on the screen); its processes get
random ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from drivers.mqtt_settings import MqttSettings

from . import passwords
from .commands import write_files
from .directory import Directory, User, new

PEOPLE: dict[str, tuple[User, str]] = {
    "nurse": (User(role="nurse", name="Demo Nurse"), "nurse-demo"),
    "physician": (User(role="physician", name="Demo Physician"), "physician-demo"),
    "qa": (User(role="qa", name="Demo QA"), "qa-demo-pw"),
}
ITERATIONS = 10_000
"""Fewer than a clinic's: demo passwords are printed on the screen anyway."""


@dataclass(frozen=True)
class DemoUsers:
    directory: Directory
    hashes: dict[str, str]
    secrets: dict[str, str]

    def settings(self, mqtt: MqttSettings, user: str) -> MqttSettings:
        return mqtt.model_copy(update={"username": user,
                                       "password": SecretStr(self.secrets[user])})

    def hint(self) -> str:
        return "demo users: " + ", ".join(f"{n} / {pw}" for n, (_, pw) in PEOPLE.items())


def make(folder: Path, site: str, chairs: list[str]) -> DemoUsers:
    folder.mkdir(parents=True, exist_ok=True)
    directory = new(folder / "users.toml", site)
    secrets = {name: pw for name, (_, pw) in PEOPLE.items()}
    users = {name: user for name, (user, _) in PEOPLE.items()}
    users |= {"engine": User(role="engine"), "recorder": User(role="recorder")}
    users |= {f"gw-{chair}": User(role="gateway", chair=chair) for chair in chairs}
    for name, user in users.items():
        directory = directory.with_user(name, user)
        secrets.setdefault(name, passwords.generate())
    hashes = {name: passwords.hash_password(secrets[name], iterations=ITERATIONS)
              for name in users}
    write_files(directory, hashes)
    return DemoUsers(directory, hashes, secrets)
