"""Serial devices: a port opened with pyserial, read with asyncio, decoded by a framer.

Ports are given by path (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``, a pseudo-terminal) or
by pyserial URL (``socket://host:port`` for a serial-to-Ethernet adapter, ``rfc2217://...``,
``loop://``). How each is read:

* a path: ``serial.serial_for_url`` opens it (in a worker thread: opening a USB adapter can
  block) with the configured baud rate and 8N1, no flow control; the event loop then waits on
  its file descriptor (``add_reader``), so an idle port costs nothing;
* ``socket://``: an asyncio TCP connection (it is one);
* any other URL: pyserial's object, read by a thread of its own with a short timeout.

The driver keeps the port open and the framer fed. When the port goes away (a USB adapter
unplugged, the far end of a pseudo-terminal closed, the TCP peer gone) or stays silent for
``silence_s``, it says so in the device status and reopens the port with backoff (0.25, 0.5,
1, ... ``reconnect_max_s``). Garbage on the line is counted by the framer (bad frames,
dropped bytes) and reported as degraded while good frames still get through.

Nonin oximeters in format #2, #7 or #8 are asked for that format at every connection (the
``02 70 02 02 ZZ 03`` command); the answer (ACK or NAK) is awaited for ``select_timeout_s``.
HL7 (MLLP) monitors get their ACK written back after every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import serial

from drivers.clock import Clock
from drivers.device_spec import DeviceSpec
from drivers.errors import ChairsideError
from drivers.mqtt import Backoff
from drivers.protocols.base import Framer
from drivers.protocols.nonin import encode_format_select
from drivers.protocols.registry import PROTOCOLS
from drivers.tasks import stop_if_cancelled
from drivers.tracker import DeviceTracker, Sink

log = logging.getLogger(__name__)

ACK = 0x06
NAK = 0x15


class PortGone(ChairsideError, ConnectionError):
    """The port disappeared or its far end closed; the message says how."""


class Port(Protocol):
    """An open serial port, as the driver uses it."""

    description: str

    async def read(self) -> bytes:
        """The next bytes (never empty); raises `PortGone` when the port is gone."""
        ...

    async def write(self, data: bytes) -> None: ...

    def discard_input(self) -> None:
        """Forget bytes received but not yet read."""
        ...

    def close(self) -> None: ...


PortOpener = Callable[[str, int], Awaitable[Port]]


def _explain(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{os.strerror(exc.errno)} (errno {errno.errorcode.get(exc.errno, exc.errno)})"
    text = str(exc)
    return text or type(exc).__name__


class _Inbox:
    """Bytes handed over from a reader callback or thread, awaited by the driver."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._gone: str | None = None
        self._ready = asyncio.Event()

    def put(self, data: bytes) -> None:
        self._chunks.append(data)
        self._ready.set()

    def gone(self, reason: str) -> None:
        if self._gone is None:
            self._gone = reason
        self._ready.set()

    def clear(self) -> None:
        self._chunks.clear()

    async def get(self) -> bytes:
        while not self._chunks:
            if self._gone is not None:
                raise PortGone(self._gone)
            self._ready.clear()
            await self._ready.wait()
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


class FdPort:
    """A port with a file descriptor (a tty, a pseudo-terminal), read through the loop."""

    def __init__(self, ser: Any, endpoint: str) -> None:
        self._ser = ser
        self._fd: int = ser.fileno()
        self._loop = asyncio.get_running_loop()
        self._inbox = _Inbox()
        self._closed = False
        self.description = endpoint
        self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self._stop_reading()
            self._inbox.gone(f"{self.description}: {_explain(exc)}")
            return
        if not data:
            # Readable but nothing to read: the device is gone (a USB adapter unplugged, the
            # other end of a pseudo-terminal closed).
            self._stop_reading()
            self._inbox.gone(f"{self.description}: device disconnected (end of file)")
            return
        self._inbox.put(data)

    def _stop_reading(self) -> None:
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._fd)

    async def read(self) -> bytes:
        return await self._inbox.get()

    async def write(self, data: bytes) -> None:
        try:
            await self._loop.run_in_executor(None, self._ser.write, data)
        except (OSError, serial.SerialException) as exc:
            raise PortGone(f"{self.description}: write failed: {_explain(exc)}") from exc

    def discard_input(self) -> None:
        with contextlib.suppress(OSError, serial.SerialException):
            self._ser.reset_input_buffer()
        self._inbox.clear()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_reading()
        with contextlib.suppress(Exception):
            self._ser.close()


