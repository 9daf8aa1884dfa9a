"""Snapshots of the screens (pytest-textual-snapshot): the overview and the chair view in each
phase and alarm priority, at 80x24 and at a large size, on a fake clock with flashing and the
cursor's blink turned off, so every run draws the same picture.

Update after a deliberate change with ``uv run pytest tests/dashboard --snapshot-update`` and
look at the report before committing the new pictures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from drivers.wire import AlarmKind, EngineStatus, Phase, Priority
from monitor.dashboard.app import DashboardApp
from tests.dashboard.states import (
    NOW,
    PASSWORDS,
    PHASES,
    Recorder,
    alarm,
    chair_state,
    feed,
    feed_session,
    make_app,
    make_signin_app,
    result,
)

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
Snap = Callable[..., bool]

OVERVIEW: list[tuple[str, Phase, tuple[tuple[Priority, AlarmKind], ...]]] = [
    ("chair-1", "observation", (("high", "physiological"), ("low", "technical"))),
    ("chair-2", "dosing", (("medium", "physiological"),)),
    ("chair-3", "pre_dose", (("low", "physiological"),)),
    ("chair-4", "observation", (("medium", "technical"),)),
    ("chair-5", "ready", ()),
    ("chair-6", "idle", ()),
    ("chair-7", "discharged", ()),
]


def fill_overview(app: DashboardApp) -> Callable[[Pilot[None]], Any]:
    async def run_before(pilot: Pilot[None]) -> None:
        now = NOW["observation"]
        for chair, phase, alarms in OVERVIEW:
            feed(app, chair_state(chair, phase, now, alarms=[
                alarm(chair, priority, kind) for priority, kind in alarms]))
        feed(app, EngineStatus(state="online", at=now))
        await app.refresh_view()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_overview(snap_compare: Snap, size: str) -> None:
    """Most urgent first: high (red, ***), medium (yellow, **), technical (cyan, INOP), low
    (*); then the quiet chairs in chair order."""
    app, _, _ = make_app([c for c, _, _ in OVERVIEW], banner="DEMO - simulated patients")
    assert snap_compare(app, terminal_size=SIZES[size], run_before=fill_overview(app))


def fill_floor(app: DashboardApp, count: int) -> Callable[[Pilot[None]], Any]:
    """``count`` chairs, each like one of OVERVIEW's in turn."""
    async def run_before(pilot: Pilot[None]) -> None:
        now = NOW["observation"]
        for i in range(count):
            chair = f"chair-{i + 1}"
            _, phase, alarms = OVERVIEW[i % len(OVERVIEW)]
            feed(app, chair_state(chair, phase, now, alarms=[
                alarm(chair, priority, kind) for priority, kind in alarms]))
        feed(app, EngineStatus(state="online", at=now))
        await app.refresh_view()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("count", [24, 50])
def test_overview_of_a_large_floor(snap_compare: Snap, count: int) -> None:
    """Every chair on one 160x48 screen: compact tiles at 24 chairs, a line each at 50."""
    app, _, _ = make_app([f"chair-{i}" for i in range(1, count + 1)],
                         banner="DEMO - simulated patients")
    assert snap_compare(app, terminal_size=(160, 48), run_before=fill_floor(app, count))


def test_overview_sorted_by_chair(snap_compare: Snap) -> None:
    app, _, _ = make_app([c for c, _, _ in OVERVIEW])
    assert snap_compare(app, terminal_size=(120, 40), run_before=fill_overview(app),
                        press=["s"])


