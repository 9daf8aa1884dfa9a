"""The pure session engine: sessions, alarms, observation clock and discharge readiness.

No I/O and no clock: ``Engine.handle(chair, message, now)`` and ``Engine.tick(now)`` return
what changed. The shipped clinical configuration is the ``[engine]`` section of ``config.toml``.
"""

from .config import AlarmRule, BpCheckSpec, EngineConfig, Limit, ProtocolConfig
from .engine import Engine, Message, Output

__all__ = [
    "AlarmRule",
    "BpCheckSpec",
    "Engine",
    "EngineConfig",
    "Limit",
    "Message",
    "Output",
    "ProtocolConfig",
]
