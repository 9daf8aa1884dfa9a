"""A Mosquitto of the tests' own that signs every client in: the password file and ACL that
`chairside users` writes, anonymous access off, and optionally a TLS listener with a CA the
tests make for themselves."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from drivers.mqtt_settings import MqttSettings
from monitor.access import passwords
from monitor.access.commands import write_files
from monitor.access.directory import Directory, User, new
from tests.brokers import Mosquitto, free_port, mosquitto_path, signing_in

SITE = "north"
USERS: dict[str, User] = {
    "ana": User(role="nurse", name="Ana Ruiz"),
    "dr-lee": User(role="physician", name="Dr Lee"),
    "qa1": User(role="qa"),
    "wall": User(role="display"),
    "gw-1": User(role="gateway", chair="chair-1"),
    "gw-2": User(role="gateway", chair="chair-2"),
    "engine": User(role="engine"),
    "recorder": User(role="recorder"),
    "gone": User(role="nurse", disabled=True),
}


def password(user: str) -> str:
    return f"secret-of-{user}"


def write_directory(folder: Path, users: dict[str, User] = USERS) -> Directory:
    """The directory, password file and ACL, as `chairside users` writes them."""
    directory = new(folder / "users.toml", SITE)
    hashes = {}
    for name, user in users.items():
        directory = directory.with_user(name, user)
        hashes[name] = passwords.hash_password(password(name), iterations=1000)
    write_files(directory, hashes)
    return directory


@dataclass
class Tls:
    ca: Path
    cert: Path
    key: Path


def make_ca(folder: Path) -> Tls:
    """A CA of the test's own and a certificate for 127.0.0.1 signed by it (openssl)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.crt", folder / "ca.key"
    cert, key, csr = folder / "server.crt", folder / "server.key", folder / "server.csr"
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=Chairside test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return Tls(ca, cert, key)


class SecureBroker:
    def __init__(self, folder: Path, tls: Tls | None = None) -> None:
        binary = mosquitto_path()
        assert binary is not None
        self.directory = write_directory(folder)
        extra = signing_in(self.directory.passwd_path, self.directory.acl_path)
        self.tls = tls
        self.tls_port = free_port() if tls else None
        if tls is not None:
            extra += [f"listener {self.tls_port} 127.0.0.1", f"cafile {tls.ca}",
                      f"certfile {tls.cert}", f"keyfile {tls.key}", "tls_version tlsv1.2"]
        self.broker = Mosquitto(folder, binary, extra_config=extra)

    def settings(self, user: str | None, secret: str | None = None, *,
                 tls: bool = False) -> MqttSettings:
        base = self.broker.settings
        update: dict[str, object] = {"username": user, "password": SecretStr(
            secret if secret is not None else password(user)) if user else None}
        if tls:
            assert self.tls is not None
            update |= {"port": self.tls_port, "tls": True, "ca_file": self.tls.ca}
        return base.model_copy(update=update)


def need_mosquitto() -> None:
    if mosquitto_path() is None:
        if os.environ.get("CI", "").lower() == "true":
            raise RuntimeError("CI=true but Mosquitto is not installed: access tests must run")
        pytest.skip("these tests are about Mosquitto's password file, ACL and TLS: "
                    "Mosquitto is not installed")
