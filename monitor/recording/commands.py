"""The recording's commands: ``record``, ``sessions``, ``export``, ``replay``, ``report``.

A SESSION argument is a session id from ``chairside sessions`` (or a prefix naming only one;
``site/id`` in a store that several sites share) in the recording; a FILE argument is a
wire log (``.jsonl``) exported before. A problem with the input is one line on standard
error and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from drivers.clock import WallClock
from drivers.wire import parse_time
from monitor.cli_support import (
    broker_options,
    config_option,
    fail_config,
    run_async,
    settings_from,
)
from monitor.config import ConfigError, Settings, load_settings
from monitor.engine import EngineConfig

from . import export as exporting
from . import fhir, rems_form, report_html, wirelog
from .replay import Grid, Replay, alarm_events, compare, prepare, timeline_line
from .report import ReportError, build
from .store import RecordingStore, StoreError, is_url, open_store, store_errors
from .wirelog import WireRecord

EXIT_INPUT = 2


def _fail(message: str) -> None:
    click.echo(f"chairside: {message}", err=True)
    sys.exit(EXIT_INPUT)


F = TypeVar("F", bound=Callable[..., Any])


def _db_option(func: F) -> F:
    return click.option(
        "--db", "db", default=None, metavar="FILE|URL",
        help="recording file, or a postgresql:// URL (default: [recorder].store, else .path)",
    )(func)


def _where(settings: Settings, db: str | None) -> str | Path:
    return (db if is_url(db) else Path(db)) if db else settings.recorder.where()


def _open_store(settings: Settings, db: str | None, *, create: bool = False) -> RecordingStore:
    where = _where(settings, db)
    if not create and not is_url(where) and not Path(where).is_file():
        _fail(f"no recording at {where} (run `chairside record`, or give --db)")
    try:
        return open_store(where)
    except StoreError as exc:
        _fail(str(exc))
    raise AssertionError  # pragma: no cover


def _load(settings: Settings, db: str | None, source: str) -> tuple[wirelog.WireLog, str]:
    """A wire log from a file, or a session's from the recording."""
    path = Path(source)
    if path.suffix == ".jsonl" or path.is_file():
        if not path.is_file():
            _fail(f"{path}: no such file")
        return wirelog.read(path), str(path)
    with _open_store(settings, db) as store:
        try:
            log = _session_log(store, source)
        except KeyError as exc:
            _fail(str(exc.args[0]))
        return log, log.source


def _session_log(store: RecordingStore, source: str) -> wirelog.WireLog:
    """A recorded session's wire log; KeyError when the recording has no such session."""
    session = store.find_session(source)
    return wirelog.WireLog(exporting.session_records(store, session), [], session.name)


def _out(output: Path | None) -> TextIO:
    if output is None:
        return sys.stdout
    return output.open("w", encoding="utf-8", newline="")


def _engine_config(path: Path) -> EngineConfig:
    try:
        return load_settings(path).engine
    except ConfigError as exc:
        fail_config(str(exc))


@click.command()
@broker_options
@_db_option
def record(config: Path | None, broker: str | None, site: str | None, db: str | None) -> None:
    """Record every message of the site (persistent session; nothing lost on restarts)."""
    # Imported here: the recorder brings the MQTT client, which no other command here needs.
    from .recorder import Recorder

    settings = settings_from(config, broker, site)
    store = _open_store(settings, db, create=True)
    recorder = Recorder(settings.mqtt, settings.site.id, store, WallClock(),
                        retention_days=settings.recorder.retention_days)

    async def go() -> int:
        try:
            await recorder.run()
        except store_errors() as exc:
            # Nothing of the batch was acknowledged: the broker gives it again to the
            # recorder that systemd starts next.
            click.echo(f"chairside: the recording store failed: {exc}", err=True)
            return 1
        finally:
            store.close()
        return 0

    sys.exit(run_async(go()))


@click.command()
@config_option
@_db_option
@click.option("--chair", default=None, help="only this chair's sessions")
@click.option("--site", "site", default=None, help="only this site's (in a shared store)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per session")
@click.option("--reindex", "rebuild", is_flag=True,
              help="rebuild the session index from the messages first")
