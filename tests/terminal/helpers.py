"""Driving a real terminal (tmux) from the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def socket_of(session: str) -> list[str]:
    """Each test's session runs on a tmux server of its own: a new session never meets the
    server the previous test's last session was shutting down."""
    return ["-L", session.split(":")[0].split(".")[0]]


def tmux(*args: str) -> str:
    named = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-t", "-s")]
    socket = socket_of(named[0]) if named else []
    done = subprocess.run(["tmux", *socket, *args], capture_output=True, text=True)
    if done.returncode:
        raise AssertionError(f"tmux {' '.join(args[:2])} failed ({done.returncode}): "
                             f"{done.stderr.strip()}")
    return done.stdout
