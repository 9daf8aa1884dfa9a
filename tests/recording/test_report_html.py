"""The HTML report opens in a real browser (headless Chromium) and its charts render."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from monitor.engine import EngineConfig
from monitor.recording import report_html
from monitor.recording.report import build
from monitor.recording.wirelog import WireLog
from tests.recording.scenario import spravato_inputs


def chromium() -> str:
    found = next((p for p in (shutil.which(n) for n in
                  ("chromium", "chromium-browser", "google-chrome", "chrome")) if p), None)
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but Chromium is not installed (apt-get install chromium)")
        pytest.skip("Chromium is not installed here (apt-get install chromium to run this)")
    return found


def run_chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--disable-dev-shm-usage", *args],
        capture_output=True, timeout=120, check=True,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium()
    made = build(WireLog(spravato_inputs(ack_alarm_id="chair-1:spo2_low:5")), EngineConfig())
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(report_html.render(made), encoding="utf-8")
    return path


def test_report_dom_has_the_three_charts_with_series_and_marks(page: Path) -> None:
    dom = run_chromium("--dump-dom", page.as_uri()).stdout.decode()
    assert dom.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 3
    for name in ("systolic", "diastolic", "heart rate", "SpO2"):
        assert f'data-name="{name}"' in dom, name
    assert dom.count('data-label="dose"') == 3 * 2  # two nasal devices, on each chart
    assert dom.count('data-label="discharge"') == 3
    assert dom.count('data-label="high alarm: spo2_low"') == 3
    assert dom.count('class="limit"') == 2  # the SpO2 limits 92 and 88
    assert "<script" not in dom


def test_report_screenshot_is_not_blank(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    run_chromium(f"--screenshot={shot}", "--window-size=1000,2600", page.as_uri())
    width, height, pixels = _png_rgb(shot.read_bytes())
    assert (width, height) == (1000, 2600)
    colours = {pixels[i:i + 3] for i in range(0, len(pixels), 3 * 7)}
    assert len(colours) > 50  # text, tables and the coloured trend lines
    red = sum(1 for c in colours if c[0] > 180 and c[1] < 90 and c[2] < 90)
    assert red > 0  # the systolic line and the high alarm mark


def _png_rgb(data: bytes) -> tuple[int, int, bytes]:
    """Decode an 8-bit RGB or RGBA PNG (what Chromium writes) into RGB bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 3
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    out = bytearray()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        previous = line
        if channels == 3:
            out += line
        else:
            for i in range(0, stride, 4):
                out += line[i:i + 3]
    return width, height, bytes(out)


def test_a_refused_discharge_is_marked_on_the_timeline_and_listed(tmp_path: Path) -> None:
    made = build(WireLog(spravato_inputs(ack_alarm_id="chair-1:spo2_low:5",
                                         early_discharge=True)), EngineConfig())
    path = tmp_path / "report.html"
    path.write_text(report_html.render(made), encoding="utf-8")
    dom = run_chromium("--dump-dom", path.as_uri()).stdout.decode()
    assert dom.count('data-label="refused: discharge"') == 3  # on each chart
    assert dom.count('<tr class="refused">') == 1
    assert "REFUSED: minimum observation of 120 min" in dom
    assert "1 refused by the engine" in dom