class SocketPort:
    """``socket://host:port``: a serial line behind a TCP serial server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 endpoint: str) -> None:
        self._reader = reader
        self._writer = writer
        self.description = endpoint

    async def read(self) -> bytes:
        try:
            data = await self._reader.read(4096)
        except OSError as exc:
            raise PortGone(f"{self.description}: {_explain(exc)}") from exc
        if not data:
            raise PortGone(f"{self.description}: connection closed by the serial server")
        return data

    async def write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError as exc:
            raise PortGone(f"{self.description}: write failed: {_explain(exc)}") from exc

    def discard_input(self) -> None:
        """Nothing to flush on a TCP stream: the driver discards by reading."""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()


class ThreadPort:
    """Any other pyserial URL: a thread reads with a short timeout and hands bytes over."""

    def __init__(self, ser: Any, endpoint: str) -> None:
        self._ser = ser
        self._loop = asyncio.get_running_loop()
        self._inbox = _Inbox()
        self._stop = threading.Event()
        self.description = endpoint
        self._thread = threading.Thread(target=self._reader, name=f"serial {endpoint}",
                                        daemon=True)
        self._thread.start()

    def _reader(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._ser.read(max(1, self._ser.in_waiting))
            except Exception as exc:  # any failure means the port is gone
                if not self._stop.is_set():
                    reason = f"{self.description}: {_explain(exc)}"
                    with contextlib.suppress(RuntimeError):
                        self._loop.call_soon_threadsafe(self._inbox.gone, reason)
                return
            if data:
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._inbox.put, bytes(data))

    async def read(self) -> bytes:
        return await self._inbox.get()

    async def write(self, data: bytes) -> None:
        try:
            await self._loop.run_in_executor(None, self._ser.write, data)
        except (OSError, serial.SerialException) as exc:
            raise PortGone(f"{self.description}: write failed: {_explain(exc)}") from exc

    def discard_input(self) -> None:
        with contextlib.suppress(Exception):
            self._ser.reset_input_buffer()
        self._inbox.clear()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            self._ser.close()


async def open_port(endpoint: str, baudrate: int) -> Port:
    """Open a serial endpoint (path or URL) at ``baudrate``, 8N1, no flow control.

    Raises OSError (or `serial.SerialException`, itself an OSError) naming the cause.
    """
    loop = asyncio.get_running_loop()
    parts = urlsplit(endpoint)
    if parts.scheme == "socket":
        if not parts.hostname or parts.port is None:
            raise ValueError(f"{endpoint!r}: expected socket://host:port")
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port), timeout=10.0
        )
        return SocketPort(reader, writer, endpoint)
    is_url = "://" in endpoint

    def _open() -> Any:
        return serial.serial_for_url(
            endpoint,
            baudrate=baudrate,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE,
            timeout=0.2 if is_url else 0,
            write_timeout=2.0,
            exclusive=None if is_url else True,
        )

    ser = await loop.run_in_executor(None, _open)
    try:
        if not is_url:
            ser.reset_input_buffer()  # what arrived while nobody listened is stale
            return FdPort(ser, endpoint)
        return ThreadPort(ser, endpoint)
    except BaseException:
        ser.close()
        raise


PRESENCE_POLL_S = 0.1
"""How often an absent device path is looked for: a stat, cheap enough to do often."""


def _present(endpoint: str) -> bool:
    """A URL is always there to try; a device path only while it exists (one stat, local)."""
    return "://" in endpoint or os.path.lexists(endpoint)


async def _until_present(endpoint: str, delay: float) -> None:
    """Wait ``delay``, or less if the device path that was absent appears: a nurse who plugs
    the cable back in sees the device at once, not after a backoff that grew meanwhile."""
    if _present(endpoint):
        await asyncio.sleep(delay)
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay
    while (left := deadline - loop.time()) > 0:
        await asyncio.sleep(min(PRESENCE_POLL_S, left))
        if _present(endpoint):
            return


class _Silent(Exception):
    """No data for ``silence_s``: the port is reopened."""


class SerialDriver:
    """One serial device: open, select format, read, decode, deliver; reopen when needed."""

    def __init__(
        self,
        spec: DeviceSpec,
        chair: str,
        sink: Sink,
        clock: Clock,
        framer_factory: Callable[[], Framer],
        *,
        silence_s: float | None = 10.0,
        reconnect_max_s: float = 10.0,
        select_timeout_s: float = 2.0,
        garbage_window_s: float = 10.0,
        refresh_s: float = 10.0,
        opener: PortOpener = open_port,
    ) -> None:
        self.spec = spec
        self.chair = chair
        self.framer = framer_factory()
        protocol = PROTOCOLS.get(spec.protocol)
        self.select_format = protocol.format_select if protocol is not None else None
        self.select_timeout_s = select_timeout_s
        self.silence_s = silence_s
        self.reconnect_max_s = reconnect_max_s
        self.opener = opener
        self.tracker = DeviceTracker(
            sink, clock, chair, spec,
            garbage_window_s=garbage_window_s, silence_s=silence_s, refresh_s=refresh_s,
        )
        self.opened = 0
        self.replies_sent = 0
        self.port: Port | None = None
        self._leftover = b""  # bytes read after a format-select answer, not yet decoded

    @property
    def name(self) -> str:
        return self.spec.name

    async def run(self) -> None:
        """Until cancelled: keep the port open and the readings flowing."""
        try:
            async with self.tracker.reporting():
                await self._loop()
        finally:
            if self.port is not None:
                self.port.close()
                self.port = None

    async def _loop(self) -> None:
        backoff = Backoff(maximum=self.reconnect_max_s)
        endpoint = self.spec.endpoint
        self.tracker.link("connecting", f"opening {endpoint}")
        while True:
            try:
                self.port = await self.opener(endpoint, self.spec.baudrate)
            except (OSError, ValueError, TimeoutError) as exc:
                stop_if_cancelled(exc)
                delay = backoff.next()
                self.tracker.link("disconnected", f"cannot open {endpoint}: {_explain(exc)}")
                await _until_present(endpoint, delay)
                continue
            if self.opened:
                self.tracker.reconnected()
            self.opened += 1
            frames_before = self.tracker.frames
            self.framer.reset()
            self.tracker.link("connected")
            try:
                if self.select_format is not None:
                    await self._select(self.port)
                await self._pump(self.port)
            except PortGone as exc:
                stop_if_cancelled(exc)
                self.tracker.link("disconnected", str(exc))
            except _Silent:
                log.info("%s/%s: no data for %.0f s; reopening %s", self.chair, self.name,
                         self.silence_s or 0, endpoint)
            finally:
                self.port.close()
                self.port = None
            if self.tracker.frames > frames_before:
                backoff.reset()
            await asyncio.sleep(backoff.next())

    async def _read(self, port: Port, within: float | None) -> bytes:
        if within is None:
            return await port.read()
        try:
            async with asyncio.timeout(max(0.0, within)):
                return await port.read()
        except TimeoutError:
            raise _Silent() from None

    async def _pump(self, port: Port) -> None:
        loop = asyncio.get_running_loop()
        last_good = loop.time()
        data, self._leftover = self._leftover, b""
        while True:
            if data:
                before = self.framer.stats.frames
                result = self.framer.feed(data)
                for reply in result.replies:
                    await port.write(reply)
                    self.replies_sent += 1
                for measurement in result.measurements:
                    self.tracker.deliver(measurement, self.spec.protocol)
                if result.unusable:
                    self.tracker.saw_unusable(result.unusable)
                for error in result.errors:
                    log.debug("%s/%s: %s", self.chair, self.name, error)
                self.tracker.saw_stream(self.framer.stats)
                if self.framer.stats.frames > before:
                    last_good = loop.time()
            within = None
            if self.silence_s is not None:
                within = last_good + self.silence_s - loop.time()
            data = await self._read(port, within)

    async def _select(self, port: Port) -> None:
        """Ask a Nonin oximeter for the protocol's data format; wait for ACK or NAK."""
        fmt = self.select_format
        assert fmt is not None
        port.discard_input()
        await port.write(encode_format_select(fmt))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.select_timeout_s
        while True:
            remaining = deadline - loop.time()
            try:
                async with asyncio.timeout(max(0.0, remaining)):
                    data = await port.read()
            except TimeoutError:
                log.warning("%s/%s: no answer to the format #%d select command within %g s; "
                            "reading the data as format #%d", self.chair, self.name, fmt,
                            self.select_timeout_s, fmt)
                return
            for i, byte in enumerate(data):
                if byte in (ACK, NAK):
                    # Bytes before the answer were sent before the command took effect.
                    self._leftover = data[i + 1:]
                    if byte == NAK:
                        self.tracker.problem(f"the oximeter refused data format #{fmt} (NAK)")
                    else:
                        self.tracker.problem(None)
                        log.info("%s/%s: data format #%d selected", self.chair, self.name, fmt)
                    return


__all__ = [
    "FdPort",
    "Port",
    "PortGone",
    "PortOpener",
    "SerialDriver",
    "SocketPort",
    "ThreadPort",
    "open_port",
]
