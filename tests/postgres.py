"""A PostgreSQL server for the tests: one of their own (initdb and postgres on a free port in
a temporary folder, run as the postgres user where the tests run as root, since initdb
refuses root), or one the machine provides (``CHAIRSIDE_TEST_POSTGRES``, an admin URL; else
the server on 127.0.0.1:5432). Each test gets a database of its own, named uniquely and
dropped after. Where none can be had the tests skip, saying why; under CI=true they fail."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.brokers import free_port


class NoPostgres(Exception):
    """Why no PostgreSQL server could be had."""


def _binaries() -> Path | None:
    """The folder of initdb and postgres: the newest Debian install, else initdb on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name or 0))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresServer:
    """An admin connection string and the databases made through it."""

    def __init__(self, admin_url: str, process: subprocess.Popen[bytes] | None = None,
                 folder: Path | None = None) -> None:
        self.admin_url = admin_url
        self.process = process
        self.folder = folder

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = "chairside_test_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_url, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        info = psycopg.conninfo.conninfo_to_dict(self.admin_url)
        user = f"{info['user']}@" if info.get("user") else ""
        host, port = info.get("host") or "127.0.0.1", info.get("port") or "5432"
        return f"postgresql://{user}{host}:{port}/{name}"

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _owner() -> tuple[int, int] | None:
    """The postgres user's (uid, gid) where the tests run as root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        raise NoPostgres("the tests run as root and there is no postgres user to run "
                         "initdb as") from None
    return owner.pw_uid, owner.pw_gid


def _wait_ready(url: str, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError as exc:
            if process is not None and process.poll() is not None:
                raise NoPostgres(f"postgres exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise NoPostgres(f"postgres did not accept connections: {exc}") from None
            time.sleep(0.1)


def own_server() -> PostgresServer:
    """initdb and postgres in a new folder, on a free port on loopback."""
    bin_dir = _binaries()
    if bin_dir is None:
        raise NoPostgres("no initdb found (install the postgresql package)")
    folder = Path(tempfile.mkdtemp(prefix="chairside-pg-"))
    data = folder / "data"
    try:
        owner = _owner()
    except NoPostgres:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    uid, gid = owner or (None, None)
    as_owner: dict[str, Any] = {} if owner is None else {
        "user": uid, "group": gid, "extra_groups": []}
    if uid is not None and gid is not None:
        os.chown(folder, uid, gid)
    made = subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "chairside", "--auth=trust",
         "--no-sync", "-E", "UTF8", "--locale=C"],
        capture_output=True, timeout=120, check=False, **as_owner)
    if made.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise NoPostgres(f"initdb failed: {made.stderr.decode(errors='replace').strip()}")
    port = free_port()
    # fsync off: the tests kill recorders, never the database's machine; a commit is still
    # a commit to every other connection.
    process = subprocess.Popen(
        [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
         "-c", "max_connections=50"],
        stdout=subprocess.DEVNULL, stderr=(folder / "postgres.log").open("wb"), **as_owner)
    url = f"host=127.0.0.1 port={port} user=chairside dbname=postgres"
    try:
        _wait_ready(url, process, timeout=30)
    except NoPostgres:
        log = (folder / "postgres.log").read_text(errors="replace")[-500:]
        PostgresServer(url, process, folder).stop()
        raise NoPostgres(f"postgres did not start: {log.strip()}") from None
    return PostgresServer(url, process, folder)


def machine_server(url: str) -> PostgresServer:
    try:
        _wait_ready(url, None, timeout=3)
    except NoPostgres as exc:
        raise NoPostgres(f"{url}: {exc}") from None
    return PostgresServer(url)


def start_server() -> PostgresServer:
    """The tests' PostgreSQL, by the first way that works."""
    given = os.environ.get("CHAIRSIDE_TEST_POSTGRES")
    if given:
        return machine_server(given)
    reasons = []
    try:
        return own_server()
    except NoPostgres as exc:
        reasons.append(str(exc))
    try:
        return machine_server("host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    except NoPostgres as exc:
        reasons.append(str(exc))
    raise NoPostgres("; ".join(reasons))


def unavailable(reason: str) -> None:
    """Skip, saying why; under CI a missing PostgreSQL fails the run instead."""
    message = f"no PostgreSQL for the central-store tests: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (required under CI)", pytrace=False)
    pytest.skip(message)
