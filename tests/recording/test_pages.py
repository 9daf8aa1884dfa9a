"""The HTML pages come from templates shipped in the package, and every value a person or a
device wrote is escaped on them."""

from __future__ import annotations

import copy
import errno
import os
import tempfile
import tomllib
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment

from monitor.recording import month, pages, rems_form, report_html
from monitor.recording.report import Report
from monitor.recording.report_model import SessionReport
from tests.recording.test_report import SPO2_ALARM, base_report
from tests.recording.test_report_zone import made

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = '<script>alert("x")</script> & <b>'


def test_the_templates_are_package_data() -> None:
    folder = resources.files("monitor.recording") / "templates"
    names = {p.name for p in folder.iterdir()}
    assert {"report.html.j2", "chart.svg.j2", "rems_form.html.j2", "month.html.j2",
            "report.css", "rems_form.css", "month.css"} <= names
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert "monitor" in wheel["targets"]["wheel"]["packages"]  # the whole folder, templates too


def _hostile_report() -> Report:
    data = copy.deepcopy(base_report())
    data["session"]["patient_code"] = HOSTILE  # type: ignore[index]
    data["assessments"][0]["note"] = HOSTILE  # type: ignore[index]
    data["problems"] = [f"line 3: {HOSTILE}"]
    data["compliance"][0]["evidence"] = HOSTILE  # type: ignore[index]
    return Report(SessionReport.model_validate(data), made().series)


def test_free_text_is_escaped_on_the_report() -> None:
    page = report_html.render(_hostile_report())
    assert "<script" not in page and "<b>" not in page
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;"
    assert page.count(escaped) == 5  # title, patient code, note, evidence, problem


def test_free_text_is_escaped_on_the_rems_form_and_the_month() -> None:
    report = _hostile_report()
    form = rems_form.render(report.model)
    assert "<script" not in form and "&lt;script&gt;" in form
    summary = month.summarize([report.data])
    summary["failures"] = [{"session": HOSTILE, "chair": "chair-1", "check": "x",
                            "evidence": HOSTILE}]
    page = month.render(summary)
    assert "<script" not in page and page.count("&lt;script&gt;") == 2


def test_the_rems_form_takes_the_model_or_its_json_alike() -> None:
    report = made()
    assert rems_form.fields(report.model) == rems_form.fields(report.data)
    assert SPO2_ALARM in {a.alarm_id for a in report.model.alarms}



GENERATED = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


def _page_with(env: Environment, monkeypatch: pytest.MonkeyPatch) -> str:
    """The report's page, its templates from ``env`` (as a command's would be)."""
    monkeypatch.setattr(pages, "environment", lambda: env)
    return report_html.render(made(), generated_at=GENERATED)


def _counting_compiles(env: Environment, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    compiled: list[str] = []
    original = env.compile

    def counting(source: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        compiled.append(name or "")
        return original(source, name, *args, **kwargs)

    monkeypatch.setattr(env, "compile", counting)
    return compiled


def test_templates_are_compiled_once_and_kept_for_the_next_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second command's page comes from the cache, not a second compilation, and is the
    same page."""
    first = pages.make_environment(str(tmp_path))
    first_compiled = _counting_compiles(first, monkeypatch)
    page = _page_with(first, monkeypatch)
    assert "report.html.j2" in first_compiled
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept  # written for the next command

    second = pages.make_environment(str(tmp_path))
    second_compiled = _counting_compiles(second, monkeypatch)
    assert _page_with(second, monkeypatch) == page
    assert second_compiled == []
    assert sorted(p.name for p in tmp_path.iterdir()) == kept


def test_an_edited_template_is_compiled_again(tmp_path: Path) -> None:
    env = pages.make_environment(str(tmp_path))
    env.get_template("report.html.j2")
    cache = env.bytecode_cache
    assert cache is not None
    source, filename, _ = env.loader.get_source(env, "report.html.j2")  # type: ignore[union-attr]
    assert cache.get_bucket(env, "report.html.j2", filename, source).code is not None
    assert cache.get_bucket(env, "report.html.j2", filename, source + " ").code is None


def test_a_cache_that_cannot_be_used_costs_only_compiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full disk, cache files cut short, a directory that cannot be one, a default
    directory that is not safe: the page is made all the same, and is the same page."""
    (tmp_path / "good").mkdir()
    page = _page_with(pages.make_environment(str(tmp_path / "good")), monkeypatch)
    assert list((tmp_path / "good").iterdir())

    (tmp_path / "full").mkdir()
    full = pages.make_environment(str(tmp_path / "full"))

    def no_space(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_space)
    assert _page_with(full, monkeypatch) == page
    assert list((tmp_path / "full").iterdir()) == []
    monkeypatch.undo()

    for kept in (tmp_path / "good").iterdir():
        kept.write_bytes(kept.read_bytes()[:40])
    cut = pages.make_environment(str(tmp_path / "good"))
    cut_compiled = _counting_compiles(cut, monkeypatch)
    assert _page_with(cut, monkeypatch) == page
    assert "report.html.j2" in cut_compiled  # what was cut short is compiled again

    (tmp_path / "file").write_text("")
    nowhere = pages.make_environment(str(tmp_path / "file" / "cache"))
    assert _page_with(nowhere, monkeypatch) == page

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / f"_jinja2-cache-{os.getuid()}").write_text("not a directory")
    assert pages.compiled_cache() is None  # Jinja2 refuses it, and no cache is used
    assert _page_with(pages.make_environment(), monkeypatch) == page
