"""`chairside demo --headless --speed 60 --duration 20`: readings and a high-BP alarm, then a
clean stop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_headless_demo_prints_readings_and_a_high_bp_alarm() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "demo", "--headless", "--speed", "60",
         "--duration", "20"],
        capture_output=True, text=True, cwd=ROOT, timeout=90,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Traceback" not in proc.stderr
    # chair summaries with live vitals for every chair
    for chair in ("chair-1", "chair-2", "chair-3", "chair-4"):
        assert re.search(rf"{chair} spravato \w+ .*BP \d+/\d+ \(\w+\) HR (\d+ \(\w+\)|--) SpO2 \d+", out), chair
    # at least one high-priority blood-pressure alarm line, naming value and limit
    assert re.search(r"ALARM (raised|escalated) \*\*\* high bp_high chair-\d: (SYS \d+ >= 180|DIA \d+ >= 110) mmHg", out), out
