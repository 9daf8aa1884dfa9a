"""The ACL the broker enforces, as rules and as the text Mosquitto reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers import topics
from monitor.access import acl
from monitor.access.directory import Directory, DirectoryError, User, load, new, save
from monitor.access.passwords import PasswordError, hash_password, verify

SITE = "north"


def _directory(tmp_path: Path) -> Directory:
    d = new(tmp_path / "users.toml", SITE)
    for name, user in {
        "ana": User(role="nurse", name="Ana Ruiz"), "dr-lee": User(role="physician"),
        "qa1": User(role="qa"), "wall": User(role="display"),
        "gw-1": User(role="gateway", chair="chair-1"), "engine": User(role="engine"),
        "recorder": User(role="recorder"), "gone": User(role="nurse", disabled=True),
    }.items():
        d = d.with_user(name, user)
    return d


def test_people_publish_commands_only_under_their_own_name(tmp_path: Path) -> None:
    rules = acl.Acl(_directory(tmp_path))
    assert rules.allows("ana", "write", topics.commands(SITE, "chair-3", "ana"))
    assert not rules.allows("ana", "write", topics.commands(SITE, "chair-3", "dr-lee"))
    assert not rules.allows("ana", "write", topics.commands(SITE, "chair-3"))
    assert not rules.allows("ana", "write", topics.state(SITE, "chair-3"))
    assert rules.allows("ana", "read", topics.chairs_filter(SITE, "state"))


def test_a_gateway_writes_only_its_own_chair(tmp_path: Path) -> None:
    rules = acl.Acl(_directory(tmp_path))
    assert rules.allows("gw-1", "write", topics.reading(SITE, "chair-1", "spo2"))
    assert rules.allows("gw-1", "write", topics.device_status(SITE, "chair-1", "oxi"))
    assert not rules.allows("gw-1", "write", topics.reading(SITE, "chair-2", "spo2"))
    assert not rules.allows("gw-1", "write", topics.commands(SITE, "chair-1", "gw-1"))
    assert rules.allows("gw-1", "read", topics.recorded(SITE, "chair-1"))
    assert not rules.allows("gw-1", "read", topics.site_filter(SITE))


def test_qa_and_displays_write_nothing_of_the_site(tmp_path: Path) -> None:
    rules = acl.Acl(_directory(tmp_path))
    every = [topics.commands(SITE, "chair-1", "qa1"), topics.reading(SITE, "chair-1", "spo2"),
             topics.state(SITE, "chair-1"), topics.engine_status(SITE),
             topics.recorded(SITE, "chair-1")]
    for user in ("qa1", "wall"):
        assert not any(rules.allows(user, "write", t) for t in every)
    assert rules.allows("qa1", "read", topics.site_filter(SITE))
    assert not rules.allows("wall", "read", topics.site_filter(SITE))
    assert rules.allows("wall", "read", topics.chairs_filter(SITE, "state"))
    assert rules.allows("qa1", "write", topics.sync_marker(SITE, "n1", "qa1"))
    assert not rules.allows("qa1", "write", topics.sync_marker(SITE, "n1", "ana"))


def test_disabled_and_unknown_users_may_do_nothing(tmp_path: Path) -> None:
    d = _directory(tmp_path)
    rules = acl.Acl(d)
    assert not rules.allows("gone", "read", topics.chairs_filter(SITE, "state"))
    assert not rules.allows(None, "read", topics.chairs_filter(SITE, "state"))
    text = acl.mosquitto_acl(d)
    assert "user gone" not in text
    assert "user ana\ntopic readwrite chairside/sync/ana/#\n" in text
    assert "topic write chairside/v1/north/chairs/+/commands/ana" in text
    assert "topic write chairside/v1/north/chairs/chair-1/readings/+" in text


@pytest.mark.parametrize(("pattern", "topic", "covered"), [
    ("a/#", "a/b/c", True), ("a/#", "a", True), ("a/+/c", "a/b/c", True),
    ("a/+/c", "a/+/c", True), ("a/+/c", "a/#", False), ("a/b", "a/b/c", False),
    ("a/b/c", "a/b", False), ("a/+", "a/#", False),
])
def test_covers(pattern: str, topic: str, covered: bool) -> None:
    assert acl.covers(pattern, topic) is covered


def test_the_directory_round_trips_and_refuses_a_gateway_without_a_chair(tmp_path: Path) -> None:
    d = _directory(tmp_path)
    save(d)
    again = load(d.path)  # type: ignore[arg-type]
    assert again.users == d.users and again.site == SITE
    assert again.role_of("gone") is None and again.role_of("ana") == "nurse"
    (tmp_path / "bad.toml").write_text('site = "north"\n[users.gw]\nrole = "gateway"\n')
    with pytest.raises(DirectoryError, match="gateway names its chair"):
        load(tmp_path / "bad.toml")
    with pytest.raises(DirectoryError, match="chairside users add"):
        load(tmp_path / "none.toml")


def test_passwords_verify_and_refuse() -> None:
    hashed = hash_password("correct horse", iterations=1000)
    assert hashed.startswith("$7$1000$")
    assert verify("correct horse", hashed)
    assert not verify("wrong horse!", hashed)
    assert not verify("correct horse", "$6$salt$hash")
    with pytest.raises(PasswordError, match="at least 8"):
        hash_password("short")
