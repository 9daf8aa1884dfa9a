"""The broker's access control list, derived from the directory: what each user may read
and write. Written for Mosquitto (``acl_file``) and evaluated by the embedded broker, so the
demo enforces exactly what a clinic's broker does.

Each person publishes commands only under ``chairs/+/commands/<own user name>``: the broker
thereby vouches for the sender, and the engine reads it from the topic. Nobody but the engine
writes states, alarms or answers; a gateway writes only its own chair's readings and
statuses; QA and wall displays write nothing of the site's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from drivers.topics import ROOT, SYNC_ROOT

from .directory import Directory, User

Access = Literal["read", "write", "readwrite"]


@dataclass(frozen=True, slots=True)
class Rule:
    access: Access
    pattern: str


def rules(site: str, name: str, user: User) -> list[Rule]:
    """Everything ``name`` may do. Anything not listed is refused by the broker."""
    base = f"{ROOT}/{site}"
    chairs = f"{base}/chairs/+"
    # A process's end-of-retained marker (topics.sync_marker): heard by its publisher only.
    own = [Rule("readwrite", f"{SYNC_ROOT}/{name}/#")]
    match user.role:
        case "nurse" | "physician" | "prescriber":
            return [*own, Rule("read", f"{base}/#"),
                    Rule("write", f"{chairs}/commands/{name}")]
        case "qa" | "recorder":
            extra = [Rule("write", f"{chairs}/recorded")] if user.role == "recorder" else []
            return [*own, Rule("read", f"{base}/#"), *extra]
        case "display":
            return [*own, Rule("read", f"{chairs}/state"), Rule("read", f"{base}/engine/status"),
                    Rule("read", f"{chairs}/command-results")]
        case "engine":
            return [*own, Rule("read", f"{base}/#"),
                    *(Rule("write", f"{chairs}/{leaf}")
                      for leaf in ("state", "answered", "alarms", "command-results")),
                    Rule("write", f"{base}/engine/status")]
        case "gateway":
            chair = f"{base}/chairs/{user.chair}"
            return [*own, Rule("write", f"{chair}/readings/+"),
                    Rule("write", f"{chair}/devices/+/status"),
                    Rule("write", f"{chair}/gateway/status"),
                    Rule("read", f"{chair}/recorded")]
    raise AssertionError(f"unhandled role {user.role!r}")  # pragma: no cover


def mosquitto_acl(directory: Directory) -> str:
    """The ``acl_file`` for Mosquitto: disabled users get no lines (and no password)."""
    out = [
        f"# Chairside site {directory.site!r}: written by `chairside users` from the user",
        "# directory. Do not edit: change the directory and write it again.",
    ]
    for name, user in sorted(directory.enabled().items()):
        out.append("")
        out.append(f"# {user.role}" + (f", {user.name}" if user.name else ""))
        out.append(f"user {name}")
        out.extend(f"topic {r.access} {r.pattern}" for r in rules(directory.site, name, user))
    return "\n".join(out) + "\n"


class Acl:
    """The same rules, evaluated: for the embedded broker, and to check what was written."""

    def __init__(self, directory: Directory) -> None:
        self._rules = {
            name: rules(directory.site, name, user)
            for name, user in directory.enabled().items()
        }

    def allows(self, user: str | None, access: Literal["read", "write"], topic: str) -> bool:
        """May ``user`` publish on (write) or subscribe to (read) ``topic``? A subscription
        filter is allowed only if every topic it can match is."""
        for rule in self._rules.get(user or "", ()):
            if (rule.access == access or rule.access == "readwrite") and covers(
                rule.pattern, topic
            ):
                return True
        return False


def covers(pattern: str, topic: str) -> bool:
    """True if every topic matched by ``topic`` (a name or a filter) matches ``pattern``."""
    want, have = pattern.split("/"), topic.split("/")
    for i, level in enumerate(want):
        if level == "#":
            return True
        if i >= len(have):
            return False
        if level == "+":
            if have[i] == "#":
                return False
            continue
        if have[i] != level:
            return False
    return len(have) == len(want)
