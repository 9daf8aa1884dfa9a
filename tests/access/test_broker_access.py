"""A real Mosquitto with the password file and ACL that `chairside users` writes, and the
real engine service: who may connect, publish and command is enforced, and what the engine
answers is what the broker vouched for. Ground truth is a recorder-role subscriber that sees
everything the broker routes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest

from drivers import topics
from drivers.clock import WallClock
from drivers.mqtt import QOS, connected, make_client
from drivers.mqtt_settings import BrokerRefused, MqttSettings
from drivers.wire import CommandResult, Reading
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.access.site import SITE, SecureBroker
from tests.integration.helpers import Observer, running

pytestmark = pytest.mark.broker


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _command(kind: str, by: str, **fields: object) -> tuple[str, bytes]:
    cid = uuid.uuid4().hex
    return cid, json.dumps({"v": 1, "id": cid, "type": kind, "at": _now(), "by": by,
                            **fields}).encode()


def _reading(chair: str) -> bytes:
    return Reading.model_validate({
        "id": uuid.uuid4().hex, "chair": chair, "device": "oxi", "source": "test",
        "kind": "spo2", "measured_at": _now(), "received_at": _now(), "values": {"spo2": 97},
        "unit": "%",
    }).to_json()


async def _send(mqtt: MqttSettings, topic: str, payload: bytes) -> None:
    async with make_client(mqtt, "t-" + uuid.uuid4().hex[:8]) as client:
        await client.publish(topic, payload, qos=QOS)


class Site:
    def __init__(self, secure: SecureBroker) -> None:
        self.secure = secure
        self.engine = EngineService(
            secure.settings("engine"), SITE, EngineConfig(), WallClock(),
            chairs=["chair-1", "chair-2"], users=secure.directory.path)
        self.seen = Observer(secure.settings("recorder"), [topics.site_filter(SITE)])

    async def answer(self, cid: str, within: float = 10.0) -> CommandResult:
        result: CommandResult = await self.seen.wait_for(
            lambda p: isinstance(p, CommandResult) and p.id == cid, within)
        return result

    async def command(self, user: str, chair: str, kind: str, *, by: str | None = None,
                      as_topic_of: str | None = None, **fields: object) -> str:
        cid, payload = _command(kind, by or user, **fields)
        topic = topics.commands(SITE, chair, as_topic_of or user)
        await _send(self.secure.settings(user), topic, payload)
        return cid

    async def barrier(self) -> CommandResult:
        """A command the nurse may send, answered: everything the broker routed before it
        has reached the engine and the observer."""
        cid = await self.command("ana", "chair-2", "pause_audio", seconds=5)
        return await self.answer(cid)


async def test_wrong_or_unknown_credentials_cannot_connect(secure: SecureBroker) -> None:
    for settings in (secure.settings("ana", "not-her-password"), secure.settings("mallory"),
                     secure.settings("gone"), secure.settings(None)):
        with pytest.raises(BrokerRefused, match="refused"):
            async with connected(settings, "t-" + uuid.uuid4().hex[:8]):
                pass


async def test_a_nurses_override_is_refused_and_a_physicians_accepted(
    secure: SecureBroker,
) -> None:
    site = Site(secure)
    async with running(site.engine.run(), site.seen.run()):
        await asyncio.wait_for(site.engine.connected.wait(), 10)
        await site.seen.subscribed()
        assert (await site.answer(await site.command(
            "ana", "chair-1", "start_session", patient_code="P1", protocol="spravato"))).accepted
        assert (await site.answer(await site.command("ana", "chair-1", "dose_given"))).accepted
        nurse = await site.answer(await site.command(
            "ana", "chair-1", "discharge", override_reason="ride is here"))
        assert not nurse.accepted
        assert (nurse.by, nurse.role) == ("ana", "nurse")
        assert "'ana' (nurse) may not override" in nurse.reasons[-1]
        doctor = await site.answer(await site.command(
            "dr-lee", "chair-1", "discharge", override_reason="transfer to the ED"))
        assert doctor.accepted, doctor.reasons
        assert (doctor.by, doctor.role) == ("dr-lee", "physician")


async def test_a_forged_by_changes_nothing(secure: SecureBroker) -> None:
    site = Site(secure)
    async with running(site.engine.run(), site.seen.run()):
        await asyncio.wait_for(site.engine.connected.wait(), 10)
        await site.seen.subscribed()
        # The payload claims the physician; the topic (which the broker let ana use) says ana.
        forged = await site.answer(await site.command(
            "ana", "chair-1", "start_session", by="dr-lee", patient_code="P1",
            protocol="spravato"))
        assert not forged.accepted and forged.by == "ana"
        assert "claims to be by 'dr-lee'" in forged.reasons[0]
        # Publishing under the physician's topic: the broker drops it; no answer ever comes.
        stolen = await site.command("ana", "chair-1", "start_session", by="dr-lee",
                                    as_topic_of="dr-lee", patient_code="P2", protocol="spravato")
        await site.barrier()
        assert not any(getattr(p, "id", None) == stolen for p in
                       (i.payload for i in site.seen.received))
        state = site.engine.engine.states(datetime.now(UTC))[0]
        assert state.chair == "chair-1" and state.session is None


async def test_a_gateway_cannot_publish_another_chairs_readings(secure: SecureBroker) -> None:
    site = Site(secure)
    async with running(site.seen.run()):
        await site.seen.subscribed()
        gw1 = secure.settings("gw-1")
        await _send(gw1, topics.reading(SITE, "chair-2", "spo2"), _reading("chair-2"))
        await _send(gw1, topics.gateway_status(SITE, "chair-2"), b'{"v":1}')
        await _send(gw1, topics.reading(SITE, "chair-1", "spo2"), _reading("chair-1"))
        await site.seen.wait_for(lambda p: isinstance(p, Reading) and p.chair == "chair-1")
        chairs = {topics.parse(t).chair for t, _ in site.seen.raw}
        assert chairs == {"chair-1"}


async def test_qa_and_a_wall_display_can_publish_nothing(secure: SecureBroker) -> None:
    site = Site(secure)
    async with running(site.engine.run(), site.seen.run()):
        await asyncio.wait_for(site.engine.connected.wait(), 10)
        await site.seen.subscribed()
        before = len(site.seen.raw)
        tried: list[str] = []
        for user in ("qa1", "wall"):
            cid, payload = _command("pause_audio", user, seconds=5)
            tried.append(cid)
            mqtt = secure.settings(user)
            for topic, body in (
                (topics.commands(SITE, "chair-1", user), payload),
                (topics.commands(SITE, "chair-1"), payload),
                (topics.reading(SITE, "chair-1", "spo2"), _reading("chair-1")),
                (topics.state(SITE, "chair-1"), b"{}"),
                (topics.engine_status(SITE), b"{}"),
                (topics.recorded(SITE, "chair-1"), b"{}"),
            ):
                await _send(mqtt, topic, body)
        barrier = await site.barrier()
        later = site.seen.raw[before:]
        # Only the nurse's barrier and what the engine itself published got through.
        assert not [t for t, body in later if body == b"{}"], later
        assert not [t for t, _ in later if topics.parse(t).type in ("reading", "recorded")]
        assert [topics.parse(t).user for t, _ in later if topics.parse(t).type == "command"] \
            == ["ana"]
        answered = {p.id for p in site.seen.payloads(CommandResult)}
        assert barrier.id in answered and not answered & set(tried)


async def test_a_reader_can_still_learn_the_end_of_retained_messages(
    secure: SecureBroker,
) -> None:
    """QA publishes nothing of the site, but `chairside status` needs its own marker topic."""
    from monitor.site_status import read_site
    status = await read_site(secure.settings("qa1"), SITE, datetime.now(UTC), within=5)
    assert status is not None


async def test_tls_end_to_end_with_the_clinics_ca(secure: SecureBroker, tmp_path: Path) -> None:
    async with connected(secure.settings("ana", tls=True), "t-tls") as client:
        await client.subscribe(topics.chairs_filter(SITE, "state"), qos=QOS)
    other = tmp_path / "other-ca"
    from tests.access.site import make_ca
    stranger = make_ca(other)
    wrong_ca = secure.settings("ana", tls=True).model_copy(update={"ca_file": stranger.ca})
    with pytest.raises(aiomqtt.MqttError):
        async with connected(wrong_ca, "t-tls-2"):
            pass


@pytest.mark.parametrize("command", [["status"], ["engine"]])
def test_wrong_credentials_give_one_line_and_exit_code_2(
    secure: SecureBroker, command: list[str], tmp_path: Path,
) -> None:
    port = secure.broker.port
    (tmp_path / "c.toml").write_text(f'[site]\nid = "{SITE}"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.cli", *command, "--config", str(tmp_path / "c.toml"),
         "--broker", f"mqtt://ana:wrong-password@127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused user 'ana'" in lines[0], proc.stderr


async def test_the_audit_names_who_did_what(secure: SecureBroker, tmp_path: Path) -> None:
    """The recorder keeps every command and answer; `chairside audit` lists them with the
    user the broker authenticated, the role, and the outcome."""
    from monitor.recording.recorder import Recorder
    from monitor.recording.store import Store

    site = Site(secure)
    db = tmp_path / "recording.db"
    store = Store(db)
    recorder = Recorder(secure.settings("recorder"), SITE, store, WallClock())
    async with running(site.engine.run(), site.seen.run(), recorder.run()):
        await asyncio.wait_for(site.engine.connected.wait(), 10)
        await asyncio.wait_for(recorder.connected.wait(), 10)
        await site.seen.subscribed()
        for user, kind, fields in (
            ("ana", "start_session", {"patient_code": "P7", "protocol": "spravato"}),
            ("ana", "dose_given", {}),
            ("ana", "discharge", {"override_reason": "ride is here", "by": "dr-lee"}),
            ("dr-lee", "discharge", {"override_reason": "transfer to the ED"}),
        ):
            await site.answer(await site.command(user, "chair-1", kind, **fields))  # type: ignore[arg-type]
        # The recorder commits in batches; the file is the ground truth, with no event to
        # wait on.
        async with asyncio.timeout(10):
            while len(list(Store(db).messages(types=["command_result"]))) < 4:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    store.close()
    day = datetime.now(UTC).astimezone().strftime("%Y-%m-%d")
    (tmp_path / "c.toml").write_text(f'[site]\nid = "{SITE}"\n')

    def audit(*more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor.cli", "audit", "--config", str(tmp_path / "c.toml"),
             "--db", str(db), "--day", day, *more],
            capture_output=True, text=True, timeout=60, cwd=tmp_path)

    proc = await asyncio.to_thread(audit, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = [(e["sender"], e["role"], e["type"], e["outcome"]) for e in json.loads(proc.stdout)]
    assert rows == [
        ("ana", "nurse", "start_session", "accepted"),
        ("ana", "nurse", "dose_given", "accepted"),
        ("ana", "nurse", "discharge", "refused"),
        ("dr-lee", "physician", "discharge", "accepted"),
    ]
    forged = json.loads(proc.stdout)[2]
    assert forged["claimed_by"] == "dr-lee" and "claims to be by" in forged["reasons"][0]
    text = (await asyncio.to_thread(audit)).stdout
    assert "dr-lee (physician)" in text and "override: transfer to the ED" in text

    # The QA report of the session names who did what, from the same answers.
    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "monitor.cli", *args, "--config",
                               str(tmp_path / "c.toml"), "--db", str(db)],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    session = json.loads(
        (await asyncio.to_thread(cli, "sessions", "--json")).splitlines()[0])["id"]
    report = json.loads(await asyncio.to_thread(cli, "report", session, "--format", "json"))
    assert report["discharge"]["by"] == "dr-lee"
    assert [(c["by"], c["role"], c["accepted"]) for c in report["commands"]][-2:] == [
        ("ana", "nurse", False), ("dr-lee", "physician", True)]


def _shipped_config(secure: SecureBroker, folder: Path) -> tuple[Path, int, int]:
    """deploy/mosquitto.conf with this test's paths and ports, nothing else changed."""
    from tests.brokers import free_port
    from tests.terminal.helpers import ROOT

    assert secure.tls is not None
    plain, tls = free_port(), free_port()
    text = (ROOT / "deploy" / "mosquitto.conf").read_text()
    for old, new in (
        ("/var/lib/mosquitto/", f"{folder}/"),
        ("/etc/chairside/users.passwd", str(secure.directory.passwd_path)),
        ("/etc/chairside/users.acl", str(secure.directory.acl_path)),
        ("/etc/chairside/tls/ca.crt", str(secure.tls.ca)),
        ("/etc/chairside/tls/broker.crt", str(secure.tls.cert)),
        ("/etc/chairside/tls/broker.key", str(secure.tls.key)),
        ("listener 1883 127.0.0.1", f"listener {plain} 127.0.0.1"),
        ("listener 8883", f"listener {tls} 127.0.0.1"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    import os
    if os.geteuid() == 0:
        text += "user root\n"
    conf = folder / "shipped.conf"
    conf.write_text(text)
    return conf, plain, tls


async def test_the_shipped_mosquitto_configuration_signs_in_and_speaks_tls(
    secure: SecureBroker, tmp_path: Path,
) -> None:
    from tests.brokers import _wait_listening, mosquitto_path

    conf, plain, tls = _shipped_config(secure, tmp_path)
    binary = mosquitto_path()
    assert binary is not None
    proc = await asyncio.create_subprocess_exec(binary, "-c", str(conf),
                                                stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL)
    try:
        await asyncio.to_thread(_wait_listening, tls)
        base = secure.settings("ana")
        over_tls = base.model_copy(update={"port": tls, "tls": True, "ca_file": secure.tls.ca})  # type: ignore[union-attr]
        async with connected(over_tls, "t-shipped-tls"):
            pass
        async with connected(base.model_copy(update={"port": plain}), "t-shipped"):
            pass
        anonymous = base.model_copy(update={"port": plain, "username": None, "password": None})
        with pytest.raises(BrokerRefused):
            async with connected(anonymous, "t-shipped-anon"):
                pass
        # The TLS listener speaks nothing else.
        with pytest.raises(aiomqtt.MqttError):
            async with connected(base.model_copy(update={"port": tls}), "t-shipped-plain"):
                pass
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