def test_overview_no_color_still_shows_priority_markers(
    snap_compare: Snap, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app, _, _ = make_app([c for c, _, _ in OVERVIEW])
    assert app.no_color
    assert snap_compare(app, terminal_size=(80, 24), run_before=fill_overview(app))


def test_overview_offline_greys_every_value(snap_compare: Snap) -> None:
    app, clock, _ = make_app([c for c, _, _ in OVERVIEW])
    fill = fill_overview(app)

    async def run_before(pilot: Pilot[None]) -> None:
        await fill(pilot)
        clock.advance(11)  # no state for longer than offline_after_s
        await app.refresh_view()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def chair_app(phase: Phase, alarms: tuple[tuple[Priority, AlarmKind], ...] = (),
              recorder: Recorder | None = None) -> tuple[DashboardApp, Callable[..., Any]]:
    app, _, _ = make_app(["chair-1"], now=NOW[phase], chair="chair-1", recorder=recorder)

    async def run_before(pilot: Pilot[None]) -> None:
        feed_session(app, "chair-1", phase, alarms=[
            alarm("chair-1", priority, kind, at=NOW[phase]) for priority, kind in alarms])
        await app.refresh_view()
        await pilot.pause()

    return app, run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("phase", PHASES)
def test_chair_view_in_each_phase(snap_compare: Snap, phase: Phase, size: str) -> None:
    app, run_before = chair_app(phase)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


PRIORITIES: dict[str, tuple[tuple[Priority, AlarmKind], ...]] = {
    "high": (("high", "physiological"), ("medium", "physiological")),
    "medium": (("medium", "physiological"),),
    "low": (("low", "physiological"),),
    "technical": (("medium", "technical"),),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("priority", PRIORITIES)
def test_chair_view_for_each_alarm_priority(snap_compare: Snap, priority: str,
                                            size: str) -> None:
    app, run_before = chair_app("observation", PRIORITIES[priority])
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


def test_chair_view_no_color(snap_compare: Snap, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app, run_before = chair_app("observation", PRIORITIES["high"])
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize(("key", "size"), [("n", (80, 24)), ("s", (80, 30)), ("m", (80, 24)),
                                           ("o", (80, 24))])
def test_forms(snap_compare: Snap, key: str, size: tuple[int, int]) -> None:
    """Start session, assessment (with the Aldrete items), manual BP, override discharge."""
    app, run_before = chair_app("observation")
    assert snap_compare(app, terminal_size=size, run_before=run_before, press=[key])


def test_form_with_errors(snap_compare: Snap) -> None:
    app, run_before = chair_app("observation")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before,
                        press=["m", "2", "0", "tab", "9", "9", "enter"])


def test_discharge_refused_shows_the_reasons(snap_compare: Snap) -> None:
    recorder = Recorder()
    recorder.answer = lambda chair, cmd: result(
        cmd, chair, False, "minimum observation of 120 min from 09:10:00Z ends at 11:10:00Z",
        "no sedation and dissociation assessment recorded")
    app, run_before = chair_app("observation", recorder=recorder)
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before,
                        press=["x", "enter"])


def test_sign_in_screen(snap_compare: Snap) -> None:
    """User name, a masked password, and nothing of a patient."""
    app, _, _, _ = make_signin_app(["chair-1", "chair-2"], banner="DEMO - simulated patients")

    async def run_before(pilot: Pilot[None]) -> None:
        feed(app, chair_state("chair-1", "observation"))
        await pilot.press(*"amy", "enter", *"secret")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_sign_in_refused(snap_compare: Snap) -> None:
    app, _, _, _ = make_signin_app()

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press(*"amy", "enter", *"not-her-password", "enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_signed_in_chair_view_locked(snap_compare: Snap) -> None:
    """Who is signed in, and LOCKED, above the chair, which stays in view."""
    app, clock, _, _ = make_signin_app()

    async def run_before(pilot: Pilot[None]) -> None:
        assert await app.sign_in_as("amy", PASSWORDS["amy"]) is None
        await pilot.pause()
        feed_session(app, "chair-1", "observation", alarms=[
            alarm("chair-1", "high", at=NOW["observation"])])
        app.open_chair("chair-1")
        await pilot.pause()
        clock.advance(301)
        feed(app, chair_state("chair-1", "observation", clock.now(), alarms=[
            alarm("chair-1", "high", at=NOW["observation"])]))
        await app.refresh_view()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
