from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.terminal.helpers import socket_of


@pytest.fixture
def session() -> Iterator[str]:
    """A tmux session name of the test's own, killed afterwards."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but tmux is not installed")
        pytest.skip("tmux is not installed")
    name = "chairside-test-" + uuid.uuid4().hex[:6]
    yield name
    subprocess.run(["tmux", *socket_of(name), "kill-server"], capture_output=True)
