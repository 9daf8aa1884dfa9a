"""A region of real processes, end to end: two sites, each with its Mosquitto bridged to a
regional Mosquitto, its engine, its gateways with simulated devices and its recorder writing
to one central PostgreSQL; the region's physician and nurse are in every site's directory.

An alarm at site a reaches the region within a second of reaching a's broker. Site b's
uplink is cut for 30 s: the region sees b's bridge down, b goes on alarming at its own
broker, and what b queued comes up once the uplink is back. Every reading the gateways took
and every alarm event the sites' brokers carried is then in the central recording. A
discharge override sent from the region is held to the sender's role at the site, and its
answer comes back to the region.

The region's physician watches both sites on the dashboard's region overview
(`chairside dashboard --sites a,b`, signed in at the regional broker): both sites' chairs in
their groups, a's alarm on its tile within a second of the reading, b's group unreachable
and greyed through the cut while a's stays live, and live again after it; the physician's
override leaves from the chair view of a's chair and its answer comes back to that screen.

`tests.sites.region.running_region` yields the running `Region` (its broker, people, sites
and b's uplink)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot

from drivers import topics
from drivers.clock import WallClock
from drivers.mqtt_settings import MqttSettings
from drivers.wire import AlarmEvent, CommandResult, Discharge, Reading
from monitor.access.directory import load as load_directory
from monitor.config import DashboardSettings
from monitor.dashboard.app import DashboardApp
from monitor.dashboard.chair import ChairScreen
from monitor.dashboard.tile import ChairTile
from monitor.recording.store import open_store
from tests.faults.site import Nurse, Screen, Site
from tests.integration.helpers import Observer, bp, publish, running
from tests.sites.region import CUT, Region, as_user, pw, running_region, until

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]

CUT_S = 30.0
ALARM_UP_WITHIN_S = 1.0
BRIDGE_BACK_WITHIN_S = 40.0
"""Mosquitto restarts a bridge with a jittered backoff of up to 30 s (``restart_timeout 1
30``), and after 30 s of refusals the next attempt may be that far off."""
RECORDED_WITHIN_S = 30.0


async def alarming_bp(site: Site, chair: str) -> Reading:
    """A cuff reading of 194/112 sent as the chair's gateway sends one, on its own account
    and topic; kept with the site's ground truth."""
    reading = bp(chair, WallClock(), 194, 112)
    site.extra[reading.id] = reading
    await publish(site.as_user(f"gw-{chair}"),
                  topics.reading(site.site, chair, "blood_pressure"), reading.to_json())
    return reading


def raised(screen: Screen, reading: Reading) -> tuple[float, AlarmEvent] | None:
    """When the screen had the high BP alarm this reading raised, and the event."""
    for when, event in screen.seen.alarms:
        if event.reading_id == reading.id and event.condition == "bp_high" \
                and event.event == "raised":
            return when, event
    return None


def arrived(screen: Screen, event: AlarmEvent) -> float | None:
    return next((when for when, e in screen.seen.alarms if e.id == event.id), None)


def during(screen: Screen, start: float, end: float) -> set[bytes]:
    """The states and alarm events the screen received between two moments."""
    return {m.to_json() for when, m in [*screen.seen.history, *screen.seen.alarms]
            if start <= when <= end}


def role_reasons(result: CommandResult) -> list[str]:
    """Why the command was refused for its sender's role (the unmet conditions aside)."""
    return [r for r in result.reasons if "may not override" in r]


async def override(mqtt: MqttSettings, chair: str, answers: Observer) -> CommandResult:
    """A discharge of a's chair with an override reason, sent as ``mqtt``'s user under its
    own topic; the answer a's engine sends back, as the region receives it."""
    user = mqtt.username
    assert user is not None
    command = Discharge(at=datetime.now(UTC), by=user,
                        override_reason="reviewed remotely: fit to leave")
    await publish(mqtt, topics.commands("a", chair, user), command.to_json())
    result: CommandResult = await answers.wait_for(
        lambda p: isinstance(p, CommandResult) and p.id == command.id, within=15)
    return result


def physician_screen(region: Region, folder: Path) -> DashboardApp:
    """The region overview of both sites, signing in at the regional broker from the
    region's own directory, as `chairside dashboard --sites a,b` does."""
    directory = load_directory(folder / "region-files" / "region-users.toml")
    return DashboardApp(as_user(region.broker), "region", DashboardSettings(), WallClock(),
                        tz=UTC, blink=False, directory=directory, sites=["a", CUT])


