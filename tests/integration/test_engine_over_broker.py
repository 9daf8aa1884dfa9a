"""The engine service over a real broker: raw JSON in (bad payloads included), alarms out;
a restart mid-session recovers the session without repeating its alarms."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime

import aiomqtt
import pytest

from drivers import topics
from drivers.clock import FakeClock
from drivers.mqtt import make_client
from drivers.mqtt_settings import MqttSettings
from drivers.wire import AlarmEvent, AnsweredCommands, ChairState, CommandResult, EngineStatus
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.brokers import Broker
from tests.integration.helpers import Observer, publish, running, site_filters, unique_site

pytestmark = pytest.mark.broker
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def raw_reading(chair: str, at: str, systolic: int, diastolic: int, rid: str) -> bytes:
    return json.dumps({
        "v": 1, "id": rid, "chair": chair, "device": "cuff", "source": "ble-2a35",
        "kind": "blood_pressure", "measured_at": at, "received_at": at,
        "values": {"systolic": systolic, "diastolic": diastolic}, "unit": "mm[Hg]",
    }).encode()


def raw_command(kind: str, at: str, cid: str, **fields: object) -> bytes:
    return json.dumps({"v": 1, "id": cid, "type": kind, "at": at, "by": "nurse", **fields}).encode()


async def test_raw_json_in_alarms_out_and_bad_payloads_counted(broker: Broker) -> None:
    site, chair = unique_site(), "chair-7"
    clock = FakeClock(T0)
    mqtt = broker.settings
    engine = EngineService(mqtt, site, EngineConfig(), clock, restore_wait_s=0.2,
                           tick_interval_s=0.1)
    observer = Observer(mqtt, site_filters(site))
    readings = topics.reading(site, chair, "blood_pressure")
    commands = topics.commands(site, chair)
    async with running(observer.run(), engine.run()):
        await observer.subscribed()
        await engine.connected.wait()
        at = "2026-01-05T09:00:00.000Z"
        await publish(mqtt, commands, raw_command("start_session", at, "c1",
                                                  patient_code="P-1", protocol="spravato"))
        await observer.wait_for(lambda p: isinstance(p, CommandResult) and p.id == "c1")
        for bad in (b"{oops", b"null", b'{"v":1}', raw_reading(chair, at, 999, 80, "bad-range"),
                    raw_reading("chair-8", at, 190, 80, "wrong-chair")):
            await publish(mqtt, readings, bad)
        await publish(mqtt, commands, b'{"v":1,"type":"self_destruct"}')
        await publish(mqtt, readings, raw_reading(chair, at, 132, 84, "r-base"))
        await observer.wait_for(lambda p: isinstance(p, ChairState) and "blood_pressure" in p.latest)
        clock.advance(60)
        await publish(mqtt, commands, raw_command("dose_given", "2026-01-05T09:01:00.000Z", "c2"))
        await observer.wait_for(lambda p: isinstance(p, CommandResult) and p.id == "c2")
        clock.advance(39 * 60)
        await publish(mqtt, readings, raw_reading(chair, "2026-01-05T09:40:00.000Z", 192, 112, "r-high"))
        alarm = await observer.wait_for(
            lambda p: isinstance(p, AlarmEvent) and p.condition == "bp_high" and p.event == "raised")
        assert alarm.priority == "high"
        assert alarm.reading_id == "r-high"
        assert "SYS 192 >= 180 mmHg" in alarm.message or "DIA 112 >= 110 mmHg" in alarm.message
        # every bad payload was counted, with its topic, and none stopped the engine
        assert engine.decoder.rejected[readings] == 5
        assert engine.decoder.rejected[commands] == 1
        # a duplicate delivery of the same reading id changes nothing
        await publish(mqtt, readings, raw_reading(chair, "2026-01-05T09:40:00.000Z", 192, 112, "r-high"))
        await publish(mqtt, commands, raw_command("dose_given", "2026-01-05T09:01:00.000Z", "c2"))
        marker = raw_command("manual_bp", "2026-01-05T09:40:00.000Z", "c3", systolic=150, diastolic=90)
        await publish(mqtt, commands, marker)
        await observer.wait_for(lambda p: isinstance(p, CommandResult) and p.id == "c3")
        raised = [a.alarm_id for a in observer.payloads(AlarmEvent) if a.event == "raised"]
        assert len(raised) == len(set(raised))
        high = [a for a in observer.payloads(AlarmEvent)
                if a.condition == "bp_high" and a.event == "raised"]
        assert len(high) == 1
        assert len([r for r in observer.payloads(CommandResult) if r.id == "c2"]) == 1


async def test_engine_restart_recovers_the_session_without_repeating_alarms(broker: Broker) -> None:
    site, chair = unique_site(), "chair-3"
    clock = FakeClock(T0)
    mqtt = broker.settings
    observer = Observer(mqtt, site_filters(site))
    readings = topics.reading(site, chair, "blood_pressure")
    commands = topics.commands(site, chair)
    async with running(observer.run()):
        await observer.subscribed()
        first = EngineService(mqtt, site, EngineConfig(), clock, restore_wait_s=0.2,
                              tick_interval_s=0.1)
        async with running(first.run()):
            await first.connected.wait()
            await publish(mqtt, commands, raw_command("start_session", "2026-01-05T09:00:00.000Z",
                                                      "s1", patient_code="P-9", protocol="spravato"))
            await publish(mqtt, readings, raw_reading(chair, "2026-01-05T09:00:00.000Z", 130, 80, "b1"))
            await observer.wait_for(lambda p: isinstance(p, ChairState) and "blood_pressure" in p.latest)
            clock.advance(60)
            await publish(mqtt, commands, raw_command("dose_given", "2026-01-05T09:01:00.000Z", "d1"))
            await observer.wait_for(lambda p: isinstance(p, CommandResult) and p.id == "d1")
            clock.advance(40 * 60)
            await publish(mqtt, readings, raw_reading(chair, "2026-01-05T09:41:00.000Z", 186, 100, "h1"))
            await observer.wait_for(lambda p: isinstance(p, AlarmEvent) and p.reading_id == "h1")
            await observer.wait_for(
                lambda p: isinstance(p, ChairState) and p.chair == chair and p.alarms
                and "blood_pressure" in p.latest and p.latest["blood_pressure"].reading_id == "h1")
        raised_before = [a for a in observer.payloads(AlarmEvent) if a.event == "raised"]

        clock.advance(30)
        second = EngineService(mqtt, site, EngineConfig(), clock, restore_wait_s=0.5,
                               tick_interval_s=0.1)
        async with running(second.run()):
            await second.connected.wait()
            state = await observer.wait_for(
                lambda p: isinstance(p, ChairState) and p.chair == chair
                and p.at >= clock.now())
            assert state.session is not None and state.session.patient_code == "P-9"
            assert state.session.first_dose_at == datetime(2026, 1, 5, 9, 1, tzinfo=UTC)
            assert any(a.condition == "bp_high" for a in state.alarms)
            # the same high reading again must not raise a second alarm
            await publish(mqtt, readings, raw_reading(chair, "2026-01-05T09:41:30.000Z", 187, 100, "h2"))
            await publish(mqtt, commands, raw_command("manual_bp", "2026-01-05T09:41:30.000Z",
                                                      "m1", systolic=150, diastolic=90))
            await observer.wait_for(lambda p: isinstance(p, CommandResult) and p.id == "m1")
        raised_after = [a for a in observer.payloads(AlarmEvent) if a.event == "raised"]
        assert [a.condition for a in raised_after if a.condition.startswith("bp_high")] == \
            [a.condition for a in raised_before if a.condition.startswith("bp_high")]


async def session_opened_then_engine_stopped(mqtt: MqttSettings, site: str, chair: str,
                                             clock: FakeClock, observer: Observer) -> None:
    """An engine that opens a Spravato session at ``chair`` (retained in its state), then
    stops: the next engine of the site starts from there."""
    engine = EngineService(mqtt, site, EngineConfig(), clock, restore_wait_s=0.2)
    async with running(engine.run()):
        await engine.connected.wait()
        await publish(mqtt, topics.commands(site, chair), raw_command(
            "start_session", "2026-01-05T09:00:00.000Z", "s1", patient_code="P-5",
            protocol="spravato"))
        await observer.wait_for(lambda p: isinstance(p, CommandResult) and p.id == "s1")
        await observer.wait_for(lambda p: isinstance(p, ChairState) and p.chair == chair
                                and p.session is not None)


async def test_inputs_sent_while_the_engine_was_down_are_applied_after_it_returns(
    broker: Broker,
) -> None:
    """The engine's persistent session makes the broker keep its inputs while it is away; they
    arrive during the restore of retained states and must be applied, not skipped."""
    site, chair = unique_site(), "chair-4"
    clock = FakeClock(T0)
    mqtt = broker.settings
    observer = Observer(mqtt, site_filters(site))
    commands = topics.commands(site, chair)
    async with running(observer.run()):
        await observer.subscribed()
        await session_opened_then_engine_stopped(mqtt, site, chair, clock, observer)
        # The engine is away: a reading and a command wait at the broker.
        clock.advance(60)
        await publish(mqtt, topics.reading(site, chair, "blood_pressure"),
                      raw_reading(chair, "2026-01-05T09:01:00.000Z", 128, 79, "away-1"))
        await publish(mqtt, commands, raw_command("dose_given", "2026-01-05T09:01:00.000Z", "away-2"))
        second = EngineService(mqtt, site, EngineConfig(), clock, restore_wait_s=0.5,
                               tick_interval_s=0.1)
        async with running(second.run()):
            answer = await observer.wait_for(
                lambda p: isinstance(p, CommandResult) and p.id == "away-2")
            assert answer.accepted, answer
            state = await observer.wait_for(
                lambda p: isinstance(p, ChairState) and p.chair == chair
                and "blood_pressure" in p.latest and p.session is not None
                and p.session.first_dose_at is not None)
            assert state.latest["blood_pressure"].reading_id == "away-1"


class DiesBeforePublishing(EngineService):
    """An engine that handles its inputs and then never gets to publish (a crash between
    the two)."""

    def _send(self, client: aiomqtt.Client, topic: str, payload: bytes | str, retain: bool,
              sent: Callable[[], None]) -> None:
        pass


async def test_an_input_is_acknowledged_only_once_its_effects_are_published(
    broker: Broker,
) -> None:
    site, chair = unique_site(), "chair-5"
    clock = FakeClock(T0)
    mqtt = broker.settings
    observer = Observer(mqtt, site_filters(site))
    commands = topics.commands(site, chair)
    async with running(observer.run()):
        await observer.subscribed()
        await session_opened_then_engine_stopped(mqtt, site, chair, clock, observer)
        doomed = DiesBeforePublishing(mqtt, site, EngineConfig(), clock, restore_wait_s=0.2)
        async with running(doomed.run()):
            await doomed.connected.wait()
            await publish(mqtt, commands, raw_command("dose_given", "2026-01-05T09:01:00.000Z", "d1"))
            for _ in range(200):
                await asyncio.sleep(0.01)
                session = doomed.engine.states(clock.now())[0].session
                if session is not None and session.first_dose_at is not None:
                    break
            else:
                raise AssertionError("the doomed engine never handled the dose")
        assert not [r for r in observer.payloads(CommandResult) if r.id == "d1"]
        # The broker still holds the unacknowledged dose and gives it to the next engine.
        second = EngineService(mqtt, site, EngineConfig(), clock, restore_wait_s=0.5)
        async with running(second.run()):
            answer = await observer.wait_for(
                lambda p: isinstance(p, CommandResult) and p.id == "d1")
            assert answer.accepted, answer
            await observer.wait_for(
                lambda p: isinstance(p, ChairState) and p.session is not None
                and p.session.first_dose_at == datetime(2026, 1, 5, 9, 1, tzinfo=UTC))


async def test_a_command_delivered_again_after_a_restart_is_answered_not_applied(
    broker: Broker,
) -> None:
    """The engine keeps its answers on a retained topic of their own (not in every state):
    the next engine takes them back, and a dose delivered again counts once."""
    site, chair = unique_site(), "chair-6"
    clock = FakeClock(T0)
    mqtt = broker.settings
    observer = Observer(mqtt, site_filters(site))
    commands = topics.commands(site, chair)
    dose = raw_command("dose_given", "2026-01-05T09:01:00.000Z", "d1")
    async with running(observer.run()):
        await observer.subscribed()
        first = EngineService(mqtt, site, EngineConfig(), clock, restore_wait_s=0.2)
        async with running(first.run()):
            await first.connected.wait()
            await publish(mqtt, commands, raw_command(
                "start_session", "2026-01-05T09:00:00.000Z", "s1", patient_code="P-6",
                protocol="spravato"))
            await publish(mqtt, commands, dose)
            await observer.wait_for(lambda p: isinstance(p, AnsweredCommands)
                                    and [a.id for a in p.answered] == ["s1", "d1"])
            await observer.wait_for(lambda p: isinstance(p, ChairState) and p.session is not None
                                    and p.session.doses_given == 1)
        assert all(b"d1" not in s.to_json() for s in observer.payloads(ChairState))
        second = EngineService(mqtt, site, EngineConfig(), clock, restore_wait_s=0.5)
        async with running(second.run()):
            await second.connected.wait()
            await publish(mqtt, commands, dose)
            again = await observer.wait_for(
                lambda p: isinstance(p, CommandResult) and p.id == "d1"
                and p.reasons == ["answered before the engine restarted"])
            assert again.accepted
            await publish(mqtt, commands, raw_command(
                "manual_bp", "2026-01-05T09:02:00.000Z", "m1", systolic=120, diastolic=80))
            await observer.wait_for(lambda p: isinstance(p, CommandResult) and p.id == "m1")
            state = await observer.wait_for(
                lambda p: isinstance(p, ChairState) and p.session is not None
                and "blood_pressure" in p.latest)
            assert state.session is not None and state.session.doses_given == 1


@pytest.mark.parametrize("waiting", [0, 19, 20, 500, 5000])
async def test_a_restarted_engine_recovers_its_sessions_whatever_the_broker_holds_for_it(
    broker: Broker, waiting: int,
) -> None:
    """The broker sends a client at most its in-flight window (Mosquitto: 20) of messages it
    has not acknowledged. The inputs queued for the engine's persistent session come first,
    so an engine that reads retained states on that same session, holding the inputs back
    until the restore, never sees the states behind them. Ground truth: the chair's session is
    back, every waiting reading is applied in order, and a high BP after them alarms."""
    site, chair = unique_site(), "chair-6"
    clock = FakeClock(T0)
    mqtt = broker.settings
    observer = Observer(mqtt, site_filters(site))
    async with running(observer.run()):
        await observer.subscribed()
        await session_opened_then_engine_stopped(mqtt, site, chair, clock, observer)
        topic = topics.reading(site, chair, "blood_pressure")
        async with make_client(mqtt, "pub-" + unique_site()) as client:
            for n in range(waiting):
                await client.publish(topic, raw_reading(
                    chair, "2026-01-05T09:00:30.000Z", 120 + n % 20, 80, f"w{n}"), qos=1)
        second = EngineService(mqtt, site, EngineConfig(), clock, restore_wait_s=5.0,
                               tick_interval_s=0.1)
        async with running(second.run()):
            await second.connected.wait()
            if waiting:
                state = await observer.wait_for(
                    lambda p: isinstance(p, ChairState) and p.chair == chair
                    and "blood_pressure" in p.latest
                    and p.latest["blood_pressure"].reading_id == f"w{waiting - 1}", within=60)
                assert state.session is not None and state.session.patient_code == "P-5"
            await publish(mqtt, commands_topic := topics.commands(site, chair), raw_command(
                "manual_bp", "2026-01-05T09:00:40.000Z", "m-high", systolic=192, diastolic=100))
            answer = await observer.wait_for(
                lambda p: isinstance(p, CommandResult) and p.id == "m-high", within=60)
            assert answer.accepted, (answer, commands_topic)
            alarm = await observer.wait_for(
                lambda p: isinstance(p, AlarmEvent) and p.chair == chair
                and p.condition.startswith("bp_high") and p.event == "raised")
            assert alarm.priority == "high"
        states = [p for p in observer.payloads(ChairState) if p.chair == chair]
        assert all(s.session is not None for s in states), "a chair with a session shown idle"


async def test_only_the_sites_chairs_appear_and_refusals_are_in_the_engine_status(
    broker: Broker,
) -> None:
    """A well-formed reading for a chair the site does not have is refused, not turned into a
    ghost chair on every screen; the engine's status counts it with the reason."""
    site = unique_site()
    clock = FakeClock(T0)
    mqtt = broker.settings
    engine = EngineService(mqtt, site, EngineConfig(), clock, chairs=["chair-1"],
                           restore_wait_s=0.5, tick_interval_s=0.05)
    observer = Observer(mqtt, site_filters(site))
    async with running(observer.run(), engine.run()):
        await observer.subscribed()
        await engine.connected.wait()
        at = "2026-01-05T09:00:00.000Z"
        await publish(mqtt, topics.reading(site, "chair-99", "blood_pressure"),
                      raw_reading("chair-99", at, 190, 80, "ghost"))
        await publish(mqtt, topics.reading(site, "chair-1", "blood_pressure"),
                      raw_reading("chair-1", at, 130, 80, "real"))
        await observer.wait_for(lambda p: isinstance(p, ChairState) and p.chair == "chair-1"
                                and "blood_pressure" in p.latest)
        status = await observer.wait_for(
            lambda p: isinstance(p, EngineStatus) and p.rejected >= 1)
        assert "chair-99" in (status.last_rejected or "")
        assert "not one of this site's chairs" in (status.last_rejected or "")
    assert {s.chair for s in observer.payloads(ChairState)} == {"chair-1"}


