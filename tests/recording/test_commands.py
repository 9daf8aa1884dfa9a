"""The recording's commands, as a person runs them: sessions, export, replay, report."""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import json
import random
import sqlite3
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from drivers import topics
from drivers.clock import FakeClock
from drivers.mqtt import QOS, make_client
from drivers.payloads import PayloadDecoder
from drivers.wire import (
    AlarmEvent,
    Assessment,
    CommandResult,
    Discharge,
    DoseGiven,
    EndSession,
    StartSession,
)
from monitor.engine import EngineConfig
from monitor.recording import export, fhir, wirelog
from monitor.recording.commands import COMMANDS
from monitor.recording.recorder import Recorder
from monitor.recording.replay import Replay, alarm_events
from monitor.recording.store import Store
from tests.brokers import Broker
from tests.integration.helpers import running, unique_site
from tests.recording.offline import SPO2_ALARM, record_offline, record_site
from tests.recording.scenario import SITE, START, at, hr, spravato_inputs

SESSION = "chair-1-20260105-090000"
NO_CONFIG = Path("/nonexistent-on-purpose")


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("rec") / "recording.db"
    record_offline(db).close()
    return db


def run(*args: str, config: Path | None = None) -> str:
    command = {c.name: c for c in COMMANDS}[args[0]]
    extra = ["--config", str(config)] if config else []
    result = CliRunner().invoke(command, [*args[1:], *extra], catch_exceptions=False,
                                env={"CHAIRSIDE_CONFIG": ""})
    assert result.exit_code == 0, result.output
    return result.output


def test_sessions_lists_chair_patient_protocol_times_minutes_and_alarms(recording: Path) -> None:
    lines = run("sessions", "--db", str(recording)).splitlines()
    assert lines[0].split() == ["SESSION", "CHAIR", "PATIENT", "PROTOCOL", "START", "END",
                                "MIN", "ALARMS", "H/M/L"]
    assert lines[1].split() == [SESSION, "chair-1", "P-0042", "spravato", "2026-01-05",
                                "09:00", "2026-01-05", "11:06", "121.0", "1/2/3"]
    (row,) = [json.loads(line) for line in run("sessions", "--db", str(recording),
                                               "--json").splitlines()]
    assert row["end"] == "discharged" and row["alarms"] == {"high": 1, "medium": 2, "low": 3}


def test_export_jsonl_is_the_wire_log(recording: Path) -> None:
    text = run("export", SESSION, "--db", str(recording))
    lines = [json.loads(line) for line in text.splitlines()]
    assert {"topic", "received_at", "payload"} <= lines[0].keys()
    assert lines[0]["payload"]["type"] == "start_session"
    assert lines[-1]["received_at"] >= "2026-01-05T11:06:00.000Z"
    log = wirelog.read_lines(text.splitlines())
    assert not log.bad and len(log.records) == len(lines)


def test_export_csv_has_one_row_per_reading(recording: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(run("export", SESSION, "--db", str(recording),
                                               "--format", "csv"))))
    kinds = Counter(r["kind"] for r in rows)
    assert kinds == {"blood_pressure": 8, "spo2": 757, "heart_rate": 757}
    first_bp = next(r for r in rows if r["kind"] == "blood_pressure")
    assert (first_bp["systolic"], first_bp["diastolic"], first_bp["measured_at"]) == (
        "128", "82", "2026-01-05T09:02:00.000Z")


