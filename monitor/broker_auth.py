"""The embedded broker's sign-in, as an amqtt plugin: the same password hashes that Mosquitto
is given.

It enforces no ACL: amqtt 0.12 runs its topic filters while iterating its subscriptions, and
a subscription arriving meanwhile ends the broadcast ("dictionary changed size during
iteration"). The embedded broker is for the demo on loopback; the ACL is Mosquitto's. The
engine's own checks (the sender's role, a payload's ``by`` against its topic) hold on both.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

from monitor.access.passwords import verify

AUTH_PLUGIN = "monitor.broker_auth.PasswordAuth"


class PasswordAuth(BaseAuthPlugin):  # type: ignore[misc]
    """A client connects only with a user name and the password its hash was made from."""

    @dataclass
    class Config:
        passwords: dict[str, str] = field(default_factory=dict)

    async def authenticate(self, *, session: Session) -> bool:
        hashed = self.config.passwords.get(session.username or "")
        if hashed is None or session.password is None:
            return False
        # PBKDF2 takes a while by design: off the broker's loop.
        return await asyncio.to_thread(verify, str(session.password), hashed)
