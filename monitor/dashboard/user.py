"""Who is at this screen and what they may send: nobody yet (a site with a user directory), a
signed-in person (their role, the idle lock, the broker credentials the screen connects
with), an open site's configured user, or a kiosk that sends nothing.

The broker is the one judge of a password: signing in is connecting with the user's own
credentials, and the live connection then uses them, so the broker's ACL holds the screen to
what the role may publish. The site's user directory (no secrets) says who is a person who
may sign in at a screen, and with which role.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomqtt
from pydantic import SecretStr

from drivers.clock import Clock
from drivers.errors import ChairsideError
from drivers.mqtt import connected
from drivers.mqtt_settings import BrokerRefused, MqttSettings
from monitor.access.directory import Directory
from monitor.access.roles import PEOPLE, Role

from .idle import IdleLock
from .permissions import action_refusal

SignIn = Callable[[str, str], Awaitable[None]]
"""Checks a user name and password; raises `BrokerRefused` when the broker refuses them."""

WRONG = "wrong user name or password"
SIGN_IN_TIMEOUT_S = 15.0


class SignInRefused(ChairsideError):
    """This user cannot sign in at a screen; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: str
    role: Role
    name: str | None = None

    def label(self) -> str:
        return f"{self.user} · {self.role}" + (f" · {self.name}" if self.name else "")


def person(directory: Directory, user: str) -> SignedIn:
    """The directory's entry for a person who may sign in at a screen, or `SignInRefused`."""
    found = directory.users.get(user)
    if found is None:
        raise SignInRefused(f"{user!r} is not a user of site {directory.site!r}")
    if found.disabled:
        raise SignInRefused(f"{user!r} is disabled at this site")
    if found.role not in PEOPLE:
        raise SignInRefused(
            f"{user!r} is a {found.role} account, for a process: it cannot sign in at a screen")
    return SignedIn(user, found.role, found.name)


def with_credentials(mqtt: MqttSettings, user: str, password: str) -> MqttSettings:
    return mqtt.model_copy(update={"username": user, "password": SecretStr(password)})


def broker_sign_in(mqtt: MqttSettings, site: str) -> SignIn:
    """The real check: a connection with these credentials, closed at once."""

    async def check(user: str, password: str) -> None:
        identifier = f"chairside-signin-{site}-{uuid.uuid4().hex[:8]}"
        async with asyncio.timeout(SIGN_IN_TIMEOUT_S):
            async with connected(with_credentials(mqtt, user, password), identifier):
                pass

    return check


async def check_password(sign_in: SignIn, user: str, password: str,
                         url: str | None) -> str | None:
    """None if the broker accepts ``user`` with ``password``, else why not, in one line."""
    if not password:
        return "enter the password"
    try:
        await sign_in(user, password)
    except BrokerRefused:
        return WRONG
    except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
        where = f" {url}" if url else ""
        return f"cannot reach the broker{where} to check the password: {exc or 'timed out'}"
    return None


KIOSK = "KIOSK · read only"


class ScreenUser:
    """The person (or wall display) behind one screen."""

    def __init__(self, mqtt: MqttSettings | None, site: str, clock: Clock, user: str, *,
                 directory: Directory | None, sign_in: SignIn | None, kiosk: bool,
                 idle_lock_s: float, sends_commands: bool = True) -> None:
        self.site_mqtt = self.mqtt = mqtt
        self.directory = None if kiosk else directory
        self.kiosk = kiosk
        self.sends_commands = sends_commands
        self.signed_in: SignedIn | None = None
        self.idle = IdleLock(clock, idle_lock_s)
        self.open_user = self.user = user
        self._check: SignIn | None = sign_in or (
            broker_sign_in(mqtt, site) if mqtt is not None else None)

    @property
    def needs_sign_in(self) -> bool:
        """A site with a user directory, and this is no kiosk: nobody is shown anything of a
        patient, nor sends anything, before signing in."""
        return self.directory is not None

    @property
    def showing(self) -> bool:
        """May this screen show the site's chairs now?"""
        return not self.needs_sign_in or self.signed_in is not None

    @property
    def locked(self) -> bool:
        return self.signed_in is not None and self.idle.check()

    def _url(self) -> str | None:
        return self.site_mqtt.url() if self.site_mqtt is not None else None

    async def sign_in(self, user: str, password: str) -> str | None:
        """Sign ``user`` in (None), or say why not in one line."""
        assert self.directory is not None
        try:
            found = person(self.directory, user)
        except SignInRefused as exc:
            return str(exc)
        if self._check is None:
            return "no broker is configured to check the password"
        problem = await check_password(self._check, user, password, self._url())
        if problem is not None:
            return problem
        self.signed_in = found
        self.user = user
        self.idle.unlock()
        if self.site_mqtt is not None:
            self.mqtt = with_credentials(self.site_mqtt, user, password)
        return None

    def sign_out(self) -> None:
        self.signed_in = None
        self.user = self.open_user
        self.mqtt = self.site_mqtt

    async def unlock(self, password: str) -> str | None:
        """Unlock with the signed-in user's password, checked by the broker again."""
        if self.signed_in is None or self._check is None:
            return "nobody is signed in"
        problem = await check_password(self._check, self.signed_in.user, password, self._url())
        if problem is None:
            self.idle.unlock()
        return problem

    def identity(self) -> str | None:
        """The line that says who this screen is, on every screen (None: an open site)."""
        if self.kiosk:
            return KIOSK
        if self.signed_in is None:
            return None
        if self.locked:
            return f"LOCKED · {self.signed_in.label()} · a command asks for the password"
        return f"signed in: {self.signed_in.label()}"

    def sender_label(self) -> str | None:
        """Who a form's command is from, when the broker vouches for it: not for editing."""
        signed = self.signed_in
        return None if signed is None else f"{signed.user} ({signed.role})"

    def refusal(self, action: str) -> str | None:
        """Why this screen may not take a command action, or None if it may."""
        if not self.sends_commands:
            return "a replay sends no commands"
        if self.kiosk:
            return f"{KIOSK}: this wall display sends no commands"
        if not self.needs_sign_in:
            return None
        if self.signed_in is None:
            return "sign in first"
        return action_refusal(self.signed_in.role, self.signed_in.user, action)