def test_export_fhir_is_a_valid_r4_bundle_of_vital_signs(recording: Path) -> None:
    bundle_model = pytest.importorskip(
        "fhir.resources.R4B.bundle", reason="fhir.resources is in the test extra").Bundle
    data = json.loads(run("export", SESSION, "--db", str(recording), "--format", "fhir"))
    bundle_model.model_validate(copy.deepcopy(data))  # raises on anything FHIR does not allow
    resources = [e["resource"] for e in data["entry"]]
    assert resources[0]["resourceType"] == "Patient"
    assert resources[0]["identifier"][0]["value"] == "P-0042"
    codes = Counter(r["code"]["coding"][0]["code"] for r in resources[1:])
    assert codes == {fhir.BP_PANEL[0]: 8, fhir.SPO2_PULSE_OX[0]: 757,
                     fhir.PULSE_OX_RATE[0]: 757, fhir.HEART_RATE[0]: 757}
    bp = next(r for r in resources[1:] if r["code"]["coding"][0]["code"] == "85354-9")
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"],
             c["valueQuantity"]["code"], c["valueQuantity"]["system"])
            for c in bp["component"]] == [("8480-6", 128.0, "mm[Hg]", fhir.UCUM),
                                          ("8462-4", 82.0, "mm[Hg]", fhir.UCUM)]
    sat = next(r for r in resources[1:] if r["code"]["coding"][0]["code"] == "59408-5")
    assert [c["code"] for c in sat["code"]["coding"]] == ["59408-5", "2708-6"]
    assert sat["valueQuantity"]["code"] == "%"
    assert sat["category"][0]["coding"][0]["code"] == "vital-signs"
    # An anonymised bundle names no patient and no real date.
    anon = json.loads(run("export", SESSION, "--db", str(recording), "--format", "fhir",
                          "--anonymize"))
    bundle_model.model_validate(copy.deepcopy(anon))
    assert "identifier" not in anon["entry"][0]["resource"]
    assert "P-0042" not in json.dumps(anon) and "2026-01-05" not in json.dumps(anon)


def test_anonymized_log_names_nobody_and_replays_the_same_alarms_shifted() -> None:
    records = spravato_inputs(ack_alarm_id=SPO2_ALARM)
    offset = export.random_offset(random.Random(7))
    anon = export.anonymize(records, offset)
    text = "\n".join(wirelog.to_line(r) for r in anon)
    assert "P-0042" not in text and "2026-01-05" not in text
    assert all(b.received_at - a.received_at == offset for a, b in zip(records, anon,
                                                                        strict=True))
    before = alarm_events(Replay(wirelog.WireLog(records), EngineConfig()).run())
    after = alarm_events(Replay(wirelog.read_lines(text.splitlines()), EngineConfig()).run())
    assert [(e.id, e.event, e.at + offset) for e in before] == [
        (e.id, e.event, e.at) for e in after]


@pytest.mark.parametrize("code", ["5", "90"])
def test_a_patient_code_that_ids_and_messages_also_hold_is_replaced_only_where_it_names(
    code: str,
) -> None:
    """A numeric code equal to an alarm's number (ids ``chair-1:spo2_low:5``) or a reading's
    value (messages ``SpO2 90 < 92 %``): those stay, so the acknowledgement still finds its
    alarm and the copy replays to the same alarms."""
    records = [wirelog.WireRecord(r.topic, r.received_at,
                                  r.payload.replace(b'"P-0042"', f'"{code}"'.encode()))
               for r in spravato_inputs(ack_alarm_id=SPO2_ALARM)]
    offset = timedelta(days=-400)
    anon = export.anonymize(records, offset)
    assert all(r.invalid is None for r in anon)
    before = alarm_events(Replay(wirelog.WireLog(records), EngineConfig()).run())
    after = alarm_events(Replay(wirelog.WireLog(anon), EngineConfig()).run())
    assert any(e.event == "acknowledged" for e in after)
    assert [(e.id, e.event, e.message, e.at + offset) for e in before] == [
        (e.id, e.event, e.message, e.at) for e in after]


START_CUT_SHORT = b'{"v":1,"type":"start_session","by":"nurse","patient_code":"P-0042","prot'
"""A start whose sender stopped mid-payload: not JSON, yet it holds the patient's code."""


