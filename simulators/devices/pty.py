"""A serial line for a simulated device: a pseudo-terminal, with a stable path.

The device writes to the master side; the real serial driver opens the slave side by path,
exactly as it opens ``/dev/ttyUSB0``. The path it is given is a symbolic link (like the
``/dev/serial/by-id/...`` links udev makes) pointing at the current ``/dev/pts/N``, so that
unplugging and plugging the device back in (a new pseudo-terminal) keeps the path:

* ``unplug()`` closes the pseudo-terminal and removes the link: the driver's reads fail (EIO,
  as when a USB adapter is pulled) and reopening fails (no such file) until
* ``plug()`` opens a new pseudo-terminal and points the link at it.

The slave side is put in raw mode (no echo, no line-ending translation) before anyone opens
it, and the simulator keeps a slave descriptor of its own open, so the line stays up while
the driver reconnects. Bytes written while nobody reads are dropped when the line's buffer is
full, as a real device's are.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import tempfile
import tty
from collections.abc import Callable
from pathlib import Path


def default_dir() -> Path:
    """Where the links live: ``$XDG_RUNTIME_DIR/chairside`` or ``/tmp/chairside-UID``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "chairside"
    return Path(tempfile.gettempdir()) / f"chairside-{os.getuid()}"


class PtyLine:
    """One simulated serial cable, pluggable, at ``path``."""

    def __init__(self, path: str | Path, on_receive: Callable[[bytes], None] | None = None) -> None:
        self.path = Path(path)
        self.on_receive = on_receive
        self._master: int | None = None
        self._slave: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.written = 0
        self.dropped = 0
        self.received = 0
        self.plugs = 0

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def tty_name(self) -> str | None:
        return os.ttyname(self._slave) if self._slave is not None else None

    def plug(self) -> None:
        """Open a new pseudo-terminal and point ``path`` at it."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        flags = fcntl.fcntl(master, fcntl.F_GETFL)
        fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._master, self._slave = master, slave
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.path)
        self.plugs += 1
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        if self._loop is not None:
            self._loop.add_reader(master, self._readable)

    def unplug(self) -> None:
        """Close the pseudo-terminal and remove ``path``: the device is gone."""
        master, slave = self._master, self._slave
        self._master = self._slave = None
        with contextlib.suppress(FileNotFoundError):
            if self.path.is_symlink():
                self.path.unlink()
        if master is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(master)
            os.close(master)
        if slave is not None:
            os.close(slave)

    def write(self, data: bytes) -> int:
        """Send bytes down the line; returns how many went (the rest is dropped)."""
        if self._master is None or not data:
            return 0
        try:
            sent = os.write(self._master, data)
        except BlockingIOError:
            sent = 0
        except OSError:
            sent = 0
        self.written += sent
        self.dropped += len(data) - sent
        return sent

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            if self._loop is not None:  # the line is broken: stop watching it
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._master)
            return
        if data:
            self.received += len(data)
            if self.on_receive is not None:
                self.on_receive(data)

    def close(self) -> None:
        self.unplug()


__all__ = ["PtyLine", "default_dir"]
