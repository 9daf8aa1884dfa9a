"""`chairside demo` in a real terminal (tmux): every chair shows live, changing values."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable

import pytest

from tests.terminal.helpers import ROOT, tmux

pytestmark = pytest.mark.tmux


def vitals(screen: str) -> list[str]:
    return re.findall(r"(?:BP|HR|SpO2)\s+[\d/]+", screen)


def sign_in_as_the_demo_nurse(session: str) -> None:
    """The demo signs in like a clinic: its users and passwords are in the banner."""
    screen = wait_for(session, lambda s: "sign in" in s and "nurse / nurse-demo" in s)
    assert "chair-1" not in screen  # nothing of a patient before sign-in
    for keys in ("nurse", "Enter", "nurse-demo", "Enter"):
        tmux("send-keys", "-t", session, *(["-l", keys] if keys != "Enter" else [keys]))


def test_demo_shows_every_chair_with_changing_values(session: str) -> None:
    command = f"cd {ROOT} && {sys.executable} -m monitor.cli demo --duration 60"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    sign_in_as_the_demo_nurse(session)
    deadline = time.monotonic() + 45
    first: list[str] = []
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if all(f"chair-{i}" in screen for i in range(1, 5)) and len(vitals(screen)) >= 8:
            if not first:
                first = vitals(screen)
            elif vitals(screen) != first:
                break
        time.sleep(0.5)
    else:
        pytest.fail(f"the demo did not show changing values for every chair:\n{screen}")
    assert "DEMO" in screen and "x60" in screen
    assert "obs " in screen


def wait_for(session: str, seen: Callable[[str], bool], within: float = 45) -> str:
    deadline = time.monotonic() + within
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if seen(screen):
            return screen
        time.sleep(0.5)
    pytest.fail(f"not seen on the screen in {within:.0f}s:\n{screen}")


def test_demo_without_colour_reads_priorities_from_markers_and_opens_a_chair(
    session: str,
) -> None:
    """NO_COLOR: alarm priority still reads from ``***``/``**``/``*``; enter on the
    focused tile opens its chair view, with big numbers, BP checks and discharge."""
    command = f"cd {ROOT} && NO_COLOR=1 {sys.executable} -m monitor.cli demo --duration 60"
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "32", command)
    sign_in_as_the_demo_nurse(session)
    screen = wait_for(session, lambda s: re.search(r"^. \*{1,3} \S", s, re.M) is not None)
    assert "\x1b" not in screen
    tmux("send-keys", "-t", session, "Enter")
    screen = wait_for(session, lambda s: "BP check" in s and "Discharge:" in s)
    assert re.search(r"chair-\d\s+DEMO-CHAIR-\d", screen), screen
    assert "BP mmHg" in screen and "HR /min" in screen and "SpO2 %" in screen
    assert re.search(r"obs \d:\d\d:\d\d of 2:00:00", screen), screen
    tmux("send-keys", "-t", session, "Escape")
    wait_for(session, lambda s: "sorted by urgency" in s)