def test_what_cannot_be_scrubbed_does_not_leave_in_an_anonymised_log() -> None:
    topic = topics.commands(SITE, "chair-1")
    twice = json.dumps(START_CUT_SHORT.decode() + '"}').encode()  # a JSON string, not an object
    year_one = hr("chair-1", START, 70).model_copy(update={"measured_at": datetime.min.replace(
        tzinfo=UTC)}).to_json()  # a monitor whose clock was never set
    records = [
        wirelog.WireRecord(topic, START, START_CUT_SHORT, invalid="not JSON"),
        wirelog.WireRecord(topic, START, twice, invalid="payload: Input should be an object"),
        wirelog.WireRecord(topic, START, b"\xffP-0042\xfe"),  # not UTF-8
        wirelog.WireRecord(topic, START, b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}"),
        wirelog.WireRecord(topics.reading(SITE, "chair-1", "heart_rate"), START, year_one),
        wirelog.WireRecord(topic, START, b"", invalid="empty payload (a retained message deleted)"),
        wirelog.WireRecord(topic, START, b'{"patient_code":420042,"by":"nurse"}'),
    ]
    anon = export.anonymize(records, timedelta(days=-400))
    assert [(r.payload, r.invalid) for r in anon[:6]] == [
        (b"", export.INVALID), (b"", export.INVALID), (b"", export.UNREADABLE),
        (b"", export.UNREADABLE), (b"", export.UNSHIFTABLE),
        (b"", "empty payload (a retained message deleted)")]
    assert json.loads(anon[6].payload) == {"patient_code": export.ANONYMOUS, "by": "nurse"}
    assert all(r.received_at == START - timedelta(days=400) for r in anon)


def test_an_anonymised_log_names_the_patient_nowhere_and_keeps_no_free_text() -> None:
    """The code under its own key, wherever it appears in text (the engine's refusal of a
    second start names the open session's patient), and in no free text; what is replaced
    still reads as the message it was, so the copy replays."""
    topic = topics.commands(SITE, "chair-1")
    said = [
        DoseGiven(at=START, by="nurse", detail="Jane Doe, 2nd device"),
        Assessment(at=START, by="nurse", sedation="none", dissociation="none",
                   respiration="normal", note="Jane Doe is fine"),
        Discharge(at=START, by="nurse", override_reason="Jane Doe's husband drove her"),
        EndSession(at=START, by="nurse", reason="Jane Doe left early"),
    ]
    refused = CommandResult(
        id="c-1", chair="chair-1", type="start_session", accepted=False, at=START,
        reasons=["chair chair-1 already has an open session (patient P-0042, observation)",
                 "P-00421 and xP-0042 are other codes"], by="nurse")
    records = [wirelog.WireRecord(topic, START, StartSession(
        at=START, by="nurse", patient_code="P-0042", protocol="spravato").to_json()),
        *(wirelog.WireRecord(topic, START, c.to_json()) for c in said),
        wirelog.WireRecord(topics.command_results(SITE, "chair-1"), START, refused.to_json())]
    anon = export.anonymize(records, timedelta(days=-400))
    text = "\n".join(wirelog.to_line(r) for r in anon)
    assert "P-0042\"" not in text and "P-0042," not in text and "Jane" not in text
    decoder = PayloadDecoder()
    payloads = [d.payload for r in anon if (d := decoder.decode(r.topic, r.payload))]
    assert len(payloads) == len(records) and not decoder.rejected, decoder.last_error
    assert [getattr(p, name) for p, name in zip(
        payloads[1:5], ["detail", "note", "override_reason", "reason"], strict=True)] == [
        export.FREE_TEXT_WITHHELD] * 4
    assert payloads[-1].reasons == [  # type: ignore[union-attr]
        "chair chair-1 already has an open session (patient ANON, observation)",
        "P-00421 and xP-0042 are other codes"]


def test_the_engines_own_refusal_does_not_name_the_patient_in_an_anonymised_export(
    tmp_path: Path,
) -> None:
    """Through the engine and the recorder: a second start on an occupied chair is refused
    in words naming the open session's patient; the export keeps them, the anonymised one
    does not."""
    records = spravato_inputs()
    records.append(wirelog.WireRecord(topics.commands(SITE, "chair-1"), at(9, 20), StartSession(
        at=at(9, 20), by="nurse", patient_code="P-0099", protocol="spravato",
        dose_mg=56).to_json()))
    records.sort(key=lambda r: r.received_at)
    db = tmp_path / "rec.db"
    record_offline(db, records).close()
    plain = run("export", SESSION, "--db", str(db))
    assert "already has an open session (patient P-0042," in plain
    anonymised = run("export", SESSION, "--db", str(db), "--anonymize")
    assert "already has an open session (patient ANON," in anonymised
    assert "P-0042" not in anonymised and "P-0099" not in anonymised


