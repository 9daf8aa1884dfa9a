"""The one place that builds and parses MQTT topics (wire contract v1, revision 2).

::

    chairside/v1/{site}/chairs/{chair}/readings/{kind}
    chairside/v1/{site}/chairs/{chair}/devices/{device}/status      retained
    chairside/v1/{site}/chairs/{chair}/gateway/status               retained
    chairside/v1/{site}/chairs/{chair}/commands/{user}              the sender's own topic
    chairside/v1/{site}/chairs/{chair}/command-results
    chairside/v1/{site}/chairs/{chair}/state                        retained
    chairside/v1/{site}/chairs/{chair}/alarms
    chairside/v1/{site}/chairs/{chair}/recorded                     recorder -> gateway
    chairside/v1/{site}/engine/status                               retained

    chairside/sync/{user}/{site}/{nonce}    a client's own marker, outside the site's tree

A command is published under its sender's user name, where the broker's ACL lets only that
user publish: the broker vouches for who sent it (revision 2; revision 1 had one
``commands`` topic per chair and believed the payload's ``by``). A command on the bare
``commands`` topic still parses, with no sender, so that a receiver can refuse it and say
why.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from drivers.errors import ChairsideError
from drivers.wire import KINDS, AlarmEvent, ChairState, CommandResult

ROOT = "chairside/v1"
SYNC_ROOT = "chairside/sync"
ANONYMOUS = "anonymous"
"""The user level of a marker topic for a client that connects without a user name."""
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

TopicType = Literal[
    "reading",
    "device_status",
    "gateway_status",
    "command",
    "command_result",
    "state",
    "answered",
    "alarm",
    "engine_status",
    "recorded",
]


class TopicError(ChairsideError, ValueError):
    """A topic that is not part of the contract, or an identifier that cannot be used in one."""


def check_ident(value: str, what: str) -> str:
    """Sites, chairs and devices become topic levels: no wildcards, slashes or spaces."""
    if not _IDENT.match(value):
        raise TopicError(
            f"{what} {value!r} is not a valid identifier: use 1-64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    return value


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: its type and the identifiers in it."""

    type: TopicType
    site: str
    chair: str | None = None
    kind: str | None = None
    device: str | None = None
    user: str | None = None
    """The sender of a command, as its topic names it (None on the revision 1 topic)."""

    def __str__(self) -> str:
        return build(self)


def _chair(site: str, chair: str) -> str:
    return f"{ROOT}/{check_ident(site, 'site')}/chairs/{check_ident(chair, 'chair')}"


def reading(site: str, chair: str, kind: str) -> str:
    if kind not in KINDS:
        raise TopicError(f"reading kind {kind!r} is not one of {list(KINDS)}")
    return f"{_chair(site, chair)}/readings/{kind}"


def device_status(site: str, chair: str, device: str) -> str:
    return f"{_chair(site, chair)}/devices/{check_ident(device, 'device')}/status"


def gateway_status(site: str, chair: str) -> str:
    return f"{_chair(site, chair)}/gateway/status"


def commands(site: str, chair: str, user: str | None = None) -> str:
    """Where ``user`` sends a command for ``chair`` (no user: the revision 1 topic)."""
    base = f"{_chair(site, chair)}/commands"
    return base if user is None else f"{base}/{check_ident(user, 'user name')}"


def command_results(site: str, chair: str) -> str:
    return f"{_chair(site, chair)}/command-results"


def state(site: str, chair: str) -> str:
    return f"{_chair(site, chair)}/state"


def answered(site: str, chair: str) -> str:
    """The engine's retained list of the chair's latest answered commands."""
    return f"{_chair(site, chair)}/answered"


def alarms(site: str, chair: str) -> str:
    return f"{_chair(site, chair)}/alarms"


def recorded(site: str, chair: str) -> str:
    return f"{_chair(site, chair)}/recorded"


def engine_output(site: str, payload: ChairState | AlarmEvent | CommandResult) -> str:
    """Where the engine publishes one of its outputs."""
    if isinstance(payload, ChairState):
        return state(site, payload.chair)
    if isinstance(payload, AlarmEvent):
        return alarms(site, payload.chair)
    return command_results(site, payload.chair)


