"""The base of every error Chairside raises on purpose.

Each area has its own subclass (a frame that cannot be decoded, a refused broker, a bad
configuration, a store that failed...), so a command can catch `ChairsideError` to print one
line and exit with a code, while anything else is a bug and keeps its traceback. It lives in
`drivers`, the bottom layer, so that every package can derive from it. Where an area's
error was already a `ValueError` or `ConnectionError`, it stays one too: callers that catch
those keep working.
"""

from __future__ import annotations


class ChairsideError(Exception):
    """An error Chairside raises on purpose, with a message meant for a person."""
