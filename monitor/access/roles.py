"""Roles and what each may do: the one table the engine, the screens and the broker ACL use.

A person or process is identified by the broker (its own user name and password); its role
comes from the site's user directory. The broker's ACL lets each user publish only where its
role may (a command only under a topic naming its own user); the engine then checks that
the role may send that command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["nurse", "physician", "prescriber", "qa", "display", "gateway", "engine",
               "recorder"]
ROLES: tuple[Role, ...] = ("nurse", "physician", "prescriber", "qa", "display", "gateway",
                           "engine", "recorder")
PEOPLE: frozenset[Role] = frozenset({"nurse", "physician", "prescriber", "qa", "display"})
"""Roles held by people (who sign in at a screen) rather than by processes."""

NURSE_COMMANDS: frozenset[str] = frozenset({
    "start_session", "dose_given", "infusion_end", "manual_bp", "assessment", "ack_alarm",
    "pause_audio", "discharge", "end_session", "symptoms",
})
"""Every command a nurse may send; a discharge only when the engine finds every condition
met."""

COMMANDS: dict[Role, frozenset[str]] = {
    "nurse": NURSE_COMMANDS,
    "physician": NURSE_COMMANDS,
    "prescriber": NURSE_COMMANDS,
}
"""Command types each role may send. A role not named here sends none."""

OVERRIDERS: frozenset[Role] = frozenset({"physician", "prescriber"})
"""Roles that may discharge before every condition is met, with a written reason."""

ROLE_HELP: dict[Role, str] = {
    "nurse": "session commands, acknowledge, pause audio, discharge when ready",
    "physician": "a nurse's commands, and discharge with an override reason",
    "prescriber": "as physician",
    "qa": "read every chair and recording; send nothing",
    "display": "a read-only wall display: states and alarms only",
    "gateway": "one chair: its readings, device and gateway status",
    "engine": "the session engine: reads inputs, publishes states, alarms and answers",
    "recorder": "reads everything of the site; tells gateways what it has committed",
}


def may_send(role: Role | None, command: str) -> bool:
    return role is not None and command in COMMANDS.get(role, frozenset())


def may_override(role: Role | None) -> bool:
    return role in OVERRIDERS


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a command, as the broker established it, with the role the directory gives."""

    user: str
    role: Role


def refusal(role: Role | None, user: str, command: str) -> str | None:
    """Why ``user`` may not send ``command``, or None if the role allows it."""
    if may_send(role, command):
        return None
    what = command.replace("_", " ")
    return f"{user} ({role}) may not send {what}: " + (
        "no role may" if role is None else ROLE_HELP[role] + " only"
    )
