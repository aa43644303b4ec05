"""The HTML report of `aha conform --report X.html`: one self-contained page with the verdict
and coverage at the top, the clause-family table, and for each failing check its error map,
diagnosis and repro; it opens in headless Chromium without a single failed load.

The report under test is that of a planted bug (window off by one, LOCAL-1) run through the
real command line, so every picture comes from a real implementation's outputs.
"""

import base64
import io
import json
import os
import re
import shutil
import subprocess
from html import escape
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread

from aha.conformance import html_report, mutants
from aha.conformance.cli import main
from aha.conformance.errormap import error_map

MUTANT = "aha.conformance.mutants:window_off_by_one"
DATA_PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("report")
    argv = ["conform", "--adapter", MUTANT, "--case", "local/causal*", "--no-properties"]
    argv += ["--failures-dir", str(out / "failures"), "--report", str(out / "r.html")]
    assert main(argv) == 1  # the mutant does not conform
    data = json.loads((out / "r.json").read_text())
    return {"path": out / "r.html", "html": (out / "r.html").read_text(), "data": data}


def failing(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [r for r in data["results"] if r["status"] == "fail"]
    assert rows, "the planted bug must fail some check"
    return rows


def section(html: str, check: str) -> str:
    """The part of the page about one failing check."""
    start = html.index(f'<h3 class="check-id">{check}</h3>')
    end = html.find('<details class="failure"', start)
    return html[start : end if end > 0 else len(html)]


def decoded(b64: str) -> np.ndarray:
    raw = base64.b64decode(b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return imread(io.BytesIO(raw))


def assert_not_blank(pixels: np.ndarray) -> None:
    assert pixels[..., :3].std() > 0.05, "the image is (nearly) one colour"


def test_verdict_and_coverage_come_first(report: dict[str, Any]) -> None:
    html = report["html"]
    assert html.index("DOES NOT CONFORM") < html.index('id="coverage"') < html.index("By clause")
    for family in report["data"]["summary"]["by_family"]:
        assert f'<td class="l">{family}</td>' in html


def test_every_failing_check_has_its_error_maps_and_repro(report: dict[str, Any]) -> None:
    for row in failing(report["data"]):
        part = section(report["html"], row["check"])
        images = DATA_PNG.findall(part)
        compared = [c for c in row["comparisons"] if not c["ok"]]
        assert len(images) == len(compared) >= 1, row["check"]
        for b64 in images:
            assert_not_blank(decoded(b64))
        assert row["repro"].split("\n")[0] in part
        for deviation in row.get("diagnosis") or []:  # the runner's diagnosis reaches the page
            assert f"{escape(deviation['name'])}: {escape(deviation['description'])}" in part


def test_the_page_loads_nothing_from_outside(report: dict[str, Any]) -> None:
    html = report["html"]
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    for attr, value in re.findall(r'\b(src|href)="([^"]*)"', html):
        assert value.startswith("data:image/png;base64,") or value.startswith("#"), (attr, value)
    assert "<script" not in html and "@import" not in html and "url(" not in html


def test_large_outputs_are_max_pooled_not_dropped(report: dict[str, Any]) -> None:
    data = json.loads(json.dumps(report["data"]))
    row = failing(data)[0]
    oracle = np.zeros((2, 4, 600, 8))  # 4800 query rows
    actual = oracle.copy()
    actual[1, 3, 599, 7] = 1.0  # the very last element is the only error
    record = SimpleNamespace(check=row["check"], error_maps={"out": error_map(actual, oracle)})
    part = section(html_report.render(data, [record]), row["check"])
    assert "253×8 map (≤ 256 per side, max-pooled" in part  # 4800 rows in blocks of 19
    assert "largest |Δ| 1," in part  # the one error survives the pooling


def test_diagnosis_is_shown_when_present_and_its_absence_tolerated(
    report: dict[str, Any],
) -> None:
    data = json.loads(json.dumps(report["data"]))
    row = failing(data)[0]
    row["diagnosis"] = [{"deviation": "window-off-by-one", "clauses": "LOCAL-1"}]
    part = section(html_report.render(data), row["check"])
    assert "Diagnosis:" in part and "deviation: window-off-by-one; clauses: LOCAL-1" in part
    del row["diagnosis"]
    found = [mutants.DEVIATIONS["window-off-by-one"]]  # the zoo's record, as diagnose() gives
    record = SimpleNamespace(check=row["check"], diagnosis=found)
    part = section(html_report.render(data, [record]), row["check"])
    assert f"window-off-by-one: {escape(found[0].description)} (LOCAL-1)" in part
    row["diagnosis"] = []  # attempted, nothing matched
    assert "no known deviation explains this" in section(html_report.render(data), row["check"])


# --- the page in a real browser -------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FAILED_LOAD = re.compile(r"Content Security Policy|Failed to load|net::ERR_|Not allowed to load")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it; in CI this test runs)",
)


def chromium(page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None, "chromium must be installed in CI (.ci/run installs it)"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *flags,
        page.resolve().as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def console_failures(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line and FAILED_LOAD.search(line)]


@needs_chromium
def test_chromium_shows_failing_ids_and_loads_nothing_that_fails(
    report: dict[str, Any], tmp_path: Path
) -> None:
    done = chromium(report["path"], tmp_path / "profile", "--dump-dom")
    for row in failing(report["data"]):
        assert row["check"] in done.stdout
    assert console_failures(done.stderr) == []


@needs_chromium
def test_chromium_takes_a_screenshot_that_is_not_blank(
    report: dict[str, Any], tmp_path: Path
) -> None:
    shot = tmp_path / "report.png"
    chromium(report["path"], tmp_path / "profile", f"--screenshot={shot}", "--window-size=1100,900")
    pixels = imread(shot)
    assert pixels.shape[:2] == (900, 1100)
    assert_not_blank(pixels)


@needs_chromium
def test_the_failed_load_detector_sees_a_blocked_load(tmp_path: Path) -> None:
    """Control: the same policy on a page that tries an outside image is reported, so an
    empty list above means no load was attempted, not that nothing was looked at."""
    page = tmp_path / "bad.html"
    policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    page.write_text(
        f'<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<img src="http://example.invalid/a.png">'
    )
    done = chromium(page, tmp_path / "profile", "--dump-dom")
    assert console_failures(done.stderr), done.stderr[-2000:]