def sessions(config: Path | None, db: str | None, chair: str | None, site: str | None,
             as_json: bool, rebuild: bool) -> None:
    """List the recorded sessions: chair, patient code, protocol, start, end, monitoring
    minutes and alarm counts (named site/id where the store holds several sites)."""
    settings = settings_from(config)
    with _open_store(settings, db) as store:
        if rebuild:
            from .recorder import reindex  # (with the MQTT client: see `record`)

            reindex(store, site)
        rows = store.sessions(chair=chair, site=site)
    shared = len({row.site for row in rows}) > 1
    if as_json:
        for row in rows:
            click.echo(json.dumps({
                "id": row.name if shared else row.id, "site": row.site, "chair": row.chair,
                "patient_code": row.patient_code,
                "protocol": row.protocol, "started_at": _iso(row.started_at),
                "ended_at": _iso(row.ended_at), "end": row.end_kind or "open",
                "monitoring_min": round(row.monitoring_min(), 1),
                "alarms": row.alarm_counts(),
            }))
        return
    header = (f"{'SESSION':<26} {'CHAIR':<10} {'PATIENT':<10} {'PROTOCOL':<12} "
              f"{'START':<16} {'END':<16} {'MIN':>6}  ALARMS H/M/L")
    click.echo(header)
    for row in rows:
        counts = row.alarm_counts()
        end = f"{row.ended_at:%Y-%m-%d %H:%M}" if row.ended_at else "open"
        click.echo(
            f"{row.name if shared else row.id:<26} {row.chair:<10} {row.patient_code or '-':<10} "
            f"{row.protocol or '-':<12} {row.started_at:%Y-%m-%d %H:%M} {end:<16} "
            f"{row.monitoring_min():>6.1f}  {counts['high']}/{counts['medium']}/{counts['low']}"
        )


def _iso(when: datetime | None) -> str | None:
    from drivers.wire import format_time

    return None if when is None else format_time(when)


@click.command()
@config_option
@_db_option
@click.argument("session")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "fhir"]), default="jsonl",
              show_default=True)
@click.option("--anonymize", is_flag=True,
              help="replace patient codes and free text, shift all times by a random "
                   "offset, and leave out what cannot be scrubbed (with the reason)")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="write here instead of standard output")
def export(config: Path | None, db: str | None, session: str, fmt: str, anonymize: bool,
           output: Path | None) -> None:
    """Export a session: its wire log (jsonl), its readings (csv), or a FHIR R4 Bundle of
    vital-sign Observations (fhir)."""
    settings = settings_from(config)
    log, _ = _load(settings, db, session)
    records = log.records
    code = exporting.patient_code(records)
    if anonymize:
        records = exporting.anonymize(records, exporting.random_offset())
        code = None
    out = _out(output)
    try:
        if fmt == "jsonl":
            wirelog.write(records, out)
        elif fmt == "csv":
            exporting.write_csv(records, out)
        else:
            json.dump(fhir.bundle(records, code), out, indent=2)
            out.write("\n")
    finally:
        if out is not sys.stdout:
            out.close()


def _parse_time(value: str, day: datetime) -> datetime:
    try:
        if "T" in value or "-" in value:
            parsed = parse_time(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return datetime.combine(day.date(), time.fromisoformat(value), UTC)
    except ValueError:
        _fail(f"--start {value!r}: expected HH:MM[:SS] or an ISO 8601 time")
    raise AssertionError  # pragma: no cover


@click.command()
@config_option
@_db_option
@click.argument("source")
@click.option("--headless", is_flag=True, help="print the alarm timeline instead of a screen")
@click.option("--speed", type=click.FloatRange(1, 600), default=60.0, show_default=True,
              help="recorded seconds per wall second on the screen")
@click.option("--start", "start_at", default=None, metavar="TIME",
              help="begin at this time (HH:MM[:SS] UTC on the session's day, or ISO 8601)")
@click.option("--against", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="compare with a replay under this configuration instead of the recording")
def replay(config: Path | None, db: str | None, source: str, headless: bool, speed: float,
           start_at: str | None, against: Path | None) -> None:
    """Feed a recorded session (or a .jsonl wire log) through the engine on the recording's
    clock: into the dashboard, or --headless as an alarm timeline. With --config, see which
    alarms would have differed under other limits."""
    settings = settings_from(config)
    log, name = _load(settings, db, source)
    prepared = prepare(log)
    for problem in prepared.problems:
        click.echo(f"chairside: {name}: {problem}", err=True)
    if not prepared.steps:
        _fail(f"{name}: no readings or commands to replay")
    # Against another configuration, time acts where either run's alarms may be due.
    grid: Grid | None = "both" if against is not None else None
    run = Replay(prepared, settings.engine, states=not headless, grid=grid)
    if not headless:
        from .replay_app import ReplayApp

        app = ReplayApp(run, settings.site.id, settings.dashboard, speed=speed,
                        tz=settings.site.zone())
        if start_at:
            app.replay.seek(_parse_time(start_at, run.start))
        app.run()
        return
    events = alarm_events(run.run())
    for event in events:
        click.echo(timeline_line(event))
    if against is not None:
        other = Replay(prepared, _engine_config(against), states=False, grid=grid)
        baseline, label = alarm_events(other.run()), f"the replay under {against}"
    elif prepared.recorded_alarms:
        baseline, label = prepared.recorded_alarms, "the recording"
    else:
        click.echo(f"{len(events)} alarm events (the log holds no recorded alarms to compare)")
        return
    difference = compare(baseline, events)
    brief = [f"~ {timeline_line(e)}" for e in difference.brief]
    if difference.same:
        if brief:
            click.echo(f"{len(events)} alarm events, the same as {label}, but for "
                       f"{len(brief)} events of technical alarms that only one run raised, "
                       "and cleared within the timing the runs cannot tell apart:")
            click.echo("\n".join(brief))
        else:
            click.echo(f"{len(events)} alarm events, the same as {label}")
        return
    click.echo(f"{len(difference.only_recorded) + len(difference.only_replayed)} alarm events "
               f"differ from {label}:")
    for event in difference.only_recorded:
        click.echo("- " + timeline_line(event))
    for event in difference.only_replayed:
        click.echo("+ " + timeline_line(event))
    if brief:
        click.echo("and, raised and cleared within the timing tolerance by one run only:")
        click.echo("\n".join(brief))


@click.command()
@config_option
@_db_option
@click.argument("source")
@click.option("--format", "fmt", type=click.Choice(["html", "json", "rems"]), default="html",
              show_default=True,
              help="rems: the REMS Patient Monitoring Form's fields, one printable page")
@click.option("--chair", default=None, help="the chair to report on, when a log holds several")
@click.option("--ack-within", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
              help="time to acknowledge a high alarm (default: [engine] escalation_s.high)")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="write here instead of standard output")
