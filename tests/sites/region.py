"""A region for the tests: a regional Mosquitto that signs its clients in with the password
file and ACL `chairside sites` writes, the region's own people, and sites bridged to it by
the configuration it writes; one site reaches the region through an uplink the test can cut.

`running_region` runs a whole region as real processes (each site a `tests.faults.site.Site`:
its Mosquitto, engine, recorder and gateways with simulated devices, all signed in, the
recorders writing to one central PostgreSQL) and yields a `Region`, to which a test attaches
what watches it from the region: observers, or a remote screen."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from drivers.mqtt_settings import MqttSettings
from monitor.access.commands import write_files
from monitor.access.directory import User, new
from monitor.access.passwords import hash_password
from monitor.access.roles import Role
from monitor.recording.store import open_store
from monitor.sites import BRIDGE_ROOT, bridge_state_topic, load, write
from tests.brokers import Mosquitto, signing_in
from tests.faults.site import Screen, Site
from tests.integration.helpers import Observer, running


class Uplink:
    """A site's route to the region, as a TCP relay that can go down: every connection on it
    closes and new ones are refused until it is restored (a router that lost its line)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = 0
        self.down = False
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def drop(self) -> None:
        self.down = True
        for writer in list(self._open):
            writer.transport.abort()

    def restore(self) -> None:
        self.down = False

    async def stop(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._open |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except asyncio.CancelledError:
            pass  # the relay is shut down with its loop: its connections end with it
        finally:
            self._open -= {writer, up_writer}


async def until(check: Callable[[], object], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.05)


def pw(user: str) -> str:
    return f"pw-of-{user}"


def as_user(broker: Mosquitto, user: str | None = None) -> MqttSettings:
    return MqttSettings(broker="external", host="127.0.0.1", port=broker.port, keepalive_s=5,
                        reconnect_max_s=0.5, username=user,
                        password=SecretStr(pw(user)) if user else None)


def region_people(folder: Path, users: Mapping[str, Role], sites: Iterable[str]) -> Path:
    """In ``folder``: each site's bridge account (``SITE.env``) and the region's own users
    (``region-users.toml``, with their password file), as the sites file names them."""
    folder.mkdir(parents=True, exist_ok=True)
    for site in sites:
        (folder / f"{site}.env").write_text(
            f"# the bridge's account at the region\nREMOTE_USERNAME=bridge-{site}\n"
            f"REMOTE_PASSWORD={pw(f'bridge-{site}')}\n")
    people = new(folder / "region-users.toml", "region")
    for name, role in users.items():
        people = people.with_user(name, User(role=role))
    write_files(people, {u: hash_password(pw(u), iterations=1000) for u in people.users})
    return folder


def sites_toml(region_port: int, sites: Mapping[str, bool]) -> str:
    """A sites file for the region on ``region_port``: each site, whether its readings go up."""
    blocks = "".join(f'\n[sites.{site}]\nenv_file = "{site}.env"\n'
                     + ("readings = true\n" if readings else "")
                     for site, readings in sites.items())
    return (f'[region]\nhost = "127.0.0.1"\nport = {region_port}\nkeepalive_s = 2\n'
            f'users = "region-users.toml"\n{blocks}')


REGION_USERS: dict[str, Role] = {"region-dr": "physician", "region-nurse": "nurse"}
"""The region's own people: a physician and a nurse who work from the region."""

CUT = "b"
"""The site whose uplink the test can cut."""


@dataclass
class Region:
    """A region running: what a test, or a screen at the region, attaches to."""

    broker: Mosquitto
    """The regional broker (signing in, the ACL `chairside sites` wrote)."""
    users: dict[str, Role]
    """The region's own people and their roles, the same in every site's directory."""
    sites: dict[str, Site]
    """Each site by its id, running: broker (bridged), engine, recorder, gateways."""
    uplink: Uplink
    """Site b's route to the region, which the test can cut."""
    store: str
    """The central PostgreSQL every site's recorder writes to."""
    bridges: Observer
    """Every bridge's state as the region sees it (as the region's physician)."""
    local: dict[str, Screen]
    """A screen at each site, on the site's own broker (as the site's QA user)."""

    def as_user(self, user: str) -> MqttSettings:
        """A client of the regional broker signed in as one of the region's people."""
        return as_user(self.broker, user)

    def recorded(self, site: str, kind: str) -> set[str]:
        """The ids of the site's valid messages of one type (``reading``, ``alarm``...) in
        the central store, read through its API."""
        with open_store(self.store) as store:
            return {str(json.loads(m.payload)["id"])
                    for m in store.messages(types=[kind], site=site) if m.valid}

    def bridge_states(self, site: str, since: int = 0) -> list[bytes]:
        """The states the region has had of the site's bridge, from the ``since``-th on."""
        return [p for t, p in self.bridges.raw[since:] if t == bridge_state_topic(site)]


@contextlib.asynccontextmanager
async def running_region(folder: Path, binary: str, store: str,
                         chairs: tuple[str, ...] = ("c1",)) -> AsyncIterator[Region]:
    """Sites a and b, each a whole signed-in site of real processes bridged to a regional
    broker (b through the uplink), the recorders writing to ``store``; yielded once every
    engine and gateway is online on its site's screen, every recorder is writing and both
    bridges are up at the region."""
    files = region_people(folder / "region-files", REGION_USERS, ("a", CUT))
    (folder / "region").mkdir()
    out = folder / "sites-out"
    broker = Mosquitto(folder / "region", binary, extra_config=signing_in(
        out / "region.passwd", out / "region.acl"))
    uplink = Uplink(broker.port)
    await uplink.start()
    (files / "sites.toml").write_text(sites_toml(broker.port, {"a": False, CUT: False}))
    write(load(files / "sites.toml"), out, iterations=1000)
    guests = {name: User(role=role) for name, role in REGION_USERS.items()}
    sites: dict[str, Site] = {}
    for name in ("a", CUT):
        conf = (out / f"bridge-{name}.conf").read_text()
        if name == CUT:
            conf = conf.replace(f"address 127.0.0.1:{broker.port}",
                                f"address 127.0.0.1:{uplink.port}")
        sites[name] = Site(folder / f"site-{name}", binary, list(chairs), signed_in=True,
                           store=store, site=name, guests=guests,
                           broker_config=conf.splitlines())
    bridges = Observer(as_user(broker, "region-dr"), [f"{BRIDGE_ROOT}/+/state"])
    local = {name: Screen(site.mqtt, name) for name, site in sites.items()}
    region = Region(broker, dict(REGION_USERS), sites, uplink, store, bridges, local)
    started: list[Site] = []
    try:
        broker.start()
        for site in sites.values():
            site.start()
            started.append(site)
        async with running(bridges.run(), *(screen.run() for screen in local.values())):
            await bridges.subscribed()
            for name, site in sites.items():
                await site.up(local[name])
                # The recorder has subscribed once it records: from then on its persistent
                # session keeps what it has not yet taken.
                await until(lambda s=name: region.recorded(s, "reading"),  # type: ignore[misc]
                            30, f"{name}'s recorder writing to the central store")
                await until(lambda s=name: b"1" in region.bridge_states(s),  # type: ignore[misc]
                            30, f"{name}'s bridge up at the region")
            yield region
    except BaseException:
        for site in started:
            print(site.logs())
        raise
    finally:
        await uplink.stop()
        for site in started:
            site.close()
        broker.stop()
