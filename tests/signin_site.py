"""A site that signs its users in, for the tests: the user directory, the broker's password
file and ACL written by the access core, and a Mosquitto that enforces them (no anonymous
clients)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from drivers.mqtt_settings import MqttSettings
from monitor.access.commands import write_files
from monitor.access.directory import Directory, User
from monitor.access.passwords import hash_password
from tests.brokers import Mosquitto, mosquitto_path, signing_in

PASSWORDS = {
    "amy": "amy-secret-1",
    "lee": "lee-secret-1",
    "engine": "engine-secret",
    "wall": "wall-secret-1",
}
"""Every test user's password (test-only: written with a low iteration count)."""


def users(chairs: tuple[str, ...]) -> dict[str, User]:
    out = {
        "amy": User(role="nurse", name="Amy Ng"),
        "lee": User(role="physician", name="Dr Lee"),
        "engine": User(role="engine"),
        "wall": User(role="display"),
    }
    for chair in chairs:
        out[f"gw-{chair}"] = User(role="gateway", chair=chair)
    return out


def write_site(folder: Path, site: str, chairs: tuple[str, ...]) -> Directory:
    """users.toml, users.passwd and users.acl in ``folder``."""
    directory = Directory(site, users(chairs), folder / "users.toml")
    secrets = {**PASSWORDS, **{f"gw-{c}": f"gw-{c}-secret" for c in chairs}}
    write_files(directory, {user: hash_password(pw, iterations=1000)
                            for user, pw in secrets.items()})
    return directory


def as_user(mqtt: MqttSettings, user: str) -> MqttSettings:
    from pydantic import SecretStr

    password = PASSWORDS.get(user) or f"{user}-secret"
    return mqtt.model_copy(update={"username": user, "password": SecretStr(password)})


@contextmanager
def signing_broker(folder: Path, directory: Directory) -> Iterator[Mosquitto]:
    """A Mosquitto of this test's own that knows only the directory's users."""
    binary = mosquitto_path()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but Mosquitto is not installed")
        pytest.skip("the password file and ACL need Mosquitto")
    broker = Mosquitto(folder, binary,
                       extra_config=signing_in(directory.passwd_path, directory.acl_path))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
