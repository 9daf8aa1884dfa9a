"""Three real Mosquittos on loopback: a regional broker and two sites bridged to it by the
configuration `chairside sites` writes. What must go up goes up, commands come down to their
own site only, readings stay at the site unless it says otherwise, the regional broker
enforces its ACL, and an uplink cut queues what must go up while the bridge's state shows
the site unreachable, on a dashboard at the region too; a region screen of "all" sites
finds each by its bridge."""

from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path

import pytest
from textual.widgets import Static

from drivers import topics
from drivers.clock import WallClock
from monitor.config import DashboardSettings
from monitor.dashboard.app import DashboardApp
from monitor.dashboard.tile import ChairTile
from monitor.sites import bridge_state_topic, load, write
from tests.access.site import make_ca
from tests.brokers import Mosquitto, free_port, signing_in
from tests.dashboard.states import chair_state
from tests.integration.helpers import Observer, publish, running
from tests.sites.region import Uplink, as_user, sites_toml, until

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


def sites_file(folder: Path, region_port: int) -> Path:
    path = folder / "sites.toml"
    path.write_text(sites_toml(region_port, {"east": False, "west": True}))  # west: readings up
    return path


async def test_two_sites_bridged_to_a_region(tmp_path: Path, binary: str,
                                             region_files: Path) -> None:
    out = tmp_path / "out"
    (tmp_path / "region").mkdir()
    region = Mosquitto(tmp_path / "region", binary, extra_config=signing_in(
        out / "region.passwd", out / "region.acl"))
    uplink = Uplink(region.port)
    await uplink.start()
    write(load(sites_file(region_files, region.port)), out, iterations=1000)
    brokers = {"region": region}
    for site in ("east", "west"):
        conf = (out / f"bridge-{site}.conf").read_text()
        if site == "east":  # east reaches the region through the uplink the test can cut
            conf = conf.replace(f"address 127.0.0.1:{region.port}",
                                f"address 127.0.0.1:{uplink.port}")
        (tmp_path / site).mkdir()
        brokers[site] = Mosquitto(tmp_path / site, binary, extra_config=conf.splitlines())
    for broker in brokers.values():
        broker.start()
    at_region = Observer(as_user(region, "region-qa"), ["chairside/#"])
    at_east = Observer(as_user(brokers["east"]), ["chairside/#"])
    at_west = Observer(as_user(brokers["west"]), ["chairside/#"])
    east, west = as_user(brokers["east"]), as_user(brokers["west"])

    def seen(observer: Observer, topic: str, payload: bytes | None = None) -> int:
        return sum(1 for t, p in observer.raw if t == topic and payload in (None, p))

    try:
        async with running(at_region.run(), at_east.run(), at_west.run()):
            for observer in (at_region, at_east, at_west):
                await observer.subscribed()
            for site in ("east", "west"):
                await until(lambda s=site: seen(at_region, bridge_state_topic(s), b"1"),  # type: ignore[misc]
                            15, f"{site}'s bridge up at the region")

            # Up: states, alarms, answers and the engine's status; readings only from west.
            state, alarm = topics.state("east", "c1"), topics.alarms("east", "c1")
            reading = topics.reading("east", "c1", "spo2")
            await publish(east, reading, b"r-east")
            await publish(east, state, b"state-1", retain=True)
            await publish(east, topics.command_results("east", "c1"), b"answer-1")
            await publish(east, topics.engine_status("east"), b"online", retain=True)
            await publish(east, alarm, b"alarm-1")
            await publish(west, topics.reading("west", "c1", "spo2"), b"r-west")
            await until(lambda: seen(at_region, alarm, b"alarm-1"), 10, "east's alarm up")
            await until(lambda: seen(at_region, topics.reading("west", "c1", "spo2")), 10,
                        "west's reading up (west sends readings)")
            assert seen(at_region, state, b"state-1") == 1
            assert seen(at_region, topics.command_results("east", "c1"), b"answer-1") == 1
            assert seen(at_region, topics.engine_status("east"), b"online") == 1
            assert not seen(at_region, reading), "east's readings stay at east"

            # Down: a remote physician's command reaches its site only; the region's ACL
            # drops one under another sender's name.
            doctor = as_user(region, "dr-a")
            await publish(doctor, topics.commands("east", "c1", "nurse"), b"forged")
            await publish(doctor, topics.commands("east", "c1", "dr-a"), b"override")
            command = topics.commands("east", "c1", "dr-a")
            await until(lambda: seen(at_east, command, b"override"), 10,
                        "the remote command at east")
            assert not seen(at_east, topics.commands("east", "c1", "nurse"))
            assert not any("/commands/" in t for t, _ in at_west.raw)

            # The uplink is cut: the region shows east unreachable (the bridge's will),
            # east keeps working and queues; commands sent meanwhile wait at the region.
            uplink.drop()
            await until(lambda: at_region.raw[-1:] == [(bridge_state_topic("east"), b"0")]
                        or seen(at_region, bridge_state_topic("east"), b"0"), 15,
                        "east's bridge down at the region")
            await until(lambda: seen(at_east, bridge_state_topic("east"), b"0"), 15,
                        "east's bridge down at east")
            queued = [f"alarm-q{i}".encode() for i in range(20)]
            for payload in queued:
                await publish(east, alarm, payload)
            await publish(east, state, b"state-2", retain=True)
            await publish(doctor, command, b"while-down")
            await asyncio.sleep(1)
            assert not any(p in queued for _, p in at_region.raw)
            uplink.restore()
            await until(lambda: seen(at_region, state, b"state-2"), 20,
                        "east's queued state at the region once the uplink is back")
            assert [p for t, p in at_region.raw if t == alarm] == [b"alarm-1", *queued]
            await until(lambda: seen(at_region, bridge_state_topic("east"), b"1") >= 2, 10,
                        "east's bridge up again at the region")
            await until(lambda: seen(at_east, command, b"while-down"), 10,
                        "the command sent during the outage at east")
            # A screen that starts now at the region sees east's latest state, retained.
            late = Observer(as_user(region, "region-qa"), [state])
            async with running(late.run()):
                await until(lambda: late.raw == [(state, b"state-2")], 10,
                            "the retained state at the region")
    finally:
        await uplink.stop()
        for broker in brokers.values():
            broker.stop()



