"""Which of the screen's actions the signed-in role may take, from the one table of roles
(`monitor.access.roles`): the screen offers only those, and says why when another is asked
for. The engine checks again; this only keeps a screen from offering what would be refused."""

from __future__ import annotations

from monitor.access.roles import OVERRIDERS, Role, may_override, refusal

ACTION_COMMANDS: dict[str, str] = {
    "start_session": "start_session",
    "dose_given": "dose_given",
    "infusion_end": "infusion_end",
    "manual_bp": "manual_bp",
    "assessment": "assessment",
    "symptoms": "symptoms",
    "ack": "ack_alarm",
    "pause_audio": "pause_audio",
    "discharge": "discharge",
    "override_discharge": "discharge",
    "end_session": "end_session",
}
"""The dashboard's command actions and the command each sends."""


def overriders() -> str:
    return " or ".join(sorted(OVERRIDERS))


def action_refusal(role: Role, user: str, action: str) -> str | None:
    """Why ``user`` may not take ``action``, or None if the role allows it."""
    command = ACTION_COMMANDS[action]
    why = refusal(role, user, command)
    if why is not None:
        return why
    if action == "override_discharge" and not may_override(role):
        return (f"{user} ({role}) may not override a discharge: only a {overriders()} may")
    return None
