"""The fixtures of the region's tests: a folder with the bridges'
accounts and the region's own people."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sites.region import region_people


@pytest.fixture
def region_files(tmp_path: Path) -> Path:
    """The bridge accounts of sites east and west, and the region's own users: a physician
    and QA."""
    return region_people(tmp_path, {"dr-a": "physician", "region-qa": "qa"}, ("east", "west"))