@pytest.mark.broker
async def test_a_senders_garbage_exports_as_it_came_and_never_leaves_anonymised(
    broker: Broker, tmp_path: Path
) -> None:
    """Garbage in a session, through a broker and the recorder: a payload nested 2,000 deep,
    a start cut short with the patient's code in it, bytes that are not UTF-8. The export
    gives each back as it was sent; the anonymised export leaves each out, says so on its
    line and names nobody; the report of either names those lines and is otherwise made."""
    site, db = unique_site(), tmp_path / "rec.db"
    store = Store(db)
    record_site(store, site)
    deep = b'{"v":1,"x":' + b"[" * 2000 + b"]" * 2000 + b"}"  # kept whole: under 4 kB
    sent = [(topics.reading(site, "chair-1", "spo2"), deep),
            (topics.commands(site, "chair-1"), START_CUT_SHORT),
            (topics.reading(site, "chair-1", "heart_rate"), b"\xff\xfe\x00P-0042")]
    recorder = Recorder(broker.settings, site, store, FakeClock(START + timedelta(minutes=30)))
    async with running(recorder.run()):
        await recorder.connected.wait()
        async with make_client(broker.settings, "junk-" + site) as client:
            for topic, payload in sent:
                await client.publish(topic, payload, qos=QOS)
        await recorder.wait_recorded(len(sent))
    store.close()
    assert recorder.invalid == len(sent)

    exported, anonymised = tmp_path / "session.jsonl", tmp_path / "anonymised.jsonl"
    run("export", SESSION, "--db", str(db), "-o", str(exported))
    run("export", SESSION, "--db", str(db), "--anonymize", "-o", str(anonymised))
    log = wirelog.read(exported)
    assert not log.bad
    assert [(r.topic, r.payload) for r in log.records if r.invalid] == sent
    text = anonymised.read_text()
    assert "P-0042" not in text
    withheld = [r for r in wirelog.read(anonymised).records if r.invalid == export.INVALID]
    assert [(r.topic, r.payload) for r in withheld] == [(t, b"") for t, _ in sent]
    for path in (exported, anonymised):
        said = run("report", str(path), "--format", "json", "-o", str(tmp_path / "r.json"))
        report = json.loads((tmp_path / "r.json").read_text())
        assert len(report["problems"]) == len(sent), report["problems"]
        assert all(topic in problem for (topic, _), problem in zip(sent, report["problems"],
                                                                   strict=True))
        assert said.count(": line ") == len(sent)  # and told to whoever runs it
        assert report["alarms"], "the session's own alarms are still reported"


def test_replay_headless_prints_the_alarm_timeline_as_recorded(recording: Path) -> None:
    out = run("replay", SESSION, "--db", str(recording), "--headless")
    lines = out.splitlines()
    assert lines[0] == ("2026-01-05 09:00:00.000 chair-1 raised low bp_check_due: "
                        "BP check pre_dose due before dosing")
    assert "2026-01-05 09:50:40.000 chair-1 acknowledged high spo2_low by nurse: " \
           "SpO2 87 < 88 %" in lines
    assert lines[-1].endswith("alarm events, the same as the recording")


