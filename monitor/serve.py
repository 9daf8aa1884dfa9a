"""``chairside serve``: the dashboard in a web browser (textual-serve).

Each browser tab that opens the page gets a dashboard process of its own, started as
``chairside dashboard`` with the same configuration, broker and site, so a browser shows
exactly what a terminal shows, the sign-in first where the site has a user directory (or, with
``--kiosk``, a read-only wall display). The address defaults to loopback: put a
TLS-terminating reverse proxy in front before opening it to a clinic's network, since the
password typed at the sign-in crosses the connection between the browser and this server.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from monitor.cli_support import broker_options, settings_from


def dashboard_command(
    config: Path | None, broker: str | None, site: str | None, chair: str | None,
    kiosk: bool = False, remote: bool = False, sites: str | None = None,
) -> str:
    """The shell command textual-serve runs for each browser tab."""
    argv = [sys.executable, "-m", "monitor.cli", "dashboard"]
    if config is not None:
        argv += ["--config", str(config.resolve())]
    if broker:
        argv += ["--broker", broker]
    if site:
        argv += ["--site", site]
    if chair:
        argv += ["--chair", chair]
    if kiosk:
        argv.append("--kiosk")
    if remote:
        argv.append("--remote")
    if sites:
        argv += ["--sites", sites]
    return shlex.join(argv)


@click.command()
@broker_options
@click.option("--host", default=None, metavar="ADDRESS",
              help="address to listen on (default: [dashboard] serve_host)")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="port to listen on (default: [dashboard] serve_port)")
@click.option("--chair", default=None, help="open this chair's view (default: the overview)")
@click.option("--public-url", default=None, metavar="URL",
              help="the address browsers use, when behind a proxy (default http://HOST:PORT)")
@click.option("--kiosk", is_flag=True,
              help="a read-only wall display: no sign-in, no commands")
@click.option("--remote", is_flag=True,
              help="watch the site from the regional broker (see chairside dashboard --remote)")
@click.option("--sites", default=None, metavar="SITE,SITE|all",
              help="watch these sites from the regional broker (see chairside dashboard --sites)")
def serve(
    config: Path | None, broker: str | None, site: str | None, host: str | None,
    port: int | None, chair: str | None, public_url: str | None, kiosk: bool, remote: bool,
    sites: str | None,
) -> None:
    """The dashboard in a web browser: open http://HOST:PORT."""
    from textual_serve.server import Server

    settings = settings_from(config, broker, site)  # a bad configuration stops here (exit 2)
    dashboard = settings.dashboard
    host = host or dashboard.serve_host
    port = port or dashboard.serve_port
    command = dashboard_command(config, broker, site, chair, kiosk, remote, sites)
    server = Server(command, host=host, port=port, title=f"Chairside · {settings.site.name}",
                    public_url=public_url)
    server.serve()


if __name__ == "__main__":  # pragma: no cover
    serve()
