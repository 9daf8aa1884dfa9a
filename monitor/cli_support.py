"""What every ``chairside`` command shares: loading the configuration (exit 2 with one line
on any problem), the ``--config``/``--broker``/``--site`` options, logging, and running a
coroutine. Kept apart from the command modules so each of them can import it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from drivers.mqtt_settings import BrokerRefused
from monitor.config import ConfigError, Settings, load_settings, with_options

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CONFIG = 2


def fail_config(message: str) -> NoReturn:
    """A configuration that cannot be used: one line on standard error, exit 2."""
    click.echo(f"chairside: {message}", err=True)
    sys.exit(EXIT_CONFIG)


def settings_from(
    config: Path | None, broker: str | None = None, site: str | None = None
) -> Settings:
    """Load the configuration and apply the command line's overrides, or exit 2."""
    try:
        settings = with_options(load_settings(config), broker, site)
    except ConfigError as exc:
        fail_config(str(exc))
    logging.basicConfig(
        level=getattr(logging, settings.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return settings


def log_to_file(path: Path) -> None:
    """While a full-screen view runs, log lines would tear it: send them to a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="configuration file (default: $CHAIRSIDE_CONFIG, else ./config.toml)",
    )(func)


def broker_options(func: F) -> F:
    func = click.option(
        "--broker", default=None, metavar="URL",
        help="mqtt://[user:password@]host:port (mqtts:// for TLS); overrides [mqtt]",
    )(func)
    func = click.option("--site", default=None, help="site identifier; overrides [site].id")(func)
    return config_option(func)


def run_async(coro: Coroutine[Any, Any, int | None]) -> int:
    """Run a command's coroutine. SIGTERM (how systemd stops a unit) cancels it, so it stops
    as cleanly as on Ctrl-C: a gateway says offline, a spool is closed; exit code 0."""

    terminated = False

    async def main() -> int | None:
        task = asyncio.current_task()
        assert task is not None

        def terminate() -> None:
            nonlocal terminated
            terminated = True
            task.cancel()

        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(signal.SIGTERM, terminate)
        try:
            return await coro
        except asyncio.CancelledError:
            if terminated:
                return 0  # asked to stop
            raise

    try:
        return asyncio.run(main()) or 0
    except KeyboardInterrupt:
        return 130
    except BrokerRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
