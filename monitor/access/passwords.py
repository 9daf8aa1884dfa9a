"""Broker passwords in Mosquitto's own format, so ``chairside users`` writes the file
Mosquitto reads and nobody runs ``mosquitto_passwd`` by hand.

A line is ``user:$7$<iterations>$<salt>$<hash>``: PBKDF2-HMAC-SHA512 over a 12-byte random
salt, both in standard base64 (Mosquitto 2.0's ``$7$`` scheme, ``src/password_mosq.c``).
Mosquitto's own tool uses 101 iterations; Chairside uses more, as the OWASP password storage
cheat sheet advises for PBKDF2, because people choose the passwords.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from drivers.errors import ChairsideError

ITERATIONS = 100_000
SALT_BYTES = 12
MIN_LENGTH = 8


class PasswordError(ChairsideError, ValueError):
    """A password that cannot be used, or a password file that cannot be read."""


def hash_password(password: str, *, iterations: int = ITERATIONS,
                  salt: bytes | None = None) -> str:
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters")
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def verify(password: str, hashed: str) -> bool:
    """True if ``password`` matches a ``$7$`` hash; False for any other hash or format."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt, expected = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]))
    return hmac.compare_digest(digest, expected)


def generate() -> str:
    """A password for a process (gateway, engine, recorder) or a demo user."""
    return secrets.token_urlsafe(18)


def read_file(path: Path) -> dict[str, str]:
    """``user -> hash`` from a Mosquitto password file (none yet: empty)."""
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise PasswordError(f"{path}:{number}: expected user:hash")
        out[user] = hashed
    return out


def write_file(path: Path, hashes: dict[str, str]) -> None:
    """Write atomically, readable by its owner only (Mosquitto warns on wider access)."""
    text = "".join(f"{user}:{hashed}\n" for user, hashed in sorted(hashes.items()))
    write_private(path, text)


def write_private(path: Path, text: str) -> None:
    """Write atomically a file only its owner may read."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