async def test_a_chair_whose_state_cannot_be_read_says_so_on_every_screen(
    broker: Broker,
) -> None:
    """A retained state the restarted engine cannot read may hide an open session: the chair
    shows a high alarm, latched, instead of looking idle; the other chair is recovered."""
    site, lost, fine = unique_site(), "chair-1", "chair-2"
    clock = FakeClock(T0)
    mqtt = broker.settings
    first = EngineService(mqtt, site, EngineConfig(), clock, chairs=[lost, fine],
                          restore_wait_s=2.0, tick_interval_s=0.05)
    observer = Observer(mqtt, site_filters(site))
    at = "2026-01-05T09:00:00.000Z"
    async with running(observer.run()):
        await observer.subscribed()
        async with running(first.run()):
            await first.connected.wait()
            await publish(mqtt, topics.commands(site, fine),
                          raw_command("start_session", at, "s1", patient_code="P-1",
                                      protocol="spravato"))
            await observer.wait_for(lambda p: isinstance(p, ChairState) and p.chair == fine
                                    and p.session is not None)
            await asyncio.sleep(0.5)
        # What the broker keeps for chair-1 is damaged.
        await publish(mqtt, topics.state(site, lost), b'{"v":1,"chair":"chair-1","at":', retain=True)
        observer.received.clear()
        second = EngineService(mqtt, site, EngineConfig(), clock, chairs=[lost, fine],
                               restore_wait_s=2.0, tick_interval_s=0.05)
        async with running(second.run()):
            shown = await observer.wait_for(
                lambda p: isinstance(p, ChairState) and p.chair == lost
                and any(a.condition == "state_not_recovered" for a in p.alarms))
            (alarm,) = shown.alarms
            assert alarm.priority == "high" and alarm.kind == "technical" and alarm.latching
            assert "unreadable" in alarm.message and "check the patient" in alarm.message
            raised = await observer.wait_for(
                lambda p: isinstance(p, AlarmEvent) and p.condition == "state_not_recovered")
            assert raised.chair == lost
            other = await observer.wait_for(lambda p: isinstance(p, ChairState)
                                            and p.chair == fine)
            assert other.session is not None
            assert all(a.condition != "state_not_recovered" for a in other.alarms)


