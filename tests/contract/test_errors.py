"""Every error Chairside raises on purpose derives from one base, so a command can tell them
from bugs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import drivers
import monitor
import simulators
from drivers.errors import ChairsideError
from drivers.protocols.base import FrameError
from drivers.spool import SpoolError
from monitor.config import ConfigError


def _project_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (drivers, monitor, simulators):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if (inspect.isclass(value) and issubclass(value, BaseException)
                        and value.__module__ == module.__name__ and not name.startswith("_")):
                    found[f"{module.__name__}.{name}"] = value
    return found


def test_every_public_project_exception_derives_from_chairside_error() -> None:
    found = _project_exceptions()
    assert len(found) >= 15, sorted(found)  # the walk found the areas' errors
    strays = sorted(name for name, cls in found.items() if not issubclass(cls, ChairsideError))
    assert strays == []


def test_the_areas_errors_keep_the_builtin_bases_callers_catch() -> None:
    assert issubclass(FrameError, ValueError)
    assert issubclass(SpoolError, RuntimeError)
    assert not issubclass(ConfigError, ValueError)
    assert issubclass(ConfigError, ChairsideError)