def report(config: Path | None, db: str | None, source: str, fmt: str, chair: str | None,
           ack_within: float | None, output: Path | None) -> None:
    """The session's monitoring record and compliance checks (REMS form, QA)."""
    settings = settings_from(config)
    log, name = _load(settings, db, source)
    try:
        made = build(log, settings.engine, chair=chair, ack_within_s=ack_within, source=name)
    except ReportError as exc:
        _fail(f"{name}: {exc}")
    for problem in made.model.problems:
        click.echo(f"chairside: {name}: {problem}", err=True)
    out = _out(output)
    try:
        if fmt == "json":
            out.write(made.to_json())
        elif fmt == "rems":
            out.write(rems_form.render(made.model, tz=settings.site.zone(),
                                       now=datetime.now(UTC)))
        else:
            out.write(report_html.render(made, generated_at=datetime.now(UTC),
                                         tz=settings.site.zone()))
    finally:
        if out is not sys.stdout:
            out.close()


@click.command("rems-due")
@config_option
@_db_option
@click.option("--json", "as_json", is_flag=True, help="one JSON object per session")
def rems_due(config: Path | None, db: str | None, as_json: bool) -> None:
    """The REMS Patient Monitoring Forms due: every finished Spravato session with the day
    its form is due (7 days after it ended) and the days left, soonest first. Make each
    form with `chairside report SESSION --format rems`."""
    settings = settings_from(config)
    with _open_store(settings, db) as store:
        rows = [r for r in store.sessions() if r.protocol == "spravato" and r.ended_at]
    now = datetime.now(UTC)
    tz = settings.site.zone()
    listed = sorted(((r, r.ended_at, *rems_form.due(r.ended_at, now))
                     for r in rows if r.ended_at is not None), key=lambda item: item[2])
    if not as_json:
        click.echo(f"{'SESSION':<26} {'CHAIR':<10} {'PATIENT':<10} {'ENDED':<16} "
                   f"{'DUE':<10} LEFT")
    for row, ended, deadline, left in listed:
        if as_json:
            click.echo(json.dumps({"id": row.id, "chair": row.chair,
                                   "patient_code": row.patient_code,
                                   "ended_at": _iso(row.ended_at), "due": _iso(deadline),
                                   "days_left": left}))
            continue
        state = f"{left} days" if left >= 0 else f"OVERDUE {-left} days"
        click.echo(f"{row.id:<26} {row.chair:<10} {row.patient_code or '-':<10} "
                   f"{ended.astimezone(tz):%Y-%m-%d %H:%M} "
                   f"{deadline.astimezone(tz):%Y-%m-%d} {state}")


