"""Times as people at the site read them: the site's time zone (``[site] timezone``), or the
machine's own when none is set. Everything on the wire and in the JSON report stays UTC; only
what a person reads is converted."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def site_zone(name: str) -> tzinfo | None:
    """The zone named by an IANA name (``Europe/Berlin``); None for "" (the machine's own).

    Raises ValueError for a name the zone database does not know."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as America/New_York or "
            "Europe/Berlin, or \"\" for this machine's own"
        ) from None


def zone_label(tz: tzinfo | None, at: datetime) -> str:
    """How a page names the zone its times are in: ``Europe/Berlin (UTC+01:00)``."""
    local = at.astimezone(tz)
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    utc = f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    name = str(tz) if isinstance(tz, ZoneInfo) else (local.tzname() or "local time")
    if offset == timedelta(0) and name in ("UTC", "Etc/UTC", utc):
        return "UTC"
    return utc if name == utc else f"{name} ({utc})"


_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2}T)?(?P<time>\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})"
)


def clock_time(when: datetime, tz: tzinfo | None = None, *, seconds: bool = False) -> str:
    """A time as the local clock shows it: ``09:41`` (``09:41:07`` with seconds).
    ``tz=None`` is the machine's own time zone."""
    local = when.astimezone(tz)
    return local.strftime("%H:%M:%S" if seconds else "%H:%M")


def localize_times(text: str, tz: tzinfo | None = None, ref: datetime | None = None) -> str:
    """Show any UTC time inside a free text (``2026-01-05T09:03:00.000Z`` or ``09:03:00Z``)
    as a local clock time: a fallback for texts with no structured field to show instead.
    A time of day alone is taken on the day of ``ref`` (the nearest such moment)."""

    def local(match: re.Match[str]) -> str:
        zone = match.group("zone").replace("Z", "+00:00")
        try:
            if match.group("date"):
                when = datetime.fromisoformat(match.group("date") + match.group("time") + zone)
            else:
                if ref is None:
                    return match.group(0)
                clock = datetime.fromisoformat(f"2000-01-01T{match.group('time')}{zone}")
                day = ref.astimezone(clock.tzinfo)
                when = day.replace(hour=clock.hour, minute=clock.minute, second=clock.second,
                                   microsecond=0)
                if (when - ref).total_seconds() > 43200:
                    when -= timedelta(days=1)
                elif (ref - when).total_seconds() > 43200:
                    when += timedelta(days=1)
        except ValueError:
            return match.group(0)
        return clock_time(when, tz, seconds=match.group("time").count(":") == 2)

    return _ISO.sub(local, text)
