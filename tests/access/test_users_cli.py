"""`chairside users` writes what Mosquitto reads: a user added can connect, a user disabled
cannot once Mosquitto reloads, and bad input is one line and exit code 2."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from drivers.mqtt import connected
from drivers.mqtt_settings import BrokerRefused
from monitor.cli import main
from tests.access.site import need_mosquitto
from tests.brokers import Mosquitto, mosquitto_path, signing_in


def users(folder: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["users", *args, "--users", str(folder / "users.toml")],
                                input=stdin)
    return result.exit_code, result.output


def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    assert users(tmp_path, "add", "gw", "--role", "gateway", "--password-stdin",
                 stdin="long enough\n") == (
        2, "chairside users: a gateway names its chair, and only a gateway does\n")
    code, out = users(tmp_path, "add", "ana", "--role", "nurse", "--password-stdin",
                      stdin="short\n")
    assert code == 2 and out.strip().endswith("at least 8 characters")
    code, out = users(tmp_path, "add", "a/b", "--role", "nurse", "--generate")
    assert code == 2 and "not a valid identifier" in out
    code, out = users(tmp_path, "disable", "nobody")
    assert code == 2 and "no user 'nobody'" in out


async def test_added_users_connect_and_disabled_ones_do_not(tmp_path: Path) -> None:
    need_mosquitto()
    code, out = users(tmp_path, "add", "ana", "--role", "nurse", "--full-name", "Ana Ruiz",
                      "--password-stdin", stdin="ana's password\n")
    assert code == 0, out
    env = tmp_path / "gw.env"
    code, out = users(tmp_path, "add", "gw-1", "--role", "gateway", "--chair", "chair-1",
                      "--generate", "--env-file", str(env))
    assert code == 0, out
    assert env.stat().st_mode & 0o077 == 0
    creds = dict(line.split("=", 1) for line in env.read_text().split())
    assert creds["CHAIRSIDE_MQTT__USERNAME"] == "gw-1"
    code, listing = users(tmp_path, "list")
    assert "ana                  nurse      person  enabled" in listing
    assert "gw-1                 gateway    process enabled     chair chair-1" in listing

    binary = mosquitto_path()
    assert binary is not None
    (tmp_path / "b").mkdir()
    broker = Mosquitto(tmp_path / "b", binary, extra_config=signing_in(
        tmp_path / "users.passwd", tmp_path / "users.acl"))
    broker.start()
    try:
        def who(user: str, secret: str):  # type: ignore[no-untyped-def]
            return broker.settings.model_copy(
                update={"username": user, "password": SecretStr(secret)})
        async with connected(who("ana", "ana's password"), "t-ana"):
            pass
        async with connected(who("gw-1", creds["CHAIRSIDE_MQTT__PASSWORD"]), "t-gw"):
            pass
        assert users(tmp_path, "disable", "ana")[0] == 0
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGHUP)  # `systemctl reload mosquitto`
        # Mosquitto reloads at its next loop turn: until then ana may still get in.
        with pytest.raises(BrokerRefused):
            async with asyncio.timeout(5):
                while True:
                    async with connected(who("ana", "ana's password"), "t-ana-2"):
                        await asyncio.sleep(0.05)
        assert "disabled" in users(tmp_path, "list")[1]
        code, out = users(tmp_path, "enable", "ana")
        assert code == 2 and "has no password" in out
    finally:
        broker.stop()
