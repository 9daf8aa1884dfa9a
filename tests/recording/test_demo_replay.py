"""A demo session recorded, exported and replayed headless gives the same alarm events, at
the same times, as the engine published live."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def chairside(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_demo_recording_replays_to_the_same_alarms(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CHAIRSIDE_DEMO__RECORD_PATH": str(db),
           "CHAIRSIDE_CONFIG": str(ROOT / "config.toml")}
    demo = chairside("demo", "--headless", "--duration", "18", env=env, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr

    listed = chairside("sessions", "--db", str(db), "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    sessions = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    assert len(sessions) >= 3
    with_alarms = [s for s in sessions if sum(s["alarms"].values()) > 0]
    assert with_alarms, sessions

    differ = []
    for session in with_alarms:
        replay = chairside("replay", session["id"], "--db", str(db), "--headless",
                           env=env, cwd=tmp_path)
        assert replay.returncode == 0, replay.stderr

        log = tmp_path / f"{session['id']}.jsonl"
        export = chairside("export", session["id"], "--db", str(db), "--format", "jsonl",
                           env=env, cwd=tmp_path)
        assert export.returncode == 0, export.stderr
        log.write_text(export.stdout)
        again = chairside("replay", str(log), "--headless", env=env, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        # The exported log replays exactly as the store does, whatever the verdict.
        assert events(again.stdout) == events(replay.stdout)
        # Technical alarms that one run alone raised and cleared within the timing the runs
        # cannot tell apart are named, not counted as a difference: the demo's warm-up runs
        # 150 times faster than the wall, and a tenth of a second between the recorder's
        # and the engine's receipt of the reading that ends a silence is 15 s of its time.
        if "the same as the recording" not in replay.stdout:
            differ.append(replay.stdout)
    # Every physiological alarm, and every technical one but those that time silences,
    # replays the same however busy the machine is.
    for stdout in differ:
        conditions = {m.group(1) for m in DIFFERENT.finditer(stdout)}
        assert conditions and conditions <= SILENCES, stdout[-3000:]
    if differ:
        # Known and open: a machine too busy for the demo's pace (150 and 60 times the wall)
        # delays the engine's and the recorder's receipt of one reading by different
        # fractions of a second, long enough on that clock for a silence to pass its limit
        # in one run and not in the other, and not always within the one-second tolerance.
        pytest.xfail("silence alarms of an overloaded demo differ:\n" + differ[0][-2000:])


SILENCES = {"no_data", "spo2_missing"}
DIFFERENT = re.compile(r"^[+-] \S+ \S+ \S+ \S+ \S+ (\w+):", re.MULTILINE)


def events(stdout: str) -> list[str]:
    """The alarm events a replay printed, without its verdict."""
    return [line for line in stdout.splitlines() if line[:4].isdigit()]
