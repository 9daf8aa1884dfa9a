"""`chairside sites`: the sites file in, each site's bridge and the region's ACL out."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.access.acl import Acl
from monitor.access.commands import write_files
from monitor.access.directory import Directory, User, new
from monitor.access.passwords import hash_password, read_file, verify
from monitor.sites import SitesError, bridge_state_topic, load, sites_command, write


def _files(tmp_path: Path, extra: str = "", password: str = "pw-of-bridge") -> Path:
    (tmp_path / "east.env").write_text(f"REMOTE_PASSWORD='{password}'\n")
    (tmp_path / "west.env").write_text("export REMOTE_USERNAME=west-up\n"
                                       "REMOTE_PASSWORD=pw-of-west-up\n")
    path = tmp_path / "sites.toml"
    path.write_text(f"""
[region]
host = "region.example.org"
cafile = "certs/ca.pem"
certfile = "/etc/chairside/east.crt"
keyfile = "/etc/chairside/east.key"
{extra}
[sites.east]
env_file = "east.env"
[sites.west]
env_file = "west.env"
readings = true
""")
    return path


def _topics(conf: str, direction: str) -> list[str]:
    return [line.split()[1] for line in conf.splitlines()
            if line.startswith("topic ") and line.split()[2] == direction]


def test_each_sites_bridge_sends_up_what_it_must_and_takes_its_commands(
    tmp_path: Path,
) -> None:
    written = write(load(_files(tmp_path)), tmp_path / "out", iterations=1000)
    assert [p.name for p in written] == ["bridge-east.conf", "bridge-west.conf",
                                         "region.passwd", "region.acl"]
    east = (tmp_path / "out" / "bridge-east.conf").read_text()
    base = "chairside/v1/east"
    assert _topics(east, "out") == [f"{base}/chairs/+/state", f"{base}/chairs/+/alarms",
                                    f"{base}/chairs/+/command-results",
                                    f"{base}/engine/status"]
    assert _topics(east, "in") == [f"{base}/chairs/+/commands/+"]
    west = (tmp_path / "out" / "bridge-west.conf").read_text()
    assert "chairside/v1/west/chairs/+/readings/+" in _topics(west, "out")
    lines = east.splitlines()
    for expected in ("connection chairside-east", "address region.example.org:8883",
                     "remote_username bridge-east", "remote_password pw-of-bridge",
                     "cleansession false", "local_cleansession false", "notifications true",
                     f"notification_topic {bridge_state_topic('east')}",
                     f"bridge_cafile {tmp_path / 'certs' / 'ca.pem'}",
                     "bridge_certfile /etc/chairside/east.crt", "bridge_insecure false"):
        assert expected in lines, expected
    assert "remote_username west-up" in west
    # The bridges hold passwords: their owner alone reads them.
    assert stat.S_IMODE((tmp_path / "out" / "bridge-east.conf").stat().st_mode) == 0o600
    hashes = read_file(tmp_path / "out" / "region.passwd")
    assert verify("pw-of-bridge", hashes["bridge-east"])
    assert verify("pw-of-west-up", hashes["west-up"])


def _acl_rules(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    user = ""
    for line in text.splitlines():
        if line.startswith("user "):
            user = line.split()[1]
            found[user] = []
        elif line.startswith("topic "):
            found[user].append(line.removeprefix("topic "))
    return found


def test_the_regions_acl_bounds_each_bridge_and_gives_people_their_roles_at_every_site(
    tmp_path: Path,
) -> None:
    people = new(tmp_path / "region-users.toml", "region").with_user(
        "dr-a", User(role="physician")).with_user("wall", User(role="display")).with_user(
        "gone", User(role="qa", disabled=True))
    write_files(people, {u: hash_password(f"pw-of-{u}", iterations=1000) for u in people.users})
    write(load(_files(tmp_path, 'users = "region-users.toml"')), tmp_path / "out",
          iterations=1000)
    acl = _acl_rules((tmp_path / "out" / "region.acl").read_text())
    assert set(acl) == {"bridge-east", "west-up", "dr-a", "wall"}
    assert "write chairside/v1/east/chairs/+/readings/+" not in acl["bridge-east"]
    assert "write chairside/v1/west/chairs/+/readings/+" in acl["west-up"]
    assert "read chairside/v1/east/chairs/+/commands/+" in acl["bridge-east"]
    assert not any("west" in rule for rule in acl["bridge-east"])
    for site in ("east", "west"):
        assert f"write chairside/v1/{site}/chairs/+/commands/dr-a" in acl["dr-a"]
        assert f"read chairside/v1/{site}/chairs/+/state" in acl["wall"]
    assert not any(rule.startswith("write chairside/v1") for rule in acl["wall"])
    # The people's rules at each site are the site's own (monitor.access.acl).
    at_east = Acl(Directory("east", {"dr-a": User(role="physician")}))
    assert at_east.allows("dr-a", "write", "chairside/v1/east/chairs/c1/commands/dr-a")
    assert set(read_file(tmp_path / "out" / "region.passwd")) == {"bridge-east", "west-up",
                                                                   "dr-a", "wall"}


@pytest.mark.parametrize(("change", "error"), [
    ("password", "REMOTE_PASSWORD holds a space"),
    ("short", "at least 8 characters"),
    ("unknown", "region.colour: Extra inputs are not permitted"),
    ("site", "site"),
])
def test_a_bad_sites_file_is_one_line_and_exit_2(tmp_path: Path, change: str,
                                                 error: str) -> None:
    path = _files(tmp_path, 'colour = "red"' if change == "unknown" else "",
                  password={"password": "pw of bridge", "short": "pw"}.get(change,
                                                                          "pw-of-bridge"))
    if change == "site":
        path.write_text(path.read_text().replace("[sites.west]", "[sites.'we st']"))
    result = CliRunner().invoke(sites_command, [str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("chairside: ") and error in result.output
    assert len(result.output.splitlines()) == 1
    with pytest.raises(SitesError):
        write(load(path), tmp_path / "again", iterations=1000)
