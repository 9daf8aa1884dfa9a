"""The toasts the dashboard raises about commands: the engine's answer to one sent from this
screen, and a command that waited too long for any answer. Each is the keyword arguments of
`App.notify`, so the wording is kept (and tested) apart from the App."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from drivers.wire import CommandResult
from monitor.localtime import clock_time, localize_times

from .floor import Pending


def answer_notice(result: CommandResult, tz: tzinfo | None, may_override: bool) -> dict[str, Any]:
    """Accepted (with its notes), or REFUSED with every reason; a refused discharge says how
    to override it when this screen's user may."""
    title = f"{result.chair} · {result.type.replace('_', ' ')}"
    reasons = [localize_times(r, tz, result.at) for r in result.reasons]
    if result.accepted:
        notes = "".join(f"\nnote: {r}" for r in reasons)
        return {"message": "accepted" + notes, "title": title,
                "severity": "warning" if reasons else "information", "timeout": 4}
    body = "REFUSED:" + "".join(f"\n✗ {r}" for r in reasons)
    if result.type == "discharge" and may_override:
        body += "\no: override with a reason"
    return {"message": body, "title": title, "severity": "error", "timeout": 12}


def overdue_notice(pending: Pending, tz: tzinfo | None) -> dict[str, Any]:
    sent = clock_time(pending.sent_at, tz, seconds=True)
    return {"message": f"no answer from the engine to {pending.type} sent at {sent}: "
                       "check that monitoring is online, then look at the chair before "
                       "resending",
            "title": pending.chair, "severity": "error", "timeout": 12}