async def test_unreadable_retained_answers_are_logged_and_the_session_still_recovered(
    broker: Broker, caplog: pytest.LogCaptureFixture,
) -> None:
    """Damaged answers lose only the redelivery protection, which the log says: the chair's
    readable state still brings its session back, with no alarm that it was lost."""
    site, chair = unique_site(), "chair-4"
    clock = FakeClock(T0)
    mqtt = broker.settings
    observer = Observer(mqtt, site_filters(site))
    async with running(observer.run()):
        await observer.subscribed()
        await session_opened_then_engine_stopped(mqtt, site, chair, clock, observer)
        await publish(mqtt, topics.answered(site, chair), b'{"v":1,"chair":', retain=True)
        observer.received.clear()
        second = EngineService(mqtt, site, EngineConfig(), clock, restore_wait_s=2.0,
                               tick_interval_s=0.05)
        with caplog.at_level("ERROR", logger="monitor.engine_service"):
            async with running(second.run()):
                state = await observer.wait_for(
                    lambda p: isinstance(p, ChairState) and p.chair == chair)
        assert state.session is not None and state.session.patient_code == "P-5"
        assert all(a.condition != "state_not_recovered" for a in state.alarms)
        assert any("retained answers" in r.getMessage() and "unreadable" in r.getMessage()
                   for r in caplog.records)