def tile(app: DashboardApp, site: str, chair: str) -> ChairTile | None:
    found = app.screen.query(f"#tile-{site}-{chair}")
    return found.first(ChairTile) if found else None


def group_head(app: DashboardApp, site: str) -> str:
    found = app.screen.query(f"#site-{site}")
    return str(found.first().render()) if found else ""


def tile_has(app: DashboardApp, site: str, chair: str, look: str) -> bool:
    shown = tile(app, site, chair)
    return shown is not None and shown.has_class(look)


async def test_a_region_of_two_sites(tmp_path: Path, binary: str, postgres_url: str) -> None:
    async with running_region(tmp_path, binary, postgres_url) as region:
        app = physician_screen(region, tmp_path)
        async with app.run_test(size=(160, 48)) as pilot:
            assert await app.sign_in_as("region-dr", pw("region-dr")) is None
            await whole_region(region, app, pilot)


async def whole_region(region: Region, app: DashboardApp, pilot: Pilot[None]) -> None:
    """Everything the region does, its remote overview watching."""
    a, b = region.sites["a"], region.sites[CUT]
    local = region.local
    remote = {name: Screen(region.as_user("region-dr"), name) for name in region.sites}
    answers = Observer(region.as_user("region-dr"), [topics.command_results("a", "c1")])
    readings = {name: Observer(site.mqtt, [topics.chairs_filter(name, "readings/+")])
                for name, site in region.sites.items()}
    watchers: list[Screen | Observer] = [*remote.values(), answers, *readings.values()]
    async with running(*(w.run() for w in watchers)):
        await answers.subscribed()
        for observer in readings.values():
            await observer.subscribed()
        for name, site in region.sites.items():
            await Nurse(site.nurse_mqtt, name).open_session("c1", local[name])
            await until(lambda n=name: remote[n].state("c1")  # type: ignore[misc]
                        and remote[n].state("c1").session, 15,  # type: ignore[union-attr]
                        f"{name}'s open session at the region")
        await until(lambda: all(tile(app, n, "c1") is not None and not tile_has(
            app, n, "c1", "stale") for n in region.sites), 10,
            "both sites' chairs live on the region overview")
        # A head line follows within the refresh that shows its tiles, not the same instant.
        await until(lambda: group_head(app, "a").startswith("a · live · 1 chair")
                    and group_head(app, CUT).startswith("b · live · 1 chair"), 5,
                    "both sites' head lines live")

        # An alarm at a: at the region within a second of a's own broker.
        sent = time.monotonic()
        high = await alarming_bp(a, "c1")
        await until(lambda: raised(local["a"], high), 10, "a's high BP alarm at a")
        at_site, event = raised(local["a"], high)  # type: ignore[misc]
        await until(lambda: arrived(remote["a"], event), 10, "a's alarm at the region")
        at_region = arrived(remote["a"], event)
        assert at_region is not None
        print(f"a's alarm: at a {at_site - sent:.3f} s after the reading was sent, "
              f"at the region {at_region - sent:.3f} s")
        assert at_region - at_site < ALARM_UP_WITHIN_S
        assert at_region - sent < ALARM_UP_WITHIN_S, "from the reading to the region"
        await until(lambda: tile_has(app, "a", "c1", "alarm-high"), 10,
                    "a's alarm on the region overview")
        on_screen = time.monotonic() - sent
        print(f"a's alarm on the region overview {on_screen:.3f} s after the reading was sent")
        assert on_screen < ALARM_UP_WITHIN_S, "from the reading to the physician's screen"

        # b's uplink is cut: the region sees b's bridge down; b alarms on its own.
        mark = len(region.bridges.raw)
        region.uplink.drop()
        cut = time.monotonic()
        await until(lambda: b"0" in region.bridge_states(CUT, mark), 10,
                    "b's bridge down at the region")
        print(f"b's bridge down at the region {time.monotonic() - cut:.3f} s after the cut")
        await until(lambda: "UNREACHABLE since" in group_head(app, CUT)
                    and tile_has(app, CUT, "c1", "stale"), 5,
                    "b unreachable and greyed on the region overview")
        assert group_head(app, "a").startswith("a · live") and not tile_has(
            app, "a", "c1", "stale"), "a stays live beside it"
        sent = time.monotonic()
        high_b = await alarming_bp(b, "c1")
        await until(lambda: raised(local[CUT], high_b), 10,
                    "b's high BP alarm at b, its uplink down")
        at_b, event_b = raised(local[CUT], high_b)  # type: ignore[misc]
        print(f"b's alarm during the cut: at b {at_b - sent:.3f} s after the reading")

        # Meanwhile the region overrides a discharge at a, held to the sender's role as
        # a's own nurse is: refused alike (the answer to a's nurse comes up too).
        at_home = await override(a.nurse_mqtt, "c1", answers)
        refused = await override(region.as_user("region-nurse"), "c1", answers)
        assert not refused.accepted, refused
        assert (refused.by, refused.role) == ("region-nurse", "nurse")
        assert role_reasons(refused), refused.reasons
        assert not at_home.accepted and at_home.role == "nurse"
        assert [r.replace("region-nurse", "nurse") for r in role_reasons(refused)] \
            == role_reasons(at_home), "the same refusal for the same role"
        # The physician's, from the chair view of a's chair on the region overview.
        shown = tile(app, "a", "c1")
        assert shown is not None
        shown.focus()
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, ChairScreen), 5, "a's chair view")
        assert app.site == "a"
        command = Discharge(at=datetime.now(UTC), by="region-dr",
                            override_reason="reviewed remotely: fit to leave")
        assert await app.send("c1", command)
        accepted = await answers.wait_for(
            lambda p: isinstance(p, CommandResult) and p.id == command.id, within=15)
        assert accepted.accepted, accepted.reasons
        await until(lambda: any(r.id == command.id and ours
                                for r, ours in app.floors["a"].answers("c1")), 10,
                    "the answer to the override on the physician's screen")
        await pilot.press("escape")
        assert (accepted.by, accepted.role) == ("region-dr", "physician")
        await until(lambda: (s := remote["a"].state("c1")) and s.session
                    and s.session.discharged_by == "region-dr", 10,
                    "a's chair discharged by the region's physician, at the region")

        await asyncio.sleep(max(0.0, CUT_S - (time.monotonic() - cut)))
        assert b"1" not in region.bridge_states(CUT, mark)
        assert not arrived(remote[CUT], event_b), "b's alarm passed a cut uplink"
        assert b"0" not in region.bridge_states("a", mark), "a's bridge held"
        region.uplink.restore()
        back = time.monotonic()

        # What b queued comes up: its bridge, the alarm, every state it published.
        await until(lambda: b"1" in region.bridge_states(CUT, mark), BRIDGE_BACK_WITHIN_S,
                    "b's bridge up again at the region")
        print(f"b's bridge up at the region {time.monotonic() - back:.3f} s after restore")
        await until(lambda: arrived(remote[CUT], event_b), 10,
                    "b's alarm raised during the cut, at the region")
        await until(lambda: group_head(app, CUT).startswith("b · live")
                    and not tile_has(app, CUT, "c1", "stale")
                    and tile_has(app, CUT, "c1", "alarm-high"), 10,
                    "b live again on the region overview, with its alarm")
        queued = during(local[CUT], cut, back)
        await until(lambda: queued <= during(remote[CUT], back, time.monotonic()), 10,
                    "every state and alarm event b published during the cut, at the region")
        print(f"b queued {len(queued)} states and alarm events during the cut; "
              "all came up")

        # Nothing is missing from the central recording: every reading a gateway took
        # (its ledger) or a site's broker carried, and every alarm event it carried.
        for name, site in region.sites.items():
            took = set(site.accepted()) | {
                p.id for p in readings[name].payloads(Reading)}
            alarms = {e.id for _, e in local[name].seen.alarms}
            deadline = time.monotonic() + RECORDED_WITHIN_S
            while True:
                missing = took - region.recorded(name, "reading")
                lost = alarms - region.recorded(name, "alarm")
                if not (missing or lost) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert not missing, (
                f"{name}: {len(missing)} of {len(took)} readings missing: "
                f"{site.describe(sorted(missing))}\n{site.logs()}")
            assert not lost, f"{name}: alarm events missing: {sorted(lost)}"
            print(f"{name}: {len(took)} readings and {len(alarms)} alarm events, "
                  "all in the central recording")
        with open_store(region.store) as store:
            assert {s.site for s in store.sessions()} == {"a", CUT}