async def test_a_bridge_over_tls_checks_the_regions_certificate(
    tmp_path: Path, binary: str, region_files: Path,
) -> None:
    """Over TLS, with the CA the sites file names, east's state goes up; a bridge given
    another CA never connects, so what its broker holds never reaches the region."""
    tls, other = make_ca(tmp_path / "ca"), make_ca(tmp_path / "other-ca")
    port = free_port()
    out = {"good": tmp_path / "good", "wrong": tmp_path / "wrong"}
    (tmp_path / "region").mkdir()
    region = Mosquitto(tmp_path / "region", binary, extra_config=[
        *signing_in(out["good"] / "region.passwd", out["good"] / "region.acl"),
        f"listener {port} 127.0.0.1", f"cafile {tls.ca}", f"certfile {tls.cert}",
        f"keyfile {tls.key}", "tls_version tlsv1.2"])
    brokers = {"region": region}
    for name, ca in (("good", tls.ca), ("wrong", other.ca)):
        path = region_files / f"{name}.toml"
        path.write_text(f'[region]\nhost = "127.0.0.1"\nport = {port}\ncafile = "{ca}"\n'
                        'users = "region-users.toml"\n[sites.east]\nenv_file = "east.env"\n')
        write(load(path), out[name], iterations=1000)
        conf = (out[name] / "bridge-east.conf").read_text()
        assert f"bridge_cafile {ca}" in conf.splitlines()
        (tmp_path / f"site-{name}").mkdir()
        brokers[name] = Mosquitto(tmp_path / f"site-{name}", binary, extra_config=[
            line.replace("chairside-bridge-east", f"chairside-bridge-east-{name}")
            for line in conf.splitlines()])
    for broker in brokers.values():
        broker.start()
    state = topics.state("east", "c1")
    at_region = Observer(as_user(region, "region-qa"), [state])
    try:
        async with running(at_region.run()):
            await at_region.subscribed()
            await publish(as_user(brokers["wrong"]), state, b"from-the-wrong-ca", retain=True)
            await publish(as_user(brokers["good"]), state, b"over-tls", retain=True)
            await until(lambda: (state, b"over-tls") in at_region.raw, 15,
                        "east's state over TLS")
            await asyncio.sleep(2)  # the other bridge retries each second, and fails
            assert (state, b"from-the-wrong-ca") not in at_region.raw
    finally:
        for broker in brokers.values():
            broker.stop()


