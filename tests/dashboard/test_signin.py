"""Signing in at the dashboard, through Textual's Pilot: nothing of a patient before a
successful sign-in, clear one-line refusals, what each role is offered, the idle lock on the
fake clock, signing out, and the kiosk. The broker's password check is faked here; the
tests against a real Mosquitto are in test_signin_broker.py and the browser test."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input, Static

from drivers.clock import FakeClock
from drivers.wire import Discharge, ManualBp
from monitor.dashboard.app import DashboardApp
from monitor.dashboard.chair import ChairScreen
from monitor.dashboard.forms import CommandForm, DischargeForm, ManualBpForm
from monitor.dashboard.idle import IdleLock
from monitor.dashboard.overview import OverviewScreen
from monitor.dashboard.signin import SignInScreen, UnlockScreen
from monitor.dashboard.tile import ChairTile
from tests.dashboard.states import (
    NOW,
    PASSWORDS,
    alarm,
    chair_state,
    feed,
    make_signin_app,
)
from tests.dashboard.test_actions import notifications, open_chair, type_into

SIZE = (100, 34)


def _visible(app: DashboardApp) -> str:
    """The text of every widget on the active screen and the screens under it."""
    parts: list[str] = []
    for screen in app.screen_stack:
        for widget in screen.walk_children(with_self=False):
            if isinstance(widget, Static | ChairTile):
                parts.append(str(widget.render()))
    return "\n".join(parts)


def who(app: DashboardApp) -> str:
    return str(app.screen.query_one("#who", Static).render())


async def sign_in(pilot: Pilot[None], user: str, password: str | None = None) -> None:
    app = pilot.app
    assert isinstance(app.screen, SignInScreen)
    await type_into(pilot, "user", user, keys=True)
    await type_into(pilot, "password", PASSWORDS[user] if password is None else password)
    await pilot.press("enter")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def message(app: DashboardApp) -> str:
    return str(app.screen.query_one("#signin-message", Static).render())


async def test_nothing_of_a_patient_before_sign_in_and_a_wrong_password_stays() -> None:
    app, _, _, broker = make_signin_app(["chair-1", "chair-2"])
    async with app.run_test(size=SIZE) as pilot:
        feed(app, chair_state("chair-1", "observation", alarms=[alarm("chair-1", "high")]))
        await app.refresh_view()
        await pilot.pause()
        assert isinstance(app.screen, SignInScreen)
        assert app.overview.tiles() == [] and app.floor.states == {}  # not even kept
        shown = _visible(app)
        assert "chair-1" not in shown and "chair-2" not in shown and "P-0042" not in shown
        assert app.screen.query_one("#password", Input).password  # masked
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not any("chair" in t.lower() or "session" in t.lower() for t in titles)

        await sign_in(pilot, "amy", "not-her-password")
        assert isinstance(app.screen, SignInScreen)
        assert message(app) == "wrong user name or password"
        assert app.screen.query_one("#password", Input).value == ""
        assert app.who.signed_in is None and broker.checked == ["amy"]

        await sign_in(pilot, "amy")
        assert isinstance(app.screen, OverviewScreen) and app.who.signed_in is not None
        assert app.who.user == "amy"
        feed(app, chair_state("chair-1", "observation"))
        await app.refresh_view()
        await pilot.pause()
        assert "P-0042" in _visible(app)
        assert "signed in: amy · nurse · Amy Ng" in who(app)


async def test_who_may_not_sign_in_at_a_screen_is_told_why() -> None:
    app, _, _, broker = make_signin_app()
    async with app.run_test(size=SIZE) as pilot:
        for user, why in (
            ("nobody", "'nobody' is not a user of site 'clinic'"),
            ("old", "'old' is disabled at this site"),
            ("gw-chair-1", "'gw-chair-1' is a gateway account, for a process: it cannot "
                           "sign in at a screen"),
        ):
            await sign_in(pilot, user, "whatever-it-is")
            assert isinstance(app.screen, SignInScreen)
            assert message(app) == why
        assert broker.checked == []  # refused before the password goes anywhere


async def test_a_nurse_cannot_reach_the_override_form_and_is_told_who_may() -> None:
    app, _, recorder, _ = make_signin_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "amy")
        feed(app, chair_state("chair-1", "observation"))
        screen = await open_chair(app, pilot)
        keys = {b.binding.action for b in screen.active_bindings.values()}
        assert "discharge" in keys and "override_discharge" not in keys
        assert screen.check_action("override_discharge", ()) is False
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Discharge" in titles and "Override discharge" not in titles

        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, ChairScreen)
        assert ("amy (nurse) may not override a discharge: only a physician or prescriber "
                "may") in notifications(app)
        await screen.run_action("override_discharge")  # however it is asked for
        screen.action_override_discharge()
        await pilot.pause()
        assert not isinstance(app.screen, CommandForm)

        await pilot.press("x")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, DischargeForm) and not form.override
        intro = str(form.query_one("#form-intro", Static).render())
        assert "only a physician or prescriber may override" in intro
        assert "o overrides" not in intro
        await pilot.press("enter")
        await pilot.pause()
        sent = recorder.last()
        assert isinstance(sent, Discharge) and sent.by == "amy"


async def test_a_physician_overrides_as_the_signed_in_user() -> None:
    app, _, recorder, _ = make_signin_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await sign_in(pilot, "lee")
        feed(app, chair_state("chair-1", "observation"))
        screen = await open_chair(app, pilot)
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Override discharge" in titles
        await pilot.press("o")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, DischargeForm) and form.override
        assert not form.query("#by")  # no name to type: the broker vouches for the sender
        assert str(form.query_one("#sender", Static).render()) == "lee (physician)"
        await type_into(pilot, "override_reason", "escort waiting, reviewed at the chair")
        await pilot.press("enter")
        await pilot.pause()
        sent = recorder.last()
        assert isinstance(sent, Discharge) and sent.by == "lee"
        assert sent.override_reason == "escort waiting, reviewed at the chair"


async def test_qa_is_offered_no_command() -> None:
    app, _, recorder, _ = make_signin_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "quinn")
        feed(app, chair_state("chair-1", "observation", alarms=[alarm("chair-1", "high")]))
        screen = await open_chair(app, pilot)
        actions = {b.binding.action for b in screen.active_bindings.values()}
        assert actions & set(app.COMMAND_ACTIONS) == set()
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Overview" in titles and "Sign out" in titles
        assert not any(t.startswith(("Start", "Ack", "Discharge", "Manual", "Pause"))
                       for t in titles)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        assert "quinn (qa) may not send start session" in notifications(app)
        assert "quinn (qa) may not send ack alarm" in notifications(app)
        assert recorder.sent == [] and isinstance(app.screen, ChairScreen)


async def test_the_idle_lock_keeps_showing_but_asks_the_password_before_a_command() -> None:
    app, clock, recorder, _ = make_signin_app(idle_lock_s=300)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "amy")
        feed(app, chair_state("chair-1", "observation", alarms=[alarm("chair-1", "high")]))
        screen = await open_chair(app, pilot)
        clock.advance(299)
        await pilot.press("m")  # a key before the limit: the idle time starts again
        await pilot.pause()
        assert isinstance(app.screen, ManualBpForm)
        await pilot.press("escape")
        await pilot.pause()

        clock.advance(301)
        feed(app, chair_state("chair-1", "observation", alarms=[alarm("chair-1", "high")]))
        await app.refresh_view()
        await pilot.pause()
        assert app.who.locked and "LOCKED" in who(app)
        assert "SYS 186 >= 180 mmHg" in _visible(app)  # the station never goes dark

        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, UnlockScreen)
        await type_into(pilot, "password", "not-her-password")
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, UnlockScreen) and app.who.locked
        assert str(app.screen.query_one("#unlock-message", Static).render()) == "wrong password"

        await type_into(pilot, "password", PASSWORDS["amy"])
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ManualBpForm)  # the command proceeds
        assert not app.who.locked
        await type_into(pilot, "systolic", "150")
        await type_into(pilot, "diastolic", "90")
        await pilot.press("enter")
        await pilot.pause()
        sent = recorder.last()
        assert isinstance(sent, ManualBp) and sent.by == "amy"
        await app.refresh_view()
        assert "LOCKED" not in str(screen.query_one("#who", Static).render())


async def test_a_command_from_the_palette_on_a_locked_screen_asks_too() -> None:
    app, clock, recorder, _ = make_signin_app(idle_lock_s=60)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "amy")
        feed(app, chair_state("chair-1", "observation", alarms=[alarm("chair-1", "high")]))
        screen = await open_chair(app, pilot)
        clock.advance(61)
        screen.ack_alarm("chair-1:bp_high:1")
        await pilot.pause()
        assert isinstance(app.screen, UnlockScreen) and recorder.sent == []
        await type_into(pilot, "password", PASSWORDS["amy"])
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert recorder.sent and recorder.last().by == "amy"


async def test_sign_out_hides_every_patient() -> None:
    app, _, _, _ = make_signin_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "amy")
        feed(app, chair_state("chair-1", "observation"))
        await open_chair(app, pilot)
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, SignInScreen) and len(app.screen_stack) == 2
        assert app.who.signed_in is None and app.floor.states == {} and app.overview.tiles() == []
        feed(app, chair_state("chair-1", "observation"))
        await app.refresh_view()
        assert app.floor.states == {} and "P-0042" not in _visible(app)
        await sign_in(pilot, "lee")
        assert isinstance(app.screen, OverviewScreen) and app.who.user == "lee"


async def test_the_kiosk_signs_nobody_in_and_offers_no_command() -> None:
    app, _, recorder, _ = make_signin_app(kiosk=True)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, chair_state("chair-1", "observation", alarms=[alarm("chair-1", "high")]))
        await app.refresh_view()
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        assert who(app) == "KIOSK · read only"
        assert "P-0042" in _visible(app)
        screen = await open_chair(app, pilot)
        actions = {b.binding.action for b in screen.active_bindings.values()}
        assert actions & set(app.COMMAND_ACTIONS) == set()
        assert "app.sign_out" not in {b.binding.action for b in app.active_bindings.values()}
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Overview" in titles
        assert not any(t.startswith(("Start", "Ack", "Discharge", "Sign")) for t in titles)
        await pilot.press("a")
        await pilot.pause()
        assert "KIOSK · read only: this wall display sends no commands" in notifications(app)
        assert recorder.sent == []


def test_the_idle_lock_counts_wall_seconds_and_a_key_does_not_open_it() -> None:
    clock = FakeClock(NOW["observation"], speed=60)  # a demo's fast time
    idle = IdleLock(clock, 300)
    clock.advance(299 * 60)
    idle.touch()
    clock.advance(299 * 60)
    assert not idle.check()
    clock.advance(2 * 60)
    idle.touch()  # a key on a locked screen proves nothing of who pressed it
    assert idle.check() and idle.locked
    idle.unlock()
    assert not idle.check()


async def test_keys_typed_ahead_after_the_user_name_go_to_the_password() -> None:
    """A fast typist (or a badge reader) sends the name, Enter and the password before the
    screen has moved the focus: the password must not land in the user name."""
    from textual import events

    app, _, _, broker = make_signin_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        typed = [*"amy", "enter", *PASSWORDS["amy"], "enter"]
        for key in typed:  # as the terminal delivers them: all queued at once
            app.post_message(events.Key(key, "\r" if key == "enter" else key))
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.who.user == "amy" and app.who.signed_in is not None, message(app)
        assert broker.checked == ["amy"]


async def test_a_second_enter_while_the_broker_checks_changes_nothing() -> None:
    """Enter twice (a bouncing key, an impatient finger): one check, and the refusal stays
    in view rather than turning into "enter the password"."""
    from textual import events

    app, _, _, broker = make_signin_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        typed = [*"amy", "enter", "enter", *"not-her-password", "enter", "enter"]
        for key in typed:
            app.post_message(events.Key(key, "\r" if key == "enter" else key))
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")  # once more, on the emptied field
        await pilot.pause()
        assert isinstance(app.screen, SignInScreen)
        assert message(app) == "wrong user name or password"
        assert broker.checked == ["amy"]
