"""The HTML pages' templates (Jinja2): the report, its charts, the REMS form and the month
at a glance, shipped in the package under ``templates/``. Autoescape is on, so a value is
escaped unless it is marked safe; an undefined name is an error, not an empty string.

Compiled templates are kept in Jinja2's bytecode cache (a directory of the user's own under
the system's temporary directory, which Jinja2 checks is theirs alone): compiling the
report's templates took each ``chairside report`` about 50 ms. The cache is keyed by each
template's source, so an edited template is compiled again, and a cache that cannot be used
(a full disk, a read-only or foreign directory) only means compiling, never a lost page."""

from __future__ import annotations

import contextlib
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined
from jinja2.bccache import Bucket
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


class CompiledCache(FileSystemBytecodeCache):
    """Jinja2's bytecode cache, for which a template never fails: what cannot be read is
    compiled, what cannot be written is not kept."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # unreadable or damaged (unpickling fails in many ways): compile
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):  # not kept: the next command compiles it again
            super().dump_bytecode(bucket)


def compiled_cache(directory: str | None = None) -> CompiledCache | None:
    """The cache in ``directory`` (default: Jinja2's own, per user); None if unusable."""
    try:
        return CompiledCache(directory)
    except (OSError, RuntimeError):  # RuntimeError: Jinja2 found the directory not safe
        return None


@cache
def environment() -> Environment:
    """The pages' environment, made once a process."""
    return make_environment()


def make_environment(cache_dir: str | None = None) -> Environment:
    """An environment whose compiled templates are kept in ``cache_dir`` (default: Jinja2's
    own directory for the user)."""
    env = Environment(
        loader=PackageLoader("monitor.recording", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=compiled_cache(cache_dir),
    )
    env.filters.update(cell=cell, num=number)
    env.globals.update(DASH=DASH)
    return env


def render(template: str, **context: Any) -> str:
    """``template`` with ``context``."""
    return environment().get_template(template).render(**context)
