"""The embedded broker (the demo's) signs clients in against the same password hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from drivers import topics
from drivers.mqtt import QOS, connected
from drivers.mqtt_settings import BrokerRefused, MqttSettings
from monitor.access import passwords
from monitor.broker import embedded_broker
from tests.access.site import SITE, password, write_directory


async def test_the_embedded_broker_signs_clients_in(tmp_path: Path) -> None:
    directory = write_directory(tmp_path)
    users = (directory, passwords.read_file(directory.passwd_path))
    async with embedded_broker(MqttSettings(broker="embedded", port=0), users) as live:
        ana = live.model_copy(update={"username": "ana", "password": SecretStr(password("ana"))})
        async with connected(ana, "t-ana") as client:
            await client.publish(topics.commands(SITE, "chair-1", "ana"), b"{}", qos=QOS)
        for user, secret in (("ana", "not-her-password"), ("gone", password("gone")),
                             ("mallory", "whatever-it-is"), (None, None)):
            wrong = live.model_copy(update={
                "username": user, "password": SecretStr(secret) if secret else None})
            with pytest.raises(BrokerRefused):
                async with connected(wrong, "t-wrong"):
                    pass