def _qa_job(job: tuple[str, str, str, EngineConfig]) -> dict[str, Any] | str:
    """One session's report, in a worker process: a wire log file, or a session of a
    recording. A string says why it could not be made."""
    kind, where, source, engine = job
    expected: tuple[type[Exception], ...] = (ReportError, KeyError, OSError, *store_errors())
    try:
        if kind == "log":
            log, name = wirelog.read(Path(where)), where
        else:
            with open_store(where if is_url(where) else Path(where)) as store:
                log = _session_log(store, source)
                name = log.source
        return build(log, engine, source=name).data
    except expected as exc:
        return f"{source or where}: {exc}"


def _day(value: str, tz: Any, end: bool = False) -> datetime:
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        _fail(f"{value!r} is not a date (YYYY-MM-DD)")
    if end:
        day += timedelta(days=1)
    local = day.replace(tzinfo=tz) if tz is not None else day.astimezone()
    return local.astimezone(UTC)


@click.command()
@config_option
@_db_option
@click.option("--from", "start", required=True, metavar="DATE",
              help="first day (YYYY-MM-DD, the site's time zone)")
@click.option("--to", "end", required=True, metavar="DATE", help="last day, included")
@click.option("--logs", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=None, help="a folder of .jsonl wire logs instead of the recording")
@click.option("--format", "fmt", type=click.Choice(["html", "json"]), default="html",
              show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="processes to use (default: every core)")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="write here instead of standard output")
def qa(config: Path | None, db: str | None, start: str, end: str, logs: Path | None,
       fmt: str, workers: int | None, output: Path | None) -> None:
    """The month at a glance: sessions, the compliance rate of each check, every failed
    check with its evidence, alarms by priority and condition, time to acknowledge,
    overrides, refusals and desaturation minutes, over the sessions that started between
    --from and --to."""
    from . import month

    settings = settings_from(config)
    tz = settings.site.zone()
    lo, hi = _day(start, tz), _day(end, tz, end=True)
    if hi <= lo:
        _fail(f"--to {end} is before --from {start}")
    jobs: list[tuple[str, str, str, EngineConfig]]
    if logs is not None:
        jobs = [("log", str(p), "", settings.engine) for p in month.wire_logs(logs)]
    else:
        where = _where(settings, db)
        with _open_store(settings, db) as store:
            rows = [r for r in store.sessions() if lo <= r.started_at < hi]
        jobs = [("session", str(where), r.name, settings.engine) for r in rows]
    with click.progressbar(length=len(jobs), label="sessions", file=sys.stderr) as bar:
        reports, problems = month.build_reports(jobs, _qa_job, workers=workers,
                                                progress=bar.update)
    reports = [r for r in reports
               if lo <= parse_time(r["session"]["started_at"]) < hi]
    for problem in problems:
        click.echo(f"chairside: {problem}", err=True)
    summary = month.summarize(reports, start=start, end=end)
    out = _out(output)
    try:
        out.write(json.dumps(summary, indent=2) + "\n" if fmt == "json"
                  else month.render(summary))
    finally:
        if out is not sys.stdout:
            out.close()


@click.command()
@config_option
@_db_option
@click.option("--session", "session", default=None, help="a session id (or a prefix)")
@click.option("--day", default=None, metavar="DATE", help="a day (YYYY-MM-DD, the site's time)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def audit(config: Path | None, db: str | None, session: str | None, day: str | None,
          fmt: str) -> None:
    """Who did what: every command of a session or a day, with the user the broker
    authenticated, the user's role, and the engine's answer and reasons."""
    from . import audit as auditing

    if (session is None) == (day is None):
        _fail("give --session ID or --day YYYY-MM-DD")
    settings = settings_from(config)
    tz = settings.site.zone()
    with _open_store(settings, db) as store:
        if session is not None:
            try:
                records = _session_log(store, session).records
            except KeyError as exc:
                _fail(str(exc.args[0]) if exc.args else f"no session {session!r}")
            title = f"audit of session {session}"
        else:
            assert day is not None
            lo, hi = _day(day, tz), _day(day, tz, end=True)
            records = [WireRecord(m.topic, m.received_at, m.payload) for m in store.messages(
                since=lo, until=hi, types=("command", "command_result"))]
            title = f"audit of {day} ({settings.site.id})"
    found = auditing.entries(records)
    if fmt == "json":
        click.echo(json.dumps([e.as_json() for e in found], indent=2))
    else:
        click.echo(auditing.render(found, tz, title), nl=False)


COMMANDS = [record, sessions, export, replay, report, rems_due, qa, audit]

"""The recording's commands, registered on ``chairside`` by ``monitor.cli``."""

__all__ = ["COMMANDS", "export", "qa", "record", "rems_due", "replay", "report", "sessions"]