def test_replay_under_other_limits_shows_which_alarms_differ(
    recording: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[engine.escalation_s]\nhigh = 60.0\nmedium = 60.0\n")
    out = run("replay", SESSION, "--db", str(recording), "--headless", config=other)
    assert "2 alarm events differ from the recording:" in out
    assert ("- 2026-01-05 09:46:00.000 chair-1 escalated medium bp_high: SYS 165 >= 160 mmHg "
            "(not acknowledged for 120 s)") in out
    assert ("+ 2026-01-05 09:45:00.000 chair-1 escalated medium bp_high: SYS 165 >= 160 mmHg "
            "(not acknowledged for 60 s)") in out


def test_report_from_the_recording_and_from_a_file_agree(recording: Path, tmp_path: Path) -> None:
    from_db = json.loads(run("report", SESSION, "--db", str(recording), "--format", "json"))
    log = tmp_path / "session.jsonl"
    run("export", SESSION, "--db", str(recording), "-o", str(log))
    from_file = json.loads(run("report", str(log), "--format", "json"))
    assert from_db["session"]["monitoring_min"] == 121.0
    for key in ("session", "blood_pressure", "spo2", "heart_rate", "alarms", "compliance"):
        assert from_db[key] == from_file[key], key
    html = tmp_path / "report.html"
    run("report", str(log), "-o", str(html))
    assert html.read_text().startswith("<!DOCTYPE html>")
    zoned = tmp_path / "zoned.toml"
    zoned.write_text('[site]\ntimezone = "Asia/Kolkata"\n')
    run("report", str(log), "-o", str(html), config=zoned)
    assert "all times Asia/Kolkata (UTC+05:30)" in html.read_text()


def test_unknown_session_is_one_line_and_exit_2(recording: Path) -> None:
    command = {c.name: c for c in COMMANDS}["report"]
    result = CliRunner().invoke(command, ["chair-9", "--db", str(recording)],
                                env={"CHAIRSIDE_CONFIG": ""})
    assert result.exit_code == 2
    assert "no recorded session 'chair-9'" in result.output


def test_the_commands_are_on_the_chairside_command() -> None:
    import click

    from monitor.cli import main

    ctx = click.Context(main)
    names = {"record", "sessions", "export", "replay", "report"}
    assert names <= set(main.list_commands(ctx))
    assert all(main.get_command(ctx, name) is not None for name in names)


@pytest.mark.broker
async def test_record_command_records_the_site(broker: Broker, tmp_path: Path) -> None:
    """``chairside record`` as a process: it records the site until stopped."""
    site, db = unique_site(), tmp_path / "rec.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from monitor.recording.commands import record; record()",
        "--broker", f"mqtt://127.0.0.1:{broker.port}", "--site", site, "--db", str(db),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with make_client(broker.settings, "pub-" + site) as client:
            sent = 0

            async def send() -> bool:
                nonlocal sent
                reading = hr("chair-1", START + timedelta(seconds=sent), 70)
                await client.publish(topics.reading(site, "chair-1", "heart_rate"),
                                     reading.to_json(), qos=QOS)
                sent += 1
                return True

            # Probe until it has subscribed (messages before that are not the site's yet).
            assert await _within(20, lambda: _count(db) > 0, send)
            for _ in range(5):
                await send()
            assert await _within(20, lambda: _count(db) >= 6)
    finally:
        proc.terminate()
        await proc.wait()


async def _within(seconds: float, done: Callable[[], bool],
                  each: Callable[[], Awaitable[bool]] | None = None) -> bool:
    """Poll ``done`` every 0.1 s (doing ``each`` first), for at most ``seconds``."""
    for _ in range(int(seconds * 10)):
        if done():
            return True
        if each is not None:
            await each()
        await asyncio.sleep(0.1)
    return done()


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    with closing(sqlite3.connect(db)) as conn:
        try:
            (n,) = conn.execute("SELECT COUNT(*) FROM messages").fetchone()
        except sqlite3.OperationalError:  # not created yet
            return 0
    return int(n)


def test_replay_names_a_brief_technical_alarm_only_the_recording_had(
    recording: Path, tmp_path: Path
) -> None:
    # The live engine raised no_data and cleared it half a second later (a reading that ended
    # a silence just past its limit reached it late); the replay, at the recorder's times,
    # never saw the silence pass the limit.
    log = tmp_path / "session.jsonl"
    lines = run("export", SESSION, "--db", str(recording), "--format", "jsonl").splitlines()
    at = START + timedelta(minutes=30)
    for event, when in (("raised", at), ("cleared", at + timedelta(seconds=0.5))):
        alarm = AlarmEvent(alarm_id="blip", chair="chair-1", condition="no_data",
                           kind="technical", priority="medium", event=event, at=when,
                           message="heart rate: no data > 30 s")
        lines.append(wirelog.to_line(wirelog.WireRecord(
            topics.alarms(SITE, "chair-1"), when, alarm.to_json())))
    log.write_text("\n".join(lines) + "\n")
    out = run("replay", str(log), "--headless").splitlines()
    verdict = next(i for i, line in enumerate(out) if "alarm events, the same as" in line)
    assert out[verdict].endswith("the same as the recording, but for 2 events of technical "
                                 "alarms that only one run raised, and cleared within the "
                                 "timing the runs cannot tell apart:")
    assert out[verdict + 1:] == [
        "~ 2026-01-05 09:30:00.000 chair-1 raised medium no_data: heart rate: no data > 30 s",
        "~ 2026-01-05 09:30:00.500 chair-1 cleared medium no_data: heart rate: no data > 30 s",
    ]