async def test_a_remote_screen_shows_a_site_unreachable_while_its_bridge_is_down(
    tmp_path: Path, binary: str, region_files: Path,
) -> None:
    """The dashboard at the region, signed in as the region's physician, shows east's chair
    live; the uplink is cut, the region sends the bridge's will, and the screen says east is
    unreachable over greyed tiles within seconds; the uplink is back, the state east queued
    meanwhile comes up, and the banner goes."""
    out = tmp_path / "out"
    (tmp_path / "region").mkdir()
    region = Mosquitto(tmp_path / "region", binary, extra_config=signing_in(
        out / "region.passwd", out / "region.acl"))
    uplink = Uplink(region.port)
    await uplink.start()
    write(load(sites_file(region_files, region.port)), out, iterations=1000)
    conf = (out / "bridge-east.conf").read_text().replace(
        f"address 127.0.0.1:{region.port}", f"address 127.0.0.1:{uplink.port}")
    (tmp_path / "east").mkdir()
    east = Mosquitto(tmp_path / "east", binary, extra_config=conf.splitlines())
    for broker in (region, east):
        broker.start()
    clock = WallClock()
    app = DashboardApp(as_user(region, "dr-a"), "east", DashboardSettings(), clock,
                       chairs=["c1"], tz=UTC, blink=False, remote=True)

    def banner() -> str | None:
        line = app.screen.query_one("#offline", Static)
        return None if line.has_class("hidden") else str(line.render())

    def tile_stale() -> bool:
        return app.screen.query_one("#tile-c1", ChairTile).has_class("stale")

    state = topics.state("east", "c1")
    try:
        async with app.run_test(size=(100, 30)):
            await until(lambda: app.floor.bridge is not None and app.floor.bridge.up, 15,
                        "east's bridge up, seen by the remote screen")
            await publish(as_user(east), state,
                          chair_state("c1", "observation", clock.now()).to_json(), retain=True)
            await until(lambda: banner() is None and not tile_stale(), 5,
                        "east's chair live on the remote screen")

            uplink.drop()
            await until(lambda: (banner() or "").startswith("SITE east UNREACHABLE since"), 5,
                        "the remote screen shows east unreachable")
            assert (banner() or "").endswith(
                "the chairs below are its last known state, not live")
            assert tile_stale()
            queued = chair_state("c1", "pre_dose", clock.now())
            await publish(as_user(east), state, queued.to_json(), retain=True)

            uplink.restore()
            # Mosquitto's restart of the bridge backs off with jitter: 20 s as above.
            await until(lambda: banner() is None and not tile_stale(), 20,
                        "east reachable and live again once the uplink is back")
            assert app.floor.states["c1"].to_json() == queued.to_json(), "the state east queued"
    finally:
        await uplink.stop()
        for broker in (region, east):
            broker.stop()


async def test_a_region_screen_of_all_sites_finds_them_by_their_bridges(
    tmp_path: Path, binary: str, region_files: Path,
) -> None:
    """`chairside dashboard --sites all` at the region: each site joins the overview when
    its bridge's state arrives there, in a group of its own, and its chairs follow."""
    out = tmp_path / "out"
    (tmp_path / "region").mkdir()
    region = Mosquitto(tmp_path / "region", binary, extra_config=signing_in(
        out / "region.passwd", out / "region.acl"))
    write(load(sites_file(region_files, region.port)), out, iterations=1000)
    brokers = {"region": region}
    for site in ("east", "west"):
        (tmp_path / site).mkdir()
        brokers[site] = Mosquitto(tmp_path / site, binary, extra_config=(
            out / f"bridge-{site}.conf").read_text().splitlines())
    region.start()
    clock = WallClock()
    app = DashboardApp(as_user(region, "dr-a"), "region", DashboardSettings(), clock,
                       tz=UTC, blink=False, sites=["all"])
    try:
        async with app.run_test(size=(160, 48)):
            await until(lambda: str(app.screen.query_one("#offline", Static).render())
                        == "WAITING FOR THE REGION'S SITES", 5, "no site heard yet")
            brokers["east"].start()
            await until(lambda: "east" in app.floors, 15, "east heard of at the region")
            assert "west" not in app.floors
            brokers["west"].start()
            await until(lambda: "west" in app.floors, 15, "west heard of at the region")
            for site in ("east", "west"):
                await publish(as_user(brokers[site]), topics.state(site, "c1"),
                              chair_state("c1", "observation", clock.now()).to_json(),
                              retain=True)
            await until(lambda: all(app.screen.query(f"#tile-{s}-c1") for s in ("east", "west"))
                        and app.screen.query_one("#offline", Static).has_class("hidden"), 10,
                        "both sites' chairs on the overview, under their groups")
            # The head line follows within the same refresh as its tiles, not the same instant.
            await until(lambda: str(app.screen.query_one("#site-west", Static).render())
                        .startswith("west · live · 1 chair"), 5, "west's head line live")
    finally:
        for broker in brokers.values():
            broker.stop()
