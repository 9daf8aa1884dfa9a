"""When time alone can next change what the engine says.

Between inputs, only time acts: a delay ends, a check comes due or is missed, a value goes
stale, an alarm waits too long for acknowledgement. Each part of a chair says the first
moment after ``now`` at which that can happen; the engine evaluates a chair only then (or
when an input touches it), and a replay ticks exactly there instead of on a grid.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

INSTANT = timedelta(microseconds=1)
"""The smallest step of a clock: "later than t" first holds at ``t + INSTANT``."""


@lru_cache(maxsize=256)
def span(seconds: float) -> timedelta:
    """``timedelta(seconds=seconds)``, made once per limit (a limit is added to a time on
    every reading)."""
    return timedelta(seconds=seconds)


def beyond(start: datetime, seconds: float) -> datetime:
    """The first moment ``t`` with ``(t - start).total_seconds() > seconds``."""
    t = start + span(seconds)
    while (t - start).total_seconds() <= seconds:
        t += INSTANT
    return t


def soonest(times: Iterable[datetime | None], now: datetime) -> datetime | None:
    """The earliest of ``times`` after ``now``; None when there is none."""
    best: datetime | None = None
    for t in times:
        if t is not None and t > now and (best is None or t < best):
            best = t
    return best