def engine_status(site: str) -> str:
    return f"{ROOT}/{check_ident(site, 'site')}/engine/status"


def sync_marker(site: str, nonce: str, user: str | None = None) -> str:
    """A topic only its publisher subscribes to. The broker routes a message to a client in
    order, so the marker, published after a subscription is acknowledged, arrives after every
    retained message that subscription brought (outside ``chairside/v1`` so that no screen or
    recording sees it; under the client's user name, the one place the ACL lets a reader such
    as QA publish)."""
    who = ANONYMOUS if user is None else check_ident(user, "user name")
    return f"{SYNC_ROOT}/{who}/{check_ident(site, 'site')}/{check_ident(nonce, 'nonce')}"


def site_filter(site: str) -> str:
    """Every topic of one site (for the recorder)."""
    return f"{ROOT}/{check_ident(site, 'site')}/#"


def chairs_filter(site: str, leaf: str, chair: str = "+") -> str:
    """A subscription filter for one leaf (``state``, ``alarms``, ``readings/+`` ...) of all
    chairs, or of one."""
    base = f"{ROOT}/{check_ident(site, 'site')}/chairs/"
    return base + ("+" if chair == "+" else check_ident(chair, "chair")) + "/" + leaf


def build(topic: Topic) -> str:
    if topic.type == "engine_status":
        return engine_status(topic.site)
    chair = topic.chair or ""
    match topic.type:
        case "reading":
            return reading(topic.site, chair, topic.kind or "")
        case "device_status":
            return device_status(topic.site, chair, topic.device or "")
        case "gateway_status":
            return gateway_status(topic.site, chair)
        case "command":
            return commands(topic.site, chair, topic.user)
        case "command_result":
            return command_results(topic.site, chair)
        case "state":
            return state(topic.site, chair)
        case "answered":
            return answered(topic.site, chair)
        case "alarm":
            return alarms(topic.site, chair)
        case "recorded":
            return recorded(topic.site, chair)
    raise TopicError(f"unknown topic type {topic.type!r}")  # pragma: no cover


_LEAVES: dict[tuple[str, ...], TopicType] = {
    ("commands",): "command",
    ("command-results",): "command_result",
    ("state",): "state",
    ("answered",): "answered",
    ("alarms",): "alarm",
    ("recorded",): "recorded",
    ("gateway", "status"): "gateway_status",
}


def parse(topic: str) -> Topic:
    """Parse a topic of the contract; raise TopicError naming what is wrong."""
    return _parse(topic)


@functools.lru_cache(maxsize=4096)
def _parse(topic: str) -> Topic:
    # A site's topics are few and each arrives thousands of times: parse each once. (Topics
    # are immutable; a topic that does not parse raises every time, and is not cached.)
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "chairside" or parts[1] != "v1":
        raise TopicError(f"{topic!r} is not a chairside/v1 topic")
    site = parts[2]
    check_ident(site, "site")
    rest = parts[3:]
    if rest == ["engine", "status"]:
        return Topic("engine_status", site)
    if len(rest) < 3 or rest[0] != "chairs":
        raise TopicError(f"{topic!r} is not a chairside/v1 topic")
    chair = check_ident(rest[1], "chair")
    leaf = tuple(rest[2:])
    if leaf in _LEAVES:
        return Topic(_LEAVES[leaf], site, chair)
    if len(leaf) == 2 and leaf[0] == "readings":
        if leaf[1] not in KINDS:
            raise TopicError(f"{topic!r}: reading kind {leaf[1]!r} is not one of {list(KINDS)}")
        return Topic("reading", site, chair, kind=leaf[1])
    if len(leaf) == 2 and leaf[0] == "commands":
        return Topic("command", site, chair, user=check_ident(leaf[1], "user name"))
    if len(leaf) == 3 and leaf[0] == "devices" and leaf[2] == "status":
        return Topic("device_status", site, chair, device=check_ident(leaf[1], "device"))
    raise TopicError(f"{topic!r} is not a chairside/v1 topic")
