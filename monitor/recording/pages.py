"""The HTML pages' templates (Jinja2): the report, its charts, the REMS form and the month
at a glance, shipped in the package under ``templates/``. Autoescape is on, so a value is
escaped unless it is marked safe; an undefined name is an error, not an empty string."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

DASH = Markup("&ndash;")
"""What a page shows for a value that is not known."""


def cell(value: object) -> object:
    """A value as a table cell shows it: a dash for nothing, ``56`` for ``56.0``."""
    if value is None or value == [] or value == "":
        return DASH
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return value


def number(value: float) -> str:
    """``1.5``, ``30``: a number in its shortest form."""
    return f"{value:g}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("monitor.recording", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(cell=cell, num=number)
    env.globals.update(DASH=DASH)
    return env


def render(template: str, **context: Any) -> str:
    """``template`` with ``context``."""
    return environment().get_template(template).render(**context)
